/*
 * server.h - the process runtime every long-running role uses: N worker threads, each with its
 * own libevent loop and its own SO_REUSEPORT listening socket per listener, HTTP/1.1 on each
 * accepted connection, and graceful shutdown.
 *
 *   struct server *srv = server_create(&opts);          // main thread
 *   server_add_listener(srv, &listener_opts, err...);   // binds now: a taken port fails here
 *   server_run(srv);   // starts workers, handles signals, returns after a graceful shutdown
 *   server_free(srv);
 *
 * Signals (handled by server_run on the main thread): SIGTERM/SIGINT stop accepting, let
 * in-flight requests finish (up to shutdown_timeout_ms), then return; SIGUSR1 reopens log
 * files; SIGHUP runs the reload hook (server_options.reload); SIGPIPE is ignored.
 */
#ifndef MCPGW_CORE_SERVER_H
#define MCPGW_CORE_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "http.h"

struct server;
struct event_base;

/* A worker thread. Borrowed; lives from server_run until it returns. */
struct worker {
    int index;               /* 0 .. nworkers-1 */
    struct event_base *base; /* this thread's loop */
    void *role_data;         /* set by the role's worker_init; the role frees it in worker_fini */
    struct server *server;
};

struct server_options {
    const char *service; /* log/metrics name: "auth", "router", ... (borrowed; must outlive srv) */
    int workers;         /* 0: number of online CPUs */
    int shutdown_timeout_ms;
    /* Per-worker hooks, run on the worker thread before it serves / after it stopped. */
    void (*worker_init)(struct worker *w, void *arg);
    void (*worker_fini)(struct worker *w, void *arg);
    /* Run on the worker thread when a graceful shutdown starts (close pools, streams, ...). */
    void (*worker_drain)(struct worker *w, void *arg);
    /* Run on the main thread on SIGHUP (e.g. reload TLS certificates); NULL: SIGHUP is only
     * logged. Workers keep serving meanwhile, so it must publish new state atomically. */
    void (*reload)(void *arg);
    void *hook_arg;
};

struct listener_options {
    const char *bind_addr;     /* "0.0.0.0", "127.0.0.1", "::" */
    int port;                  /* 0: let the kernel choose (tests); see server_listener_port */
    const char *tls_cert_file; /* both set: TLS 1.2+ on this listener */
    const char *tls_key_file;
    /* Instead of the pair above: called on the worker thread for every accepted connection;
     * returns an SSL_CTX with a reference the caller takes over (SSL_CTX_up_ref'd: the server
     * creates the connection's SSL from it and then drops that reference), or NULL to refuse
     * the connection. Lets a role serve SNI certificates and swap them on reload while
     * existing connections keep theirs. Must be thread-safe. */
    struct ssl_ctx_st *(*tls_context)(void *arg);
    void *tls_context_arg;
    http_handler_fn handler;
    void *handler_arg;
    size_t max_header_bytes;  /* request line + headers; over it: 431 */
    size_t max_body_bytes;    /* over it: 413 */
    int request_timeout_ms;   /* whole head+body must arrive within this: else 408 */
    int keepalive_timeout_ms; /* idle keep-alive connections closed after this */
    int write_timeout_ms;     /* client not reading for this long: connection closed */
    size_t max_connections;   /* per worker; over it new connections are closed at once */
    bool quiet_paths_health;  /* log /health and /metrics at DEBUG instead of INFO */
};

/* Defaults: 16 KiB headers, 1 MiB body, 30 s request, 75 s keep-alive, 60 s write, 10000
 * connections per worker, quiet health paths. */
void listener_options_defaults(struct listener_options *o);

/* Create a server. Never NULL. The caller frees it with server_free after server_run returns. */
struct server *server_create(const struct server_options *opts);
void server_free(struct server *srv);

/* Bind and listen now (on the main thread), so a port that is taken is reported before anything
 * starts. On failure appends one line to errors, e.g.
 *   ERROR: bind 0.0.0.0:8000: address already in use
 * and returns GW_ERR_EXISTS (port in use), GW_ERR_IO or GW_ERR_TLS. */
enum gw_err server_add_listener(struct server *srv, const struct listener_options *opts, struct buf *errors);
/* The port a listener got (after port 0). index in order of server_add_listener. */
int server_listener_port(const struct server *srv, size_t index);
int server_worker_count(const struct server *srv);

/* Start the workers and serve until SIGTERM/SIGINT (or server_stop). Returns GW_OK after a clean
 * shutdown. */
enum gw_err server_run(struct server *srv);
/* Ask a running server to shut down gracefully (thread-safe; also what SIGTERM does). */
void server_stop(struct server *srv);

/* The worker running on the calling thread, or NULL on other threads. */
struct worker *worker_current(void);

/* Monotonic clock in microseconds. */
int64_t server_now_usec(void);

#endif
