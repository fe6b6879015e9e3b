/*
 * gate.h - what a request must pass before the router forwards it: the bearer-token check on
 * MCP routes (401/403 with the RFC 6750/9728 WWW-Authenticate shape), rate limits (per user and
 * client on MCP routes, per client IP on /register (except REGISTRATION_TRUSTED_NETWORKS), /token
 * and /authorize; 429 with Retry-After
 * and RateLimit-* headers), and the per-client/per-user request metrics (cardinality capped).
 *
 * The gate runs on the worker thread; rate-limit decisions may come back asynchronously (Redis),
 * so the gate calls `then` exactly once when the request may go on; when the request is refused
 * (or the client leaves first) the gate answers (or drops) it itself and `then` is not called.
 */
#ifndef MCPGW_ROUTER_GATE_H
#define MCPGW_ROUTER_GATE_H

#include "core/config.h"
#include "core/http.h"
#include "routes.h"
#include "token_check.h"

struct rate_limiter;

struct ip_allowlist;

/* Process-wide limits, read once from the configuration (RATE_LIMIT_MCP, RATE_LIMIT_REGISTER,
 * RATE_LIMIT_TOKEN, RATE_LIMIT_AUTHORIZE; "0" or empty disables one). */
struct gate_limits {
    long long mcp_limit, mcp_period;
    long long register_limit, register_period;
    /* REGISTRATION_TRUSTED_NETWORKS: peers without the register limit (NULL: none). Owned. */
    struct ip_allowlist *register_trusted;
    long long token_limit, token_period;
    long long authorize_limit, authorize_period;
    char required_scope[256]; /* MCP_SCOPES joined by spaces, for the 403 challenge */
};

/* Read the limits. Appends "ERROR: ..." lines to errors for an unusable value. Free with
 * gate_limits_free (also after an error). */
enum gw_err gate_limits_load(const struct config *cfg, struct gate_limits *out, struct buf *errors);
void gate_limits_free(struct gate_limits *limits);
/* Register the gate's metrics (once, before the workers start). */
void gate_metrics_register(void);

/* Continue with the request: identity is NULL on routes without a token (borrowed for the call). */
typedef void (*gate_next_fn)(struct http_exchange *ex, const struct router_service *svc,
                             const struct token_identity *identity, void *arg);

/* MCP route: check the token for svc's resource with tc (NULL: answered 503), then the per
 * user+client limit with rl (NULL: no limit). */
void gate_mcp(struct http_exchange *ex, const struct router_service *svc, struct token_checker *tc,
              struct rate_limiter *rl, const struct gate_limits *limits, gate_next_fn next, void *arg);

/* Authorization-server route with a per-IP limit (`which` is "REGISTER", "TOKEN" or "AUTHORIZE"). */
void gate_auth_endpoint(struct http_exchange *ex, const struct router_service *auth, const char *which,
                        struct rate_limiter *rl, const struct gate_limits *limits, gate_next_fn next,
                        void *arg);

#endif
