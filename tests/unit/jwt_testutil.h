/*
 * jwt_testutil.h - what the JWT unit tests share: keys made once per test program, claims,
 * token crafting (to build the forgeries real signers never would) and verification shortcuts.
 */
#ifndef MCPGW_TESTS_JWT_TESTUTIL_H
#define MCPGW_TESTS_JWT_TESTUTIL_H

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/crypto.h"
#include "core/jwt.h"

#define NOW 1700000000LL
#define ISSUER "https://auth.example.test"
#define AUDIENCE "https://mcp-echo.example.test/mcp"
#define SECRET "0123456789abcdef0123456789abcdef-test-secret"

/* Plain static functions, marked unused because not every test file calls every helper. (Not
 * inline: gcc 12 then reports false "dangling pointer" errors around the out-parameters.) */
#define JWT_TEST_HELPER static __attribute__((unused))

/* Keys made once for the whole file: RSA generation takes a while under ASan. */
static struct jwt_key *rs_key, *es_key, *hs_key;

JWT_TEST_HELPER int setup_keys(void **state)
{
    (void)state;
    if (jwt_key_generate(JWT_ALG_RS256, &rs_key) || jwt_key_generate(JWT_ALG_ES256, &es_key) ||
        jwt_key_from_secret(SECRET, strlen(SECRET), &hs_key, NULL))
        return -1;
    return 0;
}

JWT_TEST_HELPER int teardown_keys(void **state)
{
    (void)state;
    jwt_key_free(rs_key);
    jwt_key_free(es_key);
    jwt_key_free(hs_key);
    return 0;
}

/* ---- helpers ---- */

JWT_TEST_HELPER json_t *claims_at(int64_t exp_offset)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", ISSUER, "sub", "12345", "aud", AUDIENCE,
                          "exp", (json_int_t)(NOW + exp_offset), "iat", (json_int_t)NOW, "scope", "mcp");
    assert_non_null(c);
    return c;
}

JWT_TEST_HELPER char *sign_claims(const struct jwt_key *key, json_t *claims)
{
    char *token = NULL;
    assert_int_equal(jwt_sign(key, claims, &token), GW_OK);
    assert_non_null(token);
    json_decref(claims);
    return token;
}

JWT_TEST_HELPER struct jwt_keyset *set_of(struct jwt_key *a, struct jwt_key *b)
{
    struct jwt_keyset *set = jwt_keyset_new();
    if (a)
        assert_int_equal(jwt_keyset_add(set, a), GW_OK);
    if (b)
        assert_int_equal(jwt_keyset_add(set, b), GW_OK);
    return set;
}

JWT_TEST_HELPER struct jwt_verify_options opts_now(void)
{
    struct jwt_verify_options o = JWT_VERIFY_OPTIONS_DEFAULT;
    o.issuer = ISSUER;
    o.audience = AUDIENCE;
    o.now = NOW;
    return o;
}

JWT_TEST_HELPER enum jwt_result verify_str(const struct jwt_keyset *set, const char *token)
{
    struct jwt_verify_options o = opts_now();
    json_t *claims = (json_t *)1;
    enum jwt_result r = jwt_verify(set, token, strlen(token), &o, &claims);
    if (r == JWT_OK) {
        assert_non_null(claims);
        json_decref(claims);
    } else {
        assert_null(claims);
    }
    return r;
}

JWT_TEST_HELPER void expect_result(const struct jwt_keyset *set, const char *token, enum jwt_result want)
{
    enum jwt_result got = verify_str(set, token);
    if (got != want)
        fprintf(stderr, "token %.120s: got %s, want %s\n", token, jwt_result_name(got),
                jwt_result_name(want));
    assert_int_equal(got, want);
}

/* A compact token from literal header and payload JSON and raw signature bytes. */
JWT_TEST_HELPER char *craft(const char *header, const char *payload, const unsigned char *sig, size_t sig_len)
{
    char *h = base64url_encode_alloc(header, strlen(header));
    char *p = base64url_encode_alloc(payload, strlen(payload));
    char *s = base64url_encode_alloc(sig, sig_len);
    size_t n = strlen(h) + strlen(p) + strlen(s) + 3;
    char *token = malloc(n);
    snprintf(token, n, "%s.%s.%s", h, p, s);
    free(h);
    free(p);
    free(s);
    return token;
}

/* The same, HMAC-SHA256-signed with secret over the real signing input. */
JWT_TEST_HELPER char *craft_hs256(const void *secret, size_t secret_len, const char *header,
                                  const char *payload)
{
    char *unsigned_token = craft(header, payload, NULL, 0);
    size_t input_len = strlen(unsigned_token) - 1; /* without the trailing '.' */
    unsigned char mac[32];
    crypto_hmac_sha256(secret, secret_len, unsigned_token, input_len, mac);
    char *sig = base64url_encode_alloc(mac, sizeof mac);
    size_t n = input_len + 1 + strlen(sig) + 1;
    char *token = malloc(n);
    snprintf(token, n, "%.*s.%s", (int)input_len, unsigned_token, sig);
    free(unsigned_token);
    free(sig);
    return token;
}

static const char *const valid_payload = "{\"iss\":\"" ISSUER "\",\"sub\":\"12345\",\"aud\":\"" AUDIENCE
                                         "\",\"exp\":1700000300,\"iat\":1700000000}";

#endif
