#include "upstream.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <llhttp.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/http_head.h"
#include "core/lazy_timer.h"
#include "core/log.h"
#include "core/metrics.h"
#include "proxy_head.h"
#include "upstream_addr.h"
#include "upstream_health.h"

#define BUFFERED_BODY_MAX (1024 * 1024) /* larger (or unknown-length) bodies are streamed */
#define RESPONSE_HEAD_MAX (64 * 1024)
#define CLIENT_HIGH_WATER (256 * 1024) /* stop reading the upstream above this client backlog */
#define READ_CHUNK (64 * 1024)         /* one recv() from an upstream */
#define SPARE_CALLS 64                 /* finished calls kept per worker, buffers and all */
/* Under AddressSanitizer finished calls are freed, so that a use after the end is caught. */
#if defined(__SANITIZE_ADDRESS__)
#define RECYCLE_CALLS 0
#else
#define RECYCLE_CALLS 1
#endif
#define SPARE_BUFFER_MAX (64 * 1024) /* a spare call's buffer larger than this is freed */

static struct metric_family *upstream_requests_metric;
static struct metric_family *upstream_errors_metric;
static struct metric_family *active_streams_metric;

void upstream_metrics_register(void)
{
    upstream_requests_metric = metrics_register(
        METRIC_COUNTER, "router_upstream_requests_total",
        "Requests the router forwarded, by service, method and upstream status ('error': no answer)",
        (const char *[]){"service", "method", "status"}, 3, NULL, 0);
    upstream_errors_metric = metrics_register(METRIC_COUNTER, "router_upstream_errors_total",
                                              "Upstream failures, by service and reason",
                                              (const char *[]){"service", "reason"}, 2, NULL, 0);
    active_streams_metric = metrics_register(METRIC_GAUGE, "router_active_streams",
                                             "Streamed upstream responses (SSE, chunked) in progress",
                                             (const char *[]){"service"}, 1, NULL, 0);
}

struct upstream_conn;

enum response_mode { MODE_NONE, MODE_BUFFER, MODE_STREAM };

struct upstream_call {
    struct upstream_pool *pool;
    struct http_exchange *ex; /* NULL once the exchange is finished or the client left */
    const struct router_service *svc;
    struct upstream_conn *conn;
    struct buf head; /* the request head sent upstream */
    int attempts;
    bool strip_cors, head_request;
    const char *method; /* static string from the server (llhttp_method_name) */
    /* response */
    int status;
    struct buf field, value, headers; /* headers: "name\0value\0" pairs */
    size_t nheaders;
    bool last_was_value;
    enum response_mode mode;
    bool sse, got_bytes, complete, paused, counted_stream;
    int fail_status; /* set by a parser callback: answer this error after parsing */
    const char *fail_reason;
    struct buf body;  /* MODE_BUFFER */
    struct buf relay; /* MODE_STREAM: what one read brought */
    struct upstream_call *next_spare;
};

/* The socket is driven directly (recv/sendmsg on a non-blocking fd with two events) rather than
 * through a bufferevent: a bufferevent asks the kernel how much is readable (FIONREAD) before each
 * read and arms/disarms the write event around each write, which doubled the system calls of a
 * proxied request. Here a request usually leaves in one sendmsg and its answer arrives in one
 * recv. */
struct upstream_conn {
    struct upstream_pool *pool;
    size_t service;
    int fd;
    struct event *read_event;  /* persistent while connected and not paused */
    struct event *write_event; /* while connecting, or while `pending` holds bytes */
    struct evbuffer *pending;  /* request bytes the socket did not take at once */
    struct lazy_timer timer;   /* connect, response, stream-idle or pool-idle deadline */
    llhttp_t parser;
    struct upstream_call *call;   /* NULL while idle in the pool */
    struct sockaddr_storage addr; /* where it connects (for upstream_addrs_connect_failed) */
    socklen_t addrlen;
    bool connected, reused, idle;
    bool reading;                                /* read_event is added */
    bool leftover;                               /* bytes arrived after the complete response: not reusable */
    struct upstream_conn *prev, *next;           /* every connection of the pool */
    struct upstream_conn *idle_prev, *idle_next; /* the service's idle list */
};

struct upstream_pool {
    struct event_base *base;
    const struct route_table *table;
    struct upstream_settings settings;
    struct upstream_health *health; /* shared by the workers; NULL: not reported */
    struct upstream_addrs *addrs;   /* shared by the workers */
    struct upstream_conn **idle;    /* per service, most recently used first */
    int *nidle;
    struct upstream_conn *all;
    int active_streams;
    /* Finished calls kept for the next requests: a call's buffers are a dozen allocations. */
    struct upstream_call *spare;
    int nspare;
    char read_buffer[READ_CHUNK]; /* parsed (and copied out) before the next recv */
};

static const llhttp_settings_t response_settings;

/* ---- pool ---- */

struct upstream_pool *upstream_pool_create(struct event_base *base, const struct route_table *table,
                                           const struct upstream_settings *settings,
                                           struct upstream_addrs *addrs, struct upstream_health *health)
{
    struct upstream_pool *p = gw_calloc(1, sizeof(*p));
    p->base = base;
    p->table = table;
    p->settings = *settings;
    p->addrs = addrs;
    p->health = health;
    p->idle = gw_calloc(table->nservices, sizeof(*p->idle));
    p->nidle = gw_calloc(table->nservices, sizeof(*p->nidle));
    return p;
}

static void call_free(struct upstream_call *call);
static void call_destroy(struct upstream_call *call);
static void conn_destroy(struct upstream_conn *c);
static void call_flush(struct upstream_call *call);
static void count_request(struct upstream_call *call, const char *status);

void upstream_pool_free(struct upstream_pool *p)
{
    if (!p)
        return;
    while (p->all) {
        struct upstream_conn *c = p->all;
        struct upstream_call *call = c->call;
        conn_destroy(c);
        if (call) {
            if (call->ex)
                http_exchange_on_close(call->ex, NULL, NULL);
            call_free(call);
        }
    }
    while (p->spare) {
        struct upstream_call *call = p->spare;
        p->spare = call->next_spare;
        call_destroy(call);
    }
    free(p->idle);
    free(p->nidle);
    free(p);
}

void upstream_pool_drain(struct upstream_pool *p)
{
    struct upstream_conn *c = p->all;
    while (c) {
        struct upstream_conn *next = c->next;
        struct upstream_call *call = c->call;
        if (!call) {
            conn_destroy(c);
        } else if (call->mode == MODE_STREAM && call->ex) {
            struct http_exchange *ex = call->ex;
            http_exchange_on_close(ex, NULL, NULL);
            call_flush(call);
            http_stream_end(ex);
            call->ex = NULL;
            c->call = NULL;
            conn_destroy(c);
            count_request(call, "drained");
            call_free(call);
        }
        c = next;
    }
}

int upstream_active_streams(const struct upstream_pool *p)
{
    return p->active_streams;
}

size_t upstream_pool_services(const struct upstream_pool *p)
{
    return p->table->nservices;
}

bool upstream_pool_address(const struct upstream_pool *p, size_t service, struct sockaddr_storage *addr,
                           socklen_t *addrlen)
{
    return upstream_addrs_get(p->addrs, service, addr, addrlen);
}

void upstream_pool_connect_failed(const struct upstream_pool *p, size_t service,
                                  const struct sockaddr_storage *addr, socklen_t addrlen)
{
    upstream_addrs_connect_failed(p->addrs, service, addr, addrlen);
}

static void idle_remove(struct upstream_conn *c)
{
    if (!c->idle)
        return;
    struct upstream_pool *p = c->pool;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        p->idle[c->service] = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
    c->idle = false;
    p->nidle[c->service]--;
}

static void conn_destroy(struct upstream_conn *c)
{
    struct upstream_pool *p = c->pool;
    idle_remove(c);
    if (c->prev)
        c->prev->next = c->next;
    else
        p->all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->call)
        c->call->conn = NULL;
    lazy_timer_free(&c->timer);
    event_free(c->read_event);
    event_free(c->write_event);
    evbuffer_free(c->pending);
    close(c->fd);
    free(c);
}

static void arm_timer(struct upstream_conn *c, int ms)
{
    lazy_timer_set(&c->timer, ms);
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void conn_timer_fired(void *arg);

static void set_reading(struct upstream_conn *c, bool on)
{
    if (on == c->reading)
        return;
    if (on)
        event_add(c->read_event, NULL);
    else
        event_del(c->read_event);
    c->reading = on;
}

/* Start a non-blocking connect to the service. NULL when the connect fails at once. */
static struct upstream_conn *conn_new(struct upstream_pool *p, size_t service)
{
    struct sockaddr_storage storage;
    socklen_t addrlen = 0;
    if (!upstream_addrs_get(p->addrs, service, &storage, &addrlen)) {
        upstream_health_report(p->health, service, false, "unresolved");
        upstream_addrs_connect_failed(p->addrs, service, NULL, 0);
        return NULL;
    }
    const struct sockaddr *addr = (const struct sockaddr *)&storage;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    bool connected = false;
    if (connect(fd, addr, addrlen) == 0) {
        connected = true;
        upstream_health_report(p->health, service, true, NULL);
    } else if (errno != EINPROGRESS) {
        upstream_health_report(p->health, service, false, "connect_failed");
        upstream_addrs_connect_failed(p->addrs, service, &storage, addrlen);
        close(fd);
        return NULL;
    }
    struct upstream_conn *c = gw_calloc(1, sizeof(*c));
    c->pool = p;
    c->service = service;
    c->fd = fd;
    c->addr = storage;
    c->addrlen = addrlen;
    c->read_event = event_new(p->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->write_event = event_new(p->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    enum gw_err timer_err = lazy_timer_init(&c->timer, p->base, conn_timer_fired, c);
    c->pending = evbuffer_new();
    if (!c->read_event || !c->write_event || timer_err || !c->pending) {
        if (c->read_event)
            event_free(c->read_event);
        if (c->write_event)
            event_free(c->write_event);
        lazy_timer_free(&c->timer);
        if (c->pending)
            evbuffer_free(c->pending);
        close(fd);
        free(c);
        return NULL;
    }
    c->next = p->all;
    if (p->all)
        p->all->prev = c;
    p->all = c;
    if (connected) {
        c->connected = true;
        set_reading(c, true);
    } else {
        event_add(c->write_event, NULL); /* writable = the connect finished, one way or the other */
        arm_timer(c, p->settings.connect_timeout_ms);
    }
    return c;
}

/* Put a connection whose last response is complete back into its service's idle list. */
static void conn_release(struct upstream_conn *c)
{
    struct upstream_pool *p = c->pool;
    c->call = NULL;
    if (p->nidle[c->service] >= p->settings.max_idle_per_service || c->leftover ||
        evbuffer_get_length(c->pending) > 0) {
        conn_destroy(c);
        return;
    }
    c->reused = true;
    c->idle = true;
    c->idle_prev = NULL;
    c->idle_next = p->idle[c->service];
    if (c->idle_next)
        c->idle_next->idle_prev = c;
    p->idle[c->service] = c;
    p->nidle[c->service]++;
    set_reading(c, true); /* notice the upstream closing it */
    arm_timer(c, p->settings.idle_keepalive_ms);
}

/* ---- a call ---- */

/* A call with empty buffers: a spare one when there is, else a fresh one. */
static struct upstream_call *call_new(struct upstream_pool *p)
{
    struct upstream_call *call = p->spare;
    if (call) {
        p->spare = call->next_spare;
        p->nspare--;
        call->next_spare = NULL;
        return call;
    }
    call = gw_calloc(1, sizeof(*call));
    buf_init(&call->head, 128 * 1024);
    buf_init(&call->field, RESPONSE_HEAD_MAX);
    buf_init(&call->value, RESPONSE_HEAD_MAX);
    buf_init(&call->headers, RESPONSE_HEAD_MAX);
    buf_init(&call->body, BUFFERED_BODY_MAX);
    buf_init(&call->relay, SIZE_MAX);
    return call;
}

static void call_destroy(struct upstream_call *call)
{
    buf_free(&call->head);
    buf_free(&call->field);
    buf_free(&call->value);
    buf_free(&call->headers);
    buf_free(&call->body);
    buf_free(&call->relay);
    free(call);
}

static void keep_or_release(struct buf *b)
{
    if (b->alloc > SPARE_BUFFER_MAX)
        buf_free(b);
    else
        buf_reset(b);
}

static void call_free(struct upstream_call *call)
{
    struct upstream_pool *p = call->pool;
    if (call->counted_stream) {
        p->active_streams--;
        metrics_add(active_streams_metric, (const char *[]){call->svc->name}, -1);
    }
    if (!RECYCLE_CALLS || p->nspare >= SPARE_CALLS) {
        call_destroy(call);
        return;
    }
    struct buf kept[6] = {call->head, call->field, call->value, call->headers, call->body, call->relay};
    for (int i = 0; i < 6; i++)
        keep_or_release(&kept[i]);
    memset(call, 0, sizeof(*call));
    call->head = kept[0];
    call->field = kept[1];
    call->value = kept[2];
    call->headers = kept[3];
    call->body = kept[4];
    call->relay = kept[5];
    call->body.cap = BUFFERED_BODY_MAX;
    call->next_spare = p->spare;
    p->spare = call;
    p->nspare++;
}

static void count_request(struct upstream_call *call, const char *status)
{
    metrics_add(upstream_requests_metric, (const char *[]){call->svc->name, call->method, status}, 1);
}

/* The call failed before a response could be relayed: answer the client with a JSON error. */
static void call_fail(struct upstream_call *call, int status, const char *reason)
{
    struct http_exchange *ex = call->ex;
    metrics_add(upstream_errors_metric, (const char *[]){call->svc->name, reason}, 1);
    count_request(call, "error");
    char message[160];
    snprintf(message, sizeof(message), "Upstream %s %s", call->svc->name,
             status == 504 ? "timed out" : "unavailable");
    log_write(LOG_ERROR, message,
              (struct log_field[]){log_str("route", call->svc->name), log_str("error", reason),
                                   log_str("upstream", call->svc->upstream_authority),
                                   log_str("request_id", ex ? http_request(ex)->request_id : "")},
              4);
    if (ex) {
        http_exchange_on_close(ex, NULL, NULL);
        http_exchange_set_error(ex, reason);
        char description[256];
        snprintf(description, sizeof(description), "%s %s", call->svc->name,
                 status == 504 ? "did not answer in time" : "is unavailable");
        if (call->mode == MODE_STREAM) {
            http_stream_end(ex); /* the head is out: all we can do is end the body */
        } else {
            http_respond_error(ex, status, status == 504 ? "upstream_timeout" : "upstream_unavailable",
                               description);
        }
        call->ex = NULL;
    }
    if (call->conn) {
        struct upstream_conn *c = call->conn;
        c->call = NULL;
        conn_destroy(c);
    }
    call_free(call);
}

static void conn_lost(struct upstream_conn *c);

/* Send the request head and body: straight to the socket, the rest queued for conn_write_cb. */
static void call_send(struct upstream_call *call)
{
    struct upstream_conn *c = call->conn;
    const struct http_request *r = http_request(call->ex);
    llhttp_init(&c->parser, HTTP_RESPONSE, &response_settings);
    c->parser.data = call;
    c->leftover = false;
    set_reading(c, true);
    arm_timer(c, call->pool->settings.response_timeout_ms);
    struct iovec iov[2] = {{call->head.data, call->head.len}, {(void *)r->body, r->body_len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = r->body_len ? 2 : 1};
    size_t total = call->head.len + r->body_len;
    ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        conn_lost(c); /* e.g. a pooled connection the upstream reset: conn_lost retries once */
        return;
    }
    size_t sent = n > 0 ? (size_t)n : 0;
    if (sent == total)
        return;
    if (sent < call->head.len) {
        evbuffer_add(c->pending, call->head.data + sent, call->head.len - sent);
        sent = call->head.len;
    }
    if (r->body_len)
        evbuffer_add(c->pending, r->body + (sent - call->head.len), r->body_len - (sent - call->head.len));
    event_add(c->write_event, NULL);
}

static void call_start(struct upstream_call *call)
{
    struct upstream_pool *p = call->pool;
    size_t service = call->svc->index;
    struct upstream_conn *c = p->idle[service];
    call->attempts++;
    if (c) {
        idle_remove(c);
        lazy_timer_clear(&c->timer);
    } else {
        c = conn_new(p, service);
        if (!c && call->attempts < 2 && upstream_addrs_count(p->addrs, service) > 1) {
            call_start(call); /* refused at once: the name's next address */
            return;
        }
        if (!c) {
            call_fail(call, 502, "connect_failed");
            return;
        }
    }
    c->call = call;
    call->conn = c;
    if (c->connected)
        call_send(call);
}

static void on_client_close(struct http_exchange *ex, void *arg)
{
    (void)ex;
    struct upstream_call *call = arg;
    call->ex = NULL;
    if (call->conn) {
        /* the upstream may still be sending: this connection cannot be reused */
        struct upstream_conn *c = call->conn;
        c->call = NULL;
        conn_destroy(c);
    }
    log_write(LOG_INFO, "Client left; upstream request cancelled",
              (struct log_field[]){log_str("route", call->svc->name)}, 1);
    count_request(call, "499");
    call_free(call);
}

void upstream_forward(struct upstream_pool *pool, struct http_exchange *ex, const struct router_service *svc,
                      const char *target, const struct upstream_identity *identity, bool strip_cors)
{
    const struct http_request *r = http_request(ex);
    struct upstream_call *call = call_new(pool);
    call->pool = pool;
    call->ex = ex;
    call->svc = svc;
    call->strip_cors = strip_cors;
    call->head_request = strcmp(r->method, "HEAD") == 0;
    call->method = r->method;
    struct proxy_head_input in = {
        .method = r->method,
        .target = target,
        .headers = r->headers,
        .nheaders = r->nheaders,
        .upstream_authority = svc->upstream_authority,
        .client_host = http_header(ex, "Host"),
        .client_addr = r->remote_addr,
        .scheme = r->tls ? "https" : "http",
        .request_id = r->request_id,
        .user_id = identity ? identity->user_id : NULL,
        .username = identity ? identity->username : NULL,
        .client_id = identity ? identity->client_id : NULL,
        .body_len = r->body_len,
        .keep_authorization = svc->index == 0, /* auth: see proxy_head.h */
    };
    if (proxy_build_request_head(&in, &call->head) != GW_OK) {
        call_free(call);
        http_respond_error(ex, 400, "invalid_request", "The request cannot be forwarded");
        return;
    }
    http_exchange_on_close(ex, on_client_close, call);
    call_start(call);
}

/* ---- response parsing ---- */

static int push_response_header(struct upstream_call *call)
{
    if (!call->field.len)
        return 0;
    if (buf_append(&call->headers, call->field.data, call->field.len + 1) ||
        buf_append(&call->headers, call->value.data ? call->value.data : "", call->value.len + 1)) {
        call->fail_status = 502;
        call->fail_reason = "response_head_too_large";
        return -1;
    }
    call->nheaders++;
    buf_reset(&call->field);
    buf_reset(&call->value);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct upstream_call *call = p->data;
    call->got_bytes = true;
    if (call->last_was_value) {
        if (push_response_header(call))
            return -1;
        call->last_was_value = false;
    }
    if (buf_append(&call->field, at, len)) {
        call->fail_status = 502;
        call->fail_reason = "response_head_too_large";
        return -1;
    }
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct upstream_call *call = p->data;
    call->last_was_value = true;
    if (buf_append(&call->value, at, len)) {
        call->fail_status = 502;
        call->fail_reason = "response_head_too_large";
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct upstream_call *call = p->data;
    call->got_bytes = true;
    buf_reset(&call->headers);
    buf_reset(&call->field);
    buf_reset(&call->value);
    call->nheaders = 0;
    call->last_was_value = false;
    return 0;
}

/* Trim optional whitespace around a header value in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* A response header as either parser hands it over: NUL-terminated, the value trimmed. */
struct response_field {
    const char *name, *value;
    size_t name_len;
};

static bool field_is(const struct response_field *f, const char *name, size_t name_len)
{
    return f->name_len == name_len && strcasecmp(f->name, name) == 0;
}

/* A final (non-1xx) response head has arrived: relay its headers to the client and choose
 * between buffering the body (known, small length: answered with http_respond) and streaming it
 * (SSE, unknown or large length). has_length/content_length: the response's Content-Length. */
static void response_head(struct upstream_call *call, const struct response_field *fields, size_t nfields,
                          bool has_length, uint64_t content_length)
{
    struct http_exchange *ex = call->ex;
    const char *content_type = NULL, *connection = NULL;
    for (size_t i = 0; i < nfields; i++) {
        if (field_is(&fields[i], "content-type", 12))
            content_type = fields[i].value;
        else if (field_is(&fields[i], "connection", 10))
            connection = fields[i].value;
    }
    call->sse = content_type && strncasecmp(content_type, "text/event-stream", 17) == 0;
    for (size_t i = 0; i < nfields; i++) {
        const struct response_field *f = &fields[i];
        if (field_is(f, "content-type", 12) || field_is(f, "x-accel-buffering", 17) ||
            !proxy_response_header_relayed(f->name, f->name_len, connection) ||
            (call->strip_cors && f->name_len >= 15 && strncasecmp(f->name, "access-control-", 15) == 0))
            continue;
        http_response_header(ex, f->name, f->value);
    }
    bool no_body = call->head_request || call->status == 204 || call->status == 304;
    if (no_body || (!call->sse && has_length && content_length <= BUFFERED_BODY_MAX)) {
        call->mode = MODE_BUFFER;
        call->body.cap = BUFFERED_BODY_MAX;
        /* keep the content type for http_respond */
        if (content_type)
            buf_append_str(&call->relay, content_type);
        return;
    }
    call->mode = MODE_STREAM;
    if (call->sse) {
        http_response_header(ex, "X-Accel-Buffering", "no");
        lazy_timer_clear(&call->conn->timer);
    }
    http_stream_start(ex, call->status, content_type);
    call->counted_stream = true;
    call->pool->active_streams++;
    metrics_add(active_streams_metric, (const char *[]){call->svc->name}, 1);
}

static int on_headers_complete(llhttp_t *p)
{
    struct upstream_call *call = p->data;
    if (push_response_header(call))
        return -1;
    call->status = p->status_code;
    if (call->status < 200)
        return 0; /* 1xx: an interim answer; the real one follows */
    struct response_field on_stack[64];
    struct response_field *fields =
        call->nheaders <= 64 ? on_stack : gw_malloc(call->nheaders * sizeof(struct response_field));
    char *h = call->headers.data;
    for (size_t i = 0; i < call->nheaders; i++) {
        char *name = h, *value = trim(h + strlen(h) + 1);
        h = value + strlen(value) + 1;
        fields[i] = (struct response_field){name, value, strlen(name)};
    }
    response_head(call, call->nheaders ? fields : NULL, call->nheaders, (p->flags & F_CONTENT_LENGTH) != 0,
                  p->content_length);
    if (fields != on_stack)
        free(fields);
    return call->head_request ? 1 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct upstream_call *call = p->data;
    struct buf *target = call->mode == MODE_BUFFER ? &call->body : &call->relay;
    if (buf_append(target, at, len)) {
        call->fail_status = 502;
        call->fail_reason = "response_too_large";
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct upstream_call *call = p->data;
    if (call->status < 200)
        return 0;
    call->complete = true;
    return HPE_PAUSED;
}

static const llhttp_settings_t response_settings = {
    .on_message_begin = on_message_begin,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- relaying ---- */

static void on_client_drain(struct http_exchange *ex, void *arg);

/* Hand what this read brought to the client; stop reading while the client lags behind. */
static void call_flush(struct upstream_call *call)
{
    if (call->mode != MODE_STREAM || !call->ex)
        return;
    if (call->relay.len) {
        http_stream_write(call->ex, call->relay.data, call->relay.len);
        buf_reset(&call->relay);
    }
    if (!call->complete && call->conn && http_stream_pending(call->ex) > CLIENT_HIGH_WATER) {
        call->paused = true;
        set_reading(call->conn, false);
        lazy_timer_clear(&call->conn->timer);
        http_stream_on_drain(call->ex, on_client_drain, call);
    }
}

/* The response is complete: answer the client and give the connection back to the pool if
 * the response allows it (keep_alive). A buffered body is body/body_len. */
static void call_finish_with(struct upstream_call *call, bool keep_alive, const char *body, size_t body_len)
{
    struct upstream_conn *c = call->conn;
    struct http_exchange *ex = call->ex;
    char status[24];
    decimal_format(status, call->status);
    count_request(call, status);
    /* an answer: reachable (a pooled connection has no connect to tell) */
    upstream_health_report(call->pool->health, call->svc->index, true, NULL);
    if (ex) {
        http_exchange_on_close(ex, NULL, NULL);
        if (call->mode == MODE_STREAM) {
            call_flush(call);
            http_stream_end(ex);
        } else {
            const char *content_type = call->relay.len ? call->relay.data : NULL;
            http_respond(ex, call->status, content_type, body, body_len);
        }
        call->ex = NULL;
    }
    if (c) {
        lazy_timer_clear(&c->timer);
        if (keep_alive)
            conn_release(c);
        else
            conn_destroy(c);
    }
    call->conn = NULL;
    call_free(call);
}

/* call_finish_with for a response llhttp parsed. */
static void call_finish(struct upstream_call *call)
{
    struct upstream_conn *c = call->conn;
    call_finish_with(call, c && llhttp_should_keep_alive(&c->parser), call->body.data, call->body.len);
}

/* The common case without llhttp: the whole answer, of the simple shape core/http_head.h
 * describes, in the first bytes read. Header names and values are NUL-terminated in place (the
 * pool's read buffer is ours until the next recv) and the body is answered from there. Returns
 * false to let llhttp parse the bytes instead: any other shape, an answer to HEAD, an SSE or large
 * body (streamed), or a response still arriving. */
static bool conn_take_simple_response(struct upstream_conn *c, char *data, size_t len)
{
    struct upstream_call *call = c->call;
    struct http_head head;
    if (call->got_bytes || call->head_request || http_head_scan_response(data, len, &head) != HTTP_HEAD_OK ||
        head.content_length > BUFFERED_BODY_MAX)
        return false;
    for (size_t i = 0; i < head.nfields; i++) {
        const struct http_head_field *f = &head.fields[i];
        if (f->name.len == 12 && strncasecmp(data + f->name.off, "content-type", 12) == 0 &&
            f->value.len >= 17 && strncasecmp(data + f->value.off, "text/event-stream", 17) == 0)
            return false; /* a stream, even with a length: llhttp's path relays it event by event */
    }
    struct response_field fields[HTTP_HEAD_MAX_FIELDS];
    for (size_t i = 0; i < head.nfields; i++) {
        const struct http_head_field *f = &head.fields[i];
        data[f->name.off + f->name.len] = '\0';   /* the colon */
        data[f->value.off + f->value.len] = '\0'; /* CR, or the first trailing space */
        fields[i] = (struct response_field){data + f->name.off, data + f->value.off, f->name.len};
    }
    call->got_bytes = true;
    call->status = head.status;
    response_head(call, fields, head.nfields, true, head.content_length);
    call->complete = true;
    size_t total = head.head_len + head.content_length;
    c->leftover = total != len;
    call_finish_with(call, head.keep_alive, data + head.head_len, head.content_length);
    return true;
}

/* Parse the bytes one recv brought. Returns true when the call is over (call, and maybe c, are
 * gone). Bytes after a complete response mark the connection as not reusable. */
static bool conn_parse(struct upstream_conn *c, char *data, size_t len)
{
    struct upstream_call *call = c->call;
    if (conn_take_simple_response(c, data, len))
        return true;
    if (len) {
        llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
        if (err == HPE_PAUSED) {
            c->leftover = llhttp_get_error_pos(&c->parser) != data + len;
        } else if (err != HPE_OK) {
            call_fail(call, call->fail_status ? call->fail_status : 502,
                      call->fail_reason ? call->fail_reason : "bad_response");
            return true;
        }
    }
    if (call->complete) {
        call_finish(call);
        return true;
    }
    call_flush(call);
    if (call->mode == MODE_STREAM && !call->paused)
        arm_timer(c, call->sse ? call->pool->settings.stream_idle_timeout_ms
                               : call->pool->settings.response_timeout_ms);
    return false;
}

static void on_client_drain(struct http_exchange *ex, void *arg)
{
    (void)ex;
    struct upstream_call *call = arg;
    if (!call->paused || !call->conn)
        return;
    call->paused = false;
    set_reading(call->conn, true);
    arm_timer(call->conn, call->sse ? call->pool->settings.stream_idle_timeout_ms
                                    : call->pool->settings.response_timeout_ms);
}

/* The upstream closed or failed. */
static void conn_lost(struct upstream_conn *c)
{
    struct upstream_call *call = c->call;
    if (!call) {
        conn_destroy(c);
        return;
    }
    if (!call->got_bytes && call->attempts < 2 &&
        (c->reused || (!c->connected && upstream_addrs_count(c->pool->addrs, c->service) > 1))) {
        /* a pooled connection the upstream had closed, or a connect to one address of a name
         * with several failed: try once more on a fresh connection (to the next address) */
        c->call = NULL;
        call->conn = NULL;
        conn_destroy(c);
        call_start(call);
        return;
    }
    if (call->got_bytes && c->connected) {
        if (llhttp_finish(&c->parser) == HPE_OK && call->complete) {
            call_finish(call); /* close-delimited body */
            return;
        }
        if (call->mode == MODE_STREAM) {
            call_fail(call, 502, "upstream_closed_mid_stream");
            return;
        }
    }
    call_fail(call, 502, call->got_bytes ? "bad_response" : "connect_failed");
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct upstream_conn *c = arg;
    struct upstream_pool *p = c->pool;
    for (;;) {
        ssize_t n = recv(fd, p->read_buffer, sizeof(p->read_buffer), 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) {
            conn_lost(c); /* EOF or reset */
            return;
        }
        if (!c->call) {
            conn_destroy(c); /* bytes on an idle connection: nothing we asked for */
            return;
        }
        if (conn_parse(c, p->read_buffer, (size_t)n))
            return;
        /* a full buffer may mean more is waiting; a paused call waits for the client */
        if ((size_t)n < sizeof(p->read_buffer) || c->call->paused)
            return;
    }
}

/* Writable: the connect finished, or the socket takes more of a queued request. */
static void conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct upstream_conn *c = arg;
    if (!c->connected) {
        int error = 0;
        socklen_t len = sizeof(error);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
            upstream_health_report(c->pool->health, c->service, false, "connect_failed");
            upstream_addrs_connect_failed(c->pool->addrs, c->service, &c->addr, c->addrlen);
            event_del(c->write_event);
            conn_lost(c);
            return;
        }
        upstream_health_report(c->pool->health, c->service, true, NULL);
        c->connected = true;
        event_del(c->write_event);
        lazy_timer_clear(&c->timer);
        set_reading(c, true);
        if (c->call)
            call_send(c->call);
        return;
    }
    if (evbuffer_write(c->pending, fd) < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        event_del(c->write_event);
        conn_lost(c);
        return;
    }
    if (evbuffer_get_length(c->pending) == 0)
        event_del(c->write_event);
}

static void conn_timer_fired(void *arg)
{
    struct upstream_conn *c = arg;
    struct upstream_call *call = c->call;
    if (!call) {
        conn_destroy(c); /* idle too long in the pool */
        return;
    }
    if (!c->connected) {
        upstream_health_report(c->pool->health, c->service, false, "connect_timeout");
        upstream_addrs_connect_failed(c->pool->addrs, c->service, &c->addr, c->addrlen);
        call_fail(call, 504, "connect_timeout");
    } else if (call->mode == MODE_NONE) {
        call_fail(call, 504, "response_timeout");
    } else {
        call_fail(call, 504, call->sse ? "stream_idle_timeout" : "body_timeout");
    }
}
