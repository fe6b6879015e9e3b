/*
 * test_jwt_cache.c - the per-thread cache of verified tokens: hits, claim re-checks per
 * request, lifetime min(exp, stored + ttl), what is never stored, and eviction.
 */
#include "jwt_testutil.h"

static struct jwt_cache_stats stats_of(const struct jwt_cache *cache)
{
    struct jwt_cache_stats stats;
    jwt_cache_get_stats(cache, &stats);
    return stats;
}

static enum jwt_result cached_at(struct jwt_cache *cache, const struct jwt_keyset *set, const char *token,
                                 int64_t now)
{
    struct jwt_verify_options o = opts_now();
    o.now = now;
    return jwt_verify_cached(cache, set, token, strlen(token), &o, NULL);
}

static void test_cache_hit(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_cache *cache = jwt_cache_new(16, 60);
    struct jwt_verify_options o = opts_now();
    char *token = sign_claims(hs_key, claims_at(300));

    json_t *claims = NULL;
    assert_int_equal(jwt_verify_cached(cache, set, token, strlen(token), &o, &claims), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "12345");
    json_decref(claims);
    assert_int_equal(stats_of(cache).misses, 1);
    assert_int_equal(stats_of(cache).hits, 0);
    assert_int_equal(stats_of(cache).entries, 1);

    /* the hit hands out its own reference, like jwt_verify */
    assert_int_equal(jwt_verify_cached(cache, set, token, strlen(token), &o, &claims), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "12345");
    json_decref(claims);
    assert_int_equal(stats_of(cache).hits, 1);

    /* a hit needs no key set: proof it came from the cache. This is also the documented
     * trade-off: a withdrawn key's tokens are honoured until the entry ends, or a clear. */
    struct jwt_keyset *empty = jwt_keyset_new();
    assert_int_equal(jwt_verify_cached(cache, empty, token, strlen(token), &o, NULL), JWT_OK);
    jwt_cache_clear(cache);
    assert_int_equal(stats_of(cache).entries, 0);
    assert_int_equal(jwt_verify_cached(cache, empty, token, strlen(token), &o, NULL), JWT_UNKNOWN_KID);

    jwt_keyset_free(empty);
    free(token);
    jwt_cache_free(cache);
    jwt_keyset_free(set);
}

static void test_cache_rechecks_claims(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_cache *cache = jwt_cache_new(16, 60);
    char *token = sign_claims(hs_key, claims_at(300));
    assert_int_equal(cached_at(cache, set, token, NOW), JWT_OK);

    /* one cache serves every audience: a hit is checked against this request's options */
    struct jwt_verify_options o = opts_now();
    o.audience = "https://other.example.test/mcp";
    json_t *claims = (json_t *)1;
    assert_int_equal(jwt_verify_cached(cache, set, token, strlen(token), &o, &claims), JWT_WRONG_AUDIENCE);
    assert_null(claims);
    o = opts_now();
    o.issuer = "https://evil.test";
    assert_int_equal(jwt_verify_cached(cache, set, token, strlen(token), &o, NULL), JWT_WRONG_ISSUER);
    assert_int_equal(stats_of(cache).hits, 2);

    free(token);
    jwt_cache_free(cache);
    jwt_keyset_free(set);
}

static void test_cache_lifetime(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_cache *cache = jwt_cache_new(16, 60);

    /* a long-lived token stays for the ttl */
    char *token = sign_claims(hs_key, claims_at(300));
    assert_int_equal(cached_at(cache, set, token, NOW), JWT_OK);
    assert_non_null(jwt_cache_lookup(cache, token, strlen(token), NOW + 59));
    assert_null(jwt_cache_lookup(cache, token, strlen(token), NOW + 60));
    assert_int_equal(stats_of(cache).entries, 0); /* the stale entry was dropped */

    /* a short-lived one until its exp */
    char *short_lived = sign_claims(hs_key, claims_at(10));
    assert_int_equal(cached_at(cache, set, short_lived, NOW), JWT_OK);
    assert_non_null(jwt_cache_lookup(cache, short_lived, strlen(short_lived), NOW + 9));
    assert_null(jwt_cache_lookup(cache, short_lived, strlen(short_lived), NOW + 10));
    /* after that the full verification decides, with its leeway, and stores nothing */
    assert_int_equal(cached_at(cache, set, short_lived, NOW + 39), JWT_OK);
    assert_int_equal(stats_of(cache).entries, 0);
    assert_int_equal(cached_at(cache, set, short_lived, NOW + 40), JWT_EXPIRED);

    /* ttl <= 0 means the default 60 s */
    struct jwt_cache *dflt = jwt_cache_new(16, 0);
    assert_int_equal(cached_at(dflt, set, token, NOW), JWT_OK);
    assert_non_null(jwt_cache_lookup(dflt, token, strlen(token), NOW + JWT_CACHE_DEFAULT_TTL - 1));
    assert_null(jwt_cache_lookup(dflt, token, strlen(token), NOW + JWT_CACHE_DEFAULT_TTL));
    jwt_cache_free(dflt);

    free(short_lived);
    free(token);
    jwt_cache_free(cache);
    jwt_keyset_free(set);
}

static void test_cache_stores_only_valid(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_cache *cache = jwt_cache_new(16, 60);

    char *expired = sign_claims(hs_key, claims_at(-100));
    assert_int_equal(cached_at(cache, set, expired, NOW), JWT_EXPIRED);
    char *forged =
        craft_hs256("wrong-secret-wrong-secret-wrong-secret", 38, "{\"alg\":\"HS256\"}", valid_payload);
    assert_int_equal(cached_at(cache, set, forged, NOW), JWT_BAD_SIGNATURE);
    assert_int_equal(cached_at(cache, set, forged, NOW), JWT_BAD_SIGNATURE); /* checked every time */
    assert_int_equal(cached_at(cache, set, "junk", NOW), JWT_MALFORMED);
    assert_int_equal(jwt_verify_cached(cache, set, NULL, 0, NULL, NULL), JWT_MALFORMED);

    /* direct stores of claims without a usable, future exp are ignored */
    jwt_cache_store(cache, expired, strlen(expired), NULL, NOW);
    json_t *old = claims_at(-100);
    jwt_cache_store(cache, expired, strlen(expired), old, NOW);
    json_decref(old);
    json_t *no_exp = json_pack("{s:s}", "sub", "x");
    jwt_cache_store(cache, "t", 1, no_exp, NOW);
    json_decref(no_exp);
    json_t *text_exp = json_pack("{s:s}", "exp", "1700000300");
    jwt_cache_store(cache, "t", 1, text_exp, NOW);
    json_decref(text_exp);
    assert_int_equal(stats_of(cache).entries, 0);
    assert_int_equal(stats_of(cache).hits, 0);

    free(forged);
    free(expired);
    jwt_cache_free(cache);
    jwt_keyset_free(set);
}

static void test_cache_eviction(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_cache *cache = jwt_cache_new(4, 60); /* a single group of four slots */
    char *tokens[5];
    for (int i = 0; i < 5; i++) {
        json_t *c = claims_at(100 + 10 * i); /* all outlive the 60 s ttl */
        json_object_set_new(c, "n", json_integer(i));
        tokens[i] = sign_claims(hs_key, c);
    }
    char *soon = sign_claims(hs_key, claims_at(20)); /* ends before the others */

    /* four fill the group; the fifth pushes out the entry that would end first, even though
     * it is not the oldest */
    assert_int_equal(cached_at(cache, set, tokens[3], NOW), JWT_OK);
    assert_int_equal(cached_at(cache, set, soon, NOW), JWT_OK);
    assert_int_equal(cached_at(cache, set, tokens[2], NOW), JWT_OK);
    assert_int_equal(cached_at(cache, set, tokens[1], NOW), JWT_OK);
    assert_int_equal(stats_of(cache).evictions, 0);
    assert_int_equal(cached_at(cache, set, tokens[4], NOW), JWT_OK);
    assert_int_equal(stats_of(cache).entries, 4);
    assert_int_equal(stats_of(cache).evictions, 1);
    assert_null(jwt_cache_lookup(cache, soon, strlen(soon), NOW));
    for (int i = 1; i < 5; i++)
        assert_non_null(jwt_cache_lookup(cache, tokens[i], strlen(tokens[i]), NOW));

    /* storing soon again evicts a live entry; once soon has ended, its slot is reused without
     * evicting anyone */
    assert_int_equal(cached_at(cache, set, soon, NOW), JWT_OK);
    assert_int_equal(stats_of(cache).evictions, 2);
    assert_int_equal(cached_at(cache, set, tokens[0], NOW + 21), JWT_OK);
    assert_int_equal(stats_of(cache).evictions, 2);
    assert_int_equal(stats_of(cache).entries, 4);
    assert_non_null(jwt_cache_lookup(cache, tokens[0], strlen(tokens[0]), NOW + 21));

    /* the same token stored twice takes one slot */
    jwt_cache_clear(cache);
    assert_int_equal(cached_at(cache, set, tokens[0], NOW), JWT_OK);
    json_t *claims = jwt_cache_lookup(cache, tokens[0], strlen(tokens[0]), NOW);
    jwt_cache_store(cache, tokens[0], strlen(tokens[0]), claims, NOW + 1);
    assert_int_equal(stats_of(cache).entries, 1);

    /* a bigger cache holds them all */
    struct jwt_cache *big = jwt_cache_new(1000, 60);
    for (int i = 0; i < 5; i++)
        assert_int_equal(cached_at(big, set, tokens[i], NOW), JWT_OK);
    for (int i = 0; i < 5; i++)
        assert_non_null(jwt_cache_lookup(big, tokens[i], strlen(tokens[i]), NOW + 59));
    assert_int_equal(stats_of(big).evictions, 0);
    jwt_cache_free(big);
    jwt_cache_free(jwt_cache_new(0, 0)); /* the smallest cache is one group */
    jwt_cache_free(NULL);

    for (int i = 0; i < 5; i++)
        free(tokens[i]);
    free(soon);
    jwt_cache_free(cache);
    jwt_keyset_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_hit),      cmocka_unit_test(test_cache_rechecks_claims),
        cmocka_unit_test(test_cache_lifetime), cmocka_unit_test(test_cache_stores_only_valid),
        cmocka_unit_test(test_cache_eviction),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
