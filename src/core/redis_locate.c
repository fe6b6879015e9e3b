/*
 * redis_locate.c - host name and Sentinel lookups off the event loop (see redis_locate.h).
 * Jobs run on core/offload's helper threads.
 */
#include "redis_locate.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include "alloc.h"
#include "offload.h"

/* ---- blocking lookups ---- */

void redis_format_address(char *out, size_t size, const char *host, int port)
{
    snprintf(out, size, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* getaddrinfo's answers for host, numeric, in its preference order (RFC 6724), without repeats. */
static enum gw_err resolve_host(const char *host, int port, struct redis_location *out, char *why,
                                size_t why_len)
{
    out->count = 0;
    out->port = port;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        snprintf(why, why_len, "cannot resolve %s: %s", host, gai_strerror(rc));
        return GW_ERR_UNAVAILABLE;
    }
    for (const struct addrinfo *ai = res; ai && out->count < REDIS_LOCATE_MAX_ADDRESSES; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN];
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, text, sizeof(text), NULL, 0, NI_NUMERICHOST) != 0)
            continue;
        bool seen = false;
        for (size_t i = 0; i < out->count; i++)
            seen |= strcmp(out->hosts[i], text) == 0;
        if (!seen)
            memcpy(out->hosts[out->count++], text, sizeof(text));
    }
    freeaddrinfo(res);
    if (out->count == 0) {
        snprintf(why, why_len, "cannot resolve %s: no usable address", host);
        return GW_ERR_UNAVAILABLE;
    }
    return GW_OK;
}

/* Ask one Sentinel. GW_OK with the master's host (as the Sentinel names it) and port. */
static enum gw_err ask_sentinel(const struct redis_endpoint *ep, const struct redis_sentinel *s,
                                unsigned timeout_ms, char *master_host, size_t host_size, int *master_port,
                                char *why, size_t why_len)
{
    char where[96];
    redis_format_address(where, sizeof(where), s->host, s->port);
    struct timeval tv = {.tv_sec = timeout_ms / 1000u, .tv_usec = (timeout_ms % 1000u) * 1000u};
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
    if (!c || c->err) {
        snprintf(why, why_len, "Sentinel %s: %.100s", where, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return GW_ERR_UNAVAILABLE;
    }
    redisSetTimeout(c, tv);
    enum gw_err err = GW_ERR_UNAVAILABLE;
    redisReply *r = NULL;
    if (ep->sentinel_password && ep->sentinel_password[0]) {
        r = redisCommand(c, "AUTH %s", ep->sentinel_password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, why_len, "Sentinel %s refused sentinel_password: %.100s", where,
                     r ? r->str : c->errstr);
            goto out;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", ep->sentinel_master);
    if (!r) {
        snprintf(why, why_len, "Sentinel %s: %.100s", where, c->errstr);
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, why_len, "Sentinel %s: %.100s", where, r->str);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(why, why_len, "Sentinel %s does not know a master named %s", where, ep->sentinel_master);
    } else {
        long port = strtol(r->element[1]->str, NULL, 10);
        if (port < 1 || port > 65535 || r->element[0]->len == 0 || r->element[0]->len >= host_size) {
            snprintf(why, why_len, "Sentinel %s named an unusable address for %s", where,
                     ep->sentinel_master);
        } else {
            memcpy(master_host, r->element[0]->str, r->element[0]->len + 1);
            *master_port = (int)port;
            err = GW_OK;
        }
    }
out:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return err;
}

enum gw_err redis_locate_sync(const struct redis_endpoint *ep, unsigned timeout_ms,
                              struct redis_location *out, char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    if (ep->sentinel_count == 0) {
        if (!ep->host) {
            snprintf(why, why_len, "a Unix socket needs no lookup");
            return GW_ERR_INVALID;
        }
        if (!ep->host_is_name) {
            snprintf(out->hosts[0], sizeof(out->hosts[0]), "%s", ep->host);
            out->count = 1;
            out->port = ep->port;
            return GW_OK;
        }
        return resolve_host(ep->host, ep->port, out, why, why_len);
    }
    /* Every Sentinel's failure is kept short, so the reason names them all. */
    char reasons[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < ep->sentinel_count; i++) {
        char master_host[256], reason[256];
        int master_port = 0;
        if (ask_sentinel(ep, &ep->sentinels[i], timeout_ms, master_host, sizeof(master_host), &master_port,
                         reason, sizeof(reason)) == GW_OK) {
            if (resolve_host(master_host, master_port, out, why, why_len) != GW_OK)
                return GW_ERR_UNAVAILABLE;
            redis_format_address(out->via, sizeof(out->via), ep->sentinels[i].host, ep->sentinels[i].port);
            return GW_OK;
        }
        int n = snprintf(reasons + used, sizeof(reasons) - used, "%s%s", used ? "; " : "", reason);
        if (n > 0)
            used = used + (size_t)n < sizeof(reasons) ? used + (size_t)n : sizeof(reasons) - 1;
    }
    snprintf(why, why_len, "no Sentinel named the master %s (%s)", ep->sentinel_master, reasons);
    return GW_ERR_UNAVAILABLE;
}

/* ---- jobs ---- */

struct redis_locate_job {
    struct offload *offload;
    redis_locate_fn cb;
    void *arg;
    struct redis_endpoint endpoint; /* the thread's copy */
    unsigned timeout_ms;
    enum gw_err err; /* written by the thread */
    struct redis_location location;
    char why[640];
};

static void locate_on_thread(void *arg)
{
    struct redis_locate_job *job = arg;
    job->err = redis_locate_sync(&job->endpoint, job->timeout_ms, &job->location, job->why, sizeof(job->why));
}

static void locate_done(void *arg)
{
    struct redis_locate_job *job = arg;
    if (job->err == GW_OK)
        job->cb(GW_OK, &job->location, NULL, job->arg);
    else
        job->cb(job->err, NULL, job->why, job->arg);
}

static void locate_free(void *arg)
{
    struct redis_locate_job *job = arg;
    redis_endpoint_free(&job->endpoint);
    free(job);
}

struct redis_locate_job *redis_locate_start(struct event_base *base, const struct redis_endpoint *endpoint,
                                            unsigned timeout_ms, redis_locate_fn cb, void *arg)
{
    struct redis_locate_job *job = gw_calloc(1, sizeof(*job));
    job->cb = cb;
    job->arg = arg;
    job->timeout_ms = timeout_ms;
    redis_endpoint_copy(&job->endpoint, endpoint);
    job->offload = offload_start(base, job, locate_on_thread, locate_done, locate_free);
    if (!job->offload) {
        locate_free(job);
        return NULL;
    }
    return job;
}

void redis_locate_cancel(struct redis_locate_job *job)
{
    if (job)
        offload_cancel(job->offload);
}
