/*
 * tlsserver.c - a test fixture: the router's TLS pieces wired the way a role wires them, over
 * real sockets, for tests/e2e/test_router_tls.py.
 *
 *   --port (HTTP_PORT)   plain HTTP: /.well-known/acme-challenge/ from ACME_CHALLENGE_DIR
 *                        (default DATA_DIR/acme-challenge), everything else 308 to HTTPS
 *   HTTPS_PORT           TLS with SNI certificates from TLS_CERT_FILE/TLS_KEY_FILE and
 *                        TLS_CERT_DIR; answers "ok <Host>"; /health and /metrics as usual
 *   SIGHUP               reloads the certificates (struct role.reload -> tls_server_reload)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/health.h"
#include "core/http.h"
#include "core/log.h"
#include "core/role.h"
#include "router/acme_challenge.h"
#include "router/tls.h"

struct fixture_state {
    struct tls_server *tls;
    char *challenge_dir;
    int https_port;
};

static void https_handle(struct http_exchange *ex, void *arg)
{
    (void)arg;
    if (health_route(ex))
        return;
    const char *host = http_header(ex, "Host");
    char body[300];
    int n = snprintf(body, sizeof(body), "ok %s", host ? host : "");
    http_respond(ex, 200, "text/plain", body, (size_t)n);
}

static void http_handle(struct http_exchange *ex, void *arg)
{
    struct role_context *ctx = arg;
    struct fixture_state *st = ctx->state;
    if (acme_challenge_route(ex, st->challenge_dir))
        return;
    https_redirect(ex, st->https_port);
}

static enum gw_err setup(struct role_context *ctx, struct buf *errors)
{
    struct fixture_state *st = gw_calloc(1, sizeof(*st));
    ctx->state = st;
    st->challenge_dir = acme_challenge_dir(ctx->cfg);
    st->https_port = (int)config_get_int(ctx->cfg, "HTTPS_PORT", 443);
    enum gw_err err = tls_server_create(ctx->cfg, &st->tls, errors);
    if (err)
        return err;
    struct listener_options lo;
    listener_options_defaults(&lo);
    lo.bind_addr = ctx->bind_addr;
    lo.port = st->https_port;
    lo.handler = https_handle;
    lo.handler_arg = ctx;
    lo.tls_context = tls_server_context;
    lo.tls_context_arg = st->tls;
    return server_add_listener(ctx->server, &lo, errors);
}

static void reload(void *arg)
{
    struct role_context *ctx = arg;
    struct fixture_state *st = ctx->state;
    tls_server_reload(st->tls, NULL);
}

static void teardown(struct role_context *ctx)
{
    struct fixture_state *st = ctx->state;
    if (!st)
        return;
    tls_server_free(st->tls);
    free(st->challenge_dir);
    free(st);
    ctx->state = NULL;
}

static const struct role fixture_role = {
    .service = "tlsserver",
    .command = "tlsserver",
    .summary = "test fixture: router TLS, SNI, reload, ACME challenges, HTTPS redirect",
    .port_variable = "HTTP_PORT",
    .default_port = 8081,
    .setup = setup,
    .teardown = teardown,
    .handler = http_handle,
    .reload = reload,
};

int main(int argc, char **argv)
{
    return role_main(&fixture_role, argc, argv);
}
