/*
 * buf.h - a growable byte buffer with a hard cap (curl's dynbuf idea), and string views.
 *
 * A struct buf owns its memory; the contents are always NUL-terminated (the NUL is not
 * counted in len) so they can be handed to C string functions. Appends that would exceed
 * the cap fail with GW_ERR_TOO_LARGE and leave the buffer unchanged.
 */
#ifndef MCPGW_CORE_BUF_H
#define MCPGW_CORE_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct buf {
    char *data; /* NULL until the first append; then NUL-terminated */
    size_t len;
    size_t alloc;
    size_t cap; /* maximum len */
};

/* A borrowed (pointer, length) view; never owns, not NUL-terminated. */
struct strview {
    const char *ptr;
    size_t len;
};

/* Initialise an empty buffer that may grow to at most cap bytes. No allocation. */
void buf_init(struct buf *b, size_t cap);
/* Release the memory; the buffer is empty and reusable afterwards (cap kept). */
void buf_free(struct buf *b);
/* Forget the contents but keep the memory. */
void buf_reset(struct buf *b);
/* Make room for `extra` more bytes at once (hot paths that know their size spare the doublings
 * from 64 bytes up). GW_ERR_TOO_LARGE if that would pass the cap. */
enum gw_err buf_reserve(struct buf *b, size_t extra);
enum gw_err buf_append(struct buf *b, const void *data, size_t len);
enum gw_err buf_append_str(struct buf *b, const char *s);
/* Append the whole file at path (read with stdio). GW_ERR_IO when it cannot be opened or read
 * (errno says why), GW_ERR_TOO_LARGE when it would pass the cap; on either the buffer may hold a
 * part of it, so the caller discards it. */
enum gw_err buf_append_file(struct buf *b, const char *path);
enum gw_err buf_append_char(struct buf *b, char c);
/* Append v in decimal (printf costs more than the rest of a small header). */
enum gw_err buf_append_decimal(struct buf *b, long long v);
/* Append an HTTP field line "name: value\r\n" (lengths given, nothing checked), reserving room
 * for it once: all of it is appended, or nothing (GW_ERR_TOO_LARGE past the cap). */
enum gw_err buf_append_field_line(struct buf *b, const char *name, size_t name_len, const char *value,
                                  size_t value_len);
enum gw_err buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum gw_err buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Append s as the inside of a JSON string (quotes not added), escaping as RFC 8259 requires. */
enum gw_err buf_append_json_escaped(struct buf *b, const char *s, size_t len);
/* Hand the contents to the caller (caller frees; never NULL); the buffer becomes empty. */
char *buf_take(struct buf *b);
/* The contents as a C string; "" when empty. Borrowed until the next change. */
const char *buf_cstr(const struct buf *b);

/* Write v in decimal, NUL-terminated, into out; returns the length (without the NUL). */
size_t decimal_format(char out[24], long long v);

static inline struct strview strview_from_cstr(const char *s);
bool strview_eq_cstr(struct strview v, const char *s);
bool strview_eq_nocase(struct strview v, const char *s);

#include <string.h>
static inline struct strview strview_from_cstr(const char *s)
{
    struct strview v = {s, s ? strlen(s) : 0};
    return v;
}

#endif
