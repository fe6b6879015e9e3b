/*
 * client_meta.c - registration metadata validation and redirect-URI rules (see client_meta.h).
 */
#include "auth/client_meta.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/crypto.h"
#include "core/jwt.h"
#include "core/urlform.h"

void auth_client_free(struct auth_client *client)
{
    if (!client)
        return;
    for (size_t i = 0; i < client->nredirect_uris; i++)
        free(client->redirect_uris[i]);
    free(client->redirect_uris);
    free(client->client_id);
    free(client->client_name);
    free(client->token_endpoint_auth_method);
    free(client->scope);
    free(client->secret_hash);
    free(client->registration_token_hash);
    json_decref(client->record);
    free(client);
}

static char *dup_string_member(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? gw_strdup(s) : NULL;
}

static long long int_member(const json_t *obj, const char *name)
{
    const json_t *v = json_object_get(obj, name);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return 0;
}

enum gw_err auth_client_from_record(json_t *record, struct auth_client **out)
{
    *out = NULL;
    const char *id = json_string_value(json_object_get(record, "client_id"));
    const json_t *uris = json_object_get(record, "redirect_uris");
    if (!json_is_object(record) || !id || !json_is_array(uris))
        return GW_ERR_INVALID;
    struct auth_client *c = gw_calloc(1, sizeof(*c));
    c->client_id = gw_strdup(id);
    c->redirect_uris = gw_calloc(json_array_size(uris) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(uris); i++) {
        const char *u = json_string_value(json_array_get(uris, i));
        if (u)
            c->redirect_uris[c->nredirect_uris++] = gw_strdup(u);
    }
    c->client_name = dup_string_member(record, "client_name");
    c->token_endpoint_auth_method = dup_string_member(record, "token_endpoint_auth_method");
    if (!c->token_endpoint_auth_method)
        c->token_endpoint_auth_method = gw_strdup("client_secret_basic");
    c->scope = dup_string_member(record, "scope");
    c->secret_hash = dup_string_member(record, "secret_hash");
    c->registration_token_hash = dup_string_member(record, "registration_token_hash");
    const json_t *grants = json_object_get(record, "grant_types");
    size_t i;
    const json_t *g;
    json_array_foreach(grants, i, g) if (json_is_string(g) && strcmp(json_string_value(g), "refresh_token") ==
                                                                  0) c->grant_refresh = true;
    if (!json_is_array(grants))
        c->grant_refresh = true;
    c->is_static = json_is_true(json_object_get(record, "static"));
    c->is_cimd = json_is_true(json_object_get(record, "cimd"));
    c->public_fallback = json_is_true(json_object_get(record, "public_fallback"));
    c->used = json_is_true(json_object_get(record, "used"));
    c->created_at = int_member(record, "client_id_issued_at");
    c->expires_at = int_member(record, "client_secret_expires_at");
    c->record = json_incref(record);
    *out = c;
    return GW_OK;
}

/* ---- redirect URIs ---- */

static bool is_loopback_host(struct strview host)
{
    return strview_eq_nocase(host, "localhost") || strview_eq_cstr(host, "127.0.0.1") ||
           strview_eq_cstr(host, "::1");
}

/* Schemes that must never receive an authorization code. */
static bool is_forbidden_scheme(struct strview scheme)
{
    static const char *const bad[] = {"javascript", "data", "vbscript", "file", "about",
                                      "blob",       "ftp",  "ws",       "wss"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (strview_eq_nocase(scheme, bad[i]))
            return true;
    return false;
}

bool redirect_uri_registrable(const char *uri, const char **why)
{
    size_t len = strlen(uri);
    struct url_parts p;
    if (len == 0 || len > CLIENT_META_MAX_REDIRECT_URI_LEN) {
        *why = "redirect URI is empty or too long";
        return false;
    }
    if (url_split(uri, len, &p) != GW_OK) {
        *why = "redirect URI is not an absolute URI";
        return false;
    }
    if (p.has_fragment || strchr(uri, '#')) {
        *why = "redirect URI must not contain a fragment";
        return false;
    }
    if (p.has_userinfo) {
        *why = "redirect URI must not contain user information";
        return false;
    }
    if (strview_eq_cstr(p.scheme, "https")) {
        if (!p.has_authority || p.host.len == 0) {
            *why = "https redirect URI needs a host";
            return false;
        }
        return true;
    }
    if (strview_eq_cstr(p.scheme, "http")) {
        if (!p.has_authority || !is_loopback_host(p.host)) {
            *why = "http redirect URIs are allowed only on a loopback host (localhost, 127.0.0.1, [::1])";
            return false;
        }
        return true;
    }
    if (strview_eq_nocase(p.scheme, "http") || strview_eq_nocase(p.scheme, "https")) {
        *why = "redirect URI scheme must be lower-case";
        return false;
    }
    if (is_forbidden_scheme(p.scheme)) {
        *why = "redirect URI scheme is not allowed";
        return false;
    }
    return true; /* private-use scheme of a native app (RFC 8252 §7.1) */
}

static bool views_equal(struct strview a, struct strview b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool redirect_uri_matches(const char *registered, const char *requested)
{
    if (!registered || !requested || strchr(requested, '#'))
        return false;
    struct url_parts req;
    if (url_split(requested, strlen(requested), &req) != GW_OK || req.has_userinfo || req.has_fragment)
        return false;
    if (strcmp(registered, requested) == 0)
        return true;
    /* RFC 8252 §7.3: a loopback redirect may use any port; everything else stays exact. */
    struct url_parts reg;
    if (url_split(registered, strlen(registered), &reg) != GW_OK)
        return false;
    if (!strview_eq_cstr(reg.scheme, "http") || !is_loopback_host(reg.host) || reg.has_userinfo)
        return false;
    return views_equal(reg.scheme, req.scheme) && req.has_authority && views_equal(reg.host, req.host) &&
           reg.host_is_ipv6 == req.host_is_ipv6 && views_equal(reg.path, req.path) &&
           reg.has_query == req.has_query && views_equal(reg.query, req.query);
}

bool auth_client_redirect_allowed(const struct auth_client *client, const char *requested)
{
    for (size_t i = 0; client && i < client->nredirect_uris; i++)
        if (redirect_uri_matches(client->redirect_uris[i], requested))
            return true;
    return false;
}

/* ---- registration metadata ---- */

#define FAIL(err, text)                                                                                      \
    do {                                                                                                     \
        *error = (err);                                                                                      \
        *description = (text);                                                                               \
        goto fail;                                                                                           \
    } while (0)

bool client_meta_keys_valid(const json_t *meta, const char **why)
{
    const json_t *jwks = json_object_get(meta, "jwks");
    const json_t *uri = json_object_get(meta, "jwks_uri");
    const json_t *alg = json_object_get(meta, "token_endpoint_auth_signing_alg");
    if (alg && (!json_is_string(alg) || (jwt_alg_from_name(json_string_value(alg)) != JWT_ALG_RS256 &&
                                         jwt_alg_from_name(json_string_value(alg)) != JWT_ALG_ES256))) {
        *why = "token_endpoint_auth_signing_alg must be RS256 or ES256";
        return false;
    }
    if (jwks && uri) {
        *why = "use jwks or jwks_uri, not both";
        return false;
    }
    if (jwks) {
        char *text = json_dumps(jwks, JSON_COMPACT);
        struct jwt_keyset *set = NULL;
        enum gw_err err = text ? jwt_keyset_from_jwks(text, strlen(text), &set, NULL) : GW_ERR_INVALID;
        free(text);
        jwt_keyset_free(set);
        if (err != GW_OK)
            *why = "jwks has no usable RS256 or ES256 public key";
        return err == GW_OK;
    }
    struct url_parts p;
    const char *u = json_string_value(uri);
    if (!u || strlen(u) > 2048 || strncmp(u, "https://", 8) != 0 || url_split(u, strlen(u), &p) != GW_OK ||
        p.host.len == 0 || p.has_userinfo || p.has_fragment) {
        *why = "private_key_jwt needs jwks (a JWK Set) or jwks_uri (an https URL)";
        return false;
    }
    return true;
}

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* A string field copied when present: must be a string of at most CLIENT_META_MAX_STRING. */
static bool copy_string_field(const json_t *in, json_t *out, const char *name)
{
    const json_t *v = json_object_get(in, name);
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) > CLIENT_META_MAX_STRING ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    json_object_set_new(out, name, json_stringn(json_string_value(v), json_string_length(v)));
    return true;
}

/* A list of unique strings from allowed (or the default when absent). */
static bool copy_enum_array(const json_t *in, json_t *out, const char *name, const char *const *allowed,
                            const char *const *defaults)
{
    const json_t *v = json_object_get(in, name);
    json_t *arr = json_array();
    if (!v || json_is_null(v)) {
        for (; *defaults; defaults++)
            json_array_append_new(arr, json_string(*defaults));
    } else {
        size_t i;
        const json_t *item;
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 8)
            goto bad;
        json_array_foreach(v, i, item)
        {
            const char *s = json_string_value(item);
            if (!s || !in_list(s, allowed))
                goto bad;
            bool seen = false;
            for (size_t j = 0; j < json_array_size(arr); j++)
                seen = seen || strcmp(json_string_value(json_array_get(arr, j)), s) == 0;
            if (!seen)
                json_array_append_new(arr, json_string(s));
        }
    }
    json_object_set_new(out, name, arr);
    return true;
bad:
    json_decref(arr);
    return false;
}

static bool array_contains(const json_t *arr, const char *s)
{
    for (size_t i = 0; i < json_array_size(arr); i++)
        if (strcmp(json_string_value(json_array_get(arr, i)), s) == 0)
            return true;
    return false;
}

enum gw_err client_meta_validate(const char *body, size_t len, json_t **out, const char **error,
                                 const char **description)
{
    *out = NULL;
    json_t *in = NULL, *meta = json_object();
    if (len > CLIENT_META_MAX_BODY)
        FAIL("invalid_client_metadata", "registration request is too large");
    json_error_t jerr;
    in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(in))
        FAIL("invalid_client_metadata", "the body must be a JSON object");

    static const char *const methods[] = {"none", "client_secret_post", "client_secret_basic", "private_key_jwt",
                                          NULL};
    const json_t *method = json_object_get(in, "token_endpoint_auth_method");
    if (method && !json_is_null(method)) {
        if (!json_is_string(method) || !in_list(json_string_value(method), methods))
            FAIL("invalid_client_metadata", "token_endpoint_auth_method must be none, client_secret_post, "
                                            "client_secret_basic or private_key_jwt");
        json_object_set_new(meta, "token_endpoint_auth_method", json_string(json_string_value(method)));
        if (strcmp(json_string_value(method), "private_key_jwt") == 0) {
            const char *why = NULL;
            if (!client_meta_keys_valid(in, &why))
                FAIL("invalid_client_metadata", why);
            const char *keys_member = json_object_get(in, "jwks") ? "jwks" : "jwks_uri";
            json_object_set(meta, keys_member, json_object_get(in, keys_member));
            json_t *alg = json_object_get(in, "token_endpoint_auth_signing_alg");
            if (alg)
                json_object_set(meta, "token_endpoint_auth_signing_alg", alg);
        }
    } else {
        json_object_set_new(meta, "token_endpoint_auth_method", json_string("client_secret_basic"));
    }

    static const char *const grants[] = {"authorization_code", "refresh_token", NULL};
    static const char *const default_grants[] = {"authorization_code", "refresh_token", NULL};
    static const char *const responses[] = {"code", NULL};
    if (!copy_enum_array(in, meta, "grant_types", grants, default_grants))
        FAIL("invalid_client_metadata", "grant_types may contain only authorization_code and refresh_token");
    if (!copy_enum_array(in, meta, "response_types", responses, responses))
        FAIL("invalid_client_metadata", "response_types may contain only code");
    if (!array_contains(json_object_get(meta, "grant_types"), "authorization_code"))
        FAIL("invalid_client_metadata", "grant_types must include authorization_code");

    const json_t *uris = json_object_get(in, "redirect_uris");
    if (!json_is_array(uris) || json_array_size(uris) == 0)
        FAIL("invalid_redirect_uri", "redirect_uris must be a non-empty array");
    if (json_array_size(uris) > CLIENT_META_MAX_REDIRECT_URIS)
        FAIL("invalid_redirect_uri", "too many redirect_uris (at most 10)");
    json_t *accepted = json_array();
    json_object_set_new(meta, "redirect_uris", accepted);
    size_t i;
    const json_t *u;
    json_array_foreach(uris, i, u)
    {
        const char *s = json_string_value(u);
        const char *why = NULL;
        if (!s || strlen(s) != json_string_length(u))
            FAIL("invalid_redirect_uri", "each redirect URI must be a string");
        if (!redirect_uri_registrable(s, &why))
            FAIL("invalid_redirect_uri", why);
        if (!array_contains(accepted, s))
            json_array_append_new(accepted, json_string(s));
    }

    static const char *const strings[] = {"client_name", "client_uri", "logo_uri",    "scope",
                                          "tos_uri",     "policy_uri", "software_id", "software_version",
                                          "jwks_uri",    NULL};
    for (const char *const *name = strings; *name; name++)
        if (!copy_string_field(in, meta, *name))
            FAIL("invalid_client_metadata", "a metadata string field is not a string or is too long");

    const json_t *app = json_object_get(in, "application_type");
    if (app && !json_is_null(app)) {
        if (!json_is_string(app) ||
            (strcmp(json_string_value(app), "web") != 0 && strcmp(json_string_value(app), "native") != 0))
            FAIL("invalid_client_metadata", "application_type must be web or native");
        json_object_set_new(meta, "application_type", json_string(json_string_value(app)));
    }
    const json_t *contacts = json_object_get(in, "contacts");
    if (contacts && !json_is_null(contacts)) {
        if (!json_is_array(contacts) || json_array_size(contacts) > 10)
            FAIL("invalid_client_metadata", "contacts must be an array of at most 10 strings");
        json_t *c = json_array();
        json_object_set_new(meta, "contacts", c);
        json_array_foreach(contacts, i, u)
        {
            if (!json_is_string(u) || json_string_length(u) > 320 ||
                strlen(json_string_value(u)) != json_string_length(u))
                FAIL("invalid_client_metadata", "contacts must be an array of at most 10 strings");
            json_array_append_new(c, json_string(json_string_value(u)));
        }
    }
    json_decref(in);
    *out = meta;
    *error = NULL;
    *description = NULL;
    return GW_OK;
fail:
    json_decref(in);
    json_decref(meta);
    return GW_ERR_INVALID;
}

void client_meta_hash(const json_t *metadata, char out[44])
{
    char *text = json_dumps(metadata, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        gw_oom(0);
    crypto_sha256_b64url(text, strlen(text), out);
    free(text);
}
