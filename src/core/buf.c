#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"

void buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

enum gw_err buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->cap || b->len > b->cap - extra)
        return GW_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return GW_OK;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    if (b->cap < SIZE_MAX && n > b->cap + 1)
        n = b->cap + 1;
    b->data = gw_realloc(b->data, n);
    b->alloc = n;
    return GW_OK;
}

size_t decimal_format(char out[24], long long v)
{
    /* two digits per division: headers carry numbers like 1000000000 on every response */
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
        "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
        "8081828384858687888990919293949596979899";
    char tmp[24];
    size_t n = sizeof(tmp);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    while (u >= 100) {
        unsigned pair = (unsigned)(u % 100) * 2;
        u /= 100;
        tmp[--n] = pairs[pair + 1];
        tmp[--n] = pairs[pair];
    }
    if (u >= 10) {
        tmp[--n] = pairs[u * 2 + 1];
        tmp[--n] = pairs[u * 2];
    } else {
        tmp[--n] = (char)('0' + u);
    }
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    memcpy(out + len, tmp + n, sizeof(tmp) - n);
    len += sizeof(tmp) - n;
    out[len] = '\0';
    return len;
}

enum gw_err buf_append_decimal(struct buf *b, long long v)
{
    char num[24];
    return buf_append(b, num, decimal_format(num, v));
}

enum gw_err buf_append_field_line(struct buf *b, const char *name, size_t name_len, const char *value,
                                  size_t value_len)
{
    enum gw_err err = buf_reserve(b, name_len + value_len + 4);
    if (err)
        return err;
    char *p = b->data + b->len;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\r';
    *p++ = '\n';
    *p = '\0';
    b->len = (size_t)(p - b->data);
    return GW_OK;
}

enum gw_err buf_append(struct buf *b, const void *data, size_t len)
{
    enum gw_err err = buf_reserve(b, len);
    if (err)
        return err;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return GW_OK;
}

enum gw_err buf_append_file(struct buf *b, const char *path)
{
    FILE *f = fopen(path, "rbe");
    if (!f)
        return GW_ERR_IO;
    char chunk[4096];
    size_t got;
    enum gw_err err = GW_OK;
    while (!err && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        err = buf_append(b, chunk, got);
    if (!err && ferror(f))
        err = GW_ERR_IO;
    int saved = errno;
    fclose(f);
    errno = saved;
    return err;
}

enum gw_err buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

enum gw_err buf_append_char(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

enum gw_err buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return GW_ERR_INVALID;
    enum gw_err err = buf_reserve(b, (size_t)n);
    if (err)
        return err;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return GW_OK;
}

enum gw_err buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum gw_err err = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

/* Length of the well-formed UTF-8 sequence at s[0..len) (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 if it is not one. When 0, *bad_len is the length of
 * the maximal ill-formed subpart, which becomes one U+FFFD (Unicode's recommended practice). */
static size_t utf8_sequence_length(const unsigned char *s, size_t len, size_t *bad_len)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        *bad_len = 1; /* stray continuation byte, C0, C1, F5..FF */
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < len; i++) {
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xbf;
        if (s[i] < min || s[i] > max)
            break;
    }
    if (i == need)
        return need;
    *bad_len = i;
    return 0;
}

/* Bytes that go through unchanged: printable ASCII except '"' and '\\'. */
static bool json_plain_ascii(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Invalid UTF-8 becomes \ufffd so that the output is valid JSON and valid UTF-8 whatever the
 * input bytes were: log lines carry attacker-chosen text (paths, headers) and one bad byte
 * must not make a whole line unparseable for jq. Runs of plain bytes are appended at once. */
enum gw_err buf_append_json_escaped(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t start = b->len;
    enum gw_err err = GW_OK;
    size_t i = 0;
    while (i < len && !err) {
        size_t run = i;
        while (run < len && json_plain_ascii(u[run]))
            run++;
        if (run > i) {
            err = buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = u[i];
        if (c >= 0x80) {
            size_t bad_len = 0;
            size_t n = utf8_sequence_length(u + i, len - i, &bad_len);
            if (n) {
                err = buf_append(b, s + i, n);
                i += n;
            } else {
                err = buf_append(b, "\\ufffd", 6);
                i += bad_len;
            }
            continue;
        }
        switch (c) {
        case '"':
            err = buf_append(b, "\\\"", 2);
            break;
        case '\\':
            err = buf_append(b, "\\\\", 2);
            break;
        case '\n':
            err = buf_append(b, "\\n", 2);
            break;
        case '\r':
            err = buf_append(b, "\\r", 2);
            break;
        case '\t':
            err = buf_append(b, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            err = buf_append(b, esc, 6);
        }
        }
        i++;
    }
    if (err) {
        b->len = start;
        if (b->data)
            b->data[start] = '\0';
    }
    return err;
}

char *buf_take(struct buf *b)
{
    char *p = b->data ? b->data : gw_strdup("");
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

const char *buf_cstr(const struct buf *b)
{
    return b->data ? b->data : "";
}

bool strview_eq_cstr(struct strview v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && memcmp(v.ptr, s, n) == 0;
}

bool strview_eq_nocase(struct strview v, const char *s)
{
    size_t n = strlen(s);
    return v.len == n && strncasecmp(v.ptr, s, n) == 0;
}
