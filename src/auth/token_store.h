/*
 * token_store.h - authorization codes, access-token records and refresh tokens in Redis, in the
 * format of docs/internals/tokens.md (one place for the format: the browser half stores codes
 * through auth_code_store, the token endpoint consumes them).
 */
#ifndef MCPGW_AUTH_TOKEN_STORE_H
#define MCPGW_AUTH_TOKEN_STORE_H

#include <stdbool.h>

#include <jansson.h>

#include "auth/auth.h"

#define AUTH_CODE_TTL 600 /* seconds an authorization code lives */

/* What an authorization code stands for. All strings borrowed for the call. */
struct auth_code_grant {
    const char *client_id;
    const char *redirect_uri;
    const char *code_challenge; /* S256 challenge (43 characters) */
    const char *resource;       /* RFC 8707 resource; may be NULL */
    const char *scope;          /* granted scope; may be NULL */
    const char *sub;            /* "github:<id>" or "local:<name>" */
    const char *username;
    const char *email; /* may be NULL */
};

/* Called once: GW_OK when stored (code is the new code to send to the client: borrowed for the
 * call), or GW_ERR_UNAVAILABLE / GW_ERR_INVALID with code NULL. */
typedef void (*auth_code_stored_fn)(enum gw_err err, const char *code, void *arg);

/*
 * Create a fresh random authorization code for grant and store code:{sha256(code)} with a TTL
 * of AUTH_CODE_TTL on worker w's Redis. cb runs exactly once, later, from the event loop
 * (or before this returns with GW_ERR_UNAVAILABLE when Redis refuses the command).
 */
void auth_code_store(struct auth_worker *w, const struct auth_code_grant *grant, auth_code_stored_fn cb,
                     void *arg);

/* The JSON record of a code (what auth_code_store writes; tests and tools). Caller frees. */
char *auth_code_record_json(const struct auth_code_grant *grant, long long now);

/* ---- tokens (token.c, revoke.c) ---- */

/* Everything an issued token pair stands for. Strings borrowed for the call. */
struct token_grant {
    const char *grant_type; /* "authorization_code" or "refresh_token" (metrics, token:{jti}.grant) */
    const char *client_id;
    const char *sub, *username, *email; /* email may be NULL */
    const char *scope;                  /* may be NULL */
    const char *resource;               /* the audience */
    const char *family;                 /* refresh-token family to extend; NULL: a new family */
    bool with_refresh;                  /* also issue a refresh token */
    bool registered_client;             /* a dynamically registered client: extend its expiry */
};

/* Sign an access token (and create a refresh token), store token:{jti}, user_tokens:{sub},
 * refresh:{hash} and the family index atomically (and, for a registered client, mark it used and
 * move its expiry to now + CLIENT_LIFETIME), and answer the exchange with the RFC 6749 §5.1 JSON
 * (Cache-Control: no-store); 503 when Redis is down, 500 when signing fails. */
void token_issue(struct http_exchange *ex, const struct token_grant *grant);

/* Outcome of presenting a refresh token. */
enum refresh_outcome {
    REFRESH_OK,           /* rotated now; record is the token's record */
    REFRESH_GRACE,        /* already rotated within the grace window: a concurrent refresh */
    REFRESH_INVALID,      /* unknown or expired */
    REFRESH_WRONG_CLIENT, /* issued to another client (nothing changed) */
    REFRESH_REUSED,       /* replayed after the grace window: the whole family was revoked */
};
/* Called with the outcome; record (borrowed for the call) is set for OK and GRACE. On a Redis
 * failure the exchange has been answered (503) and cb is not called. */
typedef void (*refresh_fn)(struct http_exchange *ex, enum refresh_outcome outcome, json_t *record, void *arg);
void token_refresh_consume(struct http_exchange *ex, const char *refresh_token, const char *client_id,
                           refresh_fn cb, void *arg);

/* Revoke an access token by jti (docs/internals/tokens.md: revoked:{jti}, DEL token:{jti},
 * ZADD revocations). Then cb(ex, arg); on a Redis failure the exchange has been answered. */
typedef void (*revoke_done_fn)(struct http_exchange *ex, bool revoked, void *arg);
void token_revoke_jti(struct http_exchange *ex, const char *jti, long long exp, revoke_done_fn cb, void *arg);
/* Revoke the family of a refresh token if it belongs to client_id (client_id NULL: any). */
void token_revoke_refresh(struct http_exchange *ex, const char *refresh_token, const char *client_id,
                          revoke_done_fn cb, void *arg);

#endif
