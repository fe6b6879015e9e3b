/*
 * fuzz_router_headers.c - the router's header rewriting (src/router/proxy_head.c) on any bytes.
 *
 * The input is split into lines: method, target, upstream authority, client host, user id,
 * username, client id, then "name:value" request header fields. Invariants of the upstream
 * request head the router builds:
 *   - it parses as exactly one HTTP/1.1 request with llhttp (strict), with the given method and
 *     target, a body length equal to the one we announced, and no bytes left over (no smuggling);
 *   - exactly one Host and at most one Content-Length; no Transfer-Encoding, Authorization or
 *     Connection, and no field the client's Connection header named;
 *   - every X-User-* / X-Client-Id field is one the router injected, with the router's value.
 * Response-header filtering is exercised on the same fields (no crash, hop-by-hop never relayed).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <llhttp.h>

#include "core/buf.h"
#include "router/proxy_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 64

struct parsed {
    char method[32];
    struct buf url, field, value;
    bool last_was_value;
    int hosts, content_lengths, forbidden, user_fields, complete;
    const struct proxy_head_input *in;
    const char *connection;
};

/* Equal once leading and trailing spaces and tabs are ignored (HTTP field values are trimmed). */
static bool same_trimmed(const char *a, const char *b)
{
    while (*a == ' ' || *a == '\t')
        a++;
    while (*b == ' ' || *b == '\t')
        b++;
    size_t na = strlen(a), nb = strlen(b);
    while (na && (a[na - 1] == ' ' || a[na - 1] == '\t'))
        na--;
    while (nb && (b[nb - 1] == ' ' || b[nb - 1] == '\t'))
        nb--;
    return na == nb && memcmp(a, b, na) == 0;
}

static void check_field(struct parsed *p)
{
    const char *n = buf_cstr(&p->field), *v = buf_cstr(&p->value);
    if (!p->field.len)
        return;
    if (strcasecmp(n, "host") == 0)
        p->hosts++;
    if (strcasecmp(n, "content-length") == 0)
        p->content_lengths++;
    if (strcasecmp(n, "transfer-encoding") == 0 || strcasecmp(n, "authorization") == 0 ||
        strcasecmp(n, "connection") == 0 || strcasecmp(n, "proxy-authorization") == 0)
        p->forbidden++;
    /* a field the client's Connection names must not come from the client (the router's own are fine) */
    static const char *const own[] = {
        "host",         "content-length",  "x-user-id",         "x-user-name",      "x-client-id",
        "x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", NULL};
    bool router_field = false;
    for (const char *const *o = own; *o; o++)
        router_field = router_field || strcasecmp(n, *o) == 0;
    if (!router_field && proxy_connection_lists(p->connection, n, strlen(n)))
        p->forbidden++;
    const char *expected = NULL;
    if (strcasecmp(n, "x-user-id") == 0)
        expected = p->in->user_id;
    else if (strcasecmp(n, "x-user-name") == 0)
        expected = p->in->username;
    else if (strcasecmp(n, "x-client-id") == 0)
        expected = p->in->client_id;
    else if (strncasecmp(n, "x-user-", 7) == 0)
        p->forbidden++;
    if (expected) {
        p->user_fields++;
        if (!same_trimmed(expected, v))
            p->forbidden++;
    }
    buf_reset(&p->field);
    buf_reset(&p->value);
}

static int on_url(llhttp_t *h, const char *at, size_t len)
{
    struct parsed *p = h->data;
    buf_append(&p->url, at, len);
    return 0;
}

static int on_header_field(llhttp_t *h, const char *at, size_t len)
{
    struct parsed *p = h->data;
    if (p->last_was_value) {
        check_field(p);
        p->last_was_value = false;
    }
    buf_append(&p->field, at, len);
    return 0;
}

static int on_header_value(llhttp_t *h, const char *at, size_t len)
{
    struct parsed *p = h->data;
    p->last_was_value = true;
    buf_append(&p->value, at, len);
    return 0;
}

static int on_headers_complete(llhttp_t *h)
{
    struct parsed *p = h->data;
    check_field(p);
    return 0;
}

static int on_message_complete(llhttp_t *h)
{
    struct parsed *p = h->data;
    p->complete++;
    return HPE_PAUSED;
}

/* Next line of the input (up to '\n'), NUL-terminated in place; NULL at the end. */
static char *next_line(char **cursor, char *end)
{
    if (*cursor >= end)
        return NULL;
    char *line = *cursor, *nl = memchr(line, '\n', (size_t)(end - line));
    if (!nl)
        nl = end;
    *nl = '\0';
    *cursor = nl + 1;
    return line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *cursor = text, *end = text + size;
    const char *fields[7];
    for (int i = 0; i < 7; i++) {
        const char *line = next_line(&cursor, end);
        fields[i] = line ? line : "";
    }
    struct http_header headers[MAX_FIELDS];
    size_t nheaders = 0;
    const char *connection = NULL;
    char *line;
    while (nheaders < MAX_FIELDS && (line = next_line(&cursor, end))) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        headers[nheaders].name = line;
        headers[nheaders].value = colon + 1;
        if (strcasecmp(line, "connection") == 0)
            connection = colon + 1;
        bool relayed = proxy_response_header_relayed(line, strlen(line), connection);
        if (relayed && (strcasecmp(line, "transfer-encoding") == 0 || strcasecmp(line, "connection") == 0))
            abort();
        nheaders++;
    }
    struct proxy_head_input in = {
        .method = fields[0],
        .target = fields[1],
        .headers = headers,
        .nheaders = nheaders,
        .upstream_authority = fields[2],
        .client_host = fields[3],
        .client_addr = "127.0.0.1",
        .scheme = "https",
        .request_id = "req-1",
        .user_id = fields[4],
        .username = fields[5],
        .client_id = fields[6],
        .body_len = size % 7,
    };
    struct buf out;
    buf_init(&out, 256 * 1024);
    if (proxy_build_request_head(&in, &out) == GW_OK) {
        struct parsed p = {.in = &in, .connection = connection};
        buf_init(&p.url, 1 << 20);
        buf_init(&p.field, 1 << 20);
        buf_init(&p.value, 1 << 20);
        llhttp_settings_t settings;
        llhttp_settings_init(&settings);
        settings.on_url = on_url;
        settings.on_header_field = on_header_field;
        settings.on_header_value = on_header_value;
        settings.on_headers_complete = on_headers_complete;
        settings.on_message_complete = on_message_complete;
        llhttp_t parser;
        llhttp_init(&parser, HTTP_REQUEST, &settings);
        parser.data = &p;
        /* the head, then the announced body, must be one request and nothing more */
        struct buf wire;
        buf_init(&wire, 512 * 1024);
        buf_append(&wire, out.data, out.len);
        buf_append(&wire, "0123456", in.body_len);
        llhttp_errno_t err = llhttp_execute(&parser, wire.data, wire.len);
        /* Methods and targets reach the router through the server's own llhttp, so one llhttp
         * refuses here was never going to be forwarded; everything else must parse. "PRI" is
         * llhttp's HTTP/2 preface, never an HTTP/1.x request the server would have taken. */
        bool preface = err == HPE_INVALID_VERSION && strcmp(in.method, "PRI") == 0;
        if (err != HPE_PAUSED && err != HPE_INVALID_METHOD && err != HPE_INVALID_URL && !preface)
            abort();
        if (err == HPE_PAUSED) {
            const char *stop = llhttp_get_error_pos(&parser);
            if ((size_t)(stop - wire.data) != wire.len || p.complete != 1)
                abort();
            if (strcmp(llhttp_method_name((llhttp_method_t)parser.method), in.method) != 0 ||
                strcmp(buf_cstr(&p.url), in.target) != 0)
                abort();
            if (p.hosts != 1 || p.content_lengths > 1 || p.forbidden)
                abort();
        }
        buf_free(&wire);
        buf_free(&p.url);
        buf_free(&p.field);
        buf_free(&p.value);
    }
    buf_free(&out);
    free(text);
    return 0;
}
