/*
 * cors.h - CORS and Origin checks on the router's routes (MCP_CORS_ORIGINS).
 *
 * MCP routes: a request with an Origin that is not allowed gets 403 (the MCP transport's
 * DNS-rebinding rule); an allowed one gets Access-Control-Allow-Origin and the exposed headers
 * a browser client needs (Mcp-Session-Id, WWW-Authenticate, MCP-Protocol-Version). A preflight
 * (OPTIONS with Access-Control-Request-Method) is answered by the router, without a token.
 * Public documents (protected-resource metadata): readable from any origin.
 */
#ifndef MCPGW_ROUTER_CORS_H
#define MCPGW_ROUTER_CORS_H

#include <stdbool.h>

#include "core/config.h"
#include "core/http.h"

struct cors_policy;

/* From MCP_CORS_ORIGINS ("*" or a comma list of origins). Caller frees with cors_policy_free. */
struct cors_policy *cors_policy_create(const struct config *cfg);
void cors_policy_free(struct cors_policy *policy);

/* Whether origin (the Origin header value) is allowed. Comparison is exact but
 * case-insensitive (scheme and host are case-insensitive; origins carry no path). */
bool cors_origin_allowed(const struct cors_policy *policy, const char *origin);

/* Apply the policy to an MCP request. Returns true when the exchange was answered (preflight
 * 204, or 403 for a disallowed Origin); otherwise the CORS response headers are added and the
 * caller goes on. */
bool cors_handle_mcp(const struct cors_policy *policy, struct http_exchange *ex);

/* For public documents: Access-Control-Allow-Origin: *; answers a preflight (returns true). */
bool cors_handle_public(struct http_exchange *ex);

#endif
