#include "upstream.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <llhttp.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/metrics.h"
#include "proxy_head.h"

#define BUFFERED_BODY_MAX (1024 * 1024) /* larger (or unknown-length) bodies are streamed */
#define RESPONSE_HEAD_MAX (64 * 1024)
#define CLIENT_HIGH_WATER (256 * 1024) /* stop reading the upstream above this client backlog */

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
};

struct upstream_conn {
    struct upstream_pool *pool;
    size_t service;
    struct bufferevent *bev;
    struct event *timer;
    llhttp_t parser;
    struct upstream_call *call; /* NULL while idle in the pool */
    bool connected, reused, idle;
    struct upstream_conn *prev, *next;           /* every connection of the pool */
    struct upstream_conn *idle_prev, *idle_next; /* the service's idle list */
};

struct upstream_pool {
    struct event_base *base;
    const struct route_table *table;
    struct upstream_settings settings;
    struct sockaddr_storage *addrs;
    socklen_t *addrlens;
    struct upstream_conn **idle; /* per service, most recently used first */
    int *nidle;
    struct upstream_conn *all;
    int active_streams;
};

static const llhttp_settings_t response_settings;

/* ---- pool ---- */

struct upstream_pool *upstream_pool_create(struct event_base *base, const struct route_table *table,
                                           const struct upstream_settings *settings)
{
    struct upstream_pool *p = gw_calloc(1, sizeof(*p));
    p->base = base;
    p->table = table;
    p->settings = *settings;
    p->addrs = gw_calloc(table->nservices, sizeof(*p->addrs));
    p->addrlens = gw_calloc(table->nservices, sizeof(*p->addrlens));
    p->idle = gw_calloc(table->nservices, sizeof(*p->idle));
    p->nidle = gw_calloc(table->nservices, sizeof(*p->nidle));
    for (size_t i = 0; i < table->nservices; i++) {
        const struct router_service *s = &table->services[i];
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
        char port[16];
        snprintf(port, sizeof(port), "%d", s->upstream_port);
        if (getaddrinfo(s->upstream_host, port, &hints, &res) == 0 && res) {
            memcpy(&p->addrs[i], res->ai_addr, res->ai_addrlen);
            p->addrlens[i] = res->ai_addrlen;
        } else {
            log_write(LOG_WARNING, "Cannot resolve upstream",
                      (struct log_field[]){log_str("service", s->name), log_str("host", s->upstream_host)},
                      2);
        }
        if (res)
            freeaddrinfo(res);
    }
    return p;
}

static void call_free(struct upstream_call *call);
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
    free(p->addrs);
    free(p->addrlens);
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
    event_free(c->timer);
    bufferevent_free(c->bev);
    free(c);
}

static void arm_timer(struct upstream_conn *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->timer, &tv);
}

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);
static void conn_timer_cb(evutil_socket_t fd, short what, void *arg);

static struct upstream_conn *conn_new(struct upstream_pool *p, size_t service)
{
    if (p->addrlens[service] == 0)
        return NULL;
    struct upstream_conn *c = gw_calloc(1, sizeof(*c));
    c->pool = p;
    c->service = service;
    c->bev = bufferevent_socket_new(p->base, -1, BEV_OPT_CLOSE_ON_FREE);
    c->timer = evtimer_new(p->base, conn_timer_cb, c);
    if (!c->bev || !c->timer) {
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->timer)
            event_free(c->timer);
        free(c);
        return NULL;
    }
    c->next = p->all;
    if (p->all)
        p->all->prev = c;
    p->all = c;
    bufferevent_setcb(c->bev, conn_read_cb, NULL, conn_event_cb, c);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&p->addrs[service],
                                   (int)p->addrlens[service]) != 0) {
        conn_destroy(c);
        return NULL;
    }
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    arm_timer(c, p->settings.connect_timeout_ms);
    return c;
}

/* Put a connection whose last response is complete back into its service's idle list. */
static void conn_release(struct upstream_conn *c)
{
    struct upstream_pool *p = c->pool;
    c->call = NULL;
    if (p->nidle[c->service] >= p->settings.max_idle_per_service ||
        evbuffer_get_length(bufferevent_get_input(c->bev)) > 0) {
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
    bufferevent_enable(c->bev, EV_READ); /* notice the upstream closing it */
    arm_timer(c, p->settings.idle_keepalive_ms);
}

/* ---- a call ---- */

static void call_free(struct upstream_call *call)
{
    if (call->counted_stream) {
        call->pool->active_streams--;
        metrics_add(active_streams_metric, (const char *[]){call->svc->name}, -1);
    }
    buf_free(&call->head);
    buf_free(&call->field);
    buf_free(&call->value);
    buf_free(&call->headers);
    buf_free(&call->body);
    buf_free(&call->relay);
    free(call);
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
              (struct log_field[]){log_str("service", call->svc->name), log_str("error", reason),
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

static void call_send(struct upstream_call *call)
{
    struct upstream_conn *c = call->conn;
    const struct http_request *r = http_request(call->ex);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add(out, call->head.data, call->head.len);
    if (r->body_len)
        evbuffer_add(out, r->body, r->body_len);
    llhttp_init(&c->parser, HTTP_RESPONSE, &response_settings);
    c->parser.data = call;
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    arm_timer(c, call->pool->settings.response_timeout_ms);
}

static void call_start(struct upstream_call *call)
{
    struct upstream_pool *p = call->pool;
    size_t service = call->svc->index;
    struct upstream_conn *c = p->idle[service];
    call->attempts++;
    if (c) {
        idle_remove(c);
        evtimer_del(c->timer);
    } else {
        c = conn_new(p, service);
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
              (struct log_field[]){log_str("service", call->svc->name)}, 1);
    count_request(call, "499");
    call_free(call);
}

void upstream_forward(struct upstream_pool *pool, struct http_exchange *ex, const struct router_service *svc,
                      const char *target, const struct upstream_identity *identity, bool strip_cors)
{
    const struct http_request *r = http_request(ex);
    struct upstream_call *call = gw_calloc(1, sizeof(*call));
    call->pool = pool;
    call->ex = ex;
    call->svc = svc;
    call->strip_cors = strip_cors;
    call->head_request = strcmp(r->method, "HEAD") == 0;
    call->method = r->method;
    buf_init(&call->head, 128 * 1024);
    buf_init(&call->field, RESPONSE_HEAD_MAX);
    buf_init(&call->value, RESPONSE_HEAD_MAX);
    buf_init(&call->headers, RESPONSE_HEAD_MAX);
    buf_init(&call->body, BUFFERED_BODY_MAX);
    buf_init(&call->relay, SIZE_MAX);
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

static int on_headers_complete(llhttp_t *p)
{
    struct upstream_call *call = p->data;
    if (push_response_header(call))
        return -1;
    call->status = p->status_code;
    if (call->status < 200)
        return 0; /* 1xx: an interim answer; the real one follows */
    struct http_exchange *ex = call->ex;
    const char *content_type = NULL, *connection = NULL;
    char *h = call->headers.data;
    for (size_t i = 0; i < call->nheaders; i++) {
        char *name = h, *value = trim(h + strlen(h) + 1);
        h = value + strlen(value) + 1;
        if (strcasecmp(name, "content-type") == 0)
            content_type = value;
        else if (strcasecmp(name, "connection") == 0)
            connection = value;
    }
    call->sse = content_type && strncasecmp(content_type, "text/event-stream", 17) == 0;
    h = call->headers.data;
    for (size_t i = 0; i < call->nheaders; i++) {
        char *name = h, *value = h + strlen(h) + 1;
        value = trim(value);
        h = value + strlen(value) + 1;
        size_t nlen = strlen(name);
        if (strcasecmp(name, "content-type") == 0 || strcasecmp(name, "x-accel-buffering") == 0 ||
            !proxy_response_header_relayed(name, nlen, connection) ||
            (call->strip_cors && strncasecmp(name, "access-control-", 15) == 0))
            continue;
        http_response_header(ex, name, value);
    }
    bool no_body = call->head_request || call->status == 204 || call->status == 304;
    if (no_body || (!call->sse && (p->flags & F_CONTENT_LENGTH) && p->content_length <= BUFFERED_BODY_MAX)) {
        call->mode = MODE_BUFFER;
        call->body.cap = BUFFERED_BODY_MAX;
        /* keep the content type for http_respond */
        if (content_type)
            buf_printf(&call->relay, "%s", content_type);
        return call->head_request ? 1 : 0;
    }
    call->mode = MODE_STREAM;
    if (call->sse) {
        http_response_header(ex, "X-Accel-Buffering", "no");
        evtimer_del(call->conn->timer);
    }
    http_stream_start(ex, call->status, content_type);
    call->counted_stream = true;
    call->pool->active_streams++;
    metrics_add(active_streams_metric, (const char *[]){call->svc->name}, 1);
    return 0;
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
        bufferevent_disable(call->conn->bev, EV_READ);
        evtimer_del(call->conn->timer);
        http_stream_on_drain(call->ex, on_client_drain, call);
    }
}

/* The response is complete: answer the client and give the connection back to the pool. */
static void call_finish(struct upstream_call *call)
{
    struct upstream_conn *c = call->conn;
    struct http_exchange *ex = call->ex;
    char status[8];
    snprintf(status, sizeof(status), "%d", call->status);
    count_request(call, status);
    if (ex) {
        http_exchange_on_close(ex, NULL, NULL);
        if (call->mode == MODE_STREAM) {
            call_flush(call);
            http_stream_end(ex);
        } else {
            const char *content_type = call->relay.len ? call->relay.data : NULL;
            http_respond(ex, call->status, content_type, call->body.data, call->body.len);
        }
        call->ex = NULL;
    }
    if (c) {
        evtimer_del(c->timer);
        if (llhttp_should_keep_alive(&c->parser))
            conn_release(c);
        else
            conn_destroy(c);
    }
    call->conn = NULL;
    call_free(call);
}

/* Parse what arrived. Returns true when the call is over (call, and maybe c, are gone). */
static bool conn_parse(struct upstream_conn *c)
{
    struct upstream_call *call = c->call;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!call->complete && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec vec;
        if (evbuffer_peek(in, -1, NULL, &vec, 1) < 1)
            break;
        llhttp_errno_t err = llhttp_execute(&c->parser, vec.iov_base, vec.iov_len);
        if (err == HPE_OK) {
            evbuffer_drain(in, vec.iov_len);
        } else if (err == HPE_PAUSED) {
            evbuffer_drain(in, (size_t)(llhttp_get_error_pos(&c->parser) - (const char *)vec.iov_base));
        } else {
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
    bufferevent_enable(call->conn->bev, EV_READ);
    (void)conn_parse(call->conn);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct upstream_conn *c = arg;
    if (!c->call) {
        conn_destroy(c); /* bytes on an idle connection: nothing we asked for */
        return;
    }
    if (c->call->paused)
        return;
    (void)conn_parse(c);
}

/* The upstream closed or failed. */
static void conn_lost(struct upstream_conn *c)
{
    struct upstream_call *call = c->call;
    if (!call) {
        conn_destroy(c);
        return;
    }
    if (!call->got_bytes && c->reused && call->attempts < 2) {
        /* a pooled connection the upstream had closed: try once on a fresh one */
        c->call = NULL;
        call->conn = NULL;
        conn_destroy(c);
        call_start(call);
        return;
    }
    if (call->got_bytes && c->connected) {
        if (conn_parse(c)) /* take what is left in the input first */
            return;
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

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct upstream_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->connected = true;
        evtimer_del(c->timer);
        if (c->call)
            call_send(c->call);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        conn_lost(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct upstream_conn *c = arg;
    struct upstream_call *call = c->call;
    if (!call) {
        conn_destroy(c); /* idle too long in the pool */
        return;
    }
    if (!c->connected)
        call_fail(call, 504, "connect_timeout");
    else if (call->mode == MODE_NONE)
        call_fail(call, 504, "response_timeout");
    else
        call_fail(call, 504, call->sse ? "stream_idle_timeout" : "body_timeout");
}
