/*
 * consent.c - GET/POST /consent: the user approves (or denies) one application before any
 * login happens. This is the confused-deputy defence: the gateway uses one static GitHub OAuth
 * app for every client, and GitHub remembers having approved it, so without this page any
 * registered client could obtain a code for a signed-in GitHub user silently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/browser.h"
#include "auth/browser_internal.h"
#include "auth/pages.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/urlform.h"

struct consent_ctx {
    struct http_exchange *ex;
    struct session session;
    const char *req_id;
    const char *action; /* POST: "approve" or "deny" */
    struct pending_auth pending;
};

static void session_missing(struct http_exchange *ex)
{
    http_exchange_set_error(ex, "session_missing");
    page_error(ex, 400, "Session expired",
               "Your login session has expired or your browser does not accept cookies. Start again from the "
               "application.");
}

static void request_expired(struct http_exchange *ex)
{
    http_exchange_set_error(ex, "request_expired");
    page_error(
        ex, 400, "Request expired",
        "This authorization request has expired or was already used. Start again from the application.");
}

/* Load authreq:{id} and check it belongs to this browser session; false when a page was sent. */
static bool load_pending(struct consent_ctx *c, const struct redis_result *result)
{
    if (browser_redis_failed(c->ex, result))
        return false;
    const redisReply *r = result->reply;
    if (r->type != REDIS_REPLY_STRING ||
        pending_from_json(c->ex, r->str, r->len, &c->pending, NULL) != GW_OK || !c->pending.id) {
        request_expired(c->ex);
        return false;
    }
    if (strcmp(c->pending.sid, c->session.sid) != 0) {
        http_exchange_set_error(c->ex, "session_mismatch");
        page_error(c->ex, 403, "Wrong browser session",
                   "This authorization request was started in another browser session. Start again from the "
                   "application.");
        return false;
    }
    return true;
}

static void render_consent(struct consent_ctx *c)
{
    struct http_exchange *ex = c->ex;
    const struct pending_auth *p = &c->pending;
    char csrf[CSRF_TOKEN_LEN + 1];
    csrf_token(c->session.sid, "consent", p->id, csrf);
    struct buf b;
    buf_init(&b, 128 * 1024);
    (void)buf_append_str(&b, "<div class=\"box\"><p>The application <strong>");
    (void)html_escape(&b, p->client_name && p->client_name[0] ? p->client_name : p->client_id);
    (void)buf_append_str(&b, "</strong> asks to use your MCP servers on this gateway on your behalf.</p>");
    (void)buf_append_str(&b, "<p>Application ID: <code>");
    (void)html_escape(&b, p->client_id);
    (void)buf_append_str(&b, "</code></p><p>After you decide you will be sent to <strong>");
    (void)html_escape(&b, browser_url_host(ex, p->redirect_uri));
    (void)buf_append_str(&b, "</strong>.</p><p>Access requested: <code>");
    (void)html_escape(&b, p->scope && p->scope[0] ? p->scope : "(none)");
    (void)buf_append_str(&b, "</code></p>");
    if (p->resource) {
        (void)buf_append_str(&b, "<p>For: <code>");
        (void)html_escape(&b, p->resource);
        (void)buf_append_str(&b, "</code></p>");
    }
    if (c->session.sub) {
        (void)buf_append_str(&b, "<p>Signed in as <strong>");
        (void)html_escape(&b, c->session.username);
        (void)buf_append_str(&b, "</strong>.</p>");
    }
    (void)buf_append_str(
        &b, "<p>Only approve if you started this from that application.</p>"
            "<form method=\"post\" action=\"/consent\"><input type=\"hidden\" name=\"req\" value=\"");
    (void)html_escape(&b, p->id);
    (void)buf_append_str(&b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
    (void)html_escape(&b, csrf);
    (void)buf_append_str(
        &b, "\"><button type=\"submit\" name=\"action\" value=\"approve\" id=\"approve\">Approve</button>"
            "<button type=\"submit\" name=\"action\" value=\"deny\" id=\"deny\">Deny</button>"
            "</form></div>");
    page_respond(ex, 200, "Authorize application", buf_cstr(&b));
    buf_free(&b);
}

static void shown_loaded(const struct redis_result *result, void *arg)
{
    struct consent_ctx *c = arg;
    if (!load_pending(c, result))
        return;
    render_consent(c);
}

static void approved_saved(const struct redis_result *result, void *arg)
{
    struct consent_ctx *c = arg;
    if (browser_redis_failed(c->ex, result))
        return;
    const struct browser_config *cfg = browser_config();
    if (cfg->github && !cfg->local) {
        github_login_start(c->ex, &c->pending, &c->session, false);
        return;
    }
    struct buf url;
    buf_init(&url, 1024);
    (void)buf_append_str(&url, "/login");
    (void)url_append_query_param(&url, "req", c->pending.id);
    page_redirect(c->ex, buf_cstr(&url));
    buf_free(&url);
}

static void submit_loaded(const struct redis_result *result, void *arg)
{
    struct consent_ctx *c = arg;
    struct http_exchange *ex = c->ex;
    if (!load_pending(c, result))
        return;
    if (strcmp(c->action, "approve") != 0) {
        const char *argv[] = {"DEL", browser_key(ex, "authreq:", c->pending.id)};
        browser_redis_background(2, argv);
        log_write(LOG_INFO, "Consent denied by the user",
                  (struct log_field[]){log_str("client_id", c->pending.client_id)}, 1);
        browser_redirect_error(ex, c->pending.redirect_uri, "access_denied", "the user denied the request",
                               c->pending.state);
        return;
    }
    if (c->session.sub) {
        browser_complete(ex, &c->pending, &c->session, false);
        return;
    }
    c->pending.approved = true;
    char *json = pending_to_json(&c->pending, NULL);
    const char *argv[] = {"SET", browser_key(ex, "authreq:", c->pending.id), json, "KEEPTTL", "XX"};
    (void)browser_redis(ex, approved_saved, c, 5, argv);
    free(json);
}

void consent_handle(struct http_exchange *ex)
{
    const struct http_request *req = http_request(ex);
    bool post = strcmp(req->method, "POST") == 0;
    if (!post && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_response_header(ex, "Allow", "GET, POST");
        page_error(ex, 405, "Method not allowed", "Use GET or POST for /consent.");
        return;
    }
    struct consent_ctx *c = http_exchange_alloc(ex, sizeof *c);
    memset(c, 0, sizeof *c);
    c->ex = ex;
    if (!browser_session(ex, &c->session)) {
        session_missing(ex);
        return;
    }
    const char *src = post ? req->body : req->query;
    size_t len = post ? req->body_len : strlen(req->query);
    c->req_id = browser_param(ex, src, len, "req");
    if (!c->req_id || !c->req_id[0] || strlen(c->req_id) > 64) {
        request_expired(ex);
        return;
    }
    if (post) {
        const char *csrf = browser_param(ex, src, len, "csrf");
        c->action = browser_param(ex, src, len, "action");
        if (!csrf_valid(c->session.sid, "consent", c->req_id, csrf)) {
            http_exchange_set_error(ex, "csrf");
            log_write(LOG_WARNING, "Consent form with a bad CSRF token",
                      (struct log_field[]){log_str("remote_addr", req->remote_addr)}, 1);
            page_error(ex, 403, "Forbidden",
                       "The form has expired or did not come from this server. Start again.");
            return;
        }
        if (!c->action || (strcmp(c->action, "approve") != 0 && strcmp(c->action, "deny") != 0)) {
            page_error(ex, 400, "Invalid form", "Choose Approve or Deny.");
            return;
        }
    }
    const char *argv[] = {"GET", browser_key(ex, "authreq:", c->req_id)};
    (void)browser_redis(ex, post ? submit_loaded : shown_loaded, c, 2, argv);
}
