/*
 * server.c - worker threads, listening sockets, TLS contexts, signals and graceful shutdown.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"
#include "metrics.h"
#include "server_internal.h"

#define MAX_LISTENERS 8
#define MAX_WORKERS 64

struct worker_state {
    struct worker pub;
    pthread_t thread;
    struct worker_listener wls[MAX_LISTENERS];
    size_t nwls;
    size_t nempty;
    struct event *deadline;
    int started;
};

struct server {
    struct server_options opts;
    int nworkers;
    struct listener listeners[MAX_LISTENERS];
    size_t nlisteners;
    struct worker_state workers[MAX_WORKERS];
    struct event_base *main_base;
    struct event *stop_event;
    int stopping;
};

static _Thread_local struct worker *current_worker;

static struct metric_family *m_requests, *m_duration, *m_connections, *m_restarts;
static const char *metrics_service = "mcpgw";
/* Bumped whenever metrics_service is set, so the per-thread series handles below (which carry
 * the service label) are resolved again. Starts at 1: a zeroed cache entry is empty. */
static _Atomic unsigned metrics_generation = 1;

static void register_once(void);
static void enable_evthreads(void);

struct worker *worker_current(void)
{
    return current_worker;
}

void listener_options_defaults(struct listener_options *o)
{
    memset(o, 0, sizeof(*o));
    o->bind_addr = "0.0.0.0";
    o->max_header_bytes = 16 * 1024;
    o->max_body_bytes = 1024 * 1024;
    o->request_timeout_ms = 30000;
    o->keepalive_timeout_ms = 75000;
    o->write_timeout_ms = 60000;
    o->max_connections = 10000;
    o->quiet_paths_health = true;
}

/* ---- metrics -------------------------------------------------------------------------------- */

static void register_metrics(const char *service)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    metrics_service = service;
    atomic_fetch_add_explicit(&metrics_generation, 1, memory_order_relaxed);
    pthread_once(&once, register_once);
}

static void register_once(void)
{
    static const char *const req_labels[] = {"service", "method", "status"};
    static const char *const dur_labels[] = {"service", "method"};
    static const char *const svc_labels[] = {"service"};
    m_requests = metrics_register(METRIC_COUNTER, "http_requests_total", "HTTP requests answered, by status.",
                                  req_labels, 3, NULL, 0);
    m_duration = metrics_register(METRIC_SUMMARY, "http_request_duration_seconds",
                                  "Time from the first byte of a request to the end of its response.",
                                  dur_labels, 2, NULL, 0);
    m_connections = metrics_register(METRIC_GAUGE, "http_connections_active", "Open client connections.",
                                     svc_labels, 1, NULL, 0);
    /* The supervisor knows how often it restarted a service and hands the count to the new
     * process (MCPGW_RESTARTS, see supervisor_loop.c), which carries it on: the counter keeps
     * growing across restarts, so increase() over a window counts the restarts in it. */
    m_restarts = metrics_register(METRIC_COUNTER, "service_restarts_total",
                                  "Automatic restarts of this service by the supervisor since mcpgw up",
                                  svc_labels, 1, NULL, 0);
    const char *inherited = getenv("MCPGW_RESTARTS");
    char *end = NULL;
    long restarts = inherited ? strtol(inherited, &end, 10) : 0;
    if (!inherited || end == inherited || *end || restarts < 0)
        restarts = 0;
    if (m_restarts)
        metrics_add(m_restarts, (const char *[]){metrics_service}, (double)restarts);
}

/* The method label: one of these (the last for any other method). */
static const char *const method_labels[] = {"GET",    "HEAD",    "POST",  "PUT",
                                            "DELETE", "OPTIONS", "PATCH", "OTHER"};
#define NMETHOD_LABELS (sizeof(method_labels) / sizeof(method_labels[0]))

static unsigned method_index(const char *method)
{
    for (unsigned i = 0; method && i + 1 < NMETHOD_LABELS; i++)
        if (method[0] == method_labels[i][0] && strcmp(method, method_labels[i]) == 0)
            return i;
    return NMETHOD_LABELS - 1;
}

/* Series handles per worker thread, so that recording a request neither formats its status
 * nor looks label values up: the duration series by method, the requests series in a small
 * direct-mapped cache by method and status (a miss resolves it by values). An entry is valid
 * for the generation it was resolved in (see metrics_generation). Thread-local: no locking;
 * the series themselves belong to the registry and live as long as the process. */
#define REQUEST_CACHE 32
struct request_series {
    unsigned generation, method;
    int status;
    struct metric_series *requests;
};
static _Thread_local struct request_series request_cache[REQUEST_CACHE];
static _Thread_local struct {
    unsigned generation;
    struct metric_series *duration;
} duration_cache[NMETHOD_LABELS];
static _Thread_local struct {
    unsigned generation;
    struct metric_series *connections;
} connections_cache;

void server_record_request(const char *service, const char *method, int status, double seconds)
{
    (void)service;
    unsigned m = method_index(method);
    unsigned generation = atomic_load_explicit(&metrics_generation, memory_order_relaxed);
    struct request_series *r = &request_cache[((unsigned)status * NMETHOD_LABELS + m) % REQUEST_CACHE];
    if (r->generation != generation || r->method != m || r->status != status) {
        char status_text[24];
        decimal_format(status_text, status);
        r->requests =
            metrics_series(m_requests, (const char *[]){metrics_service, method_labels[m], status_text});
        r->generation = generation;
        r->method = m;
        r->status = status;
    }
    metrics_series_add(r->requests, 1);
    if (duration_cache[m].generation != generation) {
        duration_cache[m].duration =
            metrics_series(m_duration, (const char *[]){metrics_service, method_labels[m]});
        duration_cache[m].generation = generation;
    }
    metrics_series_observe(duration_cache[m].duration, seconds);
}

void server_connections_changed(int delta)
{
    unsigned generation = atomic_load_explicit(&metrics_generation, memory_order_relaxed);
    if (connections_cache.generation != generation) {
        connections_cache.connections = metrics_series(m_connections, (const char *[]){metrics_service});
        connections_cache.generation = generation;
    }
    metrics_series_add(connections_cache.connections, delta);
}

/* ---- set-up --------------------------------------------------------------------------------- */

struct server *server_create(const struct server_options *opts)
{
    static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
    pthread_once(&evthread_once, enable_evthreads);

    struct server *srv = gw_calloc(1, sizeof(*srv));
    srv->opts = *opts;
    int n = opts->workers;
    if (n <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (int)cpus : 1;
    }
    if (n > MAX_WORKERS)
        n = MAX_WORKERS;
    srv->nworkers = n;
    if (srv->opts.shutdown_timeout_ms <= 0)
        srv->opts.shutdown_timeout_ms = 10000;
    register_metrics(opts->service ? opts->service : "mcpgw");
    return srv;
}

static void enable_evthreads(void)
{
    /* event_active/event_base_once from another thread (server_stop, drains) need locking. */
    evthread_use_pthreads();
}

/* Close what a listener holds (sockets, claim, TLS context, address). */
static void listener_release(struct listener *l)
{
    for (int k = 0; k < l->nfds; k++)
        if (l->fds[k] >= 0)
            close(l->fds[k]);
    l->nfds = 0;
    if (l->claim_fd >= 0)
        close(l->claim_fd);
    l->claim_fd = -1;
    if (l->ssl_ctx)
        SSL_CTX_free(l->ssl_ctx);
    l->ssl_ctx = NULL;
    free(l->bind_addr);
    l->bind_addr = NULL;
}

void server_free(struct server *srv)
{
    if (!srv)
        return;
    for (size_t i = 0; i < srv->nlisteners; i++)
        listener_release(&srv->listeners[i]);
    free(srv);
}

/*
 * Claim address:port for this process with an abstract Unix socket named
 * "mcpgw-listen <address>:<port>": abstract names are unique per network namespace (like ports)
 * and vanish with the process. The plain bind probe keeps every other program off a taken
 * port, but between one mcpgw's probe and its SO_REUSEPORT binds a second mcpgw's probe could
 * pass too, and both would then share the port. The claim closes that gap: it is taken while
 * the probe still holds the port and kept for the listener's life. Returns the fd, or -1 with
 * errno (EADDRINUSE: another mcpgw has it).
 */
static int claim_address(const char *addr, int port)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    /* sun_path[0] = '\0' makes the name abstract; the length below excludes any NUL padding */
    int n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "mcpgw-listen %s:%d", addr, port);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int lower_first(char *s)
{
    if (s[0] >= 'A' && s[0] <= 'Z')
        s[0] = (char)(s[0] - 'A' + 'a');
    return 0;
}

static void append_errno_line(struct buf *errors, const char *what, const char *addr, int port, int err)
{
    char reason[128];
    snprintf(reason, sizeof(reason), "%s", strerror(err));
    lower_first(reason);
    /* The guide's words exactly, "ERROR: bind: address already in use", so that grepping for them
     * finds it; the address follows in parentheses, as in `mcpgw up`'s port check. */
    int v6 = strchr(addr, ':') != NULL;
    buf_printf(errors, "ERROR: %s: %s (%s%s%s:%d)\n", what, reason, v6 ? "[" : "", addr, v6 ? "]" : "", port);
}

static int make_socket(const struct addrinfo *ai, int reuseport, int *out_errno)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *out_errno = errno;
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        *out_errno = errno;
        close(fd);
        return -1;
    }
    return fd;
}

static SSL_CTX *make_tls_context(const char *cert, const char *key, struct buf *errors)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        buf_printf(errors, "ERROR: TLS: cannot create a context\n");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        buf_printf(errors, "ERROR: TLS: cannot load certificate %s: %s\n", cert,
                   ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        buf_printf(errors,
                   "ERROR: TLS: cannot load private key %s (or it does not match the certificate): %s\n", key,
                   ERR_reason_error_string(ERR_get_error()));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

enum gw_err server_add_listener(struct server *srv, const struct listener_options *opts, struct buf *errors)
{
    if (srv->nlisteners == MAX_LISTENERS) {
        buf_printf(errors, "ERROR: too many listeners\n");
        return GW_ERR_INVALID;
    }
    struct listener *l = &srv->listeners[srv->nlisteners];
    memset(l, 0, sizeof(*l));
    l->claim_fd = -1;
    l->opts = *opts;
    l->bind_addr = gw_strdup(opts->bind_addr ? opts->bind_addr : "0.0.0.0");
    l->opts.bind_addr = l->bind_addr;

    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", opts->port);
    if (getaddrinfo(l->bind_addr, portstr, &hints, &ai) != 0 || !ai) {
        buf_printf(errors, "ERROR: bind %s:%d: not a numeric IP address\n", l->bind_addr, opts->port);
        free(l->bind_addr);
        return GW_ERR_CONFIG;
    }
    int err = 0;
    /* SO_REUSEPORT would let a second mcpgw silently share a taken port. A plain bind first
     * proves the port is free; only then do the workers' SO_REUSEPORT sockets join it. */
    int probe = make_socket(ai, 0, &err);
    if (probe < 0) {
        append_errno_line(errors, "bind", l->bind_addr, opts->port, err);
        freeaddrinfo(ai);
        free(l->bind_addr);
        return err == EADDRINUSE ? GW_ERR_EXISTS : GW_ERR_IO;
    }
    int port = opts->port;
    if (port == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(probe, (struct sockaddr *)&ss, &sl);
        port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
        if (ai->ai_family == AF_INET)
            ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons((uint16_t)port);
    }
    l->claim_fd = claim_address(l->bind_addr, port);
    if (l->claim_fd < 0) {
        err = errno;
        close(probe);
        append_errno_line(errors, "bind", l->bind_addr, port, err);
        freeaddrinfo(ai);
        listener_release(l);
        return err == EADDRINUSE ? GW_ERR_EXISTS : GW_ERR_IO;
    }
    close(probe);
    l->port = port;
    for (int i = 0; i < srv->nworkers; i++) {
        int fd = make_socket(ai, 1, &err);
        if (fd < 0 || listen(fd, 1024) < 0) {
            if (fd >= 0) {
                err = errno;
                close(fd);
            }
            append_errno_line(errors, fd < 0 ? "bind" : "listen", l->bind_addr, port, err);
            freeaddrinfo(ai);
            listener_release(l);
            return err == EADDRINUSE ? GW_ERR_EXISTS : GW_ERR_IO;
        }
        l->fds[l->nfds++] = fd;
    }
    freeaddrinfo(ai);
    if (opts->tls_cert_file && opts->tls_key_file && *opts->tls_cert_file && *opts->tls_key_file) {
        l->ssl_ctx = make_tls_context(opts->tls_cert_file, opts->tls_key_file, errors);
        if (!l->ssl_ctx) {
            listener_release(l);
            return GW_ERR_TLS;
        }
    }
    srv->nlisteners++;
    return GW_OK;
}

int server_listener_port(const struct server *srv, size_t index)
{
    return index < srv->nlisteners ? srv->listeners[index].port : -1;
}

int server_worker_count(const struct server *srv)
{
    return srv->nworkers;
}

/* ---- workers -------------------------------------------------------------------------------- */

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *sa, int socklen,
                      void *arg)
{
    (void)evl;
    http_conn_accept(arg, fd, sa, socklen);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg)
{
    (void)evl;
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    /* EMFILE and friends: log and keep serving; libevent retries on the next readiness. */
    log_write(LOG_ERROR, "accept failed", (struct log_field[]){log_str("error", strerror(err))}, 1);
}

static void worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker_state *ws = arg;
    size_t open = 0;
    for (size_t i = 0; i < ws->nwls; i++)
        open += ws->wls[i].nconns;
    if (open)
        log_write(LOG_WARNING, "Shutdown deadline reached; closing remaining connections",
                  (struct log_field[]){log_int("connections", (long long)open)}, 1);
    for (size_t i = 0; i < ws->nwls; i++)
        http_conn_close_all(&ws->wls[i]);
    event_base_loopexit(ws->pub.base, NULL);
}

void server_worker_listener_empty(struct worker_listener *wl)
{
    struct worker_state *ws = (struct worker_state *)wl->worker;
    ws->nempty++;
    if (ws->nempty == ws->nwls)
        event_base_loopexit(ws->pub.base, NULL);
}

static void worker_drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct worker_state *ws = arg;
    struct server *srv = ws->pub.server;
    for (size_t i = 0; i < ws->nwls; i++) {
        if (ws->wls[i].evl) {
            evconnlistener_free(ws->wls[i].evl);
            ws->wls[i].evl = NULL;
        }
    }
    struct timeval tv = {srv->opts.shutdown_timeout_ms / 1000, (srv->opts.shutdown_timeout_ms % 1000) * 1000};
    ws->deadline = evtimer_new(ws->pub.base, worker_deadline_cb, ws);
    evtimer_add(ws->deadline, &tv);
    if (srv->opts.worker_drain)
        srv->opts.worker_drain(&ws->pub, srv->opts.hook_arg);
    for (size_t i = 0; i < ws->nwls; i++)
        http_conn_drain_all(&ws->wls[i]);
}

static void *worker_main(void *arg)
{
    struct worker_state *ws = arg;
    struct server *srv = ws->pub.server;
    current_worker = &ws->pub;
    for (size_t i = 0; i < srv->nlisteners; i++) {
        struct worker_listener *wl = &ws->wls[i];
        wl->worker = &ws->pub;
        wl->listener = &srv->listeners[i];
        int fd = srv->listeners[i].fds[ws->pub.index];
        srv->listeners[i].fds[ws->pub.index] = -1; /* the evconnlistener owns it now */
        wl->evl = evconnlistener_new(ws->pub.base, accept_cb, wl, LEV_OPT_CLOSE_ON_FREE, -1, fd);
        evconnlistener_set_error_cb(wl->evl, accept_error_cb);
    }
    ws->nwls = srv->nlisteners;
    if (srv->opts.worker_init)
        srv->opts.worker_init(&ws->pub, srv->opts.hook_arg);
    event_base_dispatch(ws->pub.base);
    for (size_t i = 0; i < ws->nwls; i++) {
        http_conn_close_all(&ws->wls[i]);
        if (ws->wls[i].evl)
            evconnlistener_free(ws->wls[i].evl);
        ws->wls[i].evl = NULL;
    }
    if (srv->opts.worker_fini)
        srv->opts.worker_fini(&ws->pub, srv->opts.hook_arg);
    if (ws->deadline)
        event_free(ws->deadline);
    current_worker = NULL;
    return NULL;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct server *srv = arg;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    log_write(LOG_INFO, "Shutting down: no longer accepting connections",
              (struct log_field[]){log_int("deadline_ms", srv->opts.shutdown_timeout_ms)}, 1);
    for (int i = 0; i < srv->nworkers; i++)
        if (srv->workers[i].started)
            event_base_once(srv->workers[i].pub.base, -1, EV_TIMEOUT, worker_drain_cb, &srv->workers[i],
                            NULL);
    event_base_loopbreak(srv->main_base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct server *srv = arg;
    if (sig == SIGUSR1) {
        log_reopen();
        log_write(LOG_INFO, "Log files reopened", NULL, 0);
        return;
    }
    if (sig == SIGHUP) {
        if (srv->opts.reload) {
            log_write(LOG_INFO, "SIGHUP: reloading", NULL, 0);
            srv->opts.reload(srv->opts.hook_arg);
        } else {
            log_write(LOG_INFO, "SIGHUP ignored: nothing to reload", NULL, 0);
        }
        return;
    }
    stop_cb(-1, 0, srv);
}

void server_stop(struct server *srv)
{
    if (srv->stop_event)
        event_active(srv->stop_event, EV_READ, 0);
}

enum gw_err server_run(struct server *srv)
{
    signal(SIGPIPE, SIG_IGN);
    srv->main_base = event_base_new();
    srv->stop_event = event_new(srv->main_base, -1, 0, stop_cb, srv);
    struct event *sigs[4];
    int signums[4] = {SIGTERM, SIGINT, SIGUSR1, SIGHUP};
    for (int i = 0; i < 4; i++) {
        sigs[i] = evsignal_new(srv->main_base, signums[i], signal_cb, srv);
        evsignal_add(sigs[i], NULL);
    }
    /* Workers inherit a mask that blocks our signals, so only the main thread receives them. */
    sigset_t block, old;
    sigemptyset(&block);
    for (int i = 0; i < 4; i++)
        sigaddset(&block, signums[i]);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    enum gw_err result = GW_OK;
    for (int i = 0; i < srv->nworkers; i++) {
        struct worker_state *ws = &srv->workers[i];
        ws->pub.index = i;
        ws->pub.server = srv;
        ws->pub.base = event_base_new();
        if (pthread_create(&ws->thread, NULL, worker_main, ws) != 0) {
            event_base_free(ws->pub.base);
            result = GW_ERR_IO;
            break;
        }
        ws->started = 1;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (result == GW_OK)
        event_base_dispatch(srv->main_base);
    else
        stop_cb(-1, 0, srv);
    for (int i = 0; i < srv->nworkers; i++) {
        struct worker_state *ws = &srv->workers[i];
        if (!ws->started)
            continue;
        pthread_join(ws->thread, NULL);
        event_base_free(ws->pub.base);
        ws->started = 0;
    }
    for (int i = 0; i < 4; i++)
        event_free(sigs[i]);
    event_free(srv->stop_event);
    event_base_free(srv->main_base);
    srv->main_base = NULL;
    log_write(LOG_INFO, "Shutdown complete", NULL, 0);
    return result;
}
