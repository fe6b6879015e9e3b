/*
 * upstream_addr.c - upstream addresses and their resolver thread (see upstream_addr.h).
 */
#include "upstream_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"

struct upstream_addr {
    bool is_name;    /* not an IP literal: resolved again now and then */
    bool again_soon; /* a connect failed: resolve at the next retry time */
    /* under the mutex: the addresses (count 0: not resolved yet) and which one is in use */
    struct sockaddr_storage addrs[UPSTREAM_MAX_ADDRESSES];
    socklen_t lens[UPSTREAM_MAX_ADDRESSES];
    size_t count, current;
    long long last_resolve; /* monotonic seconds */
    long long next_resolve;
};

struct upstream_addrs {
    const struct route_table *table;
    upstream_resolve_fn resolve;
    void *resolve_arg;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping, thread_started;
    pthread_t thread;
    struct upstream_addr *entries; /* table->nservices */
};

static long long monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

static size_t resolve_with_getaddrinfo(const char *host, int port, struct sockaddr_storage *out,
                                       socklen_t *lens, size_t max, void *arg)
{
    (void)arg;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res = NULL;
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%d", port);
    size_t n = 0;
    if (getaddrinfo(host, port_text, &hints, &res) == 0)
        for (const struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next)
            if (ai->ai_addrlen <= sizeof(*out)) {
                memset(&out[n], 0, sizeof(out[n]));
                memcpy(&out[n], ai->ai_addr, ai->ai_addrlen);
                lens[n++] = ai->ai_addrlen;
            }
    if (res)
        freeaddrinfo(res);
    return n;
}

static bool same_address(const struct sockaddr_storage *a, socklen_t a_len, const struct sockaddr_storage *b,
                         socklen_t b_len)
{
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

static bool is_ip_literal(const char *host)
{
    unsigned char scratch[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, scratch) == 1 || inet_pton(AF_INET6, host, scratch) == 1;
}

static void address_text(const struct sockaddr_storage *a, char *out, size_t size)
{
    const void *bytes = a->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                                                 : (const void *)&((const struct sockaddr_in *)a)->sin_addr;
    if (!inet_ntop(a->ss_family, bytes, out, (socklen_t)size))
        snprintf(out, size, "?");
}

/* Resolve entry i now (no lock held while resolving) and publish what changed. */
static void resolve_one(struct upstream_addrs *ua, size_t i, bool at_start)
{
    const struct router_service *s = &ua->table->services[i];
    struct sockaddr_storage found[UPSTREAM_MAX_ADDRESSES];
    socklen_t lens[UPSTREAM_MAX_ADDRESSES];
    size_t n =
        ua->resolve(s->upstream_host, s->upstream_port, found, lens, UPSTREAM_MAX_ADDRESSES, ua->resolve_arg);
    bool ok = n > 0;
    struct upstream_addr *e = &ua->entries[i];
    pthread_mutex_lock(&ua->lock);
    bool changed = ok && e->count != n;
    for (size_t k = 0; ok && !changed && k < n; k++)
        changed = !same_address(&e->addrs[k], e->lens[k], &found[k], lens[k]);
    bool was_resolved = e->count > 0;
    size_t current = 0;
    if (changed) {
        /* keep using the address in use if it is still among them */
        for (size_t k = 0; was_resolved && k < n; k++)
            if (same_address(&e->addrs[e->current], e->lens[e->current], &found[k], lens[k]))
                current = k;
        memcpy(e->addrs, found, n * sizeof(found[0]));
        memcpy(e->lens, lens, n * sizeof(lens[0]));
        e->count = n;
        e->current = current;
    }
    long long now = monotonic_seconds();
    e->again_soon = false;
    e->last_resolve = now;
    e->next_resolve = now + (ok ? UPSTREAM_RESOLVE_SECONDS : UPSTREAM_RESOLVE_RETRY_SECONDS);
    pthread_mutex_unlock(&ua->lock);
    /* a name that stops resolving keeps its last address: DNS trouble should not take a working
     * upstream down */
    if (!ok && (at_start || was_resolved)) {
        log_write(LOG_WARNING,
                  at_start ? "Cannot resolve upstream" : "Cannot resolve upstream; keeping its address",
                  (struct log_field[]){log_str("route", s->name), log_str("host", s->upstream_host)}, 2);
    } else if (changed && !at_start) {
        char text[INET6_ADDRSTRLEN];
        address_text(&found[current], text, sizeof(text));
        log_write(LOG_INFO, was_resolved ? "Upstream address changed" : "Upstream resolved",
                  (struct log_field[]){log_str("route", s->name), log_str("host", s->upstream_host),
                                       log_str("address", text)},
                  3);
    }
}

static void *resolver_main(void *arg)
{
    struct upstream_addrs *ua = arg;
    pthread_mutex_lock(&ua->lock);
    while (!ua->stopping) {
        long long now = monotonic_seconds(), next = now + UPSTREAM_RESOLVE_SECONDS;
        size_t due = (size_t)-1;
        for (size_t i = 0; i < ua->table->nservices; i++) {
            struct upstream_addr *e = &ua->entries[i];
            if (!e->is_name)
                continue;
            long long when = e->next_resolve;
            /* after a failed connect, soon, but never sooner than a retry interval after the
             * last resolution: failing connects must not become a stream of DNS queries */
            if (e->again_soon && e->last_resolve + UPSTREAM_RESOLVE_RETRY_SECONDS < when)
                when = e->last_resolve + UPSTREAM_RESOLVE_RETRY_SECONDS;
            if (when <= now) {
                due = i;
                break;
            }
            if (when < next)
                next = when;
        }
        if (due != (size_t)-1) {
            pthread_mutex_unlock(&ua->lock);
            resolve_one(ua, due, false);
            pthread_mutex_lock(&ua->lock);
            continue;
        }
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(next - now);
        pthread_cond_timedwait(&ua->wake, &ua->lock, &until);
    }
    pthread_mutex_unlock(&ua->lock);
    return NULL;
}

struct upstream_addrs *upstream_addrs_create(const struct route_table *table, upstream_resolve_fn resolve,
                                             void *resolve_arg)
{
    struct upstream_addrs *ua = gw_calloc(1, sizeof(*ua));
    ua->table = table;
    ua->resolve = resolve ? resolve : resolve_with_getaddrinfo;
    ua->resolve_arg = resolve_arg;
    pthread_mutex_init(&ua->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&ua->wake, &attr);
    pthread_condattr_destroy(&attr);
    ua->entries = gw_calloc(table->nservices, sizeof(*ua->entries));
    bool any_name = false;
    for (size_t i = 0; i < table->nservices; i++) {
        ua->entries[i].is_name = !is_ip_literal(table->services[i].upstream_host);
        any_name |= ua->entries[i].is_name;
        resolve_one(ua, i, true);
    }
    if (any_name) {
        if (pthread_create(&ua->thread, NULL, resolver_main, ua) == 0)
            ua->thread_started = true;
        else
            log_write(LOG_WARNING, "Cannot start the upstream resolver; names keep their first address", NULL,
                      0);
    }
    return ua;
}

void upstream_addrs_free(struct upstream_addrs *ua)
{
    if (!ua)
        return;
    if (ua->thread_started) {
        pthread_mutex_lock(&ua->lock);
        ua->stopping = true;
        pthread_cond_signal(&ua->wake);
        pthread_mutex_unlock(&ua->lock);
        pthread_join(ua->thread, NULL);
    }
    pthread_cond_destroy(&ua->wake);
    pthread_mutex_destroy(&ua->lock);
    free(ua->entries);
    free(ua);
}

bool upstream_addrs_get(struct upstream_addrs *ua, size_t service, struct sockaddr_storage *out,
                        socklen_t *len)
{
    if (!ua || service >= ua->table->nservices)
        return false;
    pthread_mutex_lock(&ua->lock);
    const struct upstream_addr *e = &ua->entries[service];
    bool ok = e->count > 0;
    if (ok) {
        *out = e->addrs[e->current];
        *len = e->lens[e->current];
    }
    pthread_mutex_unlock(&ua->lock);
    return ok;
}

void upstream_addrs_connect_failed(struct upstream_addrs *ua, size_t service,
                                   const struct sockaddr_storage *failed, socklen_t failed_len)
{
    if (!ua || service >= ua->table->nservices)
        return;
    struct upstream_addr *e = &ua->entries[service];
    pthread_mutex_lock(&ua->lock);
    /* Only the first report of a failing address moves on: other workers' connects to the same
     * address that fail a moment later must not skip the next address too. */
    if (failed && e->count > 1 &&
        same_address(&e->addrs[e->current], e->lens[e->current], failed, failed_len))
        e->current = (e->current + 1) % e->count;
    if (e->is_name && !e->again_soon) {
        e->again_soon = true;
        pthread_cond_signal(&ua->wake);
    }
    pthread_mutex_unlock(&ua->lock);
}

size_t upstream_addrs_count(struct upstream_addrs *ua, size_t service)
{
    if (!ua || service >= ua->table->nservices)
        return 0;
    pthread_mutex_lock(&ua->lock);
    size_t n = ua->entries[service].count;
    pthread_mutex_unlock(&ua->lock);
    return n;
}
