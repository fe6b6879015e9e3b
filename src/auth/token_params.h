/*
 * token_params.h - parsing and validating a token-endpoint request body (RFC 6749 §4.1.3, §6,
 * RFC 7636 §4.5, RFC 8707) before anything touches Redis. Pure; fuzzed by
 * tests/fuzz/fuzz_auth_token_form.c.
 */
#ifndef MCPGW_AUTH_TOKEN_PARAMS_H
#define MCPGW_AUTH_TOKEN_PARAMS_H

#include <stddef.h>

#include "core/err.h"

/* The parameters; each is a NUL-terminated string owned by the struct, or NULL when absent. */
struct token_params {
    char *grant_type, *code, *redirect_uri, *code_verifier, *refresh_token, *scope, *resource;
    char *client_id, *client_secret;
    char *client_assertion_type, *client_assertion; /* RFC 7521 §4.2 (private_key_jwt) */
};

/*
 * Parse body[0..len) sent with content_type (may be NULL). GW_OK: *out filled (free with
 * token_params_free), grant_type is authorization_code (code, redirect_uri and a syntactically
 * valid code_verifier present) or refresh_token (refresh_token present). Otherwise
 * GW_ERR_INVALID, *out empty, *error the OAuth error code (invalid_request,
 * unsupported_grant_type, invalid_grant, invalid_target) and *description a static sentence.
 */
enum gw_err token_params_parse(const char *content_type, const char *body, size_t len,
                               struct token_params *out, const char **error, const char **description);
void token_params_free(struct token_params *p);

#endif
