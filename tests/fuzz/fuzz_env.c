/*
 * fuzz_env.c - any bytes as a .env file: loading must either fail with "ERROR: .env line N"
 * lines or give a config that validates (either way) without crashing; error lines never
 * carry a secret value; every entry can be read, displayed and listed.
 *
 * The environment is not used (use_environ=false) so that runs are reproducible.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether some non-secret entry's value contains needle (then seeing it in errors is fine). */
static bool shown_elsewhere(const struct config *cfg, const char *needle)
{
    for (size_t i = 0; i < config_count(cfg); i++) {
        const char *name, *value;
        config_entry(cfg, i, &name, &value, NULL);
        if (!config_is_secret(name) && strstr(value, needle))
            return true;
    }
    return false;
}

static void check_errors_text(const struct buf *errors)
{
    /* One problem per line, each starting with ERROR: and containing no control bytes. */
    const char *text = buf_cstr(errors);
    const char *line = text;
    while (*line) {
        if (strncmp(line, "ERROR: ", 7) != 0)
            abort();
        const char *nl = strchr(line, '\n');
        if (!nl)
            abort();
        for (const char *c = line; c < nl; c++)
            if ((unsigned char)*c < 0x20)
                abort();
        line = nl + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct config *cfg = NULL;
    enum gw_err err = config_load_text((const char *)data, size, false, &cfg, &errors);
    if (err) {
        if (err != GW_ERR_CONFIG || cfg || errors.len == 0)
            abort();
        check_errors_text(&errors);
        buf_free(&errors);
        return 0;
    }
    if (errors.len)
        abort();

    err = config_validate(cfg, &errors);
    if ((err == GW_OK) != (errors.len == 0))
        abort();
    check_errors_text(&errors);

    const char *previous = NULL;
    for (size_t i = 0; i < config_count(cfg); i++) {
        const char *name, *value;
        bool from_default;
        config_entry(cfg, i, &name, &value, &from_default);
        if (!name || !value || (previous && strcmp(previous, name) >= 0))
            abort();
        previous = name;
        if (strcmp(config_get(cfg, name, NULL), value) != 0)
            abort();
        char *shown = config_display_value(name, value);
        if (config_is_secret(name) && *value && strncmp(shown, "**** (", 6) != 0)
            abort();
        free(shown);
        /* A secret's value must not leak into validation errors. Errors quote the values they show,
         * so a leak reads "VALUE"; an unquoted match can be the message's own words ("Required"). */
        if (config_is_secret(name) && strlen(value) >= 8 && !shown_elsewhere(cfg, value)) {
            struct buf quoted;
            buf_init(&quoted, strlen(value) + 3);
            buf_printf(&quoted, "\"%s\"", value);
            if (strstr(buf_cstr(&errors), buf_cstr(&quoted)))
                abort();
            buf_free(&quoted);
        }
        size_t count;
        char **list = config_get_list(cfg, name, &count);
        for (size_t j = 0; j < count; j++)
            if (!list[j][0] || list[j][0] == ' ' || strchr(list[j], ','))
                abort();
        config_list_free(list, count);
        long long limit, period;
        if (config_parse_rate(value, &limit, &period) == GW_OK && (limit <= 0 || period <= 0))
            abort();
        (void)config_get_int(cfg, name, 0);
        (void)config_get_bool(cfg, name, false);
    }
    config_entry(cfg, config_count(cfg), NULL, NULL, NULL);
    buf_free(&errors);
    config_free(cfg);
    return 0;
}
