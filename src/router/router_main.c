/*
 * router_main.c - the router role: start-up, listeners, per-worker clients, request dispatch.
 */
#include "router_role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/health.h"
#include "core/log.h"
#include "core/redis.h"
#include "core/role.h"
#include "acme_challenge.h"
#include "cors.h"
#include "gate.h"
#include "ratelimit.h"
#include "routes.h"
#include "tls.h"
#include "token_check.h"
#include "upstream.h"
#include "upstream_addr.h"
#include "upstream_health.h"

/* Process-wide, read-only once the workers run. */
struct router_state {
    struct route_table *routes;
    struct cors_policy *cors;
    struct gate_limits limits;
    struct upstream_settings upstream;
    struct upstream_health *upstream_health; /* shared by the workers */
    struct upstream_addrs *upstream_addrs;   /* shared by the workers */
    const struct config *cfg;
    struct tls_server *tls; /* NULL: no HTTPS listener */
    int https_port;
    char *acme_dir; /* served at /.well-known/acme-challenge/ on plain HTTP */
};

/* One per worker thread. */
struct router_worker {
    struct router_state *state;
    struct redis_client *redis;
    struct token_checker *tokens;
    struct rate_limiter *limiter;
    struct upstream_pool *pool;
    struct upstream_prober *prober; /* worker 0 only: one probe per upstream, not one per worker */
};

static struct router_worker *current_worker(void)
{
    struct worker *w = worker_current();
    return w ? w->role_data : NULL;
}

/* ---- forwarding steps (gate_next_fn) ---- */

static void forward_mcp(struct http_exchange *ex, const struct router_service *svc,
                        const struct token_identity *identity, void *arg)
{
    struct router_worker *rw = arg;
    const struct http_request *r = http_request(ex);
    size_t path_len = strlen(svc->mcp_path), query_len = strlen(r->query);
    char *target = http_exchange_alloc(ex, path_len + query_len + 2);
    memcpy(target, svc->mcp_path, path_len);
    if (query_len) {
        target[path_len] = '?';
        memcpy(target + path_len + 1, r->query, query_len + 1);
    } else {
        target[path_len] = '\0';
    }
    struct upstream_identity who = {0};
    if (identity) {
        who.user_id = identity->user_id;
        who.username = identity->username;
        who.client_id = identity->client_id;
    }
    upstream_forward(rw->pool, ex, svc, target, identity ? &who : NULL, true);
}

static void forward_unchanged(struct http_exchange *ex, const struct router_service *svc,
                              const struct token_identity *identity, void *arg)
{
    (void)identity;
    struct router_worker *rw = arg;
    upstream_forward(rw->pool, ex, svc, http_request(ex)->target, NULL, false);
}

/* ---- the main listeners ---- */

static void serve_resource_metadata(struct http_exchange *ex, const struct router_service *svc)
{
    if (cors_handle_public(ex))
        return;
    const char *method = http_request(ex)->method;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        http_response_header(ex, "Allow", "GET, HEAD, OPTIONS");
        http_respond_error(ex, 405, "method_not_allowed", "Use GET");
        return;
    }
    http_response_header(ex, "Cache-Control", "public, max-age=3600");
    http_respond_json(ex, 200, svc->metadata_document);
}

/* ---- the admin endpoints: the admin listener, and the traefik host on the public ones ---- */

static void admin_handle(struct http_exchange *ex, void *arg)
{
    (void)arg;
    const struct http_request *r = http_request(ex);
    if (strcmp(r->path, "/ping") == 0) {
        http_respond(ex, 200, "text/plain; charset=utf-8", "OK", 2);
        return;
    }
    if (health_route(ex))
        return;
    http_respond_error(ex, 404, "not_found", "The admin endpoints are /metrics, /ping and /health");
}

static void router_handle(struct http_exchange *ex, void *arg)
{
    struct role_context *ctx = arg;
    struct router_state *st = ctx->state;
    struct router_worker *rw = current_worker();
    const struct http_request *r = http_request(ex);
    if (http_header_count(ex, "Host") > 1) {
        http_respond_error(ex, 400, "invalid_request", "Exactly one Host header is required");
        return;
    }
    if (!r->tls) {
        /* certificate renewal must work over plain HTTP; everything else moves to HTTPS */
        if (acme_challenge_route(ex, st->acme_dir))
            return;
        if (st->tls && tls_server_ready(st->tls)) { /* ACME: until the first certificate, plain HTTP serves */
            https_redirect(ex, st->https_port);
            return;
        }
    }
    struct route_match m = route_resolve(st->routes, http_header(ex, "Host"), r->path);
    if (m.service) /* every answer about a service (401, 429, 502, ...) names it in the access log */
        http_exchange_set_route(ex, m.service->name);
    switch (m.kind) {
    case ROUTE_AUTH:
        if (m.auth_limit)
            gate_auth_endpoint(ex, m.service, m.auth_limit, rw->limiter, &st->limits, forward_unchanged, rw);
        else
            forward_unchanged(ex, m.service, NULL, rw);
        return;
    case ROUTE_RESOURCE_METADATA:
        serve_resource_metadata(ex, m.service);
        return;
    case ROUTE_SERVICE_HEALTH: {
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
            http_response_header(ex, "Allow", "GET, HEAD");
            http_respond_error(ex, 405, "method_not_allowed", "Use GET");
            return;
        }
        upstream_forward(rw->pool, ex, m.service, "/health", NULL, false);
        return;
    }
    case ROUTE_ADMIN:
        admin_handle(ex, NULL);
        return;
    case ROUTE_MCP:
        if (cors_handle_mcp(st->cors, ex))
            return;
        gate_mcp(ex, m.service, rw->tokens, rw->limiter, &st->limits, forward_mcp, rw);
        return;
    case ROUTE_NOT_FOUND:
    default:
        http_respond_error(ex, 404, "not_found", "No route for this host and path");
        return;
    }
}

/* ---- health checks (run on the worker serving /health) ---- */

static bool redis_check(void *arg, struct buf *detail)
{
    (void)arg;
    struct router_worker *rw = current_worker();
    if (!rw || !rw->redis)
        return false;
    if (!redis_client_healthy(rw->redis)) {
        const char *e = redis_client_last_error(rw->redis);
        buf_append_str(detail, e ? e : "not connected");
        return false;
    }
    return true;
}

static bool tokens_check(void *arg, struct buf *detail)
{
    (void)arg;
    struct router_worker *rw = current_worker();
    if (!rw || !rw->tokens) {
        buf_append_str(detail, "the token checker did not start");
        return false;
    }
    token_checker_health_detail(rw->tokens, detail);
    return token_checker_ready(rw->tokens);
}

/* /health's "signing_key": the keys this worker verifies tokens with, by kid (see token_check.h). */
static void signing_key_info(void *arg, struct buf *out)
{
    (void)arg;
    struct router_worker *rw = current_worker();
    if (rw && rw->tokens)
        token_checker_key_info(rw->tokens, out);
}

/* /health's "upstreams": reachability of each upstream, for information only. A critical check
 * would make the supervisor restart the router for an MCP service that is down, which fixes
 * nothing; the service's own health check is what restarts it. */
static void upstreams_info(void *arg, struct buf *out)
{
    upstream_health_info(arg, out);
}

static bool rate_limit_health(void *arg, struct buf *detail)
{
    (void)arg;
    struct router_worker *rw = current_worker();
    if (!rw || !rw->limiter) {
        buf_append_str(detail, "no rate limiter");
        return false;
    }
    return rate_limiter_health_detail(rw->limiter, detail);
}

/* ---- the role ---- */

static enum gw_err add_listener(struct role_context *ctx, int port, struct tls_server *tls,
                                http_handler_fn handler, bool long_streams, struct buf *errors)
{
    struct listener_options lo;
    listener_options_defaults(&lo);
    lo.bind_addr = ctx->bind_addr;
    lo.port = port;
    if (tls) {
        lo.tls_context = tls_server_context;
        lo.tls_context_arg = tls;
    }
    lo.handler = handler;
    lo.handler_arg = ctx;
    if (long_streams) {
        const struct config *cfg = ctx->cfg;
        lo.max_body_bytes = (size_t)config_get_int(cfg, "MAX_BODY_SIZE", (long long)lo.max_body_bytes);
        lo.max_header_bytes = (size_t)config_get_int(cfg, "MAX_HEADER_SIZE", (long long)lo.max_header_bytes);
    }
    enum gw_err err = server_add_listener(ctx->server, &lo, errors);
    if (!err) {
        size_t index = 0;
        while (server_listener_port(ctx->server, index + 1) > 0)
            index++;
        log_write(LOG_INFO, handler == admin_handle ? "Admin listener" : "TLS listener",
                  (struct log_field[]){log_str("address", ctx->bind_addr),
                                       log_int("port", server_listener_port(ctx->server, index))},
                  2);
    }
    return err;
}

static void router_teardown(struct role_context *ctx);

static enum gw_err router_setup_state(struct role_context *ctx, struct buf *errors)
{
    const struct config *cfg = ctx->cfg;
    struct router_state *st = gw_calloc(1, sizeof(*st));
    st->cfg = cfg;
    ctx->state = st;
    enum gw_err err = route_table_create(cfg, &st->routes, errors);
    if (!err)
        err = gate_limits_load(cfg, st->routes, &st->limits, errors);
    if (err)
        return err;
    st->cors = cors_policy_create(cfg);
    st->upstream.connect_timeout_ms = (int)config_get_int(cfg, "UPSTREAM_CONNECT_TIMEOUT", 5) * 1000;
    st->upstream.response_timeout_ms = (int)config_get_int(cfg, "UPSTREAM_TIMEOUT", 60) * 1000;
    st->upstream.stream_idle_timeout_ms = (int)config_get_int(cfg, "UPSTREAM_STREAM_TIMEOUT", 3600) * 1000;
    st->upstream.idle_keepalive_ms = 30 * 1000;
    st->upstream.max_idle_per_service = (int)config_get_int(cfg, "UPSTREAM_KEEPALIVE", 64);

    upstream_metrics_register();
    gate_metrics_register();
    st->upstream_health = upstream_health_create(st->routes);
    st->upstream_addrs = upstream_addrs_create(st->routes, NULL, NULL);
    health_add_check("redis", redis_check, NULL, false);
    health_add_check("tokens", tokens_check, NULL, true);
    health_add_check("rate_limits", rate_limit_health, NULL, false);
    health_add_info("signing_key", signing_key_info, NULL);
    health_add_info("upstreams", upstreams_info, st->upstream_health);

    for (size_t i = 0; i < st->routes->nservices; i++) {
        const struct router_service *s = &st->routes->services[i];
        log_write(LOG_INFO, "Route",
                  (struct log_field[]){
                      log_str("route", s->name),
                      log_str("host", st->routes->path_mode ? "(path mode)" : s->host),
                      log_str("upstream", s->upstream_authority), log_str("resource", i ? s->resource : ""),
                      log_str("rate_limit", i ? gate_service_limit(&st->limits, s)->variable : "")},
                  5);
    }

    st->acme_dir = acme_challenge_dir(cfg);
    int admin_port = (int)config_get_int(cfg, "ADMIN_PORT", 8080);
    err = add_listener(ctx, admin_port, NULL, admin_handle, false, errors);
    if (err)
        return err;
    st->https_port = (int)config_get_int(cfg, "HTTPS_PORT", 443);
    if (st->https_port > 0 && tls_configured(cfg)) {
        err = tls_server_create(cfg, &st->tls, errors);
        if (!err)
            err = add_listener(ctx, st->https_port, st->tls, router_handle, true, errors);
    }
    return err;
}

/* role_main tears down only after a successful setup, so a refused configuration (exit 78)
 * frees what it had built here. */
static enum gw_err router_setup(struct role_context *ctx, struct buf *errors)
{
    enum gw_err err = router_setup_state(ctx, errors);
    if (err)
        router_teardown(ctx);
    return err;
}

/* SIGHUP: read the certificates again; connections keep the set they started with. */
static void router_reload(void *arg)
{
    struct role_context *ctx = arg;
    struct router_state *st = ctx->state;
    if (!st || !st->tls) {
        log_write(LOG_INFO, "SIGHUP: no TLS certificates to reload", NULL, 0);
        return;
    }
    struct buf errors;
    buf_init(&errors, 16 * 1024);
    tls_server_reload(st->tls, &errors); /* logs the outcome; on failure the current set stays */
    buf_free(&errors);
}

static void router_teardown(struct role_context *ctx)
{
    struct router_state *st = ctx->state;
    if (!st)
        return;
    route_table_free(st->routes);
    gate_limits_free(&st->limits);
    upstream_addrs_free(st->upstream_addrs);
    upstream_health_free(st->upstream_health);
    cors_policy_free(st->cors);
    tls_server_free(st->tls);
    free(st->acme_dir);
    free(st);
    ctx->state = NULL;
}

static void router_worker_init(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    struct router_state *st = ctx->state;
    const struct config *cfg = ctx->cfg;
    struct router_worker *rw = gw_calloc(1, sizeof(*rw));
    rw->state = st;
    w->role_data = rw;
    if (redis_client_create(w->base, config_get(cfg, "REDIS_URL", "redis://127.0.0.1:6379/0"),
                            config_get(cfg, "REDIS_PASSWORD", NULL), &rw->redis) != GW_OK)
        rw->redis = NULL;
    if (token_checker_create(w->base, cfg, rw->redis, &rw->tokens) != GW_OK) {
        rw->tokens = NULL;
        log_write(LOG_ERROR, "Token checker could not start; MCP requests get 503",
                  (struct log_field[]){log_int("worker", w->index)}, 1);
    }
    /* without Redis the limiter counts locally (limits then apply per worker) */
    if (rate_limiter_create(w->base, rw->redis, config_get(cfg, "REDIS_KEY_PREFIX", "oauth:"),
                            &rw->limiter) != GW_OK)
        rw->limiter = NULL;
    rw->pool =
        upstream_pool_create(w->base, st->routes, &st->upstream, st->upstream_addrs, st->upstream_health);
    if (w->index == 0)
        rw->prober =
            upstream_prober_create(w->base, st->upstream_health, rw->pool, st->upstream.connect_timeout_ms);
}

static void router_worker_fini(struct worker *w, void *arg)
{
    (void)arg;
    struct router_worker *rw = w->role_data;
    if (!rw)
        return;
    upstream_prober_free(rw->prober);
    upstream_pool_free(rw->pool);
    rate_limiter_free(rw->limiter);
    token_checker_free(rw->tokens);
    redis_client_free(rw->redis);
    free(rw);
    w->role_data = NULL;
}

static void router_worker_drain(struct worker *w, void *arg)
{
    (void)arg;
    struct router_worker *rw = w->role_data;
    if (rw && rw->pool)
        upstream_pool_drain(rw->pool);
}

static const char *const router_required[] = {"BASE_DOMAIN", "GATEWAY_JWT_SECRET", NULL};

static const struct role router_role = {
    .service = "router",
    .command = "router",
    .summary = "The edge (the guide's traefik): routing, token check, rate limits, CORS, MCP streaming proxy",
    .port_variable = "HTTP_PORT",
    .default_port = 80,
    .public_edge = true,
    .extra_help =
        "\nListeners, all on --bind: HTTP_PORT (this --port), HTTPS_PORT (TLS_CERT_FILE/TLS_KEY_FILE,\n"
        "TLS_CERT_DIR, or ACME certificates from DATA_DIR/acme/certs; SIGHUP reloads them), ADMIN_PORT\n"
        "(/metrics, /ping, /health; also on the public ports for the host traefik.BASE_DOMAIN).\n"
        "Routes: auth.BASE_DOMAIN -> auth (AUTH_PORT);\n"
        "SVC.BASE_DOMAIN/mcp (or /mcp/) -> the MCP service (ROUTING=path: /SVC/mcp on one origin).\n"
        "Services: MCP_ECHO_ENABLED, MCP_FETCH_ENABLED, MCP_<NAME>_URL, MCP_<NAME>_COMMAND + _PORT.\n"
        "auth and the MCP services mcpgw starts are reached at INTERNAL_BIND_ADDRESS (127.0.0.1;\n"
        "loopback when it is 0.0.0.0), or at AUTH_INTERNAL_URL / MCP_<NAME>_URL.\n",
    .required = router_required,
    .setup = router_setup,
    .teardown = router_teardown,
    .reload = router_reload,
    .handler = router_handle,
    .worker_init = router_worker_init,
    .worker_fini = router_worker_fini,
    .worker_drain = router_worker_drain,
};

int router_main(int argc, char **argv)
{
    return role_main(&router_role, argc, argv);
}
