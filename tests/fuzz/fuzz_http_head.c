/*
 * fuzz_http_head - the fast scanner (core/http_head.c) against llhttp, differentially.
 *
 * The first byte picks the kind ('R': a response, anything else: a request); the rest is the
 * message. Whenever the scanner accepts a message, llhttp must accept the same bytes as one
 * complete message with the same method or status, target, version, fields (values compared
 * after the server's own trimming of spaces and tabs), body and keep-alive decision; anything
 * else aborts. When the scanner defers, nothing is checked: llhttp parses those bytes anyway.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "core/http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 128
#define STORE_BYTES (1 << 17)

struct seen {
    char store[STORE_BYTES];
    size_t used;
    struct {
        size_t off, len;
    } url, body, names[MAX_FIELDS], values[MAX_FIELDS];
    size_t nnames, nvalues;
    bool in_value, complete, overflow;
};

static struct seen seen;

static int append(size_t *off, size_t *len, const char *at, size_t n, bool start)
{
    if (seen.used + n > STORE_BYTES) {
        seen.overflow = true;
        return 0;
    }
    if (start) {
        *off = seen.used;
        *len = 0;
    }
    memcpy(seen.store + seen.used, at, n);
    seen.used += n;
    *len += n;
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    (void)p;
    return append(&seen.url.off, &seen.url.len, at, n, seen.url.len == 0);
}

/* Spans may come in pieces; the *_complete callbacks delimit them, so empty values are kept. */
static bool field_open, value_open;

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    (void)p;
    if (seen.nnames == MAX_FIELDS) {
        seen.overflow = true;
        return 0;
    }
    append(&seen.names[seen.nnames].off, &seen.names[seen.nnames].len, at, n, !field_open);
    field_open = true;
    return 0;
}

static int on_header_field_complete(llhttp_t *p)
{
    (void)p;
    if (seen.nnames < MAX_FIELDS) {
        if (!field_open)
            seen.names[seen.nnames].len = 0;
        seen.nnames++;
    }
    field_open = false;
    value_open = false;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    (void)p;
    if (seen.nvalues == MAX_FIELDS) {
        seen.overflow = true;
        return 0;
    }
    append(&seen.values[seen.nvalues].off, &seen.values[seen.nvalues].len, at, n, !value_open);
    value_open = true;
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    (void)p;
    if (seen.nvalues < MAX_FIELDS) {
        if (!value_open) {
            seen.values[seen.nvalues].off = seen.used;
            seen.values[seen.nvalues].len = 0;
        }
        seen.nvalues++;
    }
    value_open = false;
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    (void)p;
    return append(&seen.body.off, &seen.body.len, at, n, seen.body.len == 0);
}

static int on_message_complete(llhttp_t *p)
{
    (void)p;
    seen.complete = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void mismatch(const char *what)
{
    fprintf(stderr, "fuzz_http_head: scanner and llhttp disagree on %s\n", what);
    abort();
}

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool response = data[0] == 'R';
    const char *msg = (const char *)data + 1;
    size_t len = size - 1;
    struct http_head head;
    enum http_head_result r =
        response ? http_head_scan_response(msg, len, &head) : http_head_scan_request(msg, len, &head);
    if (r != HTTP_HEAD_OK)
        return 0;
    if (head.head_len + head.content_length > len)
        mismatch("the message length (beyond the input)");

    memset(&seen, 0, sizeof(seen));
    field_open = value_open = false;
    llhttp_t parser;
    llhttp_init(&parser, response ? HTTP_RESPONSE : HTTP_REQUEST, &settings);
    llhttp_errno_t err = llhttp_execute(&parser, msg, len);
    if (seen.overflow)
        return 0;
    if (err != HPE_PAUSED || !seen.complete) {
        fprintf(stderr, "llhttp: %s (%s)\n", llhttp_errno_name(err), llhttp_get_error_reason(&parser));
        mismatch("whether this is one complete message");
    }
    if ((size_t)(llhttp_get_error_pos(&parser) - msg) != head.head_len + head.content_length)
        mismatch("where the message ends");
    if (parser.http_major != 1 || parser.http_minor != head.version_minor)
        mismatch("the version");
    if (response) {
        if (parser.status_code != head.status)
            mismatch("the status");
    } else {
        if (strcmp(llhttp_method_name((llhttp_method_t)parser.method), head.method) != 0)
            mismatch("the method");
        if (!same(seen.store + seen.url.off, seen.url.len, msg + head.target.off, head.target.len))
            mismatch("the target");
    }
    if (seen.nnames != head.nfields || seen.nvalues != head.nfields)
        mismatch("the number of fields");
    for (size_t i = 0; i < head.nfields; i++) {
        const struct http_head_field *f = &head.fields[i];
        if (!same(seen.store + seen.names[i].off, seen.names[i].len, msg + f->name.off, f->name.len))
            mismatch("a field name");
        const char *v = seen.store + seen.values[i].off;
        size_t vn = seen.values[i].len;
        trim(&v, &vn);
        if (!same(v, vn, msg + f->value.off, f->value.len))
            mismatch("a field value");
    }
    if (!same(seen.store + seen.body.off, seen.body.len, msg + head.head_len, head.content_length))
        mismatch("the body");
    if ((llhttp_should_keep_alive(&parser) != 0) != head.keep_alive)
        mismatch("keep-alive");
    return 0;
}
