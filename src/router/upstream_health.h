/*
 * upstream_health.h - whether the router reaches each of its upstreams (auth and every MCP
 * service): the gauge router_upstream_up{service} and the "upstreams" member of the router's
 * /health.
 *
 * A service's state is what the last attempt to reach it said: a connection that opened or a
 * response that came back means up, a connect that failed or timed out means down (a slow or
 * broken answer on an open connection does not: the upstream is there). Before any attempt the
 * state is unknown and the gauge has no series for it.
 *
 * The states are process-wide, shared by every worker. Workers report what their real traffic
 * saw (upstream.c); a report costs one relaxed atomic load, plus an atomic exchange and a log
 * line only when the state changes. Traffic alone would never notice an upstream nobody calls,
 * so one worker also runs a prober: a plain TCP connect to each upstream every
 * UPSTREAM_PROBE_UP_SECONDS while it is up, and every UPSTREAM_PROBE_DOWN_SECONDS while it is
 * down or unknown (to see it come back soon). A TCP connect, not GET /health: the state means
 * "reachable", the same as traffic reports, and an MCP_<NAME>_URL server need not have /health.
 * The gauge is set from the states at each scrape, so the two never disagree.
 */
#ifndef MCPGW_ROUTER_UPSTREAM_HEALTH_H
#define MCPGW_ROUTER_UPSTREAM_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "routes.h"

#define UPSTREAM_PROBE_UP_SECONDS 10
#define UPSTREAM_PROBE_DOWN_SECONDS 1

struct event_base;
struct upstream_health;
struct upstream_pool;

enum upstream_state { UPSTREAM_UNKNOWN = -1, UPSTREAM_DOWN = 0, UPSTREAM_UP = 1 };

/* Create the states of table's services (all unknown), register router_upstream_up and the
 * collector that sets it. Once per process, at start-up before the workers run; table is
 * borrowed and must outlive the result. Never NULL. */
struct upstream_health *upstream_health_create(const struct route_table *table);
/* Free after the workers stopped (no scrape may follow). NULL is ignored. */
void upstream_health_free(struct upstream_health *health);

/* What an attempt to reach service (router_service.index) found; reason names a failure for the
 * log line ("connect_failed", "connect_timeout"). Any thread; NULL health is ignored. */
void upstream_health_report(struct upstream_health *health, size_t service, bool up, const char *reason);
enum upstream_state upstream_health_state(const struct upstream_health *health, size_t service);

/* /health's "upstreams": {"auth":"up","mcp-echo":"down","mcp-x":"unknown"} appended to out. */
void upstream_health_info(const struct upstream_health *health, struct buf *out);

/* The prober, on one worker's loop: probes at once, then on the schedule above, with
 * connect_timeout_ms per connect. Addresses are pool's (resolved once); pool and health are
 * borrowed and must outlive the prober. NULL when libevent cannot make its timer. */
struct upstream_prober;
struct upstream_prober *upstream_prober_create(struct event_base *base, struct upstream_health *health,
                                               const struct upstream_pool *pool, int connect_timeout_ms);
/* Stop probing: connects in flight are closed. On the prober's worker thread; NULL is ignored. */
void upstream_prober_free(struct upstream_prober *prober);

#endif
