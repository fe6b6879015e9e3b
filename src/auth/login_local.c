/*
 * login_local.c - GET/POST /login: the login page (GitHub button and/or the local-user form)
 * and the local-user check: CSRF-protected, rate-limited per client address, the same generic
 * error for an unknown name and a wrong password, and the same work for both (a dummy hash is
 * checked for unknown names). bcrypt runs on a helper thread so the worker's event loop never
 * waits for it.
 */
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "auth/browser.h"
#include "auth/browser_internal.h"
#include "auth/local_users.h"
#include "auth/pages.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/urlform.h"

struct login_ctx {
    struct http_exchange *ex;
    struct session session;
    const char *req_id;
    const char *action; /* POST: "github" or "local" */
    const char *username;
    char *password; /* heap, wiped and freed after the check */
    struct pending_auth pending;
};

void login_show(struct http_exchange *ex, const struct pending_auth *p, const struct session *s, int status,
                const char *message)
{
    const struct browser_config *cfg = browser_config();
    char csrf[CSRF_TOKEN_LEN + 1];
    csrf_token(s->sid, "login", p->id, csrf);
    struct buf b;
    buf_init(&b, 64 * 1024);
    (void)buf_append_str(&b, "<div class=\"box\">");
    if (message) {
        (void)buf_append_str(&b, "<p role=\"alert\"><strong>");
        (void)html_escape(&b, message);
        (void)buf_append_str(&b, "</strong></p>");
    }
    (void)buf_append_str(&b, "<p>Sign in to continue to <strong>");
    (void)html_escape(&b, p->client_name && p->client_name[0] ? p->client_name : p->client_id);
    (void)buf_append_str(&b, "</strong>.</p>");
    if (cfg->github) {
        (void)buf_append_str(
            &b, "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"req\" value=\"");
        (void)html_escape(&b, p->id);
        (void)buf_append_str(&b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
        (void)html_escape(&b, csrf);
        (void)buf_append_str(&b, "\"><button type=\"submit\" name=\"action\" value=\"github\" id=\"github\">"
                                 "Sign in with GitHub</button></form>");
    }
    if (cfg->local) {
        if (cfg->github)
            (void)buf_append_str(&b, "<p>or with a local account:</p>");
        (void)buf_append_str(
            &b, "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"req\" value=\"");
        (void)html_escape(&b, p->id);
        (void)buf_append_str(&b, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
        (void)html_escape(&b, csrf);
        (void)buf_append_str(&b, "\"><input type=\"hidden\" name=\"action\" value=\"local\">"
                                 "<label>User name <input type=\"text\" name=\"username\" id=\"username\" "
                                 "autocomplete=\"username\" required></label>"
                                 "<label>Password <input type=\"password\" name=\"password\" id=\"password\" "
                                 "autocomplete=\"current-password\" required></label>"
                                 "<button type=\"submit\" id=\"signin\">Sign in</button></form>");
    }
    (void)buf_append_str(&b, "</div>");
    page_respond(ex, status, "Sign in", buf_cstr(&b));
    buf_free(&b);
}

/* ---- the password check on a helper thread ----
 *
 * The thread (core/offload) works on its own heap job: copies of the name, password and file
 * path. It never touches the loop, the exchange or libevent, so if the worker stops first the
 * thread still ends cleanly. */

struct password_job {
    char *file, *username, *password;
    bool ok;
    struct login_ctx *ctx; /* touched on the loop only */
};

static void password_job_free(void *arg)
{
    struct password_job *job = arg;
    if (job->password) {
        crypto_wipe(job->password, strlen(job->password));
        free(job->password);
    }
    free(job->username);
    free(job->file);
    free(job);
}

static void check_password(void *arg)
{
    struct password_job *job = arg;
    char *hash = users_file_find_in_file(job->file, job->username);
    job->ok = local_password_verify(hash, job->password);
    free(hash);
}

static void password_checked(void *arg)
{
    struct password_job *job = arg;
    struct login_ctx *c = job->ctx;
    bool ok = job->ok;
    struct http_exchange *ex = c->ex;
    if (!ok) {
        browser_count_login("local", "invalid_credentials");
        auth_authentication_failed(
            "invalid_credentials", "local login with a wrong user name or password",
            (struct log_field[]){log_str("user", c->username),
                                 log_str("remote_addr", http_request(ex)->remote_addr)},
            2);
        http_exchange_set_error(ex, "invalid_credentials");
        login_show(ex, &c->pending, &c->session, 401, "Invalid user name or password.");
        return;
    }
    browser_count_login("local", "success");
    log_write(LOG_INFO, "Local user logged in", (struct log_field[]){log_str("user", c->username)}, 1);
    struct session user = c->session;
    size_t len = strlen(c->username) + sizeof "local:";
    char *sub = http_exchange_alloc(ex, len);
    snprintf(sub, len, "local:%s", c->username);
    user.sub = sub;
    user.username = (char *)c->username;
    user.email = NULL;
    user.login_exp = auth_now() + browser_config()->session_timeout;
    browser_complete(ex, &c->pending, &user, true);
}

/* Takes c->password (freed here in every case). */
static void start_password_check(struct login_ctx *c)
{
    struct password_job *job = gw_calloc(1, sizeof *job);
    job->file = gw_strdup(browser_config()->local_users_file);
    job->username = gw_strdup(c->username);
    job->password = c->password;
    c->password = NULL;
    job->ctx = c;
    if (!offload_start(http_exchange_base(c->ex), job, check_password, password_checked, password_job_free)) {
        password_job_free(job);
        page_error(c->ex, 500, "Internal error", "The password check could not start.");
    }
}

/* Count an attempt; the window starts with the first one. One script, so a counter can never
 * be left without its expiry (which would lock the address out for good). */
static const char login_attempt_script[] = "local n = redis.call('INCR', KEYS[1])\n"
                                           "if redis.call('TTL', KEYS[1]) < 0 then\n"
                                           "  redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
                                           "end\n"
                                           "return n\n";

static void rate_counted(const struct redis_result *result, void *arg)
{
    struct login_ctx *c = arg;
    if (browser_redis_failed(c->ex, result)) {
        crypto_wipe(c->password, strlen(c->password));
        free(c->password);
        c->password = NULL;
        return;
    }
    long long count = result->reply->type == REDIS_REPLY_INTEGER ? result->reply->integer : 0;
    if (count > LOGIN_RATE_LIMIT) {
        crypto_wipe(c->password, strlen(c->password));
        free(c->password);
        c->password = NULL;
        browser_count_login("local", "rate_limited");
        log_write(LOG_WARNING, "Local login rate limit hit",
                  (struct log_field[]){log_str("remote_addr", http_client_ip(c->ex))}, 1);
        http_exchange_set_error(c->ex, "rate_limited");
        char retry[24];
        snprintf(retry, sizeof retry, "%d", LOGIN_RATE_WINDOW);
        http_response_header(c->ex, "Retry-After", retry);
        page_error(c->ex, 429, "Too many attempts",
                   "Too many sign-in attempts. Wait a few minutes and try again.");
        return;
    }
    start_password_check(c);
}

static void pending_loaded(const struct redis_result *result, void *arg)
{
    struct login_ctx *c = arg;
    struct http_exchange *ex = c->ex;
    if (browser_redis_failed(ex, result))
        return;
    const redisReply *r = result->reply;
    if (r->type != REDIS_REPLY_STRING || pending_from_json(ex, r->str, r->len, &c->pending, NULL) != GW_OK ||
        !c->pending.id || !c->pending.approved) {
        http_exchange_set_error(ex, "request_expired");
        page_error(ex, 400, "Request expired",
                   "This sign-in request has expired or was already used. Start again from the application.");
        return;
    }
    if (strcmp(c->pending.sid, c->session.sid) != 0) {
        http_exchange_set_error(ex, "session_mismatch");
        page_error(
            ex, 403, "Wrong browser session",
            "This sign-in request was started in another browser session. Start again from the application.");
        return;
    }
    if (!c->action) {
        login_show(ex, &c->pending, &c->session, 200, NULL);
        return;
    }
    if (strcmp(c->action, "github") == 0) {
        github_login_start(ex, &c->pending, &c->session, false);
        return;
    }
    const char *password = browser_param(ex, http_request(ex)->body, http_request(ex)->body_len, "password");
    if (!c->username || !users_file_name_valid(c->username) || !password || !password[0] ||
        strlen(password) > LOCAL_PASSWORD_MAX) {
        http_exchange_set_error(ex, "invalid_credentials");
        login_show(ex, &c->pending, &c->session, 401, "Invalid user name or password.");
        return;
    }
    c->password = gw_strdup(password);
    crypto_wipe((char *)password, strlen(password));
    /* per client address: behind the router that is the X-Forwarded-For address it adds, not
     * the router's own (which would make one budget for everybody) */
    char window[24];
    snprintf(window, sizeof window, "%d", LOGIN_RATE_WINDOW);
    const char *argv[] = {"EVAL", login_attempt_script, "1",
                          browser_key(ex, "ratelimit:login:", http_client_ip(ex)), window};
    if (!browser_redis(ex, rate_counted, c, 5, argv)) {
        crypto_wipe(c->password, strlen(c->password));
        free(c->password);
        c->password = NULL;
    }
}

void login_handle(struct http_exchange *ex)
{
    const struct http_request *req = http_request(ex);
    bool post = strcmp(req->method, "POST") == 0;
    if (!post && strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        http_response_header(ex, "Allow", "GET, POST");
        page_error(ex, 405, "Method not allowed", "Use GET or POST for /login.");
        return;
    }
    struct login_ctx *c = http_exchange_alloc(ex, sizeof *c);
    memset(c, 0, sizeof *c);
    c->ex = ex;
    if (!browser_session(ex, &c->session)) {
        http_exchange_set_error(ex, "session_missing");
        page_error(
            ex, 400, "Session expired",
            "Your login session has expired or your browser does not accept cookies. Start again from the "
            "application.");
        return;
    }
    const char *src = post ? req->body : req->query;
    size_t len = post ? req->body_len : strlen(req->query);
    c->req_id = browser_param(ex, src, len, "req");
    if (!c->req_id || !c->req_id[0] || strlen(c->req_id) > 64) {
        page_error(ex, 400, "Request expired",
                   "This sign-in request is missing. Start again from the application.");
        return;
    }
    if (post) {
        const char *csrf = browser_param(ex, src, len, "csrf");
        c->action = browser_param(ex, src, len, "action");
        c->username = browser_param(ex, src, len, "username");
        if (!csrf_valid(c->session.sid, "login", c->req_id, csrf)) {
            http_exchange_set_error(ex, "csrf");
            page_error(ex, 403, "Forbidden",
                       "The form has expired or did not come from this server. Start again.");
            return;
        }
        const struct browser_config *cfg = browser_config();
        if (!c->action || !((strcmp(c->action, "github") == 0 && cfg->github) ||
                            (strcmp(c->action, "local") == 0 && cfg->local))) {
            page_error(ex, 400, "Invalid form", "Choose a way to sign in.");
            return;
        }
    }
    const char *argv[] = {"GET", browser_key(ex, "authreq:", c->req_id)};
    (void)browser_redis(ex, pending_loaded, c, 2, argv);
}
