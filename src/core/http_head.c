/*
 * http_head.c - the one-pass scanner for simple HTTP/1.x messages (see http_head.h).
 *
 * Every check here errs towards HTTP_HEAD_DEFER: a byte or shape this file is not sure about
 * goes to llhttp, which either accepts it (slower, same result) or answers the precise error.
 */
#include "http_head.h"

#include <pthread.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum {
    CH_TOKEN = 1,  /* tchar (RFC 9110 §5.6.2): a field name */
    CH_VALUE = 2,  /* visible ASCII, space, tab: a field value or reason phrase */
    CH_TARGET = 4, /* pchar, '/', '?' (RFC 3986) and '%': an origin-form request-target */
};

static unsigned char char_class[256];
static pthread_once_t char_class_once = PTHREAD_ONCE_INIT;

static void char_class_build(void)
{
    static const char token_extra[] = "!#$%&'*+-.^_`|~";
    static const char target_extra[] = "-._~!$&'()*+,;=:@/?%";
    for (int c = 0; c < 256; c++) {
        unsigned char k = 0;
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (alnum || (c && strchr(token_extra, c)))
            k |= CH_TOKEN;
        if (c == '\t' || (c >= 0x20 && c < 0x7f))
            k |= CH_VALUE;
        if (alnum || (c && strchr(target_extra, c)))
            k |= CH_TARGET;
        char_class[c] = k;
    }
}

static inline bool is(unsigned char c, unsigned cls)
{
    return (char_class[c] & cls) != 0;
}

/* The end of a run of value bytes (CH_VALUE) starting at pos. Values are most of a head (a
 * bearer token alone is hundreds of bytes), so with SSE2 (every x86-64) they are checked 16
 * bytes at a time: one signed compare finds both control bytes (< 0x20) and non-ASCII ones
 * (>= 0x80, negative as signed), a second finds DEL. A tab is the one such byte that is allowed. */
static size_t skip_value_bytes(const char *data, size_t len, size_t pos)
{
#if defined(__SSE2__)
    const __m128i space = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f);
    while (pos + 16 <= len) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(data + pos));
        __m128i odd = _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del));
        unsigned mask = (unsigned)_mm_movemask_epi8(odd);
        if (!mask) {
            pos += 16;
            continue;
        }
        pos += (size_t)__builtin_ctz(mask);
        if (data[pos] != '\t')
            return pos;
        pos++;
    }
#endif
    while (pos < len && is((unsigned char)data[pos], CH_VALUE))
        pos++;
    return pos;
}

/* name (len bytes) equals lower, a lower-case literal of the same length, ignoring case */
static bool name_is(const char *name, size_t len, const char *lower, size_t lower_len)
{
    if (len != lower_len)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + ('a' - 'A'));
        if (c != (unsigned char)lower[i])
            return false;
    }
    return true;
}

#define NAME_IS(name, len, lit) name_is(name, len, lit, sizeof(lit) - 1)

enum connection_option { CONN_NONE, CONN_CLOSE, CONN_KEEP_ALIVE };

/* The field lines from pos to the blank line. Fills head's fields, head_len, content_length and
 * (through *connection) what the Connection field asked. */
static enum http_head_result scan_fields(const char *data, size_t len, size_t pos, struct http_head *head,
                                         enum connection_option *connection)
{
    bool has_length = false;
    *connection = CONN_NONE;
    head->nfields = 0;
    head->content_length = 0;
    for (;;) {
        if (pos + 1 >= len)
            return HTTP_HEAD_DEFER; /* incomplete */
        if (data[pos] == '\r') {
            if (data[pos + 1] != '\n')
                return HTTP_HEAD_DEFER;
            head->head_len = pos + 2;
            return HTTP_HEAD_OK;
        }
        size_t name = pos;
        while (pos < len && is((unsigned char)data[pos], CH_TOKEN))
            pos++;
        if (pos == name || pos >= len || data[pos] != ':')
            return HTTP_HEAD_DEFER; /* empty name, space before the colon, or a stray byte */
        size_t name_len = pos - name;
        pos++;
        bool tab_before = false;
        while (pos < len && (data[pos] == ' ' || data[pos] == '\t'))
            tab_before |= data[pos++] == '\t';
        size_t value = pos;
        pos = skip_value_bytes(data, len, pos);
        if (pos + 1 >= len || data[pos] != '\r' || data[pos + 1] != '\n')
            return HTTP_HEAD_DEFER; /* incomplete, bare CR/LF, control or non-ASCII byte */
        size_t value_end = pos;
        while (value_end > value && (data[value_end - 1] == ' ' || data[value_end - 1] == '\t'))
            value_end--;
        pos += 2;
        if (head->nfields == HTTP_HEAD_MAX_FIELDS)
            return HTTP_HEAD_DEFER;
        struct http_head_field *f = &head->fields[head->nfields++];
        f->name = (struct http_head_span){(uint32_t)name, (uint32_t)name_len};
        f->value = (struct http_head_span){(uint32_t)value, (uint32_t)(value_end - value)};

        const char *n = data + name, *v = data + value;
        size_t vlen = value_end - value;
        /* llhttp's checks of these values are stricter about tabs and trailing spaces */
        bool plain = !tab_before && value_end == pos - 2;
        switch (name_len) {
        case 6:
            if (NAME_IS(n, name_len, "expect"))
                return HTTP_HEAD_DEFER; /* the server's 100 Continue is llhttp's path */
            break;
        case 7:
            if (NAME_IS(n, name_len, "upgrade"))
                return HTTP_HEAD_DEFER;
            break;
        case 10:
            if (NAME_IS(n, name_len, "connection")) {
                if (*connection != CONN_NONE || !plain)
                    return HTTP_HEAD_DEFER;
                if (NAME_IS(v, vlen, "close"))
                    *connection = CONN_CLOSE;
                else if (NAME_IS(v, vlen, "keep-alive"))
                    *connection = CONN_KEEP_ALIVE;
                else
                    return HTTP_HEAD_DEFER; /* a list, "upgrade", or fields named hop-by-hop */
            }
            break;
        case 14:
            if (NAME_IS(n, name_len, "content-length")) {
                if (has_length || !plain || vlen == 0 || vlen > 15)
                    return HTTP_HEAD_DEFER;
                size_t cl = 0;
                for (size_t i = 0; i < vlen; i++) {
                    if (v[i] < '0' || v[i] > '9')
                        return HTTP_HEAD_DEFER;
                    cl = cl * 10 + (size_t)(v[i] - '0');
                }
                head->content_length = cl;
                has_length = true;
            }
            break;
        case 16:
            if (NAME_IS(n, name_len, "proxy-connection"))
                return HTTP_HEAD_DEFER; /* llhttp gives it Connection's meaning */
            break;
        case 17:
            if (NAME_IS(n, name_len, "transfer-encoding"))
                return HTTP_HEAD_DEFER;
            break;
        default:
            break;
        }
    }
}

/* Inputs are buffers of one read; offsets are 32-bit. */
#define MAX_SCANNED (1u << 30)

enum http_head_result http_head_scan_request(const char *data, size_t len, struct http_head *head)
{
    static const struct {
        const char *name;
        size_t len;
    } methods[] = {{"GET", 3},  {"POST", 4},    {"PUT", 3},  {"DELETE", 6},
                   {"HEAD", 4}, {"OPTIONS", 7}, {"PATCH", 5}};
    pthread_once(&char_class_once, char_class_build);
    if (len < 16 || len > MAX_SCANNED)
        return HTTP_HEAD_DEFER;
    head->method = NULL;
    head->status = 0;
    size_t pos = 0;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (memcmp(data, methods[i].name, methods[i].len) == 0 && data[methods[i].len] == ' ') {
            head->method = methods[i].name;
            pos = methods[i].len + 1;
            break;
        }
    }
    if (!head->method || data[pos] != '/')
        return HTTP_HEAD_DEFER;
    size_t target = pos;
    while (pos < len && is((unsigned char)data[pos], CH_TARGET))
        pos++;
    if (pos + 10 > len || memcmp(data + pos, " HTTP/1.", 8) != 0 ||
        (data[pos + 8] != '0' && data[pos + 8] != '1') || data[pos + 9] != '\r')
        return HTTP_HEAD_DEFER;
    head->target = (struct http_head_span){(uint32_t)target, (uint32_t)(pos - target)};
    head->version_minor = data[pos + 8] - '0';
    pos += 10;
    if (pos >= len || data[pos] != '\n')
        return HTTP_HEAD_DEFER;
    enum connection_option connection;
    if (scan_fields(data, len, pos + 1, head, &connection) != HTTP_HEAD_OK)
        return HTTP_HEAD_DEFER;
    if (head->content_length > len - head->head_len)
        return HTTP_HEAD_DEFER; /* the body is still arriving */
    head->keep_alive = head->version_minor == 1 ? connection != CONN_CLOSE : connection == CONN_KEEP_ALIVE;
    return HTTP_HEAD_OK;
}

enum http_head_result http_head_scan_response(const char *data, size_t len, struct http_head *head)
{
    pthread_once(&char_class_once, char_class_build);
    if (len < 17 || len > MAX_SCANNED)
        return HTTP_HEAD_DEFER;
    if (memcmp(data, "HTTP/1.1 ", 9) != 0)
        return HTTP_HEAD_DEFER; /* HTTP/1.0 answers may end with the connection: llhttp's case */
    int status = 0;
    for (int i = 9; i < 12; i++) {
        if (data[i] < '0' || data[i] > '9')
            return HTTP_HEAD_DEFER;
        status = status * 10 + (data[i] - '0');
    }
    if (status < 200 || status > 599 || status == 204 || status == 304 || data[12] != ' ')
        return HTTP_HEAD_DEFER; /* interim answers and answers without a body */
    size_t pos = 13;
    while (pos < len && is((unsigned char)data[pos], CH_VALUE))
        pos++;
    if (pos + 1 >= len || data[pos] != '\r' || data[pos + 1] != '\n')
        return HTTP_HEAD_DEFER;
    head->method = NULL;
    head->target = (struct http_head_span){0, 0};
    head->status = status;
    head->version_minor = 1;
    enum connection_option connection;
    if (scan_fields(data, len, pos + 2, head, &connection) != HTTP_HEAD_OK)
        return HTTP_HEAD_DEFER;
    bool has_length = false;
    for (size_t i = 0; i < head->nfields && !has_length; i++)
        has_length = NAME_IS(data + head->fields[i].name.off, head->fields[i].name.len, "content-length");
    if (!has_length || head->content_length > len - head->head_len)
        return HTTP_HEAD_DEFER; /* delimited by the connection's end, or still arriving */
    head->keep_alive = connection != CONN_CLOSE;
    return HTTP_HEAD_OK;
}
