/*
 * authorize_params.c - GET /authorize parameters (see authorize_params.h).
 */
#include "authorize_params.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/urlform.h"

void authorize_request_free(struct authorize_request *req)
{
    free(req->client_id);
    free(req->redirect_uri);
    free(req->response_type);
    free(req->state);
    free(req->code_challenge);
    free(req->code_challenge_method);
    free(req->scope);
    free(req->resource);
    memset(req, 0, sizeof *req);
}

static char *dup_param(const struct form *f, const char *name)
{
    const char *v = form_get(f, name);
    return v ? gw_strdup(v) : NULL;
}

static bool set_error(struct authorize_request *req, const char *error, const char *description)
{
    if (!req->error) {
        req->error = error;
        req->error_description = description;
    }
    return false;
}

static bool printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* RFC 7636 §4.2: code_challenge is BASE64URL(SHA256(verifier)), 43 characters of the alphabet. */
static bool challenge_valid(const char *c)
{
    if (strlen(c) != 43)
        return false;
    for (; *c; c++) {
        char ch = *c;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              ch == '_'))
            return false;
    }
    return true;
}

/* scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3) */
static bool scope_char(char ch)
{
    return ch == 0x21 || (ch >= 0x23 && ch <= 0x5b) || (ch >= 0x5d && ch <= 0x7e);
}

static bool word_in(const char *word, size_t len, const char *list)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        if (!end)
            end = p + strlen(p);
        if ((size_t)(end - p) == len && len && memcmp(p, word, len) == 0)
            return true;
        p = end;
    }
    return false;
}

bool scope_is_subset(const char *scope, const char *allowed)
{
    if (!scope)
        return true;
    const char *p = scope;
    while (*p) {
        while (*p == ' ')
            p++;
        const char *end = strchr(p, ' ');
        if (!end)
            end = p + strlen(p);
        if (end > p && !word_in(p, (size_t)(end - p), allowed ? allowed : ""))
            return false;
        p = end;
    }
    return true;
}

/* Normalise the requested scope into *out; false when a token is malformed or unsupported. */
static bool normalise_scope(const char *requested, const char *const *supported, size_t nsupported,
                            char **out)
{
    struct buf b;
    buf_init(&b, AUTHORIZE_MAX_SCOPE + 1);
    *out = NULL;
    if (!requested || !requested[0]) {
        for (size_t i = 0; i < nsupported; i++) {
            if (b.len)
                (void)buf_append_char(&b, ' ');
            (void)buf_append_str(&b, supported[i]);
        }
        *out = gw_strdup(buf_cstr(&b));
        buf_free(&b);
        return true;
    }
    const char *p = requested;
    bool ok = true;
    while (*p && ok) {
        if (*p == ' ') {
            p++;
            continue;
        }
        const char *end = p;
        while (*end && *end != ' ')
            end++;
        size_t len = (size_t)(end - p);
        for (size_t i = 0; i < len; i++)
            if (!scope_char(p[i]))
                ok = false;
        bool known = false;
        for (size_t i = 0; i < nsupported && ok; i++)
            if (strlen(supported[i]) == len && memcmp(supported[i], p, len) == 0)
                known = true;
        if (!ok || !known) {
            ok = false;
            break;
        }
        if (!word_in(p, len, buf_cstr(&b))) {
            if (b.len)
                (void)buf_append_char(&b, ' ');
            (void)buf_append(&b, p, len);
        }
        p = end;
    }
    if (ok)
        *out = gw_strdup(buf_cstr(&b));
    buf_free(&b);
    return ok;
}

static bool resource_valid(const char *r)
{
    struct url_parts u;
    if (strlen(r) > AUTHORIZE_MAX_RESOURCE || url_split(r, strlen(r), &u) != GW_OK)
        return false;
    /* RFC 8707 §2: an absolute URI without a fragment. */
    return u.has_authority && u.host.len > 0 && !u.has_fragment &&
           (strview_eq_nocase(u.scheme, "https") || strview_eq_nocase(u.scheme, "http"));
}

static const char *const single_params[] = {"response_type", "code_challenge", "code_challenge_method",
                                            "scope",         "resource",       "state"};

bool authorize_request_parse(const char *query, size_t len, const char *const *scopes_supported,
                             size_t nscopes, struct authorize_request *out)
{
    memset(out, 0, sizeof *out);
    struct form f = {0};
    if (form_parse(query, len, &f) != GW_OK) {
        out->page_error =
            "The authorization request is malformed (bad percent-encoding or too many parameters).";
        return false;
    }
    out->client_id = dup_param(&f, "client_id");
    out->redirect_uri = dup_param(&f, "redirect_uri");
    out->response_type = dup_param(&f, "response_type");
    out->state = dup_param(&f, "state");
    out->code_challenge = dup_param(&f, "code_challenge");
    out->code_challenge_method = dup_param(&f, "code_challenge_method");
    out->resource = dup_param(&f, "resource");
    char *scope = dup_param(&f, "scope");

    if (!out->client_id || !out->client_id[0])
        out->page_error = "The request has no client_id.";
    else if (form_is_repeated(&f, "client_id"))
        out->page_error = "The request has more than one client_id.";
    else if (strlen(out->client_id) > AUTHORIZE_MAX_CLIENT_ID || !printable_ascii(out->client_id))
        out->page_error = "The client_id is not valid.";
    else if (form_is_repeated(&f, "redirect_uri"))
        out->page_error = "The request has more than one redirect_uri.";
    else if (out->redirect_uri && (strlen(out->redirect_uri) > AUTHORIZE_MAX_REDIRECT_URI ||
                                   !out->redirect_uri[0] || strchr(out->redirect_uri, '#')))
        out->page_error = "The redirect_uri is not valid.";
    if (out->state && (strlen(out->state) > AUTHORIZE_MAX_STATE || !out->state[0])) {
        /* An oversized state is not echoed back. */
        free(out->state);
        out->state = NULL;
        set_error(out, "invalid_request", "state is empty or too long");
    }
    for (size_t i = 0; i < sizeof single_params / sizeof single_params[0]; i++)
        if (form_is_repeated(&f, single_params[i]))
            set_error(out, "invalid_request", "a parameter is repeated");
    if (form_get(&f, "request") || form_get(&f, "request_uri"))
        set_error(out, "request_not_supported", "request objects are not supported");
    if (!out->response_type)
        set_error(out, "invalid_request", "response_type is required");
    else if (strcmp(out->response_type, "code") != 0)
        set_error(out, "unsupported_response_type", "only response_type=code is supported");
    if (!out->code_challenge)
        set_error(out, "invalid_request", "code_challenge is required (PKCE S256)");
    else if (!out->code_challenge_method || strcmp(out->code_challenge_method, "S256") != 0)
        set_error(out, "invalid_request", "code_challenge_method must be S256");
    else if (!challenge_valid(out->code_challenge))
        set_error(out, "invalid_request", "code_challenge is malformed");
    if (scope && strlen(scope) > AUTHORIZE_MAX_SCOPE)
        set_error(out, "invalid_scope", "scope is too long");
    else if (!normalise_scope(scope, scopes_supported, nscopes, &out->scope))
        set_error(out, "invalid_scope", "a requested scope is not supported");
    if (out->resource && !resource_valid(out->resource))
        set_error(out, "invalid_target", "resource must be an absolute http(s) URI without a fragment");
    free(scope);
    form_free(&f);
    return !out->page_error && !out->error;
}
