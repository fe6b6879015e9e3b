/*
 * token_params.c - token-endpoint request parsing (see token_params.h).
 */
#include "auth/token_params.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/urlform.h"

void token_params_free(struct token_params *p)
{
    char **fields[] = {&p->grant_type, &p->code,     &p->redirect_uri, &p->code_verifier, &p->refresh_token,
                       &p->scope,      &p->resource, &p->client_id,    &p->client_secret,
                       &p->client_assertion_type, &p->client_assertion};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (*fields[i])
            crypto_wipe(*fields[i], strlen(*fields[i]));
        free(*fields[i]);
        *fields[i] = NULL;
    }
}

static char *dup_param(const struct form *form, const char *name)
{
    const char *v = form_get(form, name);
    return v ? gw_strdup(v) : NULL;
}

#define FAIL(err, text)                                                                                      \
    do {                                                                                                     \
        *error = (err);                                                                                      \
        *description = (text);                                                                               \
        goto fail;                                                                                           \
    } while (0)

enum gw_err token_params_parse(const char *content_type, const char *body, size_t len,
                               struct token_params *out, const char **error, const char **description)
{
    memset(out, 0, sizeof(*out));
    struct form form = {0};
    if (!content_type || strncasecmp(content_type, "application/x-www-form-urlencoded", 33) != 0 ||
        (content_type[33] != '\0' && content_type[33] != ';' && content_type[33] != ' '))
        FAIL("invalid_request", "The body must be application/x-www-form-urlencoded");
    if (form_parse(body, len, &form) != GW_OK)
        FAIL("invalid_request", "Malformed form body");
    const char *repeated = form_first_repeated(&form);
    if (repeated) {
        if (strcmp(repeated, "resource") == 0)
            FAIL("invalid_target", "Only one resource per token request");
        FAIL("invalid_request", "A parameter is repeated");
    }
    out->grant_type = dup_param(&form, "grant_type");
    out->code = dup_param(&form, "code");
    out->redirect_uri = dup_param(&form, "redirect_uri");
    out->code_verifier = dup_param(&form, "code_verifier");
    out->refresh_token = dup_param(&form, "refresh_token");
    out->scope = dup_param(&form, "scope");
    out->resource = dup_param(&form, "resource");
    out->client_id = dup_param(&form, "client_id");
    out->client_secret = dup_param(&form, "client_secret");
    out->client_assertion_type = dup_param(&form, "client_assertion_type");
    out->client_assertion = dup_param(&form, "client_assertion");
    form_free(&form);
    if (!out->grant_type || !*out->grant_type)
        FAIL("invalid_request", "grant_type is required");
    if (strcmp(out->grant_type, "authorization_code") == 0) {
        if (!out->code || !*out->code)
            FAIL("invalid_request", "code is required");
        if (!out->code_verifier)
            FAIL("invalid_request", "code_verifier is required (PKCE)");
        if (!pkce_verifier_valid(out->code_verifier, strlen(out->code_verifier)))
            FAIL("invalid_grant", "code_verifier is malformed");
        if (!out->redirect_uri)
            FAIL("invalid_request", "redirect_uri is required");
    } else if (strcmp(out->grant_type, "refresh_token") == 0) {
        if (!out->refresh_token || !*out->refresh_token)
            FAIL("invalid_request", "refresh_token is required");
    } else {
        FAIL("unsupported_grant_type", "Supported grant types: authorization_code, refresh_token");
    }
    if (out->resource && !*out->resource)
        FAIL("invalid_target", "resource is empty");
    if (out->scope && strlen(out->scope) > 1000)
        FAIL("invalid_scope", "scope is too long");
    *error = NULL;
    *description = NULL;
    return GW_OK;
fail:
    form_free(&form);
    token_params_free(out);
    return GW_ERR_INVALID;
}
