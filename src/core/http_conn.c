/*
 * http_conn.c - one HTTP/1.1 server connection: llhttp parsing with limits, keep-alive and
 * pipelining, complete and streamed responses, timeouts, and the exchange handed to handlers.
 *
 * States of a connection:
 *   IDLE      between requests; the keep-alive timer runs
 *   READING   a request is arriving; the request timer (408) runs
 *   HANDLING  the handler owns the exchange; no timer (the handler's own deadlines apply)
 *   STREAMING a streamed response is being written; only the write timeout applies
 *   LINGER    an error response was sent; we discard input for a moment, then close, so the
 *             client reads the response instead of a reset
 * Parsing is paused at the end of each message, so pipelined requests wait in the input
 * buffer until the current response is finished.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/random.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <llhttp.h>

#include "alloc.h"
#include "buf.h"
#include "http.h"
#include "http_head.h"
#include "ip_allowlist.h"
#include "lazy_timer.h"
#include "log.h"
#include "server_internal.h"

#define STREAM_LOW_WATERMARK (64 * 1024)
#define PLAIN_READ_CHUNK (16 * 1024) /* at most this much per recv() from a client */
#define MAX_URL_BYTES 8192
#define MAX_HEADERS 100
#define LINGER_MS 2000
#define ARENA_BLOCK 4096

enum conn_state { CONN_IDLE, CONN_READING, CONN_HANDLING, CONN_STREAMING, CONN_LINGER };

struct arena_block {
    struct arena_block *next;
    size_t used, size;
    max_align_t data[];
};

struct http_exchange {
    struct conn *conn; /* NULL once the client has gone */
    struct http_request req;
    struct arena_block *arena;
    struct http_header *headers;
    size_t nheaders, headers_alloc;
    uint32_t header_name_len[MAX_HEADERS]; /* strlen of each name: compared before the names */
    struct buf resp_headers;
    http_close_fn close_fn;
    void *close_arg;
    http_drain_fn drain_fn;
    void *drain_arg;
    int status;
    int streaming;
    int chunked;
    int finished;
    int recorded; /* access log and metrics done */
    size_t bytes_out;
    const char *user, *client_id, *error; /* arena copies */
    const char *route;                    /* the role's own string, not copied */
};

struct conn {
    struct worker_listener *wl;
    struct conn *next, *prev;
    struct bufferevent *bev;
    /* Plain connections are read by this event and recv() into the bufferevent's input rather
     * than by the bufferevent, which asks the kernel how much is readable (FIONREAD) before every
     * read: one system call more per request. TLS connections read through the bufferevent. */
    struct event *read_event;
    int reading;             /* read_event is added */
    struct lazy_timer timer; /* the state's deadline: request, keep-alive or linger */
    llhttp_t parser;
    enum conn_state state;
    char remote_addr[INET6_ADDRSTRLEN];
    int remote_port;
    int tls;
    int close_after;  /* close once the current response is written */
    int peer_eof;     /* the client has half-closed */
    int in_dispatch;  /* inside the read loop: finishing a response must not re-enter it */
    int limit_status; /* status chosen by a limit check inside a parser callback */
    const char *limit_reason;
    size_t head_bytes;
    struct buf url;
    struct buf field, value; /* the header being assembled */
    int last_was_value;
    struct buf body;
    struct http_exchange *ex;
    struct http_exchange *spare; /* the last finished exchange, kept for the next request */
};

static void conn_close(struct conn *c);
static void conn_process_input(struct conn *c);
static void exchange_finish(struct http_exchange *ex);

/* Start or stop reading from the client. */
static void conn_set_reading(struct conn *c, int on)
{
    if (!c->read_event) {
        if (on)
            bufferevent_enable(c->bev, EV_READ);
        else
            bufferevent_disable(c->bev, EV_READ);
        return;
    }
    if (on == c->reading)
        return;
    if (on)
        event_add(c->read_event, NULL);
    else
        event_del(c->read_event);
    c->reading = on;
}

/* ---- small helpers ---------------------------------------------------------------------- */

int64_t server_now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *arena_alloc(struct http_exchange *ex, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    struct arena_block *b = ex->arena;
    if (!b || b->size - b->used < size) {
        size_t bsize = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        b = gw_malloc(sizeof(*b) + bsize);
        b->size = bsize;
        b->used = 0;
        b->next = ex->arena;
        ex->arena = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += size;
    return p;
}

static char *arena_strndup(struct http_exchange *ex, const char *s, size_t n)
{
    char *p = arena_alloc(ex, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static void exchange_free(struct http_exchange *ex)
{
    struct arena_block *b = ex->arena;
    while (b) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
    buf_free(&ex->resp_headers);
    free(ex->headers);
    free(ex);
}

/* Keep-alive connections reuse one exchange (its struct, first arena block, header array and
 * header buffer): four allocations less per request. Under AddressSanitizer every exchange is
 * freed instead, so that a handler touching an exchange after its answer is caught. */
#if defined(__SANITIZE_ADDRESS__)
#define RECYCLE_EXCHANGES 0
#else
#define RECYCLE_EXCHANGES 1
#endif
#define SPARE_HEADER_BUFFER_MAX (16 * 1024)

static struct http_exchange *exchange_take(struct conn *c)
{
    struct http_exchange *ex = c->spare;
    if (ex) {
        c->spare = NULL;
        return ex;
    }
    ex = gw_calloc(1, sizeof(*ex));
    buf_init(&ex->resp_headers, 64 * 1024);
    return ex;
}

static void exchange_recycle(struct conn *c, struct http_exchange *ex)
{
    if (!RECYCLE_EXCHANGES || c->spare) {
        exchange_free(ex);
        return;
    }
    /* keep one block of the usual size; larger ones were for unusual requests */
    struct arena_block *keep = NULL, *b = ex->arena;
    while (b) {
        struct arena_block *next = b->next;
        if (!keep && b->size == ARENA_BLOCK) {
            keep = b;
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(b);
        }
        b = next;
    }
    struct http_header *headers = ex->headers;
    size_t headers_alloc = ex->headers_alloc;
    struct buf resp_headers = ex->resp_headers;
    if (resp_headers.alloc > SPARE_HEADER_BUFFER_MAX)
        buf_free(&resp_headers);
    else
        buf_reset(&resp_headers);
    memset(ex, 0, sizeof(*ex));
    ex->arena = keep;
    ex->headers = headers;
    ex->headers_alloc = headers_alloc;
    ex->resp_headers = resp_headers;
    c->spare = ex;
}

/* Request ids only need to be unique, not secret: a per-thread xorshift seeded from getrandom. */
static void generate_request_id(char out[33])
{
    static _Thread_local uint64_t state;
    static const char hex[] = "0123456789abcdef";
    while (state == 0) {
        if (getrandom(&state, sizeof(state), 0) != sizeof(state))
            state = (uint64_t)server_now_usec() ^ (uint64_t)(uintptr_t)&state;
    }
    for (int half = 0; half < 2; half++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        uint64_t v = state;
        for (int i = 0; i < 16; i++) {
            out[half * 16 + i] = hex[v & 15];
            v >>= 4;
        }
    }
    out[32] = '\0';
}

/* An incoming X-Request-Id is kept when it is short and made of safe characters, so it can be
 * logged and forwarded without escaping games. */
static int request_id_is_sane(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return 1;
}

static const char *http_date_now(void)
{
    static _Thread_local char cached[40];
    static _Thread_local time_t cached_at;
    time_t now = time(NULL);
    if (now != cached_at) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_at = now;
    }
    return cached;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    }
    return "Unknown";
}

/* ---- timers ----------------------------------------------------------------------------- */

static void conn_arm_timer(struct conn *c, int ms)
{
    lazy_timer_set(&c->timer, ms);
}

static void conn_send_error_and_close(struct conn *c, int status, const char *error, const char *description);

static void conn_timer_fired(void *arg)
{
    struct conn *c = arg;
    switch (c->state) {
    case CONN_READING:
        log_write(LOG_INFO, "Request timed out: client too slow",
                  (struct log_field[]){log_str("remote_addr", c->remote_addr), log_int("status", 408)}, 2);
        conn_send_error_and_close(c, 408, "request_timeout", "The request did not arrive in time");
        break;
    case CONN_IDLE:
    case CONN_LINGER:
        conn_close(c);
        break;
    default:
        break;
    }
}

/* ---- parser callbacks --------------------------------------------------------------------- */

static int limit_fail(struct conn *c, int status, const char *reason)
{
    c->limit_status = status;
    c->limit_reason = reason;
    return -1;
}

static int count_head(struct conn *c, size_t len)
{
    c->head_bytes += len;
    if (c->head_bytes > c->wl->listener->opts.max_header_bytes)
        return limit_fail(c, 431, "Request header fields too large");
    return 0;
}

/* A new exchange for the request that starts arriving now. */
static struct http_exchange *exchange_begin(struct conn *c)
{
    struct http_exchange *ex = exchange_take(c);
    ex->conn = c;
    ex->req.start_usec = server_now_usec();
    ex->req.remote_addr = c->remote_addr;
    ex->req.remote_port = c->remote_port;
    ex->req.tls = c->tls;
    c->ex = ex;
    return ex;
}

/* What both parsers do once the head is known: the target split into path and query (target is
 * an arena string), the one-Host rule, and the request id. -1 (with limit_status set) for a
 * request to refuse. */
static int exchange_head_parsed(struct conn *c, struct http_exchange *ex, const char *target,
                                size_t target_len)
{
    ex->req.headers = ex->headers;
    ex->req.nheaders = ex->nheaders;
    size_t hosts = http_header_count(ex, "Host");
    if (hosts > 1 || (ex->req.version_minor == 1 && hosts == 0))
        return limit_fail(c, 400, "Exactly one Host header is required");
    ex->req.target = target;
    const char *q = memchr(target, '?', target_len);
    if (q) {
        ex->req.path = arena_strndup(ex, target, (size_t)(q - target));
        ex->req.query = q + 1;
    } else {
        ex->req.path = target;
        ex->req.query = "";
    }
    const char *rid = http_header(ex, "X-Request-Id");
    if (rid && request_id_is_sane(rid)) {
        ex->req.request_id = rid;
    } else {
        char *id = arena_alloc(ex, 33);
        generate_request_id(id);
        ex->req.request_id = id;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct conn *c = p->data;
    c->head_bytes = 0;
    buf_reset(&c->url);
    buf_reset(&c->field);
    buf_reset(&c->value);
    buf_reset(&c->body);
    c->last_was_value = 0;
    exchange_begin(c);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (count_head(c, len))
        return -1;
    if (c->url.len + len > MAX_URL_BYTES)
        return limit_fail(c, 414, "Request target too long");
    buf_append(&c->url, at, len);
    return 0;
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

static int push_header(struct conn *c)
{
    struct http_exchange *ex = c->ex;
    if (c->field.len == 0)
        return 0;
    if (ex->nheaders == MAX_HEADERS)
        return limit_fail(c, 431, "Too many header fields");
    if (ex->nheaders == ex->headers_alloc) {
        ex->headers_alloc = ex->headers_alloc ? ex->headers_alloc * 2 : 16;
        ex->headers = gw_realloc(ex->headers, ex->headers_alloc * sizeof(*ex->headers));
    }
    const char *v = buf_cstr(&c->value);
    size_t vn = c->value.len;
    trim(&v, &vn);
    ex->headers[ex->nheaders].name = arena_strndup(ex, c->field.data, c->field.len);
    ex->headers[ex->nheaders].value = arena_strndup(ex, v, vn);
    ex->header_name_len[ex->nheaders] = (uint32_t)c->field.len;
    ex->nheaders++;
    buf_reset(&c->field);
    buf_reset(&c->value);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (count_head(c, len))
        return -1;
    if (c->last_was_value) {
        if (push_header(c))
            return -1;
        c->last_was_value = 0;
    }
    /* llhttp tolerates "Host : x"; RFC 9112 §5.1 says whitespace before the colon is an error. */
    for (size_t i = 0; i < len; i++)
        if (at[i] == ' ' || at[i] == '\t')
            return limit_fail(c, 400, "Whitespace in header field name");
    buf_append(&c->field, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (count_head(c, len))
        return -1;
    c->last_was_value = 1;
    buf_append(&c->value, at, len);
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    struct http_exchange *ex = c->ex;
    if (push_header(c))
        return -1;
    if (p->http_major != 1 || p->http_minor > 1)
        return limit_fail(c, 400, "Only HTTP/1.0 and HTTP/1.1 are supported");
    ex->req.version_minor = p->http_minor;
    ex->req.method = llhttp_method_name((llhttp_method_t)p->method);
    if (exchange_head_parsed(c, ex, arena_strndup(ex, buf_cstr(&c->url), c->url.len), c->url.len))
        return -1;

    size_t max_body = c->wl->listener->opts.max_body_bytes;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > max_body)
        return limit_fail(c, 413, "Request body too large");
    const char *expect = http_header(ex, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && p->http_minor == 1)
        bufferevent_write(c->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct conn *c = p->data;
    if (c->body.len + len > c->wl->listener->opts.max_body_bytes)
        return limit_fail(c, 413, "Request body too large");
    buf_append(&c->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct conn *c = p->data;
    struct http_exchange *ex = c->ex;
    ex->req.body_len = c->body.len;
    ex->req.body = arena_strndup(ex, buf_cstr(&c->body), c->body.len);
    if (c->body.alloc > 256 * 1024)
        buf_free(&c->body); /* do not keep a large buffer on an idle keep-alive connection */
    return HPE_PAUSED;
}

static const llhttp_settings_t parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- connection life ---------------------------------------------------------------------- */

static void conn_dispatch(struct conn *c, bool keep_alive)
{
    struct http_exchange *ex = c->ex;
    const struct listener_options *o = &c->wl->listener->opts;
    lazy_timer_clear(&c->timer);
    c->state = CONN_HANDLING;
    if (!keep_alive || c->wl->draining)
        c->close_after = 1;
    o->handler(ex, o->handler_arg);
}

/* The common case without llhttp: a whole request of the simple shape (core/http_head.h) at the
 * start of the input. It is copied into the exchange's arena in one piece, and the header names,
 * values and target are NUL-terminated in that copy. Returns the bytes taken, 0 when llhttp
 * should parse them instead (any other shape, a limit to enforce, or not all there yet). On a
 * request to refuse, an error answer is on its way and c->state is CONN_LINGER. */
static size_t conn_take_simple_request(struct conn *c, const char *data, size_t len)
{
    const struct listener_options *o = &c->wl->listener->opts;
    struct http_head head;
    if (http_head_scan_request(data, len, &head) != HTTP_HEAD_OK || head.head_len > o->max_header_bytes ||
        head.target.len > MAX_URL_BYTES || head.content_length > o->max_body_bytes ||
        head.nfields > MAX_HEADERS)
        return 0;
    struct http_exchange *ex = exchange_begin(c);
    size_t total = head.head_len + head.content_length;
    char *copy = arena_alloc(ex, total + 1);
    memcpy(copy, data, total);
    copy[total] = '\0';
    if (ex->headers_alloc < head.nfields) {
        ex->headers_alloc = head.nfields > 16 ? head.nfields : 16;
        ex->headers = gw_realloc(ex->headers, ex->headers_alloc * sizeof(*ex->headers));
    }
    for (size_t i = 0; i < head.nfields; i++) {
        const struct http_head_field *f = &head.fields[i];
        copy[f->name.off + f->name.len] = '\0';   /* the colon */
        copy[f->value.off + f->value.len] = '\0'; /* CR, or the first trailing space */
        ex->headers[i].name = copy + f->name.off;
        ex->headers[i].value = copy + f->value.off;
        ex->header_name_len[i] = f->name.len;
    }
    ex->nheaders = head.nfields;
    copy[head.target.off + head.target.len] = '\0'; /* the space before HTTP/1.x */
    ex->req.method = head.method;
    ex->req.version_minor = head.version_minor;
    ex->req.body = copy + head.head_len;
    ex->req.body_len = head.content_length;
    if (exchange_head_parsed(c, ex, copy + head.target.off, head.target.len)) {
        conn_send_error_and_close(c, c->limit_status, "bad_request", c->limit_reason);
        return total;
    }
    /* No 100 Continue: the body is already here (RFC 9110 §10.1.1 lets a server omit it). */
    conn_dispatch(c, head.keep_alive);
    return total;
}

static void conn_process_input(struct conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    c->in_dispatch = 1;
    while ((c->state == CONN_IDLE && !c->close_after) || c->state == CONN_READING) {
        size_t avail = evbuffer_get_length(in);
        if (avail == 0)
            break;
        struct evbuffer_iovec vec;
        if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1)
            break;
        const char *data = vec.iov_base;
        if (c->state == CONN_IDLE) {
            size_t taken = conn_take_simple_request(c, data, vec.iov_len);
            if (taken) {
                evbuffer_drain(in, taken);
                continue; /* the handler may have answered synchronously: parse the next request */
            }
            c->state = CONN_READING;
            conn_arm_timer(c, c->wl->listener->opts.request_timeout_ms);
        }
        llhttp_errno_t err = llhttp_execute(&c->parser, data, vec.iov_len);
        if (err == HPE_OK) {
            evbuffer_drain(in, vec.iov_len);
            continue;
        }
        if (err == HPE_PAUSED) {
            const char *pos = llhttp_get_error_pos(&c->parser);
            evbuffer_drain(in, (size_t)(pos - data));
            conn_dispatch(c, llhttp_should_keep_alive(&c->parser));
            continue; /* the handler may have answered synchronously: parse the next request */
        }
        if (c->limit_status) {
            int st = c->limit_status;
            const char *error = st == 413   ? "request_too_large"
                                : st == 431 ? "request_header_fields_too_large"
                                : st == 414 ? "uri_too_long"
                                            : "bad_request";
            conn_send_error_and_close(c, st, error, c->limit_reason);
        } else {
            /* llhttp's reason names the byte-level problem; it is safe to show the client. */
            conn_send_error_and_close(c, 400, "bad_request", llhttp_get_error_reason(&c->parser));
        }
        break;
    }
    c->in_dispatch = 0;
    if (c->state == CONN_LINGER)
        evbuffer_drain(in, evbuffer_get_length(in));
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if (c->state == CONN_LINGER) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (c->state == CONN_HANDLING || c->state == CONN_STREAMING) {
        /* Pipelined bytes wait; stop reading if a client floods us while we are busy. */
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > c->wl->listener->opts.max_header_bytes)
            conn_set_reading(c, 0);
        return;
    }
    conn_process_input(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

/* A plain connection between requests, with nothing buffered, reads into a per-thread buffer:
 * whole requests of the simple shape are taken from there (copied once, into their exchange)
 * without the bufferevent's input, whose every read allocates a 16 KiB chain and frees it when
 * drained. Whatever is left (a request still arriving, pipelined bytes while the handler works,
 * any other shape) goes to the input buffer and the usual path. Returns false when the
 * connection was not in that state: then read through the input buffer as before. */
static bool conn_read_direct(struct conn *c, evutil_socket_t fd)
{
    static _Thread_local char chunk[PLAIN_READ_CHUNK];
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (c->state != CONN_IDLE || c->close_after || evbuffer_get_length(in) != 0)
        return false;
    ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return true;
        conn_set_reading(c, 0); /* level-triggered: an EOF would be reported again and again */
        conn_event_cb(c->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
        return true;
    }
    size_t off = 0, len = (size_t)n;
    c->in_dispatch = 1;
    while (off < len && c->state == CONN_IDLE && !c->close_after) {
        size_t taken = conn_take_simple_request(c, chunk + off, len - off);
        if (!taken)
            break;
        off += taken;
    }
    c->in_dispatch = 0;
    if (c->state == CONN_LINGER)
        return true; /* refused: the rest of the input is discarded */
    if (off < len) {
        evbuffer_unfreeze(in, 0);
        evbuffer_add(in, chunk + off, len - off);
        evbuffer_freeze(in, 0);
        conn_read_cb(c->bev, c);
    }
    return true;
}

/* Readable plain socket: what bufferevent's read would do, minus the FIONREAD. The bufferevent
 * keeps the end of its input frozen against other writers; it is thawed for the one recv. */
static void conn_plain_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct conn *c = arg;
    if (conn_read_direct(c, fd))
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_iovec vec;
    ssize_t n = -1;
    int saved_errno = ENOMEM;
    evbuffer_unfreeze(in, 0);
    if (evbuffer_reserve_space(in, PLAIN_READ_CHUNK, &vec, 1) >= 1) {
        n = recv(fd, vec.iov_base, vec.iov_len < PLAIN_READ_CHUNK ? vec.iov_len : PLAIN_READ_CHUNK, 0);
        saved_errno = errno;
        vec.iov_len = n > 0 ? (size_t)n : 0;
        evbuffer_commit_space(in, &vec, 1);
    }
    evbuffer_freeze(in, 0);
    if (n > 0) {
        conn_read_cb(c->bev, c);
        return;
    }
    if (n < 0 && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == EINTR))
        return;
    conn_set_reading(c, 0); /* level-triggered: an EOF would be reported again and again */
    conn_event_cb(c->bev, BEV_EVENT_READING | (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR), c);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct conn *c = arg;
    size_t pending = evbuffer_get_length(bufferevent_get_output(bev));
    if (c->state == CONN_LINGER && pending == 0 && c->peer_eof) {
        conn_close(c);
        return;
    }
    if (c->state == CONN_LINGER && pending == 0) {
        /* Error answered: half-close and discard input briefly so the client sees the answer. */
        if (!c->tls)
            shutdown(bufferevent_getfd(bev), SHUT_WR);
        conn_arm_timer(c, LINGER_MS);
        return;
    }
    if (c->ex && c->state == CONN_STREAMING && c->ex->drain_fn && pending < STREAM_LOW_WATERMARK) {
        http_drain_fn fn = c->ex->drain_fn;
        c->ex->drain_fn = NULL;
        fn(c->ex, c->ex->drain_arg);
        return;
    }
    if (c->state == CONN_IDLE && c->close_after && pending == 0)
        conn_close(c);
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct conn *c = arg;
    if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
        (c->state == CONN_IDLE || c->state == CONN_LINGER) &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
        /* The client half-closed after its request: deliver the answer, then close. */
        c->close_after = 1;
        c->peer_eof = 1;
        conn_set_reading(c, 0);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if ((what & BEV_EVENT_TIMEOUT) && c->ex)
            log_write(LOG_WARNING, "Client stopped reading; closing connection",
                      (struct log_field[]){log_str("remote_addr", c->remote_addr),
                                           log_str("request_id", c->ex->req.request_id)},
                      2);
        conn_close(c);
    }
}

static void conn_close(struct conn *c)
{
    struct worker_listener *wl = c->wl;
    struct http_exchange *ex = c->ex;
    c->ex = NULL;
    if (ex && !ex->finished) {
        ex->conn = NULL;
        if (ex->status == 0 && ex->req.method)
            http_exchange_set_error(ex, "client_closed");
        if (ex->close_fn) {
            http_close_fn fn = ex->close_fn;
            ex->close_fn = NULL;
            fn(ex, ex->close_arg);
            exchange_finish(ex); /* logs the aborted request and frees it */
        } else if (c->state != CONN_HANDLING && c->state != CONN_STREAMING) {
            exchange_free(ex); /* request never reached a handler */
        }
        /* else: orphaned; freed when the handler answers */
    } else if (ex) {
        exchange_free(ex);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        wl->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    wl->nconns--;
    server_connections_changed(-1);
    lazy_timer_free(&c->timer);
    if (c->read_event)
        event_free(c->read_event);
    bufferevent_free(c->bev);
    buf_free(&c->url);
    buf_free(&c->field);
    buf_free(&c->value);
    buf_free(&c->body);
    if (c->spare)
        exchange_free(c->spare);
    free(c);
    if (wl->draining && wl->nconns == 0)
        server_worker_listener_empty(wl);
}

void http_conn_accept(struct worker_listener *wl, int fd, const struct sockaddr *sa, int socklen)
{
    (void)socklen;
    const struct listener *l = wl->listener;
    if (wl->nconns >= l->opts.max_connections || wl->draining) {
        close(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct conn *c = gw_calloc(1, sizeof(*c));
    c->wl = wl;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, c->remote_addr, sizeof(c->remote_addr));
        c->remote_port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, c->remote_addr, sizeof(c->remote_addr));
        c->remote_port = ntohs(in6->sin6_port);
    } else {
        strcpy(c->remote_addr, "unix");
    }
    struct event_base *base = wl->worker->base;
    if (l->ssl_ctx || l->opts.tls_context) {
        SSL *ssl = NULL;
        if (l->opts.tls_context) {
            /* The role's current context (it may be swapped by a reload); the SSL keeps its own
             * reference, so this connection keeps its certificates whatever happens later. */
            SSL_CTX *ctx = l->opts.tls_context(l->opts.tls_context_arg);
            if (ctx) {
                ssl = SSL_new(ctx);
                SSL_CTX_free(ctx);
            }
        } else {
            ssl = SSL_new(l->ssl_ctx);
        }
        if (!ssl) {
            close(fd);
            free(c);
            return;
        }
        c->bev =
            bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        c->tls = 1;
    } else {
        c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
        c->read_event = event_new(base, fd, EV_READ | EV_PERSIST, conn_plain_read_cb, c);
    }
    if (!c->bev || (!c->tls && !c->read_event) || lazy_timer_init(&c->timer, base, conn_timer_fired, c)) {
        lazy_timer_free(&c->timer);
        if (c->read_event)
            event_free(c->read_event);
        if (c->bev)
            bufferevent_free(c->bev);
        else
            close(fd);
        free(c);
        return;
    }
    buf_init(&c->url, MAX_URL_BYTES);
    buf_init(&c->field, l->opts.max_header_bytes);
    buf_init(&c->value, l->opts.max_header_bytes);
    buf_init(&c->body, l->opts.max_body_bytes);
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->state = CONN_IDLE;
    c->next = wl->conns;
    if (wl->conns)
        wl->conns->prev = c;
    wl->conns = c;
    wl->nconns++;
    server_connections_changed(1);
    struct timeval wtv = {l->opts.write_timeout_ms / 1000, (l->opts.write_timeout_ms % 1000) * 1000};
    bufferevent_set_timeouts(c->bev, NULL, &wtv);
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    bufferevent_enable(c->bev, EV_WRITE);
    conn_set_reading(c, 1);
    /* A fresh connection must send its first request within the request timeout. */
    conn_arm_timer(c, l->opts.request_timeout_ms);
}

void http_conn_drain_all(struct worker_listener *wl)
{
    wl->draining = 1;
    struct conn *c = wl->conns;
    while (c) {
        struct conn *next = c->next;
        /* an idle connection may still be flushing its last response (a stream a role's
         * worker_drain just ended): close it once the output is written (conn_write_cb) */
        if (c->state == CONN_IDLE && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_close(c);
        else
            c->close_after = 1;
        c = next;
    }
    if (wl->nconns == 0)
        server_worker_listener_empty(wl);
}

void http_conn_close_all(struct worker_listener *wl)
{
    while (wl->conns)
        conn_close(wl->conns);
}

/* ---- responses ---------------------------------------------------------------------------- */

/* The access-log line and the request metrics. */
static void exchange_record(struct http_exchange *ex)
{
    const struct http_request *r = &ex->req;
    double seconds = (double)(server_now_usec() - r->start_usec) / 1e6;
    int status = ex->status ? ex->status : 499; /* 499: client closed before an answer (nginx's) */
    server_record_request(log_service(), r->method, status, seconds);
    int quiet = strcmp(r->path, "/health") == 0 || strcmp(r->path, "/metrics") == 0;
    enum log_level level = status >= 500 ? LOG_ERROR : quiet ? LOG_DEBUG : LOG_INFO;
    if (!log_enabled(level))
        return;
    char message[320];
    snprintf(message, sizeof(message), "%s %.256s %d", r->method, r->path, status);
    struct log_field f[13];
    int n = 0;
    f[n++] = log_str("request_id", r->request_id);
    f[n++] = log_str("method", r->method);
    f[n++] = log_str("path", r->path);
    f[n++] = log_int("status", status);
    f[n++] = log_double("duration_ms", seconds * 1000.0);
    f[n++] = log_int("bytes", (long long)ex->bytes_out);
    f[n++] = log_str("remote_addr", r->remote_addr);
    if (ex->user)
        f[n++] = log_str("user", ex->user);
    if (ex->client_id)
        f[n++] = log_str("client_id", ex->client_id);
    if (ex->route)
        f[n++] = log_str("route", ex->route);
    if (ex->error)
        f[n++] = log_str("error", ex->error);
    const char *ua = http_header(ex, "User-Agent");
    if (ua)
        f[n++] = log_str("user_agent", ua);
    log_write(level, message, f, n);
}

/* After the response is complete: log it and make the connection ready for the next request. */
static void exchange_finish(struct http_exchange *ex)
{
    struct conn *c = ex->conn;
    ex->finished = 1;
    if (!ex->recorded)
        exchange_record(ex);
    if (!c) {
        exchange_free(ex);
        return;
    }
    c->ex = NULL;
    exchange_recycle(c, ex);
    conn_set_reading(c, 1);
    if (c->close_after) {
        /* closed by the write callback once the output is flushed, or by the timer right away
         * when there is nothing left to write (never from here: we may be inside the read loop) */
        c->state = CONN_IDLE;
        conn_set_reading(c, 0);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_arm_timer(c, 0);
        return;
    }
    c->state = CONN_IDLE;
    llhttp_resume(&c->parser);
    conn_arm_timer(c, c->wl->listener->opts.keepalive_timeout_ms);
    if (!c->in_dispatch)
        conn_process_input(c);
}

static void append_head(struct http_exchange *ex, struct buf *out, int status, const char *content_type,
                        long long content_length)
{
    struct conn *c = ex->conn;
    buf_append_str(out, ex->req.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
    buf_append_decimal(out, status);
    buf_append_char(out, ' ');
    buf_append_str(out, http_status_text(status));
    buf_append(out, "\r\n", 2);
    const char *date = http_date_now();
    buf_append_field_line(out, "Date", 4, date, strlen(date));
    buf_append_field_line(out, "X-Request-Id", 12, ex->req.request_id, strlen(ex->req.request_id));
    if (content_type)
        buf_append_field_line(out, "Content-Type", 12, content_type, strlen(content_type));
    if (content_length >= 0) {
        buf_append(out, "Content-Length: ", 16);
        buf_append_decimal(out, content_length);
        buf_append(out, "\r\n", 2);
    } else if (ex->chunked) {
        buf_append_str(out, "Transfer-Encoding: chunked\r\n");
    }
    if (c->close_after)
        buf_append_str(out, "Connection: close\r\n");
    else if (ex->req.version_minor == 0)
        buf_append_str(out, "Connection: keep-alive\r\n");
    buf_append(out, ex->resp_headers.data ? ex->resp_headers.data : "", ex->resp_headers.len);
    buf_append(out, "\r\n", 2);
}

/* Hand bytes to the client. On a plain socket with nothing queued, try the socket first: most
 * responses leave in that one send, which spares the bufferevent's arm/disarm of the write event
 * (two epoll_ctl calls per response). Whatever the socket does not take, and every TLS write,
 * goes through the bufferevent, which keeps the order and reports errors. */
static void conn_send(struct conn *c, const char *data, size_t len)
{
    if (!c->tls && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        ssize_t n = send(bufferevent_getfd(c->bev), data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        }
    }
    if (len)
        bufferevent_write(c->bev, data, len);
}

void http_respond(struct http_exchange *ex, int status, const char *content_type, const void *body,
                  size_t len)
{
    if (ex->finished || ex->streaming)
        return;
    ex->status = status;
    struct conn *c = ex->conn;
    if (!c) {
        exchange_finish(ex);
        return;
    }
    int no_body = strcmp(ex->req.method, "HEAD") == 0 || status == 204 || status == 304;
    struct buf out;
    buf_init(&out, (size_t)-1 / 2);
    buf_reserve(&out, 256 + ex->resp_headers.len + len); /* one allocation for the whole answer */
    append_head(ex, &out, status, content_type, status == 204 || status == 304 ? -1 : (long long)len);
    if (!no_body && len)
        buf_append(&out, body, len);
    /* One buffer per response: with TLS each evbuffer chain becomes its own record (pitfall 2). */
    ex->bytes_out = len;
    /* Count the request before the client can see the answer (and ask /metrics on another worker). */
    exchange_record(ex);
    ex->recorded = 1;
    conn_send(c, out.data, out.len);
    buf_free(&out);
    exchange_finish(ex);
}

void http_respond_json(struct http_exchange *ex, int status, const char *json)
{
    http_respond(ex, status, "application/json", json, strlen(json));
}

void http_respond_error(struct http_exchange *ex, int status, const char *error, const char *description)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    buf_append_str(&b, "{\"error\":\"");
    buf_append_json_escaped(&b, error, strlen(error));
    if (description) {
        buf_append_str(&b, "\",\"error_description\":\"");
        buf_append_json_escaped(&b, description, strlen(description));
    }
    buf_append_str(&b, "\"}");
    http_exchange_set_error(ex, error);
    http_response_header(ex, "Cache-Control", "no-store");
    http_respond(ex, status, "application/json", b.data, b.len);
    buf_free(&b);
}

/* Errors found while reading a request: answer, then close (the stream position is unknown). */
static void conn_send_error_and_close(struct conn *c, int status, const char *error, const char *description)
{
    if (!c->ex) {
        /* error before any message began (cannot happen with llhttp, but keep the state sane) */
        on_message_begin(&c->parser);
        c->ex->req.method = "GET";
        c->ex->req.path = "/";
        c->ex->req.target = "/";
        c->ex->req.query = "";
    }
    struct http_exchange *ex = c->ex;
    if (!ex->req.method)
        ex->req.method = llhttp_method_name((llhttp_method_t)c->parser.method);
    if (!ex->req.path) {
        ex->req.path = arena_strndup(ex, buf_cstr(&c->url), c->url.len > 256 ? 256 : c->url.len);
        ex->req.target = ex->req.path;
        ex->req.query = "";
    }
    if (!ex->req.request_id) {
        char *id = arena_alloc(ex, 33);
        generate_request_id(id);
        ex->req.request_id = id;
    }
    if (c->parser.http_major != 1)
        ex->req.version_minor = 1;
    c->close_after = 1;
    c->state = CONN_HANDLING;
    lazy_timer_clear(&c->timer);
    http_respond_error(ex, status, error, description);
    /* exchange_finish saw close_after; switch to lingering instead of an abrupt close */
    if (c->state == CONN_IDLE) {
        c->state = CONN_LINGER;
        conn_set_reading(c, 1);
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
            conn_write_cb(c->bev, c);
    }
}

/* ---- streaming ---------------------------------------------------------------------------- */

enum gw_err http_stream_start(struct http_exchange *ex, int status, const char *content_type)
{
    if (ex->finished || ex->streaming)
        return GW_ERR_INVALID;
    ex->status = status;
    ex->streaming = 1;
    struct conn *c = ex->conn;
    if (!c)
        return GW_ERR_CLOSED;
    if (ex->req.version_minor == 1)
        ex->chunked = 1;
    else
        c->close_after = 1; /* HTTP/1.0: the end of the body is the end of the connection */
    struct buf out;
    buf_init(&out, 128 * 1024);
    append_head(ex, &out, status, content_type, -1);
    conn_send(c, out.data, out.len);
    buf_free(&out);
    c->state = CONN_STREAMING;
    return GW_OK;
}

enum gw_err http_stream_write(struct http_exchange *ex, const void *data, size_t len)
{
    struct conn *c = ex->conn;
    if (!ex->streaming || ex->finished)
        return GW_ERR_INVALID;
    if (!c)
        return GW_ERR_CLOSED;
    if (len == 0)
        return GW_OK;
    ex->bytes_out += len;
    if (!ex->chunked) {
        conn_send(c, data, len);
        return GW_OK;
    }
    /* chunk header + data + CRLF as one buffer so a TLS connection sends one record per event */
    char head[24];
    size_t hn = 0;
    static const char hex[] = "0123456789abcdef";
    for (int shift = (int)(sizeof(size_t) * 8) - 4; shift >= 0; shift -= 4) {
        unsigned digit = (unsigned)((len >> shift) & 15);
        if (digit || hn)
            head[hn++] = hex[digit];
    }
    head[hn++] = '\r';
    head[hn++] = '\n';
    struct buf chunk;
    buf_init(&chunk, hn + len + 2);
    buf_append(&chunk, head, hn);
    buf_append(&chunk, data, len);
    buf_append(&chunk, "\r\n", 2);
    conn_send(c, chunk.data, chunk.len);
    buf_free(&chunk);
    return GW_OK;
}

size_t http_stream_pending(const struct http_exchange *ex)
{
    return ex->conn ? evbuffer_get_length(bufferevent_get_output(ex->conn->bev)) : 0;
}

void http_stream_on_drain(struct http_exchange *ex, http_drain_fn fn, void *arg)
{
    ex->drain_fn = fn;
    ex->drain_arg = arg;
}

void http_stream_end(struct http_exchange *ex)
{
    if (!ex->streaming || ex->finished)
        return;
    struct conn *c = ex->conn;
    if (c && ex->chunked)
        conn_send(c, "0\r\n\r\n", 5);
    exchange_finish(ex);
}

/* ---- accessors ---------------------------------------------------------------------------- */

const struct http_request *http_request(const struct http_exchange *ex)
{
    return &ex->req;
}

/* Lengths first: handlers look up a few names per request among a dozen headers. */
static bool header_named(const struct http_exchange *ex, size_t i, const char *name, size_t name_len)
{
    return ex->header_name_len[i] == name_len && strcasecmp(ex->headers[i].name, name) == 0;
}

const char *http_header(const struct http_exchange *ex, const char *name)
{
    size_t name_len = strlen(name);
    for (size_t i = 0; i < ex->nheaders; i++)
        if (header_named(ex, i, name, name_len))
            return ex->headers[i].value;
    return NULL;
}

size_t http_header_count(const struct http_exchange *ex, const char *name)
{
    size_t name_len = strlen(name), n = 0;
    for (size_t i = 0; i < ex->nheaders; i++)
        if (header_named(ex, i, name, name_len))
            n++;
    return n;
}

struct event_base *http_exchange_base(const struct http_exchange *ex)
{
    struct worker *w = worker_current();
    (void)ex;
    return w ? w->base : NULL;
}

void *http_exchange_alloc(struct http_exchange *ex, size_t size)
{
    return arena_alloc(ex, size);
}

char *http_exchange_strdup(struct http_exchange *ex, const char *s)
{
    return arena_strndup(ex, s, strlen(s));
}

void http_exchange_set_identity(struct http_exchange *ex, const char *user, const char *client_id)
{
    if (user)
        ex->user = http_exchange_strdup(ex, user);
    if (client_id)
        ex->client_id = http_exchange_strdup(ex, client_id);
}

bool http_peer_is_loopback(const struct http_exchange *ex)
{
    return ip_is_loopback(http_request(ex)->remote_addr);
}

const char *http_client_ip(struct http_exchange *ex)
{
    const char *peer = http_request(ex)->remote_addr;
    const char *xff = http_header(ex, "X-Forwarded-For");
    if (!http_peer_is_loopback(ex) || !xff || !*xff)
        return peer;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ' || *last == '\t')
        last++;
    char ip[INET6_ADDRSTRLEN];
    size_t n = strcspn(last, " \t");
    unsigned char scratch[sizeof(struct in6_addr)];
    if (n == 0 || n >= sizeof(ip))
        return peer;
    memcpy(ip, last, n);
    ip[n] = '\0';
    if (inet_pton(AF_INET, ip, scratch) != 1 && inet_pton(AF_INET6, ip, scratch) != 1)
        return peer;
    return http_exchange_strdup(ex, ip);
}

void http_exchange_set_route(struct http_exchange *ex, const char *route)
{
    ex->route = route;
}

void http_exchange_set_error(struct http_exchange *ex, const char *error)
{
    if (error)
        ex->error = http_exchange_strdup(ex, error);
}

void http_exchange_on_close(struct http_exchange *ex, http_close_fn fn, void *arg)
{
    ex->close_fn = fn;
    ex->close_arg = arg;
}

static int header_is_reserved(const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t len;
    } reserved[] = {{"Content-Length", 14},
                    {"Transfer-Encoding", 17},
                    {"Connection", 10},
                    {"Date", 4},
                    {"X-Request-Id", 12}};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
        if (len == reserved[i].len && strcasecmp(name, reserved[i].name) == 0)
            return 1;
    return 0;
}

/* The length of s, or SIZE_MAX if it holds CR or LF (or, for a name, a colon or space): such a
 * header would let a value inject headers, so it is refused outright. */
static size_t header_part_length(const char *s, int is_name)
{
    size_t n = 0;
    for (;; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c > ':')
            continue;
        if (c == '\0')
            return n;
        if (c == '\r' || c == '\n' || (is_name && (c == ':' || c == ' ')))
            return SIZE_MAX;
    }
}

void http_response_header(struct http_exchange *ex, const char *name, const char *value)
{
    size_t name_len = header_part_length(name, 1), value_len = header_part_length(value, 0);
    if (name_len == SIZE_MAX || value_len == SIZE_MAX || header_is_reserved(name, name_len))
        return;
    if (!ex->resp_headers.data)
        (void)buf_reserve(&ex->resp_headers, 512); /* most answers carry a few short headers */
    /* the whole line or nothing, so a header past the cap is left out whole, never cut */
    (void)buf_append_field_line(&ex->resp_headers, name, name_len, value, value_len);
}
