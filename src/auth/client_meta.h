/*
 * client_meta.h - OAuth client metadata: registration validation (RFC 7591 §2), the client
 * record kept in Redis, and redirect-URI rules (exact match, RFC 8252 §7.3 loopback ports).
 *
 * Pure functions (no I/O, no global state): used by registration.c, client_store.c, the
 * browser half at /authorize, the unit tests and the fuzz target fuzz_auth_register.c.
 */
#ifndef MCPGW_AUTH_CLIENT_META_H
#define MCPGW_AUTH_CLIENT_META_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/err.h"

#define CLIENT_META_MAX_BODY (16 * 1024)      /* bytes of a registration request body */
#define CLIENT_META_MAX_REDIRECT_URIS 10      /* redirect URIs per client */
#define CLIENT_META_MAX_REDIRECT_URI_LEN 2000 /* bytes per redirect URI */
#define CLIENT_META_MAX_STRING 1000           /* other string fields (client_name, ...) */

/* An OAuth client as every part of auth sees it (registered, static or metadata document). */
struct auth_client {
    char *client_id;
    char *client_name;    /* may be NULL */
    char **redirect_uris; /* nredirect_uris entries */
    size_t nredirect_uris;
    char *token_endpoint_auth_method; /* "none", "client_secret_post", "client_secret_basic",
                                         "private_key_jwt" (metadata documents only) */
    char *scope;                      /* requested at registration; may be NULL */
    char *secret_hash;                /* crypto_sha256_b64url of the secret; NULL for public clients */
    char *registration_token_hash;    /* RFC 7592 token hash; NULL for static and CIMD clients */
    bool grant_refresh;               /* refresh_token among grant_types */
    bool is_static, is_cimd;
    bool public_fallback;             /* private_key_jwt, or none when no assertion is sent */
    bool used;                        /* a token was issued to it at least once */
    long long created_at, expires_at; /* expires_at 0: never */
    json_t *record;                   /* the full stored record (owned) */
};

/* Free a client and everything it owns. NULL is fine. */
void auth_client_free(struct auth_client *client);

/* Build a client from its stored record (a JSON object, borrowed; the client keeps its own
 * reference). GW_ERR_INVALID when the record lacks client_id or redirect_uris. */
enum gw_err auth_client_from_record(json_t *record, struct auth_client **out);

/* For private_key_jwt (RFC 7523): whether meta (registration metadata or a metadata document)
 * names keys an assertion can be checked with: an inline "jwks" with a usable RS256/ES256 public
 * key, or an https "jwks_uri" (fetched when an assertion arrives), not both; and, if present, a
 * token_endpoint_auth_signing_alg of RS256 or ES256. On false *why is a static sentence. */
bool client_meta_keys_valid(const json_t *meta, const char **why);

/*
 * Validate registration metadata body[0..len) (RFC 7591 §2). On success *out is a new JSON
 * object holding only the accepted, normalised fields (redirect_uris, token_endpoint_auth_method,
 * grant_types, response_types, client_name, client_uri, logo_uri, scope, contacts, tos_uri,
 * policy_uri, software_id, software_version, application_type; for private_key_jwt also jwks or
 * jwks_uri and token_endpoint_auth_signing_alg), defaults filled in; the caller
 * json_decref()s it. On failure *out is NULL, *error is "invalid_redirect_uri" or
 * "invalid_client_metadata" and *description a static sentence.
 */
enum gw_err client_meta_validate(const char *body, size_t len, json_t **out, const char **error,
                                 const char **description);

/* Whether uri is acceptable as a registered redirect URI: https with a host, http on a
 * loopback host (localhost, 127.0.0.1, [::1]), or a private-use scheme (RFC 8252 §7.1); no
 * fragment, no userinfo, at most CLIENT_META_MAX_REDIRECT_URI_LEN bytes. *why gets a reason. */
bool redirect_uri_registrable(const char *uri, const char **why);

/*
 * Whether the redirect URI sent in a request matches one registered URI: byte-for-byte equal,
 * or, when the registered URI is http on a loopback IP literal or localhost (RFC 8252 §7.3),
 * equal except for the port (scheme, host, path and query still exact; localhost never
 * matches 127.0.0.1). Requested URIs with a fragment or userinfo never match.
 */
bool redirect_uri_matches(const char *registered, const char *requested);
/* redirect_uri_matches against every registered URI of client. */
bool auth_client_redirect_allowed(const struct auth_client *client, const char *requested);

/* The stable hash (base64url SHA-256) of validated metadata, for idempotent registration.
 * out: 44 bytes. */
void client_meta_hash(const json_t *metadata, char out[44]);

#endif
