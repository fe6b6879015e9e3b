/*
 * token_check_bench.c - the router's cached-token path, timed in-process (no network, no Redis).
 *
 * Builds an HS256 token checker the way a router worker does, verifies one token with the ten
 * claims auth issues once (filling the cache), then times N checks of the same Authorization
 * header: the whole token_check(), and its parts (bearer_parse, jwt_verify_cached hit, the
 * candidate digests for the cache key). Prints the best of ROUNDS rounds in ns per call.
 *
 *   make bench-token-check && build/release/bench/token_check [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/public_url.h"
#if __has_include("core/siphash.h") /* absent before the cache moved to SipHash */
#include "core/siphash.h"
#define HAVE_SIPHASH 1
#endif
#include "router/bearer.h"
#include "router/token_check.h"

#define ROUNDS 7
#define SECRET "bench-secret-bench-secret-bench-secret-0123456789"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: less noise from other load */
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static volatile unsigned long long sink;

#define TIME_BEST(label, n, body)                                                                            \
    do {                                                                                                     \
        double best = 1e30;                                                                                  \
        for (int r = 0; r < ROUNDS; r++) {                                                                   \
            double t0 = now_ns();                                                                            \
            for (long i = 0; i < (n); i++) {                                                                 \
                body;                                                                                        \
            }                                                                                                \
            double per = (now_ns() - t0) / (double)(n);                                                      \
            if (per < best)                                                                                  \
                best = per;                                                                                  \
        }                                                                                                    \
        printf("%-34s %8.1f ns\n", label, best);                                                             \
    } while (0)

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    log_init("bench", NULL, LOG_ERROR);
    const char *text =
        "BASE_DOMAIN=example.test\nJWT_ALGORITHM=HS256\nGATEWAY_JWT_SECRET=" SECRET "\nMCP_SCOPES=mcp\n";
    struct config *cfg = NULL;
    if (config_load_text(text, strlen(text), false, &cfg, NULL) != GW_OK) {
        fprintf(stderr, "config\n");
        return 1;
    }
    char *issuer = public_url_issuer(cfg), *audience = public_url_resource(cfg, "mcp-echo");
    struct event_base *base = event_base_new();
    struct token_checker *tc = NULL;
    if (token_checker_create(base, cfg, NULL, &tc) != GW_OK) {
        fprintf(stderr, "token_checker_create\n");
        return 1;
    }

    struct jwt_key *key = NULL;
    jwt_key_from_secret(SECRET, strlen(SECRET), &key, NULL);
    long long now = (long long)time(NULL);
    json_t *claims =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", issuer, "sub",
                  "github:1234567", "aud", audience, "exp", (json_int_t)(now + 3600), "iat", (json_int_t)now,
                  "nbf", (json_int_t)now, "jti", "Jx3c1n0b6VvGm0p5h8sQ2w", "client_id", "client-4f1c2a7e9b",
                  "scope", "mcp offline_access", "username", "octocat");
    char *token = NULL;
    jwt_sign(key, claims, &token);
    json_decref(claims);
    size_t len = strlen(token);
    char *header = malloc(len + 8);
    snprintf(header, len + 8, "Bearer %s", token);
    printf("token: %zu bytes, HS256, %ld checks per round, best of %d rounds\n", len, n, ROUNDS);

    struct token_identity id;
    const char *reason = NULL;
    if (token_check(tc, header, audience, &id, &reason) != TOKEN_OK) {
        fprintf(stderr, "first check failed: %s\n", reason);
        return 1;
    }

    TIME_BEST("token_check (cached)", n, {
        sink += token_check(tc, header, audience, &id, &reason);
        sink += (unsigned char)id.user_id[0];
    });

    struct jwt_cache *cache = jwt_cache_new(4096, 60);
    struct jwt_keyset *set = jwt_keyset_new();
    jwt_keyset_add(set, key);
    struct jwt_verify_options opts = {.issuer = issuer, .audience = audience, .leeway_seconds = 30};
    jwt_verify_cached(cache, set, token, len, &opts, NULL);
    TIME_BEST("jwt_verify_cached (hit, no claims)", n,
              sink += jwt_verify_cached(cache, set, token, len, &opts, NULL));
    TIME_BEST("jwt_verify_cached (hit, claims)", n, {
        json_t *c = NULL;
        sink += jwt_verify_cached(cache, set, token, len, &opts, &c);
        json_decref(c);
    });

    const char *t = NULL;
    size_t tl = 0;
    TIME_BEST("bearer_parse", n, {
        sink += bearer_parse(header, &t, &tl);
        sink += tl;
    });
    unsigned char digest[CRYPTO_SHA256_LEN];
    TIME_BEST("crypto_sha256 (token)", n, {
        crypto_sha256(token, len, digest);
        sink += digest[0];
    });
    /* The candidates for the cache key (see jwt_cache.c): EVP one-shot with the digest fetched
     * once, OpenSSL's low-level SHA256(), and SipHash-2-4-128 under a random key. */
    const EVP_MD *md = crypto_sha256_md();
    TIME_BEST("EVP_Digest (prefetched md)", n, {
        EVP_Digest(token, len, digest, NULL, md, NULL);
        sink += digest[0];
    });
    TIME_BEST("SHA256() low-level", n, {
        SHA256((const unsigned char *)token, len, digest);
        sink += digest[0];
    });
#ifdef HAVE_SIPHASH
    unsigned char sipkey[SIPHASH_KEY_LEN];
    crypto_random_bytes(sipkey, sizeof sipkey);
    TIME_BEST("siphash24_128 (token)", n, {
        siphash24_128(sipkey, token, len, digest);
        sink += digest[0];
    });
#endif

    jwt_cache_free(cache);
    jwt_keyset_free(set);
    jwt_key_free(key);
    token_checker_free(tc);
    event_base_free(base);
    free(header);
    free(token);
    free(issuer);
    free(audience);
    config_free(cfg);
    return (int)(sink & 0);
}
