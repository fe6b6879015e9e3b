/*
 * health.h - the /health and /metrics endpoints every service mounts.
 *
 * /health answers JSON: {"status":"healthy"|"unhealthy","service":..,"version":..,
 * "uptime_seconds":..,"checks":{"redis":{"status":"healthy"},...}} (plus the members added
 * with health_add_info) with 200 when every
 * critical check passes and 503 otherwise. Checks run on the worker thread that serves the
 * request, so they may read that worker's own clients (its Redis connection, ...).
 * /metrics answers the Prometheus text exposition of core/metrics.
 */
#ifndef MCPGW_CORE_HEALTH_H
#define MCPGW_CORE_HEALTH_H

#include <stdbool.h>
#include "buf.h"
#include "http.h"

/* A check fills detail (may leave it empty) and returns true when healthy. */
typedef bool (*health_check_fn)(void *arg, struct buf *detail);

/* Register a check at start-up (before server_run). name is borrowed (use a literal).
 * A non-critical check is reported but does not make the service unhealthy. */
void health_add_check(const char *name, health_check_fn fn, void *arg, bool critical);

/* An extra top-level member of the /health document (e.g. "signing_key"): fn appends one JSON
 * value to out. Runs on the worker serving the request, like a check; it must not fail and must
 * say nothing secret (/health is public). Register at start-up; name is borrowed (a literal). */
typedef void (*health_info_fn)(void *arg, struct buf *out);
void health_add_info(const char *name, health_info_fn fn, void *arg);

/* Record the process start time; called by main before anything else. */
void health_mark_start(void);
double health_uptime_seconds(void);

/* Limit /metrics to the client addresses in spec (METRICS_ALLOWED_IPS, see ip_allowlist.h;
 * empty or NULL: everyone) and this machine. The client address is the peer's, or the
 * X-Forwarded-For entry a proxy on this machine added (http_client_ip), so the limit holds
 * through the router. Call at start-up; GW_ERR_INVALID leaves the previous setting. */
enum gw_err health_set_metrics_allowed(const char *spec);

void health_handle(struct http_exchange *ex);
/* /metrics: 403 for a client METRICS_ALLOWED_IPS does not list. */
void metrics_handle(struct http_exchange *ex);

/* Serve GET/HEAD /health and /metrics if the request is for one of them. Returns true when it
 * answered (the exchange is then finished). */
bool health_route(struct http_exchange *ex);

#endif
