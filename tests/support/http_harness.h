/*
 * http_harness.h - drive the core HTTP connection layer in-process over a socketpair, without
 * worker threads: unit tests and the HTTP fuzz target feed raw bytes and read what the server
 * answered. Header-only so both test kinds can include it.
 */
#ifndef MCPGW_TESTS_HTTP_HARNESS_H
#define MCPGW_TESTS_HTTP_HARNESS_H

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "core/buf.h"
#include "core/health.h"
#include "core/http.h"
#include "core/server_internal.h"

/* The handler used by the harness: /health and /metrics, otherwise echo the body length. */
static void harness_handler(struct http_exchange *ex, void *arg)
{
    (void)arg;
    if (health_route(ex))
        return;
    const struct http_request *r = http_request(ex);
    char body[128];
    int n = snprintf(body, sizeof(body), "{\"body_length\":%zu,\"headers\":%zu}", r->body_len, r->nheaders);
    http_respond(ex, 200, "application/json", body, (size_t)n);
}

struct http_harness {
    struct event_base *base;
    struct listener listener;
    struct worker_state_stub {
        struct worker pub;
    } worker;
    struct worker_listener wl;
};

static void http_harness_init(struct http_harness *h, size_t max_header, size_t max_body)
{
    memset(h, 0, sizeof(*h));
    h->base = event_base_new();
    listener_options_defaults(&h->listener.opts);
    h->listener.opts.max_header_bytes = max_header;
    h->listener.opts.max_body_bytes = max_body;
    h->listener.opts.handler = harness_handler;
    h->listener.opts.request_timeout_ms = 5000;
    h->worker.pub.base = h->base;
    h->wl.worker = &h->worker.pub;
    h->wl.listener = &h->listener;
}

/* Send input (then end the stream), run the loop until the server closed the connection, and
 * return everything it wrote. Caller frees the buf. */
static struct buf http_harness_exchange(struct http_harness *h, const void *input, size_t len)
{
    struct buf out;
    buf_init(&out, 64 * 1024 * 1024);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    int big = 4 * 1024 * 1024;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct sockaddr_storage ss = {0};
    ss.ss_family = AF_UNIX;
    evutil_make_socket_nonblocking(sv[0]);
    http_conn_accept(&h->wl, sv[0], (struct sockaddr *)&ss, sizeof(ss));
    size_t off = 0;
    char tmp[65536];
    int shut = 0;
    for (int rounds = 0; rounds < 100000 && h->wl.nconns > 0; rounds++) {
        if (off < len) {
            ssize_t w = write(sv[1], (const char *)input + off, len - off);
            if (w > 0)
                off += (size_t)w;
        } else if (!shut) {
            shutdown(sv[1], SHUT_WR);
            shut = 1;
        }
        event_base_loop(h->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        ssize_t r;
        while ((r = read(sv[1], tmp, sizeof(tmp))) > 0)
            buf_append(&out, tmp, (size_t)r);
    }
    http_conn_close_all(&h->wl);
    ssize_t r;
    while ((r = read(sv[1], tmp, sizeof(tmp))) > 0)
        buf_append(&out, tmp, (size_t)r);
    close(sv[1]);
    return out;
}

static void http_harness_free(struct http_harness *h)
{
    http_conn_close_all(&h->wl);
    event_base_free(h->base);
}

#endif
