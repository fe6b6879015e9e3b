/*
 * jwt_key.c - keys: loading (PEM, secret, JWK), generation, JWK export, RFC 7638 thumbprints,
 * and the raw sign/verify operations on prepared contexts.
 */
#include "jwt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "alloc.h"
#include "crypto.h"

/* The constant whose HMAC under an HS256 secret names that secret (see jwt_key_from_secret). */
static const char hs256_kid_label[] = "mcpgw HS256 key id v1";

#define EC_COORD_LEN 32 /* P-256 coordinates and scalars */

/* ---- algorithms ---- */

const char *jwt_alg_name(enum jwt_alg alg)
{
    switch (alg) {
    case JWT_ALG_HS256:
        return "HS256";
    case JWT_ALG_RS256:
        return "RS256";
    case JWT_ALG_ES256:
        return "ES256";
    case JWT_ALG_UNSUPPORTED:
        break;
    }
    return "unsupported";
}

enum jwt_alg jwt_alg_from_name(const char *name)
{
    if (!name)
        return JWT_ALG_UNSUPPORTED;
    if (strcmp(name, "RS256") == 0)
        return JWT_ALG_RS256;
    if (strcmp(name, "ES256") == 0)
        return JWT_ALG_ES256;
    if (strcmp(name, "HS256") == 0)
        return JWT_ALG_HS256;
    return JWT_ALG_UNSUPPORTED;
}

/* ---- life cycle ---- */

static struct jwt_key *key_alloc(enum jwt_alg alg)
{
    struct jwt_key *key = gw_calloc(1, sizeof *key);
    atomic_init(&key->refs, 1);
    key->alg = alg;
    return key;
}

struct jwt_key *jwt_key_ref(struct jwt_key *key)
{
    atomic_fetch_add_explicit(&key->refs, 1, memory_order_relaxed);
    return key;
}

void jwt_key_free(struct jwt_key *key)
{
    if (!key || atomic_fetch_sub_explicit(&key->refs, 1, memory_order_acq_rel) != 1)
        return;
    EVP_PKEY_CTX_free(key->verify_template);
    EVP_PKEY_CTX_free(key->sign_template);
    EVP_PKEY_free(key->pkey); /* OpenSSL clears private key material when freeing */
    EVP_MAC_CTX_free(key->mac_template);
    free(key->kid);
    free(key);
}

enum jwt_alg jwt_key_alg(const struct jwt_key *key)
{
    return key->alg;
}

const char *jwt_key_kid(const struct jwt_key *key)
{
    return key->kid;
}

bool jwt_key_can_sign(const struct jwt_key *key)
{
    return key->can_sign;
}

/* ---- public parameters ---- */

/* BIGNUM parameter `name` of pkey as base64url; pad > 0 left-pads to that many bytes (EC
 * coordinates must have full length, RFC 7518 §6.2.1.2), pad 0 is minimal (RSA n and e). */
static char *bn_param_b64url(const EVP_PKEY *pkey, const char *name, int pad)
{
    BIGNUM *bn = NULL;
    if (!EVP_PKEY_get_bn_param(pkey, name, &bn))
        return NULL;
    int len = pad > 0 ? pad : BN_num_bytes(bn);
    unsigned char *bytes = gw_malloc((size_t)len + 1);
    char *out = NULL;
    if (BN_bn2binpad(bn, bytes, len) == len)
        out = base64url_encode_alloc(bytes, (size_t)len);
    free(bytes);
    BN_free(bn);
    return out;
}

/* The public members of an RSA or EC key as base64url: (n, e) or (x, y). Both NULL on failure. */
static void public_members(const struct jwt_key *key, char **first, char **second)
{
    if (key->alg == JWT_ALG_RS256) {
        *first = bn_param_b64url(key->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        *second = bn_param_b64url(key->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
    } else {
        *first = bn_param_b64url(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X, EC_COORD_LEN);
        *second = bn_param_b64url(key->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, EC_COORD_LEN);
    }
    if (!*first || !*second) {
        free(*first);
        free(*second);
        *first = *second = NULL;
    }
}

/* RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace. The
 * values are base64url, which needs no JSON escaping, so the canonical form is a printf. */
static enum gw_err thumbprint_of(const struct jwt_key *key, char out[44])
{
    if (key->alg != JWT_ALG_RS256 && key->alg != JWT_ALG_ES256)
        return GW_ERR_INVALID;
    char *a, *b;
    public_members(key, &a, &b);
    if (!a)
        return GW_ERR_INVALID;
    size_t cap = strlen(a) + strlen(b) + 64;
    char *canonical = gw_malloc(cap);
    int n =
        key->alg == JWT_ALG_RS256
            ? snprintf(canonical, cap, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b, a)
            : snprintf(canonical, cap, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}", a, b);
    crypto_sha256_b64url(canonical, (size_t)n, out);
    free(canonical);
    free(a);
    free(b);
    return GW_OK;
}

enum gw_err jwt_key_thumbprint(const struct jwt_key *key, char out[44])
{
    return thumbprint_of(key, out);
}

json_t *jwt_key_public_jwk(const struct jwt_key *key)
{
    if (key->alg != JWT_ALG_RS256 && key->alg != JWT_ALG_ES256)
        return NULL;
    char *a, *b;
    public_members(key, &a, &b);
    if (!a)
        return NULL;
    json_t *jwk = key->alg == JWT_ALG_RS256
                      ? json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "use", "sig", "alg",
                                  "RS256", "kid", key->kid, "n", a, "e", b)
                      : json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "use", "sig", "alg",
                                  "ES256", "kid", key->kid, "crv", "P-256", "x", a, "y", b);
    free(a);
    free(b);
    if (!jwk)
        gw_oom(0);
    return jwk;
}

char *jwt_key_public_pem(const struct jwt_key *key)
{
    if (!key->pkey)
        return NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    if (!bio)
        gw_oom(0);
    char *out = NULL;
    if (PEM_write_bio_PUBKEY(bio, key->pkey)) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        out = gw_strndup(data, (size_t)n);
    }
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

/* ---- wrapping an EVP_PKEY ---- */

/* Contexts initialised once per key: the signature algorithm is fetched and the padding and
 * digest set here, not on every token (pitfall 19). */
static EVP_PKEY_CTX *make_template(EVP_PKEY *pkey, enum jwt_alg alg, bool for_signing)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!ctx)
        return NULL;
    int ok = for_signing ? EVP_PKEY_sign_init(ctx) : EVP_PKEY_verify_init(ctx);
    if (ok > 0 && alg == JWT_ALG_RS256)
        ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
    if (ok > 0)
        ok = EVP_PKEY_CTX_set_signature_md(ctx, crypto_sha256_md());
    if (ok <= 0) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static bool is_p256(const EVP_PKEY *pkey)
{
    char group[64];
    size_t len = 0;
    if (!EVP_PKEY_get_group_name(pkey, group, sizeof group, &len))
        return false;
    return strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0 || strcmp(group, "secp256r1") == 0;
}

enum gw_err jwt_key_wrap_pkey(EVP_PKEY *pkey, enum jwt_alg alg, bool has_private, const char *kid,
                              struct jwt_key **out, const char **why)
{
    *out = NULL;
    const char *reason = NULL;
    enum gw_err err = GW_ERR_CONFIG;
    if (alg == JWT_ALG_RS256) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (!EVP_PKEY_is_a(pkey, "RSA"))
            reason = "the key is not an RSA key, but the algorithm is RS256";
        else if (bits < JWT_RSA_MIN_BITS)
            reason = "the RSA key is shorter than 2048 bits";
        else if (bits > JWT_RSA_MAX_BITS)
            reason = "the RSA key is longer than 8192 bits";
    } else if (alg == JWT_ALG_ES256) {
        if (!EVP_PKEY_is_a(pkey, "EC"))
            reason = "the key is not an EC key, but the algorithm is ES256";
        else if (!is_p256(pkey))
            reason = "the EC key is not on curve P-256, which ES256 requires";
    } else {
        reason = "a PEM/JWK key can only be used with RS256 or ES256";
        err = GW_ERR_INVALID;
    }
    if (reason) {
        EVP_PKEY_free(pkey);
        if (why)
            *why = reason;
        return err;
    }

    struct jwt_key *key = key_alloc(alg);
    key->pkey = pkey;
    key->can_sign = has_private;
    key->sig_len = alg == JWT_ALG_ES256 ? 2 * EC_COORD_LEN : (size_t)EVP_PKEY_get_size(pkey);
    key->verify_template = make_template(pkey, alg, false);
    if (has_private)
        key->sign_template = make_template(pkey, alg, true);
    char thumb[44];
    if (!key->verify_template || (has_private && !key->sign_template) ||
        (!kid && thumbprint_of(key, thumb))) {
        jwt_key_free(key);
        ERR_clear_error();
        if (why)
            *why = "OpenSSL could not prepare the key";
        return GW_ERR_INVALID;
    }
    key->kid = gw_strdup(kid ? kid : thumb);
    *out = key;
    return GW_OK;
}

/* ---- loading ---- */

/* Never prompt for a passphrase on the terminal (OpenSSL's default with a NULL callback):
 * an encrypted key simply fails to load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

enum gw_err jwt_key_from_pem(const char *pem, size_t len, enum jwt_alg alg, struct jwt_key **out,
                             const char **why)
{
    *out = NULL;
    if (len > 64 * 1024) {
        if (why)
            *why = "the PEM text is implausibly long for a private key";
        return GW_ERR_INVALID;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        gw_oom(len);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, NULL, NULL);
    BIO_free(bio);
    ERR_clear_error(); /* leave no stale errors for the TLS code that shares this thread */
    if (!pkey) {
        if (why)
            *why = "no unencrypted PEM private key (PKCS#8, RSA or EC) could be read";
        return GW_ERR_INVALID;
    }
    return jwt_key_wrap_pkey(pkey, alg, true, NULL, out, why);
}

enum gw_err jwt_key_from_pem_base64(const char *b64, size_t len, enum jwt_alg alg, struct jwt_key **out,
                                    const char **why)
{
    *out = NULL;
    unsigned char *pem = NULL;
    size_t pem_len = 0;
    if (base64_decode(b64, len, true, &pem, &pem_len)) {
        if (why)
            *why = "the value is not valid base64";
        return GW_ERR_INVALID;
    }
    enum gw_err err = jwt_key_from_pem((const char *)pem, pem_len, alg, out, why);
    crypto_wipe(pem, pem_len);
    free(pem);
    return err;
}

enum gw_err jwt_key_from_secret(const void *secret, size_t len, struct jwt_key **out, const char **why)
{
    *out = NULL;
    if (!secret || len < JWT_HMAC_MIN_SECRET) {
        if (why)
            *why = "an HS256 secret must be at least 32 bytes long (RFC 7518 section 3.2)";
        return GW_ERR_CONFIG;
    }
    EVP_MAC_CTX *mac = EVP_MAC_CTX_new(crypto_hmac_algorithm());
    if (!mac)
        gw_oom(0);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!EVP_MAC_init(mac, secret, len, params)) {
        EVP_MAC_CTX_free(mac);
        ERR_clear_error();
        if (why)
            *why = "OpenSSL could not prepare the HMAC key";
        return GW_ERR_INVALID;
    }
    struct jwt_key *key = key_alloc(JWT_ALG_HS256);
    key->mac_template = mac;
    key->can_sign = true;
    key->sig_len = CRYPTO_SHA256_LEN;
    unsigned char digest[CRYPTO_SHA256_LEN];
    crypto_hmac_sha256(secret, len, hs256_kid_label, sizeof hs256_kid_label - 1, digest);
    /* 16 bytes name the key well enough; the full MAC is not needed in every token header. */
    key->kid = base64url_encode_alloc(digest, 16);
    *out = key;
    return GW_OK;
}

enum gw_err jwt_key_generate(enum jwt_alg alg, struct jwt_key **out)
{
    *out = NULL;
    EVP_PKEY *pkey = NULL;
    if (alg == JWT_ALG_RS256)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    else if (alg == JWT_ALG_ES256)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    else
        return GW_ERR_INVALID;
    if (!pkey) {
        ERR_clear_error();
        return GW_ERR_INVALID;
    }
    return jwt_key_wrap_pkey(pkey, alg, true, NULL, out, NULL);
}

/* ---- JWK import ---- */

/* Member `name` of jwk as a string: NULL if absent; *bad set if present but not a string. */
static const char *jwk_string(const json_t *jwk, const char *name, bool *bad)
{
    json_t *v = json_object_get(jwk, name);
    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        return NULL;
    }
    return json_string_value(v);
}

/* Decode base64url member `name` (required) into a BIGNUM, leading zero bytes ignored. */
static BIGNUM *jwk_bignum(const json_t *jwk, const char *name, size_t max_bytes, bool *bad)
{
    const char *text = jwk_string(jwk, name, bad);
    if (!text) {
        *bad = true;
        return NULL;
    }
    unsigned char *bytes = NULL;
    size_t len = 0;
    if (base64url_decode(text, strlen(text), &bytes, &len) || len == 0 || len > max_bytes) {
        free(bytes);
        *bad = true;
        return NULL;
    }
    BIGNUM *bn = BN_bin2bn(bytes, (int)len, NULL);
    free(bytes);
    if (!bn)
        gw_oom(len);
    return bn;
}

static enum gw_err rsa_from_jwk(const json_t *jwk, EVP_PKEY **pkey, const char **why)
{
    bool bad = false;
    /* Read a little beyond the largest supported modulus so "too big" is "unsupported". */
    BIGNUM *n = jwk_bignum(jwk, "n", JWT_RSA_MAX_BITS / 8 + 8, &bad);
    BIGNUM *e = jwk_bignum(jwk, "e", 8, &bad);
    enum gw_err err = GW_OK;
    if (bad) {
        *why = "an RSA JWK needs base64url members n and e";
        err = GW_ERR_INVALID;
    } else if (!BN_is_odd(e) || BN_is_one(e) || !BN_is_odd(n)) {
        *why = "an RSA JWK has an even modulus or an invalid exponent";
        err = GW_ERR_INVALID;
    } else if (BN_num_bits(e) > 32 || BN_num_bits(n) < JWT_RSA_MIN_BITS ||
               BN_num_bits(n) > JWT_RSA_MAX_BITS) {
        *why = "an RSA JWK's size is outside what we accept";
        err = GW_ERR_NOT_FOUND;
    }
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (!err) {
        bld = OSSL_PARAM_BLD_new();
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
        if (!bld || !ctx || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
            !(params = OSSL_PARAM_BLD_to_param(bld)) || EVP_PKEY_fromdata_init(ctx) <= 0 ||
            EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
            *why = "OpenSSL rejected the RSA JWK";
            err = GW_ERR_INVALID;
        }
    }
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(n);
    BN_free(e);
    return err;
}

static enum gw_err ec_from_jwk(const json_t *jwk, EVP_PKEY **pkey, const char **why)
{
    bool bad = false;
    const char *crv = jwk_string(jwk, "crv", &bad);
    const char *x = jwk_string(jwk, "x", &bad);
    const char *y = jwk_string(jwk, "y", &bad);
    if (bad || !crv || !x || !y) {
        *why = "an EC JWK needs string members crv, x and y";
        return GW_ERR_INVALID;
    }
    if (strcmp(crv, "P-256") != 0) {
        *why = "an EC JWK is on a curve other than P-256";
        return GW_ERR_NOT_FOUND;
    }
    unsigned char point[1 + 2 * EC_COORD_LEN];
    size_t xl = 0, yl = 0;
    point[0] = POINT_CONVERSION_UNCOMPRESSED;
    if (base64url_decode_into(x, strlen(x), point + 1, EC_COORD_LEN, &xl) ||
        base64url_decode_into(y, strlen(y), point + 1 + EC_COORD_LEN, EC_COORD_LEN, &yl) ||
        xl != EC_COORD_LEN || yl != EC_COORD_LEN) {
        *why = "an EC JWK's x or y is not 32 bytes of base64url";
        return GW_ERR_INVALID;
    }
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    enum gw_err err = GW_OK;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        *why = "an EC JWK's point is not on P-256";
        err = GW_ERR_INVALID;
    }
    EVP_PKEY_CTX_free(ctx);
    return err;
}

/* For EC keys, OpenSSL's public-key check (the point is on P-256 and of the right order).
 * Not for RSA: OpenSSL's SP 800-56B RSA check runs a randomised primality test and, on an odd
 * modulus that is not a product of two primes, passes or fails at random (our fuzzer found a
 * JWKS accepted by one parse and refused by the next). A router must not flap on its key set,
 * so RSA keys get only rsa_from_jwk's deterministic checks; a wrong modulus merely fails to
 * verify anything. */
static bool public_key_checks_out(EVP_PKEY *pkey)
{
    if (!EVP_PKEY_is_a(pkey, "EC"))
        return true;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    bool ok = ctx && EVP_PKEY_public_check(ctx) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

enum gw_err jwt_key_from_jwk(const json_t *jwk, struct jwt_key **out, const char **why)
{
    const char *reason = NULL;
    if (!why)
        why = &reason;
    *out = NULL;
    if (!json_is_object(jwk)) {
        *why = "a JWK is not a JSON object";
        return GW_ERR_INVALID;
    }
    bool bad = false;
    const char *kty = jwk_string(jwk, "kty", &bad);
    const char *use = jwk_string(jwk, "use", &bad);
    const char *alg_name = jwk_string(jwk, "alg", &bad);
    const char *kid = jwk_string(jwk, "kid", &bad);
    json_t *ops = json_object_get(jwk, "key_ops");
    if (bad || !kty || (ops && !json_is_array(ops))) {
        *why = "a JWK's kty, use, alg, kid or key_ops has the wrong type, or kty is missing";
        return GW_ERR_INVALID;
    }
    if (kid && (kid[0] == '\0' || strlen(kid) > 256)) {
        *why = "a JWK's kid is empty or longer than 256 characters";
        return GW_ERR_INVALID;
    }

    enum jwt_alg alg;
    if (strcmp(kty, "RSA") == 0)
        alg = JWT_ALG_RS256;
    else if (strcmp(kty, "EC") == 0)
        alg = JWT_ALG_ES256;
    else {
        /* "oct" included: a shared secret must never arrive through a published key set. */
        *why = "a JWK of a key type we do not verify with";
        return GW_ERR_NOT_FOUND;
    }
    if ((use && strcmp(use, "sig") != 0) || (alg_name && jwt_alg_from_name(alg_name) != alg)) {
        *why = "a JWK meant for another use or algorithm";
        return GW_ERR_NOT_FOUND;
    }
    if (ops) {
        bool verify = false;
        size_t i;
        json_t *op;
        json_array_foreach(ops, i, op)
        {
            if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
                verify = true;
        }
        if (!verify) {
            *why = "a JWK whose key_ops do not include verify";
            return GW_ERR_NOT_FOUND;
        }
    }

    EVP_PKEY *pkey = NULL;
    enum gw_err err = alg == JWT_ALG_RS256 ? rsa_from_jwk(jwk, &pkey, why) : ec_from_jwk(jwk, &pkey, why);
    if (!err && !public_key_checks_out(pkey)) {
        *why = "OpenSSL's public key check failed for a JWK";
        err = GW_ERR_INVALID;
    }
    ERR_clear_error();
    if (err) {
        EVP_PKEY_free(pkey);
        return err;
    }
    return jwt_key_wrap_pkey(pkey, alg, false, kid, out, why);
}

/* ---- raw signatures ---- */

static bool hs256_mac(const struct jwt_key *key, const void *input, size_t len, unsigned char out[32])
{
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(key->mac_template);
    size_t n = 0;
    bool ok = ctx && EVP_MAC_update(ctx, input, len) && EVP_MAC_final(ctx, out, &n, CRYPTO_SHA256_LEN) &&
              n == CRYPTO_SHA256_LEN;
    EVP_MAC_CTX_free(ctx);
    return ok;
}

enum gw_err jwt_key_sign_raw(const struct jwt_key *key, const void *input, size_t len, unsigned char *sig,
                             size_t *sig_len)
{
    *sig_len = 0;
    if (!key->can_sign)
        return GW_ERR_INVALID;
    if (key->alg == JWT_ALG_HS256) {
        if (!hs256_mac(key, input, len, sig))
            return GW_ERR_INVALID;
        *sig_len = CRYPTO_SHA256_LEN;
        return GW_OK;
    }
    unsigned char digest[CRYPTO_SHA256_LEN];
    crypto_sha256(input, len, digest);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_dup(key->sign_template);
    unsigned char der[JWT_MAX_SIG_LEN + 16];
    size_t der_len = sizeof der;
    enum gw_err err = GW_ERR_INVALID;
    if (ctx && EVP_PKEY_sign(ctx, der, &der_len, digest, sizeof digest) > 0) {
        if (key->alg == JWT_ALG_RS256) {
            memcpy(sig, der, der_len);
            *sig_len = der_len;
            err = GW_OK;
        } else {
            /* OpenSSL produces DER; JOSE wants the two 32-byte integers side by side. */
            const unsigned char *p = der;
            ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
            const BIGNUM *r = NULL, *s = NULL;
            if (es)
                ECDSA_SIG_get0(es, &r, &s);
            if (es && BN_bn2binpad(r, sig, EC_COORD_LEN) == EC_COORD_LEN &&
                BN_bn2binpad(s, sig + EC_COORD_LEN, EC_COORD_LEN) == EC_COORD_LEN) {
                *sig_len = 2 * EC_COORD_LEN;
                err = GW_OK;
            }
            ECDSA_SIG_free(es);
        }
    }
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    return err;
}

/* A raw R||S signature as DER for OpenSSL; returns the DER length, 0 on failure. */
static int ecdsa_raw_to_der(const unsigned char *sig, unsigned char **der)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, EC_COORD_LEN, NULL);
    BIGNUM *s = BN_bin2bn(sig + EC_COORD_LEN, EC_COORD_LEN, NULL);
    if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s)) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return 0;
    }
    int len = i2d_ECDSA_SIG(es, der);
    ECDSA_SIG_free(es); /* frees r and s */
    return len > 0 ? len : 0;
}

bool jwt_key_verify_raw(const struct jwt_key *key, const void *input, size_t len, const unsigned char *sig,
                        size_t sig_len)
{
    if (sig_len != key->sig_len)
        return false;
    if (key->alg == JWT_ALG_HS256) {
        unsigned char mac[CRYPTO_SHA256_LEN];
        return hs256_mac(key, input, len, mac) && CRYPTO_memcmp(mac, sig, sizeof mac) == 0;
    }
    unsigned char digest[CRYPTO_SHA256_LEN];
    crypto_sha256(input, len, digest);
    unsigned char *der = NULL;
    const unsigned char *checked = sig;
    size_t checked_len = sig_len;
    if (key->alg == JWT_ALG_ES256) {
        int der_len = ecdsa_raw_to_der(sig, &der);
        if (!der_len) {
            ERR_clear_error();
            return false;
        }
        checked = der;
        checked_len = (size_t)der_len;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_dup(key->verify_template);
    bool ok = ctx && EVP_PKEY_verify(ctx, checked, checked_len, digest, sizeof digest) == 1;
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    if (!ok)
        ERR_clear_error();
    return ok;
}
