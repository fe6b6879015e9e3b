#include "buf.h"

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

static enum gw_err buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->cap || b->len > b->cap - extra)
        return GW_ERR_TOO_LARGE;
    size_t need = b->len + extra + 1;
    if (need <= b->alloc)
        return GW_OK;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < need)
        n *= 2;
    if (n > b->cap + 1)
        n = b->cap + 1;
    b->data = gw_realloc(b->data, n);
    b->alloc = n;
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

enum gw_err buf_append_json_escaped(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = b->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        enum gw_err err;
        switch (c) {
        case '"': err = buf_append(b, "\\\"", 2); break;
        case '\\': err = buf_append(b, "\\\\", 2); break;
        case '\n': err = buf_append(b, "\\n", 2); break;
        case '\r': err = buf_append(b, "\\r", 2); break;
        case '\t': err = buf_append(b, "\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                err = buf_append(b, esc, 6);
            } else {
                err = buf_append_char(b, (char)c);
            }
        }
        if (err) {
            b->len = start;
            if (b->data)
                b->data[start] = '\0';
            return err;
        }
    }
    return GW_OK;
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
