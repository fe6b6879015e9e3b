/*
 * crypto.c - see crypto.h. Encodings are ours (they are table lookups); everything with a
 * security property (hash, MAC, random, constant-time compare) is OpenSSL's.
 */
#include "crypto.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "alloc.h"

/* ---- algorithms fetched once ---- */

static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
/* One digest context per thread, kept between calls: EVP_Digest allocates and frees one every
 * time, which cost as much as hashing a token (the router hashes one per request). */
static pthread_key_t digest_ctx_key;

static void free_digest_ctx(void *ctx)
{
    EVP_MD_CTX_free(ctx);
}

static void fetch_algorithms(void)
{
    if (pthread_key_create(&digest_ctx_key, free_digest_ctx) != 0) {
        fprintf(stderr, "FATAL: pthread_key_create failed\n");
        abort();
    }
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!sha256_md || !hmac_mac) {
        /* Without SHA-256 no token can be issued or checked; this is a broken install. */
        fprintf(stderr, "FATAL: OpenSSL provides no SHA-256/HMAC implementation\n");
        abort();
    }
}

const EVP_MD *crypto_sha256_md(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    return sha256_md;
}

EVP_MAC *crypto_hmac_algorithm(void)
{
    pthread_once(&fetch_once, fetch_algorithms);
    return hmac_mac;
}

/* ---- base64 / base64url ---- */

static const char b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64std_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Symbol values by byte, -1 for bytes outside the alphabet: one load per character instead of a
 * chain of range tests (decoding is on the token hot path). */
static const signed char b64url_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63, -1, 26, 27, 28, 29, 30, 31, 32,
    33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};
static const signed char b64std_values[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63, 52, 53, 54, 55,
    56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
    13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1, -1, 26, 27, 28, 29, 30, 31, 32,
    33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static bool is_b64_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t encode_with(const char *alphabet, bool pad, const unsigned char *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        out[o++] = alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18 & 63];
        out[o++] = alphabet[v >> 12 & 63];
        out[o++] = alphabet[v >> 6 & 63];
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t base64url_encoded_len(size_t len)
{
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

size_t base64url_encode(const void *data, size_t len, char *out)
{
    return encode_with(b64url_alphabet, false, data, len, out);
}

char *base64url_encode_alloc(const void *data, size_t len)
{
    char *out = gw_malloc(base64url_encoded_len(len) + 1);
    base64url_encode(data, len, out);
    return out;
}

char *base64_encode_alloc(const void *data, size_t len)
{
    char *out = gw_malloc((len + 2) / 3 * 4 + 1);
    encode_with(b64std_alphabet, true, data, len, out);
    return out;
}

/*
 * One strict decoder for both alphabets, in a single pass. Padding only at the end, at most two,
 * and only where allowed; whitespace only where allowed; the unused low bits of the last symbol
 * must be zero so that each byte string has one encoding. An input that is both malformed and
 * too long for cap is GW_ERR_INVALID: validity is judged on the whole input first.
 */
static enum gw_err decode_with(const char *in, size_t len, bool url, bool allow_pad, bool allow_space,
                               unsigned char *out, size_t cap, size_t *out_len)
{
    const signed char *values = url ? b64url_values : b64std_values;
    size_t symbols = 0, pads = 0, o = 0;
    bool too_large = false;
    uint32_t acc = 0;
    int n = 0, last = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int v = values[c];
        if (v >= 0) {
            if (pads)
                return GW_ERR_INVALID; /* a symbol after padding */
            last = v;
            acc = acc << 6 | (uint32_t)v;
            symbols++;
            if (++n == 4) {
                if (o + 3 > cap) {
                    too_large = true;
                } else {
                    out[o++] = (unsigned char)(acc >> 16);
                    out[o++] = (unsigned char)(acc >> 8);
                    out[o++] = (unsigned char)acc;
                }
                acc = 0;
                n = 0;
            }
        } else if (c == '=' && allow_pad) {
            pads++;
        } else if (!(allow_space && is_b64_space(c))) {
            return GW_ERR_INVALID;
        }
    }
    if (pads > 2 || n == 1 || (pads && (symbols + pads) % 4 != 0))
        return GW_ERR_INVALID;
    if ((n == 2 && (last & 0x0f)) || (n == 3 && (last & 0x03)))
        return GW_ERR_INVALID;
    if (too_large || (n && o + (size_t)n - 1 > cap))
        return GW_ERR_TOO_LARGE;
    if (n == 2) {
        out[o++] = (unsigned char)(acc >> 4);
    } else if (n == 3) {
        out[o++] = (unsigned char)(acc >> 10);
        out[o++] = (unsigned char)(acc >> 2);
    }
    if (out_len)
        *out_len = o;
    return GW_OK;
}

bool base64url_valid_chars(const char *in, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (b64url_values[(unsigned char)in[i]] < 0)
            return false;
    return true;
}

enum gw_err base64url_decode_into(const char *in, size_t len, unsigned char *out, size_t out_cap,
                                  size_t *out_len)
{
    return decode_with(in, len, true, false, false, out, out_cap, out_len);
}

static enum gw_err decode_alloc(const char *in, size_t len, bool url, bool allow_pad, bool allow_space,
                                unsigned char **out, size_t *out_len)
{
    *out = NULL;
    size_t cap = len / 4 * 3 + 3;
    unsigned char *buf = gw_malloc(cap + 1);
    size_t n = 0;
    enum gw_err err = decode_with(in, len, url, allow_pad, allow_space, buf, cap, &n);
    if (err) {
        free(buf);
        return GW_ERR_INVALID;
    }
    buf[n] = '\0';
    *out = buf;
    if (out_len)
        *out_len = n;
    return GW_OK;
}

enum gw_err base64url_decode(const char *in, size_t len, unsigned char **out, size_t *out_len)
{
    return decode_alloc(in, len, true, false, false, out, out_len);
}

enum gw_err base64_decode(const char *in, size_t len, bool allow_whitespace, unsigned char **out,
                          size_t *out_len)
{
    return decode_alloc(in, len, false, true, allow_whitespace, out, out_len);
}

/* ---- hashes ---- */

void crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN])
{
    const EVP_MD *md = crypto_sha256_md();
    EVP_MD_CTX *ctx = pthread_getspecific(digest_ctx_key);
    if (!ctx) {
        ctx = EVP_MD_CTX_new();
        if (!ctx)
            gw_oom(sizeof(void *));
        pthread_setspecific(digest_ctx_key, ctx);
    }
    unsigned int n = 0;
    if (!EVP_DigestInit_ex(ctx, md, NULL) || !EVP_DigestUpdate(ctx, data, len) ||
        !EVP_DigestFinal_ex(ctx, out, &n) || n != CRYPTO_SHA256_LEN) {
        fprintf(stderr, "FATAL: SHA-256 failed\n");
        abort();
    }
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        unsigned char out[CRYPTO_SHA256_LEN])
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(crypto_hmac_algorithm());
    if (!ctx)
        gw_oom(sizeof(void *));
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    static const unsigned char empty_key[1];
    size_t n = 0;
    /* OpenSSL refuses a NULL key; an empty HMAC key is legal (RFC 2104) and means zero bytes. */
    if (!EVP_MAC_init(ctx, key_len ? key : empty_key, key_len, params) || !EVP_MAC_update(ctx, data, len) ||
        !EVP_MAC_final(ctx, out, &n, CRYPTO_SHA256_LEN) || n != CRYPTO_SHA256_LEN) {
        fprintf(stderr, "FATAL: HMAC-SHA256 failed\n");
        abort();
    }
    EVP_MAC_CTX_free(ctx);
}

void crypto_sha256_b64url(const void *data, size_t len, char out[CRYPTO_SHA256_B64URL_LEN + 1])
{
    unsigned char digest[CRYPTO_SHA256_LEN];
    crypto_sha256(data, len, digest);
    base64url_encode(digest, sizeof digest, out);
}

/* ---- randomness ---- */

enum gw_err crypto_random_bytes(void *out, size_t len)
{
    if (len == 0)
        return GW_OK;
    /* RAND_bytes takes an int; loop so that any size_t works. */
    unsigned char *p = out;
    size_t left = len;
    while (left) {
        int chunk = left > (1u << 30) ? (1 << 30) : (int)left;
        if (RAND_bytes(p, chunk) != 1) {
            memset(out, 0, len);
            return GW_ERR_IO;
        }
        p += chunk;
        left -= (size_t)chunk;
    }
    return GW_OK;
}

enum gw_err crypto_random_token(size_t entropy_bytes, char **out)
{
    *out = NULL;
    unsigned char stack[64];
    unsigned char *raw = entropy_bytes <= sizeof stack ? stack : gw_malloc(entropy_bytes);
    enum gw_err err = crypto_random_bytes(raw, entropy_bytes);
    if (!err)
        *out = base64url_encode_alloc(raw, entropy_bytes);
    OPENSSL_cleanse(raw, entropy_bytes);
    if (raw != stack)
        free(raw);
    return err;
}

/* ---- comparison and hex ---- */

bool crypto_equal(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len) == 0;
}

bool crypto_str_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (!a || !b || a_len != b_len)
        return false;
    return CRYPTO_memcmp(a, b, a_len) == 0;
}

void crypto_hex_encode(const void *data, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *in = data;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void crypto_wipe(void *p, size_t len)
{
    if (p && len)
        OPENSSL_cleanse(p, len);
}

/* ---- PKCE ---- */

bool pkce_verifier_valid(const char *verifier, size_t len)
{
    if (!verifier || len < 43 || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)verifier[i];
        bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                          c == '-' || c == '.' || c == '_' || c == '~';
        if (!unreserved)
            return false;
    }
    return true;
}

void pkce_s256_challenge(const char *verifier, size_t len, char out[CRYPTO_SHA256_B64URL_LEN + 1])
{
    crypto_sha256_b64url(verifier, len, out);
}

bool pkce_s256_matches(const char *verifier, size_t verifier_len, const char *challenge, size_t challenge_len)
{
    if (!pkce_verifier_valid(verifier, verifier_len) || !challenge)
        return false;
    char computed[CRYPTO_SHA256_B64URL_LEN + 1];
    pkce_s256_challenge(verifier, verifier_len, computed);
    return crypto_str_equal(computed, CRYPTO_SHA256_B64URL_LEN, challenge, challenge_len);
}
