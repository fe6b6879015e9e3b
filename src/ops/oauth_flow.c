/*
 * oauth_flow.c - `mcpgw test-oauth-flow` (see oauth_flow.h): what an MCP client does against the
 * public URLs of the running stack, step by step, as the MCP authorization spec describes it:
 *
 *   discovery        an MCP request without a token gets 401 + WWW-Authenticate resource_metadata
 *   resource meta    RFC 9728 document: resource, authorization_servers
 *   AS metadata      RFC 8414 document of the issuer: endpoints, S256
 *   registration     RFC 7591, a public client with a loopback redirect URI (RFC 8252)
 *   authorization    PKCE S256, state, resource (RFC 8707)
 *   login            consent and login (oauth_flow_login.c); state and iss (RFC 9207) checked
 *   token            code exchange; the token's audience is the service
 *   refresh          refresh grant; the refresh token is rotated
 *   initialize, tools/list, tools/call   MCP through the router with the token
 *   revoke           RFC 7009 for both tokens; the router must then refuse the access token
 *   clean-up         RFC 7592 DELETE of the test client
 *
 * Tokens, codes and the password are never printed: a token shows as its first characters.
 */
#include "oauth_flow.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/public_url.h"
#include "core/role.h"
#include "core/urlform.h"
#include "oauth_flow_internal.h"
#include "oauth_flow_parse.h"

#define NSTEPS 13
#define HTTP_TIMEOUT_MAX_S 15
#define REVOCATION_WAIT_MS 5000 /* the router learns revocations within about a second */
#define PASSWORD_MAX 1024

struct options {
    const char *env_file;
    const char *service;
    const char *user;
    bool password_stdin;
    bool browser_first;
    bool no_browser;
    bool open_browser;
    int timeout_s;
    int port;
    const char *ca_file;
};

struct flow {
    const struct config *cfg;
    const struct options *opt;
    struct flow_http http;
    struct flow_listener listener;
    int step;
    const char *failed; /* name of the failed step */

    char *service, *resource, *issuer, *scope;
    char *authorization_endpoint, *token_endpoint, *registration_endpoint, *revocation_endpoint;
    bool iss_parameter;
    char *redirect_uri;
    char *client_id, *registration_token, *registration_uri;
    char *verifier, *state, *authorize_url, *first_redirect;
    char *code;
    char *access_token, *refresh_token;
    char *session_id, *protocol_version;
    char *password;
    json_t *tools;
};

/* ---- output ---- */

static void say(struct flow *f, const char *status, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void say(struct flow *f, const char *status, const char *step, const char *fmt, ...)
{
    printf("%-4s [%2d/%d] %s: ", status, f->step, NSTEPS, step);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static bool fail(struct flow *f, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(struct flow *f, const char *step, const char *fmt, ...)
{
    printf("FAIL [%2d/%d] %s: ", f->step, NSTEPS, step);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    f->failed = step;
    return false;
}

/* "eyJhbGciOi... (812 chars)": enough to recognise a token in logs, not enough to use it. */
static const char *masked(const char *token, char *out, size_t size)
{
    size_t n = strlen(token);
    snprintf(out, size, "%.*s... (%zu chars)", (int)(n >= 64 ? 8 : n / 8), token, n);
    return out;
}

/* What an answer says when it is not what we wanted: OAuth error, JSON-RPC error, page title. */
static void describe_answer(struct buf *out, const struct flow_response *r)
{
    buf_printf(out, "HTTP %ld", r->status);
    const char *body = r->body.data ? r->body.data : "";
    json_t *doc = json_loadb(body, r->body.len, 0, NULL);
    const char *error = json_string_value(json_object_get(doc, "error"));
    json_t *rpc_error = json_object_get(doc, "error");
    char *summary = NULL;
    if (error) {
        const char *desc = json_string_value(json_object_get(doc, "error_description"));
        buf_printf(out, " %s%s%s", error, desc ? ": " : "", desc ? desc : "");
    } else if (json_is_object(rpc_error)) {
        buf_printf(out, " JSON-RPC error %lld: %s",
                   (long long)json_integer_value(json_object_get(rpc_error, "code")),
                   json_string_value(json_object_get(rpc_error, "message"))
                       ? json_string_value(json_object_get(rpc_error, "message"))
                       : "");
    } else if ((summary = flow_html_summary(body, r->body.len)) != NULL) {
        buf_printf(out, ": %s", summary);
    } else if (r->body.len) {
        buf_append_str(out, ": ");
        for (size_t i = 0; i < r->body.len && i < 200; i++)
            buf_append_char(out, body[i] >= 0x20 && body[i] < 0x7f ? body[i] : ' ');
    }
    free(summary);
    json_decref(doc);
}

/* ---- HTTP helpers ---- */

/* One request; false (and the step failed with the reason) when no answer came. */
static bool request(struct flow *f, const char *step, const struct flow_request *req, struct flow_response *r)
{
    if (flow_http_do(&f->http, req, r))
        return true;
    fail(f, step, "%s %s: %s", req->method ? req->method : "GET", req->url, r->error);
    return false;
}

static json_t *json_answer(const struct flow_response *r)
{
    return json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
}

static char *json_str_dup(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? gw_strdup(v) : NULL;
}

static bool failed_answer(struct flow *f, const char *step, const char *what, const struct flow_response *r)
{
    struct buf d;
    buf_init(&d, 4096);
    describe_answer(&d, r);
    fail(f, step, "%s: %s", what, buf_cstr(&d));
    buf_free(&d);
    return false;
}

static void form_add(struct buf *body, const char *name, const char *value)
{
    if (body->len)
        buf_append_char(body, '&');
    url_encode(body, name, strlen(name));
    buf_append_char(body, '=');
    url_encode(body, value, strlen(value));
}

static void wipe_free(char *s)
{
    if (s)
        crypto_wipe(s, strlen(s));
    free(s);
}

/* ---- the steps ---- */

static bool step_discovery(struct flow *f)
{
    const char *step = "discovery";
    struct flow_response r;
    struct flow_request req = {.method = "POST",
                               .url = f->resource,
                               .content_type = "application/json",
                               .accept = "application/json, text/event-stream",
                               .body = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}"};
    if (!flow_http_do(&f->http, &req, &r)) {
        fail(f, step, "POST %s: %s (is the router running? mcpgw ps)", f->resource, r.error);
        flow_response_free(&r);
        return false;
    }
    bool ok = false;
    char *metadata = r.www_authenticate ? flow_challenge_param(r.www_authenticate, strlen(r.www_authenticate),
                                                               "resource_metadata")
                                        : NULL;
    char *expected = public_url_resource_metadata(f->cfg, f->service);
    if (r.status != 401)
        failed_answer(f, step, "an MCP request without a token must get 401", &r);
    else if (!metadata)
        fail(f, step, "401 without resource_metadata in WWW-Authenticate (%s)",
             r.www_authenticate ? r.www_authenticate : "no WWW-Authenticate header");
    else if (strcmp(metadata, expected) != 0)
        fail(f, step,
             "the router names %s, the configuration says %s (is the router running with this .env?)",
             metadata, expected);
    else
        ok = true;
    if (ok)
        say(f, "OK", step, "401 from %s, resource metadata at %s", f->resource, metadata);
    free(expected);
    free(metadata);
    flow_response_free(&r);
    return ok;
}

static bool step_resource_metadata(struct flow *f)
{
    const char *step = "resource metadata";
    char *url = public_url_resource_metadata(f->cfg, f->service);
    struct flow_response r;
    struct flow_request req = {.url = url, .accept = "application/json"};
    bool ok = false;
    if (request(f, step, &req, &r)) {
        json_t *doc = r.status == 200 ? json_answer(&r) : NULL;
        const char *resource = json_string_value(json_object_get(doc, "resource"));
        const char *issuer =
            json_string_value(json_array_get(json_object_get(doc, "authorization_servers"), 0));
        if (!doc)
            failed_answer(f, step, url, &r);
        else if (!resource || strcmp(resource, f->resource) != 0)
            fail(f, step, "resource is %s, expected %s", resource ? resource : "missing", f->resource);
        else if (!issuer)
            fail(f, step, "no authorization_servers in %s", url);
        else
            ok = true;
        if (ok) {
            f->issuer = gw_strdup(issuer);
            struct buf scope;
            buf_init(&scope, 4096);
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(doc, "scopes_supported"), i, s)
            {
                if (json_is_string(s))
                    buf_printf(&scope, "%s%s", scope.len ? " " : "", json_string_value(s));
            }
            f->scope = buf_take(&scope);
            say(f, "OK", step, "resource %s, authorization server %s, scopes \"%s\"", resource, issuer,
                f->scope);
        }
        json_decref(doc);
    }
    flow_response_free(&r);
    free(url);
    return ok;
}

static bool has_string(const json_t *array, const char *want)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
            return true;
    }
    return false;
}

static bool step_as_metadata(struct flow *f)
{
    const char *step = "authorization server metadata";
    /* RFC 8414 §3.1: the well-known segment goes between the issuer's host and its path */
    char *origin = flow_url_origin(f->issuer);
    if (!origin)
        return fail(f, step, "the issuer %s is not a URL", f->issuer);
    const char *path = f->issuer + strlen(origin);
    struct buf url;
    buf_init(&url, 8192);
    buf_printf(&url, "%s/.well-known/oauth-authorization-server%s", origin,
               strcmp(path, "/") == 0 ? "" : path);
    free(origin);
    struct flow_response r;
    struct flow_request req = {.url = buf_cstr(&url), .accept = "application/json"};
    bool ok = false;
    if (request(f, step, &req, &r)) {
        json_t *doc = r.status == 200 ? json_answer(&r) : NULL;
        const char *issuer = json_string_value(json_object_get(doc, "issuer"));
        if (!doc)
            failed_answer(f, step, buf_cstr(&url), &r);
        else if (!issuer || strcmp(issuer, f->issuer) != 0)
            fail(f, step, "issuer is %s, expected %s (RFC 8414 §3.3)", issuer ? issuer : "missing",
                 f->issuer);
        else if (!json_string_value(json_object_get(doc, "authorization_endpoint")) ||
                 !json_string_value(json_object_get(doc, "token_endpoint")))
            fail(f, step, "authorization_endpoint or token_endpoint missing");
        else if (!json_string_value(json_object_get(doc, "registration_endpoint")))
            fail(f, step, "no registration_endpoint: dynamic client registration (RFC 7591) is not offered");
        else if (!has_string(json_object_get(doc, "code_challenge_methods_supported"), "S256"))
            fail(f, step, "code_challenge_methods_supported lacks S256");
        else
            ok = true;
        if (ok) {
            f->authorization_endpoint = json_str_dup(doc, "authorization_endpoint");
            f->token_endpoint = json_str_dup(doc, "token_endpoint");
            f->registration_endpoint = json_str_dup(doc, "registration_endpoint");
            f->revocation_endpoint = json_str_dup(doc, "revocation_endpoint");
            f->iss_parameter =
                json_is_true(json_object_get(doc, "authorization_response_iss_parameter_supported"));
            say(f, "OK", step, "issuer %s, PKCE S256, registration at %s", issuer, f->registration_endpoint);
        }
        json_decref(doc);
    }
    flow_response_free(&r);
    buf_free(&url);
    return ok;
}

static bool step_register(struct flow *f)
{
    const char *step = "client registration";
    json_t *meta = json_pack("{s:s, s:[s], s:[s,s], s:[s], s:s}", "client_name", "mcpgw test-oauth-flow",
                             "redirect_uris", f->redirect_uri, "grant_types", "authorization_code",
                             "refresh_token", "response_types", "code", "token_endpoint_auth_method", "none");
    if (f->scope && *f->scope)
        json_object_set_new(meta, "scope", json_string(f->scope));
    char *body = json_dumps(meta, JSON_COMPACT);
    json_decref(meta);
    struct flow_response r;
    struct flow_request req = {.method = "POST",
                               .url = f->registration_endpoint,
                               .content_type = "application/json",
                               .accept = "application/json",
                               .body = body};
    bool ok = false;
    if (request(f, step, &req, &r)) {
        json_t *doc = r.status == 201 || r.status == 200 ? json_answer(&r) : NULL;
        f->client_id = json_str_dup(doc, "client_id");
        if (!f->client_id) {
            failed_answer(f, step, f->registration_endpoint, &r);
        } else {
            f->registration_token = json_str_dup(doc, "registration_access_token");
            f->registration_uri = json_str_dup(doc, "registration_client_uri");
            say(f, "OK", step, "public client %s, redirect URI %s", f->client_id, f->redirect_uri);
            ok = true;
        }
        json_decref(doc);
    }
    flow_response_free(&r);
    free(body);
    return ok;
}

static void query_add(struct buf *url, const char *name, const char *value)
{
    url_append_query_param(url, name, value);
}

static bool step_authorize(struct flow *f)
{
    const char *step = "authorization request";
    if (crypto_random_token(48, &f->verifier) != GW_OK || crypto_random_token(16, &f->state) != GW_OK)
        return fail(f, step, "no random numbers from OpenSSL");
    char challenge[CRYPTO_SHA256_B64URL_LEN + 1];
    pkce_s256_challenge(f->verifier, strlen(f->verifier), challenge);
    struct buf url;
    buf_init(&url, 64 * 1024);
    buf_append_str(&url, f->authorization_endpoint);
    query_add(&url, "response_type", "code");
    query_add(&url, "client_id", f->client_id);
    query_add(&url, "redirect_uri", f->redirect_uri);
    if (f->scope && *f->scope)
        query_add(&url, "scope", f->scope);
    query_add(&url, "state", f->state);
    query_add(&url, "code_challenge", challenge);
    query_add(&url, "code_challenge_method", "S256");
    query_add(&url, "resource", f->resource);
    f->authorize_url = buf_take(&url);
    if (f->opt->browser_first) {
        say(f, "OK", step, "PKCE S256, state, resource %s (sent by the browser)", f->resource);
        return true;
    }
    struct flow_response r;
    struct flow_request req = {.url = f->authorize_url, .accept = "text/html"};
    bool ok = false;
    if (request(f, step, &req, &r)) {
        char *next = r.location ? flow_url_resolve(f->authorize_url, r.location) : NULL;
        char *error = next ? flow_url_query_param(next, "error") : NULL;
        if (r.status < 300 || r.status >= 400 || !next) {
            failed_answer(f, step, "GET /authorize", &r);
        } else if (error && strncmp(next, f->redirect_uri, strlen(f->redirect_uri)) == 0) {
            char *desc = flow_url_query_param(next, "error_description");
            fail(f, step, "refused: %s%s%s", error, desc ? ": " : "", desc ? desc : "");
            free(desc);
        } else {
            f->first_redirect = gw_strdup(next);
            /* the URL without its query: it carries request ids that are nobody's business */
            say(f, "OK", step, "PKCE S256, state, resource %s: redirected to %.*s", f->resource,
                (int)strcspn(next, "?#"), next);
            ok = true;
        }
        free(error);
        free(next);
    }
    flow_response_free(&r);
    return ok;
}

static bool step_login(struct flow *f)
{
    const char *step = "login";
    struct flow_login in = {.authorize_url = f->authorize_url,
                            .start_url = f->first_redirect,
                            .redirect_uri = f->redirect_uri,
                            .user = f->opt->user,
                            .password = f->password,
                            .allow_browser = !f->opt->no_browser,
                            .browser_first = f->opt->browser_first,
                            .open_browser = f->opt->open_browser,
                            .timeout_s = f->opt->timeout_s,
                            .listener = &f->listener};
    struct buf how, why;
    buf_init(&how, 4096);
    buf_init(&why, 64 * 1024);
    char *answer = flow_login_run(&f->http, &in, &how, &why);
    bool ok = false;
    if (!answer) {
        fail(f, step, "%s", buf_cstr(&why));
    } else {
        char *error = flow_url_query_param(answer, "error");
        char *state = flow_url_query_param(answer, "state");
        char *iss = flow_url_query_param(answer, "iss");
        f->code = flow_url_query_param(answer, "code");
        if (error) {
            char *desc = flow_url_query_param(answer, "error_description");
            fail(f, step, "the authorization server answered error=%s%s%s", error, desc ? ": " : "",
                 desc ? desc : "");
            free(desc);
        } else if (!state || strcmp(state, f->state) != 0) {
            fail(f, step, "the state came back %s (CSRF protection of the client)",
                 state ? "changed" : "missing");
        } else if (iss ? strcmp(iss, f->issuer) != 0 : f->iss_parameter) {
            fail(f, step, "iss is %s, expected %s (RFC 9207)", iss ? iss : "missing", f->issuer);
        } else if (!f->code) {
            fail(f, step, "no code in the authorization response");
        } else {
            say(f, "OK", step, "via %s; code received, state%s match", buf_cstr(&how), iss ? " and iss" : "");
            ok = true;
        }
        free(error);
        free(state);
        free(iss);
        wipe_free(answer);
    }
    buf_free(&how);
    buf_free(&why);
    return ok;
}

/* The claims of a JWT (not verified: the router verifies), or NULL when it is not one. */
static json_t *jwt_claims(const char *token)
{
    const char *dot1 = strchr(token, '.');
    const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
    if (!dot2)
        return NULL;
    unsigned char *raw = NULL;
    size_t len = 0;
    if (base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &raw, &len) != GW_OK)
        return NULL;
    json_t *claims = json_loadb((const char *)raw, len, 0, NULL);
    free(raw);
    return claims;
}

/* POST to the token endpoint; on 200 takes the new tokens. */
static bool token_request(struct flow *f, const char *step, const char *form, json_t **claims_out)
{
    struct flow_response r;
    struct flow_request req = {.method = "POST",
                               .url = f->token_endpoint,
                               .content_type = "application/x-www-form-urlencoded",
                               .accept = "application/json",
                               .body = form};
    bool ok = false;
    if (request(f, step, &req, &r)) {
        json_t *doc = r.status == 200 ? json_answer(&r) : NULL;
        const char *access = json_string_value(json_object_get(doc, "access_token"));
        const char *type = json_string_value(json_object_get(doc, "token_type"));
        json_t *claims = access ? jwt_claims(access) : NULL;
        const char *aud = json_string_value(json_object_get(claims, "aud"));
        if (!access)
            failed_answer(f, step, f->token_endpoint, &r);
        else if (!type || strcasecmp(type, "Bearer") != 0)
            fail(f, step, "token_type is %s, expected Bearer", type ? type : "missing");
        else if (claims && (!aud || strcmp(aud, f->resource) != 0))
            fail(f, step, "the token's audience is %s, expected %s (RFC 8707)", aud ? aud : "missing",
                 f->resource);
        else
            ok = true;
        if (ok) {
            wipe_free(f->access_token);
            f->access_token = gw_strdup(access);
            const char *refresh = json_string_value(json_object_get(doc, "refresh_token"));
            if (refresh) {
                wipe_free(f->refresh_token);
                f->refresh_token = gw_strdup(refresh);
            }
            *claims_out = json_incref(claims);
        }
        json_decref(claims);
        json_decref(doc);
    }
    if (r.body.data)
        crypto_wipe(r.body.data, r.body.len);
    flow_response_free(&r);
    return ok;
}

static void describe_token(struct buf *out, const char *token, const json_t *claims)
{
    char m[64];
    buf_printf(out, "access token %s", masked(token, m, sizeof(m)));
    const char *user = json_string_value(json_object_get(claims, "username"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (user || sub)
        buf_printf(out, " for %s%s%s%s", user ? user : sub, user && sub ? " (" : "", user && sub ? sub : "",
                   user && sub ? ")" : "");
    json_t *exp = json_object_get(claims, "exp");
    if (json_is_integer(exp)) {
        long long left = (long long)json_integer_value(exp) - (long long)time(NULL);
        buf_printf(out, ", expires in %lld s", left);
    }
}

static bool step_token(struct flow *f)
{
    const char *step = "token exchange";
    struct buf form;
    buf_init(&form, 64 * 1024);
    form_add(&form, "grant_type", "authorization_code");
    form_add(&form, "code", f->code);
    form_add(&form, "redirect_uri", f->redirect_uri);
    form_add(&form, "client_id", f->client_id);
    form_add(&form, "code_verifier", f->verifier);
    form_add(&form, "resource", f->resource);
    json_t *claims = NULL;
    bool ok = token_request(f, step, buf_cstr(&form), &claims);
    crypto_wipe(form.data, form.len);
    buf_free(&form);
    if (ok && !f->refresh_token)
        ok = fail(f, step, "no refresh_token in the answer");
    if (ok) {
        struct buf d;
        buf_init(&d, 4096);
        char m[64];
        describe_token(&d, f->access_token, claims);
        say(f, "OK", step, "%s, audience %s; refresh token %s", buf_cstr(&d), f->resource,
            masked(f->refresh_token, m, sizeof(m)));
        buf_free(&d);
    }
    json_decref(claims);
    return ok;
}

static bool step_refresh(struct flow *f)
{
    const char *step = "refresh";
    char *old_refresh = gw_strdup(f->refresh_token);
    char *old_access = gw_strdup(f->access_token);
    struct buf form;
    buf_init(&form, 64 * 1024);
    form_add(&form, "grant_type", "refresh_token");
    form_add(&form, "refresh_token", f->refresh_token);
    form_add(&form, "client_id", f->client_id);
    form_add(&form, "resource", f->resource);
    json_t *claims = NULL;
    bool ok = token_request(f, step, buf_cstr(&form), &claims);
    crypto_wipe(form.data, form.len);
    buf_free(&form);
    if (ok && strcmp(old_access, f->access_token) == 0)
        ok = fail(f, step, "the same access token came back");
    if (ok) {
        struct buf d;
        buf_init(&d, 4096);
        describe_token(&d, f->access_token, claims);
        say(f, "OK", step, "new %s; refresh token %s", buf_cstr(&d),
            strcmp(old_refresh, f->refresh_token) == 0 ? "not rotated" : "rotated");
        buf_free(&d);
    }
    json_decref(claims);
    wipe_free(old_refresh);
    wipe_free(old_access);
    return ok;
}

/* One JSON-RPC call through the router. Returns the answer with id, or NULL (step failed). */
static json_t *mcp_call(struct flow *f, const char *step, long long id, const char *method, json_t *params)
{
    json_t *msg = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
    if (params)
        json_object_set_new(msg, "params", params);
    char *body = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    char session[1024], version[128];
    const char *extra[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (f->session_id) {
        snprintf(session, sizeof(session), "Mcp-Session-Id: %s", f->session_id);
        extra[n++] = session;
    }
    if (f->protocol_version) {
        snprintf(version, sizeof(version), "MCP-Protocol-Version: %s", f->protocol_version);
        extra[n++] = version;
    }
    struct flow_response r;
    struct flow_request req = {.method = "POST",
                               .url = f->resource,
                               .content_type = "application/json",
                               .accept = "application/json, text/event-stream",
                               .bearer = f->access_token,
                               .body = body,
                               .extra = extra};
    json_t *answer = NULL;
    if (request(f, step, &req, &r)) {
        answer = r.status == 200
                     ? flow_jsonrpc_answer(r.content_type, r.body.data ? r.body.data : "", r.body.len, id)
                     : NULL;
        if (!answer && r.status == 401 && strcmp(method, "initialize") == 0) {
            /* a token auth just issued, refused by the router: usually not the same key */
            struct buf d;
            buf_init(&d, 4096);
            describe_answer(&d, &r);
            fail(f, step,
                 "%s: %s (the router refuses a token auth has just issued: compare their keys with "
                 "`mcpgw show-config | grep JWT_SECRET`)",
                 method, buf_cstr(&d));
            buf_free(&d);
        } else if (!answer) {
            failed_answer(f, step, method, &r);
        } else if (json_object_get(answer, "error")) {
            failed_answer(f, step, method, &r);
            json_decref(answer);
            answer = NULL;
        } else if (r.session_id && !f->session_id) {
            f->session_id = gw_strdup(r.session_id);
        }
    }
    flow_response_free(&r);
    free(body);
    return answer;
}

static bool step_initialize(struct flow *f)
{
    const char *step = "MCP initialize";
    const char *version = config_get(f->cfg, "MCP_PROTOCOL_VERSION", "2025-06-18");
    json_t *params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", version, "capabilities",
                               "clientInfo", "name", "mcpgw-test-oauth-flow", "version", MCPGW_VERSION);
    json_t *answer = mcp_call(f, step, 1, "initialize", params);
    if (!answer)
        return false;
    json_t *result = json_object_get(answer, "result");
    const char *negotiated = json_string_value(json_object_get(result, "protocolVersion"));
    json_t *info = json_object_get(result, "serverInfo");
    const char *name = json_string_value(json_object_get(info, "name"));
    const char *sv = json_string_value(json_object_get(info, "version"));
    bool ok = negotiated != NULL;
    if (!ok) {
        fail(f, step, "the answer has no result.protocolVersion");
    } else {
        f->protocol_version = gw_strdup(negotiated);
        /* the client's half of the handshake; a notification gets 202 without a body */
        char session[1024], vh[128];
        const char *extra[3] = {NULL, NULL, NULL};
        size_t n = 0;
        if (f->session_id) {
            snprintf(session, sizeof(session), "Mcp-Session-Id: %s", f->session_id);
            extra[n++] = session;
        }
        snprintf(vh, sizeof(vh), "MCP-Protocol-Version: %s", f->protocol_version);
        extra[n++] = vh;
        struct flow_response r;
        struct flow_request req = {.method = "POST",
                                   .url = f->resource,
                                   .content_type = "application/json",
                                   .accept = "application/json, text/event-stream",
                                   .bearer = f->access_token,
                                   .body = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
                                   .extra = extra};
        if (!request(f, step, &req, &r))
            ok = false;
        else if (r.status != 202 && r.status != 200 && r.status != 204)
            ok = failed_answer(f, step, "notifications/initialized", &r);
        flow_response_free(&r);
    }
    if (ok) {
        char m[64];
        say(f, "OK", step, "server %s %s, protocol %s%s%s", name ? name : "(unnamed)", sv ? sv : "",
            negotiated, f->session_id ? ", session " : ", stateless",
            f->session_id ? masked(f->session_id, m, sizeof(m)) : "");
    }
    json_decref(answer);
    return ok;
}

static bool step_tools_list(struct flow *f)
{
    const char *step = "MCP tools/list";
    json_t *answer = mcp_call(f, step, 2, "tools/list", json_object());
    if (!answer)
        return false;
    json_t *tools = json_object_get(json_object_get(answer, "result"), "tools");
    bool ok = json_is_array(tools);
    if (!ok) {
        fail(f, step, "the answer has no result.tools array");
    } else {
        f->tools = json_incref(tools);
        struct buf names;
        buf_init(&names, 4096);
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            if (names.len > 200) {
                buf_append_str(&names, ", ...");
                break;
            }
            const char *name = json_string_value(json_object_get(t, "name"));
            buf_printf(&names, "%s%s", i ? ", " : "", name ? name : "?");
        }
        say(f, "OK", step, "%zu tools: %s", json_array_size(tools), buf_cstr(&names));
        buf_free(&names);
    }
    json_decref(answer);
    return ok;
}

static bool step_tools_call(struct flow *f)
{
    const char *step = "MCP tools/call";
    bool have_echo = false;
    size_t i;
    json_t *t;
    json_array_foreach(f->tools, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        if (name && strcmp(name, "echo") == 0)
            have_echo = true;
    }
    if (!have_echo) {
        say(f, "SKIP", step, "%s has no echo tool (nothing is called that could have effects)", f->service);
        return true;
    }
    char message[96];
    unsigned char rnd[6];
    char hex[13];
    crypto_random_bytes(rnd, sizeof(rnd));
    crypto_hex_encode(rnd, sizeof(rnd), hex);
    snprintf(message, sizeof(message), "test-oauth-flow %s", hex);
    json_t *answer = mcp_call(f, step, 3, "tools/call",
                              json_pack("{s:s, s:{s:s}}", "name", "echo", "arguments", "message", message));
    if (!answer)
        return false;
    json_t *result = json_object_get(answer, "result");
    const char *text =
        json_string_value(json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
    bool ok = text && strstr(text, message) && !json_is_true(json_object_get(result, "isError"));
    if (ok)
        say(f, "OK", step, "echo answered \"%s\"", message);
    else
        fail(f, step, "echo answered %s instead of \"%s\"", text ? text : "no text", message);
    json_decref(answer);
    return ok;
}

static bool revoke_one(struct flow *f, const char *step, const char *token, const char *hint, bool quiet)
{
    struct buf form;
    buf_init(&form, 64 * 1024);
    form_add(&form, "token", token);
    form_add(&form, "token_type_hint", hint);
    form_add(&form, "client_id", f->client_id);
    struct flow_response r;
    struct flow_request req = {.method = "POST",
                               .url = f->revocation_endpoint,
                               .content_type = "application/x-www-form-urlencoded",
                               .accept = "application/json",
                               .body = buf_cstr(&form)};
    bool ok;
    if (quiet) {
        ok = flow_http_do(&f->http, &req, &r) && r.status == 200;
    } else {
        ok = request(f, step, &req, &r);
        if (ok && r.status != 200)
            ok = failed_answer(f, step, hint, &r);
    }
    flow_response_free(&r);
    crypto_wipe(form.data, form.len);
    buf_free(&form);
    return ok;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool step_revoke(struct flow *f)
{
    const char *step = "revoke";
    if (!f->revocation_endpoint) {
        say(f, "SKIP", step, "the authorization server publishes no revocation_endpoint");
        return true;
    }
    if (!revoke_one(f, step, f->access_token, "access_token", false) ||
        !revoke_one(f, step, f->refresh_token, "refresh_token", false))
        return false;
    /* The router checks revocations itself (within about a second): ask until it refuses. */
    long long start = now_ms();
    long status = 0;
    while (now_ms() - start < REVOCATION_WAIT_MS) {
        struct flow_response r;
        struct flow_request req = {.method = "POST",
                                   .url = f->resource,
                                   .content_type = "application/json",
                                   .accept = "application/json, text/event-stream",
                                   .bearer = f->access_token,
                                   .body = "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}"};
        bool answered = flow_http_do(&f->http, &req, &r);
        status = r.status;
        flow_response_free(&r);
        if (answered && status == 401)
            break;
        usleep(100 * 1000);
    }
    if (status != 401)
        return fail(f, step,
                    "both tokens revoked, but the router still answers %ld (not 401) to the revoked access "
                    "token after %d s",
                    status, REVOCATION_WAIT_MS / 1000);
    say(f, "OK", step, "access and refresh token revoked; the router refuses the revoked token (401)");
    return true;
}

static bool delete_client(struct flow *f, const char *step, bool quiet)
{
    struct flow_response r;
    struct flow_request req = {
        .method = "DELETE", .url = f->registration_uri, .bearer = f->registration_token};
    bool ok;
    if (quiet) {
        ok = flow_http_do(&f->http, &req, &r) && r.status / 100 == 2;
    } else {
        ok = request(f, step, &req, &r);
        if (ok && r.status != 204 && r.status != 200)
            ok = failed_answer(f, step, "DELETE of the test client", &r);
    }
    flow_response_free(&r);
    return ok;
}

static bool step_cleanup(struct flow *f)
{
    const char *step = "clean-up";
    if (!f->registration_uri || !f->registration_token) {
        say(f, "SKIP", step, "no registration_client_uri: the test client %s stays registered", f->client_id);
        return true;
    }
    if (!delete_client(f, step, false))
        return false;
    say(f, "OK", step, "test client %s deleted (RFC 7592)", f->client_id);
    wipe_free(f->registration_token);
    f->registration_token = NULL;
    return true;
}

/* After a failure: take back what was handed out, quietly and as far as possible. */
static void best_effort_cleanup(struct flow *f)
{
    if (f->revocation_endpoint && f->client_id) {
        if (f->access_token)
            revoke_one(f, "clean-up", f->access_token, "access_token", true);
        if (f->refresh_token)
            revoke_one(f, "clean-up", f->refresh_token, "refresh_token", true);
    }
    if (f->registration_uri && f->registration_token)
        delete_client(f, "clean-up", true);
}

/* ---- the command ---- */

static void flow_free(struct flow *f)
{
    flow_http_cleanup(&f->http);
    flow_listener_close(&f->listener);
    char *strings[] = {f->service,
                       f->resource,
                       f->issuer,
                       f->scope,
                       f->authorization_endpoint,
                       f->token_endpoint,
                       f->registration_endpoint,
                       f->revocation_endpoint,
                       f->redirect_uri,
                       f->client_id,
                       f->registration_uri,
                       f->authorize_url,
                       f->first_redirect,
                       f->session_id,
                       f->protocol_version};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        free(strings[i]);
    char *secrets[] = {f->registration_token, f->verifier,      f->state,   f->code,
                       f->access_token,       f->refresh_token, f->password};
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++)
        wipe_free(secrets[i]);
    json_decref(f->tools);
}

static const char usage[] =
    "Usage: mcpgw test-oauth-flow [--service NAME] [--user NAME --password-stdin]\n"
    "                             [--browser | --no-browser] [--open] [--timeout S]\n"
    "                             [--port N] [--cacert FILE] [--env-file FILE]\n\n"
    "Run the whole OAuth + MCP flow against the running stack at its public URLs, as an MCP\n"
    "client does, and print one line per step (OK, FAIL or SKIP):\n"
    "  discovery (401 + WWW-Authenticate resource_metadata), protected resource metadata\n"
    "  (RFC 9728), authorization server metadata (RFC 8414), client registration (RFC 7591,\n"
    "  a loopback redirect URI on a port this command listens on), authorization request\n"
    "  (PKCE S256, state, resource), login, code exchange, refresh, MCP initialize, tools/list,\n"
    "  tools/call of echo (when the service has it), revocation of both tokens (the router must\n"
    "  then refuse the access token), and deletion of the test client.\n\n"
    "Login: the consent page is approved and the login page answered as a browser would. With\n"
    "--user, the local-users form is submitted (password from stdin or the terminal). Otherwise\n"
    "GitHub is chosen; an identity provider that redirects straight back (a test fake) completes\n"
    "by itself. When a person is needed (the real GitHub's login page, or local users without\n"
    "--user), the URL to open in a browser is printed, and the command waits for the redirect.\n\n"
    "  --service NAME     the MCP service to test (default: the first enabled one, e.g. mcp-echo;\n"
    "                     \"echo\" means mcp-echo)\n"
    "  --user NAME        log in as this local user (LOCAL_USERS_FILE)\n"
    "  --password-stdin   read that user's password from the first line of stdin\n"
    "  --browser          do not walk the pages: print the URL for a person at once\n"
    "  --no-browser       never wait for a person: fail the login step instead\n"
    "  --open             also open the URL with xdg-open\n"
    "  --timeout S        how long to wait for the person's login (default 300 s); every HTTP\n"
    "                     request gives up after at most 15 s\n"
    "  --port N           the loopback listener's port (default: any free port)\n"
    "  --cacert FILE      CA certificates for HTTPS (default: the system's)\n\n"
    "Tokens, codes and passwords are never printed (a token shows as its first characters).\n"
    "Exit status: 0 every step passed, 1 a step failed, 2 usage error or unknown service,\n"
    "78 configuration error.\n";

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){.timeout_s = 300};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if (strcmp(a, "--env-file") == 0 && has_value) {
            o->env_file = argv[++i];
        } else if (strcmp(a, "--service") == 0 && has_value) {
            o->service = argv[++i];
        } else if (strcmp(a, "--user") == 0 && has_value) {
            o->user = argv[++i];
        } else if (strcmp(a, "--password-stdin") == 0) {
            o->password_stdin = true;
        } else if (strcmp(a, "--browser") == 0) {
            o->browser_first = true;
        } else if (strcmp(a, "--no-browser") == 0) {
            o->no_browser = true;
        } else if (strcmp(a, "--open") == 0) {
            o->open_browser = true;
        } else if (strcmp(a, "--cacert") == 0 && has_value) {
            o->ca_file = argv[++i];
        } else if ((strcmp(a, "--timeout") == 0 || strcmp(a, "--port") == 0) && has_value) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            bool port = strcmp(a, "--port") == 0;
            if (*end || v < (port ? 0 : 1) || v > (port ? 65535 : 86400)) {
                fprintf(stderr, "ERROR: %s needs %s\n", a,
                        port ? "a port number (0-65535)" : "seconds (1-86400)");
                return -1;
            }
            if (port)
                o->port = (int)v;
            else
                o->timeout_s = (int)v;
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", a, usage);
            return -1;
        }
    }
    if (o->browser_first && o->no_browser) {
        fprintf(stderr, "ERROR: --browser and --no-browser exclude each other\n");
        return -1;
    }
    if (o->password_stdin && !o->user) {
        fprintf(stderr, "ERROR: --password-stdin needs --user NAME\n");
        return -1;
    }
    return 0;
}

/* The password of --user: the first line of stdin, or typed at the terminal without echo. */
static char *read_password(const struct options *o)
{
    char line[PASSWORD_MAX + 2];
    FILE *in = stdin;
    FILE *tty = NULL;
    struct termios old, quiet;
    bool echo_off = false;
    if (!o->password_stdin) {
        tty = fopen("/dev/tty", "r+e");
        if (!tty) {
            fprintf(stderr, "ERROR: --user needs --password-stdin when there is no terminal\n");
            return NULL;
        }
        in = tty;
        if (tcgetattr(fileno(tty), &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t)ECHO;
            echo_off = tcsetattr(fileno(tty), TCSAFLUSH, &quiet) == 0;
        }
        fprintf(tty, "Password for %s: ", o->user);
        fflush(tty);
    }
    char *got = fgets(line, sizeof(line), in);
    if (tty) {
        if (echo_off)
            tcsetattr(fileno(tty), TCSAFLUSH, &old);
        fputs("\n", tty);
        fclose(tty);
    }
    if (!got) {
        fprintf(stderr, "ERROR: no password given for %s\n", o->user);
        return NULL;
    }
    line[strcspn(line, "\r\n")] = '\0';
    char *password = line[0] ? gw_strdup(line) : NULL;
    crypto_wipe(line, sizeof(line));
    if (!password)
        fprintf(stderr, "ERROR: empty password for %s\n", o->user);
    return password;
}

/* --service NAME among the enabled services ("echo" is accepted for "mcp-echo"). */
static char *pick_service(const struct config *cfg, const char *wanted)
{
    size_t n = 0;
    char **services = public_url_mcp_services(cfg, &n);
    char *found = NULL;
    for (size_t i = 0; i < n && !found; i++) {
        if (!wanted || strcmp(services[i], wanted) == 0 ||
            (strncmp(services[i], "mcp-", 4) == 0 && strcmp(services[i] + 4, wanted) == 0))
            found = gw_strdup(services[i]);
    }
    if (!found) {
        struct buf list;
        buf_init(&list, 4096);
        for (size_t i = 0; i < n; i++)
            buf_printf(&list, "%s%s", i ? ", " : "", services[i]);
        if (wanted)
            fprintf(stderr, "ERROR: no enabled MCP service named '%s' (enabled: %s)\n", wanted,
                    n ? buf_cstr(&list) : "none");
        else
            fprintf(
                stderr,
                "ERROR: no MCP service is enabled (MCP_ECHO_ENABLED, MCP_FETCH_ENABLED, MCP_<NAME>_...)\n");
        buf_free(&list);
    }
    config_list_free(services, n);
    return found;
}

int test_oauth_flow_main(int argc, char **argv)
{
    struct options opt;
    int r = parse_options(argc, argv, &opt);
    if (r)
        return r > 0 ? 0 : 2;
    struct config *cfg = role_load_config(opt.env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct flow f = {.cfg = cfg, .opt = &opt};
    f.listener.fd = -1;
    int exit_code = 1;
    f.service = pick_service(cfg, opt.service);
    if (!f.service) {
        exit_code = 2;
        goto out;
    }
    if (opt.user && !(f.password = read_password(&opt))) {
        exit_code = 2;
        goto out;
    }
    long timeout_ms = (opt.timeout_s < HTTP_TIMEOUT_MAX_S ? opt.timeout_s : HTTP_TIMEOUT_MAX_S) * 1000L;
    if (flow_http_init(&f.http, timeout_ms, opt.ca_file) != GW_OK) {
        fprintf(stderr, "ERROR: libcurl could not be initialised\n");
        goto out;
    }
    if (flow_listener_open(&f.listener, opt.port) != GW_OK) {
        fprintf(stderr, "ERROR: cannot listen on 127.0.0.1:%d for the redirect: %s\n", opt.port,
                strerror(errno));
        goto out;
    }
    struct buf redirect;
    buf_init(&redirect, 256);
    buf_printf(&redirect, "http://127.0.0.1:%d/callback", f.listener.port);
    f.redirect_uri = buf_take(&redirect);
    f.resource = public_url_resource(cfg, f.service);
    printf("test-oauth-flow: %s at %s\n", f.service, f.resource);
    fflush(stdout);

    static bool (*const steps[NSTEPS])(struct flow *) = {
        step_discovery,  step_resource_metadata, step_as_metadata,
        step_register,   step_authorize,         step_login,
        step_token,      step_refresh,           step_initialize,
        step_tools_list, step_tools_call,        step_revoke,
        step_cleanup,
    };
    bool ok = true;
    for (f.step = 1; f.step <= NSTEPS && ok; f.step++)
        ok = steps[f.step - 1](&f);
    if (ok) {
        printf("PASS: all %d steps of the OAuth + MCP flow against %s\n", NSTEPS, f.service);
        exit_code = 0;
    } else {
        best_effort_cleanup(&f);
        printf("FAILED at step %d of %d (%s)\n", f.step - 1, NSTEPS, f.failed ? f.failed : "?");
    }
out:
    flow_free(&f);
    config_free(cfg);
    return exit_code;
}
