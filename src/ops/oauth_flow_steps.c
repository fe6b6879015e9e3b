/*
 * oauth_flow_steps.c - the OAuth half of `mcpgw test-oauth-flow` (see oauth_flow.c for the list
 * of steps and oauth_flow_internal.h for the helpers), and the helpers every step uses.
 */
#include "oauth_flow_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/public_url.h"
#include "core/urlform.h"
#include "oauth_flow_parse.h"

/* ---- output ---- */

void flow_say(struct flow *f, const char *status, const char *step, const char *fmt, ...)
{
    printf("%-4s [%2d/%d] %s: ", status, f->step, FLOW_NSTEPS, step);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

bool flow_fail(struct flow *f, const char *step, const char *fmt, ...)
{
    printf("FAIL [%2d/%d] %s: ", f->step, FLOW_NSTEPS, step);
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
const char *flow_masked(const char *token, char *out, size_t size)
{
    size_t n = strlen(token);
    snprintf(out, size, "%.*s... (%zu chars)", (int)(n >= 64 ? 8 : n / 8), token, n);
    return out;
}

/* What an answer says when it is not what we wanted: OAuth error, JSON-RPC error, page title. */
void flow_describe_answer(struct buf *out, const struct flow_response *r)
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
bool flow_send(struct flow *f, const char *step, const struct flow_request *req, struct flow_response *r)
{
    if (flow_http_do(&f->http, req, r))
        return true;
    flow_fail(f, step, "%s %s: %s", req->method ? req->method : "GET", req->url, r->error);
    return false;
}

json_t *flow_json_answer(const struct flow_response *r)
{
    return json_loadb(r->body.data ? r->body.data : "", r->body.len, 0, NULL);
}

static char *json_str_dup(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? gw_strdup(v) : NULL;
}

bool flow_failed_answer(struct flow *f, const char *step, const char *what, const struct flow_response *r)
{
    struct buf d;
    buf_init(&d, 4096);
    flow_describe_answer(&d, r);
    flow_fail(f, step, "%s: %s", what, buf_cstr(&d));
    buf_free(&d);
    return false;
}

void flow_form_add(struct buf *body, const char *name, const char *value)
{
    if (body->len)
        buf_append_char(body, '&');
    url_encode(body, name, strlen(name));
    buf_append_char(body, '=');
    url_encode(body, value, strlen(value));
}

void flow_wipe_free(char *s)
{
    if (s)
        crypto_wipe(s, strlen(s));
    free(s);
}

/* ---- the OAuth steps ---- */

bool flow_step_discovery(struct flow *f)
{
    const char *step = "discovery";
    struct flow_response r;
    struct flow_request req = {.method = "POST",
                               .url = f->resource,
                               .content_type = "application/json",
                               .accept = "application/json, text/event-stream",
                               .body = "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}"};
    if (!flow_http_do(&f->http, &req, &r)) {
        flow_fail(f, step, "POST %s: %s (is the router running? mcpgw ps)", f->resource, r.error);
        flow_response_free(&r);
        return false;
    }
    bool ok = false;
    char *metadata = r.www_authenticate ? flow_challenge_param(r.www_authenticate, strlen(r.www_authenticate),
                                                               "resource_metadata")
                                        : NULL;
    char *expected = public_url_resource_metadata(f->cfg, f->service);
    if (r.status != 401)
        flow_failed_answer(f, step, "an MCP request without a token must get 401", &r);
    else if (!metadata)
        flow_fail(f, step, "401 without resource_metadata in WWW-Authenticate (%s)",
                  r.www_authenticate ? r.www_authenticate : "no WWW-Authenticate header");
    else if (strcmp(metadata, expected) != 0)
        flow_fail(f, step,
                  "the router names %s, the configuration says %s (is the router running with this .env?)",
                  metadata, expected);
    else
        ok = true;
    if (ok)
        flow_say(f, "OK", step, "401 from %s, resource metadata at %s", f->resource, metadata);
    free(expected);
    free(metadata);
    flow_response_free(&r);
    return ok;
}

bool flow_step_resource_metadata(struct flow *f)
{
    const char *step = "resource metadata";
    char *url = public_url_resource_metadata(f->cfg, f->service);
    struct flow_response r;
    struct flow_request req = {.url = url, .accept = "application/json"};
    bool ok = false;
    if (flow_send(f, step, &req, &r)) {
        json_t *doc = r.status == 200 ? flow_json_answer(&r) : NULL;
        const char *resource = json_string_value(json_object_get(doc, "resource"));
        const char *issuer =
            json_string_value(json_array_get(json_object_get(doc, "authorization_servers"), 0));
        if (!doc)
            flow_failed_answer(f, step, url, &r);
        else if (!resource || strcmp(resource, f->resource) != 0)
            flow_fail(f, step, "resource is %s, expected %s", resource ? resource : "missing", f->resource);
        else if (!issuer)
            flow_fail(f, step, "no authorization_servers in %s", url);
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
            flow_say(f, "OK", step, "resource %s, authorization server %s, scopes \"%s\"", resource, issuer,
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

bool flow_step_as_metadata(struct flow *f)
{
    const char *step = "authorization server metadata";
    /* RFC 8414 §3.1: the well-known segment goes between the issuer's host and its path */
    char *origin = flow_url_origin(f->issuer);
    if (!origin)
        return flow_fail(f, step, "the issuer %s is not a URL", f->issuer);
    const char *path = f->issuer + strlen(origin);
    struct buf url;
    buf_init(&url, 8192);
    buf_printf(&url, "%s/.well-known/oauth-authorization-server%s", origin,
               strcmp(path, "/") == 0 ? "" : path);
    free(origin);
    struct flow_response r;
    struct flow_request req = {.url = buf_cstr(&url), .accept = "application/json"};
    bool ok = false;
    if (flow_send(f, step, &req, &r)) {
        json_t *doc = r.status == 200 ? flow_json_answer(&r) : NULL;
        const char *issuer = json_string_value(json_object_get(doc, "issuer"));
        if (!doc)
            flow_failed_answer(f, step, buf_cstr(&url), &r);
        else if (!issuer || strcmp(issuer, f->issuer) != 0)
            flow_fail(f, step, "issuer is %s, expected %s (RFC 8414 §3.3)", issuer ? issuer : "missing",
                      f->issuer);
        else if (!json_string_value(json_object_get(doc, "authorization_endpoint")) ||
                 !json_string_value(json_object_get(doc, "token_endpoint")))
            flow_fail(f, step, "authorization_endpoint or token_endpoint missing");
        else if (!json_string_value(json_object_get(doc, "registration_endpoint")))
            flow_fail(f, step,
                      "no registration_endpoint: dynamic client registration (RFC 7591) is not offered");
        else if (!has_string(json_object_get(doc, "code_challenge_methods_supported"), "S256"))
            flow_fail(f, step, "code_challenge_methods_supported lacks S256");
        else
            ok = true;
        if (ok) {
            f->authorization_endpoint = json_str_dup(doc, "authorization_endpoint");
            f->token_endpoint = json_str_dup(doc, "token_endpoint");
            f->registration_endpoint = json_str_dup(doc, "registration_endpoint");
            f->revocation_endpoint = json_str_dup(doc, "revocation_endpoint");
            f->iss_parameter =
                json_is_true(json_object_get(doc, "authorization_response_iss_parameter_supported"));
            flow_say(f, "OK", step, "issuer %s, PKCE S256, registration at %s", issuer,
                     f->registration_endpoint);
        }
        json_decref(doc);
    }
    flow_response_free(&r);
    buf_free(&url);
    return ok;
}

bool flow_step_register(struct flow *f)
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
    if (flow_send(f, step, &req, &r)) {
        json_t *doc = r.status == 201 || r.status == 200 ? flow_json_answer(&r) : NULL;
        f->client_id = json_str_dup(doc, "client_id");
        if (!f->client_id) {
            flow_failed_answer(f, step, f->registration_endpoint, &r);
        } else {
            f->registration_token = json_str_dup(doc, "registration_access_token");
            f->registration_uri = json_str_dup(doc, "registration_client_uri");
            flow_say(f, "OK", step, "public client %s, redirect URI %s", f->client_id, f->redirect_uri);
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

bool flow_step_authorize(struct flow *f)
{
    const char *step = "authorization request";
    if (crypto_random_token(48, &f->verifier) != GW_OK || crypto_random_token(16, &f->state) != GW_OK)
        return flow_fail(f, step, "no random numbers from OpenSSL");
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
        flow_say(f, "OK", step, "PKCE S256, state, resource %s (sent by the browser)", f->resource);
        return true;
    }
    struct flow_response r;
    struct flow_request req = {.url = f->authorize_url, .accept = "text/html"};
    bool ok = false;
    if (flow_send(f, step, &req, &r)) {
        char *next = r.location ? flow_url_resolve(f->authorize_url, r.location) : NULL;
        char *error = next ? flow_url_query_param(next, "error") : NULL;
        if (r.status < 300 || r.status >= 400 || !next) {
            flow_failed_answer(f, step, "GET /authorize", &r);
        } else if (error && strncmp(next, f->redirect_uri, strlen(f->redirect_uri)) == 0) {
            char *desc = flow_url_query_param(next, "error_description");
            flow_fail(f, step, "refused: %s%s%s", error, desc ? ": " : "", desc ? desc : "");
            free(desc);
        } else {
            f->first_redirect = gw_strdup(next);
            /* the URL without its query: it carries request ids that are nobody's business */
            flow_say(f, "OK", step, "PKCE S256, state, resource %s: redirected to %.*s", f->resource,
                     (int)strcspn(next, "?#"), next);
            ok = true;
        }
        free(error);
        free(next);
    }
    flow_response_free(&r);
    return ok;
}

bool flow_step_login(struct flow *f)
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
        flow_fail(f, step, "%s", buf_cstr(&why));
    } else {
        char *error = flow_url_query_param(answer, "error");
        char *state = flow_url_query_param(answer, "state");
        char *iss = flow_url_query_param(answer, "iss");
        f->code = flow_url_query_param(answer, "code");
        if (error) {
            char *desc = flow_url_query_param(answer, "error_description");
            flow_fail(f, step, "the authorization server answered error=%s%s%s", error, desc ? ": " : "",
                      desc ? desc : "");
            free(desc);
        } else if (!state || strcmp(state, f->state) != 0) {
            flow_fail(f, step, "the state came back %s (CSRF protection of the client)",
                      state ? "changed" : "missing");
        } else if (iss ? strcmp(iss, f->issuer) != 0 : f->iss_parameter) {
            flow_fail(f, step, "iss is %s, expected %s (RFC 9207)", iss ? iss : "missing", f->issuer);
        } else if (!f->code) {
            flow_fail(f, step, "no code in the authorization response");
        } else {
            flow_say(f, "OK", step, "via %s; code received, state%s match", buf_cstr(&how),
                     iss ? " and iss" : "");
            ok = true;
        }
        free(error);
        free(state);
        free(iss);
        flow_wipe_free(answer);
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
    if (flow_send(f, step, &req, &r)) {
        json_t *doc = r.status == 200 ? flow_json_answer(&r) : NULL;
        const char *access = json_string_value(json_object_get(doc, "access_token"));
        const char *type = json_string_value(json_object_get(doc, "token_type"));
        json_t *claims = access ? jwt_claims(access) : NULL;
        const char *aud = json_string_value(json_object_get(claims, "aud"));
        if (!access)
            flow_failed_answer(f, step, f->token_endpoint, &r);
        else if (!type || strcasecmp(type, "Bearer") != 0)
            flow_fail(f, step, "token_type is %s, expected Bearer", type ? type : "missing");
        else if (claims && (!aud || strcmp(aud, f->resource) != 0))
            flow_fail(f, step, "the token's audience is %s, expected %s (RFC 8707)", aud ? aud : "missing",
                      f->resource);
        else
            ok = true;
        if (ok) {
            flow_wipe_free(f->access_token);
            f->access_token = gw_strdup(access);
            const char *refresh = json_string_value(json_object_get(doc, "refresh_token"));
            if (refresh) {
                flow_wipe_free(f->refresh_token);
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
    buf_printf(out, "access token %s", flow_masked(token, m, sizeof(m)));
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

bool flow_step_token(struct flow *f)
{
    const char *step = "token exchange";
    struct buf form;
    buf_init(&form, 64 * 1024);
    flow_form_add(&form, "grant_type", "authorization_code");
    flow_form_add(&form, "code", f->code);
    flow_form_add(&form, "redirect_uri", f->redirect_uri);
    flow_form_add(&form, "client_id", f->client_id);
    flow_form_add(&form, "code_verifier", f->verifier);
    flow_form_add(&form, "resource", f->resource);
    json_t *claims = NULL;
    bool ok = token_request(f, step, buf_cstr(&form), &claims);
    crypto_wipe(form.data, form.len);
    buf_free(&form);
    if (ok && !f->refresh_token)
        ok = flow_fail(f, step, "no refresh_token in the answer");
    if (ok) {
        struct buf d;
        buf_init(&d, 4096);
        char m[64];
        describe_token(&d, f->access_token, claims);
        flow_say(f, "OK", step, "%s, audience %s; refresh token %s", buf_cstr(&d), f->resource,
                 flow_masked(f->refresh_token, m, sizeof(m)));
        buf_free(&d);
    }
    json_decref(claims);
    return ok;
}

bool flow_step_refresh(struct flow *f)
{
    const char *step = "refresh";
    char *old_refresh = gw_strdup(f->refresh_token);
    char *old_access = gw_strdup(f->access_token);
    struct buf form;
    buf_init(&form, 64 * 1024);
    flow_form_add(&form, "grant_type", "refresh_token");
    flow_form_add(&form, "refresh_token", f->refresh_token);
    flow_form_add(&form, "client_id", f->client_id);
    flow_form_add(&form, "resource", f->resource);
    json_t *claims = NULL;
    bool ok = token_request(f, step, buf_cstr(&form), &claims);
    crypto_wipe(form.data, form.len);
    buf_free(&form);
    if (ok && strcmp(old_access, f->access_token) == 0)
        ok = flow_fail(f, step, "the same access token came back");
    if (ok) {
        struct buf d;
        buf_init(&d, 4096);
        describe_token(&d, f->access_token, claims);
        flow_say(f, "OK", step, "new %s; refresh token %s", buf_cstr(&d),
                 strcmp(old_refresh, f->refresh_token) == 0 ? "not rotated" : "rotated");
        buf_free(&d);
    }
    json_decref(claims);
    flow_wipe_free(old_refresh);
    flow_wipe_free(old_access);
    return ok;
}

/* One JSON-RPC call through the router. Returns the answer with id, or NULL (step failed). */
