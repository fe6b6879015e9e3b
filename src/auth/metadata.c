/*
 * metadata.c - discovery documents: RFC 8414 authorization-server metadata (also served as
 * /.well-known/openid-configuration), RFC 9728 protected-resource metadata for each enabled MCP
 * service, and the JWKS. Public, cacheable, CORS-open (browser-based MCP clients read them).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "auth/auth.h"
#include "auth/endpoints.h"
#include "core/alloc.h"
#include "core/public_url.h"

static void cors_headers(struct http_exchange *ex)
{
    http_response_header(ex, "Access-Control-Allow-Origin", "*");
    http_response_header(ex, "Access-Control-Allow-Methods", "GET, OPTIONS");
    http_response_header(ex, "Access-Control-Allow-Headers",
                         "Authorization, Content-Type, MCP-Protocol-Version");
    http_response_header(ex, "Access-Control-Max-Age", "86400");
}

/* OPTIONS preflight, or 405 for anything but GET/HEAD. Returns true when it answered. */
static bool answer_non_get(struct http_exchange *ex)
{
    const char *m = http_request(ex)->method;
    if (strcmp(m, "OPTIONS") == 0) {
        cors_headers(ex);
        http_respond(ex, 204, NULL, NULL, 0);
        return true;
    }
    if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
        cors_headers(ex);
        http_response_header(ex, "Allow", "GET, HEAD, OPTIONS");
        http_respond_error(ex, 405, "invalid_request", "Method not allowed");
        return true;
    }
    return false;
}

static void respond_document(struct http_exchange *ex, char *json)
{
    cors_headers(ex);
    http_response_header(ex, "Cache-Control", "public, max-age=3600");
    http_respond_json(ex, 200, json);
    free(json);
}

static json_t *string_array(const char *const *items)
{
    json_t *a = json_array();
    for (; *items; items++)
        json_array_append_new(a, json_string(*items));
    return a;
}

static char *endpoint(const char *issuer, const char *path)
{
    size_t n = strlen(issuer) + strlen(path) + 1;
    char *s = gw_malloc(n);
    snprintf(s, n, "%s%s", issuer, path);
    return s;
}

static void server_metadata(struct http_exchange *ex)
{
    const struct auth_state *st = auth_state();
    const char *iss = st->issuer;
    json_t *doc = json_object();
    json_object_set_new(doc, "issuer", json_string(iss));
    static const char *const paths[][2] = {
        {"authorization_endpoint", "/authorize"},  {"token_endpoint", "/token"},
        {"registration_endpoint", "/register"},    {"revocation_endpoint", "/revoke"},
        {"introspection_endpoint", "/introspect"}, {"jwks_uri", "/jwks"},
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char *url = endpoint(iss, paths[i][1]);
        json_object_set_new(doc, paths[i][0], json_string(url));
        free(url);
    }
    json_t *scopes = json_array();
    size_t n = 0;
    char **list = config_get_list(st->cfg, "MCP_SCOPES", &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(scopes, json_string(list[i]));
    config_list_free(list, n);
    json_object_set_new(doc, "scopes_supported", scopes);
    json_object_set_new(doc, "response_types_supported", string_array((const char *[]){"code", NULL}));
    json_object_set_new(doc, "response_modes_supported", string_array((const char *[]){"query", NULL}));
    json_object_set_new(doc, "grant_types_supported",
                        string_array((const char *[]){"authorization_code", "refresh_token", NULL}));
    /* private_key_jwt: for metadata-document clients that publish keys (client_assertion.h) */
    const char *methods[] = {"none", "client_secret_post", "client_secret_basic", "private_key_jwt", NULL};
    const char *assertion_algs[] = {"RS256", "ES256", NULL};
    json_object_set_new(doc, "token_endpoint_auth_methods_supported", string_array(methods));
    json_object_set_new(doc, "token_endpoint_auth_signing_alg_values_supported", string_array(assertion_algs));
    json_object_set_new(doc, "revocation_endpoint_auth_methods_supported", string_array(methods));
    json_object_set_new(doc, "revocation_endpoint_auth_signing_alg_values_supported",
                        string_array(assertion_algs));
    json_object_set_new(doc, "introspection_endpoint_auth_methods_supported",
                        string_array((const char *[]){"client_secret_post", "client_secret_basic", NULL}));
    json_object_set_new(doc, "code_challenge_methods_supported",
                        string_array((const char *[]){"S256", NULL}));
    json_object_set_new(doc, "authorization_response_iss_parameter_supported", json_true());
    json_object_set_new(doc, "client_id_metadata_document_supported", json_true());
    /* What an OpenID client reading /.well-known/openid-configuration expects to find. */
    json_object_set_new(doc, "subject_types_supported", string_array((const char *[]){"public", NULL}));
    json_object_set_new(doc, "id_token_signing_alg_values_supported",
                        string_array((const char *[]){jwt_alg_name(jwt_key_alg(st->signing_key)), NULL}));
    char *json = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!json)
        gw_oom(0);
    respond_document(ex, json);
}

/* The host the client used (X-Forwarded-Host from a proxy, else Host), lower-case, no port. */
static void request_host(struct http_exchange *ex, char *out, size_t outsz)
{
    const char *h = http_header(ex, "X-Forwarded-Host");
    if (!h || !*h)
        h = http_header(ex, "Host");
    out[0] = '\0';
    if (!h)
        return;
    size_t n = strcspn(h, ":,");
    if (h[0] == '[')
        n = strcspn(h, "],") + 1;
    if (n >= outsz)
        n = outsz - 1;
    for (size_t i = 0; i < n; i++)
        out[i] = (char)((h[i] >= 'A' && h[i] <= 'Z') ? h[i] + 32 : h[i]);
    out[n] = '\0';
}

/* Which enabled service a protected-resource metadata request is about: the path-inserted
 * resource path (/SVC/mcp or /SVC in path routing), else the host (SVC.BASE_DOMAIN), else the
 * only service. NULL when none fits. */
static const char *resource_service(struct http_exchange *ex, const char *rest)
{
    const struct auth_state *st = auth_state();
    for (size_t i = 0; i < st->nservices; i++) {
        const char *svc = st->services[i];
        size_t n = strlen(svc);
        if (rest[0] == '/' && strncmp(rest + 1, svc, n) == 0 &&
            (rest[1 + n] == '\0' || strcmp(rest + 1 + n, "/mcp") == 0))
            return svc;
    }
    if (rest[0] != '\0' && strcmp(rest, "/mcp") != 0)
        return NULL;
    char host[256];
    request_host(ex, host, sizeof(host));
    for (size_t i = 0; i < st->nservices; i++) {
        char *svc_host = public_url_service_host(st->cfg, st->services[i]);
        bool same = strcmp(svc_host, host) == 0;
        free(svc_host);
        if (same)
            return st->services[i];
    }
    return st->nservices == 1 ? st->services[0] : NULL;
}

void jwks_handle(struct http_exchange *ex)
{
    char *jwks = jwt_keyset_to_jwks(auth_state()->keyset);
    respond_document(ex, jwks);
}

bool metadata_route(struct http_exchange *ex)
{
    const char *path = http_request(ex)->path;
    static const char prm[] = "/.well-known/oauth-protected-resource";
    if (strcmp(path, "/.well-known/oauth-authorization-server") == 0 ||
        strcmp(path, "/.well-known/openid-configuration") == 0) {
        if (!answer_non_get(ex))
            server_metadata(ex);
        return true;
    }
    if (strcmp(path, "/jwks") == 0 || strcmp(path, "/.well-known/jwks.json") == 0) {
        if (!answer_non_get(ex))
            jwks_handle(ex);
        return true;
    }
    if (strncmp(path, prm, sizeof(prm) - 1) == 0 &&
        (path[sizeof(prm) - 1] == '\0' || path[sizeof(prm) - 1] == '/')) {
        if (answer_non_get(ex))
            return true;
        const char *svc = resource_service(ex, path + sizeof(prm) - 1);
        if (!svc) {
            cors_headers(ex);
            http_respond_error(ex, 404, "not_found", "No protected resource at this address");
            return true;
        }
        respond_document(ex, public_url_resource_metadata_document(auth_state()->cfg, svc));
        return true;
    }
    return false;
}
