/*
 * fuzz_auth_token_form.c - any bytes as a token-endpoint request body (and, split at the first
 * NUL, a Content-Type): parsing never crashes or leaks; an accepted request has a supported
 * grant type with the parameters that grant needs (a valid PKCE verifier for codes); a refusal
 * leaves nothing behind and names an OAuth error. Also feeds the bytes to the redirect-URI
 * matcher as both sides.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/client_meta.h"
#include "auth/token_params.h"
#include "core/crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const errors[] = {"invalid_request", "unsupported_grant_type", "invalid_grant",
                                     "invalid_target",  "invalid_scope",          NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    char *ctype = NULL;
    const char *body = text;
    size_t body_len = size;
    if (nul) {
        ctype = strndup(text, (size_t)(nul - text));
        body = nul + 1;
        body_len = size - (size_t)(nul - text) - 1;
    }
    const char *content_type = ctype ? ctype : "application/x-www-form-urlencoded";
    struct token_params p;
    const char *error = NULL, *description = NULL;
    if (token_params_parse(content_type, body, body_len, &p, &error, &description) == GW_OK) {
        if (!p.grant_type)
            abort();
        if (strcmp(p.grant_type, "authorization_code") == 0) {
            if (!p.code || !*p.code || !p.redirect_uri || !p.code_verifier ||
                !pkce_verifier_valid(p.code_verifier, strlen(p.code_verifier)))
                abort();
        } else if (strcmp(p.grant_type, "refresh_token") == 0) {
            if (!p.refresh_token || !*p.refresh_token)
                abort();
        } else {
            abort();
        }
        if (p.redirect_uri)
            (void)redirect_uri_matches("http://127.0.0.1/cb", p.redirect_uri);
        token_params_free(&p);
    } else {
        if (p.grant_type || p.code || p.client_id || !description)
            abort();
        int known = 0;
        for (size_t i = 0; errors[i]; i++)
            known |= error && strcmp(error, errors[i]) == 0;
        if (!known)
            abort();
    }
    if (ctype) {
        char *uri = strndup(body, body_len);
        if (uri && strlen(uri) == body_len)
            (void)redirect_uri_matches(ctype, uri);
        free(uri);
    }
    free(ctype);
    return 0;
}
