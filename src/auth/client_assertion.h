/*
 * client_assertion.h - private_key_jwt client authentication (RFC 7523 §2.2, §3; RFC 7521 §4.2)
 * for metadata-document clients that publish their keys (ChatGPT's connectors do).
 *
 * The client sends client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer
 * and client_assertion=<JWT signed with its private key>. We accept the assertion when:
 *  - its signature verifies with a key of the client's key set (client_store_get_keys), by kid,
 *    with the key's own algorithm (RS256 or ES256; "none" and HMAC never);
 *  - iss and sub are the client_id;
 *  - aud names this authorization server: its issuer, its token endpoint, or the endpoint the
 *    request was sent to;
 *  - exp is present and not past, and at most CLIENT_ASSERTION_MAX_LIFETIME ahead (leeway as
 *    for tokens); nbf/iat are not in the future;
 *  - jti is present and was not used before (remembered in Redis until exp).
 */
#ifndef MCPGW_AUTH_CLIENT_ASSERTION_H
#define MCPGW_AUTH_CLIENT_ASSERTION_H

#include "auth/auth.h"
#include "auth/client_meta.h"

#define CLIENT_ASSERTION_TYPE_JWT_BEARER "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define CLIENT_ASSERTION_MAX_LIFETIME 3600 /* seconds; bounds how long a jti is remembered */

enum client_assertion_result {
    CLIENT_ASSERTION_OK,
    CLIENT_ASSERTION_REFUSED,     /* reason (metric label) and description say why */
    CLIENT_ASSERTION_UNAVAILABLE, /* Redis is down: the jti cannot be checked */
};

/* reason and description are static or live in the exchange's arena. */
typedef void (*client_assertion_fn)(struct http_exchange *ex, enum client_assertion_result result,
                                    const char *reason, const char *description, void *arg);

/* Check assertion (borrowed for the call) for client (borrowed until cb runs). cb runs exactly
 * once, maybe before this returns. */
void client_assertion_verify(struct http_exchange *ex, const struct auth_client *client, const char *assertion,
                             client_assertion_fn cb, void *arg);

/* The "sub" of an assertion, read without verifying anything, to find the client when the
 * request does not name it (RFC 7521 §4.2 makes client_id optional then). An arena string, or
 * NULL when the assertion is not a JWT with a string sub. */
const char *client_assertion_subject(struct http_exchange *ex, const char *assertion);

#endif
