/*
 * client_store.h - finding OAuth clients: pre-registered static clients (configuration),
 * dynamically registered ones (Redis client:{id}, docs/internals/tokens.md), and Client ID
 * Metadata Documents (a client_id that is an https URL with a path, fetched and cached).
 *
 * Runs on a worker thread with that worker's clients (struct auth_worker).
 */
#ifndef MCPGW_AUTH_CLIENT_STORE_H
#define MCPGW_AUTH_CLIENT_STORE_H

#include <stdbool.h>

#include "auth/auth.h"
#include "auth/client_meta.h"
#include "core/config.h"

/*
 * Called once with the result of client_store_get: GW_OK and client (the callback owns it and
 * frees it with auth_client_free), or client NULL and GW_ERR_NOT_FOUND (no such client, or an
 * expired one), GW_ERR_INVALID (a metadata document that could not be fetched or is invalid;
 * *why says why), GW_ERR_UNAVAILABLE (Redis down). why is static or NULL.
 */
typedef void (*client_store_fn)(enum gw_err err, struct auth_client *client, const char *why, void *arg);

/* Look up client_id (borrowed for the call) on worker w. cb may run before this returns (static
 * clients, cached documents) or later from the event loop; it always runs exactly once. */
void client_store_get(struct auth_worker *w, const char *client_id, client_store_fn cb, void *arg);

/*
 * The keys a private_key_jwt metadata-document client signs its assertions with: its document's
 * inline "jwks", or its "jwks_uri" fetched with the same SSRF guard, limits and per-worker cache
 * as documents (Cache-Control max-age). refresh asks for a fresh copy of a cached jwks_uri (an
 * assertion named a kid we do not know: the client may have rotated its keys); a copy fetched
 * less than 30 s ago is reused anyway. cb runs exactly once, maybe before this returns: GW_OK
 * and keys (cb owns them: jwt_keyset_free), cached saying they came from the cache; or
 * GW_ERR_INVALID, keys NULL and why (static).
 */
struct jwt_keyset;
typedef void (*client_keys_fn)(enum gw_err err, struct jwt_keyset *keys, bool cached, const char *why, void *arg);
void client_store_get_keys(struct auth_worker *w, const struct auth_client *client, bool refresh,
                           client_keys_fn cb, void *arg);

/* Whether client_id has the shape of a Client ID Metadata Document URL (https, a host, a path
 * other than "/", no fragment, no userinfo). */
bool client_id_is_metadata_url(const char *client_id);

/* Static clients from configuration (AUTH_STATIC_CLIENTS: a JSON array of {client_id,
 * client_secret_hash (base64url SHA-256) or none, redirect_uris, client_name}). Called at
 * setup; appends "ERROR: ..." lines to errors on bad input. */
enum gw_err client_store_setup(const struct config *cfg, struct buf *errors);
void client_store_teardown(void);
/* Per-worker cache of metadata documents. */
void client_store_worker_init(struct auth_worker *w);
void client_store_worker_fini(struct auth_worker *w);

/* Whether secret[0..len) matches the client's stored hash, in constant time. False for public
 * clients. */
bool auth_client_secret_ok(const struct auth_client *client, const char *secret, size_t len);

/* The client credentials of a request's form; each NULL when absent. */
struct client_credentials {
    const char *client_id, *client_secret;
    const char *client_assertion_type, *client_assertion; /* RFC 7521 §4.2 */
};

/*
 * Client authentication at the token, revocation and introspection endpoints: HTTP Basic
 * (client_secret_basic), client_id + client_secret in the form (client_secret_post), a signed
 * client_assertion (private_key_jwt, metadata-document clients with keys: client_assertion.h),
 * or client_id alone for public clients (none). On success cb runs with the client (cb owns
 * it). On failure the exchange is answered here: 400 invalid_request (malformed or two
 * methods), 401 invalid_client (unknown client, wrong or missing secret or assertion;
 * require_secret refuses public clients), 503 when Redis is down. cred (its strings too) is
 * borrowed for the call; the Authorization header is read here.
 */
typedef void (*client_auth_fn)(struct http_exchange *ex, struct auth_client *client, void *arg);
void client_authenticate(struct http_exchange *ex, const struct client_credentials *cred, bool require_secret,
                         client_auth_fn cb, void *arg);

#endif
