/*
 * bearer.h - the pure parts of the router's token check: the Authorization header -> token
 * (RFC 6750 §2.1), verified claims -> struct token_identity, and the scope check. No I/O and no
 * state, so the libFuzzer target tests/fuzz/fuzz_bearer.c can drive them directly.
 */
#ifndef MCPGW_ROUTER_BEARER_H
#define MCPGW_ROUTER_BEARER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "router/token_check.h"

enum bearer_parse_result {
    BEARER_OK = 0,
    BEARER_ABSENT,    /* no header, an empty one, or another scheme (Basic, ...): no token was sent */
    BEARER_MALFORMED, /* "Bearer" with a missing, oversized or non-b64token credential */
};

/*
 * Find the token in an Authorization header value (may be NULL). The scheme is matched without
 * regard to case; one or more spaces separate it from the token, which must be an RFC 6750
 * b64token (ALPHA DIGIT - . _ ~ + / then trailing =) of at most JWT_MAX_TOKEN_LEN bytes;
 * trailing spaces and tabs are ignored. On BEARER_OK *token points into header (borrowed) and
 * *len is its length; otherwise both are left unset.
 */
enum bearer_parse_result bearer_parse(const char *header, const char **token, size_t *len);

/*
 * Fill identity from verified claims (borrowed). sub and jti are required strings; username,
 * client_id and scope are optional strings (absent: ""); exp must be an integer. A value that
 * does not fit its field is refused rather than cut (two users must never collapse into one).
 * Returns false (identity then zeroed) when the claims do not describe a usable identity.
 */
bool bearer_identity_from_claims(const json_t *claims, struct token_identity *identity);

/* True when the space-separated scope list `granted` contains every one of the n scopes in
 * `required` (exact, case-sensitive matches). n == 0 is always true. */
bool bearer_scopes_satisfied(const char *granted, char *const *required, size_t n);

#endif
