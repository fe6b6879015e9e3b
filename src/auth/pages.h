/*
 * pages.h - the small HTML pages of the browser flow (errors, consent, login), every reflected
 * value HTML-escaped, served with headers that forbid framing, sniffing, caching and referrers.
 */
#ifndef MCPGW_AUTH_PAGES_H
#define MCPGW_AUTH_PAGES_H

#include <stddef.h>

#include "core/buf.h"
#include "core/http.h"

/* Append s[0..len) to out with & < > " ' escaped (safe in element text and quoted attributes).
 * NULL s appends nothing. GW_ERR_TOO_LARGE when out's cap is hit. */
enum gw_err html_escape_n(struct buf *out, const char *s, size_t len);
enum gw_err html_escape(struct buf *out, const char *s);

/* The security headers every page carries: X-Frame-Options DENY, CSP with frame-ancestors
 * 'none' (no script at all), nosniff, no-store, no referrer. */
void pages_security_headers(struct http_exchange *ex);

/* Send a complete page: title (escaped here) and body_html (already safe HTML, caller's
 * responsibility) inside the common layout, with the security headers. Finishes ex. */
void page_respond(struct http_exchange *ex, int status, const char *title, const char *body_html);

/* An error page: title and message are plain text and escaped here. Finishes ex. */
void page_error(struct http_exchange *ex, int status, const char *title, const char *message);

/* A 302 to location (absolute or relative) with the security headers. Finishes ex. */
void page_redirect(struct http_exchange *ex, const char *location);

#endif
