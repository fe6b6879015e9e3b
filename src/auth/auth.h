/*
 * auth.h - what the parts of the authorization server (`mcpgw auth`) share.
 *
 * The role (auth_main.c) owns process-wide state (struct auth_state, immutable after start-up)
 * and per-worker clients (struct auth_worker: Redis, outbound HTTP). Endpoint families live in
 * their own files and are dispatched from auth_main.c:
 *   metadata.c      /.well-known/oauth-authorization-server, /.well-known/openid-configuration,
 *                   /.well-known/oauth-protected-resource[/...], /jwks
 *   registration.c  POST /register, GET/PUT/DELETE /register/{id}        (RFC 7591, 7592)
 *   client_store.c  clients in Redis, static clients, client ID metadata documents
 *   token.c         POST /token (authorization_code, refresh_token), token_store.c records
 *   revoke.c        POST /revoke, POST /introspect                         (RFC 7009, 7662)
 *   verify.c        GET/POST /verify (ForwardAuth)
 *   authorize.c     GET /authorize, consent (GET/POST /consent), login (GitHub, local users),
 *   callback.c      GET /callback, pages.c (HTML, escaped), session cookies
 * Storage keys and token claims follow docs/internals/tokens.md, which the router relies on.
 */
#ifndef MCPGW_AUTH_AUTH_H
#define MCPGW_AUTH_AUTH_H

#include <stdbool.h>

#include "core/config.h"
#include "core/http.h"
#include "core/jwt.h"

struct redis_client;
struct http_client;

/* Process-wide, read-only after auth_setup (shared by all worker threads). */
struct auth_state {
    const struct config *cfg;
    char *issuer;          /* public_url_issuer */
    char *key_prefix;      /* REDIS_KEY_PREFIX, e.g. "oauth:" */
    struct jwt_key *signing_key;
    struct jwt_keyset *keyset; /* public keys published at /jwks and used by /verify */
    long long access_token_lifetime, refresh_token_lifetime, client_lifetime;
};

/* Per worker thread (struct worker.role_data). */
struct auth_worker {
    struct redis_client *redis;
    struct http_client *http;
};

/* The state and this thread's clients, for handlers. Borrowed. */
const struct auth_state *auth_state(void);
struct auth_worker *auth_worker(void);

#endif
