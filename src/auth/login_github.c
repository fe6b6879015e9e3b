/*
 * login_github.c - sending the browser to GitHub: the upstream state (state:{state}, created only
 * now, after consent, single use, 600 s) and PKCE S256 towards GitHub. callback.c finishes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "auth/browser.h"
#include "auth/browser_internal.h"
#include "auth/pages.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/urlform.h"

struct github_start_ctx {
    struct http_exchange *ex;
    const char *state, *challenge, *pending_id, *client_id;
    struct session session;
    bool set_cookie;
};

static void state_saved(const struct redis_result *result, void *arg)
{
    struct github_start_ctx *c = arg;
    struct http_exchange *ex = c->ex;
    if (browser_redis_failed(ex, result))
        return;
    if (c->pending_id) {
        /* The request now lives in the upstream state; the consent/login link is spent. */
        const char *argv[] = {"DEL", browser_key(ex, "authreq:", c->pending_id)};
        browser_redis_background(2, argv);
    }
    const struct browser_config *cfg = browser_config();
    struct buf url;
    buf_init(&url, 8192);
    (void)buf_append_str(&url, cfg->github_base_url);
    while (url.len && url.data[url.len - 1] == '/')
        url.data[--url.len] = '\0';
    (void)buf_append_str(&url, "/login/oauth/authorize");
    (void)url_append_query_param(&url, "client_id", cfg->github_client_id);
    (void)url_append_query_param(&url, "redirect_uri", cfg->callback_url);
    (void)url_append_query_param(
        &url, "scope", cfg->policy.norgs ? "read:user user:email read:org" : "read:user user:email");
    (void)url_append_query_param(&url, "state", c->state);
    (void)url_append_query_param(&url, "code_challenge", c->challenge);
    (void)url_append_query_param(&url, "code_challenge_method", "S256");
    (void)url_append_query_param(&url, "allow_signup", "false");
    if (c->set_cookie)
        session_set_cookie(ex, &c->session, cfg->session_timeout);
    log_write(LOG_INFO, "GitHub OAuth login started",
              (struct log_field[]){log_str("client_id", c->client_id)}, 1);
    page_redirect(ex, buf_cstr(&url));
    buf_free(&url);
}

void github_login_start(struct http_exchange *ex, const struct pending_auth *p, const struct session *s,
                        bool set_cookie)
{
    struct github_start_ctx *c = http_exchange_alloc(ex, sizeof *c);
    memset(c, 0, sizeof *c);
    c->ex = ex;
    c->session = *s;
    c->set_cookie = set_cookie;
    c->pending_id = p->id;
    c->client_id = p->client_id;
    char *state = NULL, *verifier = NULL;
    if (crypto_random_token(32, &state) != GW_OK || crypto_random_token(32, &verifier) != GW_OK) {
        free(state);
        free(verifier);
        page_error(ex, 500, "Internal error", "No randomness available.");
        return;
    }
    char challenge[CRYPTO_SHA256_B64URL_LEN + 1];
    pkce_s256_challenge(verifier, strlen(verifier), challenge);
    c->state = http_exchange_strdup(ex, state);
    c->challenge = http_exchange_strdup(ex, challenge);
    struct pending_auth copy = *p;
    copy.approved = true;
    char *json = pending_to_json(&copy, verifier);
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%d", PENDING_TTL);
    const char *argv[] = {"SET", browser_key(ex, "state:", state), json, "EX", ttl};
    (void)browser_redis(ex, state_saved, c, 5, argv);
    crypto_wipe(json, strlen(json));
    free(json);
    crypto_wipe(verifier, strlen(verifier));
    free(verifier);
    free(state);
}
