/*
 * token_store.c - authorization codes, access-token records, refresh tokens and their families
 * in Redis (docs/internals/tokens.md). Compound changes run as Lua scripts so that each is
 * atomic: a code is consumed once, a refresh token rotates once, a family is revoked at once.
 *
 * Beyond tokens.md (auth-private): family:{id} is a set of the family's members ("r:<refresh
 * key>", "a:<jti>:<exp>") so that a replayed refresh token revokes everything it led to, and
 * active_tokens is a sorted set of jti scored by exp behind the auth_active_tokens gauge.
 */
#include "auth/token_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/redis.h"
#include "core/token_record.h"
#include "core/token_revoke.h"

/* KEYS: token, user_tokens, refresh ('' for none), family, client ('' to leave), clients zset.
 * ARGV: prefix, token record, access ttl, exp, jti, now, refresh record, refresh ttl, family ttl,
 * client lifetime (0: none), client id.
 * A registered client's expiry slides: every token issued to it moves it (and its `clients` score,
 * registration token and idempotency key) to now + CLIENT_LIFETIME, so a client in use never
 * expires and one left unused goes CLIENT_LIFETIME after its last token. */
static const char issue_script[] =
    "local now = tonumber(ARGV[6])\n"
    "redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])\n"
    "redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')\n"
    "if last[2] then redis.call('EXPIREAT', KEYS[2], math.floor(tonumber(last[2])) + 1) end\n"
    "redis.call('ZADD', ARGV[1]..'active_tokens', ARGV[4], ARGV[5])\n"
    "redis.call('SADD', KEYS[4], 'a:'..ARGV[5]..':'..ARGV[4])\n"
    "if KEYS[3] ~= '' then\n"
    "  redis.call('SET', KEYS[3], ARGV[7], 'EX', ARGV[8])\n"
    "  redis.call('SADD', KEYS[4], 'r:'..KEYS[3])\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[4], ARGV[9])\n"
    "if KEYS[5] ~= '' then\n"
    "  local rec = redis.call('GET', KEYS[5])\n"
    "  if rec then\n"
    "    local o = cjson.decode(rec)\n"
    "    local life = tonumber(ARGV[10])\n"
    "    o.used = true\n"
    "    o.last_used_at = now\n"
    "    local rk = o.registration_token_hash and ARGV[1]..'regtoken:'..o.registration_token_hash\n"
    "    if life > 0 then\n"
    "      o.client_secret_expires_at = now + life\n"
    "      redis.call('SET', KEYS[5], cjson.encode(o), 'EX', life)\n"
    "      redis.call('ZADD', KEYS[6], now + life, ARGV[11])\n"
    "      if rk then redis.call('EXPIRE', rk, life) end\n"
    "      local mk = o.metadata_hash and ARGV[1]..'client_meta:'..o.metadata_hash\n"
    "      if mk and redis.call('GET', mk) == ARGV[11] then redis.call('EXPIRE', mk, life) end\n"
    "    else\n"
    "      redis.call('SET', KEYS[5], cjson.encode(o))\n"
    "      redis.call('ZADD', KEYS[6], '+inf', ARGV[11])\n"
    "      if rk then redis.call('PERSIST', rk) end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* KEYS: refresh. ARGV: prefix, now, grace, client id, now_ms. */
static const char refresh_script[] = TOKEN_REVOKE_LUA_LIB
    "local rec = redis.call('GET', KEYS[1])\n"
    "if not rec then return {'invalid'} end\n"
    "local o = cjson.decode(rec)\n"
    "if o.client_id ~= ARGV[4] then return {'wrong_client'} end\n"
    "local now = tonumber(ARGV[2])\n"
    "if o.replaced_at then\n"
    "  if now - tonumber(o.replaced_at) <= tonumber(ARGV[3]) then return {'grace', rec} end\n"
    "  revoke_family(ARGV[1], o.family, now, tonumber(ARGV[5]))\n"
    "  return {'reuse'}\n"
    "end\n"
    "o.replaced_at = now\n"
    "redis.call('SET', KEYS[1], cjson.encode(o), 'KEEPTTL')\n"
    "return {'ok', rec}\n";

static char *num(struct http_exchange *ex, long long v)
{
    char *s = http_exchange_alloc(ex, 24);
    snprintf(s, 24, "%lld", v);
    return s;
}

/* ---- authorization codes ---- */

char *auth_code_record_json(const struct auth_code_grant *g, long long now)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "client_id", g->client_id, "redirect_uri",
                          g->redirect_uri, "code_challenge", g->code_challenge, "sub", g->sub, "username",
                          g->username ? g->username : "", "created_at", (json_int_t)now);
    if (!o)
        return NULL;
    json_object_set_new(o, "resource", g->resource ? json_string(g->resource) : json_null());
    json_object_set_new(o, "scope", g->scope ? json_string(g->scope) : json_null());
    json_object_set_new(o, "email", g->email ? json_string(g->email) : json_null());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

struct code_store {
    char *code;
    auth_code_stored_fn cb;
    void *arg;
};

static void code_stored(const struct redis_result *result, void *arg)
{
    struct code_store *cs = arg;
    cs->cb(result->err == GW_OK ? GW_OK : GW_ERR_UNAVAILABLE, result->err == GW_OK ? cs->code : NULL,
           cs->arg);
    crypto_wipe(cs->code, strlen(cs->code));
    free(cs->code);
    free(cs);
}

void auth_code_store(struct auth_worker *w, const struct auth_code_grant *grant, auth_code_stored_fn cb,
                     void *arg)
{
    if (!grant->client_id || !grant->redirect_uri || !grant->code_challenge || !grant->sub) {
        cb(GW_ERR_INVALID, NULL, arg);
        return;
    }
    char *record = auth_code_record_json(grant, auth_now());
    struct code_store *cs = gw_calloc(1, sizeof(*cs));
    cs->cb = cb;
    cs->arg = arg;
    if (!record || crypto_random_token(32, &cs->code) != GW_OK) {
        free(record);
        free(cs);
        cb(GW_ERR_INVALID, NULL, arg);
        return;
    }
    char hash[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(cs->code, strlen(cs->code), hash);
    char *key = auth_key_alloc("code:", hash);
    char ttl[16];
    snprintf(ttl, sizeof(ttl), "%d", AUTH_CODE_TTL);
    const char *argv[] = {"SET", key, record, "EX", ttl};
    enum gw_err err =
        w && w->redis ? redis_command_argv(w->redis, code_stored, cs, 5, argv, NULL) : GW_ERR_UNAVAILABLE;
    free(key);
    free(record);
    if (err != GW_OK) {
        free(cs->code);
        free(cs);
        cb(GW_ERR_UNAVAILABLE, NULL, arg);
    }
}

/* ---- issuing ---- */

struct issue {
    struct http_exchange *ex;
    char *response; /* the JSON answer, arena */
    const char *grant_type;
};

static void issued(const struct redis_result *result, void *arg)
{
    struct issue *is = arg;
    if (auth_redis_failed(is->ex, result))
        return;
    auth_count_token_issued(is->grant_type);
    auth_respond_json_nostore(is->ex, 200, is->response);
}

static char *dump_and_free(struct http_exchange *ex, json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s)
        gw_oom(0);
    char *copy = http_exchange_strdup(ex, s);
    free(s);
    return copy;
}

static void set_optional(json_t *o, const char *name, const char *value)
{
    if (value && *value)
        json_object_set_new(o, name, json_string(value));
}

void token_issue(struct http_exchange *ex, const struct token_grant *g)
{
    const struct auth_state *st = auth_state();
    long long now = auth_now(), exp = now + st->access_token_lifetime;
    char *jti = NULL, *refresh = NULL, *family = NULL;
    if (crypto_random_token(16, &jti) != GW_OK ||
        (g->with_refresh && crypto_random_token(32, &refresh) != GW_OK) ||
        (!g->family && crypto_random_token(16, &family) != GW_OK)) {
        free(jti);
        free(refresh);
        free(family);
        auth_respond_oauth_error(ex, 500, "server_error", "Could not generate a token");
        return;
    }
    const char *fam = g->family ? g->family : http_exchange_strdup(ex, family);
    free(family);

    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s}", "iss", st->issuer, "sub", g->sub,
                               "aud", g->resource, "exp", (json_int_t)exp, "iat", (json_int_t)now, "nbf",
                               (json_int_t)now, "jti", jti, "client_id", g->client_id);
    set_optional(claims, "scope", g->scope);
    set_optional(claims, "username", g->username);
    set_optional(claims, "email", g->email);
    char *access = NULL;
    enum gw_err err = jwt_sign(st->signing_key, claims, &access);
    json_decref(claims);
    if (err) {
        free(jti);
        free(refresh);
        log_write(LOG_ERROR, "Could not sign an access token",
                  (struct log_field[]){log_str("error", gw_strerror(err))}, 1);
        auth_respond_oauth_error(ex, 500, "server_error", "Could not sign the access token");
        return;
    }

    struct token_record tr = {.client_id = g->client_id,
                              .sub = g->sub,
                              .username = g->username,
                              .scope = g->scope,
                              .resource = g->resource,
                              .iat = now,
                              .exp = exp,
                              .grant = g->grant_type};
    char *record_json = token_record_json(&tr);
    if (!record_json)
        gw_oom(0);
    const char *token_record = http_exchange_strdup(ex, record_json);
    free(record_json);

    const char *refresh_key = "", *refresh_record = "";
    if (refresh) {
        char hash[CRYPTO_SHA256_B64URL_LEN + 1];
        crypto_sha256_b64url(refresh, strlen(refresh), hash);
        refresh_key = auth_key(ex, "refresh:", hash);
        json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "family", fam, "client_id", g->client_id,
                              "sub", g->sub, "username", g->username ? g->username : "", "resource",
                              g->resource, "created_at", (json_int_t)now);
        json_object_set_new(r, "scope", json_string(g->scope ? g->scope : ""));
        json_object_set_new(r, "email", g->email ? json_string(g->email) : json_null());
        refresh_record = dump_and_free(ex, r);
    }

    json_t *resp = json_pack("{s:s, s:s, s:I}", "access_token", access, "token_type", "Bearer", "expires_in",
                             (json_int_t)st->access_token_lifetime);
    set_optional(resp, "refresh_token", refresh);
    set_optional(resp, "scope", g->scope);
    struct issue *is = http_exchange_alloc(ex, sizeof(*is));
    is->ex = ex;
    is->grant_type = g->grant_type;
    is->response = dump_and_free(ex, resp);
    crypto_wipe(access, strlen(access));
    free(access);
    if (refresh)
        crypto_wipe(refresh, strlen(refresh));
    free(refresh);

    long long family_ttl = st->refresh_token_lifetime > st->access_token_lifetime ? st->refresh_token_lifetime
                                                                                  : st->access_token_lifetime;
    const char *argv[] = {
        "EVAL",
        issue_script,
        "6",
        auth_key(ex, "token:", jti),
        auth_key(ex, "user_tokens:", g->sub),
        refresh_key,
        auth_key(ex, "family:", fam),
        g->registered_client ? auth_key(ex, "client:", g->client_id) : "",
        auth_key(ex, "clients", ""),
        st->key_prefix,
        token_record,
        num(ex, st->access_token_lifetime),
        num(ex, exp),
        http_exchange_strdup(ex, jti),
        num(ex, now),
        refresh_record,
        num(ex, st->refresh_token_lifetime),
        num(ex, family_ttl),
        num(ex, st->client_lifetime),
        g->client_id,
    };
    free(jti);
    auth_redis(ex, issued, is, (int)(sizeof(argv) / sizeof(argv[0])), argv);
}

/* ---- refresh ---- */

struct refresh_call {
    struct http_exchange *ex;
    refresh_fn cb;
    void *arg;
};

static void refresh_done(const struct redis_result *result, void *arg)
{
    struct refresh_call *rc = arg;
    if (auth_redis_failed(rc->ex, result))
        return;
    const redisReply *r = result->reply;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING) {
        auth_respond_unavailable(rc->ex, "unexpected reply from the refresh script");
        return;
    }
    const char *what = r->element[0]->str;
    if (strcmp(what, "invalid") == 0) {
        rc->cb(rc->ex, REFRESH_INVALID, NULL, rc->arg);
    } else if (strcmp(what, "wrong_client") == 0) {
        rc->cb(rc->ex, REFRESH_WRONG_CLIENT, NULL, rc->arg);
    } else if (strcmp(what, "reuse") == 0) {
        rc->cb(rc->ex, REFRESH_REUSED, NULL, rc->arg);
    } else {
        json_error_t jerr;
        json_t *rec = r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING
                          ? json_loadb(r->element[1]->str, r->element[1]->len, 0, &jerr)
                          : NULL;
        rc->cb(rc->ex, rec ? (strcmp(what, "ok") == 0 ? REFRESH_OK : REFRESH_GRACE) : REFRESH_INVALID, rec,
               rc->arg);
        json_decref(rec);
    }
}

void token_refresh_consume(struct http_exchange *ex, const char *refresh_token, const char *client_id,
                           refresh_fn cb, void *arg)
{
    const struct auth_state *st = auth_state();
    char hash[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(refresh_token, strlen(refresh_token), hash);
    struct refresh_call *rc = http_exchange_alloc(ex, sizeof(*rc));
    rc->ex = ex;
    rc->cb = cb;
    rc->arg = arg;
    const char *argv[] = {"EVAL",
                          refresh_script,
                          "1",
                          auth_key(ex, "refresh:", hash),
                          st->key_prefix,
                          num(ex, auth_now()),
                          num(ex, st->refresh_grace_seconds),
                          client_id,
                          num(ex, auth_now_ms())};
    auth_redis(ex, refresh_done, rc, 9, argv);
}

/* ---- revocation ---- */

struct revoke_call {
    struct http_exchange *ex;
    revoke_done_fn cb;
    void *arg;
};

static void revoke_done(const struct redis_result *result, void *arg)
{
    struct revoke_call *rc = arg;
    if (auth_redis_failed(rc->ex, result))
        return;
    rc->cb(rc->ex, result->reply->type == REDIS_REPLY_INTEGER && result->reply->integer == 1, rc->arg);
}

static struct revoke_call *revoke_call(struct http_exchange *ex, revoke_done_fn cb, void *arg)
{
    struct revoke_call *rc = http_exchange_alloc(ex, sizeof(*rc));
    rc->ex = ex;
    rc->cb = cb;
    rc->arg = arg;
    return rc;
}

void token_revoke_jti(struct http_exchange *ex, const char *jti, long long exp, revoke_done_fn cb, void *arg)
{
    const char *argv[] = {"EVAL",
                          token_revoke_jti_script,
                          "0",
                          auth_state()->key_prefix,
                          jti,
                          num(ex, exp),
                          num(ex, auth_now()),
                          num(ex, auth_now_ms())};
    auth_redis(ex, revoke_done, revoke_call(ex, cb, arg), 8, argv);
}

void token_revoke_refresh(struct http_exchange *ex, const char *refresh_token, const char *client_id,
                          revoke_done_fn cb, void *arg)
{
    char hash[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(refresh_token, strlen(refresh_token), hash);
    const char *argv[] = {"EVAL",
                          token_revoke_refresh_script,
                          "1",
                          auth_key(ex, "refresh:", hash),
                          auth_state()->key_prefix,
                          client_id ? client_id : "",
                          num(ex, auth_now()),
                          num(ex, auth_now_ms())};
    auth_redis(ex, revoke_done, revoke_call(ex, cb, arg), 8, argv);
}
