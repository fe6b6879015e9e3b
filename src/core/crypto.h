/*
 * crypto.h - encodings, hashes, randomness and comparisons on OpenSSL 3, for tokens, PKCE,
 * secrets at rest and JWTs.
 *
 * No cryptographic primitive is implemented here: SHA-256, HMAC and the random generator are
 * OpenSSL's. The algorithms are fetched once per process (pitfall 19 of the measurements:
 * EVP_sha256()/HMAC() fetch implicitly on every call, which costs more than the hash itself).
 * Every function here is thread-safe.
 *
 * Decoders are strict because they read untrusted bytes: a character outside the alphabet,
 * misplaced padding or non-zero unused bits is GW_ERR_INVALID, so every byte string has exactly
 * one accepted encoding (a token cannot be altered without changing its meaning).
 */
#ifndef MCPGW_CORE_CRYPTO_H
#define MCPGW_CORE_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/types.h>

#include "err.h"

#define CRYPTO_SHA256_LEN 32
/* Length of BASE64URL(32 bytes) without padding: a SHA-256 digest, a PKCE S256 challenge. */
#define CRYPTO_SHA256_B64URL_LEN 43

/* ---- base64url (RFC 4648 §5, no padding: the JOSE and PKCE form) ---- */

/* Characters base64url_encode writes for len input bytes (no padding, no NUL). */
size_t base64url_encoded_len(size_t len);
/* Write the encoding of data[0..len) to out, which has room for base64url_encoded_len(len) + 1
 * bytes; out is NUL-terminated. Returns the number of characters written. */
size_t base64url_encode(const void *data, size_t len, char *out);
/* The encoding as a new string; caller frees with free(). */
char *base64url_encode_alloc(const void *data, size_t len);
/* Decode in[0..len). Strict: only [A-Za-z0-9_-], no '=' padding, no whitespace, a length that
 * is not 1 mod 4, and zero unused bits in the last character. On success *out is a new buffer
 * the caller frees with free() (NUL-terminated for convenience; the NUL is not counted in
 * *out_len); on failure *out is NULL and the result is GW_ERR_INVALID. */
enum gw_err base64url_decode(const char *in, size_t len, unsigned char **out, size_t *out_len);
/* true when every byte of in[0..len) is in the base64url alphabet (a quick shape check; the
 * decoder checks length and unused bits as well). */
bool base64url_valid_chars(const char *in, size_t len);
/* The same into a caller's buffer of out_cap bytes: GW_ERR_TOO_LARGE if it does not fit.
 * Useful for fixed-size values (signatures, EC coordinates) without an allocation. */
enum gw_err base64url_decode_into(const char *in, size_t len, unsigned char *out, size_t out_cap,
                                  size_t *out_len);

/* ---- standard base64 (RFC 4648 §4) ---- */

/* Decode standard base64 ([A-Za-z0-9+/], '=' padding optional but correct if present). With
 * allow_whitespace, ASCII spaces, tabs and line breaks anywhere are skipped (a key pasted into
 * JWT_PRIVATE_KEY_B64 from `base64` output is wrapped at 76 columns); without it they are
 * errors (HTTP Basic credentials). Ownership and errors as base64url_decode. */
enum gw_err base64_decode(const char *in, size_t len, bool allow_whitespace, unsigned char **out,
                          size_t *out_len);
/* Standard base64 with padding as a new string; caller frees with free(). */
char *base64_encode_alloc(const void *data, size_t len);

/* ---- hashes ---- */

/* SHA-256 of data[0..len) into out. */
void crypto_sha256(const void *data, size_t len, unsigned char out[CRYPTO_SHA256_LEN]);
/* HMAC-SHA256 with key[0..key_len) over data[0..len) into out. For repeated use of one key
 * (JWT HS256) jwt.h keeps a prepared context instead. */
void crypto_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                        unsigned char out[CRYPTO_SHA256_LEN]);
/* BASE64URL(SHA-256(data)) into out (43 characters + NUL): the form in which secrets (codes,
 * refresh tokens, client secrets) are stored and compared. */
void crypto_sha256_b64url(const void *data, size_t len, char out[CRYPTO_SHA256_B64URL_LEN + 1]);

/* The SHA-256 digest and the HMAC algorithm, fetched once for this process, for modules that
 * build their own EVP contexts (jwt). Borrowed for the process's life; never NULL (the process
 * aborts if OpenSSL has no SHA-256 or HMAC: a broken installation, nothing to recover). */
const EVP_MD *crypto_sha256_md(void);
EVP_MAC *crypto_hmac_algorithm(void);

/* ---- randomness (OpenSSL's CSPRNG) ---- */

/* Fill out[0..len) with cryptographically secure random bytes. GW_ERR_IO if the generator
 * cannot deliver (not seeded); out is then zeroed. */
enum gw_err crypto_random_bytes(void *out, size_t len);
/* A random URL-safe token: entropy_bytes random bytes, base64url-encoded (32 bytes → 43
 * characters). *out is a new string the caller frees with free(); NULL on GW_ERR_IO. */
enum gw_err crypto_random_token(size_t entropy_bytes, char **out);

/* ---- comparison and hex ---- */

/* true when a[0..len) equals b[0..len); the time taken does not depend on the contents. */
bool crypto_equal(const void *a, const void *b, size_t len);
/* Compare two strings in time independent of their contents (the length may leak, which is
 * public for every value we compare this way). NULL equals nothing. */
bool crypto_str_equal(const char *a, size_t a_len, const char *b, size_t b_len);
/* Lower-case hex of data[0..len) into out (2 * len + 1 bytes, NUL-terminated). */
void crypto_hex_encode(const void *data, size_t len, char *out);

/* Overwrite len bytes at p in a way the compiler may not remove (OPENSSL_cleanse). */
void crypto_wipe(void *p, size_t len);

/* ---- PKCE (RFC 7636) ---- */

/* true when verifier[0..len) is a syntactically valid code_verifier (§4.1): 43 to 128
 * characters of [A-Za-z0-9-._~]. */
bool pkce_verifier_valid(const char *verifier, size_t len);
/* The S256 code_challenge for a verifier: BASE64URL(SHA256(ASCII(verifier))) into out
 * (43 characters + NUL). The verifier is not checked here. */
void pkce_s256_challenge(const char *verifier, size_t len, char out[CRYPTO_SHA256_B64URL_LEN + 1]);
/* true when verifier is valid and its S256 challenge equals challenge[0..challenge_len),
 * compared in constant time. */
bool pkce_s256_matches(const char *verifier, size_t verifier_len, const char *challenge,
                       size_t challenge_len);

#endif
