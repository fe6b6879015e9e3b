/*
 * server_internal.h - what server.c and http_conn.c share. Not for roles.
 */
#ifndef MCPGW_CORE_SERVER_INTERNAL_H
#define MCPGW_CORE_SERVER_INTERNAL_H

#include <openssl/ssl.h>
#include <sys/socket.h>

#include "server.h"

struct evconnlistener;
struct conn;

/* One listener as configured (process-wide, read-only while workers run). */
struct listener {
    struct listener_options opts;
    char *bind_addr;  /* owned copy */
    int port;         /* the bound port */
    SSL_CTX *ssl_ctx; /* NULL for plain HTTP (or when opts.tls_context supplies one per connection) */
    int fds[64];      /* one SO_REUSEPORT socket per worker, created by server_add_listener */
    int nfds;
    int claim_fd;     /* the abstract socket claiming address:port for this process (-1: none) */
};

/* A listener as one worker serves it. Owned by the worker thread. */
struct worker_listener {
    struct worker *worker;
    const struct listener *listener;
    struct evconnlistener *evl;
    struct conn *conns; /* every open connection (doubly linked) */
    size_t nconns;
    int draining;
};

/* Take over an accepted socket. Called on the worker thread. */
void http_conn_accept(struct worker_listener *wl, int fd, const struct sockaddr *sa, int socklen);
/* Start a graceful drain: idle connections close now, busy ones after their response. */
void http_conn_drain_all(struct worker_listener *wl);
/* Close every connection now (shutdown deadline passed). */
void http_conn_close_all(struct worker_listener *wl);
/* Called by http_conn.c when a worker_listener lost its last connection while draining. */
void server_worker_listener_empty(struct worker_listener *wl);
/* Record metrics and the access-log line for a finished exchange. */
void server_record_request(const char *service, const char *method, int status, double seconds);
void server_connections_changed(int delta);

#endif
