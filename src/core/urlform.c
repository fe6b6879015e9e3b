/*
 * urlform.c - percent-coding, form/query parsing and URL splitting (see urlform.h).
 */
#include "urlform.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ---- percent-decoding and -encoding ---- */

enum gw_err url_decode(const char *src, size_t len, bool form, char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    /* Decoding never lengthens the text, so one allocation of len + 1 is enough. */
    char *decoded = gw_malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%') {
            if (len - i < 3) {
                free(decoded);
                return GW_ERR_INVALID;
            }
            int high = hex_value((unsigned char)src[i + 1]);
            int low = hex_value((unsigned char)src[i + 2]);
            if (high < 0 || low < 0 || (high == 0 && low == 0)) {
                free(decoded);
                return GW_ERR_INVALID;
            }
            decoded[n++] = (char)(high * 16 + low);
            i += 2;
        } else if (c == '\0') {
            /* A raw NUL would silently truncate the C string every caller uses. */
            free(decoded);
            return GW_ERR_INVALID;
        } else if (c == '+' && form) {
            decoded[n++] = ' ';
        } else {
            decoded[n++] = (char)c;
        }
    }
    decoded[n] = '\0';
    *out = decoded;
    if (out_len)
        *out_len = n;
    return GW_OK;
}

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

enum gw_err url_encode(struct buf *dst, const char *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        enum gw_err err;
        if (is_unreserved(c)) {
            err = buf_append_char(dst, (char)c);
        } else {
            char escaped[3] = {'%', hex[c >> 4], hex[c & 15]};
            err = buf_append(dst, escaped, sizeof escaped);
        }
        if (err)
            return err;
    }
    return GW_OK;
}

enum gw_err url_append_query_param(struct buf *url, const char *name, const char *value)
{
    const char *text = buf_cstr(url);
    enum gw_err err = GW_OK;
    if (!strchr(text, '?'))
        err = buf_append_char(url, '?');
    else if (url->len > 0 && text[url->len - 1] != '?' && text[url->len - 1] != '&')
        err = buf_append_char(url, '&');
    if (!err)
        err = url_encode(url, name, strlen(name));
    if (!err)
        err = buf_append_char(url, '=');
    if (!err)
        err = url_encode(url, value, strlen(value));
    return err;
}

/* ---- form bodies and query strings ---- */

void form_free(struct form *form)
{
    for (size_t i = 0; i < form->count; i++) {
        free(form->pairs[i].name);
        free(form->pairs[i].value);
    }
    free(form->pairs);
    form->pairs = NULL;
    form->count = 0;
}

enum gw_err form_parse(const char *src, size_t len, struct form *out)
{
    out->pairs = NULL;
    out->count = 0;
    size_t alloc = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *segment = src + pos;
        const char *amp = memchr(segment, '&', len - pos);
        size_t segment_len = amp ? (size_t)(amp - segment) : len - pos;
        pos += segment_len + 1; /* past the '&' (or past the end, which ends the loop) */
        if (segment_len == 0)
            continue;
        if (out->count == FORM_MAX_PAIRS) {
            form_free(out);
            return GW_ERR_TOO_LARGE;
        }
        const char *eq = memchr(segment, '=', segment_len);
        size_t name_len = eq ? (size_t)(eq - segment) : segment_len;
        const char *value = eq ? eq + 1 : segment + segment_len;
        size_t value_len = eq ? segment_len - name_len - 1 : 0;

        struct form_pair pair;
        enum gw_err err = url_decode(segment, name_len, true, &pair.name, &pair.name_len);
        if (!err) {
            err = url_decode(value, value_len, true, &pair.value, &pair.value_len);
            if (err)
                free(pair.name);
        }
        if (err) {
            form_free(out);
            return err;
        }
        if (out->count == alloc) {
            alloc = alloc ? alloc * 2 : 8;
            out->pairs = gw_realloc(out->pairs, alloc * sizeof *out->pairs);
        }
        out->pairs[out->count++] = pair;
    }
    return GW_OK;
}

const char *form_get(const struct form *form, const char *name)
{
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->pairs[i].name, name) == 0)
            return form->pairs[i].value;
    return NULL;
}

size_t form_count(const struct form *form, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < form->count; i++)
        if (strcmp(form->pairs[i].name, name) == 0)
            n++;
    return n;
}

bool form_is_repeated(const struct form *form, const char *name)
{
    return form_count(form, name) > 1;
}

const char *form_first_repeated(const struct form *form)
{
    /* Quadratic, but count is capped at FORM_MAX_PAIRS (at most ~32k comparisons). */
    for (size_t i = 0; i < form->count; i++)
        for (size_t j = i + 1; j < form->count; j++)
            if (strcmp(form->pairs[i].name, form->pairs[j].name) == 0)
                return form->pairs[i].name;
    return NULL;
}

/* ---- URL splitting ---- */

/* Bytes RFC 3986 allows anywhere in a URL, '%' included (escapes are checked separately).
 * Everything else (controls, space, non-ASCII, \ " < > ^ ` { | }) must arrive encoded; a raw
 * backslash in particular is read as '/' by browsers, a classic open-redirect trick. */
static bool is_url_byte(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7f)
        return false;
    return !strchr("\\\"<>^`{|}", c);
}

static struct strview view(const char *ptr, size_t len)
{
    struct strview v = {ptr, len};
    return v;
}

static enum gw_err split_host_port(const char *start, size_t len, struct url_parts *out)
{
    const char *end = start + len;
    const char *host_end;
    if (len > 0 && start[0] == '[') {
        const char *close = memchr(start, ']', len);
        if (!close || close == start + 1)
            return GW_ERR_INVALID;
        for (const char *p = start + 1; p < close; p++)
            if (hex_value((unsigned char)*p) < 0 && *p != ':' && *p != '.')
                return GW_ERR_INVALID; /* zone ids (%25eth0) and IPvFuture are not accepted */
        if (!memchr(start + 1, ':', (size_t)(close - start - 1)))
            return GW_ERR_INVALID; /* an IPv6 address always has a colon */
        out->host = view(start + 1, (size_t)(close - start - 1));
        out->host_is_ipv6 = true;
        host_end = close + 1;
        if (host_end < end && *host_end != ':')
            return GW_ERR_INVALID;
    } else {
        const char *colon = memchr(start, ':', len);
        host_end = colon ? colon : end;
        out->host = view(start, (size_t)(host_end - start));
        if (memchr(out->host.ptr, '[', out->host.len) || memchr(out->host.ptr, ']', out->host.len))
            return GW_ERR_INVALID;
    }
    if (host_end < end) { /* at ':' */
        const char *digits = host_end + 1;
        size_t digits_len = (size_t)(end - digits);
        if (digits_len > 5)
            return GW_ERR_INVALID;
        int port = 0;
        for (size_t i = 0; i < digits_len; i++) {
            if (digits[i] < '0' || digits[i] > '9')
                return GW_ERR_INVALID;
            port = port * 10 + (digits[i] - '0');
        }
        if (port > 65535)
            return GW_ERR_INVALID;
        /* "host:" has an empty port, which RFC 3986 allows and means the default. */
        if (digits_len > 0) {
            out->port = view(digits, digits_len);
            out->port_number = port;
        }
    }
    return GW_OK;
}

enum gw_err url_split(const char *url, size_t len, struct url_parts *out)
{
    memset(out, 0, sizeof *out);
    out->port_number = -1;
    enum gw_err err = GW_ERR_INVALID;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (!is_url_byte(c))
            goto fail;
        if (c == '%' && (len - i < 3 || hex_value((unsigned char)url[i + 1]) < 0 ||
                         hex_value((unsigned char)url[i + 2]) < 0))
            goto fail;
    }

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    size_t pos = 0;
    while (pos < len && url[pos] != ':') {
        char c = url[pos];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        bool other = (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
        if (!alpha && (pos == 0 || !other))
            goto fail;
        pos++;
    }
    if (pos == 0 || pos == len)
        goto fail;
    out->scheme = view(url, pos);
    pos++; /* ':' */

    if (len - pos >= 2 && url[pos] == '/' && url[pos + 1] == '/') {
        out->has_authority = true;
        pos += 2;
        size_t authority_start = pos;
        while (pos < len && url[pos] != '/' && url[pos] != '?' && url[pos] != '#')
            pos++;
        const char *authority = url + authority_start;
        size_t authority_len = pos - authority_start;
        const char *at = NULL;
        for (size_t i = authority_len; i > 0; i--)
            if (authority[i - 1] == '@') {
                at = authority + i - 1;
                break;
            }
        if (at) {
            out->has_userinfo = true;
            out->userinfo = view(authority, (size_t)(at - authority));
            const char *colon = memchr(authority, ':', out->userinfo.len);
            if (colon) {
                out->has_password = true;
                out->user = view(authority, (size_t)(colon - authority));
                out->password = view(colon + 1, (size_t)(at - colon - 1));
            } else {
                out->user = out->userinfo;
            }
            authority_len -= (size_t)(at + 1 - authority);
            authority = at + 1;
        }
        err = split_host_port(authority, authority_len, out);
        if (err)
            goto fail;
        err = GW_ERR_INVALID;
    }

    size_t path_start = pos;
    while (pos < len && url[pos] != '?' && url[pos] != '#')
        pos++;
    out->path = view(url + path_start, pos - path_start);
    if (pos < len && url[pos] == '?') {
        out->has_query = true;
        size_t query_start = ++pos;
        while (pos < len && url[pos] != '#')
            pos++;
        out->query = view(url + query_start, pos - query_start);
    }
    if (pos < len && url[pos] == '#') {
        out->has_fragment = true;
        pos++;
        out->fragment = view(url + pos, len - pos);
        /* A second '#' is not allowed in a fragment. */
        if (memchr(out->fragment.ptr, '#', out->fragment.len))
            goto fail;
    }
    return GW_OK;

fail:
    memset(out, 0, sizeof *out);
    out->port_number = -1;
    return err;
}
