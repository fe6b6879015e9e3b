/*
 * test_jwt_cache.c - the per-thread cache of verified tokens: hits, claim re-checks per
 * request (a hit gives exactly what jwt_check_claims gives), lifetime min(exp, stored + ttl),
 * what is never stored, eviction, derived data, and that no token bytes are kept.
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

/* A hit checks precomputed claim values; it must answer exactly as jwt_check_claims does on the
 * claims, for every shape of claims and every set of options. */
static void test_cache_hit_equals_check_claims(void **state)
{
    (void)state;
    const char *variants[] = {
        "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000300,\"iat\":1700000000}",
        "{\"iss\":\"" ISSUER "\",\"aud\":[\"x\",\"" AUDIENCE "\"],\"exp\":1700000300}",
        "{\"iss\":\"" ISSUER "\",\"aud\":[1,\"x\"],\"exp\":1700000300}",
        "{\"iss\":\"" ISSUER "\",\"aud\":[],\"exp\":1700000300}",
        "{\"iss\":\"" ISSUER "\",\"aud\":5,\"exp\":1700000300}",
        "{\"iss\":\"" ISSUER "\",\"exp\":1700000300}",
        "{\"aud\":\"" AUDIENCE "\",\"exp\":1700000300}",
        "{\"iss\":7,\"aud\":\"" AUDIENCE "\",\"exp\":1700000300}",
        "{\"iss\":\"" ISSUER "x\",\"aud\":\"" AUDIENCE "x\",\"exp\":1700000300}",
        "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000300,\"nbf\":\"soon\"}",
        "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000300,\"nbf\":1700000020}",
        "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000300,\"nbf\":1700000020.9}",
        "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000300,\"iat\":1700000100}",
        "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000300,\"iat\":null}",
        "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000300.7,\"iat\":1700000000.5}",
        "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000040}",
    };
    struct jwt_verify_options options[8];
    for (int i = 0; i < 8; i++)
        options[i] = opts_now();
    options[1].issuer = NULL;
    options[2].audience = NULL;
    options[3].audience = "x";
    options[4].leeway_seconds = 0;
    options[5].now = NOW + 35; /* within the leeway of the variant that expires at NOW + 40 */
    options[5].leeway_seconds = 0;
    options[6].now = NOW + 15;
    options[6].leeway_seconds = 0;
    options[7].issuer = ISSUER "x";
    options[7].audience = AUDIENCE "x";

    struct jwt_cache *cache = jwt_cache_new(64, 600);
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        json_error_t err;
        json_t *claims = json_loads(variants[v], 0, &err);
        assert_non_null(claims);
        char token[32];
        snprintf(token, sizeof token, "variant-%zu", v);
        jwt_cache_store(cache, token, strlen(token), claims, NOW);
        for (size_t o = 0; o < 8; o++) {
            /* a hit (nothing could verify "variant-N"): the claims come from the cache */
            assert_non_null(jwt_cache_lookup(cache, token, strlen(token), options[o].now));
            enum jwt_result expected = jwt_check_claims(claims, &options[o]);
            enum jwt_result got = jwt_verify_cached(cache, NULL, token, strlen(token), &options[o], NULL);
            if (got != expected)
                fail_msg("variant %zu, options %zu: cached %s, jwt_check_claims %s", v, o,
                         jwt_result_name(got), jwt_result_name(expected));
        }
        json_decref(claims);
    }
    jwt_cache_free(cache);
}

/* ---- derived data ---- */

struct derived {
    char sub[32];
    int generation; /* which derive() call wrote it */
};

static int derive_calls;

static bool derive_sub(const json_t *claims, void *out, void *arg)
{
    struct derived *d = out;
    assert_ptr_equal(arg, &derive_calls);
    for (size_t i = 0; i < sizeof(*d); i++)
        assert_int_equal(((unsigned char *)out)[i], 0); /* handed over zeroed */
    derive_calls++;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!sub || strlen(sub) >= sizeof d->sub)
        return false;
    strcpy(d->sub, sub);
    d->generation = derive_calls;
    return true;
}

static void test_cache_derived(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_cache *cache = jwt_cache_new(16, 60);
    jwt_cache_set_derive(cache, sizeof(struct derived), derive_sub, &derive_calls);
    derive_calls = 0;
    struct jwt_verify_options o = opts_now();
    const struct jwt_verify_options base_opts = opts_now();
    char *token = sign_claims(hs_key, claims_at(300));
    const void *out = (const void *)1;

    /* the miss derives once, the hits hand out the same data without deriving again */
    assert_int_equal(jwt_verify_cached_derived(cache, set, token, strlen(token), &o, &out), JWT_OK);
    assert_non_null(out);
    assert_string_equal(((const struct derived *)out)->sub, "12345");
    for (int i = 0; i < 3; i++) {
        const void *again = NULL;
        assert_int_equal(jwt_verify_cached_derived(cache, set, token, strlen(token), &o, &again), JWT_OK);
        assert_ptr_equal(again, out);
        assert_int_equal(((const struct derived *)again)->generation, 1);
    }
    assert_int_equal(derive_calls, 1);
    assert_int_equal(stats_of(cache).hits, 3);

    /* a hit still checks this request's claims: wrong audience, wrong issuer, not yet valid */
    o.audience = "https://other.example.test/mcp";
    assert_int_equal(jwt_verify_cached_derived(cache, set, token, strlen(token), &o, &out),
                     JWT_WRONG_AUDIENCE);
    assert_null(out);
    o = opts_now();
    o.issuer = "https://evil.test";
    assert_int_equal(jwt_verify_cached_derived(cache, set, token, strlen(token), &o, &out), JWT_WRONG_ISSUER);
    assert_null(out);
    assert_int_equal(stats_of(cache).hits, 5);

    /* a cached token past its exp: the entry ends at exp, and the token is refused as expired */
    o = opts_now();
    o.now = NOW + 300 + JWT_DEFAULT_LEEWAY;
    assert_int_equal(jwt_verify_cached_derived(cache, set, token, strlen(token), &o, &out), JWT_EXPIRED);
    assert_null(out);

    /* within the leeway after exp: verified but not stored; derived into the scratch area */
    o.now = NOW + 300 + 5;
    int before = derive_calls;
    assert_int_equal(jwt_verify_cached_derived(cache, set, token, strlen(token), &o, &out), JWT_OK);
    assert_non_null(out);
    assert_string_equal(((const struct derived *)out)->sub, "12345");
    assert_int_equal(derive_calls, before + 1);
    free(token);

    /* derive() refusing the claims: JWT_OK with no data, on the miss and on the hits */
    json_t *claims = claims_at(300);
    json_object_set_new(claims, "sub", json_string("a subject far too long for the derived struct"));
    token = sign_claims(hs_key, claims);
    for (int i = 0; i < 2; i++) {
        out = (const void *)1;
        assert_int_equal(jwt_verify_cached_derived(cache, set, token, strlen(token), &base_opts, &out),
                         JWT_OK);
        assert_null(out);
    }
    free(token);

    /* the claims of a derived cache are still there for jwt_verify_cached */
    token = sign_claims(hs_key, claims_at(300));
    json_t *got = NULL;
    assert_int_equal(jwt_verify_cached(cache, set, token, strlen(token), &base_opts, &got), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(got, "sub")), "12345");
    json_decref(got);

    /* without derive: JWT_OK, and no data */
    jwt_cache_set_derive(cache, 0, NULL, NULL);
    assert_int_equal(stats_of(cache).entries, 0);
    out = (const void *)1;
    assert_int_equal(jwt_verify_cached_derived(cache, set, token, strlen(token), &base_opts, &out), JWT_OK);
    assert_null(out);
    free(token);
    jwt_cache_free(cache);
    jwt_keyset_free(set);
}

/* Keyed by SipHash under a key of each cache's own: two caches find the same token, and a token
 * that differs in one character of its signature is another entry. */
static void test_cache_keyed_digest(void **state)
{
    (void)state;
    const struct jwt_verify_options base_opts = opts_now();
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_cache *a = jwt_cache_new(4, 60), *b = jwt_cache_new(4, 60);
    char *token = sign_claims(hs_key, claims_at(300));
    assert_int_equal(jwt_verify_cached(a, set, token, strlen(token), &base_opts, NULL), JWT_OK);
    assert_int_equal(jwt_verify_cached(b, set, token, strlen(token), &base_opts, NULL), JWT_OK);
    assert_non_null(jwt_cache_lookup(a, token, strlen(token), NOW));
    assert_non_null(jwt_cache_lookup(b, token, strlen(token), NOW));
    /* a token differing in its last character is another entry */
    token[strlen(token) - 1] ^= 1;
    assert_null(jwt_cache_lookup(a, token, strlen(token), NOW));
    free(token);
    jwt_cache_free(a);
    jwt_cache_free(b);
    jwt_keyset_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_hit),      cmocka_unit_test(test_cache_rechecks_claims),
        cmocka_unit_test(test_cache_lifetime), cmocka_unit_test(test_cache_stores_only_valid),
        cmocka_unit_test(test_cache_eviction), cmocka_unit_test(test_cache_hit_equals_check_claims),
        cmocka_unit_test(test_cache_derived),  cmocka_unit_test(test_cache_keyed_digest),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
