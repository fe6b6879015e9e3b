/*
 * jwt.h - JSON Web Tokens (RFC 7519) as compact JWS (RFC 7515), JSON Web Keys and key sets
 * (RFC 7517/7518, thumbprints RFC 7638), and a per-thread cache of verified tokens.
 *
 * Built on OpenSSL 3 EVP and jansson; libjwt is not used (it accepted forged tokens in our
 * tests: pitfall 14 of the measurements). Three algorithms: HS256, RS256, ES256.
 *
 * The rules that make this safe, and that every caller may rely on:
 *  - A key has exactly one algorithm, fixed when it is created. A token whose "alg" is not
 *    that algorithm is rejected (JWT_BAD_ALG), so an HS256 token "signed" with an RSA public
 *    key is never checked as an HMAC; "none" is always rejected.
 *  - The verification key comes only from the caller's key set, by "kid"; header members
 *    that point at keys ("jwk", "jku", "x5u", "x5c") are ignored, "crit" is refused.
 *  - "exp" is required; "nbf" and "iat" must not be in the future; all with a leeway.
 *  - Keys and key sets are immutable once built and may be shared by any number of threads;
 *    verification never writes to shared state (it copies prepared contexts per call).
 * See docs/internals/jwt.md.
 */
#ifndef MCPGW_CORE_JWT_H
#define MCPGW_CORE_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* ---- algorithms ---- */

enum jwt_alg {
    JWT_ALG_UNSUPPORTED = 0, /* also "none", and anything we do not implement */
    JWT_ALG_HS256,
    JWT_ALG_RS256,
    JWT_ALG_ES256,
};

/* "HS256", "RS256", "ES256", or "unsupported". Static string. */
const char *jwt_alg_name(enum jwt_alg alg);
/* The algorithm named exactly (case-sensitive, as JOSE requires) by name; JWT_ALG_UNSUPPORTED
 * for "none", NULL and every other name. */
enum jwt_alg jwt_alg_from_name(const char *name);

/* ---- keys ---- */

/* An opaque, reference-counted, immutable key: private (can sign and verify), public only
 * (verifies), or an HMAC secret (both). */
struct jwt_key;

/* Smallest RSA modulus we accept or generate, in bits; and an upper bound that keeps one
 * verification cheap (a hostile JWKS cannot make the router spend milliseconds per token). */
#define JWT_RSA_MIN_BITS 2048
#define JWT_RSA_MAX_BITS 8192
/* Shortest HS256 secret, in bytes: RFC 7518 §3.2 requires a key as long as the hash. */
#define JWT_HMAC_MIN_SECRET 32

/*
 * Load a private key from PEM text (PKCS#8 "PRIVATE KEY", or the traditional "RSA PRIVATE KEY"
 * / "EC PRIVATE KEY"; not encrypted). alg must be JWT_ALG_RS256 (an RSA key of at least
 * JWT_RSA_MIN_BITS) or JWT_ALG_ES256 (an EC key on P-256); another key type is an error, so
 * JWT_ALGORITHM and the key cannot silently disagree. On success *out is a new key the caller
 * releases with jwt_key_free. On failure *out is NULL, the result is GW_ERR_INVALID (or
 * GW_ERR_CONFIG when key and alg disagree, or the key is too short or on the wrong curve for
 * alg) and *why (if why is not NULL) points at a static
 * sentence for the operator, never containing key material.
 */
enum gw_err jwt_key_from_pem(const char *pem, size_t len, enum jwt_alg alg, struct jwt_key **out,
                             const char **why);
/* The same from base64 of the PEM text (JWT_PRIVATE_KEY_B64; line breaks in it are allowed). */
enum gw_err jwt_key_from_pem_base64(const char *b64, size_t len, enum jwt_alg alg, struct jwt_key **out,
                                    const char **why);
/* An HS256 key from a shared secret (GATEWAY_JWT_SECRET) of at least JWT_HMAC_MIN_SECRET bytes;
 * the secret is copied. Its kid is derived from an HMAC of a constant under the secret, so the
 * kid identifies the secret without revealing it. Ownership and errors as jwt_key_from_pem. */
enum gw_err jwt_key_from_secret(const void *secret, size_t len, struct jwt_key **out, const char **why);
/* A new random key: RSA-2048 for JWT_ALG_RS256, P-256 for JWT_ALG_ES256 (GW_ERR_INVALID for
 * other algorithms). Caller releases *out with jwt_key_free. */
enum gw_err jwt_key_generate(enum jwt_alg alg, struct jwt_key **out);
/*
 * Write the private key as PKCS#8 PEM to path with mode 0600, atomically: a temporary file in
 * the same directory, fsync, then link() to path, which fails with GW_ERR_EXISTS if path
 * already exists (so two processes generating at once never overwrite each other's key).
 * GW_ERR_INVALID for keys that have no private part or are HMAC secrets; GW_ERR_IO otherwise
 * (errno set).
 */
enum gw_err jwt_key_save_pem(const struct jwt_key *key, const char *path);
/*
 * "Generated once into the data directory and reused": load the PEM key at path if it exists
 * (it must be a regular file not readable by group or others, and of algorithm alg), otherwise
 * generate one, save it there with jwt_key_save_pem and return it; if another process saved
 * one first, that one is loaded. *generated (may be NULL) says which happened. Ownership and
 * errors as jwt_key_from_pem, plus GW_ERR_IO for file errors (*why says which).
 */
enum gw_err jwt_key_load_or_generate(const char *path, enum jwt_alg alg, struct jwt_key **out,
                                     bool *generated, const char **why);
/*
 * A public-only key from one JWK (a jansson object). Supported: kty "RSA" (RS256, modulus
 * within the bounds above, public exponent odd and at most 32 bits) and kty "EC" with crv
 * "P-256" (ES256), with "use" absent or "sig", "alg" absent or matching, "key_ops" absent or
 * containing "verify". The kid is the JWK's "kid" if present, else its RFC 7638 thumbprint.
 * Results: GW_OK (*out is new; jwt_key_free), GW_ERR_NOT_FOUND when the JWK is well-formed but
 * of a kind we do not use (kty "oct" is always such: a symmetric key never comes from a key
 * set), GW_ERR_INVALID when it is malformed. *why as above.
 */
enum gw_err jwt_key_from_jwk(const json_t *jwk, struct jwt_key **out, const char **why);

/* Take another reference to key (keys are shared by key sets and signers). Returns key. */
struct jwt_key *jwt_key_ref(struct jwt_key *key);
/* Drop a reference; the key is destroyed (secrets wiped) with the last one. NULL is fine. */
void jwt_key_free(struct jwt_key *key);

/* The key's pinned algorithm. */
enum jwt_alg jwt_key_alg(const struct jwt_key *key);
/* The key id (RFC 7638 thumbprint, a JWKS "kid", or the HS256 derivation). Borrowed for the
 * key's life; never NULL. */
const char *jwt_key_kid(const struct jwt_key *key);
/* true when the key can sign (a private key or an HMAC secret). */
bool jwt_key_can_sign(const struct jwt_key *key);
/* The public JWK (kty, use "sig", alg, kid, n/e or crv/x/y) as a new jansson object (caller
 * json_decref()s it), or NULL for HS256 keys, which have nothing public. */
json_t *jwt_key_public_jwk(const struct jwt_key *key);
/* The RFC 7638 thumbprint of the public key into out (43 characters + NUL). GW_ERR_INVALID for
 * HS256 keys. */
enum gw_err jwt_key_thumbprint(const struct jwt_key *key, char out[44]);
/* The public key as SubjectPublicKeyInfo PEM ("PUBLIC KEY"), a new string the caller frees
 * with free(); NULL for HS256 keys. */
char *jwt_key_public_pem(const struct jwt_key *key);

/* ---- key sets ---- */

/* An ordered set of keys with distinct kids. Built by one thread, then read-only: share it
 * between threads freely, and replace it as a whole (jwt_keyset_ref helps) to rotate keys. */
struct jwt_keyset;

/* Largest JWKS document and key count jwt_keyset_from_jwks accepts. */
#define JWT_JWKS_MAX_BYTES (256 * 1024)
#define JWT_JWKS_MAX_KEYS 64

/* A new empty set; caller releases with jwt_keyset_free. */
struct jwt_keyset *jwt_keyset_new(void);
/* Add key (the set takes its own reference; the caller keeps theirs). GW_ERR_EXISTS when a
 * key with the same kid is already there, GW_ERR_TOO_LARGE beyond JWT_JWKS_MAX_KEYS. Only
 * while the set is still private to one thread. */
enum gw_err jwt_keyset_add(struct jwt_keyset *set, struct jwt_key *key);
/* The key with this kid, or NULL. Borrowed for the set's life. */
const struct jwt_key *jwt_keyset_find(const struct jwt_keyset *set, const char *kid);
size_t jwt_keyset_count(const struct jwt_keyset *set);
/* The i-th key (i < count), borrowed for the set's life. */
const struct jwt_key *jwt_keyset_key_at(const struct jwt_keyset *set, size_t i);
/* Another reference to set. Returns set. */
struct jwt_keyset *jwt_keyset_ref(struct jwt_keyset *set);
/* Drop a reference; the last one frees the set and its references to keys. NULL is fine. */
void jwt_keyset_free(struct jwt_keyset *set);

/* The public JWKS {"keys":[...]} of every asymmetric key in the set, HS256 secrets left out,
 * as a new compact JSON string the caller frees with free(). */
char *jwt_keyset_to_jwks(const struct jwt_keyset *set);
/*
 * Parse a JWKS document into a new verification key set (caller releases with
 * jwt_keyset_free). Keys of kinds we do not use are skipped (see jwt_key_from_jwk); a
 * malformed document or key, duplicate kids, more than JWT_JWKS_MAX_KEYS keys or more than
 * JWT_JWKS_MAX_BYTES bytes are GW_ERR_INVALID; no usable key at all is GW_ERR_NOT_FOUND. On
 * failure *out is NULL and *why (if not NULL) is a static sentence; on success *why is NULL, or
 * says why the last skipped key was skipped (worth a debug log line).
 */
enum gw_err jwt_keyset_from_jwks(const char *json, size_t len, struct jwt_keyset **out, const char **why);

/* ---- signing ---- */

/* Sign claims (a JSON object; not modified, not consumed) with key: header
 * {"alg":ALG,"typ":"JWT","kid":KID}. On success *out is the compact token, a new string the
 * caller frees with free(). GW_ERR_INVALID if claims is not an object or key cannot sign. */
enum gw_err jwt_sign(const struct jwt_key *key, const json_t *claims, char **out);

/* ---- verification ---- */

enum jwt_result {
    JWT_OK = 0,
    JWT_MALFORMED,      /* not a well-formed compact JWS of a JSON object, too large, or missing exp */
    JWT_BAD_ALG,        /* alg is none/unsupported, or not the algorithm of the selected key */
    JWT_UNKNOWN_KID,    /* no key with that kid (or no kid and not exactly one key) */
    JWT_BAD_SIGNATURE,  /* the signature does not verify */
    JWT_EXPIRED,        /* exp + leeway is past */
    JWT_NOT_YET_VALID,  /* nbf or iat is later than now + leeway */
    JWT_WRONG_ISSUER,   /* iss missing or not the expected issuer */
    JWT_WRONG_AUDIENCE, /* aud missing or does not contain the expected audience */
};

/* A short static description ("token expired", ...), for logs and error_description. */
const char *jwt_strerror(enum jwt_result result);
/* A static snake_case name ("expired", ...), for metric labels. */
const char *jwt_result_name(enum jwt_result result);

/* Largest compact token accepted, in bytes. */
#define JWT_MAX_TOKEN_LEN 8192
#define JWT_DEFAULT_LEEWAY 30

struct jwt_verify_options {
    const char *issuer;   /* if not NULL, "iss" must equal it */
    const char *audience; /* if not NULL, "aud" (a string or an array of strings) must contain it */
    int leeway_seconds;   /* clock skew allowed on exp/nbf/iat; JWT_DEFAULT_LEEWAY is usual */
    int64_t now;          /* Unix time to check against; 0 = the current time */
};
#define JWT_VERIFY_OPTIONS_DEFAULT                                                                           \
    {                                                                                                        \
        .issuer = NULL, .audience = NULL, .leeway_seconds = JWT_DEFAULT_LEEWAY                               \
    }

/*
 * Verify token[0..len) against set (borrowed; may be shared with other threads) and opts
 * (NULL = JWT_VERIFY_OPTIONS_DEFAULT). Order: size and shape, header, key by kid, algorithm,
 * signature, and only then the claims. On JWT_OK, *claims (if claims is not NULL) is the
 * claims object with a new reference the caller releases with json_decref(); on any other
 * result *claims is NULL.
 */
enum jwt_result jwt_verify(const struct jwt_keyset *set, const char *token, size_t len,
                           const struct jwt_verify_options *opts, json_t **claims);
/* Only the claim checks of jwt_verify (exp, nbf, iat, iss, aud) on an already-verified claims
 * object (borrowed). JWT_MALFORMED when claims is not an object or has no usable exp. */
enum jwt_result jwt_check_claims(const json_t *claims, const struct jwt_verify_options *opts);
/*
 * Decode without verifying anything but the shape (for `mcpgw decode-token` and debugging;
 * never for access decisions). On JWT_OK, *header and *claims (either may be NULL) are new
 * objects the caller json_decref()s; the signature is not checked and may be anything.
 */
enum jwt_result jwt_decode_unverified(const char *token, size_t len, json_t **header, json_t **claims);

/* ---- per-thread cache of verified tokens ---- */

/*
 * digest(token) → claims, for the router's hot path (an RS256 verification costs more than the
 * rest of a proxied request). The digest is SipHash-2-4-128 under a random per-cache key, so the
 * cache holds no tokens (see jwt_cache.c). One cache per thread; it is NOT thread-safe. An entry
 * lives until min(exp, stored + ttl). On a hit the claim checks (exp, nbf, iat, iss, aud) run
 * again with the caller's options, so one cache serves every audience; their inputs are read out
 * of the claims once, when stored, so a hit costs the digest and a few compares. The signature
 * is not re-checked, so a key removed from the key set is still honoured for cached tokens until
 * the ttl passes (call jwt_cache_clear when that must not happen).
 */
struct jwt_cache;

#define JWT_CACHE_DEFAULT_TTL 60

struct jwt_cache_stats {
    uint64_t hits;
    uint64_t misses;
    uint64_t evictions; /* live entries pushed out to make room */
    size_t entries;
};

/* A cache of at most max_entries tokens (rounded up to a multiple of 4, at least 4) whose
 * entries live at most ttl_seconds (<= 0: JWT_CACHE_DEFAULT_TTL). Caller frees with
 * jwt_cache_free. Aborts the process if OpenSSL's generator cannot key it. */
struct jwt_cache *jwt_cache_new(size_t max_entries, int ttl_seconds);
void jwt_cache_free(struct jwt_cache *cache);
/* Forget every entry (e.g. after a key was withdrawn). */
void jwt_cache_clear(struct jwt_cache *cache);
/* The cached claims of token, or NULL on a miss or an entry past its time. Borrowed: valid
 * until the next store or clear on this cache (json_incref() to keep it). */
json_t *jwt_cache_lookup(struct jwt_cache *cache, const char *token, size_t len, int64_t now);
/* Remember claims (the cache takes its own reference) for token, if exp (from the claims) is
 * still ahead of now. When the token's slot group is full, an expired entry or else the one
 * that would expire first is replaced. */
void jwt_cache_store(struct jwt_cache *cache, const char *token, size_t len, json_t *claims, int64_t now);
/* jwt_verify with the cache in front: a hit only re-checks the claims; a miss verifies fully
 * and stores on success. Ownership of *claims as jwt_verify, but the object may be the one the
 * cache holds: read it, never modify it (the cache keeps pointers into it). */
enum jwt_result jwt_verify_cached(struct jwt_cache *cache, const struct jwt_keyset *set, const char *token,
                                  size_t len, const struct jwt_verify_options *opts, json_t **claims);

/*
 * Caller data derived from the claims, computed once per stored token instead of once per
 * request. derive(claims, out, arg) fills out (size bytes, zeroed before the call) from verified
 * claims (borrowed) and returns false when the claims are unusable to the caller; it must depend
 * on nothing but its arguments, since its result is reused for the entry's life.
 */
typedef bool (*jwt_cache_derive_fn)(const json_t *claims, void *out, void *arg);
/* Have the cache run derive (arg passed through, borrowed) on every token it stores, and keep
 * size bytes of result per entry. Clears the cache. derive NULL turns derivation off. */
void jwt_cache_set_derive(struct jwt_cache *cache, size_t size, jwt_cache_derive_fn derive, void *arg);
/*
 * jwt_verify_cached for callers that need the derived data rather than the claims (no JSON
 * reference changes hands). Results as jwt_verify_cached. On JWT_OK, *derived points at what
 * derive() wrote for this token, or is NULL when derive() returned false (or none is set).
 * *derived is owned by the cache and valid until the next call on this cache (any lookup, store,
 * verify or clear); copy what must live longer. On other results *derived is NULL.
 */
enum jwt_result jwt_verify_cached_derived(struct jwt_cache *cache, const struct jwt_keyset *set,
                                          const char *token, size_t len,
                                          const struct jwt_verify_options *opts, const void **derived);
void jwt_cache_get_stats(const struct jwt_cache *cache, struct jwt_cache_stats *stats);

#endif
