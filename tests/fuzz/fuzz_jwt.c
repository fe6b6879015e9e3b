/*
 * fuzz_jwt.c - any bytes as a compact JWS (verified against HS256, ES256 and mixed key sets, and
 * decoded without verification), as a JWKS document, as base64url, and - when they are a JSON
 * object - as claims that are signed and verified back. Nothing may crash or leak, results must
 * be consistent (claims exactly when JWT_OK), and signing then verifying must give the answer
 * the claim checks alone give.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/crypto.h"
#include "core/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fixed secret, so that seed tokens signed with it are valid and mutations start deep. */
#define FUZZ_SECRET "fuzz-secret-fuzz-secret-fuzz-secret-0123"
#define FUZZ_NOW 1700000000

static struct jwt_key *hs_key, *es_key;
static struct jwt_keyset *hs_set, *es_set, *mixed_set;

static void init_keys(void)
{
    if (hs_key)
        return;
    if (jwt_key_from_secret(FUZZ_SECRET, strlen(FUZZ_SECRET), &hs_key, NULL) ||
        jwt_key_generate(JWT_ALG_ES256, &es_key))
        abort();
    hs_set = jwt_keyset_new();
    es_set = jwt_keyset_new();
    mixed_set = jwt_keyset_new();
    if (jwt_keyset_add(hs_set, hs_key) || jwt_keyset_add(es_set, es_key) ||
        jwt_keyset_add(mixed_set, hs_key) || jwt_keyset_add(mixed_set, es_key))
        abort();
}

static void check_result(enum jwt_result r, json_t *claims, const struct jwt_verify_options *o)
{
    if (r > JWT_WRONG_AUDIENCE || !jwt_strerror(r) || !jwt_result_name(r))
        abort();
    if ((r == JWT_OK) != (claims != NULL))
        abort();
    if (claims && (!json_is_object(claims) || jwt_check_claims(claims, o) != JWT_OK))
        abort();
}

static void fuzz_verify(const char *text, size_t size)
{
    struct jwt_verify_options opts[2] = {JWT_VERIFY_OPTIONS_DEFAULT, JWT_VERIFY_OPTIONS_DEFAULT};
    opts[0].now = FUZZ_NOW;
    opts[1].now = FUZZ_NOW;
    opts[1].issuer = "https://auth.fuzz.test";
    opts[1].audience = "https://mcp.fuzz.test/mcp";
    opts[1].leeway_seconds = 0;

    json_t *header = NULL, *body = NULL;
    enum jwt_result decoded = jwt_decode_unverified(text, size, &header, &body);
    if ((decoded == JWT_OK) != (header != NULL && body != NULL) ||
        (decoded != JWT_OK && decoded != JWT_MALFORMED))
        abort();
    if (decoded == JWT_OK && (!json_is_object(header) || !json_is_object(body)))
        abort();
    json_decref(header);
    json_decref(body);

    const struct jwt_keyset *sets[] = {hs_set, es_set, mixed_set};
    for (size_t s = 0; s < 3; s++) {
        for (size_t i = 0; i < 2; i++) {
            json_t *claims = NULL;
            enum jwt_result r = jwt_verify(sets[s], text, size, &opts[i], &claims);
            check_result(r, claims, &opts[i]);
            /* whatever verifies must at least decode */
            if (r == JWT_OK && decoded != JWT_OK)
                abort();
            json_decref(claims);
        }
    }
}

static void fuzz_jwks(const char *text, size_t size)
{
    struct jwt_keyset *set = NULL;
    const char *why = NULL;
    enum gw_err err = jwt_keyset_from_jwks(text, size, &set, &why);
    if (err) {
        if (set || !why || (err != GW_ERR_INVALID && err != GW_ERR_NOT_FOUND))
            abort();
        return;
    }
    size_t count = jwt_keyset_count(set);
    if (count == 0 || count > JWT_JWKS_MAX_KEYS)
        abort();
    /* render → parse → render is stable */
    char *rendered = jwt_keyset_to_jwks(set);
    struct jwt_keyset *again = NULL;
    if (jwt_keyset_from_jwks(rendered, strlen(rendered), &again, NULL) || jwt_keyset_count(again) != count)
        abort();
    char *rendered_again = jwt_keyset_to_jwks(again);
    if (strcmp(rendered, rendered_again) != 0)
        abort();
    for (size_t i = 0; i < count; i++) {
        const struct jwt_key *key = jwt_keyset_key_at(set, i);
        if (jwt_key_can_sign(key) || jwt_keyset_find(again, jwt_key_kid(key)) == NULL)
            abort();
    }
    free(rendered_again);
    free(rendered);
    jwt_keyset_free(again);
    jwt_keyset_free(set);
}

static void fuzz_base64url(const char *text, size_t size)
{
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    if (base64url_decode(text, size, &raw, &raw_len)) {
        if (raw)
            abort();
        return;
    }
    /* strict decoding means one spelling per byte string: encoding gives the input back */
    char *enc = base64url_encode_alloc(raw, raw_len);
    if (strlen(enc) != size || memcmp(enc, text, size) != 0)
        abort();
    free(enc);
    free(raw);
}

static void fuzz_sign_roundtrip(const char *text, size_t size)
{
    json_error_t jerr;
    json_t *claims = json_loadb(text, size, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(claims)) {
        json_decref(claims);
        return;
    }
    struct jwt_verify_options o = JWT_VERIFY_OPTIONS_DEFAULT;
    o.now = FUZZ_NOW;
    enum jwt_result expected = jwt_check_claims(claims, &o);
    struct jwt_key *keys[] = {hs_key, es_key};
    for (size_t k = 0; k < 2; k++) {
        char *token = NULL;
        if (jwt_sign(keys[k], claims, &token) != GW_OK)
            abort(); /* any object can be signed */
        json_t *back = NULL;
        enum jwt_result r = jwt_verify(mixed_set, token, strlen(token), &o, &back);
        check_result(r, back, &o);
        if (strlen(token) > JWT_MAX_TOKEN_LEN ? r != JWT_MALFORMED : r != expected)
            abort();
        if (back && !json_equal(back, claims))
            abort();
        json_decref(back);
        free(token);
    }
    json_decref(claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_keys();
    const char *text = (const char *)data;
    fuzz_verify(text, size);
    fuzz_jwks(text, size);
    fuzz_base64url(text, size);
    fuzz_sign_roundtrip(text, size);
    return 0;
}
