/*
 * client_assertion.c - private_key_jwt client authentication (see client_assertion.h).
 */
#include "auth/client_assertion.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/client_store.h"
#include "core/crypto.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/redis.h"

struct assertion_check {
    struct http_exchange *ex;
    const struct auth_client *client;
    const char *assertion; /* arena */
    bool keys_refreshed;
    client_assertion_fn cb;
    void *arg;
};

static void finish(struct assertion_check *ac, enum client_assertion_result result, const char *reason,
                   const char *description)
{
    ac->cb(ac->ex, result, reason, description, ac->arg);
}

static void refuse(struct assertion_check *ac, const char *reason, const char *description)
{
    finish(ac, CLIENT_ASSERTION_REFUSED, reason, description);
}

/* Whether value names this server: the issuer, the token endpoint, or the endpoint that was
 * called (revocation and introspection accept assertions too). */
static bool audience_value_ok(struct http_exchange *ex, const char *value)
{
    const char *issuer = auth_state()->issuer;
    size_t n = strlen(issuer);
    if (strcmp(value, issuer) == 0)
        return true;
    if (strncmp(value, issuer, n) != 0)
        return false;
    const char *path = value + n;
    return strcmp(path, "/token") == 0 || strcmp(path, http_request(ex)->path) == 0;
}

static bool audience_ok(struct http_exchange *ex, const json_t *aud)
{
    if (json_is_string(aud))
        return audience_value_ok(ex, json_string_value(aud));
    size_t i;
    const json_t *item;
    json_array_foreach(aud, i, item)
    {
        if (json_is_string(item) && audience_value_ok(ex, json_string_value(item)))
            return true;
    }
    return false;
}

static void jti_recorded(const struct redis_result *result, void *arg)
{
    struct assertion_check *ac = arg;
    if (result->err != GW_OK) {
        finish(ac, CLIENT_ASSERTION_UNAVAILABLE, "redis_unavailable",
               result->error ? result->error : "Redis unavailable");
        return;
    }
    if (result->reply->type == REDIS_REPLY_NIL) {
        refuse(ac, "assertion_replayed", "This client assertion was used before (jti)");
        return;
    }
    finish(ac, CLIENT_ASSERTION_OK, NULL, NULL);
}

/* Claims beyond what jwt_verify checked (iss, signature, exp/nbf/iat): sub, aud, jti, how far
 * exp is ahead; then remember jti until exp. */
static void check_claims(struct assertion_check *ac, json_t *claims)
{
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    long long exp = (long long)json_integer_value(json_object_get(claims, "exp"));
    long long now = (long long)time(NULL);
    if (!sub || strcmp(sub, ac->client->client_id) != 0) {
        refuse(ac, "bad_client_assertion", "Client assertion sub must be the client_id");
        return;
    }
    if (!audience_ok(ac->ex, json_object_get(claims, "aud"))) {
        refuse(ac, "bad_client_assertion", "Client assertion aud must name this authorization server");
        return;
    }
    if (!jti || !*jti || strlen(jti) > 256) {
        refuse(ac, "bad_client_assertion", "Client assertion needs a jti");
        return;
    }
    if (exp - now > CLIENT_ASSERTION_MAX_LIFETIME + JWT_DEFAULT_LEEWAY) {
        refuse(ac, "bad_client_assertion", "Client assertion expires too far in the future");
        return;
    }
    /* one key per client and jti, hashed: both come from outside and may be long */
    size_t id_len = strlen(ac->client->client_id), jti_len = strlen(jti);
    char *material = http_exchange_alloc(ac->ex, id_len + jti_len + 2);
    memcpy(material, ac->client->client_id, id_len);
    material[id_len] = '\n';
    memcpy(material + id_len + 1, jti, jti_len + 1);
    char digest[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(material, id_len + 1 + jti_len, digest);
    char ttl[24];
    long long keep = exp - now + JWT_DEFAULT_LEEWAY;
    snprintf(ttl, sizeof(ttl), "%lld", keep > 0 ? keep : 1);
    const char *argv[] = {"SET", auth_key(ac->ex, "assertion:", digest), "1", "NX", "EX", ttl};
    struct auth_worker *w = auth_worker();
    if (!w->redis || redis_command_argv(w->redis, jti_recorded, ac, 6, argv, NULL) != GW_OK)
        finish(ac, CLIENT_ASSERTION_UNAVAILABLE, "redis_unavailable", "Redis unavailable");
}

static void keys_ready(enum gw_err err, struct jwt_keyset *keys, bool cached, const char *why, void *arg)
{
    struct assertion_check *ac = arg;
    if (err != GW_OK) {
        refuse(ac, "client_keys_unavailable", why ? why : "The client's keys are unavailable");
        return;
    }
    struct jwt_verify_options opts = JWT_VERIFY_OPTIONS_DEFAULT;
    opts.issuer = ac->client->client_id;
    json_t *claims = NULL;
    enum jwt_result r = jwt_verify(keys, ac->assertion, strlen(ac->assertion), &opts, &claims);
    jwt_keyset_free(keys);
    if (r == JWT_UNKNOWN_KID && cached && !ac->keys_refreshed) {
        ac->keys_refreshed = true;
        client_store_get_keys(auth_worker(), ac->client, true, keys_ready, ac);
        return;
    }
    if (r != JWT_OK) {
        size_t n = 80;
        char *description = http_exchange_alloc(ac->ex, n);
        snprintf(description, n, "Client assertion refused: %s", jwt_strerror(r));
        refuse(ac, "bad_client_assertion", description);
        return;
    }
    check_claims(ac, claims);
    json_decref(claims);
}

void client_assertion_verify(struct http_exchange *ex, const struct auth_client *client, const char *assertion,
                             client_assertion_fn cb, void *arg)
{
    struct assertion_check *ac = http_exchange_alloc(ex, sizeof(*ac));
    memset(ac, 0, sizeof(*ac));
    ac->ex = ex;
    ac->client = client;
    ac->assertion = http_exchange_strdup(ex, assertion);
    ac->cb = cb;
    ac->arg = arg;
    if (strlen(assertion) > JWT_MAX_TOKEN_LEN) {
        refuse(ac, "bad_client_assertion", "Client assertion is too large");
        return;
    }
    client_store_get_keys(auth_worker(), client, false, keys_ready, ac);
}

const char *client_assertion_subject(struct http_exchange *ex, const char *assertion)
{
    json_t *claims = NULL;
    if (!assertion || jwt_decode_unverified(assertion, strlen(assertion), NULL, &claims) != JWT_OK)
        return NULL;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *copy = sub && *sub ? http_exchange_strdup(ex, sub) : NULL;
    json_decref(claims);
    return copy;
}
