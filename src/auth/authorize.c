/*
 * authorize.c - GET /authorize (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1, RFC 7636, RFC 8707).
 *
 * Order of checks: the parameters that decide whether the redirect URI can be trusted
 * (client_id, redirect_uri) first, answered with an HTML page; then the client is looked up and
 * the redirect URI matched (exact, or RFC 8252 §7.3 loopback port); only then are the other
 * errors sent to the client's redirect URI with error, state and iss.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/authorize_params.h"
#include "auth/browser.h"
#include "auth/browser_internal.h"
#include "auth/client_store.h"
#include "auth/pages.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/urlform.h"

struct authorize_ctx {
    struct http_exchange *ex;
    struct pending_auth pending;
    struct session session;
    bool new_session;
    const char *error, *error_description;
};

static const char *arena_opt(struct http_exchange *ex, const char *s)
{
    return s ? http_exchange_strdup(ex, s) : NULL;
}

static void to_consent(struct authorize_ctx *c)
{
    struct buf url;
    buf_init(&url, 1024);
    (void)buf_append_str(&url, "/consent");
    (void)url_append_query_param(&url, "req", c->pending.id);
    if (c->new_session)
        session_set_cookie(c->ex, &c->session, browser_config()->session_timeout);
    page_redirect(c->ex, buf_cstr(&url));
    buf_free(&url);
}

static void consent_looked_up(const struct redis_result *result, void *arg)
{
    struct authorize_ctx *c = arg;
    if (browser_redis_failed(c->ex, result))
        return;
    const redisReply *r = result->reply;
    if (r->type == REDIS_REPLY_STRING && scope_is_subset(c->pending.scope, r->str)) {
        /* Approved before by this signed-in user: no second consent page. */
        browser_complete(c->ex, &c->pending, &c->session, c->new_session);
        return;
    }
    to_consent(c);
}

static void pending_saved(const struct redis_result *result, void *arg)
{
    struct authorize_ctx *c = arg;
    if (browser_redis_failed(c->ex, result))
        return;
    if (c->session.sub) {
        size_t n = strlen(c->session.sub) + 1 + strlen(c->pending.client_id) + 1;
        char *id = http_exchange_alloc(c->ex, n);
        snprintf(id, n, "%s:%s", c->session.sub, c->pending.client_id);
        const char *argv[] = {"GET", browser_key(c->ex, "consent:", id)};
        browser_redis(c->ex, consent_looked_up, c, 2, argv);
        return;
    }
    to_consent(c);
}

static void client_found(enum gw_err err, struct auth_client *client, const char *why, void *arg)
{
    struct authorize_ctx *c = arg;
    struct http_exchange *ex = c->ex;
    if (err == GW_ERR_NOT_FOUND || (err == GW_OK && !client)) {
        auth_client_free(client);
        http_exchange_set_error(ex, "invalid_client");
        struct buf msg;
        buf_init(&msg, 8192);
        (void)buf_printf(&msg,
                         "The application with client_id \"%s\" is not registered with this server (or its "
                         "registration expired). Ask the application to register again.",
                         c->pending.client_id);
        page_error(ex, 400, "Unknown application", buf_cstr(&msg));
        buf_free(&msg);
        return;
    }
    if (err == GW_ERR_INVALID) {
        http_exchange_set_error(ex, "invalid_client");
        page_error(ex, 400, "Invalid application", why ? why : "The client metadata document is not valid.");
        return;
    }
    if (err != GW_OK) {
        browser_unavailable(ex, why ? why : "client lookup failed");
        return;
    }
    if (!c->pending.redirect_uri) {
        if (client->nredirect_uris == 1) {
            c->pending.redirect_uri = http_exchange_strdup(ex, client->redirect_uris[0]);
        } else {
            auth_client_free(client);
            http_exchange_set_error(ex, "invalid_request");
            page_error(ex, 400, "Invalid authorization request",
                       "The request has no redirect_uri and the application registered more than one.");
            return;
        }
    } else if (!auth_client_redirect_allowed(client, c->pending.redirect_uri)) {
        auth_client_free(client);
        http_exchange_set_error(ex, "invalid_redirect_uri");
        log_write(LOG_WARNING, "Authorization request with an unregistered redirect_uri",
                  (struct log_field[]){log_str("client_id", c->pending.client_id)}, 1);
        page_error(
            ex, 400, "Invalid redirect URI",
            "The redirect_uri of this request is not registered for this application, so this server will "
            "not send you there.");
        return;
    }
    c->pending.client_name = arena_opt(ex, client->client_name);
    auth_client_free(client);
    /* From here on the redirect URI is trusted. */
    if (c->error) {
        browser_redirect_error(ex, c->pending.redirect_uri, c->error, c->error_description, c->pending.state);
        return;
    }
    if (c->pending.resource) {
        /* RFC 8707 §2: a resource this gateway does not serve is refused here, not at /token. */
        const char *known = auth_resource_audience(ex, c->pending.resource);
        if (!known) {
            browser_redirect_error(ex, c->pending.redirect_uri, "invalid_target",
                                   "the resource is not served by this gateway", c->pending.state);
            return;
        }
        c->pending.resource = known;
    }
    if (!browser_session(ex, &c->session)) {
        if (!browser_session_new(ex, &c->session))
            return;
        c->new_session = true;
    }
    c->pending.sid = c->session.sid;
    char *id = NULL;
    if (crypto_random_token(32, &id) != GW_OK) {
        page_error(ex, 500, "Internal error", "No randomness available.");
        return;
    }
    c->pending.id = http_exchange_strdup(ex, id);
    free(id);
    char *json = pending_to_json(&c->pending, NULL);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", PENDING_TTL);
    const char *argv[] = {"SET", browser_key(ex, "authreq:", c->pending.id), json, "EX", ttl};
    bool sent = browser_redis(ex, pending_saved, c, 5, argv);
    free(json);
    (void)sent;
}

void authorize_handle(struct http_exchange *ex)
{
    const struct http_request *req = http_request(ex);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_response_header(ex, "Allow", "GET");
        page_error(ex, 405, "Method not allowed", "Use GET for /authorize.");
        return;
    }
    const struct browser_config *cfg = browser_config();
    struct authorize_request r;
    authorize_request_parse(req->query, strlen(req->query), (const char *const *)cfg->scopes, cfg->nscopes,
                            &r);
    if (r.page_error) {
        http_exchange_set_error(ex, "invalid_request");
        page_error(ex, 400, "Invalid authorization request", r.page_error);
        authorize_request_free(&r);
        return;
    }
    struct authorize_ctx *c = http_exchange_alloc(ex, sizeof *c);
    memset(c, 0, sizeof *c);
    c->ex = ex;
    c->pending.client_id = arena_opt(ex, r.client_id);
    c->pending.redirect_uri = arena_opt(ex, r.redirect_uri);
    c->pending.state = arena_opt(ex, r.state);
    c->pending.code_challenge = arena_opt(ex, r.code_challenge);
    c->pending.resource = arena_opt(ex, r.resource);
    c->pending.scope = arena_opt(ex, r.scope);
    c->error = r.error;
    c->error_description = r.error_description;
    authorize_request_free(&r);
    client_store_get(auth_worker(), c->pending.client_id, client_found, c);
}
