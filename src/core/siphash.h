/*
 * siphash.h - SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012), with
 * the 64-bit tag of the paper and the 128-bit tag of the reference implementation.
 *
 * A keyed pseudo-random function, not a cryptographic hash: without the 16-byte key nobody can
 * predict a tag or find two inputs with the same tag (other than by trying about 2^64 or 2^128
 * of them against a party that holds the key). Use it to key a table by a secret-keyed digest
 * of untrusted data (the verified-token cache: core/jwt_cache.c); use SHA-256 (crypto.h)
 * wherever a digest is stored, compared across processes or must be reproducible.
 *
 * Implemented here from the specification in the paper (OpenSSL's SipHash is only reachable
 * through the EVP_MAC layer, whose per-call overhead is what this replaces). Tested against the
 * paper's Appendix A vector and the reference implementation's vectors.h
 * (tests/unit/test_siphash.c). Pure functions: thread-safe, no state, no allocation.
 */
#ifndef MCPGW_CORE_SIPHASH_H
#define MCPGW_CORE_SIPHASH_H

#include <stddef.h>

#define SIPHASH_KEY_LEN 16
#define SIPHASH64_LEN 8
#define SIPHASH128_LEN 16

/* SipHash-2-4 of data[0..len) under key (16 bytes: k0 and k1, each little-endian): the 64-bit
 * tag, written to out as 8 bytes, little-endian (as the reference implementation does). */
void siphash24_64(const unsigned char key[SIPHASH_KEY_LEN], const void *data, size_t len,
                  unsigned char out[SIPHASH64_LEN]);
/* The same with the 128-bit tag (the "SipHash-2-4-128" mode of the reference implementation),
 * 16 bytes to out. */
void siphash24_128(const unsigned char key[SIPHASH_KEY_LEN], const void *data, size_t len,
                   unsigned char out[SIPHASH128_LEN]);

#endif
