/*
 * jwt_keyset.c - sets of keys by kid, and their JWKS form (RFC 7517 §5).
 */
#include "jwt_internal.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct jwt_keyset *jwt_keyset_new(void)
{
    struct jwt_keyset *set = gw_calloc(1, sizeof *set);
    atomic_init(&set->refs, 1);
    return set;
}

struct jwt_keyset *jwt_keyset_ref(struct jwt_keyset *set)
{
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void jwt_keyset_free(struct jwt_keyset *set)
{
    if (!set || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < set->count; i++)
        jwt_key_free(set->keys[i]);
    free(set->keys);
    free(set);
}

enum gw_err jwt_keyset_add(struct jwt_keyset *set, struct jwt_key *key)
{
    if (jwt_keyset_find(set, key->kid))
        return GW_ERR_EXISTS;
    if (set->count >= JWT_JWKS_MAX_KEYS)
        return GW_ERR_TOO_LARGE;
    if (set->count == set->alloc) {
        set->alloc = set->alloc ? 2 * set->alloc : 4;
        set->keys = gw_realloc(set->keys, set->alloc * sizeof *set->keys);
    }
    set->keys[set->count++] = jwt_key_ref(key);
    return GW_OK;
}

/* A linear scan: sets hold a handful of keys (current and previous), and a scan over a few
 * short strings is faster than hashing the kid. */
const struct jwt_key *jwt_keyset_find(const struct jwt_keyset *set, const char *kid)
{
    if (!kid)
        return NULL;
    for (size_t i = 0; i < set->count; i++)
        if (strcmp(set->keys[i]->kid, kid) == 0)
            return set->keys[i];
    return NULL;
}

size_t jwt_keyset_count(const struct jwt_keyset *set)
{
    return set->count;
}

const struct jwt_key *jwt_keyset_key_at(const struct jwt_keyset *set, size_t i)
{
    return i < set->count ? set->keys[i] : NULL;
}

char *jwt_keyset_to_jwks(const struct jwt_keyset *set)
{
    json_t *keys = json_array();
    for (size_t i = 0; i < set->count; i++) {
        json_t *jwk = jwt_key_public_jwk(set->keys[i]); /* NULL for HS256: never published */
        if (jwk)
            json_array_append_new(keys, jwk);
    }
    json_t *doc = json_pack("{s:o}", "keys", keys);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text)
        gw_oom(0);
    return text;
}

enum gw_err jwt_keyset_from_jwks(const char *json, size_t len, struct jwt_keyset **out, const char **why)
{
    const char *reason = NULL;
    if (!why)
        why = &reason;
    *out = NULL;
    *why = NULL;
    if (len > JWT_JWKS_MAX_BYTES) {
        *why = "the JWKS document is larger than 256 KiB";
        return GW_ERR_INVALID;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        json_decref(doc);
        *why = "the JWKS document is not a JSON object with a \"keys\" array";
        return GW_ERR_INVALID;
    }
    if (json_array_size(keys) > JWT_JWKS_MAX_KEYS) {
        json_decref(doc);
        *why = "the JWKS document has more than 64 keys";
        return GW_ERR_INVALID;
    }
    struct jwt_keyset *set = jwt_keyset_new();
    enum gw_err err = GW_OK;
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        struct jwt_key *key = NULL;
        enum gw_err kerr = jwt_key_from_jwk(jwk, &key, why);
        if (kerr == GW_ERR_NOT_FOUND)
            continue; /* a kind of key we do not use: skipped, as RFC 7517 §5 asks */
        if (kerr) {
            err = GW_ERR_INVALID;
            break;
        }
        kerr = jwt_keyset_add(set, key);
        jwt_key_free(key);
        if (kerr) {
            /* Two keys under one kid: which one a token means would be a guess. */
            *why = "the JWKS document has two keys with the same kid";
            err = GW_ERR_INVALID;
            break;
        }
    }
    json_decref(doc);
    if (!err && set->count == 0) {
        *why = "the JWKS document has no RS256 or ES256 signing key";
        err = GW_ERR_NOT_FOUND;
    }
    if (err) {
        jwt_keyset_free(set);
        return err;
    }
    *out = set;
    return GW_OK;
}
