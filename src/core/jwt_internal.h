/*
 * jwt_internal.h - what the jwt_*.c files share and nobody else sees: the key structure with
 * its prepared OpenSSL contexts, and the raw signature operations.
 */
#ifndef MCPGW_CORE_JWT_INTERNAL_H
#define MCPGW_CORE_JWT_INTERNAL_H

#include <stdatomic.h>

#include <openssl/evp.h>

#include "jwt.h"

/* Largest signature of any supported key: an RSA-8192 signature is 1024 bytes. */
#define JWT_MAX_SIG_LEN (JWT_RSA_MAX_BITS / 8)

struct jwt_key {
    atomic_uint refs;
    enum jwt_alg alg;
    bool can_sign;
    char *kid;
    size_t sig_len; /* exact signature length for this key: 32 (HS256), 64 (ES256), modulus bytes */
    /* RS256/ES256: the key and contexts initialised once (algorithm fetched, padding and
     * digest set). Each operation works on an EVP_PKEY_CTX_dup() of a template, so the
     * templates themselves are only ever read and a key can serve many threads at once. */
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *verify_template;
    EVP_PKEY_CTX *sign_template; /* NULL for public-only keys */
    /* HS256: a keyed HMAC-SHA256 context, duplicated per use; the secret lives only inside it. */
    EVP_MAC_CTX *mac_template;
};

struct jwt_keyset {
    atomic_uint refs;
    struct jwt_key **keys;
    size_t count;
    size_t alloc;
};

/* Wrap pkey (ownership passes to the key, also on failure) as a key of algorithm alg, checking
 * that the key type fits (RSA size bounds, P-256). kid NULL: the RFC 7638 thumbprint. */
enum gw_err jwt_key_wrap_pkey(EVP_PKEY *pkey, enum jwt_alg alg, bool has_private, const char *kid,
                              struct jwt_key **out, const char **why);

/* Sign input[0..len) with key into sig (room for JWT_MAX_SIG_LEN bytes) in JOSE form (ES256:
 * raw R||S); *sig_len receives the length. GW_ERR_INVALID if the key cannot sign. */
enum gw_err jwt_key_sign_raw(const struct jwt_key *key, const void *input, size_t len, unsigned char *sig,
                             size_t *sig_len);
/* true when sig[0..sig_len) (JOSE form) is key's valid signature over input[0..len). */
bool jwt_key_verify_raw(const struct jwt_key *key, const void *input, size_t len, const unsigned char *sig,
                        size_t sig_len);

/* The inputs of the claim checks, read out of a claims object once (jwt_claims_summarize) so
 * that checking them again (a cache hit) needs no JSON lookups. Borrows strings and aud from the
 * claims object, which must outlive the summary. */
enum jwt_claim_state {
    JWT_CLAIM_ABSENT = 0,
    JWT_CLAIM_PRESENT, /* a NumericDate: the value field holds it */
    JWT_CLAIM_INVALID, /* present but not a number: the checks say JWT_MALFORMED when they reach it */
};
struct jwt_claim_summary {
    bool object; /* false: not a JSON object (JWT_MALFORMED) */
    enum jwt_claim_state exp_state, nbf_state, iat_state;
    int64_t exp, nbf, iat;
    const char *iss;        /* NULL when "iss" is absent or not a string */
    const char *aud_string; /* "aud" when it is a string, else NULL */
    const json_t *aud;      /* "aud" as it is (array, absent: NULL, anything else) */
};

/* Read claims (borrowed) into *s. */
void jwt_claims_summarize(const json_t *claims, struct jwt_claim_summary *s);
/* The claim checks of jwt_check_claims on a summary, at Unix time now (opts is not NULL; its now
 * member is ignored). Gives exactly what jwt_check_claims gives for the summarised claims. */
enum jwt_result jwt_check_summary(const struct jwt_claim_summary *s, const struct jwt_verify_options *opts,
                                  int64_t now);

#endif
