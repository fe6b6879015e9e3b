/*
 * jwt_cache.c - per-thread cache of verified tokens: SHA-256(token) → claims.
 *
 * A set-associative table: the digest picks a group of CACHE_WAYS slots, and a token can only
 * live in its group. Lookup and insertion touch at most four slots, there is no list to keep
 * in order, and eviction is "an expired slot, else the slot that would expire first", which
 * favours the long-lived tokens that make up most traffic. The table never grows.
 *
 * Keyed by a digest rather than the token so that the cache holds no bearer tokens: a memory
 * dump of a router shows which claims were seen, not credentials that can be replayed.
 */
#include "jwt_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "crypto.h"

#define CACHE_WAYS 4

struct cache_entry {
    unsigned char digest[CRYPTO_SHA256_LEN];
    int64_t valid_until; /* 0: empty slot */
    json_t *claims;
};

struct jwt_cache {
    struct cache_entry *slots;
    size_t groups;
    int ttl;
    struct jwt_cache_stats stats;
};

struct jwt_cache *jwt_cache_new(size_t max_entries, int ttl_seconds)
{
    struct jwt_cache *cache = gw_calloc(1, sizeof *cache);
    cache->groups = max_entries > CACHE_WAYS ? (max_entries + CACHE_WAYS - 1) / CACHE_WAYS : 1;
    cache->slots = gw_calloc(cache->groups * CACHE_WAYS, sizeof *cache->slots);
    cache->ttl = ttl_seconds > 0 ? ttl_seconds : JWT_CACHE_DEFAULT_TTL;
    return cache;
}

static void drop_entry(struct jwt_cache *cache, struct cache_entry *e)
{
    json_decref(e->claims);
    e->claims = NULL;
    e->valid_until = 0;
    cache->stats.entries--;
}

void jwt_cache_clear(struct jwt_cache *cache)
{
    for (size_t i = 0; i < cache->groups * CACHE_WAYS; i++)
        if (cache->slots[i].valid_until)
            drop_entry(cache, &cache->slots[i]);
}

void jwt_cache_free(struct jwt_cache *cache)
{
    if (!cache)
        return;
    jwt_cache_clear(cache);
    free(cache->slots);
    free(cache);
}

/* The group of slots a digest lives in: its first 8 bytes are as random as any. */
static struct cache_entry *group_of(struct jwt_cache *cache, const unsigned char *digest)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return &cache->slots[(h % cache->groups) * CACHE_WAYS];
}

json_t *jwt_cache_lookup(struct jwt_cache *cache, const char *token, size_t len, int64_t now)
{
    unsigned char digest[CRYPTO_SHA256_LEN];
    crypto_sha256(token, len, digest);
    struct cache_entry *group = group_of(cache, digest);
    for (int i = 0; i < CACHE_WAYS; i++) {
        struct cache_entry *e = &group[i];
        if (!e->valid_until || memcmp(e->digest, digest, sizeof digest) != 0)
            continue;
        if (now < e->valid_until) {
            cache->stats.hits++;
            return e->claims;
        }
        drop_entry(cache, e);
        break;
    }
    cache->stats.misses++;
    return NULL;
}

void jwt_cache_store(struct jwt_cache *cache, const char *token, size_t len, json_t *claims, int64_t now)
{
    json_t *exp_v = json_object_get(claims, "exp");
    int64_t exp;
    if (json_is_integer(exp_v))
        exp = (int64_t)json_integer_value(exp_v);
    else if (json_is_real(exp_v) && json_real_value(exp_v) < 9.2e18 && json_real_value(exp_v) > 0)
        exp = (int64_t)json_real_value(exp_v);
    else
        return;
    int64_t until = now + cache->ttl;
    if (exp < until)
        until = exp;
    if (until <= now)
        return; /* already expired: nothing to remember */

    unsigned char digest[CRYPTO_SHA256_LEN];
    crypto_sha256(token, len, digest);
    struct cache_entry *group = group_of(cache, digest), *slot = NULL;
    for (int i = 0; i < CACHE_WAYS && !slot; i++)
        if (group[i].valid_until && memcmp(group[i].digest, digest, sizeof digest) == 0)
            slot = &group[i]; /* the same token again: refresh it */
    for (int i = 0; i < CACHE_WAYS && !slot; i++)
        if (!group[i].valid_until || group[i].valid_until <= now)
            slot = &group[i];
    if (!slot) {
        slot = &group[0];
        for (int i = 1; i < CACHE_WAYS; i++)
            if (group[i].valid_until < slot->valid_until)
                slot = &group[i];
        cache->stats.evictions++;
    }
    /* Reference first: claims may be the very object this slot holds (a re-store of a hit). */
    json_incref(claims);
    if (slot->valid_until)
        drop_entry(cache, slot);
    memcpy(slot->digest, digest, sizeof digest);
    slot->claims = claims;
    slot->valid_until = until;
    cache->stats.entries++;
}

enum jwt_result jwt_verify_cached(struct jwt_cache *cache, const struct jwt_keyset *set, const char *token,
                                  size_t len, const struct jwt_verify_options *opts, json_t **claims)
{
    static const struct jwt_verify_options defaults = JWT_VERIFY_OPTIONS_DEFAULT;
    if (!opts)
        opts = &defaults;
    if (claims)
        *claims = NULL;
    if (!token || len == 0 || len > JWT_MAX_TOKEN_LEN)
        return JWT_MALFORMED; /* not worth hashing */
    int64_t now = opts->now ? opts->now : (int64_t)time(NULL);
    json_t *cached = jwt_cache_lookup(cache, token, len, now);
    if (cached) {
        /* The signature held when stored; the claims are checked against this request. */
        enum jwt_result result = jwt_check_claims(cached, opts);
        if (!result && claims)
            *claims = json_incref(cached);
        return result;
    }
    json_t *fresh = NULL;
    enum jwt_result result = jwt_verify(set, token, len, opts, &fresh);
    if (result)
        return result;
    jwt_cache_store(cache, token, len, fresh, now);
    if (claims)
        *claims = fresh;
    else
        json_decref(fresh);
    return JWT_OK;
}

void jwt_cache_get_stats(const struct jwt_cache *cache, struct jwt_cache_stats *stats)
{
    *stats = cache->stats;
}
