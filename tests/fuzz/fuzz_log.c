/*
 * fuzz_log.c - any bytes as service, message, field keys and values must give one JSON object
 * on one line (valid UTF-8, no raw control characters), with the message round-tripping when
 * it was valid UTF-8, and secrets redacted; the capped formatter must respect its size.
 *
 * Input: NUL-separated parts: service, message, then key/value pairs. The first byte of each
 * key picks the field type; the first byte of the input picks the output size.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define MAX_PARTS 18

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *line, int len, const char *service, const char *message, bool capped,
                       const struct log_field *fields, int nfields)
{
    if (len <= 0 || line[len - 1] != '\n' || memchr(line, '\n', (size_t)len - 1))
        abort();
    for (int i = 0; i < len - 1; i++)
        if ((unsigned char)line[i] < 0x20)
            abort();
    json_error_t error;
    json_t *j = json_loadb(line, (size_t)len - 1, 0, &error);
    if (!j || !json_is_object(j))
        abort();
    json_t *m = json_object_get(j, "message");
    json_t *s = json_object_get(j, "service");
    if (!json_is_string(m) || !json_is_string(s) || !json_is_string(json_object_get(j, "level")) ||
        !json_is_string(json_object_get(j, "timestamp")))
        abort();
    /* Valid UTF-8 comes back unchanged (or as a prefix when the line was cut). */
    json_t *probe = json_string(message);
    if (probe) {
        size_t got = json_string_length(m);
        bool truncated = json_is_true(json_object_get(j, "truncated"));
        if (got > strlen(message) || memcmp(json_string_value(m), message, got) != 0)
            abort();
        if (!truncated && got != strlen(message))
            abort();
        if (!capped && truncated)
            abort();
        json_decref(probe);
    }
    probe = json_string(service);
    if (probe) {
        if (strcmp(json_string_value(s), service) != 0)
            abort();
        json_decref(probe);
    }
    /* A secret-named string field never shows its value. */
    for (int i = 0; i < nfields; i++) {
        if (fields[i].type != LOG_FIELD_STR || !strcasestr(fields[i].key, "token"))
            continue;
        json_t *v = json_object_get(j, fields[i].key); /* NULL if the key was not valid UTF-8 */
        if (v && (!json_is_string(v) || strcmp(json_string_value(v), "[REDACTED]") != 0))
            abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const size_t sizes[] = {600, 1024, 4096, 65536};
    size_t outsz = sizes[data[0] & 3];
    enum log_level level = (enum log_level)((data[0] >> 2) & 3);

    char *copy = malloc(size); /* data[1..] plus a final NUL */
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    const char *parts[MAX_PARTS];
    int nparts = 0;
    for (char *p = copy; nparts < MAX_PARTS && p <= copy + size - 1;) {
        parts[nparts++] = p;
        p += strlen(p) + 1;
    }
    char service[64];
    snprintf(service, sizeof(service), "%s", nparts > 0 ? parts[0] : "");
    const char *message = nparts > 1 ? parts[1] : "";

    struct log_field fields[(MAX_PARTS - 2) / 2];
    int nfields = 0;
    for (int i = 2; i + 1 < nparts; i += 2) {
        const char *key = parts[i], *value = parts[i + 1];
        switch ((unsigned char)key[0] & 3) {
        case 0:
            fields[nfields++] = log_str(key, value);
            break;
        case 1:
            fields[nfields++] = log_int(key, strtoll(value, NULL, 0));
            break;
        case 2: {
            double d = 0;
            memcpy(&d, value, strlen(value) < sizeof(d) ? strlen(value) : sizeof(d));
            fields[nfields++] = log_double(key, d);
            break;
        }
        default:
            fields[nfields++] = log_bool(key, value[0] & 1);
            break;
        }
    }

    char *line = malloc(outsz);
    int len = log_format_line(line, outsz, level, service, message, fields, nfields);
    if (len >= 0)
        check_line(line, len, service, message, false, fields, nfields);
    len = log_format_line_capped(line, outsz, level, service, message, fields, nfields);
    if (len < 0 || (size_t)len >= outsz)
        abort(); /* a service under 64 bytes always fits in 600 */
    check_line(line, len, service, message, true, fields, nfields);
    free(line);
    free(copy);
    return 0;
}
