/*
 * bearer.c - Authorization header parsing, claims -> identity, scope matching (see bearer.h).
 */
#include "router/bearer.h"

#include <string.h>
#include <strings.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/jwt.h"

/* RFC 6750 b64token characters (without the trailing '='s): A-Z a-z 0-9 - . _ ~ + /, as a table
 * because the loop over a token of several hundred bytes runs on every request. */
static const unsigned char b64token_chars[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x00 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, /* 0x20 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, /* 0x30 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x40 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, /* 0x50 */
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x60 */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, /* 0x70 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x80 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x90 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xa0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xb0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xc0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xd0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xe0 */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0xf0 */
};

static bool is_b64token_char(unsigned char c)
{
    return b64token_chars[c] != 0;
}

#if defined(__SSE2__)
/* 0xff in the bytes of x that lie in [lo, hi]; lo > 0, so bytes >= 0x80 (negative) never do. */
static inline __m128i bytes_in(__m128i x, char lo, char hi)
{
    return _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8((char)(lo - 1))),
                         _mm_cmplt_epi8(x, _mm_set1_epi8((char)(hi + 1))));
}
#endif

/* How many of the n bytes at p, from the start, are b64token characters (the table above).
 * With SSE2 (every x86-64) 16 at a time: ranges - to 9, A to Z, a to z, and + _ ~; the loads stay
 * within p[0..n), so nothing past the string is read. */
static size_t b64token_span(const char *p, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i ok = _mm_or_si128(_mm_or_si128(bytes_in(x, '-', '9'), bytes_in(x, 'A', 'Z')),
                                  _mm_or_si128(bytes_in(x, 'a', 'z'), _mm_cmpeq_epi8(x, _mm_set1_epi8('+'))));
        ok = _mm_or_si128(
            ok, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('_')), _mm_cmpeq_epi8(x, _mm_set1_epi8('~'))));
        unsigned bad = ~(unsigned)_mm_movemask_epi8(ok) & 0xffffu;
        if (bad)
            return i + (size_t)__builtin_ctz(bad);
    }
#endif
    while (i < n && is_b64token_char((unsigned char)p[i]))
        i++;
    return i;
}

enum bearer_parse_result bearer_parse(const char *header, const char **token, size_t *len)
{
    if (!header)
        return BEARER_ABSENT;
    const char *p = header;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return BEARER_ABSENT;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\0'))
        return BEARER_ABSENT; /* another scheme: the client sent no bearer token */
    p += 6;
    while (*p == ' ')
        p++;
    const char *start = p;
    p += b64token_span(start, strlen(start));
    while (*p == '=')
        p++;
    size_t n = (size_t)(p - start);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0' || n == 0 || n > JWT_MAX_TOKEN_LEN || *start == '=')
        return BEARER_MALFORMED;
    *token = start;
    *len = n;
    return BEARER_OK;
}

/* Copy the string claim `name` into out[cap]; absent is "" unless required. */
static bool copy_claim(const json_t *claims, const char *name, char *out, size_t cap, bool required)
{
    const json_t *v = json_object_get(claims, name);
    if (!v) {
        out[0] = '\0';
        return !required;
    }
    if (!json_is_string(v))
        return false;
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n >= cap || memchr(s, '\0', n) != NULL)
        return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return !required || n > 0;
}

bool bearer_identity_from_claims(const json_t *claims, struct token_identity *identity)
{
    memset(identity, 0, sizeof(*identity));
    const json_t *exp = json_object_get(claims, "exp");
    bool ok = json_is_object(claims) && json_is_integer(exp) &&
              copy_claim(claims, "sub", identity->user_id, sizeof(identity->user_id), true) &&
              copy_claim(claims, "jti", identity->jti, sizeof(identity->jti), true) &&
              copy_claim(claims, "username", identity->username, sizeof(identity->username), false) &&
              copy_claim(claims, "client_id", identity->client_id, sizeof(identity->client_id), false) &&
              copy_claim(claims, "scope", identity->scope, sizeof(identity->scope), false);
    if (!ok) {
        memset(identity, 0, sizeof(*identity));
        return false;
    }
    identity->exp = (long long)json_integer_value(exp);
    return true;
}

static bool scope_listed(const char *granted, const char *scope)
{
    size_t want = strlen(scope);
    if (want == 0)
        return true;
    const char *p = granted;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - start) == want && memcmp(start, scope, want) == 0)
            return true;
    }
    return false;
}

bool bearer_scopes_satisfied(const char *granted, char *const *required, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!scope_listed(granted ? granted : "", required[i]))
            return false;
    return true;
}
