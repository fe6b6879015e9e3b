/*
 * test_jwt.c - JWS signing and verification: round trips for HS256, RS256 and ES256; the
 * attacks (algorithm confusion, alg=none, tampering, unknown kid); claim checks with leeway;
 * strict parsing; decoding without verification; threads sharing one key set.
 * Keys, JWKS and files: test_jwt_keys.c. The verified-token cache: test_jwt_cache.c.
 */
#include "jwt_testutil.h"

#include <pthread.h>
#include <time.h>

/* ---- round trips ---- */

static void test_alg_names(void **state)
{
    (void)state;
    assert_string_equal(jwt_alg_name(JWT_ALG_RS256), "RS256");
    assert_string_equal(jwt_alg_name(JWT_ALG_ES256), "ES256");
    assert_string_equal(jwt_alg_name(JWT_ALG_HS256), "HS256");
    assert_int_equal(jwt_alg_from_name("RS256"), JWT_ALG_RS256);
    assert_int_equal(jwt_alg_from_name("none"), JWT_ALG_UNSUPPORTED);
    assert_int_equal(jwt_alg_from_name("rs256"), JWT_ALG_UNSUPPORTED);
    assert_int_equal(jwt_alg_from_name("RS384"), JWT_ALG_UNSUPPORTED);
    assert_int_equal(jwt_alg_from_name(NULL), JWT_ALG_UNSUPPORTED);
    for (int r = JWT_OK; r <= JWT_WRONG_AUDIENCE; r++) {
        assert_non_null(jwt_strerror(r));
        assert_non_null(jwt_result_name(r));
    }
    assert_string_equal(jwt_result_name(JWT_EXPIRED), "expired");
}

static void roundtrip(struct jwt_key *key, size_t expected_sig_len)
{
    struct jwt_keyset *set = set_of(key, NULL);
    char *token = sign_claims(key, claims_at(300));

    json_t *header = NULL, *body = NULL;
    assert_int_equal(jwt_decode_unverified(token, strlen(token), &header, &body), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(header, "alg")), jwt_alg_name(jwt_key_alg(key)));
    assert_string_equal(json_string_value(json_object_get(header, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(header, "kid")), jwt_key_kid(key));
    assert_string_equal(json_string_value(json_object_get(body, "sub")), "12345");
    json_decref(header);
    json_decref(body);

    const char *sig = strrchr(token, '.') + 1;
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    assert_int_equal(base64url_decode(sig, strlen(sig), &raw, &raw_len), GW_OK);
    assert_int_equal(raw_len, expected_sig_len);
    free(raw);

    struct jwt_verify_options o = opts_now();
    json_t *claims = NULL;
    assert_int_equal(jwt_verify(set, token, strlen(token), &o, &claims), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "12345");
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), NOW + 300);
    json_decref(claims);
    /* claims pointer optional; NULL options mean defaults (real clock: this token is long expired) */
    assert_int_equal(jwt_verify(set, token, strlen(token), &o, NULL), JWT_OK);
    assert_int_equal(jwt_verify(set, token, strlen(token), NULL, NULL), JWT_EXPIRED);

    /* a fresh signature each time for ES256 (random k), the same for the deterministic ones */
    char *again = sign_claims(key, claims_at(300));
    if (jwt_key_alg(key) == JWT_ALG_ES256)
        assert_string_not_equal(token, again);
    else
        assert_string_equal(token, again);
    assert_int_equal(verify_str(set, again), JWT_OK);
    free(again);
    free(token);
    jwt_keyset_free(set);
}

static void test_roundtrip_all_algs(void **state)
{
    (void)state;
    roundtrip(hs_key, 32);
    roundtrip(rs_key, 256);
    roundtrip(es_key, 64);
}

static void test_sign_rejects(void **state)
{
    (void)state;
    char *token = (char *)1;
    json_t *array = json_array();
    assert_int_equal(jwt_sign(rs_key, array, &token), GW_ERR_INVALID);
    assert_null(token);
    json_decref(array);

    /* a public-only key cannot sign */
    json_t *jwk = jwt_key_public_jwk(es_key);
    struct jwt_key *pub = NULL;
    assert_int_equal(jwt_key_from_jwk(jwk, &pub, NULL), GW_OK);
    assert_false(jwt_key_can_sign(pub));
    assert_true(jwt_key_can_sign(es_key));
    json_t *claims = claims_at(300);
    assert_int_equal(jwt_sign(pub, claims, &token), GW_ERR_INVALID);
    json_decref(claims);
    json_decref(jwk);
    jwt_key_free(pub);
}

/* ---- attacks ---- */

static void test_alg_confusion(void **state)
{
    (void)state;
    /* The classic: an HS256 token whose HMAC key is the server's RSA public key PEM. */
    char *pem = jwt_key_public_pem(rs_key);
    assert_non_null(pem);
    assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
    struct jwt_keyset *set = set_of(rs_key, NULL);

    char header[256];
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             jwt_key_kid(rs_key));
    char *forged = craft_hs256(pem, strlen(pem), header, valid_payload);
    expect_result(set, forged, JWT_BAD_ALG);
    free(forged);
    /* without a kid (the set has one key), and with the PEM minus its final newline */
    forged = craft_hs256(pem, strlen(pem), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", valid_payload);
    expect_result(set, forged, JWT_BAD_ALG);
    free(forged);
    forged = craft_hs256(pem, strlen(pem) - 1, "{\"alg\":\"HS256\"}", valid_payload);
    expect_result(set, forged, JWT_BAD_ALG);
    free(forged);

    /* An HS256 key made from that PEM verifies the forgery: proof the forgery is well made. */
    struct jwt_key *pem_hs = NULL;
    assert_int_equal(jwt_key_from_secret(pem, strlen(pem), &pem_hs, NULL), GW_OK);
    struct jwt_keyset *pem_set = set_of(pem_hs, NULL);
    forged = craft_hs256(pem, strlen(pem), "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", valid_payload);
    expect_result(pem_set, forged, JWT_OK);
    free(forged);

    /* RS256 and ES256 are pinned too: an ES256 token naming the RSA key's kid */
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", jwt_key_kid(rs_key));
    unsigned char sig[64] = {1};
    forged = craft(header, valid_payload, sig, sizeof sig);
    expect_result(set, forged, JWT_BAD_ALG);
    free(forged);
    /* and an RS256 header naming the EC key's kid */
    snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", jwt_key_kid(es_key));
    struct jwt_keyset *es_set = set_of(es_key, NULL);
    forged = craft(header, valid_payload, sig, sizeof sig);
    expect_result(es_set, forged, JWT_BAD_ALG);
    free(forged);

    jwt_keyset_free(set);
    jwt_keyset_free(pem_set);
    jwt_keyset_free(es_set);
    jwt_key_free(pem_hs);
    free(pem);
}

static void test_alg_none(void **state)
{
    (void)state;
    struct jwt_keyset *sets[] = {set_of(hs_key, NULL), set_of(rs_key, NULL), set_of(es_key, rs_key)};
    const char *headers[] = {
        "{\"alg\":\"none\"}",   "{\"alg\":\"none\",\"typ\":\"JWT\"}",
        "{\"alg\":\"None\"}",   "{\"alg\":\"NONE\"}",
        "{\"alg\":\"nOnE\"}",   "{\"alg\":\"\"}",
        "{\"alg\":\"HS512\"}",  "{\"alg\":\"PS256\"}",
        "{\"alg\":\"RS256 \"}",
    };
    for (size_t s = 0; s < 3; s++) {
        for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
            char *token = craft(headers[i], valid_payload, NULL, 0); /* "h.p." */
            expect_result(sets[s], token, JWT_BAD_ALG);
            free(token);
            token = craft(headers[i], valid_payload, (const unsigned char *)"sig", 3);
            expect_result(sets[s], token, JWT_BAD_ALG);
            free(token);
        }
        /* none with the kid of a real key */
        char header[200];
        snprintf(header, sizeof header, "{\"alg\":\"none\",\"kid\":\"%s\"}",
                 jwt_key_kid(jwt_keyset_key_at(sets[s], 0)));
        char *token = craft(header, valid_payload, NULL, 0);
        expect_result(sets[s], token, JWT_BAD_ALG);
        free(token);
        jwt_keyset_free(sets[s]);
    }
}

/* Replace the part `which` (0, 1, 2) of token by `replacement`. */
static char *replace_part(const char *token, int which, const char *replacement)
{
    const char *d1 = strchr(token, '.'), *d2 = strchr(d1 + 1, '.');
    const char *start[3] = {token, d1 + 1, d2 + 1};
    size_t len[3] = {(size_t)(d1 - token), (size_t)(d2 - d1 - 1), strlen(d2 + 1)};
    size_t n = strlen(token) + strlen(replacement) + 1;
    char *out = malloc(n);
    out[0] = '\0';
    for (int i = 0; i < 3; i++) {
        if (i)
            strcat(out, ".");
        if (i == which)
            strcat(out, replacement);
        else
            strncat(out, start[i], len[i]);
    }
    return out;
}

static void tamper(struct jwt_key *key)
{
    struct jwt_keyset *set = set_of(key, NULL);
    char *token = sign_claims(key, claims_at(300));
    expect_result(set, token, JWT_OK);

    /* a different payload under the original signature */
    json_t *evil = claims_at(300);
    json_object_set_new(evil, "sub", json_string("admin"));
    char *evil_json = json_dumps(evil, JSON_COMPACT);
    char *evil_b64 = base64url_encode_alloc(evil_json, strlen(evil_json));
    char *forged = replace_part(token, 1, evil_b64);
    expect_result(set, forged, JWT_BAD_SIGNATURE);
    free(forged);
    free(evil_b64);
    free(evil_json);
    json_decref(evil);

    /* one flipped bit in the signature bytes */
    const char *sig_b64 = strrchr(token, '.') + 1;
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    assert_int_equal(base64url_decode(sig_b64, strlen(sig_b64), &sig, &sig_len), GW_OK);
    sig[sig_len / 2] ^= 0x01;
    char *bad_sig = base64url_encode_alloc(sig, sig_len);
    forged = replace_part(token, 2, bad_sig);
    expect_result(set, forged, JWT_BAD_SIGNATURE);
    free(forged);
    free(bad_sig);
    /* truncated, extended and empty signatures */
    bad_sig = base64url_encode_alloc(sig, sig_len - 1);
    forged = replace_part(token, 2, bad_sig);
    expect_result(set, forged, JWT_BAD_SIGNATURE);
    free(forged);
    free(bad_sig);
    unsigned char longer[2048] = {0};
    memcpy(longer, sig, sig_len);
    bad_sig = base64url_encode_alloc(longer, sig_len + 1);
    forged = replace_part(token, 2, bad_sig);
    expect_result(set, forged, JWT_BAD_SIGNATURE);
    free(forged);
    free(bad_sig);
    forged = replace_part(token, 2, "");
    expect_result(set, forged, JWT_BAD_SIGNATURE);
    free(forged);
    free(sig);

    /* a different header (kid kept) under the original signature */
    char header[200];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\",\"x\":1}",
             jwt_alg_name(jwt_key_alg(key)), jwt_key_kid(key));
    char *h = base64url_encode_alloc(header, strlen(header));
    forged = replace_part(token, 0, h);
    expect_result(set, forged, JWT_BAD_SIGNATURE);
    free(forged);
    free(h);

    /* The last signature character with a non-zero unused bit encodes the same bytes as the
     * original: a lenient decoder would accept this second spelling of one token. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t tlen = strlen(token);
    char *alt = strdup(token);
    size_t v = (size_t)(strchr(alphabet, alt[tlen - 1]) - alphabet);
    assert_int_equal(v & 1, 0); /* 32, 64 and 256 bytes all leave unused bits */
    alt[tlen - 1] = alphabet[v + 1];
    expect_result(set, alt, JWT_MALFORMED);
    free(alt);
    free(token);
    jwt_keyset_free(set);
}

static void test_tampering(void **state)
{
    (void)state;
    tamper(hs_key);
    tamper(rs_key);
    tamper(es_key);

    /* ES256 with the signature in DER form (what OpenSSL emits) is not JOSE: refused */
    struct jwt_keyset *set = set_of(es_key, NULL);
    unsigned char der[72] = {0x30, 0x44, 0x02, 0x20};
    char header[200];
    snprintf(header, sizeof header, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", jwt_key_kid(es_key));
    char *token = craft(header, valid_payload, der, 70);
    expect_result(set, token, JWT_BAD_SIGNATURE);
    free(token);
    /* r = s = 0 and r = s = 0xff..ff (beyond the group order) are refused, not crashes */
    unsigned char rs[64];
    memset(rs, 0, sizeof rs);
    token = craft(header, valid_payload, rs, 64);
    expect_result(set, token, JWT_BAD_SIGNATURE);
    free(token);
    memset(rs, 0xff, sizeof rs);
    token = craft(header, valid_payload, rs, 64);
    expect_result(set, token, JWT_BAD_SIGNATURE);
    free(token);
    jwt_keyset_free(set);
}

/* ---- claims ---- */

static enum jwt_result verify_payload(const struct jwt_keyset *set, const char *payload,
                                      const struct jwt_verify_options *o)
{
    char header[200];
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", jwt_key_kid(hs_key));
    char *token = craft_hs256(SECRET, strlen(SECRET), header, payload);
    json_t *claims = NULL;
    enum jwt_result r = jwt_verify(set, token, strlen(token), o, &claims);
    json_decref(claims);
    free(token);
    return r;
}

static void test_time_claims(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_verify_options o = JWT_VERIFY_OPTIONS_DEFAULT;
    o.now = NOW;

    assert_int_equal(verify_payload(set, "{\"exp\":1700000001}", &o), JWT_OK);
    /* exp in the past, within and beyond the 30 s default leeway */
    assert_int_equal(verify_payload(set, "{\"exp\":1699999980}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":1699999971}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":1699999970}", &o), JWT_EXPIRED);
    assert_int_equal(verify_payload(set, "{\"exp\":1000}", &o), JWT_EXPIRED);
    assert_int_equal(verify_payload(set, "{\"exp\":-5}", &o), JWT_EXPIRED);
    /* exp is required and must be a number */
    assert_int_equal(verify_payload(set, "{}", &o), JWT_MALFORMED);
    assert_int_equal(verify_payload(set, "{\"sub\":\"x\"}", &o), JWT_MALFORMED);
    assert_int_equal(verify_payload(set, "{\"exp\":\"1700000300\"}", &o), JWT_MALFORMED);
    assert_int_equal(verify_payload(set, "{\"exp\":null}", &o), JWT_MALFORMED);
    assert_int_equal(verify_payload(set, "{\"exp\":true}", &o), JWT_MALFORMED);
    /* fractional and huge NumericDates */
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300.5}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":1.0e300}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":9223372036854775807}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":-9223372036854775807}", &o), JWT_EXPIRED);
    assert_int_equal(verify_payload(set, "{\"exp\":-1.0e300}", &o), JWT_EXPIRED);

    /* nbf and iat: not in the future beyond the leeway */
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"nbf\":1700000030}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"nbf\":1700000031}", &o), JWT_NOT_YET_VALID);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"iat\":1700000030}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"iat\":1700000031}", &o), JWT_NOT_YET_VALID);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"nbf\":\"soon\"}", &o), JWT_MALFORMED);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"iat\":[]}", &o), JWT_MALFORMED);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"nbf\":9.0e300}", &o), JWT_NOT_YET_VALID);

    /* leeway 0 and a custom leeway */
    o.leeway_seconds = 0;
    assert_int_equal(verify_payload(set, "{\"exp\":1700000000}", &o), JWT_EXPIRED);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000001}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"nbf\":1700000001}", &o), JWT_NOT_YET_VALID);
    o.leeway_seconds = 120;
    assert_int_equal(verify_payload(set, "{\"exp\":1699999900}", &o), JWT_OK);
    assert_int_equal(verify_payload(set, "{\"exp\":1699999880}", &o), JWT_EXPIRED);
    o.leeway_seconds = -50; /* negative counts as none */
    assert_int_equal(verify_payload(set, "{\"exp\":1700000000}", &o), JWT_EXPIRED);

    /* now = 0 means the real clock */
    o.now = 0;
    o.leeway_seconds = 0;
    char payload[64];
    snprintf(payload, sizeof payload, "{\"exp\":%lld}", (long long)time(NULL) + 100);
    assert_int_equal(verify_payload(set, payload, &o), JWT_OK);
    snprintf(payload, sizeof payload, "{\"exp\":%lld}", (long long)time(NULL) - 100);
    assert_int_equal(verify_payload(set, payload, &o), JWT_EXPIRED);
    jwt_keyset_free(set);
}

static void test_audience_and_issuer(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    struct jwt_verify_options o = opts_now();
    const char *base = "\"exp\":1700000300,\"iss\":\"" ISSUER "\"";
    char p[512];
#define PAYLOAD(extra) (snprintf(p, sizeof p, "{%s%s}", base, extra), p)
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":\"" AUDIENCE "\""), &o), JWT_OK);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":[\"x\",\"" AUDIENCE "\"]"), &o), JWT_OK);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":[\"" AUDIENCE "\"]"), &o), JWT_OK);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":[1,null,\"" AUDIENCE "\"]"), &o), JWT_OK);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":\"https://other.example.test/mcp\""), &o),
                     JWT_WRONG_AUDIENCE);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":[\"a\",\"b\"]"), &o), JWT_WRONG_AUDIENCE);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":[]"), &o), JWT_WRONG_AUDIENCE);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":\"" AUDIENCE "/\""), &o), JWT_WRONG_AUDIENCE);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":\"https://MCP-ECHO.example.test/mcp\""), &o),
                     JWT_WRONG_AUDIENCE);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":[[\"" AUDIENCE "\"]]"), &o), JWT_WRONG_AUDIENCE);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":{\"a\":\"" AUDIENCE "\"}"), &o),
                     JWT_WRONG_AUDIENCE);
    assert_int_equal(verify_payload(set, PAYLOAD(""), &o), JWT_WRONG_AUDIENCE); /* aud missing */
    /* no audience expected: anything goes */
    o.audience = NULL;
    assert_int_equal(verify_payload(set, PAYLOAD(""), &o), JWT_OK);
    assert_int_equal(verify_payload(set, PAYLOAD(",\"aud\":\"whatever\""), &o), JWT_OK);

    /* issuer */
    o = opts_now();
    o.audience = NULL;
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"iss\":\"https://evil.test\"}", &o),
                     JWT_WRONG_ISSUER);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300}", &o), JWT_WRONG_ISSUER);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"iss\":[\"" ISSUER "\"]}", &o),
                     JWT_WRONG_ISSUER);
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"iss\":\"" ISSUER "/\"}", &o),
                     JWT_WRONG_ISSUER);
    o.issuer = NULL;
    assert_int_equal(verify_payload(set, "{\"exp\":1700000300,\"iss\":\"https://evil.test\"}", &o), JWT_OK);
#undef PAYLOAD

    /* jwt_check_claims on its own */
    json_t *claims = json_pack("{s:I, s:s}", "exp", (json_int_t)NOW + 10, "aud", AUDIENCE);
    o = opts_now();
    o.issuer = NULL;
    assert_int_equal(jwt_check_claims(claims, &o), JWT_OK);
    o.audience = "x";
    assert_int_equal(jwt_check_claims(claims, &o), JWT_WRONG_AUDIENCE);
    json_decref(claims);
    json_t *arr = json_array();
    assert_int_equal(jwt_check_claims(arr, &o), JWT_MALFORMED);
    assert_int_equal(jwt_check_claims(NULL, &o), JWT_MALFORMED);
    json_decref(arr);
    jwt_keyset_free(set);
}

/* ---- kid ---- */

static void test_kid_selection(void **state)
{
    (void)state;
    struct jwt_keyset *one = set_of(hs_key, NULL);
    struct jwt_keyset *two = set_of(hs_key, rs_key);
    char header[200];

    /* unknown kid, even with a valid HMAC */
    char *token = craft_hs256(SECRET, strlen(SECRET), "{\"alg\":\"HS256\",\"kid\":\"nope\"}", valid_payload);
    expect_result(one, token, JWT_UNKNOWN_KID);
    expect_result(two, token, JWT_UNKNOWN_KID);
    free(token);
    /* no kid: fine with exactly one key, ambiguous with two */
    token = craft_hs256(SECRET, strlen(SECRET), "{\"alg\":\"HS256\"}", valid_payload);
    expect_result(one, token, JWT_OK);
    expect_result(two, token, JWT_UNKNOWN_KID);
    free(token);
    /* the right kid among two */
    snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%s\"}", jwt_key_kid(hs_key));
    token = craft_hs256(SECRET, strlen(SECRET), header, valid_payload);
    expect_result(two, token, JWT_OK);
    free(token);
    /* kid must be a string */
    token = craft_hs256(SECRET, strlen(SECRET), "{\"alg\":\"HS256\",\"kid\":7}", valid_payload);
    expect_result(one, token, JWT_MALFORMED);
    free(token);
    /* an empty set knows no key */
    struct jwt_keyset *none = jwt_keyset_new();
    token = sign_claims(hs_key, claims_at(300));
    expect_result(none, token, JWT_UNKNOWN_KID);
    free(token);

    /* a different secret under the same kid: the signature decides */
    struct jwt_key *other = NULL;
    const char *other_secret = "another-secret-that-is-long-enough-for-hs256";
    assert_int_equal(jwt_key_from_secret(other_secret, strlen(other_secret), &other, NULL), GW_OK);
    assert_string_not_equal(jwt_key_kid(other), jwt_key_kid(hs_key));
    token = craft_hs256(other_secret, strlen(other_secret), header, valid_payload);
    expect_result(one, token, JWT_BAD_SIGNATURE);
    free(token);

    /* keyset bookkeeping */
    assert_int_equal(jwt_keyset_add(one, hs_key), GW_ERR_EXISTS);
    assert_ptr_equal(jwt_keyset_find(two, jwt_key_kid(rs_key)), rs_key);
    assert_null(jwt_keyset_find(two, "missing"));
    assert_null(jwt_keyset_find(two, NULL));
    assert_int_equal(jwt_keyset_count(two), 2);
    assert_null(jwt_keyset_key_at(two, 2));
    struct jwt_keyset *ref = jwt_keyset_ref(two);
    jwt_keyset_free(ref); /* still alive: two holds the other reference */
    assert_int_equal(jwt_keyset_count(two), 2);

    jwt_key_free(other);
    jwt_keyset_free(none);
    jwt_keyset_free(one);
    jwt_keyset_free(two);
}

/* ---- strict parsing ---- */

static void test_malformed(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(hs_key, NULL);
    char *good = sign_claims(hs_key, claims_at(300));
    expect_result(set, good, JWT_OK);
    const char *h = good, *d1 = strchr(good, '.'), *d2 = strchr(d1 + 1, '.');
    char buf[4096];

    const char *shapes[] = {"",        ".",    "..",   "...",    "a",       "a.b",
                            "a.b.c.d", "a..c", ".b.c", "a.b.c.", "e30.e30", "e30.e30.e30.e30"};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        expect_result(set, shapes[i], JWT_MALFORMED);
    /* two and four parts made from a good token */
    snprintf(buf, sizeof buf, "%.*s", (int)(d2 - h), h);
    expect_result(set, buf, JWT_MALFORMED);
    snprintf(buf, sizeof buf, "%s.%s", good, d2 + 1);
    expect_result(set, buf, JWT_MALFORMED);
    /* characters outside base64url anywhere, padding, whitespace */
    const char *inserts[] = {"=", " ", "+", "/", "\n", "*", "\xc3\xa9"};
    for (size_t i = 0; i < sizeof inserts / sizeof inserts[0]; i++) {
        for (int part = 0; part < 3; part++) {
            const char *at = part == 0 ? d1 : part == 1 ? d2 : good + strlen(good);
            snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - h), h, inserts[i], at);
            expect_result(set, buf, JWT_MALFORMED);
        }
    }
    /* an embedded NUL inside the given length */
    size_t glen = strlen(good);
    memcpy(buf, good, glen);
    buf[5] = '\0';
    json_t *claims = NULL;
    assert_int_equal(jwt_verify(set, buf, glen, NULL, &claims), JWT_MALFORMED);
    /* base64url that is 1 mod 4 long */
    snprintf(buf, sizeof buf, "%.*sA%s", (int)(d1 - h), h, d1);
    expect_result(set, buf, JWT_MALFORMED);

    /* headers that are not JSON objects, or not acceptable ones */
    const char *headers[] = {"[]",
                             "\"HS256\"",
                             "1",
                             "null",
                             "{",
                             "{\"alg\":\"HS256\"",
                             "not json",
                             "{\"alg\":\"HS256\",\"alg\":\"none\"}",
                             "{\"alg\":\"none\",\"alg\":\"HS256\"}",
                             "{\"alg\":7}",
                             "{\"typ\":\"JWT\"}",
                             "{\"alg\":\"HS256\",\"typ\":1}",
                             "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                             "{\"alg\":\"HS256\",\"crit\":[]}",
                             "{\"alg\":\"HS256\"} trailing",
                             "{\"alg\":\"HS\\u0000256\"}"};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        char *token = craft_hs256(SECRET, strlen(SECRET), headers[i], valid_payload);
        expect_result(set, token, JWT_MALFORMED);
        free(token);
    }
    /* correctly signed payloads that are not claim objects */
    const char *payloads[] = {
        "[]", "\"x\"", "{", "{\"exp\":1700000300,\"exp\":1}", "", "{\"exp\":1700000300} x"};
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        char *token = craft_hs256(SECRET, strlen(SECRET), "{\"alg\":\"HS256\"}", payloads[i]);
        expect_result(set, token, JWT_MALFORMED);
        free(token);
    }
    /* header members that point at keys are ignored, never fetched or trusted */
    char *token =
        craft_hs256(SECRET, strlen(SECRET),
                    "{\"alg\":\"HS256\",\"jku\":\"https://evil.test/jwks\",\"jwk\":{\"kty\":\"oct\",\"k\":"
                    "\"AAAA\"},\"x5u\":\"https://evil.test\"}",
                    valid_payload);
    expect_result(set, token, JWT_OK);
    free(token);

    /* size cap: a validly signed token just over 8 KiB is refused before any work */
    size_t big = JWT_MAX_TOKEN_LEN;
    char *payload = malloc(big);
    snprintf(payload, big,
             "{\"iss\":\"" ISSUER "\",\"aud\":\"" AUDIENCE "\",\"exp\":1700000300,\"pad\":\"%0*d\"}",
             (int)(big * 3 / 4 - 100), 0);
    token = craft_hs256(SECRET, strlen(SECRET), "{\"alg\":\"HS256\"}", payload);
    assert_true(strlen(token) > JWT_MAX_TOKEN_LEN);
    expect_result(set, token, JWT_MALFORMED);
    free(token);
    payload[big * 3 / 4 - 400] = '\0';
    strcat(payload, "\"}");
    token = craft_hs256(SECRET, strlen(SECRET), "{\"alg\":\"HS256\"}", payload);
    assert_true(strlen(token) <= JWT_MAX_TOKEN_LEN);
    expect_result(set, token, JWT_OK);
    free(token);
    free(payload);
    /* a megabyte of garbage */
    char *huge = malloc(1 << 20);
    memset(huge, 'A', 1 << 20);
    assert_int_equal(jwt_verify(set, huge, 1 << 20, NULL, NULL), JWT_MALFORMED);
    free(huge);
    assert_int_equal(jwt_verify(set, NULL, 0, NULL, NULL), JWT_MALFORMED);

    free(good);
    jwt_keyset_free(set);
}

static void test_decode_unverified(void **state)
{
    (void)state;
    char *token = sign_claims(rs_key, claims_at(-100000)); /* expired: decoding does not care */
    json_t *header = NULL, *claims = NULL;
    assert_int_equal(jwt_decode_unverified(token, strlen(token), &header, &claims), JWT_OK);
    assert_string_equal(json_string_value(json_object_get(header, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(claims, "iss")), ISSUER);
    json_decref(header);
    json_decref(claims);
    assert_int_equal(jwt_decode_unverified(token, strlen(token), NULL, NULL), JWT_OK);
    /* a garbage signature is fine, a broken shape is not */
    char *forged = craft("{\"alg\":\"none\"}", "{\"sub\":\"x\"}", NULL, 0);
    assert_int_equal(jwt_decode_unverified(forged, strlen(forged), &header, &claims), JWT_OK);
    json_decref(header);
    json_decref(claims);
    free(forged);
    header = claims = (json_t *)1;
    assert_int_equal(jwt_decode_unverified("a.b", 3, &header, &claims), JWT_MALFORMED);
    assert_null(header);
    assert_null(claims);
    forged = craft("[]", "{}", NULL, 0);
    assert_int_equal(jwt_decode_unverified(forged, strlen(forged), &header, &claims), JWT_MALFORMED);
    free(forged);
    forged = craft("{}", "{}", NULL, 0);
    assert_int_equal(jwt_decode_unverified(forged, strlen(forged), &header, &claims), JWT_OK);
    json_decref(header);
    json_decref(claims);
    free(forged);
    free(token);
}

/* ---- threads ---- */

struct thread_job {
    const struct jwt_keyset *set;
    const char *tokens[3];
    int failures;
};

static void *verify_many(void *arg)
{
    struct thread_job *job = arg;
    struct jwt_verify_options o = opts_now();
    for (int i = 0; i < 60; i++) {
        for (int t = 0; t < 3; t++) {
            json_t *claims = NULL;
            if (jwt_verify(job->set, job->tokens[t], strlen(job->tokens[t]), &o, &claims) != JWT_OK)
                job->failures++;
            json_decref(claims);
        }
    }
    return NULL;
}

static void test_threads_share_a_keyset(void **state)
{
    (void)state;
    struct jwt_keyset *set = set_of(rs_key, es_key);
    assert_int_equal(jwt_keyset_add(set, hs_key), GW_OK);
    char *tokens[3] = {sign_claims(rs_key, claims_at(300)), sign_claims(es_key, claims_at(300)),
                       sign_claims(hs_key, claims_at(300))};
    struct thread_job jobs[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct thread_job){.set = set, .tokens = {tokens[0], tokens[1], tokens[2]}};
        assert_int_equal(pthread_create(&threads[i], NULL, verify_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    for (int i = 0; i < 3; i++)
        free(tokens[i]);
    jwt_keyset_free(set);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alg_names),         cmocka_unit_test(test_roundtrip_all_algs),
        cmocka_unit_test(test_sign_rejects),      cmocka_unit_test(test_alg_confusion),
        cmocka_unit_test(test_alg_none),          cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_time_claims),       cmocka_unit_test(test_audience_and_issuer),
        cmocka_unit_test(test_kid_selection),     cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_decode_unverified), cmocka_unit_test(test_threads_share_a_keyset),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
