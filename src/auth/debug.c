/*
 * debug.c - /debug (the server's view of itself) and /debug/token/{jti} (an access-token
 * record), only with DEBUG=true and only from a loopback address; 404 otherwise, so the
 * endpoints do not exist for the outside world (a relayed request with DEBUG=true is told the
 * local URL). Nothing secret is shown: token records hold no
 * token, and keys are shown by kid only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/auth.h"
#include "auth/endpoints.h"
#include "core/alloc.h"
#include "core/redis.h"

/* Loopback and not relayed by a proxy: the router on this machine connects from loopback too,
 * but it adds X-Forwarded-For, so a request from the internet never counts as local. */
static bool from_loopback(struct http_exchange *ex)
{
    return http_peer_is_loopback(ex) && !http_header(ex, "X-Forwarded-For") &&
           !http_header(ex, "Forwarded") && !http_header(ex, "X-Forwarded-Host");
}

struct debug_token {
    struct http_exchange *ex;
    const char *jti;
    json_t *record;
};

static void revoked_checked(const struct redis_result *result, void *arg)
{
    struct debug_token *d = arg;
    json_t *out = d->record;
    if (auth_redis_failed(d->ex, result)) {
        json_decref(out);
        return;
    }
    json_object_set_new(out, "revoked",
                        json_boolean(result->reply->type == REDIS_REPLY_INTEGER && result->reply->integer));
    char *json = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    auth_respond_json_nostore(d->ex, 200, json ? json : "{}");
    free(json);
}

static void record_loaded(const struct redis_result *result, void *arg)
{
    struct debug_token *d = arg;
    if (auth_redis_failed(d->ex, result))
        return;
    json_error_t jerr;
    json_t *rec = result->reply->type == REDIS_REPLY_STRING
                      ? json_loadb(result->reply->str, result->reply->len, 0, &jerr)
                      : NULL;
    d->record = json_pack("{s:s, s:o}", "jti", d->jti, "record", rec ? rec : json_null());
    const char *argv[] = {"EXISTS", auth_key(d->ex, "revoked:", d->jti)};
    json_t *record = d->record;
    if (!auth_redis(d->ex, revoked_checked, d, 2, argv))
        json_decref(record);
}

void debug_handle(struct http_exchange *ex)
{
    const struct auth_state *st = auth_state();
    const char *path = http_request(ex)->path;
    if (!st->debug || strcmp(http_request(ex)->method, "GET") != 0) {
        http_respond_error(ex, 404, "not_found", "No such endpoint on the authorization server");
        return;
    }
    if (!from_loopback(ex)) {
        /* The guide curls https://auth.…/debug; these answers are for the operator on this
         * machine only, so tell them where (nothing here is secret, but it is nobody else's). */
        char base[128], where[1200];
        config_internal_url(st->cfg, config_get_int(st->cfg, "AUTH_PORT", 8000), base, sizeof(base));
        snprintf(where, sizeof(where), "Debug endpoints answer only on this machine: curl %s%.1000s", base,
                 path);
        http_respond_error(ex, 404, "not_found", where);
        return;
    }
    if (strncmp(path, "/debug/token/", 13) == 0 && path[13] && strlen(path + 13) <= 128) {
        struct debug_token *d = http_exchange_alloc(ex, sizeof(*d));
        d->ex = ex;
        d->jti = http_exchange_strdup(ex, path + 13);
        d->record = NULL;
        const char *argv[] = {"GET", auth_key(ex, "token:", d->jti)};
        auth_redis(ex, record_loaded, d, 2, argv);
        return;
    }
    if (strcmp(path, "/debug") != 0) {
        http_respond_error(ex, 404, "not_found", "No such endpoint on the authorization server");
        return;
    }
    struct auth_worker *w = auth_worker();
    json_t *services = json_array();
    for (size_t i = 0; i < st->nservices; i++)
        json_array_append_new(services, json_string(st->services[i]));
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:b, s:s}", "issuer", st->issuer, "alg",
        jwt_alg_name(jwt_key_alg(st->signing_key)), "kid", jwt_key_kid(st->signing_key), "services", services,
        "key_prefix", st->key_prefix, "access_token_lifetime", (json_int_t)st->access_token_lifetime,
        "refresh_token_lifetime", (json_int_t)st->refresh_token_lifetime, "client_lifetime",
        (json_int_t)st->client_lifetime, "redis_healthy", w && w->redis && redis_client_healthy(w->redis),
        "redis_address", w && w->redis ? redis_client_address(w->redis) : "");
    char *json = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    auth_respond_json_nostore(ex, 200, json ? json : "{}");
    free(json);
}
