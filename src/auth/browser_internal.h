/*
 * browser_internal.h - what the files of the browser half share (authorize.c, consent.c,
 * login_local.c, login_github.c, callback.c, browser_flow.c). Not for the rest of auth.
 *
 * The flow, and where its state lives:
 *   GET /authorize     checks the request and the client, stores the pending request as
 *                      authreq:{id} (600 s, bound to the browser's session id) and sends the
 *                      browser to /consent?req=ID; when the signed-in user approved this client
 *                      before (consent:{sub}:{client_id}), the code is issued at once.
 *   /consent           the consent page (CSRF token bound to session and request); approving
 *                      marks the request approved, then: signed in -> code; only GitHub ->
 *                      upstream login; local users configured -> /login?req=ID.
 *   /login             the login page (GitHub button and/or local-user form); local users are
 *                      checked here; GitHub: state:{state} is created now (after approval, right
 *                      before the redirect; single use, 600 s) and authreq is deleted.
 *   GET /callback      GETDEL state:{state}, same browser session, code exchange, /user,
 *                      /user/emails, /user/orgs, ALLOWED_GITHUB_* check -> code.
 * Handlers keep no close callback: the exchange stays alive until they answer, which every
 * Redis command (2 s) and GitHub request (10 s) deadline guarantees. Per-request memory lives in
 * the exchange arena.
 */
#ifndef MCPGW_AUTH_BROWSER_INTERNAL_H
#define MCPGW_AUTH_BROWSER_INTERNAL_H

#include <stdbool.h>

#include "auth/github.h"
#include "auth/session.h"
#include "core/http.h"
#include "core/redis.h"

#define PENDING_TTL 600              /* seconds a pending request and an upstream state live */
#define CONSENT_REMEMBER_TTL 2592000 /* seconds an approval is remembered (30 days) */
#define LOGIN_RATE_LIMIT 10          /* local login attempts per client address ... */
#define LOGIN_RATE_WINDOW 300        /* ... per this many seconds */

struct browser_config {
    bool github; /* GitHub login configured (GITHUB_CLIENT_ID) */
    bool local;  /* LOCAL_USERS_FILE configured */
    const char *github_client_id, *github_client_secret, *github_base_url, *github_api_url;
    const char *local_users_file;
    char *callback_url; /* issuer + "/callback" */
    struct github_policy policy;
    long long session_timeout;
    char **scopes; /* MCP_SCOPES */
    size_t nscopes;
};

const struct browser_config *browser_config(void);

/* A pending authorization request (authreq:{id}, or inside state:{state}). Strings live in the
 * exchange arena; state, resource and client_name may be NULL. */
struct pending_auth {
    const char *id;
    const char *client_id, *client_name, *redirect_uri, *state, *code_challenge, *resource, *scope;
    const char *sid; /* the browser session that started it */
    bool approved;
};
/* As JSON (caller frees); extra (may be NULL) adds "verifier". */
char *pending_to_json(const struct pending_auth *p, const char *verifier);
/* From JSON into arena strings; *verifier (may be NULL) gets "verifier". GW_ERR_INVALID. */
enum gw_err pending_from_json(struct http_exchange *ex, const char *json, size_t len,
                              struct pending_auth *out, const char **verifier);

/* "<prefix><kind><id>" in the arena. */
char *browser_key(struct http_exchange *ex, const char *kind, const char *id);
/* Send a Redis command; when refused answers a 503 page and returns false. */
bool browser_redis(struct http_exchange *ex, redis_callback_fn cb, void *arg, int argc, const char **argv);
/* Fire and forget (DEL, remembering consent): failures are only logged. */
void browser_redis_background(int argc, const char **argv);
/* In a callback: when the command failed, answers a 503 page and returns true. */
bool browser_redis_failed(struct http_exchange *ex, const struct redis_result *result);
void browser_unavailable(struct http_exchange *ex, const char *why);

/* The browser's session in the arena (strings copied). false when none/invalid: *out zeroed. */
bool browser_session(struct http_exchange *ex, struct session *out);
/* A new anonymous session (fresh sid) in the arena. false when no randomness (page sent). */
bool browser_session_new(struct http_exchange *ex, struct session *out);
/* The value of a query or form parameter in the arena; NULL when absent or repeated. */
const char *browser_param(struct http_exchange *ex, const char *src, size_t len, const char *name);

/* After consent and login: remember the approval, store the code (token_store), delete the
 * pending request, and redirect to the client with code, state and iss. set_cookie: send the
 * (new or updated) session cookie with the redirect. Answers the exchange. */
void browser_complete(struct http_exchange *ex, const struct pending_auth *p, const struct session *user,
                      bool set_cookie);
/* The client's error redirect URL (error, error_description, state, iss) as an arena string. */
const char *browser_error_url(struct http_exchange *ex, const char *redirect_uri, const char *error,
                              const char *description, const char *state);
/* Redirect the browser there. */
void browser_redirect_error(struct http_exchange *ex, const char *redirect_uri, const char *error,
                            const char *description, const char *state);
/* A page that explains a refusal and links back to the client with error=access_denied. */
void browser_denied_page(struct http_exchange *ex, const struct pending_auth *p, const char *message);

/* Count a login by provider ("github", "local") and result ("success", "denied", ...). */
void browser_count_login(const char *provider, const char *result);

/* consent.c / login_local.c / login_github.c entry points used across files. */
void login_show(struct http_exchange *ex, const struct pending_auth *p, const struct session *s, int status,
                const char *message);
void github_login_start(struct http_exchange *ex, const struct pending_auth *p, const struct session *s,
                        bool set_cookie);

/* The host of a URL for display ("" when none). Arena string. */
const char *browser_url_host(struct http_exchange *ex, const char *url);

#endif
