/*
 * http.h - what a request handler sees: the parsed request and the ways to answer it.
 *
 * A handler is called on the worker thread that owns the connection, once per request, after
 * the whole request (headers and body, within the server's limits) has arrived. It answers at
 * once or later (after Redis or an upstream replied), on the same thread:
 *   - http_respond*(): one complete response; the exchange is finished afterwards.
 *   - http_stream_start() / http_stream_write() / http_stream_end(): a streamed response
 *     (chunked on HTTP/1.1), used for Server-Sent Events and proxied bodies. Each write is
 *     handed to the socket at once, so an SSE event is flushed when it is written.
 *
 * Lifetime: the exchange and everything it points to (request strings, arena memory) live until
 * the response is finished or the client goes away. If the handler keeps the exchange across
 * an asynchronous step it should register http_exchange_on_close(): when the client
 * disconnects first, that callback runs and the exchange is gone when it returns. Without a
 * close callback the exchange is kept until the handler answers, and the answer is dropped.
 */
#ifndef MCPGW_CORE_HTTP_H
#define MCPGW_CORE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct event_base;
struct http_exchange;

struct http_header {
    const char *name;  /* as sent (case kept); NUL-terminated */
    const char *value; /* leading/trailing whitespace removed; NUL-terminated */
};

struct http_request {
    const char *method; /* "GET", "POST", ... (static string) */
    const char *target; /* the raw request-target, e.g. "/mcp?x=1" */
    const char *path;   /* target without the query; not percent-decoded */
    const char *query;  /* after '?', "" when none; not decoded */
    const struct http_header *headers;
    size_t nheaders;
    const char *body; /* NUL-terminated for convenience; may contain NULs (use body_len) */
    size_t body_len;
    const char *request_id;  /* the client's sane X-Request-Id, or a generated one */
    const char *remote_addr; /* peer IP address as text */
    int remote_port;
    bool tls;           /* arrived over TLS */
    int version_minor;  /* 0 or 1 (HTTP/1.x) */
    int64_t start_usec; /* monotonic time the request started (microseconds) */
};

typedef void (*http_handler_fn)(struct http_exchange *ex, void *arg);
typedef void (*http_close_fn)(struct http_exchange *ex, void *arg);
typedef void (*http_drain_fn)(struct http_exchange *ex, void *arg);

/* The request. Borrowed for the exchange's lifetime. */
const struct http_request *http_request(const struct http_exchange *ex);
/* First header with this name (case-insensitive), or NULL. Borrowed like the request. */
const char *http_header(const struct http_exchange *ex, const char *name);
/* Number of headers with this name (used to reject repeated Host, Authorization, ...). */
size_t http_header_count(const struct http_exchange *ex, const char *name);
/* The worker's event loop, for timers and clients the handler starts. */
struct event_base *http_exchange_base(const struct http_exchange *ex);

/* Whether the peer is a loopback address (a proxy on this machine, e.g. the router). */
bool http_peer_is_loopback(const struct http_exchange *ex);
/* The client's IP address: the peer's, or, when the peer is a proxy on this machine
 * (loopback), the last X-Forwarded-For entry if it is an IP address (the one that proxy added).
 * Borrowed for the exchange's lifetime. */
const char *http_client_ip(struct http_exchange *ex);

/* Memory that lives exactly as long as the exchange (freed with it; never free it yourself). */
void *http_exchange_alloc(struct http_exchange *ex, size_t size);
char *http_exchange_strdup(struct http_exchange *ex, const char *s);

/* Fields for the access-log line and metrics: the authenticated user and OAuth client. Copied. */
void http_exchange_set_identity(struct http_exchange *ex, const char *user, const char *client_id);
/* The name of what served the request (the router's service: "auth", "echo", ...), logged as
 * "route". Not copied: it must outlive the exchange (a configuration string does). */
void http_exchange_set_route(struct http_exchange *ex, const char *route);
/* A short reason added to the access-log line as "error" (e.g. "invalid_token"). Copied. */
void http_exchange_set_error(struct http_exchange *ex, const char *error);
/* Register the disconnect callback (see the lifetime rule above). */
void http_exchange_on_close(struct http_exchange *ex, http_close_fn fn, void *arg);

/* Add a response header (copied). Call before http_respond or http_stream_start.
 * Content-Length, Transfer-Encoding, Connection and Date are the server's and are ignored. */
void http_response_header(struct http_exchange *ex, const char *name, const char *value);

/* Send a complete response and finish the exchange. content_type may be NULL for no body. */
void http_respond(struct http_exchange *ex, int status, const char *content_type, const void *body,
                  size_t len);
/* JSON body (a NUL-terminated serialized document). */
void http_respond_json(struct http_exchange *ex, int status, const char *json);
/* {"error":error,"error_description":description} with the right content type; both escaped. */
void http_respond_error(struct http_exchange *ex, int status, const char *error, const char *description);

/* Start a streamed response. Content-Length unknown: chunked on HTTP/1.1, close-delimited on 1.0. */
enum gw_err http_stream_start(struct http_exchange *ex, int status, const char *content_type);
/* Queue data for the client; it is written as soon as the socket allows. GW_ERR_CLOSED if the
 * client has gone. */
enum gw_err http_stream_write(struct http_exchange *ex, const void *data, size_t len);
/* Bytes queued but not yet written to the socket (for backpressure). */
size_t http_stream_pending(const struct http_exchange *ex);
/* Call fn once when the queued output has drained below the low watermark. */
void http_stream_on_drain(struct http_exchange *ex, http_drain_fn fn, void *arg);
/* Finish a streamed response (terminating chunk). The exchange is finished afterwards. */
void http_stream_end(struct http_exchange *ex);

/* The reason phrase of a status code ("Not Found"). Static. */
const char *http_status_text(int status);

#endif
