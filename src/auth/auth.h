/*
 * auth.h - what the parts of the authorization server (`mcpgw auth`) share.
 *
 * The role (auth_main.c) owns process-wide state (struct auth_state, immutable after start-up)
 * and per-worker clients (struct auth_worker: Redis, outbound HTTP). Endpoint families live in
 * their own files and are dispatched from auth_main.c:
 *   metadata.c      /.well-known/oauth-authorization-server, /.well-known/openid-configuration,
 *                   /.well-known/oauth-protected-resource[/...], /jwks
 *   registration.c  POST /register, GET/PUT/DELETE /register/{id}        (RFC 7591, 7592)
 *   client_meta.c   registration metadata validation, redirect-URI rules (pure; fuzzed)
 *   client_store.c  clients in Redis, static clients, client ID metadata documents
 *   token.c         POST /token (authorization_code, refresh_token), token_store.c records
 *   revoke.c        POST /revoke, POST /introspect                         (RFC 7009, 7662)
 *   verify.c        GET/POST /verify (ForwardAuth)
 *   auth_util.c     Redis helpers (503 on outage), client authentication, metrics, debug
 *   authorize.c     GET /authorize, consent (GET/POST /consent), login (GitHub, local users),
 *   callback.c      GET /callback, pages.c (HTML, escaped), session cookies   (browser.h)
 * Storage keys and token claims follow docs/internals/tokens.md, which the router relies on.
 */
#ifndef MCPGW_AUTH_AUTH_H
#define MCPGW_AUTH_AUTH_H

#include <stdbool.h>

#include "core/config.h"
#include "core/http.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/redis.h"

struct redis_client;
struct http_client;
struct ip_allowlist;
struct worker;

/* Process-wide, read-only after auth_setup (shared by all worker threads). */
struct auth_state {
    const struct config *cfg;
    char *issuer;     /* public_url_issuer */
    char *key_prefix; /* REDIS_KEY_PREFIX, e.g. "oauth:" */
    struct jwt_key *signing_key;
    struct jwt_keyset *keyset; /* public keys published at /jwks and used by /verify */
    long long access_token_lifetime, refresh_token_lifetime, client_lifetime;
    char **services; /* enabled MCP services ("mcp-echo", ...); nservices entries */
    size_t nservices;
    char *scopes; /* MCP_SCOPES as one space-separated string */
    bool debug;
    /* Registration abuse controls. */
    long long register_ip_limit, register_ip_window, register_max_clients, unused_client_ttl;
    struct ip_allowlist *register_trusted; /* REGISTRATION_TRUSTED_NETWORKS: no per-IP limit; NULL: none */
    long long refresh_grace_seconds;
};

/* Per worker thread (struct worker.role_data). */
struct auth_worker {
    struct worker *worker;
    struct redis_client *redis;
    struct http_client *http;
    void *cimd_cache; /* client_store.c: cached client ID metadata documents */
};

/* The state and this thread's clients, for handlers. Borrowed. */
const struct auth_state *auth_state(void);
struct auth_worker *auth_worker(void);

/* ---- helpers shared by the endpoint files (auth_util.c) ---- */

/* "<prefix><kind><id>", e.g. auth_key(ex, "client:", id) -> "oauth:client:abc". Lives in the
 * exchange's arena. */
char *auth_key(struct http_exchange *ex, const char *kind, const char *id);
/* The same as a new string the caller frees. */
char *auth_key_alloc(const char *kind, const char *id);

/* Send a Redis command on this worker's client. On refusal (Redis down) answers 503 JSON
 * {"error":"temporarily_unavailable"} with the log line "Could not connect to Redis" and
 * returns false (cb will not run). argv strings are copied. */
bool auth_redis(struct http_exchange *ex, redis_callback_fn cb, void *arg, int argc, const char **argv);
/* In a Redis callback: when result is not GW_OK, answer 503 as above and return true. */
bool auth_redis_failed(struct http_exchange *ex, const struct redis_result *result);
/* The 503 itself (Redis unavailable). */
void auth_respond_unavailable(struct http_exchange *ex, const char *why);

/* OAuth error JSON with Cache-Control: no-store (and WWW-Authenticate Basic for 401 from
 * client authentication when basic is true). */
void auth_respond_oauth_error(struct http_exchange *ex, int status, const char *error,
                              const char *description);
/* A JSON body with Cache-Control: no-store. json is copied. */
void auth_respond_json_nostore(struct http_exchange *ex, int status, const char *json);

/* Current Unix time in seconds and milliseconds. */
long long auth_now(void);
long long auth_now_ms(void);

/* An authentication failure of a user or client: counts auth_failures_total{reason} and logs
 * "authentication failed: WHAT" at ERROR with `reason` and the given fields (at most
 * AUTH_FAILURE_FIELDS_MAX; never a token or secret). */
#define AUTH_FAILURE_FIELDS_MAX 6
void auth_authentication_failed(const char *reason, const char *what, const struct log_field *fields,
                                int nfields);
/* Count a request made by an OAuth client (auth_client_requests_total{client_id}, capped). */
void auth_count_client_request(const char *client_id);
/* Count issued tokens by grant type / registrations by result. */
void auth_count_token_issued(const char *grant_type);
void auth_count_registration(const char *result);
/* Register the auth metrics (setup) and start the active-token gauge refresher (worker 0). */
void auth_metrics_register(void);
void auth_metrics_worker_start(struct auth_worker *w);
void auth_metrics_worker_stop(struct auth_worker *w);

#endif
