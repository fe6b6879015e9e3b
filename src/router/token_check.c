/*
 * token_check.c - the router's bearer-token check (see token_check.h and docs/internals/tokens.md).
 *
 * Per worker: the verification keyset (HS256 secret, or auth's JWKS fetched over HTTP), a
 * jwt_cache of verified tokens, and a local set of revoked jti's refreshed from the Redis sorted
 * set `revocations` every 250 ms. Nothing here waits: fetches and polls run on the worker's loop
 * and publish their results for the requests that come after.
 *
 * The cache keeps, beside each verified token's claims, what token_check needs from them
 * (struct cached_identity: the identity copied out once, the hash of its jti for the revoked set,
 * and whether MCP_SCOPES are granted), so a cached token costs the cache's digest, its claim
 * compares, one revoked-set probe and one copy of the identity: no JSON per request.
 */
#include "router/token_check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "core/alloc.h"
#include "core/http_client.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/public_url.h"
#include "core/redis.h"
#include "router/bearer.h"

#define JWKS_MIN_INTERVAL_USEC (10LL * 1000000) /* unknown-kid refreshes: at most one per 10 s */
#define JWKS_RETRY_FIRST_MS 500                 /* no keys yet: retry soon, backing off ... */
#define JWKS_RETRY_MAX_MS 10000                 /* ... up to 10 s */
#define REVOCATION_POLL_MS 250                  /* tokens.md: one small round trip per 250 ms */
#define REVOCATION_OVERLAP_MS 5000              /* re-read the last 5 s: tolerate clock skew between auths */
#define POLL_STALE_USEC (3LL * 1000000)         /* no successful poll for 3 s: not ready */
#define LEEWAY_SECONDS 30
#define CACHE_ENTRIES 4096

/* ---- metrics (process-wide, registered once) ---- */

static struct metric_family *checks_metric, *jwks_metric;
/* router_token_checks_total's series by result, resolved on first use */
static struct metric_series *_Atomic checks_series[TOKEN_UNAVAILABLE + 1];
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void register_metrics_once(void)
{
    checks_metric = metrics_register(METRIC_COUNTER, "router_token_checks_total",
                                     "Bearer token checks by the router, by result",
                                     (const char *[]){"result"}, 1, NULL, 0);
    jwks_metric = metrics_register(METRIC_COUNTER, "router_jwks_refreshes_total",
                                   "JWKS fetches from the authorization server, by result",
                                   (const char *[]){"result"}, 1, NULL, 0);
}

void token_check_register_metrics(void)
{
    pthread_once(&metrics_once, register_metrics_once);
}

const char *token_check_result_name(enum token_check_result result)
{
    switch (result) {
    case TOKEN_OK:
        return "ok";
    case TOKEN_MISSING:
        return "missing";
    case TOKEN_INVALID:
        return "invalid";
    case TOKEN_EXPIRED:
        return "expired";
    case TOKEN_WRONG_AUDIENCE:
        return "wrong_audience";
    case TOKEN_REVOKED:
        return "revoked";
    case TOKEN_INSUFFICIENT_SCOPE:
        return "insufficient_scope";
    case TOKEN_UNAVAILABLE:
        return "unavailable";
    }
    return "invalid";
}

/* ---- the local set of revoked jti's: open addressing, rebuilt when it fills up ---- */

struct revoked_entry {
    char *jti;            /* NULL: empty slot */
    long long expires_at; /* Unix seconds after which the token is dead anyway */
};

struct revoked_set {
    struct revoked_entry *slots;
    size_t cap; /* power of two */
    size_t used;
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The slot of jti (whose hash_str is hash), or the empty slot where it would go. */
static struct revoked_entry *revoked_slot_hashed(const struct revoked_set *set, const char *jti,
                                                 uint64_t hash)
{
    size_t mask = set->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask)
        if (!set->slots[i].jti || strcmp(set->slots[i].jti, jti) == 0)
            return &set->slots[i];
}

static struct revoked_entry *revoked_slot(const struct revoked_set *set, const char *jti)
{
    return revoked_slot_hashed(set, jti, hash_str(jti));
}

static void revoked_rebuild(struct revoked_set *set, size_t new_cap, long long now)
{
    struct revoked_set fresh = {.slots = gw_calloc(new_cap, sizeof(struct revoked_entry)), .cap = new_cap};
    for (size_t i = 0; i < set->cap; i++) {
        struct revoked_entry *e = &set->slots[i];
        if (!e->jti)
            continue;
        if (e->expires_at < now) {
            free(e->jti);
            continue;
        }
        *revoked_slot(&fresh, e->jti) = *e;
        fresh.used++;
    }
    free(set->slots);
    *set = fresh;
}

static void revoked_add(struct revoked_set *set, const char *jti, long long expires_at, long long now)
{
    if (set->cap == 0)
        revoked_rebuild(set, 64, now);
    struct revoked_entry *e = revoked_slot(set, jti);
    if (e->jti) {
        if (expires_at > e->expires_at)
            e->expires_at = expires_at;
        return;
    }
    e->jti = gw_strdup(jti);
    e->expires_at = expires_at;
    set->used++;
    if (set->used * 2 > set->cap) {
        revoked_rebuild(set, set->cap, now); /* drop the dead first ... */
        if (set->used * 2 > set->cap)
            revoked_rebuild(set, set->cap * 2, now); /* ... and grow only if still full */
    }
}

/* jti_hash: hash_str(jti), computed once per cached token. */
static bool revoked_contains(const struct revoked_set *set, const char *jti, uint64_t jti_hash)
{
    return set->cap && revoked_slot_hashed(set, jti, jti_hash)->jti != NULL;
}

static void revoked_free(struct revoked_set *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->slots[i].jti);
    free(set->slots);
    memset(set, 0, sizeof(*set));
}

/* ---- the checker ---- */

/* A Redis command in flight holds one of these rather than the checker, so freeing the checker
 * first only detaches it (the callback then frees it). */
struct poll_request {
    struct token_checker *tc; /* NULL once the checker is gone */
    bool initial;             /* the full ZRANGE load */
};

struct token_checker {
    struct event_base *base;
    struct redis_client *redis; /* borrowed */
    struct http_client *http;   /* owned; NULL with HS256 */
    struct jwt_keyset *keys;    /* NULL until the first JWKS arrived */
    struct jwt_cache *cache;
    char *issuer;
    char *jwks_url;
    char *revocations_key;       /* REDIS_KEY_PREFIX "revocations" */
    char *revocation_expiry_key; /* REDIS_KEY_PREFIX "revocation_expiry" */
    char **scopes;
    size_t nscopes;
    long long
        token_lifetime; /* ACCESS_TOKEN_LIFETIME: how long a revoked jti without a recorded exp matters */
    bool hs256;

    struct http_transfer *jwks_transfer;
    int64_t jwks_last_refresh_usec; /* last unknown-kid refresh started (0: none) */
    struct event *jwks_retry_timer;
    int jwks_retry_ms;
    unsigned long long jwks_fetches_ok;

    struct revoked_set revoked;
    struct poll_request *poll_in_flight;
    struct event *poll_timer;
    bool revocations_loaded;
    long long revocations_last_ms; /* highest revocation score seen */
    int64_t last_poll_ok_usec;
};

/* ---- what the cache keeps per token for us (jwt_cache_set_derive) ---- */

struct cached_identity {
    struct token_identity identity; /* bearer_identity_from_claims, zero-padded */
    uint64_t jti_hash;              /* hash_str(identity.jti) */
    bool scopes_ok;                 /* identity.scope grants every MCP_SCOPES entry */
};

/* Depends only on the claims and the checker's MCP_SCOPES, which never change. */
static bool derive_identity(const json_t *claims, void *out, void *arg)
{
    const struct token_checker *tc = arg;
    struct cached_identity *ci = out;
    if (!bearer_identity_from_claims(claims, &ci->identity))
        return false;
    ci->jti_hash = hash_str(ci->identity.jti);
    ci->scopes_ok = bearer_scopes_satisfied(ci->identity.scope, tc->scopes, tc->nscopes);
    return true;
}

static int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void count_jwks(const char *result)
{
    metrics_add(jwks_metric, (const char *[]){result}, 1);
}

/* ---- JWKS ---- */

static void start_jwks_fetch(struct token_checker *tc);

static void jwks_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_jwks_fetch(arg);
}

static void schedule_jwks_retry(struct token_checker *tc)
{
    if (tc->keys)
        return; /* a working set exists: only unknown kids trigger refreshes */
    tc->jwks_retry_ms = tc->jwks_retry_ms ? tc->jwks_retry_ms * 2 : JWKS_RETRY_FIRST_MS;
    if (tc->jwks_retry_ms > JWKS_RETRY_MAX_MS)
        tc->jwks_retry_ms = JWKS_RETRY_MAX_MS;
    struct timeval tv = {tc->jwks_retry_ms / 1000, (tc->jwks_retry_ms % 1000) * 1000};
    evtimer_add(tc->jwks_retry_timer, &tv);
}

/* A new set replaces the old one; tokens verified with a key that is gone must not stay
 * honoured from the cache, so the cache is cleared when a kid disappeared. */
static void install_keys(struct token_checker *tc, struct jwt_keyset *fresh)
{
    bool key_removed = false;
    if (tc->keys) {
        for (size_t i = 0; i < jwt_keyset_count(tc->keys); i++)
            if (!jwt_keyset_find(fresh, jwt_key_kid(jwt_keyset_key_at(tc->keys, i))))
                key_removed = true;
    }
    jwt_keyset_free(tc->keys);
    tc->keys = fresh;
    if (key_removed)
        jwt_cache_clear(tc->cache);
}

static void jwks_done(struct http_client_response *response, void *arg)
{
    struct token_checker *tc = arg;
    tc->jwks_transfer = NULL;
    if (response->err != GW_OK || response->status != 200) {
        log_write(
            LOG_WARNING, "JWKS fetch failed",
            (struct log_field[]){log_str("url", tc->jwks_url), log_int("status", response->status),
                                 log_str("error", response->err != GW_OK ? response->error : "HTTP status")},
            3);
        count_jwks("error");
        schedule_jwks_retry(tc);
        return;
    }
    struct jwt_keyset *fresh = NULL;
    const char *why = NULL;
    enum gw_err err = jwt_keyset_from_jwks(response->body.data, response->body.len, &fresh, &why);
    if (err != GW_OK) {
        log_write(LOG_WARNING, "JWKS rejected",
                  (struct log_field[]){log_str("url", tc->jwks_url), log_str("error", why ? why : "invalid")},
                  2);
        count_jwks("invalid");
        schedule_jwks_retry(tc);
        return;
    }
    log_write(LOG_INFO, "JWKS loaded",
              (struct log_field[]){log_str("url", tc->jwks_url),
                                   log_int("keys", (long long)jwt_keyset_count(fresh))},
              2);
    install_keys(tc, fresh);
    tc->jwks_retry_ms = 0;
    tc->jwks_fetches_ok++;
    count_jwks("success");
}

static void start_jwks_fetch(struct token_checker *tc)
{
    if (tc->hs256 || tc->jwks_transfer)
        return;
    struct http_client_request req = {
        .method = "GET",
        .url = tc->jwks_url,
        .headers = (const struct http_header[]){{"Accept", "application/json"}},
        .nheaders = 1,
        .connect_timeout_ms = 2000,
        .timeout_ms = 5000,
        .max_response_bytes = JWT_JWKS_MAX_BYTES,
    };
    if (http_client_request(tc->http, &req, jwks_done, tc, &tc->jwks_transfer) != GW_OK) {
        tc->jwks_transfer = NULL;
        count_jwks("error");
        schedule_jwks_retry(tc);
    }
}

/* An unknown kid: maybe auth rotated its key. Refetch, at most once per 10 s (a flood of tokens
 * with made-up kids must not become a flood of requests to auth). */
static void maybe_refresh_for_unknown_kid(struct token_checker *tc)
{
    if (tc->hs256 || tc->jwks_transfer)
        return;
    int64_t now = now_usec();
    if (tc->jwks_last_refresh_usec && now - tc->jwks_last_refresh_usec < JWKS_MIN_INTERVAL_USEC)
        return;
    tc->jwks_last_refresh_usec = now;
    start_jwks_fetch(tc);
}

/* ---- revocations ---- */

static void poll_cb(evutil_socket_t fd, short what, void *arg);

static void schedule_poll(struct token_checker *tc)
{
    struct timeval tv = {0, REVOCATION_POLL_MS * 1000};
    evtimer_add(tc->poll_timer, &tv);
}

/*
 * One poll, atomic in Redis. Auth keeps two sorted sets of revoked jtis (tokens.md):
 * `revocations` scored by revocation time (ms; what is new since the last poll) and
 * `revocation_expiry` scored by the revoked token's exp (s; how long the jti matters). A router
 * must remember a jti until that exp, however long the token lives (generate-token --ttl,
 * ACCESS_TOKEN_LIFETIME changed since), so the poll returns the exp with each jti.
 * KEYS[1] revocations, KEYS[2] revocation_expiry; ARGV[1] the revocation time (ms) to read from,
 * or "" for the first load, which reads all of `revocations` and every jti of
 * `revocation_expiry` whose token has not expired (auth drops `revocations` entries after 30
 * days, a longer-lived token's from `revocation_expiry` only when it expires); ARGV[2] now (s).
 * Reply: triples jti, revocation ms ("0" if unknown), exp ("" if unknown).
 */
static const char revocation_poll_script[] =
    "local out = {}\n"
    "local function add(jti, revoked, exp)\n"
    "  out[#out + 1] = jti\n"
    "  out[#out + 1] = revoked\n"
    "  out[#out + 1] = exp\n"
    "end\n"
    "if ARGV[1] == '' then\n"
    "  local seen = {}\n"
    "  local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')\n"
    "  for i = 1, #all, 2 do\n"
    "    seen[all[i]] = true\n"
    "    add(all[i], all[i + 1], redis.call('ZSCORE', KEYS[2], all[i]) or '')\n"
    "  end\n"
    "  local live = redis.call('ZRANGEBYSCORE', KEYS[2], tonumber(ARGV[2]) - 60, '+inf', 'WITHSCORES')\n"
    "  for i = 1, #live, 2 do\n"
    "    if not seen[live[i]] then add(live[i], '0', live[i + 1]) end\n"
    "  end\n"
    "  return out\n"
    "end\n"
    "local new = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf', 'WITHSCORES')\n"
    "for i = 1, #new, 2 do\n"
    "  add(new[i], new[i + 1], redis.call('ZSCORE', KEYS[2], new[i]) or '')\n"
    "end\n"
    "return out\n";

static long long reply_number(const struct redisReply *r)
{
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* The triples of revocation_poll_script. */
static void absorb_revocations(struct token_checker *tc, const struct redisReply *reply)
{
    long long now = (long long)time(NULL);
    for (size_t i = 0; i + 2 < reply->elements; i += 3) {
        const struct redisReply *jti = reply->element[i], *exp = reply->element[i + 2];
        long long revoked_ms = reply_number(reply->element[i + 1]);
        if (revoked_ms > tc->revocations_last_ms)
            tc->revocations_last_ms = revoked_ms;
        if (jti->type != REDIS_REPLY_STRING || jti->len == 0 || jti->len > 255)
            continue;
        /* Without a recorded exp (an auth older than revocation_expiry), the token lives at most
         * ACCESS_TOKEN_LIFETIME from its revocation. */
        long long token_exp =
            (exp->type == REDIS_REPLY_STRING && exp->len > 0) || exp->type == REDIS_REPLY_INTEGER
                ? reply_number(exp)
                : revoked_ms / 1000 + tc->token_lifetime;
        long long expires_at = token_exp + LEEWAY_SECONDS + 1;
        if (expires_at < now)
            continue;
        char jti_text[256];
        memcpy(jti_text, jti->str, jti->len);
        jti_text[jti->len] = '\0';
        revoked_add(&tc->revoked, jti_text, expires_at, now);
    }
}

static void poll_done(const struct redis_result *result, void *arg)
{
    struct poll_request *pr = arg;
    struct token_checker *tc = pr->tc;
    bool initial = pr->initial;
    free(pr);
    if (!tc)
        return; /* the checker was freed meanwhile */
    tc->poll_in_flight = NULL;
    if (result->err == GW_OK && result->reply->type == REDIS_REPLY_ARRAY) {
        absorb_revocations(tc, result->reply);
        if (initial) {
            tc->revocations_loaded = true;
            log_write(LOG_INFO, "Revocation list loaded",
                      (struct log_field[]){log_int("revoked", (long long)tc->revoked.used)}, 1);
        }
        tc->last_poll_ok_usec = now_usec();
    }
    schedule_poll(tc);
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct token_checker *tc = arg;
    if (tc->poll_in_flight || !tc->redis)
        return; /* without a Redis client there is nothing to poll (the checker stays not ready) */
    struct poll_request *pr = gw_calloc(1, sizeof(*pr));
    pr->tc = tc;
    pr->initial = !tc->revocations_loaded;
    char from[32] = "", now[32];
    if (!pr->initial) {
        long long start = tc->revocations_last_ms - REVOCATION_OVERLAP_MS;
        snprintf(from, sizeof(from), "%lld", start > 0 ? start : 0);
    }
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    const char *argv[] = {
        "EVAL", revocation_poll_script, "2", tc->revocations_key, tc->revocation_expiry_key, from, now};
    enum gw_err err = redis_command_argv(tc->redis, poll_done, pr, 7, argv, NULL);
    if (err != GW_OK) { /* Redis down: auth cannot revoke either; try again next tick */
        free(pr);
        schedule_poll(tc);
        return;
    }
    tc->poll_in_flight = pr;
}

/* ---- life cycle ---- */

enum gw_err token_checker_create(struct event_base *base, const struct config *cfg,
                                 struct redis_client *redis, struct token_checker **out)
{
    *out = NULL;
    token_check_register_metrics();
    struct token_checker *tc = gw_calloc(1, sizeof(*tc));
    tc->base = base;
    tc->redis = redis;
    tc->cache = jwt_cache_new(CACHE_ENTRIES, JWT_CACHE_DEFAULT_TTL);
    tc->issuer = public_url_issuer(cfg);
    tc->scopes = config_get_list(cfg, "MCP_SCOPES", &tc->nscopes);
    jwt_cache_set_derive(tc->cache, sizeof(struct cached_identity), derive_identity, tc);
    tc->token_lifetime = config_get_int(cfg, "ACCESS_TOKEN_LIFETIME", 86400);
    const char *prefix = config_get(cfg, "REDIS_KEY_PREFIX", "oauth:");
    size_t n = strlen(prefix) + sizeof("revocations");
    tc->revocations_key = gw_malloc(n);
    snprintf(tc->revocations_key, n, "%srevocations", prefix);
    n = strlen(prefix) + sizeof("revocation_expiry");
    tc->revocation_expiry_key = gw_malloc(n);
    snprintf(tc->revocation_expiry_key, n, "%srevocation_expiry", prefix);
    tc->jwks_retry_timer = evtimer_new(base, jwks_retry_cb, tc);
    tc->poll_timer = evtimer_new(base, poll_cb, tc);

    if (strcmp(config_get(cfg, "JWT_ALGORITHM", "RS256"), "HS256") == 0) {
        tc->hs256 = true;
        const char *secret = config_get(cfg, "GATEWAY_JWT_SECRET", "");
        struct jwt_key *key = NULL;
        const char *why = NULL;
        if (jwt_key_from_secret(secret, strlen(secret), &key, &why) != GW_OK) {
            log_write(LOG_ERROR, "GATEWAY_JWT_SECRET unusable", (struct log_field[]){log_str("error", why)},
                      1);
            token_checker_free(tc);
            return GW_ERR_CONFIG;
        }
        tc->keys = jwt_keyset_new();
        jwt_keyset_add(tc->keys, key);
        jwt_key_free(key);
    } else {
        const char *base_url = config_get(cfg, "AUTH_INTERNAL_URL", NULL);
        char fallback[128];
        if (!base_url || !*base_url) {
            config_internal_url(cfg, config_get_int(cfg, "AUTH_PORT", 8000), fallback, sizeof(fallback));
            base_url = fallback;
        }
        size_t len = strlen(base_url);
        while (len > 0 && base_url[len - 1] == '/')
            len--;
        tc->jwks_url = gw_malloc(len + sizeof("/jwks"));
        memcpy(tc->jwks_url, base_url, len);
        memcpy(tc->jwks_url + len, "/jwks", sizeof("/jwks"));
        enum gw_err err = http_client_create(base, &tc->http);
        if (err != GW_OK) {
            token_checker_free(tc);
            return err;
        }
        start_jwks_fetch(tc); /* the start-up fetch does not count against the 10 s rule */
    }
    poll_cb(-1, 0, tc);
    *out = tc;
    return GW_OK;
}

void token_checker_free(struct token_checker *tc)
{
    if (!tc)
        return;
    if (tc->poll_in_flight)
        tc->poll_in_flight->tc = NULL; /* its callback frees it */
    if (tc->jwks_transfer)
        http_client_cancel(tc->jwks_transfer);
    http_client_free(tc->http);
    if (tc->poll_timer)
        event_free(tc->poll_timer);
    if (tc->jwks_retry_timer)
        event_free(tc->jwks_retry_timer);
    jwt_keyset_free(tc->keys);
    jwt_cache_free(tc->cache);
    revoked_free(&tc->revoked);
    config_list_free(tc->scopes, tc->nscopes);
    free(tc->issuer);
    free(tc->jwks_url);
    free(tc->revocations_key);
    free(tc->revocation_expiry_key);
    free(tc);
}

/* ---- the check ---- */

static enum token_check_result finish(enum token_check_result result, const char **reason, const char *why)
{
    if (reason)
        *reason = why;
    if ((unsigned)result < sizeof(checks_series) / sizeof(checks_series[0]))
        metrics_series_add(metrics_series_once(&checks_series[result], checks_metric,
                                               (const char *[]){token_check_result_name(result)}),
                           1);
    else
        metrics_add(checks_metric, (const char *[]){token_check_result_name(result)}, 1);
    return result;
}

/* finish() for the results that hand out no identity. */
static enum token_check_result refuse(struct token_identity *identity, enum token_check_result result,
                                      const char **reason, const char *why)
{
    if (identity)
        memset(identity, 0, sizeof(*identity));
    return finish(result, reason, why);
}

enum token_check_result token_check(struct token_checker *tc, const char *authorization,
                                    const char *expected_audience, struct token_identity *identity,
                                    const char **reason)
{
    const char *token = NULL;
    size_t len = 0;
    switch (bearer_parse(authorization, &token, &len)) {
    case BEARER_ABSENT:
        return refuse(identity, TOKEN_MISSING, reason, "no bearer token");
    case BEARER_MALFORMED:
        return refuse(identity, TOKEN_INVALID, reason, "malformed Authorization header");
    case BEARER_OK:
        break;
    }
    if (!tc->keys) {
        /* Auth was not reachable yet: fetch now, unless a retry is already waiting out its
         * backoff (requests must not turn into a stream of fetches against a down auth). */
        if (!evtimer_pending(tc->jwks_retry_timer, NULL))
            start_jwks_fetch(tc);
        return refuse(identity, TOKEN_INVALID, reason, "signing keys not loaded yet");
    }
    struct jwt_verify_options opts = {
        .issuer = tc->issuer, .audience = expected_audience, .leeway_seconds = LEEWAY_SECONDS};
    const void *derived = NULL;
    enum jwt_result jr = jwt_verify_cached_derived(tc->cache, tc->keys, token, len, &opts, &derived);
    switch (jr) {
    case JWT_OK:
        break;
    case JWT_EXPIRED:
        return refuse(identity, TOKEN_EXPIRED, reason, jwt_strerror(jr));
    case JWT_WRONG_AUDIENCE:
        return refuse(identity, TOKEN_WRONG_AUDIENCE, reason, jwt_strerror(jr));
    case JWT_UNKNOWN_KID:
        maybe_refresh_for_unknown_kid(tc);
        return refuse(identity, TOKEN_INVALID, reason, jwt_strerror(jr));
    default:
        return refuse(identity, TOKEN_INVALID, reason, jwt_strerror(jr));
    }
    /* Borrowed from the cache until its next call: copied out below, before anything else. */
    const struct cached_identity *ci = derived;
    if (!ci)
        return refuse(identity, TOKEN_INVALID, reason, "token lacks sub/jti or has oversized claims");
    /* A worker that has not read the revocation list yet (just started, or Redis unreachable
     * since it started) cannot know that this token was revoked hours ago: fail closed, with an
     * answer that tells the client to retry rather than to throw its token away. */
    if (tc->redis && !tc->revocations_loaded)
        return refuse(identity, TOKEN_UNAVAILABLE, reason, "revocation list not loaded yet");
    /* Per request, cache hits included: a revocation seen by the last poll applies at once. */
    if (revoked_contains(&tc->revoked, ci->identity.jti, ci->jti_hash))
        return refuse(identity, TOKEN_REVOKED, reason, "token revoked");
    if (identity)
        *identity = ci->identity;
    if (!ci->scopes_ok)
        return finish(TOKEN_INSUFFICIENT_SCOPE, reason, "token lacks a required scope");
    return finish(TOKEN_OK, reason, "ok");
}

bool token_checker_ready(const struct token_checker *tc)
{
    if (!tc->keys || !tc->revocations_loaded)
        return false;
    return now_usec() - tc->last_poll_ok_usec < POLL_STALE_USEC;
}

void token_checker_health_detail(const struct token_checker *tc, struct buf *detail)
{
    if (!tc->keys)
        buf_printf(detail, "signing keys not loaded from %s", tc->jwks_url ? tc->jwks_url : "secret");
    else if (!tc->revocations_loaded)
        buf_printf(detail, "revocation list not loaded (Redis unavailable)");
    else if (now_usec() - tc->last_poll_ok_usec >= POLL_STALE_USEC)
        buf_printf(detail, "revocation poll stale (Redis unavailable)");
    else
        buf_printf(detail, "%zu keys, %zu revoked jti tracked", jwt_keyset_count(tc->keys), tc->revoked.used);
}

void token_checker_key_info(const struct token_checker *tc, struct buf *out)
{
    const char *source = tc->hs256 ? "GATEWAY_JWT_SECRET" : tc->jwks_url;
    buf_append_str(out, "{\"role\":\"verifies\",\"source\":\"");
    buf_append_json_escaped(out, source, strlen(source));
    buf_append_str(out, "\",\"keys\":[");
    size_t n = tc->keys ? jwt_keyset_count(tc->keys) : 0;
    for (size_t i = 0; i < n; i++) {
        const struct jwt_key *key = jwt_keyset_key_at(tc->keys, i);
        const char *kid = jwt_key_kid(key);
        buf_printf(out, "%s{\"alg\":\"%s\",\"kid\":\"", i ? "," : "", jwt_alg_name(jwt_key_alg(key)));
        buf_append_json_escaped(out, kid, strlen(kid));
        buf_append_str(out, "\"}");
    }
    buf_append_str(out, "]}");
}

unsigned long long token_checker_jwks_fetches(const struct token_checker *tc)
{
    return tc->jwks_fetches_ok;
}
