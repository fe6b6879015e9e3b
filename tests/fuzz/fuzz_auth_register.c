/*
 * fuzz_auth_register.c - any bytes as a dynamic client registration body (RFC 7591): validation
 * never crashes; accepted metadata always has 1..10 registrable redirect URIs, a known
 * token_endpoint_auth_method and authorization_code among its grant types; a refusal always
 * names an RFC 7591 error. Also: every accepted redirect URI matches itself and no URI with a
 * fragment matches anything.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/client_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *meta = NULL;
    const char *error = NULL, *description = NULL;
    enum gw_err err = client_meta_validate((const char *)data, size, &meta, &error, &description);
    if (err != GW_OK) {
        if (meta || !error || !description ||
            (strcmp(error, "invalid_client_metadata") != 0 && strcmp(error, "invalid_redirect_uri") != 0))
            abort();
        return 0;
    }
    const json_t *uris = json_object_get(meta, "redirect_uris");
    size_t n = json_array_size(uris);
    if (n < 1 || n > CLIENT_META_MAX_REDIRECT_URIS)
        abort();
    for (size_t i = 0; i < n; i++) {
        const char *u = json_string_value(json_array_get(uris, i));
        const char *why;
        if (!u || !redirect_uri_registrable(u, &why) || !redirect_uri_matches(u, u) || strchr(u, '#'))
            abort();
    }
    const char *method = json_string_value(json_object_get(meta, "token_endpoint_auth_method"));
    if (!method || (strcmp(method, "none") && strcmp(method, "client_secret_post") &&
                    strcmp(method, "client_secret_basic")))
        abort();
    char hash[44];
    client_meta_hash(meta, hash);
    if (strlen(hash) != 43)
        abort();
    /* The stored-record path: a record built from accepted metadata is a usable client. */
    json_t *record = json_deep_copy(meta);
    json_object_set_new(record, "client_id", json_string("fuzz"));
    struct auth_client *client = NULL;
    if (auth_client_from_record(record, &client) != GW_OK || client->nredirect_uris != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (!auth_client_redirect_allowed(client, client->redirect_uris[i]))
            abort();
    auth_client_free(client);
    json_decref(record);
    json_decref(meta);

    /* The same bytes as a requested redirect URI against a loopback and an https registration. */
    char *text = strndup((const char *)data, size > 4096 ? 4096 : size);
    if (text && strlen(text) == (size > 4096 ? 4096 : size) && strchr(text, '#') &&
        (redirect_uri_matches("http://127.0.0.1/cb", text) || redirect_uri_matches(text, text)))
        abort();
    free(text);
    return 0;
}
