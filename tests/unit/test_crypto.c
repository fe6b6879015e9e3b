/*
 * test_crypto.c - base64url/base64 (strictness included), SHA-256 and HMAC test vectors,
 * random tokens, constant-time comparison, hex, and PKCE (RFC 7636 Appendix B).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"

/* ---- base64url ---- */

static void assert_b64url(const char *raw, const char *encoded)
{
    char out[128];
    size_t n = base64url_encode(raw, strlen(raw), out);
    assert_string_equal(out, encoded);
    assert_int_equal(n, strlen(encoded));
    assert_int_equal(base64url_encoded_len(strlen(raw)), strlen(encoded));

    unsigned char *back = NULL;
    size_t back_len = 0;
    assert_int_equal(base64url_decode(encoded, strlen(encoded), &back, &back_len), GW_OK);
    assert_int_equal(back_len, strlen(raw));
    assert_memory_equal(back, raw, back_len);
    assert_int_equal(back[back_len], '\0');
    free(back);
}

static void assert_b64url_rejected(const char *encoded, size_t len)
{
    unsigned char *out = (unsigned char *)1;
    size_t out_len = 99;
    assert_int_equal(base64url_decode(encoded, len, &out, &out_len), GW_ERR_INVALID);
    assert_null(out);
}

static void test_base64url_vectors(void **state)
{
    (void)state;
    /* RFC 4648 §10, without padding */
    assert_b64url("", "");
    assert_b64url("f", "Zg");
    assert_b64url("fo", "Zm8");
    assert_b64url("foo", "Zm9v");
    assert_b64url("foob", "Zm9vYg");
    assert_b64url("fooba", "Zm9vYmE");
    assert_b64url("foobar", "Zm9vYmFy");
    /* the two URL-safe symbols */
    char out[8];
    base64url_encode("\xfb\xff\xbf", 3, out);
    assert_string_equal(out, "-_-_");
    char *alloc = base64url_encode_alloc("\xfb\xff", 2);
    assert_string_equal(alloc, "-_8");
    free(alloc);
}

static void test_base64url_strict(void **state)
{
    (void)state;
    assert_b64url_rejected("Zg==", 4);      /* padding */
    assert_b64url_rejected("Zg=", 3);       /* padding */
    assert_b64url_rejected("Z", 1);         /* 1 mod 4 */
    assert_b64url_rejected("Zm9vY", 5);     /* 1 mod 4 */
    assert_b64url_rejected("Zh", 2);        /* unused bits not zero: "Zg" is the only encoding of "f" */
    assert_b64url_rejected("Zm9", 3);       /* "Zm8" is the only encoding of "fo" */
    assert_b64url_rejected("Zm+v", 4);      /* standard alphabet */
    assert_b64url_rejected("Zm/v", 4);      /* standard alphabet */
    assert_b64url_rejected("Zm9v Zm9v", 9); /* whitespace */
    assert_b64url_rejected("Zm9v\n", 5);
    assert_b64url_rejected("Zm\0v", 4); /* embedded NUL */
    assert_b64url_rejected("Zm\xc3\xa9", 4);

    /* decode_into: exact fit, and too small */
    unsigned char buf[6];
    size_t n = 0;
    assert_int_equal(base64url_decode_into("Zm9vYmFy", 8, buf, 6, &n), GW_OK);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "foobar", 6);
    assert_int_equal(base64url_decode_into("Zm9vYmFy", 8, buf, 5, &n), GW_ERR_TOO_LARGE);
    assert_int_equal(base64url_decode_into("Zm9v!", 5, buf, 6, &n), GW_ERR_INVALID);
    /* malformed wins over too long: validity is judged on the whole input */
    assert_int_equal(base64url_decode_into("Zm9vYmFyZ", 9, buf, 3, &n), GW_ERR_INVALID);
    assert_int_equal(base64url_decode_into("Zm9vYmFyZh", 10, buf, 3, &n), GW_ERR_INVALID);
    assert_int_equal(base64url_decode_into("Zm9vYmFyZg", 10, buf, 6, &n), GW_ERR_TOO_LARGE);
    unsigned char seven[7];
    assert_int_equal(base64url_decode_into("Zm9vYmFyZg", 10, seven, 7, &n), GW_OK); /* exact fit */
    assert_int_equal(n, 7);
    assert_memory_equal(seven, "foobarf", 7);
    assert_int_equal(base64url_decode_into("Zm9vYmFyZm8", 11, seven, 7, &n), GW_ERR_TOO_LARGE);

    /* the quick alphabet check */
    assert_true(base64url_valid_chars("", 0));
    assert_true(base64url_valid_chars("AZaz09-_", 8));
    assert_false(base64url_valid_chars("AZaz09-_=", 9));
    assert_false(base64url_valid_chars("a+b", 3));
    assert_false(base64url_valid_chars("a.b", 3));
    assert_false(base64url_valid_chars("a\0b", 3));
    assert_false(base64url_valid_chars("\xff", 1));
}

static void test_base64url_random_roundtrip(void **state)
{
    (void)state;
    for (size_t len = 0; len < 200; len++) {
        unsigned char raw[200];
        assert_int_equal(crypto_random_bytes(raw, len), GW_OK);
        char *enc = base64url_encode_alloc(raw, len);
        assert_int_equal(strlen(enc), base64url_encoded_len(len));
        unsigned char *dec = NULL;
        size_t dec_len = 0;
        assert_int_equal(base64url_decode(enc, strlen(enc), &dec, &dec_len), GW_OK);
        assert_int_equal(dec_len, len);
        if (len)
            assert_memory_equal(dec, raw, len);
        free(dec);
        free(enc);
    }
}

/* ---- standard base64 ---- */

static void test_base64_standard(void **state)
{
    (void)state;
    unsigned char *out = NULL;
    size_t n = 0;
    assert_int_equal(base64_decode("Zm9vYg==", 8, false, &out, &n), GW_OK);
    assert_int_equal(n, 4);
    assert_string_equal((char *)out, "foob");
    free(out);
    assert_int_equal(base64_decode("Zm9vYg", 6, false, &out, &n), GW_OK); /* padding optional */
    assert_string_equal((char *)out, "foob");
    free(out);
    assert_int_equal(base64_decode("+/8=", 4, false, &out, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\xfb\xff", 2);
    free(out);

    /* line-wrapped, as `base64` prints it */
    const char *wrapped = "Zm9v\nYmFy\r\n Zm9v\tYg==\n";
    assert_int_equal(base64_decode(wrapped, strlen(wrapped), true, &out, &n), GW_OK);
    assert_string_equal((char *)out, "foobarfoob");
    free(out);
    assert_int_equal(base64_decode(wrapped, strlen(wrapped), false, &out, &n), GW_ERR_INVALID);
    assert_null(out);

    const char *bad[] = {"Zm9vYg=", "Zm9vYg===", "Zg=a", "Zm-v", "Zm_v", "Z", "Zh==", "=Zg", "Zg==Zg=="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = (unsigned char *)1;
        assert_int_equal(base64_decode(bad[i], strlen(bad[i]), true, &out, &n), GW_ERR_INVALID);
        assert_null(out);
    }

    char *enc = base64_encode_alloc("foob", 4);
    assert_string_equal(enc, "Zm9vYg==");
    free(enc);
    enc = base64_encode_alloc("\xfb\xff", 2);
    assert_string_equal(enc, "+/8=");
    free(enc);
}

/* ---- hashes ---- */

static void assert_hex(const unsigned char *digest, size_t len, const char *hex)
{
    char out[2 * 64 + 1];
    crypto_hex_encode(digest, len, out);
    assert_string_equal(out, hex);
}

static void test_sha256_and_hmac(void **state)
{
    (void)state;
    unsigned char d[CRYPTO_SHA256_LEN];
    crypto_sha256("", 0, d);
    assert_hex(d, sizeof d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    crypto_sha256("abc", 3, d);
    assert_hex(d, sizeof d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    /* RFC 4231 test case 2 */
    const char *data = "what do ya want for nothing?";
    crypto_hmac_sha256("Jefe", 4, data, strlen(data), d);
    assert_hex(d, sizeof d, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 1 */
    unsigned char key[20];
    memset(key, 0x0b, sizeof key);
    crypto_hmac_sha256(key, sizeof key, "Hi There", 8, d);
    assert_hex(d, sizeof d, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* an empty key is legal HMAC */
    crypto_hmac_sha256(NULL, 0, "", 0, d);
    assert_hex(d, sizeof d, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");

    char b64[CRYPTO_SHA256_B64URL_LEN + 1];
    crypto_sha256_b64url("abc", 3, b64);
    assert_string_equal(b64, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    assert_non_null(crypto_sha256_md());
    assert_true(crypto_sha256_md() == crypto_sha256_md()); /* fetched once */
}

/* ---- random, compare, hex ---- */

static void test_random_tokens(void **state)
{
    (void)state;
    char *a = NULL, *b = NULL;
    assert_int_equal(crypto_random_token(32, &a), GW_OK);
    assert_int_equal(crypto_random_token(32, &b), GW_OK);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    for (const char *p = a; *p; p++)
        assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p));
    unsigned char *raw = NULL;
    size_t n = 0;
    assert_int_equal(base64url_decode(a, strlen(a), &raw, &n), GW_OK);
    assert_int_equal(n, 32);
    free(raw);
    free(a);
    free(b);

    char *big = NULL;
    assert_int_equal(crypto_random_token(100, &big), GW_OK); /* beyond the stack buffer */
    assert_int_equal(strlen(big), base64url_encoded_len(100));
    free(big);

    unsigned char zero[64] = {0}, buf[64] = {0};
    assert_int_equal(crypto_random_bytes(buf, sizeof buf), GW_OK);
    assert_memory_not_equal(buf, zero, sizeof buf);
    assert_int_equal(crypto_random_bytes(buf, 0), GW_OK);
}

static void test_compare_and_hex(void **state)
{
    (void)state;
    assert_true(crypto_equal("abc", "abc", 3));
    assert_false(crypto_equal("abc", "abd", 3));
    assert_true(crypto_equal("", "", 0));
    assert_true(crypto_str_equal("secret", 6, "secret", 6));
    assert_false(crypto_str_equal("secret", 6, "secreT", 6));
    assert_false(crypto_str_equal("secret", 6, "secret!", 7));
    assert_false(crypto_str_equal(NULL, 0, "", 0));
    assert_false(crypto_str_equal("", 0, NULL, 0));

    char hex[9];
    crypto_hex_encode("\x00\x01\xab\xff", 4, hex);
    assert_string_equal(hex, "0001abff");
    crypto_hex_encode("", 0, hex);
    assert_string_equal(hex, "");

    char wipe[4] = "abc";
    crypto_wipe(wipe, sizeof wipe);
    assert_memory_equal(wipe, "\0\0\0\0", 4);
    crypto_wipe(NULL, 10);
}

/* ---- PKCE ---- */

static void test_pkce(void **state)
{
    (void)state;
    /* RFC 7636 Appendix B (the challenge as printed in the RFC; also what Python's hashlib gives) */
    const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const char *challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    char computed[CRYPTO_SHA256_B64URL_LEN + 1];
    pkce_s256_challenge(verifier, strlen(verifier), computed);
    assert_string_equal(computed, challenge);
    assert_true(pkce_verifier_valid(verifier, strlen(verifier)));
    assert_true(pkce_s256_matches(verifier, strlen(verifier), challenge, strlen(challenge)));

    /* wrong verifier, wrong or truncated challenge */
    const char *other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
    assert_false(pkce_s256_matches(other, strlen(other), challenge, strlen(challenge)));
    assert_false(pkce_s256_matches(verifier, strlen(verifier), challenge, strlen(challenge) - 1));
    assert_false(
        pkce_s256_matches(verifier, strlen(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN", 43));
    assert_false(pkce_s256_matches(verifier, strlen(verifier), NULL, 0));
    /* "plain" (challenge == verifier) never matches under S256 */
    assert_false(pkce_s256_matches(verifier, strlen(verifier), verifier, strlen(verifier)));

    /* syntax: 43..128 of [A-Za-z0-9-._~] */
    char v[200];
    memset(v, 'a', sizeof v);
    assert_false(pkce_verifier_valid(v, 42));
    assert_true(pkce_verifier_valid(v, 43));
    assert_true(pkce_verifier_valid(v, 128));
    assert_false(pkce_verifier_valid(v, 129));
    memcpy(v, "-._~AZaz09", 10);
    assert_true(pkce_verifier_valid(v, 43));
    const char bad_chars[] = "+/= %!\"\x7f\x80\n";
    for (size_t i = 0; i + 1 < sizeof bad_chars; i++) {
        v[20] = bad_chars[i];
        assert_false(pkce_verifier_valid(v, 43));
    }
    v[20] = '\0';
    assert_false(pkce_verifier_valid(v, 43));
    assert_false(pkce_verifier_valid(NULL, 43));
    /* an invalid verifier fails even when its hash matches the challenge */
    memset(v, 'a', 42);
    v[42] = '\0';
    pkce_s256_challenge(v, 42, computed);
    assert_false(pkce_s256_matches(v, 42, computed, strlen(computed)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64url_vectors),
        cmocka_unit_test(test_base64url_strict),
        cmocka_unit_test(test_base64url_random_roundtrip),
        cmocka_unit_test(test_base64_standard),
        cmocka_unit_test(test_sha256_and_hmac),
        cmocka_unit_test(test_random_tokens),
        cmocka_unit_test(test_compare_and_hex),
        cmocka_unit_test(test_pkce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
