/*
 * browser_flow.c - shared machinery of the browser half (see browser_internal.h): setup, the
 * pending-request record, Redis and session helpers, and the final authorization response.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/browser.h"
#include "auth/browser_internal.h"
#include "auth/local_users.h"
#include "auth/pages.h"
#include "auth/token_store.h"
#include "auth/user_policy.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/public_url.h"
#include "core/urlform.h"

/* Set once by browser_setup before workers start; read-only afterwards. */
static struct browser_config config;
static struct metric_family *logins_metric;

const struct browser_config *browser_config(void)
{
    return &config;
}

enum gw_err browser_setup(struct buf *errors)
{
    const struct auth_state *st = auth_state();
    const struct config *cfg = st->cfg;
    config.github_client_id = config_get(cfg, "GITHUB_CLIENT_ID", "");
    config.github_client_secret = config_get(cfg, "GITHUB_CLIENT_SECRET", "");
    config.github_base_url = config_get(cfg, "GITHUB_BASE_URL", "https://github.com");
    config.github_api_url = config_get(cfg, "GITHUB_API_URL", "https://api.github.com");
    config.local_users_file = config_get(cfg, "LOCAL_USERS_FILE", "");
    config.github = config.github_client_id[0] != '\0';
    config.local = config.local_users_file[0] != '\0';
    config.session_timeout = config_get_int(cfg, "SESSION_TIMEOUT", 3600);
    size_t n = strlen(st->issuer) + sizeof "/callback";
    config.callback_url = gw_malloc(n);
    snprintf(config.callback_url, n, "%s/callback", st->issuer);
    config.scopes = config_get_list(cfg, "MCP_SCOPES", &config.nscopes);
    github_policy_load(cfg, &config.policy);

    if (!config.github && !config.local) {
        buf_append_str(
            errors,
            "ERROR: Required variable GITHUB_CLIENT_ID not set (or set LOCAL_USERS_FILE for local users)\n");
        return GW_ERR_CONFIG;
    }
    if (config.github && !config.github_client_secret[0]) {
        buf_append_str(errors, "ERROR: Required variable GITHUB_CLIENT_SECRET not set\n");
        return GW_ERR_CONFIG;
    }
    if (config.github && config.policy.nusers == 0)
        log_write(
            LOG_WARNING,
            "ALLOWED_GITHUB_USERS is empty: no GitHub user can log in (set a comma list of logins, or * for "
            "anyone)",
            NULL, 0);
    if (config.local) {
        char *problems = NULL;
        if (local_users_setup(config.local_users_file, &problems) != GW_OK) {
            buf_append_str(errors, problems ? problems : "ERROR: LOCAL_USERS_FILE is not usable\n");
            free(problems);
            return GW_ERR_CONFIG;
        }
    }
    enum gw_err err = session_setup(cfg, st->issuer);
    if (err != GW_OK) {
        buf_printf(errors, "ERROR: cannot read or create the session key in DATA_DIR %s: %s\n",
                   config_get(cfg, "DATA_DIR", "./data"), gw_strerror(err));
        return err;
    }
    static const char *const labels[] = {"provider", "result"};
    if (!logins_metric)
        logins_metric =
            metrics_register(METRIC_COUNTER, "auth_logins_total",
                             "Browser logins by identity provider and result", labels, 2, NULL, 0);
    log_write(LOG_INFO, "Browser login ready",
              (struct log_field[]){log_bool("github", config.github), log_bool("local_users", config.local),
                                   log_bool("secure_cookie", session_cookie_secure())},
              3);
    return GW_OK;
}

void browser_teardown(void)
{
    free(config.callback_url);
    config_list_free(config.scopes, config.nscopes);
    github_policy_free(&config.policy);
    memset(&config, 0, sizeof config);
}

enum gw_err browser_user_still_allowed(const char *sub, const char *username, const char **why)
{
    struct user_policy p = {.github = config.github ? &config.policy : NULL,
                            .local_users_file = config.local ? config.local_users_file : NULL};
    return user_policy_check(&p, sub, username, why);
}

void browser_count_login(const char *provider, const char *result)
{
    if (logins_metric)
        metrics_add(logins_metric, (const char *const[]){provider, result}, 1);
}

/* ---- pending requests ---- */

static void set_opt(json_t *obj, const char *name, const char *value)
{
    if (value)
        json_object_set_new(obj, name, json_string(value));
}

char *pending_to_json(const struct pending_auth *p, const char *verifier)
{
    json_t *obj = json_object();
    set_opt(obj, "id", p->id);
    set_opt(obj, "client_id", p->client_id);
    set_opt(obj, "client_name", p->client_name);
    set_opt(obj, "redirect_uri", p->redirect_uri);
    set_opt(obj, "state", p->state);
    set_opt(obj, "code_challenge", p->code_challenge);
    set_opt(obj, "resource", p->resource);
    set_opt(obj, "scope", p->scope);
    set_opt(obj, "sid", p->sid);
    set_opt(obj, "verifier", verifier);
    json_object_set_new(obj, "approved", json_boolean(p->approved));
    char *out = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (!out)
        gw_oom(0);
    return out;
}

static const char *arena_member(struct http_exchange *ex, json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return json_is_string(v) ? http_exchange_strdup(ex, json_string_value(v)) : NULL;
}

enum gw_err pending_from_json(struct http_exchange *ex, const char *json, size_t len,
                              struct pending_auth *out, const char **verifier)
{
    memset(out, 0, sizeof *out);
    json_t *obj = json_loadb(json, len, 0, NULL);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return GW_ERR_INVALID;
    }
    out->id = arena_member(ex, obj, "id");
    out->client_id = arena_member(ex, obj, "client_id");
    out->client_name = arena_member(ex, obj, "client_name");
    out->redirect_uri = arena_member(ex, obj, "redirect_uri");
    out->state = arena_member(ex, obj, "state");
    out->code_challenge = arena_member(ex, obj, "code_challenge");
    out->resource = arena_member(ex, obj, "resource");
    out->scope = arena_member(ex, obj, "scope");
    out->sid = arena_member(ex, obj, "sid");
    out->approved = json_is_true(json_object_get(obj, "approved"));
    if (verifier)
        *verifier = arena_member(ex, obj, "verifier");
    json_decref(obj);
    if (!out->client_id || !out->redirect_uri || !out->code_challenge || !out->sid)
        return GW_ERR_INVALID;
    return GW_OK;
}

/* ---- Redis ---- */

char *browser_key(struct http_exchange *ex, const char *kind, const char *id)
{
    const char *prefix = auth_state()->key_prefix;
    size_t n = strlen(prefix) + strlen(kind) + strlen(id) + 1;
    char *key = http_exchange_alloc(ex, n);
    snprintf(key, n, "%s%s%s", prefix, kind, id);
    return key;
}

void browser_unavailable(struct http_exchange *ex, const char *why)
{
    log_write(LOG_ERROR, "Could not connect to Redis",
              (struct log_field[]){log_str("reason", why ? why : "")}, 1);
    http_exchange_set_error(ex, "redis_unavailable");
    http_response_header(ex, "Retry-After", "5");
    page_error(ex, 503, "Temporarily unavailable",
               "The authorization server cannot reach its database right now. Please try again in a moment.");
}

bool browser_redis(struct http_exchange *ex, redis_callback_fn cb, void *arg, int argc, const char **argv)
{
    struct auth_worker *w = auth_worker();
    if (!w || !w->redis || redis_command_argv(w->redis, cb, arg, argc, argv, NULL) != GW_OK) {
        browser_unavailable(ex, w && w->redis ? redis_client_last_error(w->redis) : "no client");
        return false;
    }
    return true;
}

static void background_done(const struct redis_result *result, void *arg)
{
    (void)arg;
    if (result->err != GW_OK && result->err != GW_ERR_CLOSED)
        log_write(LOG_WARNING, "Redis command of the login flow failed",
                  (struct log_field[]){log_str("reason", result->error ? result->error : "")}, 1);
}

void browser_redis_background(int argc, const char **argv)
{
    struct auth_worker *w = auth_worker();
    if (w && w->redis)
        (void)redis_command_argv(w->redis, background_done, NULL, argc, argv, NULL);
}

bool browser_redis_failed(struct http_exchange *ex, const struct redis_result *result)
{
    if (result->err == GW_OK)
        return false;
    browser_unavailable(ex, result->error);
    return true;
}

/* ---- sessions and parameters ---- */

static const char *arena_dup_opt(struct http_exchange *ex, const char *s)
{
    return s ? http_exchange_strdup(ex, s) : NULL;
}

bool browser_session(struct http_exchange *ex, struct session *out)
{
    struct session s;
    if (!session_from_request(ex, auth_now(), &s)) {
        memset(out, 0, sizeof *out);
        return false;
    }
    out->sid = (char *)arena_dup_opt(ex, s.sid);
    out->sub = (char *)arena_dup_opt(ex, s.sub);
    out->username = (char *)arena_dup_opt(ex, s.username);
    out->email = (char *)arena_dup_opt(ex, s.email);
    out->login_exp = s.login_exp;
    session_clear(&s);
    return true;
}

bool browser_session_new(struct http_exchange *ex, struct session *out)
{
    memset(out, 0, sizeof *out);
    char sid[SESSION_SID_LEN + 1];
    if (session_new_sid(sid) != GW_OK) {
        page_error(ex, 500, "Internal error", "No randomness available.");
        return false;
    }
    out->sid = http_exchange_strdup(ex, sid);
    return true;
}

const char *browser_param(struct http_exchange *ex, const char *src, size_t len, const char *name)
{
    struct form f = {0};
    if (form_parse(src, len, &f) != GW_OK)
        return NULL;
    const char *v = form_is_repeated(&f, name) ? NULL : form_get(&f, name);
    const char *out = arena_dup_opt(ex, v);
    form_free(&f);
    return out;
}

const char *browser_url_host(struct http_exchange *ex, const char *url)
{
    struct url_parts u;
    if (!url || url_split(url, strlen(url), &u) != GW_OK)
        return "";
    if (!u.host.len)
        return http_exchange_strdup(ex, url); /* private-use scheme: show it whole */
    char *h = http_exchange_alloc(ex, u.host.len + 1);
    memcpy(h, u.host.ptr, u.host.len);
    h[u.host.len] = '\0';
    return h;
}

/* ---- the authorization response ---- */

const char *browser_error_url(struct http_exchange *ex, const char *redirect_uri, const char *error,
                              const char *description, const char *state)
{
    struct buf url;
    buf_init(&url, 16384);
    (void)buf_append_str(&url, redirect_uri);
    (void)url_append_query_param(&url, "error", error);
    if (description)
        (void)url_append_query_param(&url, "error_description", description);
    if (state)
        (void)url_append_query_param(&url, "state", state);
    (void)url_append_query_param(&url, "iss", auth_state()->issuer);
    const char *out = http_exchange_strdup(ex, buf_cstr(&url));
    buf_free(&url);
    return out;
}

void browser_redirect_error(struct http_exchange *ex, const char *redirect_uri, const char *error,
                            const char *description, const char *state)
{
    http_exchange_set_error(ex, error);
    page_redirect(ex, browser_error_url(ex, redirect_uri, error, description, state));
}

void browser_denied_page(struct http_exchange *ex, const struct pending_auth *p, const char *message)
{
    const char *back =
        browser_error_url(ex, p->redirect_uri, "access_denied", "the user is not allowed", p->state);
    struct buf body;
    buf_init(&body, 64 * 1024);
    (void)buf_append_str(&body, "<div class=\"box\"><p>");
    (void)html_escape(&body, message);
    (void)buf_append_str(&body, "</p><p><a href=\"");
    (void)html_escape(&body, back);
    (void)buf_append_str(&body, "\">Return to the application</a></p></div>");
    http_exchange_set_error(ex, "access_denied");
    page_respond(ex, 403, "Access denied", buf_cstr(&body));
    buf_free(&body);
}

struct complete_ctx {
    struct http_exchange *ex;
    struct pending_auth pending;
    struct session user;
    bool set_cookie;
};

static void code_stored(enum gw_err err, const char *code, void *arg)
{
    struct complete_ctx *c = arg;
    struct http_exchange *ex = c->ex;
    if (err != GW_OK || !code) {
        browser_unavailable(ex, "storing the authorization code failed");
        return;
    }
    if (c->pending.id) {
        const char *del[] = {"DEL", browser_key(ex, "authreq:", c->pending.id)};
        browser_redis_background(2, del);
    }
    struct buf url;
    buf_init(&url, 16384);
    (void)buf_append_str(&url, c->pending.redirect_uri);
    (void)url_append_query_param(&url, "code", code);
    if (c->pending.state)
        (void)url_append_query_param(&url, "state", c->pending.state);
    (void)url_append_query_param(&url, "iss", auth_state()->issuer);
    if (c->set_cookie)
        session_set_cookie(ex, &c->user, browser_config()->session_timeout);
    log_write(LOG_INFO, "Authorization code issued",
              (struct log_field[]){log_str("user", c->user.username ? c->user.username : ""),
                                   log_str("client_id", c->pending.client_id)},
              2);
    page_redirect(ex, buf_cstr(&url));
    buf_free(&url);
}

void browser_complete(struct http_exchange *ex, const struct pending_auth *p, const struct session *user,
                      bool set_cookie)
{
    struct complete_ctx *c = http_exchange_alloc(ex, sizeof *c);
    memset(c, 0, sizeof *c);
    c->ex = ex;
    c->pending = *p;
    c->user = *user;
    c->set_cookie = set_cookie;
    http_exchange_set_identity(ex, user->username, p->client_id);
    /* Remember the approval for this user and client (the scope approved). */
    size_t n = strlen(user->sub) + 1 + strlen(p->client_id) + 1;
    char *id = http_exchange_alloc(ex, n);
    snprintf(id, n, "%s:%s", user->sub, p->client_id);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", CONSENT_REMEMBER_TTL);
    const char *remember[] = {"SET", browser_key(ex, "consent:", id), p->scope ? p->scope : "", "EX", ttl};
    browser_redis_background(5, remember);
    struct auth_code_grant grant = {
        .client_id = p->client_id,
        .redirect_uri = p->redirect_uri,
        .code_challenge = p->code_challenge,
        .resource = p->resource,
        .scope = p->scope,
        .sub = user->sub,
        .username = user->username,
        .email = user->email,
    };
    auth_code_store(auth_worker(), &grant, code_stored, c);
}
