/*
 * endpoints.h - the handlers of the non-browser endpoints, called by auth_main.c's dispatch.
 * Each answers the exchange (now or after Redis / an upstream replied).
 */
#ifndef MCPGW_AUTH_ENDPOINTS_H
#define MCPGW_AUTH_ENDPOINTS_H

#include <stdbool.h>

#include "core/http.h"

/* metadata.c: serves the request when it is for a metadata path (returns true). */
bool metadata_route(struct http_exchange *ex);
void jwks_handle(struct http_exchange *ex);

/* registration.c */
void register_handle(struct http_exchange *ex);                               /* POST /register */
void register_manage_handle(struct http_exchange *ex, const char *client_id); /* /register/{id} */

/* token.c */
void token_handle(struct http_exchange *ex); /* POST /token */

/* revoke.c */
void revoke_handle(struct http_exchange *ex);     /* POST /revoke */
void introspect_handle(struct http_exchange *ex); /* POST /introspect */

/* verify.c */
void verify_handle(struct http_exchange *ex); /* GET|POST /verify */

/* debug.c: /debug and /debug/token/{jti} */
void debug_handle(struct http_exchange *ex);

#endif
