/*
 * jwt.c - compact JWS: signing, strict parsing, verification and the claim checks.
 */
#include "jwt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "buf.h"
#include "crypto.h"

/* ---- results ---- */

const char *jwt_strerror(enum jwt_result result)
{
    switch (result) {
    case JWT_OK:
        return "token valid";
    case JWT_MALFORMED:
        return "token malformed";
    case JWT_BAD_ALG:
        return "token algorithm not accepted";
    case JWT_UNKNOWN_KID:
        return "token signed with an unknown key";
    case JWT_BAD_SIGNATURE:
        return "token signature invalid";
    case JWT_EXPIRED:
        return "token expired";
    case JWT_NOT_YET_VALID:
        return "token not yet valid";
    case JWT_WRONG_ISSUER:
        return "token issuer not accepted";
    case JWT_WRONG_AUDIENCE:
        return "token audience does not match";
    }
    return "token invalid";
}

const char *jwt_result_name(enum jwt_result result)
{
    switch (result) {
    case JWT_OK:
        return "ok";
    case JWT_MALFORMED:
        return "malformed";
    case JWT_BAD_ALG:
        return "bad_alg";
    case JWT_UNKNOWN_KID:
        return "unknown_kid";
    case JWT_BAD_SIGNATURE:
        return "bad_signature";
    case JWT_EXPIRED:
        return "expired";
    case JWT_NOT_YET_VALID:
        return "not_yet_valid";
    case JWT_WRONG_ISSUER:
        return "wrong_issuer";
    case JWT_WRONG_AUDIENCE:
        return "wrong_audience";
    }
    return "invalid";
}

/* ---- the compact form ---- */

/* The three parts of a compact JWS, as views into the token. */
struct compact {
    const char *header, *payload, *signature;
    size_t header_len, payload_len, signature_len;
    size_t signing_input_len; /* "header.payload" */
};

/* Exactly three parts separated by two dots, only base64url characters, header and payload
 * not empty, within the size cap. Anything else (JWE's five parts, whitespace, padding) is not
 * a token we read. */
static bool split_compact(const char *token, size_t len, struct compact *c)
{
    if (!token || len == 0 || len > JWT_MAX_TOKEN_LEN)
        return false;
    const char *end = token + len;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
    if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
        return false;
    c->header = token;
    c->header_len = (size_t)(dot1 - token);
    c->payload = dot1 + 1;
    c->payload_len = (size_t)(dot2 - c->payload);
    c->signature = dot2 + 1;
    c->signature_len = (size_t)(end - c->signature);
    c->signing_input_len = (size_t)(dot2 - token);
    return c->header_len > 0 && c->payload_len > 0 && base64url_valid_chars(c->header, c->header_len) &&
           base64url_valid_chars(c->payload, c->payload_len) &&
           base64url_valid_chars(c->signature, c->signature_len);
}

/* Decode one base64url part holding a JSON object; NULL if it is anything else. Duplicate
 * member names are refused: {"alg":"RS256","alg":"none"} must not mean whichever a reader
 * happens to keep. */
static json_t *decode_json_part(const char *part, size_t len)
{
    /* On the stack: a part of a token within the size cap always fits (about 6 KiB). */
    unsigned char raw[JWT_MAX_TOKEN_LEN / 4 * 3 + 3];
    size_t raw_len = 0;
    if (base64url_decode_into(part, len, raw, sizeof raw, &raw_len))
        return NULL;
    json_error_t jerr;
    json_t *obj = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
    if (obj && !json_is_object(obj)) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

/* ---- signing ---- */

enum gw_err jwt_sign(const struct jwt_key *key, const json_t *claims, char **out)
{
    *out = NULL;
    if (!key->can_sign || !json_is_object(claims))
        return GW_ERR_INVALID;
    struct buf header;
    buf_init(&header, 4096);
    buf_printf(&header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"", jwt_alg_name(key->alg));
    buf_append_json_escaped(&header, key->kid, strlen(key->kid));
    if (buf_append_str(&header, "\"}")) {
        buf_free(&header);
        return GW_ERR_INVALID;
    }
    char *payload = json_dumps(claims, JSON_COMPACT);
    if (!payload) {
        buf_free(&header);
        return GW_ERR_INVALID;
    }
    size_t payload_len = strlen(payload);
    size_t head_b64 = base64url_encoded_len(header.len), body_b64 = base64url_encoded_len(payload_len);
    size_t total = head_b64 + 1 + body_b64 + 1 + base64url_encoded_len(JWT_MAX_SIG_LEN);
    char *token = gw_malloc(total + 1);
    size_t pos = base64url_encode(header.data, header.len, token);
    token[pos++] = '.';
    pos += base64url_encode(payload, payload_len, token + pos);
    free(payload);
    buf_free(&header);

    unsigned char sig[JWT_MAX_SIG_LEN];
    size_t sig_len = 0;
    if (jwt_key_sign_raw(key, token, pos, sig, &sig_len)) {
        free(token);
        return GW_ERR_INVALID;
    }
    token[pos++] = '.';
    base64url_encode(sig, sig_len, token + pos);
    *out = token;
    return GW_OK;
}

/* ---- claims ---- */

/* A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly with a fraction (rounded
 * down), clamped to the int64 range. false if v is not a number. */
static bool numeric_date(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (!json_is_real(v))
        return false;
    double d = json_real_value(v);
    if (isnan(d))
        return false;
    if (d >= 9.2e18)
        *out = INT64_MAX;
    else if (d <= -9.2e18)
        *out = INT64_MIN;
    else
        *out = (int64_t)floor(d);
    return true;
}

static bool audience_matches(const json_t *aud, const char *expected)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), expected) == 0;
    if (!json_is_array(aud))
        return false;
    size_t i;
    json_t *item;
    json_array_foreach(aud, i, item)
    {
        if (json_is_string(item) && strcmp(json_string_value(item), expected) == 0)
            return true;
    }
    return false;
}

static enum jwt_claim_state date_claim(const json_t *claims, const char *name, int64_t *out)
{
    const json_t *v = json_object_get(claims, name);
    if (!v)
        return JWT_CLAIM_ABSENT;
    return numeric_date(v, out) ? JWT_CLAIM_PRESENT : JWT_CLAIM_INVALID;
}

void jwt_claims_summarize(const json_t *claims, struct jwt_claim_summary *s)
{
    memset(s, 0, sizeof(*s));
    s->object = json_is_object(claims);
    if (!s->object)
        return;
    s->exp_state = date_claim(claims, "exp", &s->exp);
    s->nbf_state = date_claim(claims, "nbf", &s->nbf);
    s->iat_state = date_claim(claims, "iat", &s->iat);
    const json_t *iss = json_object_get(claims, "iss");
    s->iss = json_is_string(iss) ? json_string_value(iss) : NULL;
    s->aud = json_object_get(claims, "aud");
    s->aud_string = json_is_string(s->aud) ? json_string_value(s->aud) : NULL;
}

enum jwt_result jwt_check_summary(const struct jwt_claim_summary *s, const struct jwt_verify_options *opts,
                                  int64_t now)
{
    if (!s->object)
        return JWT_MALFORMED;
    int64_t leeway = opts->leeway_seconds > 0 ? opts->leeway_seconds : 0;

    /* Access tokens without an expiry would be valid forever: exp is required. */
    if (s->exp_state != JWT_CLAIM_PRESENT)
        return JWT_MALFORMED;
    /* Written as now - leeway so that a huge exp cannot overflow the sum. */
    if (now - leeway >= s->exp)
        return JWT_EXPIRED;
    if (s->nbf_state == JWT_CLAIM_INVALID)
        return JWT_MALFORMED;
    if (s->nbf_state == JWT_CLAIM_PRESENT && s->nbf > now + leeway)
        return JWT_NOT_YET_VALID;
    if (s->iat_state == JWT_CLAIM_INVALID)
        return JWT_MALFORMED;
    if (s->iat_state == JWT_CLAIM_PRESENT && s->iat > now + leeway)
        return JWT_NOT_YET_VALID;

    if (opts->issuer && (!s->iss || strcmp(s->iss, opts->issuer) != 0))
        return JWT_WRONG_ISSUER;
    if (opts->audience) {
        bool match = s->aud_string ? strcmp(s->aud_string, opts->audience) == 0
                                   : audience_matches(s->aud, opts->audience);
        if (!match)
            return JWT_WRONG_AUDIENCE;
    }
    return JWT_OK;
}

enum jwt_result jwt_check_claims(const json_t *claims, const struct jwt_verify_options *opts)
{
    static const struct jwt_verify_options defaults = JWT_VERIFY_OPTIONS_DEFAULT;
    if (!opts)
        opts = &defaults;
    struct jwt_claim_summary s;
    jwt_claims_summarize(claims, &s);
    return jwt_check_summary(&s, opts, opts->now ? opts->now : (int64_t)time(NULL));
}

/* ---- verification ---- */

/* The header checks: a JSON object with a supported "alg", an optional string "kid" and
 * "typ", and no "crit" (we implement no extension, so a token that demands one must fail,
 * RFC 7515 §4.1.11). Sets *alg and *kid (borrowed from *header_out, which the caller frees). */
static enum jwt_result read_header(const struct compact *c, json_t **header_out, enum jwt_alg *alg,
                                   const char **kid)
{
    json_t *header = decode_json_part(c->header, c->header_len);
    *header_out = header;
    if (!header)
        return JWT_MALFORMED;
    json_t *alg_v = json_object_get(header, "alg");
    json_t *kid_v = json_object_get(header, "kid");
    json_t *typ_v = json_object_get(header, "typ");
    if (!json_is_string(alg_v) || (kid_v && !json_is_string(kid_v)) || (typ_v && !json_is_string(typ_v)) ||
        json_object_get(header, "crit"))
        return JWT_MALFORMED;
    *alg = jwt_alg_from_name(json_string_value(alg_v));
    if (*alg == JWT_ALG_UNSUPPORTED)
        return JWT_BAD_ALG; /* "none" among them, always */
    *kid = kid_v ? json_string_value(kid_v) : NULL;
    return JWT_OK;
}

enum jwt_result jwt_verify(const struct jwt_keyset *set, const char *token, size_t len,
                           const struct jwt_verify_options *opts, json_t **claims)
{
    if (claims)
        *claims = NULL;
    struct compact c;
    if (!split_compact(token, len, &c))
        return JWT_MALFORMED;

    json_t *header = NULL;
    enum jwt_alg alg = JWT_ALG_UNSUPPORTED;
    const char *kid = NULL;
    enum jwt_result result = read_header(&c, &header, &alg, &kid);
    if (result) {
        json_decref(header);
        return result;
    }
    /* The key comes from our set only; without a kid only an unambiguous single key will do. */
    const struct jwt_key *key = kid                          ? jwt_keyset_find(set, kid)
                                : jwt_keyset_count(set) == 1 ? jwt_keyset_key_at(set, 0)
                                                             : NULL;
    if (!key)
        result = JWT_UNKNOWN_KID;
    else if (key->alg != alg)
        result = JWT_BAD_ALG; /* the key's pinned algorithm, never the token's choice */
    json_decref(header);
    if (result)
        return result;

    unsigned char sig[JWT_MAX_SIG_LEN];
    size_t sig_len = 0;
    enum gw_err err = base64url_decode_into(c.signature, c.signature_len, sig, sizeof sig, &sig_len);
    if (err == GW_ERR_INVALID)
        return JWT_MALFORMED;
    if (err || !jwt_key_verify_raw(key, token, c.signing_input_len, sig, sig_len))
        return JWT_BAD_SIGNATURE;

    /* Only now is the payload worth parsing: it is what the key holder signed. */
    json_t *body = decode_json_part(c.payload, c.payload_len);
    if (!body)
        return JWT_MALFORMED;
    result = jwt_check_claims(body, opts);
    if (result || !claims)
        json_decref(body);
    else
        *claims = body;
    return result;
}

enum jwt_result jwt_decode_unverified(const char *token, size_t len, json_t **header, json_t **claims)
{
    if (header)
        *header = NULL;
    if (claims)
        *claims = NULL;
    struct compact c;
    if (!split_compact(token, len, &c))
        return JWT_MALFORMED;
    unsigned char sig[JWT_MAX_SIG_LEN];
    size_t sig_len;
    if (base64url_decode_into(c.signature, c.signature_len, sig, sizeof sig, &sig_len) == GW_ERR_INVALID)
        return JWT_MALFORMED;
    json_t *h = decode_json_part(c.header, c.header_len);
    json_t *p = decode_json_part(c.payload, c.payload_len);
    if (!h || !p) {
        json_decref(h);
        json_decref(p);
        return JWT_MALFORMED;
    }
    if (header)
        *header = h;
    else
        json_decref(h);
    if (claims)
        *claims = p;
    else
        json_decref(p);
    return JWT_OK;
}
