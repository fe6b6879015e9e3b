/*
 * redis_locate.h - where to connect for a Redis endpoint that names a host or a set of Sentinels.
 *
 * Both need blocking work (getaddrinfo; a Sentinel round trip), which must never run on an event
 * loop: redis_locate_start runs it on a short-lived thread and reports on the caller's loop, and
 * the command-line tools call redis_locate_sync directly. An endpoint with an IP literal or a
 * Unix socket needs no lookup (redis_endpoint_needs_lookup).
 *
 * Sentinel mode follows the Redis Sentinel client guidelines: the Sentinels are asked in order
 * ("SENTINEL get-master-addr-by-name NAME", each within the timeout) and the first that names the
 * master wins. The caller then confirms with ROLE on the connection it opens (a Sentinel can lag
 * behind a failover), and asks again whenever that connection is lost or answers READONLY.
 */
#ifndef MCPGW_CORE_REDIS_LOCATE_H
#define MCPGW_CORE_REDIS_LOCATE_H

#include <arpa/inet.h>
#include <stddef.h>

#include "err.h"
#include "redis_url.h"

struct event_base;

#define REDIS_LOCATE_MAX_ADDRESSES 8

/* The result of a lookup: numeric addresses to try in order, all on one port. */
struct redis_location {
    size_t count;
    char hosts[REDIS_LOCATE_MAX_ADDRESSES][INET6_ADDRSTRLEN];
    int port;
    char via[96]; /* Sentinel mode: "h:p", the Sentinel that answered; otherwise "" */
};

/* "host:port", or "[host]:port" for an IPv6 address, into out. */
void redis_format_address(char *out, size_t size, const char *host, int port);

/* Blocking: resolve the endpoint's host name, or ask its Sentinels for the master and resolve
 * what they name. Each network step is bounded by timeout_ms. GW_OK and *out filled, or
 * GW_ERR_UNAVAILABLE with a reason in why (never a password). An endpoint that needs no lookup
 * gives its own address. */
enum gw_err redis_locate_sync(const struct redis_endpoint *endpoint, unsigned timeout_ms,
                              struct redis_location *out, char *why, size_t why_len);

struct redis_locate_job;

/* Called once on the loop that started the job. location is NULL unless err == GW_OK; why is
 * NULL when err == GW_OK. Both are borrowed for the duration of the call. */
typedef void (*redis_locate_fn)(enum gw_err err, const struct redis_location *location, const char *why,
                                void *arg);

/* Run redis_locate_sync on its own thread (the endpoint is copied) and call cb on base's loop
 * with the result. Returns the job, owned by the library until cb has run or the job was
 * cancelled; NULL when no thread or socket could be had (cb will not run). */
struct redis_locate_job *redis_locate_start(struct event_base *base, const struct redis_endpoint *endpoint,
                                            unsigned timeout_ms, redis_locate_fn cb, void *arg);

/* On the loop thread, before cb has run: cb will never run. The thread, if still busy, finishes
 * on its own and frees what it holds. */
void redis_locate_cancel(struct redis_locate_job *job);

#endif
