/*
 * auth_main.c - the `mcpgw auth` role: process state (issuer, signing keys, enabled services),
 * per-worker Redis and HTTP clients, /health with a Redis check, and the request dispatch.
 */
#include "auth/auth_role.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/auth.h"
#include "auth/browser.h"
#include "auth/client_store.h"
#include "auth/endpoints.h"
#include "core/alloc.h"
#include "core/health.h"
#include "core/http_client.h"
#include "core/ip_allowlist.h"
#include "core/log.h"
#include "core/public_url.h"
#include "core/redis.h"
#include "core/role.h"
#include "core/server.h"

static struct auth_state *state; /* set once by auth_setup, read-only afterwards */

const struct auth_state *auth_state(void)
{
    return state;
}

struct auth_worker *auth_worker(void)
{
    struct worker *w = worker_current();
    return w ? w->role_data : NULL;
}

/* ---- keys ---- */

static enum gw_err load_keys(struct auth_state *s, const struct config *cfg, struct buf *errors)
{
    const char *alg_name = config_get(cfg, "JWT_ALGORITHM", "RS256");
    enum jwt_alg alg = jwt_alg_from_name(alg_name);
    const char *why = NULL;
    enum gw_err err;
    if (alg == JWT_ALG_HS256) {
        const char *secret = config_get(cfg, "GATEWAY_JWT_SECRET", "");
        err = jwt_key_from_secret(secret, strlen(secret), &s->signing_key, &why);
        if (err) {
            buf_printf(errors, "ERROR: GATEWAY_JWT_SECRET: %s\n", why ? why : gw_strerror(err));
            return GW_ERR_CONFIG;
        }
    } else if (config_has(cfg, "JWT_PRIVATE_KEY_B64")) {
        const char *b64 = config_get(cfg, "JWT_PRIVATE_KEY_B64", "");
        err = jwt_key_from_pem_base64(b64, strlen(b64), alg, &s->signing_key, &why);
        if (err) {
            buf_printf(errors, "ERROR: JWT_PRIVATE_KEY_B64: %s\n", why ? why : gw_strerror(err));
            return GW_ERR_CONFIG;
        }
    } else {
        const char *data_dir = config_get(cfg, "DATA_DIR", "./data");
        struct buf path;
        buf_init(&path, 4096);
        buf_printf(&path, "%s", data_dir);
        if (mkdir(buf_cstr(&path), 0700) != 0 && errno != EEXIST) {
            buf_printf(errors, "ERROR: cannot create DATA_DIR %s: %s\n", data_dir, strerror(errno));
            buf_free(&path);
            return GW_ERR_IO;
        }
        buf_append_str(&path, "/keys");
        if (mkdir(buf_cstr(&path), 0700) != 0 && errno != EEXIST) {
            buf_printf(errors, "ERROR: cannot create %s: %s\n", buf_cstr(&path), strerror(errno));
            buf_free(&path);
            return GW_ERR_IO;
        }
        buf_printf(&path, "/jwt-%s.pem", alg == JWT_ALG_ES256 ? "es256" : "rs256");
        bool generated = false;
        err = jwt_key_load_or_generate(buf_cstr(&path), alg, &s->signing_key, &generated, &why);
        if (err) {
            buf_printf(errors, "ERROR: signing key %s: %s\n", buf_cstr(&path), why ? why : gw_strerror(err));
            buf_free(&path);
            return err == GW_ERR_IO ? GW_ERR_IO : GW_ERR_CONFIG;
        }
        log_write(LOG_INFO, generated ? "Generated a new signing key" : "Loaded the signing key",
                  (struct log_field[]){log_str("path", buf_cstr(&path)),
                                       log_str("kid", jwt_key_kid(s->signing_key))},
                  2);
        buf_free(&path);
    }
    s->keyset = jwt_keyset_new();
    jwt_keyset_add(s->keyset, s->signing_key);
    return GW_OK;
}

/* ---- the role ---- */

static bool redis_check(void *arg, struct buf *detail)
{
    (void)arg;
    struct auth_worker *w = auth_worker();
    if (!w || !w->redis) {
        buf_append_str(detail, "no Redis client on this thread");
        return false;
    }
    if (redis_client_healthy(w->redis))
        return true;
    const char *why = redis_client_last_error(w->redis);
    buf_printf(detail, "Could not connect to Redis at %s%s%s", redis_client_address(w->redis),
               *why ? ": " : "", why);
    return false;
}

/* /health's "signing_key": which key tokens are signed with, by kid and algorithm (the kid is
 * in every token's header anyway; for HS256 it is derived from the secret without revealing it),
 * so that `mcpgw show-config` can check that auth and the router use the same key. */
static void signing_key_info(void *arg, struct buf *out)
{
    (void)arg;
    const struct auth_state *s = state;
    if (!s || !s->signing_key)
        return;
    enum jwt_alg alg = jwt_key_alg(s->signing_key);
    const char *source = alg == JWT_ALG_HS256                        ? "GATEWAY_JWT_SECRET"
                         : config_has(s->cfg, "JWT_PRIVATE_KEY_B64") ? "JWT_PRIVATE_KEY_B64"
                         : alg == JWT_ALG_ES256                      ? "DATA_DIR/keys/jwt-es256.pem"
                                                                     : "DATA_DIR/keys/jwt-rs256.pem";
    const char *kid = jwt_key_kid(s->signing_key);
    buf_printf(out, "{\"role\":\"signs\",\"source\":\"%s\",\"keys\":[{\"alg\":\"%s\",\"kid\":\"", source,
               jwt_alg_name(alg));
    buf_append_json_escaped(out, kid, strlen(kid));
    buf_append_str(out, "\"}]}");
}

static void free_state(struct auth_state *s)
{
    if (!s)
        return;
    free(s->issuer);
    free(s->key_prefix);
    jwt_keyset_free(s->keyset);
    jwt_key_free(s->signing_key);
    config_list_free(s->services, s->nservices);
    free(s->scopes);
    ip_allowlist_free(s->register_trusted);
    free(s);
}

static enum gw_err auth_setup(struct role_context *ctx, struct buf *errors)
{
    const struct config *cfg = ctx->cfg;
    struct auth_state *s = gw_calloc(1, sizeof(*s));
    s->cfg = cfg;
    s->issuer = public_url_issuer(cfg);
    s->key_prefix = gw_strdup(config_get(cfg, "REDIS_KEY_PREFIX", "oauth:"));
    s->access_token_lifetime = config_get_int(cfg, "ACCESS_TOKEN_LIFETIME", 86400);
    s->refresh_token_lifetime = config_get_int(cfg, "REFRESH_TOKEN_LIFETIME", 2592000);
    s->client_lifetime = config_get_int(cfg, "CLIENT_LIFETIME", 7776000);
    s->debug = config_get_bool(cfg, "DEBUG", false);
    s->register_ip_limit = config_get_int(cfg, "REGISTRATION_RATE_LIMIT", 20);
    s->register_ip_window = config_get_int(cfg, "REGISTRATION_RATE_WINDOW", 3600);
    s->register_max_clients = config_get_int(cfg, "REGISTRATION_MAX_CLIENTS", 10000);
    s->unused_client_ttl = config_get_int(cfg, "UNUSED_CLIENT_LIFETIME", 86400);
    s->refresh_grace_seconds = config_get_int(cfg, "REFRESH_GRACE_PERIOD", 30);
    char why[160];
    if (ip_allowlist_parse(config_get(cfg, "REGISTRATION_TRUSTED_NETWORKS", ""), &s->register_trusted, why,
                           sizeof(why)) != GW_OK) {
        buf_printf(errors, "ERROR: Invalid value for REGISTRATION_TRUSTED_NETWORKS: %s\n", why);
        free_state(s);
        return GW_ERR_CONFIG;
    }
    size_t nscopes = 0;
    char **scopes = config_get_list(cfg, "MCP_SCOPES", &nscopes);
    struct buf sc;
    buf_init(&sc, 4096);
    for (size_t i = 0; i < nscopes; i++)
        buf_printf(&sc, "%s%s", i ? " " : "", scopes[i]);
    config_list_free(scopes, nscopes);
    s->scopes = buf_take(&sc);
    s->services = public_url_mcp_services(cfg, &s->nservices);
    enum gw_err err = load_keys(s, cfg, errors);
    if (!err)
        err = client_store_setup(cfg, errors);
    if (err) {
        free_state(s);
        return err;
    }
    state = s;
    ctx->state = s;
    err = browser_setup(errors);
    if (err) {
        browser_teardown();
        client_store_teardown();
        state = NULL;
        ctx->state = NULL;
        free_state(s);
        return err;
    }
    auth_metrics_register();
    health_add_check("redis", redis_check, NULL, true);
    health_add_info("signing_key", signing_key_info, NULL);
    log_write(LOG_INFO, "Authorization server ready",
              (struct log_field[]){
                  log_str("issuer", s->issuer), log_str("alg", jwt_alg_name(jwt_key_alg(s->signing_key))),
                  log_str("kid", jwt_key_kid(s->signing_key)), log_int("services", (long long)s->nservices)},
              4);
    return GW_OK;
}

static void auth_teardown(struct role_context *ctx)
{
    browser_teardown();
    client_store_teardown();
    free_state(state);
    state = NULL;
    ctx->state = NULL;
}

static void auth_worker_init(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    struct auth_worker *aw = gw_calloc(1, sizeof(*aw));
    aw->worker = w;
    w->role_data = aw;
    const char *url = config_get(ctx->cfg, "REDIS_URL", "redis://127.0.0.1:6379/0");
    const char *password = config_get(ctx->cfg, "REDIS_PASSWORD", "");
    if (redis_client_create(w->base, url, password, &aw->redis) != GW_OK)
        log_write(LOG_ERROR, "Could not connect to Redis: REDIS_URL is not usable", NULL, 0);
    if (http_client_create(w->base, &aw->http) != GW_OK)
        log_write(LOG_ERROR, "Could not set up the outbound HTTP client", NULL, 0);
    client_store_worker_init(aw);
    auth_metrics_worker_start(aw);
}

static void auth_worker_fini(struct worker *w, void *arg)
{
    (void)arg;
    struct auth_worker *aw = w->role_data;
    if (!aw)
        return;
    auth_metrics_worker_stop(aw);
    client_store_worker_fini(aw);
    http_client_free(aw->http);
    redis_client_free(aw->redis);
    free(aw);
    w->role_data = NULL;
}

static bool method_is(const struct http_request *req, const char *m)
{
    return strcmp(req->method, m) == 0;
}

static void method_not_allowed(struct http_exchange *ex, const char *allow)
{
    http_response_header(ex, "Allow", allow);
    http_respond_error(ex, 405, "invalid_request", "Method not allowed");
}

/* Browser-based MCP clients (the MCP Inspector, web apps) register and exchange codes with
 * fetch(): the JSON endpoints are CORS-open (no cookies are involved; credentials travel in
 * the body or Authorization). Answers preflights; returns true when it did. */
static bool api_cors(struct http_exchange *ex)
{
    static const char *const paths[] = {"/token", "/register", "/revoke", "/introspect"};
    const char *path = http_request(ex)->path;
    bool api = strncmp(path, "/register/", 10) == 0;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]) && !api; i++)
        api = strcmp(path, paths[i]) == 0;
    if (!api)
        return false;
    http_response_header(ex, "Access-Control-Allow-Origin", "*");
    if (strcmp(http_request(ex)->method, "OPTIONS") != 0)
        return false;
    http_response_header(ex, "Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
    http_response_header(ex, "Access-Control-Allow-Headers",
                         "Authorization, Content-Type, MCP-Protocol-Version");
    http_response_header(ex, "Access-Control-Max-Age", "86400");
    http_respond(ex, 204, NULL, NULL, 0);
    return true;
}

static void auth_handle(struct http_exchange *ex, void *arg)
{
    (void)arg;
    const struct http_request *req = http_request(ex);
    const char *path = req->path;
    if (health_route(ex) || metadata_route(ex))
        return;
    if (api_cors(ex))
        return;
    if (strcmp(path, "/token") == 0) {
        method_is(req, "POST") ? token_handle(ex) : method_not_allowed(ex, "POST");
    } else if (strcmp(path, "/register") == 0) {
        method_is(req, "POST") ? register_handle(ex) : method_not_allowed(ex, "POST");
    } else if (strncmp(path, "/register/", 10) == 0 && path[10]) {
        register_manage_handle(ex, path + 10);
    } else if (strcmp(path, "/revoke") == 0) {
        method_is(req, "POST") ? revoke_handle(ex) : method_not_allowed(ex, "POST");
    } else if (strcmp(path, "/introspect") == 0) {
        method_is(req, "POST") ? introspect_handle(ex) : method_not_allowed(ex, "POST");
    } else if (strcmp(path, "/verify") == 0) {
        method_is(req, "GET") || method_is(req, "POST") || method_is(req, "HEAD")
            ? verify_handle(ex)
            : method_not_allowed(ex, "GET, POST");
    } else if (strcmp(path, "/authorize") == 0) {
        method_is(req, "GET") || method_is(req, "HEAD") ? authorize_handle(ex)
                                                        : method_not_allowed(ex, "GET");
    } else if (strcmp(path, "/consent") == 0) {
        method_is(req, "GET") || method_is(req, "POST") ? consent_handle(ex)
                                                        : method_not_allowed(ex, "GET, POST");
    } else if (strcmp(path, "/login") == 0) {
        method_is(req, "GET") || method_is(req, "POST") ? login_handle(ex)
                                                        : method_not_allowed(ex, "GET, POST");
    } else if (strcmp(path, "/callback") == 0) {
        method_is(req, "GET") ? callback_handle(ex) : method_not_allowed(ex, "GET");
    } else if (strcmp(path, "/debug") == 0 || strncmp(path, "/debug/", 7) == 0) {
        debug_handle(ex);
    } else {
        http_respond_error(ex, 404, "not_found", "No such endpoint on the authorization server");
    }
}

static const char *const required_vars[] = {"BASE_DOMAIN", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET",
                                            "GATEWAY_JWT_SECRET", NULL};

static const struct role auth_role = {
    .service = "auth",
    .command = "auth",
    .summary =
        "OAuth 2.1 authorization server (auth): metadata, registration, token, revoke, introspect, verify",
    .port_variable = "AUTH_PORT",
    .default_port = 8000,
    .required = required_vars,
    .extra_help =
        "\nVariables: BASE_DOMAIN, JWT_ALGORITHM, JWT_PRIVATE_KEY_B64 or GATEWAY_JWT_SECRET (HS256),\n"
        "REDIS_URL, REDIS_PASSWORD, ACCESS_TOKEN_LIFETIME, REFRESH_TOKEN_LIFETIME, CLIENT_LIFETIME,\n"
        "DATA_DIR (a generated key is kept in DATA_DIR/keys), DEBUG.\n",
    .setup = auth_setup,
    .teardown = auth_teardown,
    .handler = auth_handle,
    .worker_init = auth_worker_init,
    .worker_fini = auth_worker_fini,
};

int auth_main(int argc, char **argv)
{
    return role_main(&auth_role, argc, argv);
}
