/*
 * authorize_params.h - parsing and checking the parameters of GET /authorize (RFC 6749 §4.1.1,
 * OAuth 2.1, RFC 7636 PKCE, RFC 8707 resource), without I/O so it can be unit-tested and fuzzed.
 *
 * Two kinds of problems are told apart, because RFC 6749 §4.1.2.1 forbids redirecting before
 * the client and its redirect URI are known to be genuine:
 *   page_error  the query cannot be parsed, client_id is missing/repeated/too long, or
 *               redirect_uri is repeated/too long/malformed: shown on an HTML page, never a
 *               redirect.
 *   error       everything else (response_type, PKCE, scope, resource, other repeated
 *               parameters): sent to the redirect URI once the caller has verified it.
 */
#ifndef MCPGW_AUTH_AUTHORIZE_PARAMS_H
#define MCPGW_AUTH_AUTHORIZE_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

#define AUTHORIZE_MAX_CLIENT_ID 2048
#define AUTHORIZE_MAX_REDIRECT_URI 2048
#define AUTHORIZE_MAX_STATE 2048
#define AUTHORIZE_MAX_SCOPE 1024
#define AUTHORIZE_MAX_RESOURCE 2048

/* Every string is owned (authorize_request_free) and NULL when the parameter was absent. */
struct authorize_request {
    char *client_id;
    char *redirect_uri;
    char *response_type;
    char *state;
    char *code_challenge;
    char *code_challenge_method;
    char *scope; /* normalised: requested scopes, de-duplicated, single spaces; default all */
    char *resource;
    const char *page_error;        /* static text, or NULL */
    const char *error;             /* OAuth error code, or NULL */
    const char *error_description; /* static text, or NULL */
};

/* Parse query[0..len) (without '?'). scopes_supported[0..nscopes) are the scopes a client may
 * ask for; a request without scope gets all of them. Returns true when the request is valid;
 * otherwise page_error or error (and error_description) says why. *out is always filled as far
 * as possible (state in particular, for the error redirect) and must be freed. */
bool authorize_request_parse(const char *query, size_t len, const char *const *scopes_supported,
                             size_t nscopes, struct authorize_request *out);
void authorize_request_free(struct authorize_request *req);

/* Whether scope (space-separated) is within allowed (space-separated). */
bool scope_is_subset(const char *scope, const char *allowed);

#endif
