/*
 * fuzz_bearer.c - any bytes as an Authorization header value, down the router's token path:
 * header -> token (bearer_parse), token -> verified claims (jwt_verify_cached against a fixed
 * HS256 key set, with the cache in front), claims -> identity and the scope check. Also any
 * token's unverified claims -> identity, to reach the claim handling with arbitrary JSON.
 * Invariants: no crash or leak; an accepted token lies inside the header and is a b64token;
 * an identity is either complete (sub and jti set) or all zero.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/jwt.h"
#include "router/bearer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct jwt_keyset *keys;
static struct jwt_cache *cache;

static void check_identity(bool ok, const struct token_identity *id)
{
    static const struct token_identity zero;
    if (ok ? (!id->user_id[0] || !id->jti[0]) : memcmp(id, &zero, sizeof(zero)) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!keys) {
        static const char secret[] = "0123456789abcdef0123456789abcdef-fuzz";
        struct jwt_key *key = NULL;
        if (jwt_key_from_secret(secret, sizeof(secret) - 1, &key, NULL) != GW_OK)
            abort();
        keys = jwt_keyset_new();
        jwt_keyset_add(keys, key);
        jwt_key_free(key);
        cache = jwt_cache_new(64, 60);
    }
    char *header = malloc(size + 1);
    memcpy(header, data, size);
    header[size] = '\0';
    const char *token = NULL;
    size_t len = 0;
    if (bearer_parse(header, &token, &len) == BEARER_OK) {
        if (token < header || token + len > header + size || len == 0 || len > JWT_MAX_TOKEN_LEN)
            abort();
        for (size_t i = 0; i < len; i++)
            if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=", token[i]) ||
                token[i] == '\0')
                abort();
        struct jwt_verify_options opts = {.issuer = "https://auth.example.test",
                                          .audience = "https://mcp-echo.example.test/mcp",
                                          .leeway_seconds = 30,
                                          .now = 1700000000};
        json_t *claims = NULL;
        struct token_identity id;
        if (jwt_verify_cached(cache, keys, token, len, &opts, &claims) == JWT_OK) {
            check_identity(bearer_identity_from_claims(claims, &id), &id);
            char *scopes[] = {"mcp"};
            (void)bearer_scopes_satisfied(id.scope, scopes, 1);
            json_decref(claims);
        }
        if (jwt_decode_unverified(token, len, NULL, &claims) == JWT_OK) {
            check_identity(bearer_identity_from_claims(claims, &id), &id);
            json_decref(claims);
        }
    }
    free(header);
    return 0;
}
