/*
 * coreserver.c - a test fixture: the core runtime (role_main, server, HTTP layer, health,
 * metrics) with a few routes that exercise what roles need, served over real sockets.
 *
 *   /health, /metrics      as every role mounts them
 *   /echo                  JSON description of the request (method, path, query, headers, body)
 *   /sse?n=N&ms=M          N Server-Sent Events, one every M ms (default 3 events, 100 ms)
 *   /slow?ms=M             answers after M ms (graceful shutdown tests)
 *   /big?bytes=N           an N-byte body
 *   /async-error           a 502 JSON error after one loop iteration
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/health.h"
#include "core/http.h"
#include "core/role.h"

struct pending {
    struct http_exchange *ex;
    struct event *timer;
    int remaining;
    int interval_ms;
    int sequence;
};

static long query_long(const struct http_request *r, const char *name, long fallback)
{
    const char *q = r->query;
    size_t n = strlen(name);
    while (q && *q) {
        if (strncmp(q, name, n) == 0 && q[n] == '=')
            return strtol(q + n + 1, NULL, 10);
        q = strchr(q, '&');
        if (q)
            q++;
    }
    return fallback;
}

static void pending_free(struct pending *p)
{
    event_free(p->timer);
    free(p);
}

static void on_client_gone(struct http_exchange *ex, void *arg)
{
    (void)ex;
    pending_free(arg);
}

static void arm(struct pending *p, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(p->timer, &tv);
}

static void sse_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    char event[128];
    int n = snprintf(event, sizeof(event), "id: %d\nevent: message\ndata: {\"n\":%d}\n\n", p->sequence,
                     p->sequence);
    p->sequence++;
    http_stream_write(p->ex, event, (size_t)n);
    if (--p->remaining > 0) {
        arm(p, p->interval_ms);
        return;
    }
    http_stream_end(p->ex);
    pending_free(p);
}

static void slow_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    http_respond_json(p->ex, 200, "{\"slow\":true}");
    pending_free(p);
}

static void async_error(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    http_respond_error(p->ex, 502, "bad_gateway", "upstream test-upstream is not answering");
    pending_free(p);
}

static struct pending *pending_new(struct http_exchange *ex, event_callback_fn fn)
{
    struct pending *p = gw_calloc(1, sizeof(*p));
    p->ex = ex;
    p->timer = evtimer_new(http_exchange_base(ex), fn, p);
    http_exchange_on_close(ex, on_client_gone, p);
    return p;
}

static void echo_request(struct http_exchange *ex)
{
    const struct http_request *r = http_request(ex);
    struct buf b;
    buf_init(&b, 4 * 1024 * 1024);
    buf_append_str(&b, "{\"method\":\"");
    buf_append_json_escaped(&b, r->method, strlen(r->method));
    buf_append_str(&b, "\",\"path\":\"");
    buf_append_json_escaped(&b, r->path, strlen(r->path));
    buf_append_str(&b, "\",\"query\":\"");
    buf_append_json_escaped(&b, r->query, strlen(r->query));
    buf_printf(&b, "\",\"request_id\":\"%s\",\"body_length\":%zu,\"tls\":%s,\"headers\":{", r->request_id,
               r->body_len, r->tls ? "true" : "false");
    for (size_t i = 0; i < r->nheaders; i++) {
        buf_append_str(&b, i ? ",\"" : "\"");
        buf_append_json_escaped(&b, r->headers[i].name, strlen(r->headers[i].name));
        buf_append_str(&b, "\":\"");
        buf_append_json_escaped(&b, r->headers[i].value, strlen(r->headers[i].value));
        buf_append_str(&b, "\"");
    }
    buf_append_str(&b, "},\"body\":\"");
    buf_append_json_escaped(&b, r->body, r->body_len);
    buf_append_str(&b, "\"}");
    http_respond(ex, 200, "application/json", b.data, b.len);
    buf_free(&b);
}

static void handle(struct http_exchange *ex, void *arg)
{
    (void)arg;
    const struct http_request *r = http_request(ex);
    if (health_route(ex))
        return;
    if (strcmp(r->path, "/echo") == 0) {
        echo_request(ex);
    } else if (strcmp(r->path, "/sse") == 0) {
        struct pending *p = pending_new(ex, sse_tick);
        p->remaining = (int)query_long(r, "n", 3);
        p->interval_ms = (int)query_long(r, "ms", 100);
        http_response_header(ex, "Cache-Control", "no-cache");
        http_response_header(ex, "X-Accel-Buffering", "no");
        http_stream_start(ex, 200, "text/event-stream");
        arm(p, 0);
    } else if (strcmp(r->path, "/slow") == 0) {
        struct pending *p = pending_new(ex, slow_done);
        arm(p, (int)query_long(r, "ms", 1000));
    } else if (strcmp(r->path, "/big") == 0) {
        long n = query_long(r, "bytes", 1024);
        if (n < 0 || n > 64 * 1024 * 1024)
            n = 0;
        char *body = gw_malloc((size_t)n);
        memset(body, 'x', (size_t)n);
        http_respond(ex, 200, "application/octet-stream", body, (size_t)n);
        free(body);
    } else if (strcmp(r->path, "/async-error") == 0) {
        arm(pending_new(ex, async_error), 0);
    } else {
        http_respond_error(ex, 404, "not_found", "No such route");
    }
}

int main(int argc, char **argv)
{
    static const struct role coretest = {
        .service = "coretest",
        .command = "coretest",
        .summary = "core runtime test fixture",
        .port_variable = "CORETEST_PORT",
        .default_port = 18080,
        .handler = handle,
    };
    return role_main(&coretest, argc, argv);
}
