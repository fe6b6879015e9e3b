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

#include "core/config.h"
#include "core/err.h"

struct event_base;
struct redis_client;
struct rate_limiter;

struct rate_limit_decision {
    bool allowed;
    long long limit;          /* requests per period */
    long long remaining;      /* for RateLimit-Remaining */
    long long reset_seconds;  /* for RateLimit-Reset */
    long long retry_after;    /* seconds, when !allowed */
    bool local;               /* decided without Redis */
};

typedef void (*rate_limit_fn)(const struct rate_limit_decision *decision, void *arg);

enum gw_err rate_limiter_create(struct event_base *base, struct redis_client *redis, const char *key_prefix,
                                struct rate_limiter **out);
void rate_limiter_free(struct rate_limiter *rl);

/* Count one request against `key` (e.g. "mcp:<user>:<client>") with `limit` requests per
 * `period_seconds`. cb runs exactly once, on this worker's loop (possibly before this returns).
 * Returns a handle-free GW_OK; cancel by ignoring the callback's result. */
enum gw_err rate_limit_check(struct rate_limiter *rl, const char *key, long long limit, long long period_seconds,
                             rate_limit_fn cb, void *arg);

#endif
