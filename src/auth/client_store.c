/*
 * client_store.c - finding OAuth clients: static clients from configuration, registered clients
 * in Redis, and Client ID Metadata Documents fetched over HTTPS with an SSRF guard and a
 * per-worker cache that honours Cache-Control max-age.
 */
#include "auth/client_store.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/http_client.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/redis.h"
#include "core/server.h"
#include "core/urlform.h"

#define CIMD_MAX_BYTES (5 * 1024) /* a metadata document is small; refuse anything bigger */
#define CIMD_TIMEOUT_MS 5000
#define CIMD_CACHE_ENTRIES 64
#define CIMD_DEFAULT_MAX_AGE 300 /* seconds, when the document says nothing */
#define CIMD_MAX_MAX_AGE 86400

static json_t *static_clients; /* array of records; immutable after setup */
static bool cimd_allow_private;
static char *cimd_ca_file; /* CIMD_CA_FILE: a private CA bundle for metadata documents, or NULL */

/* ---- static clients ---- */

enum gw_err client_store_setup(const struct config *cfg, struct buf *errors)
{
    cimd_allow_private = config_get_bool(cfg, "CIMD_ALLOW_PRIVATE", false);
    const char *ca = config_get(cfg, "CIMD_CA_FILE", "");
    free(cimd_ca_file);
    cimd_ca_file = ca && *ca ? gw_strdup(ca) : NULL;
    static_clients = json_array();
    const char *text = config_get(cfg, "AUTH_STATIC_CLIENTS", "");
    if (!text || !*text)
        return GW_OK;
    json_error_t jerr;
    json_t *list = json_loads(text, 0, &jerr);
    if (!json_is_array(list)) {
        buf_printf(errors, "ERROR: Invalid value for AUTH_STATIC_CLIENTS: not a JSON array (%s)\n",
                   jerr.text);
        json_decref(list);
        return GW_ERR_CONFIG;
    }
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "client_id"));
        const json_t *uris = json_object_get(c, "redirect_uris");
        const char *hash = json_string_value(json_object_get(c, "client_secret_hash"));
        if (!id || !*id || !json_is_array(uris) || json_array_size(uris) == 0) {
            buf_printf(
                errors,
                "ERROR: Invalid value for AUTH_STATIC_CLIENTS: entry %zu needs client_id and redirect_uris\n",
                i);
            json_decref(list);
            return GW_ERR_CONFIG;
        }
        json_t *rec = json_pack("{s:s, s:O, s:s, s:b, s:b}", "client_id", id, "redirect_uris", uris,
                                "token_endpoint_auth_method", hash ? "client_secret_basic" : "none", "static",
                                1, "used", 1);
        if (hash)
            json_object_set_new(rec, "secret_hash", json_string(hash));
        const char *name = json_string_value(json_object_get(c, "client_name"));
        if (name)
            json_object_set_new(rec, "client_name", json_string(name));
        json_object_set_new(rec, "grant_types", json_pack("[s,s]", "authorization_code", "refresh_token"));
        json_array_append_new(static_clients, rec);
    }
    json_decref(list);
    return GW_OK;
}

void client_store_teardown(void)
{
    json_decref(static_clients);
    static_clients = NULL;
    free(cimd_ca_file);
    cimd_ca_file = NULL;
}

bool auth_client_secret_ok(const struct auth_client *client, const char *secret, size_t len)
{
    if (!client || !client->secret_hash || !secret)
        return false;
    char hash[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url(secret, len, hash);
    return crypto_str_equal(hash, strlen(hash), client->secret_hash, strlen(client->secret_hash));
}

/* ---- metadata documents: shape, cache, SSRF guard ---- */

bool client_id_is_metadata_url(const char *client_id)
{
    struct url_parts p;
    size_t len = strlen(client_id);
    if (len > 2048 || strncmp(client_id, "https://", 8) != 0 || url_split(client_id, len, &p) != GW_OK)
        return false;
    if (p.host.len == 0 || p.has_userinfo || p.has_fragment || p.path.len <= 1)
        return false;
    return strstr(client_id, "/./") == NULL && strstr(client_id, "/../") == NULL;
}

struct cimd_entry {
    char *url;
    json_t *record;
    int64_t stored_usec, expires_usec; /* monotonic */
};

struct cimd_cache {
    struct cimd_entry entries[CIMD_CACHE_ENTRIES];
    size_t next; /* round-robin replacement */
};

void client_store_worker_init(struct auth_worker *w)
{
    w->cimd_cache = gw_calloc(1, sizeof(struct cimd_cache));
}

void client_store_worker_fini(struct auth_worker *w)
{
    struct cimd_cache *cache = w->cimd_cache;
    if (!cache)
        return;
    for (size_t i = 0; i < CIMD_CACHE_ENTRIES; i++) {
        free(cache->entries[i].url);
        json_decref(cache->entries[i].record);
    }
    free(cache);
    w->cimd_cache = NULL;
}

/* The live entry for url, or NULL. */
static const struct cimd_entry *cache_entry(struct cimd_cache *cache, const char *url)
{
    int64_t now = server_now_usec();
    for (size_t i = 0; cache && i < CIMD_CACHE_ENTRIES; i++)
        if (cache->entries[i].url && strcmp(cache->entries[i].url, url) == 0)
            return cache->entries[i].expires_usec > now ? &cache->entries[i] : NULL;
    return NULL;
}

static json_t *cache_lookup(struct cimd_cache *cache, const char *url)
{
    const struct cimd_entry *e = cache_entry(cache, url);
    return e ? e->record : NULL;
}

static void cache_store(struct cimd_cache *cache, const char *url, json_t *record, long long max_age)
{
    if (!cache || max_age <= 0)
        return;
    struct cimd_entry *e = NULL;
    for (size_t i = 0; i < CIMD_CACHE_ENTRIES && !e; i++)
        if (cache->entries[i].url && strcmp(cache->entries[i].url, url) == 0)
            e = &cache->entries[i];
    if (!e) {
        e = &cache->entries[cache->next];
        cache->next = (cache->next + 1) % CIMD_CACHE_ENTRIES;
    }
    free(e->url);
    json_decref(e->record);
    e->url = gw_strdup(url);
    e->record = json_incref(record);
    e->stored_usec = server_now_usec();
    e->expires_usec = e->stored_usec + (int64_t)max_age * 1000000;
}

/* Seconds the response may be cached: Cache-Control max-age (no-store/no-cache: 0). */
static long long response_max_age(const struct http_client_response *r)
{
    for (size_t i = 0; i < r->nheaders; i++) {
        if (strcasecmp(r->headers[i].name, "Cache-Control") != 0)
            continue;
        const char *v = r->headers[i].value;
        if (strcasestr(v, "no-store") || strcasestr(v, "no-cache"))
            return 0;
        const char *m = strcasestr(v, "max-age=");
        if (m) {
            long long age = strtoll(m + 8, NULL, 10);
            return age < 0 ? 0 : age > CIMD_MAX_MAX_AGE ? CIMD_MAX_MAX_AGE : age;
        }
    }
    return CIMD_DEFAULT_MAX_AGE;
}

static bool ipv4_is_private(uint32_t a)
{
    return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 || (a >> 16) == 0xA9FE ||
           (a >> 20) == 0xAC1 || (a >> 16) == 0xC0A8 || (a >> 22) == (100u << 2 | 1) || (a >> 28) >= 0xE;
}

/* Refuse loopback, private, link-local, CGNAT, multicast and unspecified addresses (SSRF). */
static bool public_address_only(const struct sockaddr *addr, socklen_t len, void *arg)
{
    (void)arg;
    (void)len;
    if (cimd_allow_private)
        return true;
    if (addr->sa_family == AF_INET)
        return !ipv4_is_private(ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr));
    if (addr->sa_family != AF_INET6)
        return false;
    const unsigned char *b = ((const struct sockaddr_in6 *)addr)->sin6_addr.s6_addr;
    static const unsigned char zeros[10] = {0};
    if (memcmp(b, zeros, 10) == 0 && b[10] == 0xff && b[11] == 0xff) /* v4-mapped */
        return !ipv4_is_private((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
    static const unsigned char zeros16[16] = {0};
    if (memcmp(b, zeros16, 15) == 0 && (b[15] == 0 || b[15] == 1)) /* :: and ::1 */
        return false;
    if ((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) || b[0] == 0xff)
        return false;
    return true;
}

/*
 * How a metadata-document client authenticates at the token endpoint. A document client never
 * shared a secret with us, so the draft allows only "none" and key-based methods; of those we
 * implement private_key_jwt (RFC 7523), with the keys from the document's "jwks" or "jwks_uri".
 * A document may also list token_endpoint_auth_methods_supported (ChatGPT's does: ["none",
 * "private_key_jwt"]): "none" there lets a client that sends no assertion in as a public one.
 */
enum cimd_auth {
    CIMD_AUTH_REFUSED,
    CIMD_AUTH_NONE,        /* public client */
    CIMD_AUTH_KEY,         /* private_key_jwt, required */
    CIMD_AUTH_KEY_OR_NONE, /* private_key_jwt when an assertion is sent, else public */
};

static bool json_array_has_string(const json_t *array, const char *value)
{
    size_t i;
    const json_t *item;
    json_array_foreach(array, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), value) == 0)
            return true;
    }
    return false;
}

static enum cimd_auth cimd_auth_method(const json_t *doc, const char **why)
{
    const char *method = json_string_value(json_object_get(doc, "token_endpoint_auth_method"));
    bool none_listed =
        json_array_has_string(json_object_get(doc, "token_endpoint_auth_methods_supported"), "none");
    if (!method || strcmp(method, "none") == 0)
        return CIMD_AUTH_NONE;
    if (strcmp(method, "private_key_jwt") == 0) {
        if (!client_meta_keys_valid(doc, why))
            return none_listed ? CIMD_AUTH_NONE : CIMD_AUTH_REFUSED;
        return none_listed ? CIMD_AUTH_KEY_OR_NONE : CIMD_AUTH_KEY;
    }
    if (none_listed)
        return CIMD_AUTH_NONE;
    *why = "metadata document clients must use token_endpoint_auth_method none or private_key_jwt";
    return CIMD_AUTH_REFUSED;
}

/* The record of a metadata document, or NULL with *why. */
static json_t *cimd_record(const char *url, const char *body, size_t len, const char **why)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, 0, &jerr);
    json_t *rec = NULL;
    if (!json_is_object(doc)) {
        *why = "client metadata document is not a JSON object";
        goto out;
    }
    const char *id = json_string_value(json_object_get(doc, "client_id"));
    if (!id || strcmp(id, url) != 0) {
        *why = "client_id in the metadata document does not equal its URL";
        goto out;
    }
    enum cimd_auth auth = cimd_auth_method(doc, why);
    if (auth == CIMD_AUTH_REFUSED)
        goto out;
    const json_t *uris = json_object_get(doc, "redirect_uris");
    if (!json_is_array(uris) || json_array_size(uris) == 0 || json_array_size(uris) > 10) {
        *why = "metadata document needs 1 to 10 redirect_uris";
        goto out;
    }
    for (size_t i = 0; i < json_array_size(uris); i++) {
        const char *u = json_string_value(json_array_get(uris, i));
        if (!u || !redirect_uri_registrable(u, why))
            goto out;
    }
    rec = json_pack("{s:s, s:O, s:s, s:b, s:b, s:[ss]}", "client_id", url, "redirect_uris", uris,
                    "token_endpoint_auth_method", auth == CIMD_AUTH_NONE ? "none" : "private_key_jwt", "cimd",
                    1, "used", 1, "grant_types", "authorization_code", "refresh_token");
    if (auth != CIMD_AUTH_NONE) {
        const char *keys_member = json_object_get(doc, "jwks") ? "jwks" : "jwks_uri";
        json_object_set(rec, keys_member, json_object_get(doc, keys_member));
        if (auth == CIMD_AUTH_KEY_OR_NONE)
            json_object_set_new(rec, "public_fallback", json_true());
    }
    const char *name = json_string_value(json_object_get(doc, "client_name"));
    if (name && strlen(name) <= 200)
        json_object_set_new(rec, "client_name", json_string(name));
out:
    json_decref(doc);
    return rec;
}

/* ---- lookup ---- */

struct lookup {
    struct auth_worker *w;
    char *client_id;
    client_store_fn cb;
    void *arg;
};

static void lookup_finish(struct lookup *l, enum gw_err err, json_t *record, const char *why)
{
    struct auth_client *client = NULL;
    if (err == GW_OK && auth_client_from_record(record, &client) != GW_OK) {
        err = GW_ERR_NOT_FOUND;
        why = "stored client record is damaged";
    }
    l->cb(err, client, why, l->arg);
    free(l->client_id);
    free(l);
}

static void cimd_done(struct http_client_response *r, void *arg)
{
    struct lookup *l = arg;
    const char *why = "client metadata document could not be fetched";
    if (r->address_refused)
        why = "client metadata document URL resolves to a private address";
    if (r->err != GW_OK || r->status != 200) {
        log_write(LOG_WARNING, "Client metadata document fetch failed",
                  (struct log_field[]){log_str("client_id", l->client_id), log_str("error", r->error),
                                       log_int("status", r->status)},
                  3);
        lookup_finish(l, GW_ERR_INVALID, NULL, why);
        return;
    }
    json_t *rec = cimd_record(l->client_id, r->body.data ? r->body.data : "", r->body.len, &why);
    if (!rec) {
        lookup_finish(l, GW_ERR_INVALID, NULL, why);
        return;
    }
    cache_store(l->w->cimd_cache, l->client_id, rec, response_max_age(r));
    lookup_finish(l, GW_OK, rec, NULL);
    json_decref(rec);
}

static void redis_done(const struct redis_result *result, void *arg)
{
    struct lookup *l = arg;
    if (result->err != GW_OK) {
        lookup_finish(l, GW_ERR_UNAVAILABLE, NULL, result->error);
        return;
    }
    if (result->reply->type != REDIS_REPLY_STRING) {
        lookup_finish(l, GW_ERR_NOT_FOUND, NULL, "unknown client");
        return;
    }
    json_error_t jerr;
    json_t *rec = json_loadb(result->reply->str, result->reply->len, 0, &jerr);
    lookup_finish(l, rec ? GW_OK : GW_ERR_NOT_FOUND, rec, rec ? NULL : "stored client record is damaged");
    json_decref(rec);
}

void client_store_get(struct auth_worker *w, const char *client_id, client_store_fn cb, void *arg)
{
    struct lookup *l = gw_calloc(1, sizeof(*l));
    l->w = w;
    l->client_id = gw_strdup(client_id ? client_id : "");
    l->cb = cb;
    l->arg = arg;
    if (!client_id || !*client_id || strlen(client_id) > 2048) {
        lookup_finish(l, GW_ERR_NOT_FOUND, NULL, "unknown client");
        return;
    }
    for (size_t i = 0; i < json_array_size(static_clients); i++) {
        json_t *rec = json_array_get(static_clients, i);
        if (strcmp(json_string_value(json_object_get(rec, "client_id")), client_id) == 0) {
            lookup_finish(l, GW_OK, rec, NULL);
            return;
        }
    }
    if (client_id_is_metadata_url(client_id)) {
        json_t *cached = cache_lookup(w->cimd_cache, client_id);
        if (cached) {
            lookup_finish(l, GW_OK, cached, NULL);
            return;
        }
        struct http_client_request req = {
            .url = client_id,
            .headers = (struct http_header[]){{"Accept", "application/json"}},
            .nheaders = 1,
            .connect_timeout_ms = CIMD_TIMEOUT_MS,
            .timeout_ms = CIMD_TIMEOUT_MS,
            .max_response_bytes = CIMD_MAX_BYTES,
            .follow_redirects = false,
            .allow_address = public_address_only,
            .ca_file = cimd_ca_file,
        };
        if (!w->http || http_client_request(w->http, &req, cimd_done, l, NULL) != GW_OK)
            lookup_finish(l, GW_ERR_INVALID, NULL, "client metadata document could not be fetched");
        return;
    }
    char *key = auth_key_alloc("client:", client_id);
    const char *argv[] = {"GET", key};
    enum gw_err err =
        w->redis ? redis_command_argv(w->redis, redis_done, l, 2, argv, NULL) : GW_ERR_UNAVAILABLE;
    free(key);
    if (err != GW_OK)
        lookup_finish(l, GW_ERR_UNAVAILABLE, NULL, "Redis unavailable");
}

/* ---- keys of private_key_jwt metadata-document clients ---- */

/* A key set fetched less than this long ago is not fetched again for an unknown kid, so
 * assertions with made-up kids cannot make us hammer a client's jwks_uri. */
#define JWKS_REFETCH_MIN_USEC (30 * 1000000LL)

struct keys_fetch {
    struct auth_worker *w;
    char *uri, *cache_key;
    client_keys_fn cb;
    void *arg;
};

static void keys_fetch_free(struct keys_fetch *f)
{
    free(f->uri);
    free(f->cache_key);
    free(f);
}

/* Parse a JWKS object into a key set for cb. */
static void keys_from_json(const json_t *jwks, bool cached, client_keys_fn cb, void *arg)
{
    char *text = json_dumps(jwks, JSON_COMPACT);
    struct jwt_keyset *set = NULL;
    if (!text || jwt_keyset_from_jwks(text, strlen(text), &set, NULL) != GW_OK) {
        free(text);
        cb(GW_ERR_INVALID, NULL, cached, "the client's key set has no usable RS256 or ES256 key", arg);
        return;
    }
    free(text);
    cb(GW_OK, set, cached, NULL, arg);
}

static void keys_fetched(struct http_client_response *r, void *arg)
{
    struct keys_fetch *f = arg;
    if (r->err != GW_OK || r->status != 200) {
        log_write(LOG_WARNING, "Client key set fetch failed",
                  (struct log_field[]){log_str("jwks_uri", f->uri), log_str("error", r->error),
                                       log_int("status", r->status)},
                  3);
        f->cb(GW_ERR_INVALID, NULL, false,
              r->address_refused ? "the client's jwks_uri resolves to a private address"
                                 : "the client's jwks_uri could not be fetched",
              f->arg);
        keys_fetch_free(f);
        return;
    }
    json_error_t jerr;
    json_t *jwks = json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, &jerr);
    if (!json_is_object(jwks)) {
        f->cb(GW_ERR_INVALID, NULL, false, "the client's jwks_uri is not a JSON key set", f->arg);
    } else {
        cache_store(f->w->cimd_cache, f->cache_key, jwks, response_max_age(r));
        keys_from_json(jwks, false, f->cb, f->arg);
    }
    json_decref(jwks);
    keys_fetch_free(f);
}

void client_store_get_keys(struct auth_worker *w, const struct auth_client *client, bool refresh,
                           client_keys_fn cb, void *arg)
{
    const json_t *inline_keys = json_object_get(client->record, "jwks");
    if (inline_keys) {
        keys_from_json(inline_keys, false, cb, arg);
        return;
    }
    const char *uri = json_string_value(json_object_get(client->record, "jwks_uri"));
    if (!uri) {
        cb(GW_ERR_INVALID, NULL, false, "the client has no key set", arg);
        return;
    }
    /* the cache is shared with documents, whose keys are https URLs too: prefix ours */
    char *cache_key = gw_malloc(strlen(uri) + 6);
    snprintf(cache_key, strlen(uri) + 6, "jwks %s", uri);
    const struct cimd_entry *e = cache_entry(w->cimd_cache, cache_key);
    if (e && (!refresh || server_now_usec() - e->stored_usec < JWKS_REFETCH_MIN_USEC)) {
        free(cache_key);
        keys_from_json(e->record, true, cb, arg);
        return;
    }
    struct keys_fetch *f = gw_calloc(1, sizeof(*f));
    f->w = w;
    f->uri = gw_strdup(uri);
    f->cache_key = cache_key;
    f->cb = cb;
    f->arg = arg;
    struct http_client_request req = {
        .url = uri,
        .headers = (struct http_header[]){{"Accept", "application/json"}},
        .nheaders = 1,
        .connect_timeout_ms = CIMD_TIMEOUT_MS,
        .timeout_ms = CIMD_TIMEOUT_MS,
        .max_response_bytes = JWT_JWKS_MAX_BYTES,
        .follow_redirects = false,
        .allow_address = public_address_only,
        .ca_file = cimd_ca_file,
    };
    if (!w->http || http_client_request(w->http, &req, keys_fetched, f, NULL) != GW_OK) {
        keys_fetch_free(f);
        cb(GW_ERR_INVALID, NULL, false, "the client's jwks_uri could not be fetched", arg);
    }
}
