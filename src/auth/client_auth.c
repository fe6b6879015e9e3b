/*
 * client_auth.c - OAuth client authentication (RFC 6749 §2.3): client_secret_basic,
 * client_secret_post, private_key_jwt (RFC 7523, client_assertion.c) and none for public
 * clients. Secrets are compared as hashes in constant time; an unknown client is 401
 * invalid_client so that SDKs register again.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/client_assertion.h"
#include "auth/client_store.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/urlform.h"

struct client_auth {
    struct http_exchange *ex;
    const char *client_id; /* arena; NULL until the request names one */
    char *secret;          /* arena */
    size_t secret_len;
    const char *assertion; /* arena; a private_key_jwt client_assertion */
    bool basic, require_secret;
    struct auth_client *client; /* owned while its assertion is checked */
    client_auth_fn cb;
    void *arg;
};

static void refuse(struct client_auth *ca, const char *reason, const char *description)
{
    auth_authentication_failed(reason, "client authentication refused",
                               (struct log_field[]){log_str("client_id", ca->client_id ? ca->client_id : ""),
                                                    log_str("path", http_request(ca->ex)->path)},
                               2);
    if (ca->basic)
        http_response_header(ca->ex, "WWW-Authenticate", "Basic realm=\"mcpgw\"");
    auth_respond_oauth_error(ca->ex, 401, "invalid_client", description);
}

static void assertion_checked(struct http_exchange *ex, enum client_assertion_result result, const char *reason,
                              const char *description, void *arg)
{
    (void)ex;
    struct client_auth *ca = arg;
    struct auth_client *client = ca->client;
    ca->client = NULL;
    if (result == CLIENT_ASSERTION_UNAVAILABLE) {
        auth_client_free(client);
        auth_respond_unavailable(ca->ex, description);
        return;
    }
    if (result != CLIENT_ASSERTION_OK) {
        auth_client_free(client);
        refuse(ca, reason, description);
        return;
    }
    auth_count_client_request(client->client_id);
    ca->cb(ca->ex, client, ca->arg);
}

static void client_found(enum gw_err err, struct auth_client *client, const char *why, void *arg)
{
    struct client_auth *ca = arg;
    if (err == GW_ERR_UNAVAILABLE) {
        auth_respond_unavailable(ca->ex, why);
        return;
    }
    if (err != GW_OK) {
        refuse(ca, "unknown_client", err == GW_ERR_INVALID && why ? why : "Unknown client");
        return;
    }
    http_exchange_set_identity(ca->ex, NULL, client->client_id);
    bool key_client = client->token_endpoint_auth_method &&
                      strcmp(client->token_endpoint_auth_method, "private_key_jwt") == 0;
    if (key_client && ca->assertion) {
        ca->client = client;
        client_assertion_verify(ca->ex, client, ca->assertion, assertion_checked, ca);
        return;
    }
    if (ca->assertion || (key_client && (ca->secret || ca->require_secret || !client->public_fallback))) {
        refuse(ca, ca->assertion ? "bad_client_auth_method" : "missing_client_assertion",
               ca->assertion ? "This client does not authenticate with private_key_jwt"
                             : "This client authenticates with a client_assertion (private_key_jwt)");
        auth_client_free(client);
        return;
    }
    if (client->secret_hash) {
        if (!ca->secret || !auth_client_secret_ok(client, ca->secret, ca->secret_len)) {
            refuse(ca, ca->secret ? "bad_client_secret" : "missing_client_secret",
                   "Client authentication failed");
            auth_client_free(client);
            return;
        }
    } else if (ca->secret || ca->require_secret) {
        refuse(ca, "bad_client_auth_method",
               ca->require_secret ? "This endpoint needs a confidential client"
                                  : "This client has no secret");
        auth_client_free(client);
        return;
    }
    auth_count_client_request(client->client_id);
    ca->cb(ca->ex, client, ca->arg);
}

void client_authenticate(struct http_exchange *ex, const struct client_credentials *cred, bool require_secret,
                         client_auth_fn cb, void *arg)
{
    struct client_auth *ca = http_exchange_alloc(ex, sizeof(*ca));
    memset(ca, 0, sizeof(*ca));
    ca->ex = ex;
    ca->cb = cb;
    ca->arg = arg;
    ca->require_secret = require_secret;
    const char *client_id = cred->client_id;
    const char *post_secret = cred->client_secret;
    const char *authz = http_header(ex, "Authorization");
    if (http_header_count(ex, "Authorization") > 1) {
        auth_respond_oauth_error(ex, 400, "invalid_request", "Repeated client credentials");
        return;
    }
    bool basic = authz && strncasecmp(authz, "Basic ", 6) == 0;
    if (cred->client_assertion || cred->client_assertion_type) {
        if (!cred->client_assertion || !cred->client_assertion_type ||
            strcmp(cred->client_assertion_type, CLIENT_ASSERTION_TYPE_JWT_BEARER) != 0) {
            auth_respond_oauth_error(ex, 400, "invalid_request",
                                     "client_assertion_type must be " CLIENT_ASSERTION_TYPE_JWT_BEARER
                                     ", with a client_assertion");
            return;
        }
        if (basic || post_secret) {
            auth_respond_oauth_error(ex, 400, "invalid_request", "Use one client authentication method");
            return;
        }
        ca->assertion = http_exchange_strdup(ex, cred->client_assertion);
        if (!client_id)
            client_id = client_assertion_subject(ex, cred->client_assertion);
    }
    if (basic) {
        ca->basic = true;
        if (post_secret) {
            auth_respond_oauth_error(ex, 400, "invalid_request", "Use one client authentication method");
            return;
        }
        const char *b64 = authz + 6;
        while (*b64 == ' ')
            b64++;
        unsigned char *raw = NULL;
        size_t raw_len = 0;
        char *colon = NULL;
        if (base64_decode(b64, strlen(b64), false, &raw, &raw_len) != GW_OK ||
            !(colon = memchr(raw, ':', raw_len))) {
            free(raw);
            refuse(ca, "malformed_client_auth", "Malformed Basic credentials");
            return;
        }
        char *id = NULL, *secret = NULL;
        size_t secret_len = 0;
        enum gw_err e1 = url_decode((char *)raw, (size_t)(colon - (char *)raw), true, &id, NULL);
        enum gw_err e2 =
            url_decode(colon + 1, raw_len - (size_t)(colon + 1 - (char *)raw), true, &secret, &secret_len);
        crypto_wipe(raw, raw_len);
        free(raw);
        if (e1 || e2 || (client_id && strcmp(client_id, id) != 0)) {
            free(id);
            if (secret)
                crypto_wipe(secret, secret_len);
            free(secret);
            refuse(ca, "malformed_client_auth", "Malformed Basic credentials");
            return;
        }
        client_id = http_exchange_strdup(ex, id);
        ca->secret = http_exchange_strdup(ex, secret);
        ca->secret_len = secret_len;
        crypto_wipe(secret, secret_len);
        free(secret);
        free(id);
    } else if (post_secret) {
        ca->secret = http_exchange_strdup(ex, post_secret);
        ca->secret_len = strlen(post_secret);
    }
    /* Copied: the caller's form fields may be gone when the client lookup answers. */
    ca->client_id = client_id ? http_exchange_strdup(ex, client_id) : NULL;
    if (!client_id || !*client_id) {
        refuse(ca, "missing_client_id", "Client authentication is required");
        return;
    }
    client_store_get(auth_worker(), client_id, client_found, ca);
}
