/*
 * proxy_head.h - the pure part of the proxy: which request headers go upstream and which
 * response headers come back (RFC 9110 §7.6.1 hop-by-hop rules, identity injection).
 *
 * No I/O and no allocation outside the caller's struct buf, so it can be fuzzed on its own
 * (tests/fuzz/fuzz_router_headers.c).
 */
#ifndef MCPGW_ROUTER_PROXY_HEAD_H
#define MCPGW_ROUTER_PROXY_HEAD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/http.h"

/* What the router knows about a request it forwards. Every string is borrowed; identity fields
 * may be NULL (routes that need no token) and are then not sent. */
struct proxy_head_input {
    const char *method; /* "POST" */
    const char *target; /* request-target for the upstream: "/mcp?x=1" */
    const struct http_header *headers;
    size_t nheaders;
    const char *upstream_authority; /* Host sent upstream: "127.0.0.1:3001" */
    const char *client_host;        /* the client's Host, for X-Forwarded-Host (may be NULL) */
    const char *client_addr;        /* peer address, for X-Forwarded-For */
    const char *scheme;             /* "http" or "https", for X-Forwarded-Proto */
    const char *request_id;         /* X-Request-Id */
    const char *user_id;            /* X-User-Id */
    const char *username;           /* X-User-Name */
    const char *client_id;          /* X-Client-Id */
    size_t body_len;                /* Content-Length sent upstream */
    /* Pass the client's Authorization on: only to the authorization server, which checks
     * client credentials itself (client_secret_basic at /token, /revoke, /introspect; the
     * registration access token at /register/{id}). An MCP upstream never gets the token. */
    bool keep_authorization;
};

/* Append the upstream request head (request line, headers, blank line) to out. The client's
 * Authorization (unless keep_authorization), Proxy-Authorization, X-User-*, X-Client-Id,
 * X-Forwarded-*, Forwarded, X-Real-IP, X-Request-Id, Host, Content-Length, Expect and every
 * hop-by-hop header (including the ones the client's Connection header names) are dropped;
 * fields with bytes that cannot appear in a header (CR, LF, NUL, other controls but tab) are
 * dropped, never forwarded. GW_ERR_INVALID when method or target is unusable; GW_ERR_TOO_LARGE
 * when out's cap is hit. */
enum gw_err proxy_build_request_head(const struct proxy_head_input *in, struct buf *out);

/* Whether a response header from the upstream should be relayed to the client. connection is
 * the upstream response's Connection header value (may be NULL): fields it names are hop-by-hop. */
bool proxy_response_header_relayed(const char *name, size_t name_len, const char *connection);

/* Whether name (name_len bytes, case-insensitive) is one of the tokens of a Connection value. */
bool proxy_connection_lists(const char *connection, const char *name, size_t name_len);

#endif
