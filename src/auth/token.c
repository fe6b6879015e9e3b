/*
 * token.c - POST /token (RFC 6749 §3.2, OAuth 2.1): the authorization_code grant (single use,
 * bound to client, redirect URI, PKCE S256 verifier and resource) and the refresh_token grant
 * (rotation with a grace window for concurrent refreshes; reuse after it revokes the family).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/browser.h"
#include "auth/client_store.h"
#include "auth/endpoints.h"
#include "auth/token_params.h"
#include "auth/token_store.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/public_url.h"
#include "core/redis.h"
#include "core/urlform.h"

struct token_request {
    struct http_exchange *ex;
    const char *grant_type, *code, *redirect_uri, *code_verifier, *refresh_token, *scope, *resource;
    /* the authenticated client (copied from struct auth_client) */
    const char *client_id;
    bool client_refresh, registered_client;
    /* a refresh refused because the user is no longer allowed (for the log) */
    const char *refused_user, *refused_why;
};

static const char *arena_dup(struct http_exchange *ex, const char *s)
{
    return s ? http_exchange_strdup(ex, s) : NULL;
}

static void fail(struct token_request *tr, int status, const char *error, const char *description,
                 const char *reason)
{
    auth_authentication_failed(
        reason, "token request refused",
        (struct log_field[]){log_str("error", error),
                             log_str("client_id", tr->client_id ? tr->client_id : ""),
                             log_str("grant_type", tr->grant_type ? tr->grant_type : "")},
        3);
    auth_respond_oauth_error(tr->ex, status, error, description);
}

/* Whether every scope in requested is in granted (space-separated lists). */
static bool scope_subset(const char *requested, const char *granted)
{
    char *copy = gw_strdup(requested);
    bool ok = true;
    for (char *save = NULL, *tok = strtok_r(copy, " ", &save); tok && ok; tok = strtok_r(NULL, " ", &save)) {
        bool found = false;
        size_t n = strlen(tok);
        for (const char *g = granted; g && *g && !found;) {
            size_t m = strcspn(g, " ");
            found = m == n && strncmp(g, tok, n) == 0;
            g += m;
            while (*g == ' ')
                g++;
        }
        ok = found;
    }
    free(copy);
    return ok;
}

/* The resource of a code record without one: the service the request's resource names, else
 * the only/first enabled service. NULL when nothing fits. */
static const char *default_resource(struct token_request *tr)
{
    const struct auth_state *st = auth_state();
    if (tr->resource)
        return auth_resource_audience(tr->ex, tr->resource);
    return st->nservices ? st->resources[0] : NULL;
}

/* The audience to issue for the resource of a grant: its service's published resource (what the
 * router checks), or the grant's own value when no enabled service is it any more. */
static const char *grant_audience(struct token_request *tr, const char *resource)
{
    const char *known = auth_resource_audience(tr->ex, resource);
    return known ? known : resource;
}

/* ---- authorization_code ---- */

static void code_consumed(const struct redis_result *result, void *arg)
{
    struct token_request *tr = arg;
    if (auth_redis_failed(tr->ex, result))
        return;
    if (result->reply->type != REDIS_REPLY_STRING) {
        fail(tr, 400, "invalid_grant", "The authorization code is invalid, expired or already used",
             "invalid_code");
        return;
    }
    json_error_t jerr;
    json_t *rec = json_loadb(result->reply->str, result->reply->len, 0, &jerr);
    const char *client_id = json_string_value(json_object_get(rec, "client_id"));
    const char *redirect_uri = json_string_value(json_object_get(rec, "redirect_uri"));
    const char *challenge = json_string_value(json_object_get(rec, "code_challenge"));
    const char *resource = json_string_value(json_object_get(rec, "resource"));
    const char *sub = json_string_value(json_object_get(rec, "sub"));
    if (!client_id || !redirect_uri || !challenge || !sub) {
        fail(tr, 400, "invalid_grant", "The authorization code is invalid", "invalid_code");
    } else if (strcmp(client_id, tr->client_id) != 0) {
        fail(tr, 400, "invalid_grant", "The authorization code was issued to another client",
             "code_wrong_client");
    } else if (strcmp(redirect_uri, tr->redirect_uri) != 0) {
        fail(tr, 400, "invalid_grant", "redirect_uri does not match the authorization request",
             "redirect_uri_mismatch");
    } else if (!pkce_s256_matches(tr->code_verifier, strlen(tr->code_verifier), challenge,
                                  strlen(challenge))) {
        fail(tr, 400, "invalid_grant", "PKCE verification failed", "pkce_failed");
    } else if (resource && tr->resource && !public_url_same_resource(resource, tr->resource)) {
        fail(tr, 400, "invalid_target", "resource does not match the authorization request",
             "resource_mismatch");
    } else {
        resource = resource ? grant_audience(tr, resource) : default_resource(tr);
        if (!resource) {
            fail(tr, 400, "invalid_target", "Unknown resource", "unknown_resource");
        } else {
            struct token_grant g = {
                .grant_type = "authorization_code",
                .client_id = tr->client_id,
                .sub = sub,
                .username = json_string_value(json_object_get(rec, "username")),
                .email = json_string_value(json_object_get(rec, "email")),
                .scope = json_string_value(json_object_get(rec, "scope")),
                .resource = resource,
                .with_refresh = tr->client_refresh,
                .registered_client = tr->registered_client,
            };
            http_exchange_set_identity(tr->ex, g.username, tr->client_id);
            token_issue(tr->ex, &g);
        }
    }
    json_decref(rec);
}

static void authorization_code_grant(struct token_request *tr)
{
    char hash[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(tr->code, strlen(tr->code), hash);
    const char *argv[] = {"GETDEL", auth_key(tr->ex, "code:", hash)};
    auth_redis(tr->ex, code_consumed, tr, 2, argv);
}

/* ---- refresh_token ---- */

static void user_grant_revoked(struct http_exchange *ex, bool revoked, void *arg)
{
    (void)ex;
    (void)revoked; /* already gone (a concurrent refresh of the same grant revoked it): the same answer */
    struct token_request *tr = arg;
    http_exchange_set_identity(tr->ex, tr->refused_user, tr->client_id);
    auth_authentication_failed(
        "user_not_allowed", "refresh refused: user no longer allowed; grant revoked",
        (struct log_field[]){log_str("error", "invalid_grant"), log_str("client_id", tr->client_id),
                             log_str("grant_type", tr->grant_type), log_str("user", tr->refused_user),
                             log_str("detail", tr->refused_why)},
        5);
    auth_respond_oauth_error(tr->ex, 400, "invalid_grant", "The user is no longer allowed to sign in");
}

/*
 * The allow-list is not only a login check: at every refresh the token's user must still be
 * allowed as the configuration stands (user_policy.h). If not, the whole grant is revoked (its
 * refresh token and every access token it led to, which routers learn from `revocations`), so
 * a removed user is out at the next refresh. Returns true to go on; otherwise the exchange is
 * answered (or will be, once the revocation is done).
 */
static bool user_still_allowed(struct token_request *tr, const char *sub, const char *username)
{
    const char *why = NULL;
    enum gw_err err = browser_user_still_allowed(sub, username, &why);
    if (err == GW_OK)
        return true;
    if (err == GW_ERR_IO) {
        /* The server's problem, not the user's: decide nothing and revoke nothing. The token was
         * rotated, so a retry within REFRESH_GRACE_PERIOD still works. */
        log_write(LOG_ERROR, "Refresh refused for now: cannot tell whether the user is still allowed",
                  (struct log_field[]){log_str("detail", why), log_str("client_id", tr->client_id)}, 2);
        http_response_header(tr->ex, "Retry-After", "5");
        auth_respond_oauth_error(tr->ex, 503, "temporarily_unavailable",
                                 "The authorization server cannot check the user right now");
        return false;
    }
    tr->refused_user = arena_dup(tr->ex, username ? username : "");
    tr->refused_why = why;
    token_revoke_refresh(tr->ex, tr->refresh_token, tr->client_id, user_grant_revoked, tr);
    return false;
}

static void refresh_checked(struct http_exchange *ex, enum refresh_outcome outcome, json_t *rec, void *arg)
{
    (void)ex;
    struct token_request *tr = arg;
    switch (outcome) {
    case REFRESH_INVALID:
        fail(tr, 400, "invalid_grant", "The refresh token is invalid or expired", "invalid_refresh_token");
        return;
    case REFRESH_WRONG_CLIENT:
        fail(tr, 400, "invalid_grant", "The refresh token was issued to another client",
             "refresh_wrong_client");
        return;
    case REFRESH_REUSED:
        log_write(LOG_WARNING, "Refresh token reuse detected; token family revoked",
                  (struct log_field[]){log_str("client_id", tr->client_id)}, 1);
        fail(tr, 400, "invalid_grant", "The refresh token was already used", "refresh_token_reuse");
        return;
    case REFRESH_OK:
    case REFRESH_GRACE:
        break;
    }
    if (!user_still_allowed(tr, json_string_value(json_object_get(rec, "sub")),
                            json_string_value(json_object_get(rec, "username"))))
        return;
    const char *granted = json_string_value(json_object_get(rec, "scope"));
    const char *resource = json_string_value(json_object_get(rec, "resource"));
    if (tr->scope && !scope_subset(tr->scope, granted ? granted : "")) {
        fail(tr, 400, "invalid_scope", "scope exceeds the original grant", "scope_exceeded");
        return;
    }
    if (tr->resource && !public_url_same_resource(tr->resource, resource)) {
        fail(tr, 400, "invalid_target", "resource does not match the original grant", "resource_mismatch");
        return;
    }
    struct token_grant g = {
        .grant_type = "refresh_token",
        .client_id = tr->client_id,
        .sub = json_string_value(json_object_get(rec, "sub")),
        .username = json_string_value(json_object_get(rec, "username")),
        .email = json_string_value(json_object_get(rec, "email")),
        .scope = tr->scope ? tr->scope : granted,
        .resource = resource ? grant_audience(tr, resource) : NULL,
        .family = json_string_value(json_object_get(rec, "family")),
        .with_refresh = true,
        .registered_client = tr->registered_client,
    };
    if (!g.sub || !g.resource || !g.family) {
        fail(tr, 400, "invalid_grant", "The refresh token is invalid", "invalid_refresh_token");
        return;
    }
    http_exchange_set_identity(tr->ex, g.username, tr->client_id);
    token_issue(tr->ex, &g);
}

/* ---- the endpoint ---- */

static void client_ok(struct http_exchange *ex, struct auth_client *client, void *arg)
{
    (void)ex;
    struct token_request *tr = arg;
    tr->client_id = arena_dup(tr->ex, client->client_id);
    tr->client_refresh = client->grant_refresh;
    tr->registered_client = !client->is_static && !client->is_cimd;
    auth_client_free(client);
    if (strcmp(tr->grant_type, "authorization_code") == 0) {
        authorization_code_grant(tr);
    } else if (!tr->client_refresh) {
        fail(tr, 400, "unauthorized_client", "This client may not use refresh tokens", "grant_not_allowed");
    } else {
        token_refresh_consume(tr->ex, tr->refresh_token, tr->client_id, refresh_checked, tr);
    }
}

void token_handle(struct http_exchange *ex)
{
    const struct http_request *req = http_request(ex);
    struct token_request *tr = http_exchange_alloc(ex, sizeof(*tr));
    memset(tr, 0, sizeof(*tr));
    tr->ex = ex;
    struct token_params p;
    const char *error, *description;
    if (token_params_parse(http_header(ex, "Content-Type"), req->body, req->body_len, &p, &error,
                           &description)) {
        const char *reason = strcmp(error, "unsupported_grant_type") == 0 ? "unsupported_grant_type"
                             : strstr(description, "PKCE") || strstr(description, "code_verifier")
                                 ? "pkce_failed"
                                 : "bad_request";
        fail(tr, 400, error, description, reason);
        return;
    }
    tr->grant_type = arena_dup(ex, p.grant_type);
    tr->code = arena_dup(ex, p.code);
    tr->redirect_uri = arena_dup(ex, p.redirect_uri);
    tr->code_verifier = arena_dup(ex, p.code_verifier);
    tr->refresh_token = arena_dup(ex, p.refresh_token);
    tr->scope = arena_dup(ex, p.scope);
    tr->resource = arena_dup(ex, p.resource);
    struct client_credentials cred = {.client_id = p.client_id,
                                      .client_secret = p.client_secret,
                                      .client_assertion_type = p.client_assertion_type,
                                      .client_assertion = p.client_assertion};
    client_authenticate(ex, &cred, false, client_ok, tr);
    token_params_free(&p);
}
