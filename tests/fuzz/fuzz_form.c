/*
 * fuzz_form.c - any bytes as a form body / query string, a URL and a percent-encoded string:
 * parsing never crashes, decoded text has no NUL, encoding then decoding gives the input back,
 * and every URL part lies inside the input in order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/urlform.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_view_inside(struct strview view, const char *start, size_t len)
{
    if (!view.ptr) {
        if (view.len)
            abort();
        return;
    }
    if (view.ptr < start || view.ptr + view.len > start + len)
        abort();
}

static void fuzz_form(const char *text, size_t size)
{
    struct form form;
    enum gw_err err = form_parse(text, size, &form);
    if (err) {
        if ((err != GW_ERR_INVALID && err != GW_ERR_TOO_LARGE) || form.count || form.pairs)
            abort();
        return;
    }
    if (form.count > FORM_MAX_PAIRS)
        abort();
    for (size_t i = 0; i < form.count; i++) {
        const struct form_pair *pair = &form.pairs[i];
        if (strlen(pair->name) != pair->name_len || strlen(pair->value) != pair->value_len)
            abort();
        const char *first = form_get(&form, pair->name);
        if (!first || form_count(&form, pair->name) == 0)
            abort();
        if (form_is_repeated(&form, pair->name) != (form_count(&form, pair->name) > 1))
            abort();
    }
    const char *repeated = form_first_repeated(&form);
    if (repeated && !form_is_repeated(&form, repeated))
        abort();
    form_free(&form);
}

static void fuzz_decode_roundtrip(const char *text, size_t size)
{
    for (int form_mode = 0; form_mode < 2; form_mode++) {
        char *decoded = NULL;
        size_t decoded_len = 0;
        if (url_decode(text, size, form_mode, &decoded, &decoded_len) != GW_OK) {
            if (decoded)
                abort();
            continue;
        }
        if (strlen(decoded) != decoded_len || decoded_len > size)
            abort();
        struct buf encoded;
        buf_init(&encoded, 3 * decoded_len + 1);
        if (url_encode(&encoded, decoded, decoded_len) != GW_OK)
            abort();
        char *again = NULL;
        size_t again_len = 0;
        if (url_decode(encoded.data ? encoded.data : "", encoded.len, form_mode, &again, &again_len) !=
                GW_OK ||
            again_len != decoded_len || memcmp(again, decoded, decoded_len) != 0)
            abort();
        free(again);
        buf_free(&encoded);
        free(decoded);
    }
}

static void fuzz_split(const char *text, size_t size)
{
    struct url_parts url;
    if (url_split(text, size, &url) != GW_OK) {
        if (url.scheme.ptr || url.port_number != -1)
            abort();
        return;
    }
    if (url.scheme.ptr != text || url.scheme.len == 0)
        abort();
    const struct strview parts[] = {url.scheme, url.userinfo, url.user,  url.password, url.host,
                                    url.port,   url.path,     url.query, url.fragment};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        check_view_inside(parts[i], text, size);
    if (url.port_number < -1 || url.port_number > 65535 || (url.port_number >= 0) != (url.port.len > 0))
        abort();
    if (url.has_password && !url.has_userinfo)
        abort();
    if ((url.host.len || url.port.len || url.has_userinfo) && !url.has_authority)
        abort();
    if (url.has_query && url.query.ptr && url.query.ptr[-1] != '?')
        abort();
    if (url.has_fragment && url.fragment.ptr && url.fragment.ptr[-1] != '#')
        abort();
    /* Nothing that must be encoded survives in any part. */
    for (size_t i = 0; i < size; i++)
        if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7f || text[i] == '\\')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    fuzz_form(text, size);
    fuzz_decode_roundtrip(text, size);
    fuzz_split(text, size);

    /* Query building must give something url_split and form_parse read back. */
    if (size > 0 && size < 4096) {
        struct buf url;
        buf_init(&url, 1 << 16);
        buf_append_str(&url, "https://client.example/cb");
        size_t half = size / 2;
        char *name = strndup(text, half), *value = strndup(text + half, size - half);
        if (name && value && url_append_query_param(&url, name, value) == GW_OK) {
            struct url_parts parts;
            if (url_split(url.data, url.len, &parts) != GW_OK || !parts.has_query)
                abort();
            struct form form;
            if (form_parse(parts.query.ptr, parts.query.len, &form) != GW_OK || form.count > 1)
                abort();
            /* An input with a NUL is cut short by strndup; compare what was encoded. */
            if (form.count == 1 && (strcmp(form.pairs[0].name, name) || strcmp(form.pairs[0].value, value)))
                abort();
            form_free(&form);
        }
        free(name);
        free(value);
        buf_free(&url);
    }
    return 0;
}
