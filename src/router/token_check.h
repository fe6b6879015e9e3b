/*
 * token_check.h - bearer-token verification inside the router (no per-request hop to auth).
 *
 * One struct token_checker per worker thread (not thread-safe; lives on that worker's loop).
 * It holds the verification keyset (auth's JWKS, fetched from AUTH_INTERNAL_URL at start and
 * again, at most once per 10 s, when a token names an unknown kid; or the HS256 secret), a
 * verified-token cache (core/jwt jwt_cache), and the set of revoked jti's kept current by polling
 * Redis every 250 ms as docs/internals/tokens.md describes. token_check() is synchronous: it never
 * waits on the network (a refresh it triggers completes in the background, so the request that
 * named an unknown kid fails and later ones succeed). While Redis is unreachable no revocation
 * can be recorded either, so tokens are still accepted and token_checker_ready() says false.
 * Tokens are never logged.
 */
#ifndef MCPGW_ROUTER_TOKEN_CHECK_H
#define MCPGW_ROUTER_TOKEN_CHECK_H

#include <stdbool.h>

#include "core/config.h"
#include "core/err.h"

struct event_base;
struct redis_client;
struct token_checker;

enum token_check_result {
    TOKEN_OK = 0,
    TOKEN_MISSING,            /* no Authorization: Bearer header -> 401 without error= */
    TOKEN_INVALID,            /* malformed, bad signature, unknown kid, wrong issuer -> 401 invalid_token */
    TOKEN_EXPIRED,            /* -> 401 invalid_token */
    TOKEN_WRONG_AUDIENCE,     /* aud is not this service's resource -> 401 invalid_token */
    TOKEN_REVOKED,            /* -> 401 invalid_token */
    TOKEN_INSUFFICIENT_SCOPE, /* valid but lacks MCP_SCOPES -> 403 insufficient_scope */
    TOKEN_UNAVAILABLE,        /* valid, but this worker has not loaded the revocation list from Redis
                                 yet, so it cannot tell whether the token was revoked -> 503 */
};

/* Who the token speaks for. Fixed-size strings inside the struct (no frees needed). */
struct token_identity {
    char user_id[128]; /* sub */
    char username[128];
    char client_id[256];
    char scope[512];
    char jti[64];
    long long exp;
};

/* Create the checker for this worker: fetches the JWKS and starts the revocation poll.
 * redis is borrowed (the worker's client) and must outlive the checker. */
enum gw_err token_checker_create(struct event_base *base, const struct config *cfg,
                                 struct redis_client *redis, struct token_checker **out);
void token_checker_free(struct token_checker *tc);

/* Check the value of an Authorization header (may be NULL) for a request to the resource
 * `expected_audience` (borrowed; compared on every call, cached tokens included). identity (may
 * be NULL) is the caller's: filled on TOKEN_OK and TOKEN_INSUFFICIENT_SCOPE, zeroed on every other
 * result. *reason (if reason is not NULL) gets a short static text for logs. The revoked set is
 * consulted on every call; a cached token costs no JSON work (see token_check.c). */
enum token_check_result token_check(struct token_checker *tc, const char *authorization,
                                    const char *expected_audience, struct token_identity *identity,
                                    const char **reason);

/* Healthy when a keyset is loaded and the revocation poll is current (for /health). */
bool token_checker_ready(const struct token_checker *tc);
/* One line for /health's detail: what is loaded, or what is missing. Appends to detail. */
void token_checker_health_detail(const struct token_checker *tc, struct buf *detail);
/* /health's "signing_key" member: {"role":"verifies","source":"GATEWAY_JWT_SECRET" or the JWKS
 * URL,"keys":[{"alg":..,"kid":..},...]} (kids only, nothing secret). Appends to out. */
void token_checker_key_info(const struct token_checker *tc, struct buf *out);
/* JWKS documents successfully loaded so far (start-up and refreshes). For tests. */
unsigned long long token_checker_jwks_fetches(const struct token_checker *tc);

/* Register router_token_checks_total{result} and router_jwks_refreshes_total{result}. Call once
 * at start-up before the workers; token_checker_create also does it (idempotent). */
void token_check_register_metrics(void);
/* "ok", "missing", "invalid", "expired", "wrong_audience", "revoked", "insufficient_scope":
 * static, for metric labels and logs. */
const char *token_check_result_name(enum token_check_result result);

#endif
