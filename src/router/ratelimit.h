/*
 * ratelimit.h - request rate limits shared by every router through Redis.
 *
 * GCRA (generic cell rate algorithm) in one Lua script per check (EVALSHA, loaded once), so
 * several routers enforce one limit per key. While Redis is unavailable each worker counts
 * locally with the same algorithm (limits then apply per worker), and says so in /health and a
 * log line. One struct rate_limiter per worker thread.
 */
#ifndef MCPGW_ROUTER_RATELIMIT_H
#define MCPGW_ROUTER_RATELIMIT_H

#include <stdbool.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/http.h"

struct event_base;
struct redis_client;
struct rate_limiter;

struct rate_limit_decision {
    bool allowed;
    long long limit;         /* requests per period */
    long long remaining;     /* for RateLimit-Remaining */
    long long reset_seconds; /* for RateLimit-Reset */
    long long retry_after;   /* seconds, when !allowed */
    bool local;              /* decided without Redis */
};

typedef void (*rate_limit_fn)(const struct rate_limit_decision *decision, void *arg);

/* Create the limiter of this worker. redis is borrowed (the worker's client; NULL: always
 * local) and must outlive the limiter. Keys live under key_prefix (REDIS_KEY_PREFIX) +
 * "ratelimit:", each with a TTL of the time until its counter is idle again. The GCRA script is
 * loaded once (SCRIPT LOAD) and run with EVALSHA; a NOSCRIPT answer (Redis restarted) sends
 * the script text once more. Always GW_OK; caller frees with rate_limiter_free. */
enum gw_err rate_limiter_create(struct event_base *base, struct redis_client *redis, const char *key_prefix,
                                struct rate_limiter **out);
/* Free on the worker thread, never from inside a rate_limit_fn. Checks still waiting for Redis
 * are dropped: their callbacks never run (free the limiter only after the exchanges that asked
 * are gone). NULL is ignored. */
void rate_limiter_free(struct rate_limiter *rl);

/* Count one request against `key` (e.g. "mcp:<user>:<client>"; copied) with `limit` requests
 * per `period_seconds` (from config_parse_rate): the (limit+1)-th request within a period is
 * refused, and capacity returns at limit/period. cb runs exactly once, on this worker's loop
 * (possibly before this returns: a key far from its limit, by Redis's last answer, is admitted at
 * once and counted by the next command; when Redis is unavailable the decision is local and
 * immediate; a Redis error or timeout later also falls back to a local decision). Checks of one
 * key that arrive while a command for it is in flight are counted together by the next command
 * (one command per key per round trip under load), with the same outcome as one by one: the
 * earliest ones are admitted. The decision is borrowed for the duration of cb. GW_ERR_INVALID (no callback)
 * for a NULL key or cb, or a limit or period <= 0. */
enum gw_err rate_limit_check(struct rate_limiter *rl, const char *key, long long limit,
                             long long period_seconds, rate_limit_fn cb, void *arg);

/* For /health: true while limits are shared through Redis; false while this worker counts
 * locally (a WARNING is logged once per outage, an INFO line when Redis is back). Appends a
 * short sentence to detail either way. */
bool rate_limiter_health_detail(const struct rate_limiter *rl, struct buf *detail);
/* True while this worker decides locally (Redis unavailable). */
bool rate_limiter_local(const struct rate_limiter *rl);

/* Register router_rate_limit_checks_total{result,backend}. Call once at start-up before the
 * workers; rate_limiter_create also does it (idempotent). */
void rate_limit_register_metrics(void);

#endif
