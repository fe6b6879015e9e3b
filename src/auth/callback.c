/*
 * callback.c - GET /callback: GitHub sends the browser back here. The upstream state is taken
 * (GETDEL: single use) and must belong to this browser session; then the code is exchanged
 * (PKCE verifier, Accept: application/json), the user read (/user, /user/emails when the
 * address is private, /user/orgs when ALLOWED_GITHUB_ORGS is set) and checked against
 * ALLOWED_GITHUB_USERS / ALLOWED_GITHUB_ORGS. GitHub down or slow ends in an error page within
 * the request deadlines, never a hang.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/browser.h"
#include "auth/browser_internal.h"
#include "auth/github.h"
#include "auth/pages.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/http_client.h"
#include "core/log.h"
#include "core/urlform.h"

#define GITHUB_CONNECT_TIMEOUT_MS 5000
#define GITHUB_TIMEOUT_MS 10000
#define GITHUB_MAX_RESPONSE (256 * 1024)

struct callback_ctx {
    struct http_exchange *ex;
    struct session session;
    const char *code, *github_error;
    struct pending_auth pending;
    const char *verifier;
    char *access_token; /* arena; wiped when done */
    struct github_user user;
    char *email;
    char **orgs;
    size_t norgs;
};

static void clear_ctx(struct callback_ctx *c)
{
    if (c->access_token)
        crypto_wipe(c->access_token, strlen(c->access_token));
    github_user_clear(&c->user);
    free(c->email);
    c->email = NULL;
    github_orgs_free(c->orgs, c->norgs);
    c->orgs = NULL;
    c->norgs = 0;
}

static void github_failed(struct callback_ctx *c, const char *step, const char *error, int status)
{
    auth_authentication_failed(
        "github_unavailable", "GitHub OAuth login failed: GitHub unreachable or odd answer",
        (struct log_field[]){log_str("step", step), log_str("error", error ? error : ""),
                             log_str("client_id", c->pending.client_id)},
        3);
    browser_count_login("github", "upstream_error");
    http_exchange_set_error(c->ex, "github_unavailable");
    clear_ctx(c);
    page_error(c->ex, status, "GitHub login failed",
               status == 504
                   ? "GitHub did not answer in time. Please try again in a moment."
                   : "GitHub could not be reached or gave an unexpected answer. Please try again later.");
}

static bool response_failed(struct callback_ctx *c, const char *step, const struct http_client_response *r)
{
    if (r->err == GW_ERR_TIMEOUT) {
        github_failed(c, step, "timeout", 504);
        return true;
    }
    if (r->err != GW_OK) {
        github_failed(c, step, r->error && r->error[0] ? r->error : gw_strerror(r->err), 502);
        return true;
    }
    if (r->status != 200) {
        char reason[64];
        snprintf(reason, sizeof reason, "HTTP %ld", r->status);
        github_failed(c, step, reason, 502);
        return true;
    }
    return false;
}

static bool github_get(struct callback_ctx *c, const char *path, http_client_done_fn done)
{
    const struct browser_config *cfg = browser_config();
    struct buf url, auth;
    buf_init(&url, 4096);
    buf_init(&auth, 4096);
    (void)buf_append_str(&url, cfg->github_api_url);
    while (url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    (void)buf_append_str(&url, path);
    (void)buf_printf(&auth, "Bearer %s", c->access_token);
    struct http_header headers[] = {{"Authorization", buf_cstr(&auth)},
                                    {"Accept", "application/vnd.github+json"},
                                    {"User-Agent", "mcpgw"},
                                    {"X-GitHub-Api-Version", "2022-11-28"}};
    struct http_client_request req = {
        .url = buf_cstr(&url),
        .headers = headers,
        .nheaders = 4,
        .connect_timeout_ms = GITHUB_CONNECT_TIMEOUT_MS,
        .timeout_ms = GITHUB_TIMEOUT_MS,
        .max_response_bytes = GITHUB_MAX_RESPONSE,
    };
    enum gw_err err = http_client_request(auth_worker()->http, &req, done, c, NULL);
    crypto_wipe(auth.data, auth.len);
    buf_free(&auth);
    buf_free(&url);
    if (err != GW_OK) {
        github_failed(c, path, gw_strerror(err), 502);
        return false;
    }
    return true;
}

static void decide(struct callback_ctx *c)
{
    struct http_exchange *ex = c->ex;
    const struct browser_config *cfg = browser_config();
    const char *reason = NULL;
    if (!github_user_allowed(&cfg->policy, c->user.login))
        reason = cfg->policy.nusers == 0 ? "ALLOWED_GITHUB_USERS is empty" : "not in ALLOWED_GITHUB_USERS";
    else if (!github_orgs_allowed(&cfg->policy, c->orgs, c->norgs))
        reason = "not a member of ALLOWED_GITHUB_ORGS";
    if (reason) {
        auth_authentication_failed("github_user_not_allowed", "GitHub OAuth login refused: user not allowed",
                                   (struct log_field[]){log_str("user", c->user.login),
                                                        log_str("detail", reason),
                                                        log_str("client_id", c->pending.client_id)},
                                   3);
        browser_count_login("github", "denied");
        http_exchange_set_identity(ex, c->user.login, c->pending.client_id);
        struct buf msg;
        buf_init(&msg, 4096);
        (void)buf_printf(&msg,
                         "The GitHub account \"%s\" is not allowed to use this gateway. Ask its operator to "
                         "add you.",
                         c->user.login);
        const char *text = http_exchange_strdup(ex, buf_cstr(&msg));
        buf_free(&msg);
        clear_ctx(c);
        browser_denied_page(ex, &c->pending, text);
        return;
    }
    struct session user = c->session;
    char sub[64];
    snprintf(sub, sizeof sub, "github:%lld", c->user.id);
    user.sub = http_exchange_strdup(ex, sub);
    user.username = http_exchange_strdup(ex, c->user.login);
    user.email = c->email ? http_exchange_strdup(ex, c->email)
                          : (c->user.email ? http_exchange_strdup(ex, c->user.email) : NULL);
    user.login_exp = auth_now() + cfg->session_timeout;
    browser_count_login("github", "success");
    log_write(
        LOG_INFO, "GitHub OAuth login succeeded",
        (struct log_field[]){log_str("user", user.username), log_str("client_id", c->pending.client_id)}, 2);
    clear_ctx(c);
    browser_complete(ex, &c->pending, &user, true);
}

static void orgs_done(struct http_client_response *r, void *arg)
{
    struct callback_ctx *c = arg;
    if (response_failed(c, "/user/orgs", r))
        return;
    if (github_parse_orgs(r->body.data ? r->body.data : "", r->body.len, &c->orgs, &c->norgs) != GW_OK) {
        github_failed(c, "/user/orgs", "not a JSON array", 502);
        return;
    }
    decide(c);
}

static void after_email(struct callback_ctx *c)
{
    if (browser_config()->policy.norgs && github_user_allowed(&browser_config()->policy, c->user.login)) {
        (void)github_get(c, "/user/orgs", orgs_done);
        return;
    }
    decide(c);
}

static void emails_done(struct http_client_response *r, void *arg)
{
    struct callback_ctx *c = arg;
    /* The e-mail address is optional: a failure here is logged, not fatal. */
    if (r->err == GW_OK && r->status == 200)
        c->email = github_parse_primary_email(r->body.data ? r->body.data : "", r->body.len);
    else
        log_write(LOG_WARNING, "GitHub OAuth: /user/emails failed, going on without an e-mail address",
                  (struct log_field[]){log_int("status", r->status)}, 1);
    after_email(c);
}

static void user_done(struct http_client_response *r, void *arg)
{
    struct callback_ctx *c = arg;
    if (response_failed(c, "/user", r))
        return;
    if (github_parse_user(r->body.data ? r->body.data : "", r->body.len, &c->user) != GW_OK) {
        github_failed(c, "/user", "unexpected answer", 502);
        return;
    }
    if (!c->user.email) {
        (void)github_get(c, "/user/emails", emails_done);
        return;
    }
    after_email(c);
}

static void token_done(struct http_client_response *r, void *arg)
{
    struct callback_ctx *c = arg;
    struct http_exchange *ex = c->ex;
    if (response_failed(c, "token exchange", r))
        return;
    char *token = NULL;
    char error[64];
    enum gw_err err = github_parse_token_response(r->body.data ? r->body.data : "", r->body.len, &token,
                                                  error, sizeof error);
    if (err == GW_ERR_PROTOCOL) {
        auth_authentication_failed(
            "github_exchange_refused", "GitHub OAuth login failed: GitHub refused the code exchange",
            (struct log_field[]){log_str("github_error", error), log_str("client_id", c->pending.client_id)},
            2);
        browser_count_login("github", "exchange_refused");
        http_exchange_set_error(ex, "github_exchange_refused");
        if (strcmp(error, "bad_verification_code") == 0)
            page_error(ex, 400, "GitHub login failed",
                       "GitHub says the login code is invalid or expired. Start again from the application.");
        else
            page_error(
                ex, 502, "GitHub login failed",
                "GitHub refused this server's credentials (a configuration problem); the operator has been "
                "told in the log.");
        return;
    }
    if (err != GW_OK) {
        github_failed(c, "token exchange", "unexpected answer", 502);
        return;
    }
    c->access_token = http_exchange_strdup(ex, token);
    crypto_wipe(token, strlen(token));
    free(token);
    (void)github_get(c, "/user", user_done);
}

static void state_taken(const struct redis_result *result, void *arg)
{
    struct callback_ctx *c = arg;
    struct http_exchange *ex = c->ex;
    if (browser_redis_failed(ex, result))
        return;
    const redisReply *rep = result->reply;
    if (rep->type != REDIS_REPLY_STRING ||
        pending_from_json(ex, rep->str, rep->len, &c->pending, &c->verifier) != GW_OK || !c->verifier) {
        http_exchange_set_error(ex, "invalid_state");
        page_error(ex, 400, "Login expired",
                   "This login has expired or was already completed. Start again from the application.");
        return;
    }
    if (strcmp(c->pending.sid, c->session.sid) != 0) {
        http_exchange_set_error(ex, "session_mismatch");
        auth_authentication_failed("session_mismatch",
                                   "GitHub OAuth login refused: callback from another browser session",
                                   (struct log_field[]){log_str("client_id", c->pending.client_id)}, 1);
        page_error(ex, 403, "Wrong browser session",
                   "This login was started in another browser session. Start again from the application.");
        return;
    }
    if (c->github_error) {
        browser_count_login("github", "cancelled");
        log_write(LOG_INFO, "GitHub OAuth login not completed at GitHub",
                  (struct log_field[]){log_str("github_error", c->github_error),
                                       log_str("client_id", c->pending.client_id)},
                  2);
        browser_redirect_error(ex, c->pending.redirect_uri, "access_denied",
                               "the GitHub login was not completed", c->pending.state);
        return;
    }
    const struct browser_config *cfg = browser_config();
    struct buf body, url;
    buf_init(&body, 16384);
    buf_init(&url, 4096);
    (void)url_append_query_param(&body, "client_id", cfg->github_client_id);
    (void)url_append_query_param(&body, "client_secret", cfg->github_client_secret);
    (void)url_append_query_param(&body, "code", c->code);
    (void)url_append_query_param(&body, "redirect_uri", cfg->callback_url);
    (void)url_append_query_param(&body, "code_verifier", c->verifier);
    /* url_append_query_param starts with '?'; a form body does not. */
    const char *form = body.data && body.data[0] == '?' ? body.data + 1 : buf_cstr(&body);
    (void)buf_append_str(&url, cfg->github_base_url);
    while (url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    (void)buf_append_str(&url, "/login/oauth/access_token");
    struct http_header headers[] = {{"Accept", "application/json"},
                                    {"Content-Type", "application/x-www-form-urlencoded"},
                                    {"User-Agent", "mcpgw"}};
    struct http_client_request req = {
        .method = "POST",
        .url = buf_cstr(&url),
        .headers = headers,
        .nheaders = 3,
        .body = form,
        .body_len = strlen(form),
        .connect_timeout_ms = GITHUB_CONNECT_TIMEOUT_MS,
        .timeout_ms = GITHUB_TIMEOUT_MS,
        .max_response_bytes = GITHUB_MAX_RESPONSE,
    };
    enum gw_err err = http_client_request(auth_worker()->http, &req, token_done, c, NULL);
    crypto_wipe(body.data, body.len);
    buf_free(&body);
    buf_free(&url);
    if (err != GW_OK)
        github_failed(c, "token exchange", gw_strerror(err), 502);
}

void callback_handle(struct http_exchange *ex)
{
    const struct http_request *req = http_request(ex);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_response_header(ex, "Allow", "GET");
        page_error(ex, 405, "Method not allowed", "Use GET for /callback.");
        return;
    }
    if (!browser_config()->github) {
        page_error(ex, 404, "Not found", "GitHub login is not configured on this server.");
        return;
    }
    struct callback_ctx *c = http_exchange_alloc(ex, sizeof *c);
    memset(c, 0, sizeof *c);
    c->ex = ex;
    size_t qlen = strlen(req->query);
    const char *state = browser_param(ex, req->query, qlen, "state");
    c->code = browser_param(ex, req->query, qlen, "code");
    c->github_error = browser_param(ex, req->query, qlen, "error");
    if (!state || !state[0] || strlen(state) > 128) {
        http_exchange_set_error(ex, "invalid_state");
        page_error(ex, 400, "Invalid login response", "The response from GitHub has no valid state.");
        return;
    }
    if (!c->github_error && (!c->code || !c->code[0] || strlen(c->code) > 512)) {
        http_exchange_set_error(ex, "invalid_request");
        page_error(ex, 400, "Invalid login response", "The response from GitHub has no code.");
        return;
    }
    if (!browser_session(ex, &c->session)) {
        http_exchange_set_error(ex, "session_missing");
        page_error(
            ex, 400, "Session expired",
            "Your login session has expired or your browser does not accept cookies. Start again from the "
            "application.");
        return;
    }
    const char *argv[] = {"GETDEL", browser_key(ex, "state:", state)};
    (void)browser_redis(ex, state_taken, c, 2, argv);
}
