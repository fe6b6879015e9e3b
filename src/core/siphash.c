/*
 * siphash.c - SipHash-2-4, 64- and 128-bit tags (see siphash.h).
 *
 * The state is four 64-bit words initialised from the key and four constants ("somepseudorandomly
 * generatedbytes"); every 8-byte little-endian word m of the input is absorbed as v3 ^= m, two
 * SipRounds, v0 ^= m; the last word holds the remaining bytes and, in its top byte, the input
 * length mod 256. Finalisation is v2 ^= 0xff (0xee for the 128-bit tag) and four SipRounds; the
 * 128-bit tag takes a second half after v1 ^= 0xdd and four more rounds. The 128-bit mode also
 * starts with v1 ^= 0xee, so its first half is not the 64-bit tag.
 */
#include "siphash.h"

#include <stdint.h>
#include <string.h>

static inline uint64_t rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store_le64(unsigned char *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof v);
}

#define SIPROUND(v0, v1, v2, v3)                                                                             \
    do {                                                                                                     \
        v0 += v1;                                                                                            \
        v1 = rotl64(v1, 13);                                                                                 \
        v1 ^= v0;                                                                                            \
        v0 = rotl64(v0, 32);                                                                                 \
        v2 += v3;                                                                                            \
        v3 = rotl64(v3, 16);                                                                                 \
        v3 ^= v2;                                                                                            \
        v0 += v3;                                                                                            \
        v3 = rotl64(v3, 21);                                                                                 \
        v3 ^= v0;                                                                                            \
        v2 += v1;                                                                                            \
        v1 = rotl64(v1, 17);                                                                                 \
        v1 ^= v2;                                                                                            \
        v2 = rotl64(v2, 32);                                                                                 \
    } while (0)

/* Both tag sizes: out_len is 8 or 16. */
static inline void siphash24(const unsigned char *key, const void *data, size_t len, unsigned char *out,
                             size_t out_len)
{
    const uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
    uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
    uint64_t v3 = k1 ^ 0x7465646279746573ULL;
    if (out_len == 16)
        v1 ^= 0xee;

    const unsigned char *p = data;
    const unsigned char *end = p + (len & ~(size_t)7);
    for (; p != end; p += 8) {
        uint64_t m = load_le64(p);
        v3 ^= m;
        SIPROUND(v0, v1, v2, v3);
        SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)p[i] << (8 * i);
    v3 ^= last;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    v0 ^= last;

    v2 ^= out_len == 16 ? 0xee : 0xff;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    store_le64(out, v0 ^ v1 ^ v2 ^ v3);
    if (out_len != 16)
        return;
    v1 ^= 0xdd;
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    SIPROUND(v0, v1, v2, v3);
    store_le64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}

void siphash24_64(const unsigned char key[SIPHASH_KEY_LEN], const void *data, size_t len,
                  unsigned char out[SIPHASH64_LEN])
{
    siphash24(key, data, len, out, SIPHASH64_LEN);
}

void siphash24_128(const unsigned char key[SIPHASH_KEY_LEN], const void *data, size_t len,
                   unsigned char out[SIPHASH128_LEN])
{
    siphash24(key, data, len, out, SIPHASH128_LEN);
}
