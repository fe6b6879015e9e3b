/*
 * registration.c - POST /register (RFC 7591) and GET/PUT/DELETE /register/{client_id}
 * (RFC 7592).
 *
 * Abuse controls (the operational complaints about DCR): a body cap and redirect-URI caps
 * (client_meta.c), a windowed per-IP limit (not for REGISTRATION_TRUSTED_NETWORKS) and a global
 * cap on live clients (one Lua script, so concurrent registrations cannot overshoot), idempotent
 * registration of identical public-client metadata (client_meta:{hash} -> client_id), never-used
 * clients expiring after UNUSED_CLIENT_LIFETIME, and used ones CLIENT_LIFETIME after their last
 * token (token_store.c's issuing script moves the expiry at every token).
 * Auth-private keys: clients (sorted set of client_id by expiry, for the cap), client_meta:{hash},
 * regtoken:{hash} (registration token -> client_id, to tell another client's token (403) from
 * a bad one (401)).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/client_meta.h"
#include "auth/endpoints.h"
#include "auth/auth.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/ip_allowlist.h"
#include "core/log.h"
#include "core/redis.h"

/* KEYS: ratelimit, clients, client, meta ('' for none), regtoken.
 * ARGV: now, window, ip limit, max clients, record, ttl (0: none), client id, registration token
 * hash, prefix, expiry score, meta ttl (0: none). */
static const char register_script[] =
    "local now = tonumber(ARGV[1])\n"
    "if tonumber(ARGV[3]) > 0 then\n"
    "  local n = redis.call('INCR', KEYS[1])\n"
    "  if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end\n"
    "  if n > tonumber(ARGV[3]) then return {'ratelimited', tostring(redis.call('TTL', KEYS[1]))} end\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)\n"
    "local function setttl(k, v, ttl) if tonumber(ttl) > 0 then redis.call('SET', k, v, 'EX', ttl)\n"
    "  else redis.call('SET', k, v) end end\n"
    "if KEYS[4] ~= '' then\n"
    "  local id = redis.call('GET', KEYS[4])\n"
    "  if id then\n"
    "    local ck = ARGV[9]..'client:'..id\n"
    "    local rec = redis.call('GET', ck)\n"
    "    if rec then\n"
    "      local o = cjson.decode(rec)\n"
    "      o.registration_token_hash = ARGV[8]\n"
    "      redis.call('SET', ck, cjson.encode(o), 'KEEPTTL')\n"
    "      local ttl = redis.call('TTL', ck)\n"
    "      setttl(KEYS[5], id, ttl > 0 and ttl or 0)\n"
    "      return {'existing', rec}\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if tonumber(ARGV[4]) > 0 and redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return {'full'} "
    "end\n"
    "setttl(KEYS[3], ARGV[5], ARGV[6])\n"
    "setttl(KEYS[5], ARGV[7], ARGV[6])\n"
    "redis.call('ZADD', KEYS[2], ARGV[10], ARGV[7])\n"
    "if KEYS[4] ~= '' then setttl(KEYS[4], ARGV[7], ARGV[11]) end\n"
    "return {'created'}\n";

static char *num(struct http_exchange *ex, long long v)
{
    char *s = http_exchange_alloc(ex, 24);
    snprintf(s, 24, "%lld", v);
    return s;
}

static const char *registration_uri(struct http_exchange *ex, const char *client_id)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_printf(&b, "%s/register/%s", auth_state()->issuer, client_id);
    const char *s = http_exchange_strdup(ex, buf_cstr(&b));
    buf_free(&b);
    return s;
}

/* The public view of a stored record (no hashes, no bookkeeping). New reference. */
static json_t *client_view(struct http_exchange *ex, const json_t *record)
{
    json_t *view = json_deep_copy(record);
    static const char *const hidden[] = {"secret_hash", "registration_token_hash", "used", "last_used_at",
                                         "metadata_hash"};
    for (size_t i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++)
        json_object_del(view, hidden[i]);
    const char *id = json_string_value(json_object_get(record, "client_id"));
    json_object_set_new(view, "registration_client_uri", json_string(registration_uri(ex, id ? id : "")));
    return view;
}

static void respond_view(struct http_exchange *ex, int status, json_t *view)
{
    char *json = json_dumps(view, JSON_COMPACT);
    json_decref(view);
    if (!json)
        gw_oom(0);
    auth_respond_json_nostore(ex, status, json);
    free(json);
}

static bool json_content_type(struct http_exchange *ex)
{
    const char *ctype = http_header(ex, "Content-Type");
    return ctype && strncasecmp(ctype, "application/json", 16) == 0;
}

/* ---- POST /register ---- */

struct registration {
    struct http_exchange *ex;
    json_t *response; /* what to answer on 'created' (owned until answered) */
    const char *registration_token;
};

static void registered(const struct redis_result *result, void *arg)
{
    struct registration *rg = arg;
    struct http_exchange *ex = rg->ex;
    json_t *response = rg->response;
    rg->response = NULL;
    if (auth_redis_failed(ex, result)) {
        json_decref(response);
        return;
    }
    const redisReply *r = result->reply;
    const char *what =
        r->type == REDIS_REPLY_ARRAY && r->elements > 0 && r->element[0]->type == REDIS_REPLY_STRING
            ? r->element[0]->str
            : "";
    if (strcmp(what, "ratelimited") == 0) {
        json_decref(response);
        auth_count_registration("rate_limited");
        log_write(LOG_WARNING, "Client registration rate limit hit",
                  (struct log_field[]){log_str("client_ip", http_client_ip(ex))}, 1);
        if (r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING)
            http_response_header(ex, "Retry-After", r->element[1]->str);
        auth_respond_oauth_error(ex, 429, "too_many_requests",
                                 "Too many registrations from this address; try later");
        return;
    }
    if (strcmp(what, "full") == 0) {
        json_decref(response);
        auth_count_registration("capacity");
        log_write(LOG_ERROR, "Client registration refused: REGISTRATION_MAX_CLIENTS reached", NULL, 0);
        http_response_header(ex, "Retry-After", "3600");
        auth_respond_oauth_error(ex, 503, "temporarily_unavailable",
                                 "The client registration limit is reached");
        return;
    }
    if (strcmp(what, "existing") == 0 && r->elements > 1 && r->element[1]->type == REDIS_REPLY_STRING) {
        json_decref(response);
        json_error_t jerr;
        json_t *rec = json_loadb(r->element[1]->str, r->element[1]->len, 0, &jerr);
        json_t *view = client_view(ex, rec ? rec : json_object());
        json_decref(rec);
        json_object_set_new(view, "registration_access_token", json_string(rg->registration_token));
        auth_count_registration("existing");
        log_write(
            LOG_INFO, "Client registration matched an existing client",
            (struct log_field[]){log_str("client_id", json_string_value(json_object_get(view, "client_id")))},
            1);
        respond_view(ex, 201, view);
        return;
    }
    if (strcmp(what, "created") != 0) {
        json_decref(response);
        auth_respond_unavailable(ex, "unexpected reply from the registration script");
        return;
    }
    auth_count_registration("created");
    log_write(LOG_INFO, "Client registered",
              (struct log_field[]){
                  log_str("client_id", json_string_value(json_object_get(response, "client_id"))),
                  log_str("client_name", json_string_value(json_object_get(response, "client_name")))},
              2);
    respond_view(ex, 201, response);
}

/* The per-IP limit for this request, 0 for none. Hosted connectors (Claude.ai) register from their
 * vendor's backend for all their users, so those few addresses would spend one budget together and
 * lock every user out; the global cap (REGISTRATION_MAX_CLIENTS) still bounds them. */
static long long ip_limit_for(struct http_exchange *ex)
{
    const struct auth_state *st = auth_state();
    const char *ip = http_client_ip(ex);
    if (st->register_ip_limit <= 0 || !ip_allowlist_contains(st->register_trusted, ip))
        return st->register_ip_limit;
    log_write(LOG_DEBUG, "Client registration from REGISTRATION_TRUSTED_NETWORKS: no per-IP limit",
              (struct log_field[]){log_str("client_ip", ip)}, 1);
    return 0;
}

void register_handle(struct http_exchange *ex)
{
    const struct auth_state *st = auth_state();
    const struct http_request *req = http_request(ex);
    if (req->body_len > CLIENT_META_MAX_BODY) {
        auth_count_registration("invalid");
        auth_respond_oauth_error(ex, 413, "invalid_client_metadata", "Registration request is too large");
        return;
    }
    if (!json_content_type(ex)) {
        auth_count_registration("invalid");
        auth_respond_oauth_error(ex, 400, "invalid_client_metadata", "The body must be application/json");
        return;
    }
    json_t *meta = NULL;
    const char *error, *description;
    if (client_meta_validate(req->body, req->body_len, &meta, &error, &description) != GW_OK) {
        auth_count_registration("invalid");
        auth_respond_oauth_error(ex, 400, error, description);
        return;
    }
    /* a shared secret only for the client_secret_* methods: none and private_key_jwt have none */
    bool confidential = strncmp(json_string_value(json_object_get(meta, "token_endpoint_auth_method")),
                                "client_secret_", 14) == 0;
    char meta_hash[44];
    client_meta_hash(meta, meta_hash);
    char *client_id = NULL, *secret = NULL, *reg_token = NULL;
    if (crypto_random_token(16, &client_id) || (confidential && crypto_random_token(32, &secret)) ||
        crypto_random_token(32, &reg_token)) {
        free(client_id);
        free(secret);
        free(reg_token);
        json_decref(meta);
        auth_respond_oauth_error(ex, 500, "server_error", "Could not generate credentials");
        return;
    }
    long long now = auth_now();
    long long lifetime = st->client_lifetime;
    long long unused = st->unused_client_ttl;
    long long ttl = unused > 0 && (lifetime <= 0 || unused < lifetime) ? unused : lifetime;
    char reg_hash[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(reg_token, strlen(reg_token), reg_hash);

    json_t *record = json_deep_copy(meta);
    json_object_set_new(record, "client_id", json_string(client_id));
    json_object_set_new(record, "client_id_issued_at", json_integer(now));
    json_object_set_new(record, "client_secret_expires_at", json_integer(lifetime > 0 ? now + lifetime : 0));
    json_object_set_new(record, "registration_token_hash", json_string(reg_hash));
    json_object_set_new(record, "metadata_hash", json_string(meta_hash));
    json_object_set_new(record, "used", json_false());
    if (secret) {
        char secret_hash[CRYPTO_SHA256_B64URL_LEN + 1];
        crypto_sha256_b64url(secret, strlen(secret), secret_hash);
        json_object_set_new(record, "secret_hash", json_string(secret_hash));
    }
    char *record_json = json_dumps(record, JSON_COMPACT);
    struct registration *rg = http_exchange_alloc(ex, sizeof(*rg));
    rg->ex = ex;
    rg->registration_token = http_exchange_strdup(ex, reg_token);
    rg->response = client_view(ex, record);
    json_decref(record);
    if (secret)
        json_object_set_new(rg->response, "client_secret", json_string(secret));
    json_object_set_new(rg->response, "registration_access_token", json_string(reg_token));
    json_decref(meta);

    const char *argv[] = {
        "EVAL",
        register_script,
        "5",
        auth_key(ex, "ratelimit:register:", http_client_ip(ex)),
        auth_key(ex, "clients", ""),
        auth_key(ex, "client:", client_id),
        confidential ? "" : auth_key(ex, "client_meta:", meta_hash),
        auth_key(ex, "regtoken:", reg_hash),
        num(ex, now),
        num(ex, st->register_ip_window),
        num(ex, ip_limit_for(ex)),
        num(ex, st->register_max_clients),
        http_exchange_strdup(ex, record_json),
        num(ex, ttl),
        http_exchange_strdup(ex, client_id),
        http_exchange_strdup(ex, reg_hash),
        st->key_prefix,
        ttl > 0 ? num(ex, now + ttl) : "+inf",
        num(ex, lifetime > 0 ? lifetime : 0),
    };
    free(record_json);
    free(client_id);
    if (secret)
        crypto_wipe(secret, strlen(secret));
    free(secret);
    crypto_wipe(reg_token, strlen(reg_token));
    free(reg_token);
    json_t *response = rg->response;
    if (!auth_redis(ex, registered, rg, (int)(sizeof(argv) / sizeof(argv[0])), argv))
        json_decref(response);
}

/* ---- /register/{client_id} (RFC 7592) ---- */

struct manage {
    struct http_exchange *ex;
    const char *client_id, *token_hash;
    json_t *record; /* the stored record, owned until answered */
};

static void manage_answered(struct manage *m)
{
    json_decref(m->record);
    m->record = NULL;
}

static void other_token_checked(const struct redis_result *result, void *arg)
{
    struct manage *m = arg;
    if (auth_redis_failed(m->ex, result))
        return;
    bool other = result->reply->type == REDIS_REPLY_STRING;
    auth_authentication_failed("bad_registration_token", "registration access token refused",
                               (struct log_field[]){log_str("client_id", m->client_id)}, 1);
    if (other) {
        auth_respond_oauth_error(m->ex, 403, "access_denied",
                                 "This registration access token is for another client");
        return;
    }
    http_response_header(m->ex, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
    auth_respond_oauth_error(m->ex, 401, "invalid_token", "Invalid registration access token");
}

static void deleted(const struct redis_result *result, void *arg)
{
    struct manage *m = arg;
    if (auth_redis_failed(m->ex, result))
        return;
    log_write(LOG_INFO, "Client deleted", (struct log_field[]){log_str("client_id", m->client_id)}, 1);
    http_response_header(m->ex, "Cache-Control", "no-store");
    http_respond(m->ex, 204, NULL, NULL, 0);
}

static void updated(const struct redis_result *result, void *arg)
{
    struct manage *m = arg;
    json_t *record = m->record;
    m->record = NULL;
    if (auth_redis_failed(m->ex, result)) {
        json_decref(record);
        return;
    }
    respond_view(m->ex, 200, client_view(m->ex, record));
    json_decref(record);
}

static void put_client(struct manage *m)
{
    struct http_exchange *ex = m->ex;
    const struct http_request *req = http_request(ex);
    json_t *meta = NULL;
    const char *error, *description;
    if (!json_content_type(ex)) {
        manage_answered(m);
        auth_respond_oauth_error(ex, 400, "invalid_client_metadata", "The body must be application/json");
        return;
    }
    if (client_meta_validate(req->body, req->body_len, &meta, &error, &description) != GW_OK) {
        manage_answered(m);
        auth_respond_oauth_error(ex, 400, error, description);
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, 0, &jerr);
    const char *body_id = json_string_value(json_object_get(body, "client_id"));
    bool id_mismatch = body_id && strcmp(body_id, m->client_id) != 0;
    json_decref(body);
    const char *old_method = json_string_value(json_object_get(m->record, "token_endpoint_auth_method"));
    bool method_changed =
        !old_method ||
        strcmp(old_method, json_string_value(json_object_get(meta, "token_endpoint_auth_method"))) != 0;
    if (id_mismatch || method_changed) {
        json_decref(meta);
        manage_answered(m);
        auth_respond_oauth_error(ex, 400, "invalid_client_metadata",
                                 id_mismatch ? "client_id does not match"
                                             : "token_endpoint_auth_method cannot change");
        return;
    }
    static const char *const kept[] = {"client_id",   "client_id_issued_at",     "client_secret_expires_at",
                                       "secret_hash", "registration_token_hash", "used",
                                       "last_used_at"};
    for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
        json_t *v = json_object_get(m->record, kept[i]);
        if (v)
            json_object_set(meta, kept[i], v);
    }
    json_decref(m->record);
    m->record = meta;
    char *json = json_dumps(meta, JSON_COMPACT);
    const char *argv[] = {"SET", auth_key(ex, "client:", m->client_id), http_exchange_strdup(ex, json),
                          "KEEPTTL", "XX"};
    free(json);
    if (!auth_redis(ex, updated, m, 5, argv))
        json_decref(meta);
}

static void client_loaded(const struct redis_result *result, void *arg)
{
    struct manage *m = arg;
    struct http_exchange *ex = m->ex;
    if (auth_redis_failed(ex, result))
        return;
    json_error_t jerr;
    json_t *rec = result->reply->type == REDIS_REPLY_STRING
                      ? json_loadb(result->reply->str, result->reply->len, 0, &jerr)
                      : NULL;
    const char *stored = json_string_value(json_object_get(rec, "registration_token_hash"));
    if (!stored || !crypto_str_equal(stored, strlen(stored), m->token_hash, strlen(m->token_hash))) {
        json_decref(rec);
        const char *argv[] = {"GET", auth_key(ex, "regtoken:", m->token_hash)};
        auth_redis(ex, other_token_checked, m, 2, argv);
        return;
    }
    m->record = rec;
    const char *method = http_request(ex)->method;
    if (strcmp(method, "GET") == 0) {
        json_t *view = client_view(ex, rec);
        manage_answered(m);
        respond_view(ex, 200, view);
    } else if (strcmp(method, "PUT") == 0) {
        put_client(m);
    } else {
        manage_answered(m);
        const char *argv[] = {
            "EVAL",
            "redis.call('ZREM', KEYS[3], ARGV[1]) return redis.call('DEL', KEYS[1], KEYS[2])",
            "3",
            auth_key(ex, "client:", m->client_id),
            auth_key(ex, "regtoken:", m->token_hash),
            auth_key(ex, "clients", ""),
            m->client_id};
        auth_redis(ex, deleted, m, 7, argv);
    }
}

void register_manage_handle(struct http_exchange *ex, const char *client_id)
{
    const char *method = http_request(ex)->method;
    if (strcmp(method, "GET") != 0 && strcmp(method, "PUT") != 0 && strcmp(method, "DELETE") != 0) {
        http_response_header(ex, "Allow", "GET, PUT, DELETE");
        http_respond_error(ex, 405, "invalid_request", "Method not allowed");
        return;
    }
    const char *authz = http_header(ex, "Authorization");
    if (!authz || strncasecmp(authz, "Bearer ", 7) != 0 || !authz[7] ||
        http_header_count(ex, "Authorization") > 1) {
        http_response_header(ex, "WWW-Authenticate", "Bearer");
        auth_respond_oauth_error(ex, 401, "invalid_token", "The registration access token is required");
        return;
    }
    if (strlen(client_id) > 256 || strchr(client_id, '/')) {
        auth_respond_oauth_error(ex, 401, "invalid_token", "Unknown client");
        return;
    }
    struct manage *m = http_exchange_alloc(ex, sizeof(*m));
    memset(m, 0, sizeof(*m));
    m->ex = ex;
    m->client_id = http_exchange_strdup(ex, client_id);
    char hash[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(authz + 7, strlen(authz + 7), hash);
    m->token_hash = http_exchange_strdup(ex, hash);
    const char *argv[] = {"GET", auth_key(ex, "client:", client_id)};
    auth_redis(ex, client_loaded, m, 2, argv);
}
