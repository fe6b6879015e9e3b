/*
 * upstream.h - the router's HTTP/1.1 client to its upstreams: a keep-alive connection pool per
 * service and worker, on bufferevents + llhttp, relaying requests and streamed responses.
 *
 * upstream_forward() sends the exchange's request to a service and answers the exchange with
 * what comes back: small responses with a Content-Length as one buffer, everything else
 * (text/event-stream, chunked, large) streamed as it arrives, with backpressure (the upstream
 * is not read while the client's output queue is above a high watermark). A client that goes
 * away cancels the upstream request and closes that upstream connection.
 * Errors before the response head: connection refused/reset -> 502, connect or response-head
 * timeout -> 504, both with JSON bodies and a log line naming the service.
 *
 * One struct upstream_pool per worker thread (not thread-safe), created in worker_init.
 */
#ifndef MCPGW_ROUTER_UPSTREAM_H
#define MCPGW_ROUTER_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/http.h"
#include "routes.h"

struct event_base;
struct upstream_health;
struct upstream_pool;

struct upstream_settings {
    int connect_timeout_ms;     /* TCP connect (504 after it) */
    int response_timeout_ms;    /* from request sent to response head; idle time inside a body */
    int stream_idle_timeout_ms; /* idle time inside a text/event-stream response */
    int idle_keepalive_ms;      /* pooled connection closed after this long unused */
    int max_idle_per_service;   /* pooled connections kept per service */
};

/* What the upstream is told about the caller; every string borrowed for the call (copied). */
struct upstream_identity {
    const char *user_id;
    const char *username;
    const char *client_id;
};

/* Register the router's upstream metrics. Call once at start-up, before workers run. */
void upstream_metrics_register(void);

/* Create the pool for this worker's loop. table is borrowed and must outlive the pool.
 * Connections go to the addresses in addrs (borrowed, shared by the workers: upstream_addr.h),
 * and a failed connect tells it. Connects that open or fail, and responses, are reported to
 * health (borrowed, shared by the workers; NULL: none). Never NULL. */
struct upstream_addrs;
struct upstream_pool *upstream_pool_create(struct event_base *base, const struct route_table *table,
                                           const struct upstream_settings *settings,
                                           struct upstream_addrs *addrs, struct upstream_health *health);
/* Close every pooled connection and cancel calls in flight (their clients get nothing more). */
void upstream_pool_free(struct upstream_pool *pool);

/* Forward the exchange's request to svc with request-target `target` ("/mcp?x=1"), and answer
 * the exchange with the upstream's response. identity may be NULL (no X-User-* sent).
 * strip_cors: drop the upstream's Access-Control-* headers (the router answers CORS itself). */
void upstream_forward(struct upstream_pool *pool, struct http_exchange *ex, const struct router_service *svc,
                      const char *target, const struct upstream_identity *identity, bool strip_cors);

/* Graceful shutdown: close idle pooled connections and end every streamed response (the
 * client sees a complete stream and may reconnect elsewhere, e.g. with Last-Event-ID). Calls
 * still waiting for a response head are left to finish. */
void upstream_pool_drain(struct upstream_pool *pool);

/* The services of the pool's table, and the current address of one (router_service.index),
 * copied: false while its host name does not resolve. */
size_t upstream_pool_services(const struct upstream_pool *pool);
bool upstream_pool_address(const struct upstream_pool *pool, size_t service, struct sockaddr_storage *addr,
                           socklen_t *addrlen);
/* A connect to service at addr (from upstream_pool_address) failed, the prober's too: a name
 * with several addresses moves on to the next, and is resolved again soon. */
void upstream_pool_connect_failed(const struct upstream_pool *pool, size_t service,
                                  const struct sockaddr_storage *addr, socklen_t addrlen);

/* Calls in flight whose response is being streamed (for metrics and shutdown). */
int upstream_active_streams(const struct upstream_pool *pool);

#endif
