/*
 * acme_challenge.h - what the router's plain-HTTP listener does besides redirecting: serve ACME
 * HTTP-01 challenge files (RFC 8555 §8.3) from a directory, and redirect everything else to
 * HTTPS.
 */
#ifndef MCPGW_ROUTER_ACME_CHALLENGE_H
#define MCPGW_ROUTER_ACME_CHALLENGE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/acme_paths.h" /* acme_challenge_dir, acme_challenge_token_ok */
#include "core/config.h"
#include "core/http.h"

#define ACME_CHALLENGE_PREFIX "/.well-known/acme-challenge/"
/* Largest challenge file served; a key authorization is under 100 bytes. */
#define ACME_CHALLENGE_MAX_BYTES 4096

/*
 * If the request path starts with ACME_CHALLENGE_PREFIX, answer it and return true: GET/HEAD
 * of an existing regular file dir/<token> (not a symlink, at most ACME_CHALLENGE_MAX_BYTES) is
 * 200 application/octet-stream with its bytes; an unsafe or unknown token is 404; another
 * method is 405. Otherwise return false without touching the exchange. dir is borrowed.
 */
bool acme_challenge_route(struct http_exchange *ex, const char *dir);

/*
 * Write into out (cap bytes) the https:// URL for this request: the Host header's name (its
 * port dropped) with https_port unless 443, and the request-target unchanged. false (out
 * unusable) when the Host header is missing or not a plain host name / IP literal, the
 * target holds a control character or space, or the URL does not fit.
 */
bool https_redirect_location(const struct http_exchange *ex, int https_port, char *out, size_t cap);

/* The same from a Host value and a request-target (either may be NULL), for tests and fuzzing. */
bool https_location_for(const char *host, const char *target, int https_port, char *out, size_t cap);

/* Answer the request with 308 Permanent Redirect to https_redirect_location (308 keeps the
 * method and body), or 400 invalid_request when the Host header is unusable. */
void https_redirect(struct http_exchange *ex, int https_port);

#endif
