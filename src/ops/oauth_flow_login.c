/*
 * oauth_flow_login.c - the login part of `mcpgw test-oauth-flow` (see oauth_flow_internal.h).
 *
 * The test client behaves like a browser on the authorization server's pages (docs/internals/
 * browser.md): it follows redirects, keeps the session cookie, approves the consent form and
 * either submits the local-users form or chooses GitHub. An identity provider that redirects
 * straight back (the fake GitHub of the tests, an already signed-in GitHub Enterprise) is
 * followed too. When a page needs a person (GitHub's real login page, or local users without
 * --user), the URL is printed and the redirect is awaited on the loopback listener instead.
 */
#include "oauth_flow_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/urlform.h"
#include "oauth_flow_parse.h"

#define MAX_HOPS 20

/* true when url is the registered redirect URI with the authorization response attached. */
static bool at_redirect_uri(const char *url, const char *redirect_uri)
{
    size_t n = strlen(redirect_uri);
    return strncmp(url, redirect_uri, n) == 0 && (url[n] == '?' || url[n] == '\0' || url[n] == '#');
}

static bool is_html(const struct flow_response *r)
{
    return r->content_type && strncasecmp(r->content_type, "text/html", 9) == 0;
}

/* "404: Title: message" or "404" for an answer we cannot use. */
static void describe(struct buf *why, const char *method, const char *url, const struct flow_response *r)
{
    char *summary = is_html(r) ? flow_html_summary(r->body.data ? r->body.data : "", r->body.len) : NULL;
    buf_printf(why, "%s %s answered %ld%s%s", method, url, r->status, summary ? ": " : "",
               summary ? summary : "");
    free(summary);
}

static void form_add(struct buf *body, const char *name, const char *value)
{
    if (body->len)
        buf_append_char(body, '&');
    url_encode(body, name, strlen(name));
    buf_append_char(body, '=');
    url_encode(body, value ? value : "", value ? strlen(value) : 0);
}

/* Open url in the desktop's browser, without waiting for it. */
static void open_in_browser(const char *url)
{
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", 0);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execlp("xdg-open", "xdg-open", url, (char *)NULL);
        _exit(127);
    }
    /* not reaped now: the loopback wait takes a while; the child is reaped when we exit */
}

static char *by_person(const struct flow_login *in, const char *reason, struct buf *how, struct buf *why)
{
    printf("...  login: %s%sopen this URL in a browser and log in (waiting up to %d s):\n       %s\n",
           reason ? reason : "", reason ? "; " : "", in->timeout_s, in->authorize_url);
    fflush(stdout);
    if (in->open_browser)
        open_in_browser(in->authorize_url);
    const char *p = strstr(in->redirect_uri, "://");
    p = p ? strchr(p + 3, '/') : NULL;
    char *target = flow_listener_wait(in->listener, p ? p : "/", in->timeout_s, why);
    if (!target)
        return NULL;
    char *url = flow_url_resolve(in->redirect_uri, target);
    free(target);
    if (!url)
        buf_append_str(why, "the loopback listener received an unusable request");
    else
        buf_append_str(how, "a person in a browser");
    return url;
}

static char *needs_person(const struct flow_login *in, const char *reason, struct buf *how, struct buf *why)
{
    if (!in->allow_browser) {
        buf_printf(why, "%s (--no-browser: not waiting for a person)", reason);
        return NULL;
    }
    buf_reset(how); /* what the walk chose so far is not how the login happens now */
    return by_person(in, reason, how, why);
}

char *flow_login_run(struct flow_http *h, const struct flow_login *in, struct buf *how, struct buf *why)
{
    if (in->browser_first)
        return by_person(in, NULL, how, why);
    char *auth_origin = flow_url_origin(in->authorize_url);
    char *url = gw_strdup(in->start_url ? in->start_url : in->authorize_url);
    const char *method = "GET";
    struct buf body;
    buf_init(&body, 64 * 1024);
    bool consented = false, posted_login = false;
    char *result = NULL, *upstream = NULL; /* the identity provider's origin, once visited */
    for (int hop = 0; hop < MAX_HOPS && !result; hop++) {
        struct flow_response r;
        struct flow_request req = {.method = method,
                                   .url = url,
                                   .body = body.len ? buf_cstr(&body) : NULL,
                                   .content_type = body.len ? "application/x-www-form-urlencoded" : NULL,
                                   .accept = "text/html,application/xhtml+xml,*/*;q=0.8"};
        if (!flow_http_do(h, &req, &r)) {
            buf_printf(why, "%s %s: %s", method, url, r.error);
            flow_response_free(&r);
            break;
        }
        bool from_auth = flow_same_origin(url, auth_origin);
        if (r.status >= 300 && r.status < 400 && r.location) {
            char *next = flow_url_resolve(url, r.location);
            flow_response_free(&r);
            if (!next) {
                buf_printf(why, "%s %s redirected to an unusable Location", method, url);
                break;
            }
            if (at_redirect_uri(next, in->redirect_uri)) {
                result = next;
                break;
            }
            if (!flow_same_origin(next, auth_origin) && !upstream)
                upstream = flow_url_origin(next);
            free(url);
            url = next;
            method = "GET";
            buf_reset(&body);
            continue;
        }
        const char *page = r.body.data ? r.body.data : "";
        if (r.status == 200 && is_html(&r) && !from_auth) {
            /* another site (the identity provider) shows a page: a person must log in there */
            char *origin = flow_url_origin(url);
            char reason[512];
            snprintf(reason, sizeof(reason), "%s shows a login page", origin ? origin : url);
            free(origin);
            flow_response_free(&r);
            result = needs_person(in, reason, how, why);
            break;
        }
        if (r.status != 200 || !is_html(&r)) {
            describe(why, method, url, &r);
            flow_response_free(&r);
            break;
        }
        char *action = flow_html_form_action(page, r.body.len);
        char *req_id = flow_html_control_value(page, r.body.len, "req");
        char *csrf = flow_html_control_value(page, r.body.len, "csrf");
        bool consent = flow_html_has_control(page, r.body.len, "action", "approve");
        bool local = flow_html_has_control(page, r.body.len, "password", NULL);
        bool github = flow_html_has_control(page, r.body.len, "action", "github");
        char *target = action ? flow_url_resolve(url, action) : NULL;
        buf_reset(&body);
        const char *stop = NULL;
        if (!target || !req_id || !csrf) {
            describe(why, method, url, &r);
        } else if (consent && !consented) {
            form_add(&body, "req", req_id);
            form_add(&body, "csrf", csrf);
            form_add(&body, "action", "approve");
            consented = true;
        } else if ((local || github) && !posted_login) {
            if (in->user && local) {
                form_add(&body, "req", req_id);
                form_add(&body, "csrf", csrf);
                form_add(&body, "action", "local");
                form_add(&body, "username", in->user);
                form_add(&body, "password", in->password ? in->password : "");
                buf_printf(how, "local user %s", in->user);
            } else if (in->user) {
                buf_printf(
                    why,
                    "--user %s given, but the login page offers no local users (LOCAL_USERS_FILE is not set)",
                    in->user);
            } else if (github) {
                form_add(&body, "req", req_id);
                form_add(&body, "csrf", csrf);
                form_add(&body, "action", "github");
                buf_append_str(how, "GitHub");
            } else {
                stop = "the login page asks for a local user (give --user NAME --password-stdin)";
            }
            posted_login = body.len > 0;
        } else {
            /* the same page again after we answered it: it says why */
            describe(why, method, url, &r);
        }
        free(action);
        free(req_id);
        if (csrf)
            memset(csrf, 0, strlen(csrf));
        free(csrf);
        flow_response_free(&r);
        if (stop) {
            free(target);
            result = needs_person(in, stop, how, why);
            break;
        }
        if (!body.len) {
            free(target);
            break;
        }
        free(url);
        url = target;
        method = "POST";
    }
    if (result && upstream && posted_login && !in->user)
        buf_printf(how, " at %s", upstream);
    free(upstream);
    if (!result && !why->len)
        buf_printf(why, "more than %d redirects and pages without reaching %s", MAX_HOPS, in->redirect_uri);
    /* the form body held the password */
    if (body.data)
        memset(body.data, 0, body.len);
    buf_free(&body);
    free(url);
    free(auth_origin);
    return result;
}
