/*
 * upstream_health.c - the upstreams' reachability: states, gauge, /health member and the prober
 * (see upstream_health.h).
 */
#include "upstream_health.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "upstream.h"

struct upstream_health {
    const struct route_table *table;
    struct metric_family *up_metric;
    _Atomic int *states;                   /* enum upstream_state, by service index */
    struct metric_series *_Atomic *series; /* router_upstream_up{service}, on first known state */
};

/* At each scrape: the gauge from the states (a service still unknown gets no series). */
static void collect_states(void *arg)
{
    struct upstream_health *h = arg;
    for (size_t i = 0; i < h->table->nservices; i++) {
        int state = atomic_load_explicit(&h->states[i], memory_order_relaxed);
        if (state == UPSTREAM_UNKNOWN)
            continue;
        struct metric_series *s =
            metrics_series_once(&h->series[i], h->up_metric, (const char *[]){h->table->services[i].name});
        metrics_series_set(s, state);
    }
}

struct upstream_health *upstream_health_create(const struct route_table *table)
{
    struct upstream_health *h = gw_calloc(1, sizeof(*h));
    h->table = table;
    h->states = gw_calloc(table->nservices, sizeof(*h->states));
    h->series = gw_calloc(table->nservices, sizeof(*h->series));
    for (size_t i = 0; i < table->nservices; i++)
        atomic_init(&h->states[i], UPSTREAM_UNKNOWN);
    h->up_metric = metrics_register(METRIC_GAUGE, "router_upstream_up",
                                    "1 when the router's last attempt to reach the upstream (a request, or "
                                    "its TCP probe) connected, 0 after a connect failure or timeout",
                                    (const char *[]){"service"}, 1, NULL, 0);
    metrics_add_collector(collect_states, h);
    return h;
}

void upstream_health_free(struct upstream_health *h)
{
    if (!h)
        return;
    free(h->states);
    free(h->series);
    free(h);
}

void upstream_health_report(struct upstream_health *h, size_t service, bool up, const char *reason)
{
    if (!h || service >= h->table->nservices)
        return;
    int state = up ? UPSTREAM_UP : UPSTREAM_DOWN;
    /* the hot path: nothing changed */
    if (atomic_load_explicit(&h->states[service], memory_order_relaxed) == state)
        return;
    int was = atomic_exchange_explicit(&h->states[service], state, memory_order_relaxed);
    if (was == state)
        return; /* another worker saw it first */
    const struct router_service *svc = &h->table->services[service];
    if (up) {
        log_write(
            LOG_INFO, "Upstream reachable",
            (struct log_field[]){log_str("route", svc->name), log_str("upstream", svc->upstream_authority)},
            2);
    } else if (was == UPSTREAM_UP) {
        /* not from unknown: at start-up the router comes up before the MCP services */
        log_write(LOG_WARNING, "Upstream unreachable",
                  (struct log_field[]){log_str("route", svc->name),
                                       log_str("upstream", svc->upstream_authority),
                                       log_str("error", reason ? reason : "connect_failed")},
                  3);
    }
}

enum upstream_state upstream_health_state(const struct upstream_health *h, size_t service)
{
    if (!h || service >= h->table->nservices)
        return UPSTREAM_UNKNOWN;
    return (enum upstream_state)atomic_load_explicit(&h->states[service], memory_order_relaxed);
}

void upstream_health_info(const struct upstream_health *h, struct buf *out)
{
    buf_append_str(out, "{");
    for (size_t i = 0; i < h->table->nservices; i++) {
        const char *name = h->table->services[i].name;
        enum upstream_state state = upstream_health_state(h, i);
        buf_append_str(out, i ? ",\"" : "\"");
        buf_append_json_escaped(out, name, strlen(name));
        buf_append_str(out, state == UPSTREAM_UP     ? "\":\"up\""
                            : state == UPSTREAM_DOWN ? "\":\"down\""
                                                     : "\":\"unknown\"");
    }
    buf_append_str(out, "}");
}

/* ---- the prober ---- */

struct probe {
    struct upstream_prober *owner;
    size_t service;
    int fd;                       /* -1 while no connect is in flight */
    struct event *done;           /* the connect finished or timed out */
    int64_t next_ms;              /* monotonic time of the next probe */
    struct sockaddr_storage addr; /* the address probed */
    socklen_t addrlen;            /* 0: none (the name does not resolve) */
};

struct upstream_prober {
    struct event_base *base;
    struct upstream_health *health;
    const struct upstream_pool *pool;
    int connect_timeout_ms;
    struct event *tick;
    size_t nprobes;
    struct probe probes[];
};

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void probe_end(struct probe *p, bool up, const char *reason)
{
    if (p->done) {
        event_free(p->done);
        p->done = NULL;
    }
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    upstream_health_report(p->owner->health, p->service, up, reason);
    if (!up && p->addrlen) /* a name's next address gets the next probe */
        upstream_pool_connect_failed(p->owner->pool, p->service, &p->addr, p->addrlen);
    p->next_ms =
        monotonic_ms() + 1000 * (int64_t)(up ? UPSTREAM_PROBE_UP_SECONDS : UPSTREAM_PROBE_DOWN_SECONDS);
}

static void probe_done(evutil_socket_t fd, short what, void *arg)
{
    struct probe *p = arg;
    if (what & EV_TIMEOUT) {
        probe_end(p, false, "connect_timeout");
        return;
    }
    int error = 0;
    socklen_t len = sizeof(error);
    bool up = getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 && error == 0;
    probe_end(p, up, up ? NULL : "connect_failed");
}

static void probe_start(struct probe *p)
{
    struct upstream_prober *pr = p->owner;
    p->addrlen = 0;
    if (!upstream_pool_address(pr->pool, p->service, &p->addr, &p->addrlen)) {
        probe_end(p, false, "unresolved");
        return;
    }
    const struct sockaddr *addr = (const struct sockaddr *)&p->addr;
    socklen_t addrlen = p->addrlen;
    p->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) { /* out of descriptors: says nothing about the upstream; try again soon */
        p->next_ms = monotonic_ms() + 1000 * (int64_t)UPSTREAM_PROBE_DOWN_SECONDS;
        return;
    }
    if (connect(p->fd, addr, addrlen) == 0) {
        probe_end(p, true, NULL);
        return;
    }
    if (errno != EINPROGRESS) {
        probe_end(p, false, "connect_failed");
        return;
    }
    p->done = event_new(pr->base, p->fd, EV_WRITE, probe_done, p);
    struct timeval timeout = {pr->connect_timeout_ms / 1000, (pr->connect_timeout_ms % 1000) * 1000};
    if (!p->done || event_add(p->done, &timeout) != 0) {
        if (p->done)
            event_free(p->done);
        p->done = NULL;
        close(p->fd);
        p->fd = -1;
        p->next_ms = monotonic_ms() + 1000 * (int64_t)UPSTREAM_PROBE_DOWN_SECONDS;
    }
}

static void prober_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct upstream_prober *pr = arg;
    int64_t now = monotonic_ms();
    for (size_t i = 0; i < pr->nprobes; i++) {
        struct probe *p = &pr->probes[i];
        if (p->fd < 0 && now >= p->next_ms)
            probe_start(p);
    }
}

struct upstream_prober *upstream_prober_create(struct event_base *base, struct upstream_health *health,
                                               const struct upstream_pool *pool, int connect_timeout_ms)
{
    size_t n = upstream_pool_services(pool);
    struct upstream_prober *pr = gw_calloc(1, sizeof(*pr) + n * sizeof(pr->probes[0]));
    pr->base = base;
    pr->health = health;
    pr->pool = pool;
    pr->connect_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : 1000;
    pr->nprobes = n;
    for (size_t i = 0; i < n; i++)
        pr->probes[i] = (struct probe){.owner = pr, .service = i, .fd = -1};
    /* the schedule is in whole seconds: one timer a second looks at every probe */
    pr->tick = event_new(base, -1, EV_PERSIST, prober_tick, pr);
    struct timeval second = {1, 0};
    if (!pr->tick || event_add(pr->tick, &second) != 0) {
        upstream_prober_free(pr);
        return NULL;
    }
    prober_tick(-1, 0, pr);
    return pr;
}

void upstream_prober_free(struct upstream_prober *pr)
{
    if (!pr)
        return;
    for (size_t i = 0; i < pr->nprobes; i++) {
        struct probe *p = &pr->probes[i];
        if (p->done)
            event_free(p->done);
        if (p->fd >= 0)
            close(p->fd);
    }
    if (pr->tick)
        event_free(pr->tick);
    free(pr);
}
