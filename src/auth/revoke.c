/*
 * revoke.c - POST /revoke (RFC 7009) and POST /introspect (RFC 7662).
 *
 * Revocation answers 200 whether or not the token was known (§2.2), and only revokes tokens of
 * the authenticated client. Access tokens are revoked by jti as docs/internals/tokens.md says;
 * a refresh token revokes its whole family (the access tokens it led to included).
 * Introspection needs a confidential client and reports a revoked token as inactive; a
 * registered client sees only its own tokens, a pre-registered (static) one any token.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/client_store.h"
#include "auth/endpoints.h"
#include "auth/token_store.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/redis.h"
#include "core/urlform.h"

struct token_op {
    struct http_exchange *ex;
    const char *token;
    json_t *claims; /* verified access-token claims, or NULL (introspect; freed before answering) */
    const char *client_id;
    bool may_see_all; /* introspection by a pre-registered (static) client: any token */
};

/* A registered client learns only about its own tokens; pre-registered resource servers about
 * any (dynamic registration is open to anyone, so it must not grant a view of other grants). */
static bool introspection_allowed(const struct token_op *op, const json_t *obj)
{
    const char *owner = json_string_value(json_object_get(obj, "client_id"));
    return op->may_see_all || (owner && strcmp(owner, op->client_id) == 0);
}

static bool looks_like_jwt(const char *token)
{
    const char *dot = strchr(token, '.');
    return dot && strchr(dot + 1, '.') && strlen(token) <= JWT_MAX_TOKEN_LEN;
}

/* Verify one of our access tokens (signature and issuer; expiry with the usual leeway). */
static enum jwt_result verify_ours(const char *token, json_t **claims)
{
    struct jwt_verify_options opts = JWT_VERIFY_OPTIONS_DEFAULT;
    opts.issuer = auth_state()->issuer;
    return jwt_verify(auth_state()->keyset, token, strlen(token), &opts, claims);
}

/* Parse the form and pick out "token"; answers 400 and returns NULL on bad input. The form is
 * returned in *form (caller frees). */
static struct token_op *parse_token_form(struct http_exchange *ex, struct form *form)
{
    const struct http_request *req = http_request(ex);
    const char *ctype = http_header(ex, "Content-Type");
    if (!ctype || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0) {
        auth_respond_oauth_error(ex, 400, "invalid_request",
                                 "The body must be application/x-www-form-urlencoded");
        return NULL;
    }
    if (form_parse(req->body, req->body_len, form) != GW_OK || form_first_repeated(form)) {
        form_free(form);
        auth_respond_oauth_error(ex, 400, "invalid_request", "Malformed or repeated parameters");
        return NULL;
    }
    const char *token = form_get(form, "token");
    if (!token || !*token) {
        form_free(form);
        auth_respond_oauth_error(ex, 400, "invalid_request", "token is required");
        return NULL;
    }
    struct token_op *op = http_exchange_alloc(ex, sizeof(*op));
    memset(op, 0, sizeof(*op));
    op->ex = ex;
    op->token = http_exchange_strdup(ex, token);
    return op;
}

/* ---- revoke ---- */

static void revoke_answer(struct http_exchange *ex, bool revoked, void *arg)
{
    struct token_op *op = arg;
    if (revoked)
        log_write(LOG_INFO, "Token revoked", (struct log_field[]){log_str("client_id", op->client_id)}, 1);
    http_response_header(ex, "Cache-Control", "no-store");
    http_respond(ex, 200, NULL, NULL, 0);
}

static void revoke_client_ok(struct http_exchange *ex, struct auth_client *client, void *arg)
{
    struct token_op *op = arg;
    op->client_id = http_exchange_strdup(ex, client->client_id);
    auth_client_free(client);
    if (looks_like_jwt(op->token)) {
        json_t *claims = NULL;
        enum jwt_result r = verify_ours(op->token, &claims);
        const char *owner = json_string_value(json_object_get(claims, "client_id"));
        const char *jti = json_string_value(json_object_get(claims, "jti"));
        json_t *exp = json_object_get(claims, "exp");
        if (r != JWT_OK || !owner || !jti || strcmp(owner, op->client_id) != 0 || !json_is_integer(exp)) {
            json_decref(claims);
            revoke_answer(ex, false, op); /* unknown, expired or another client's: nothing to do */
            return;
        }
        const char *jti_copy = http_exchange_strdup(ex, jti);
        long long exp_value = (long long)json_integer_value(exp);
        json_decref(claims);
        token_revoke_jti(ex, jti_copy, exp_value, revoke_answer, op);
        return;
    }
    token_revoke_refresh(ex, op->token, op->client_id, revoke_answer, op);
}

static struct client_credentials form_credentials(const struct form *form)
{
    return (struct client_credentials){.client_id = form_get(form, "client_id"),
                                       .client_secret = form_get(form, "client_secret"),
                                       .client_assertion_type = form_get(form, "client_assertion_type"),
                                       .client_assertion = form_get(form, "client_assertion")};
}

void revoke_handle(struct http_exchange *ex)
{
    struct form form = {0};
    struct token_op *op = parse_token_form(ex, &form);
    if (!op)
        return;
    struct client_credentials cred = form_credentials(&form);
    client_authenticate(ex, &cred, false, revoke_client_ok, op);
    form_free(&form);
}

/* ---- introspect ---- */

static void inactive(struct http_exchange *ex)
{
    auth_respond_json_nostore(ex, 200, "{\"active\":false}");
}

static void introspect_revocation_checked(const struct redis_result *result, void *arg)
{
    struct token_op *op = arg;
    json_t *claims = op->claims;
    op->claims = NULL;
    if (auth_redis_failed(op->ex, result)) {
        json_decref(claims);
        return;
    }
    if (result->reply->type != REDIS_REPLY_INTEGER || result->reply->integer != 0 ||
        !introspection_allowed(op, claims)) {
        json_decref(claims);
        inactive(op->ex);
        return;
    }
    json_object_set_new(claims, "active", json_true());
    json_object_set_new(claims, "token_type", json_string("Bearer"));
    char *json = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(claims);
    auth_respond_json_nostore(op->ex, 200, json ? json : "{\"active\":false}");
    free(json);
}

static void introspect_refresh_found(const struct redis_result *result, void *arg)
{
    struct token_op *op = arg;
    if (auth_redis_failed(op->ex, result))
        return;
    json_error_t jerr;
    json_t *rec = result->reply->type == REDIS_REPLY_STRING
                      ? json_loadb(result->reply->str, result->reply->len, 0, &jerr)
                      : NULL;
    if (!rec || json_object_get(rec, "replaced_at") || !introspection_allowed(op, rec)) {
        json_decref(rec);
        inactive(op->ex);
        return;
    }
    json_t *out =
        json_pack("{s:b, s:s, s:O, s:O, s:O, s:O}", "active", 1, "token_type", "refresh_token", "client_id",
                  json_object_get(rec, "client_id"), "sub", json_object_get(rec, "sub"), "username",
                  json_object_get(rec, "username"), "scope", json_object_get(rec, "scope"));
    json_decref(rec);
    char *json = out ? json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(out);
    auth_respond_json_nostore(op->ex, 200, json ? json : "{\"active\":false}");
    free(json);
}

static void introspect_client_ok(struct http_exchange *ex, struct auth_client *client, void *arg)
{
    struct token_op *op = arg;
    op->client_id = http_exchange_strdup(ex, client->client_id);
    op->may_see_all = client->is_static;
    auth_client_free(client);
    if (looks_like_jwt(op->token)) {
        json_t *claims = NULL;
        const char *jti = NULL;
        if (verify_ours(op->token, &claims) != JWT_OK ||
            !(jti = json_string_value(json_object_get(claims, "jti")))) {
            json_decref(claims);
            inactive(ex);
            return;
        }
        op->claims = claims;
        const char *argv[] = {"EXISTS", auth_key(ex, "revoked:", jti)};
        if (!auth_redis(ex, introspect_revocation_checked, op, 2, argv))
            json_decref(claims); /* answered 503; op went with the exchange */
        return;
    }
    char hash[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(op->token, strlen(op->token), hash);
    const char *argv[] = {"GET", auth_key(ex, "refresh:", hash)};
    auth_redis(ex, introspect_refresh_found, op, 2, argv);
}

void introspect_handle(struct http_exchange *ex)
{
    struct form form = {0};
    struct token_op *op = parse_token_form(ex, &form);
    if (!op)
        return;
    struct client_credentials cred = form_credentials(&form);
    client_authenticate(ex, &cred, true, introspect_client_ok, op);
    form_free(&form);
}
