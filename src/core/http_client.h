/*
 * http_client.h - outbound HTTP(S) on a worker thread's event loop (libcurl multi_socket).
 *
 * Used for GitHub's OAuth and API endpoints, client metadata documents and the fetch tool.
 * One client per worker thread (per event_base); it keeps curl's connection cache, so
 * requests to the same host reuse connections. Not thread-safe: create, use and free a client
 * on the thread that runs its event_base.
 *
 * Every request gets exactly one done callback, from the event loop (never from inside
 * http_client_request), unless it is cancelled first. Only http and https are spoken, also
 * after redirects; compressed responses are decoded; proxies from the environment are ignored
 * (an address filter must see the address actually dialled); signals are never used.
 */
#ifndef MCPGW_CORE_HTTP_CLIENT_H
#define MCPGW_CORE_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "buf.h"
#include "err.h"
#include "http.h" /* struct http_header */

struct event_base;
struct http_client;
struct http_transfer; /* one request in flight: the handle for http_client_cancel */

/* What the done callback (and, so far, the data callback) sees. */
struct http_client_response {
    /* GW_OK when a whole response arrived, whatever its status code. Otherwise:
     * GW_ERR_TIMEOUT (connect or total deadline), GW_ERR_UNAVAILABLE (could not resolve or
     * connect), GW_ERR_TOO_LARGE (body over max_response_bytes, or headers over 64 KiB),
     * GW_ERR_TLS (handshake or certificate), GW_ERR_INVALID (bad URL, or every address was
     * refused by the address filter: address_refused is then true), GW_ERR_PROTOCOL (bad
     * response, too many redirects), GW_ERR_CLOSED (connection dropped mid-response, the data
     * callback stopped the transfer, or the client was freed), GW_ERR_IO (anything else). */
    enum gw_err err;
    long status;                       /* HTTP status of the last response, 0 when none */
    const struct http_header *headers; /* of the last response (after redirects), in order */
    size_t nheaders;
    struct buf body;           /* the body (empty when a data callback consumed it) */
    const char *error;         /* "" on success; curl's message or ours otherwise */
    int curl_code;             /* the CURLcode, for diagnostics */
    const char *effective_url; /* the URL finally fetched (after redirects), or "" */
    bool address_refused;      /* the address filter refused a connection */
};

/* Called once when the transfer ends. response and everything it points to are borrowed for
 * the duration of the call, except that the callback may take the body with
 * buf_take(&response->body) (then it owns and frees that memory). The transfer handle is
 * invalid once this returns. May start new requests, cancel others or free the client. */
typedef void (*http_client_done_fn)(struct http_client_response *response, void *arg);

/* Called for each piece of the body as it arrives, in order, before done (for SSE and
 * streaming relays). progress has status and headers filled in; the body buffer stays empty.
 * Return false to stop the transfer (done then gets GW_ERR_CLOSED). Must not free the client;
 * may cancel this or other transfers. */
typedef bool (*http_client_data_fn)(const struct http_client_response *progress, const char *data, size_t len,
                                    void *arg);

/* Called with each address curl is about to connect to (after DNS, for every connection,
 * redirects included), so DNS rebinding cannot slip past it. Return false to refuse. */
typedef bool (*http_client_address_filter_fn)(const struct sockaddr *addr, socklen_t addrlen, void *arg);

struct http_client_request {
    const char *method;                /* "GET" when NULL; "HEAD", "POST", "PUT", "PATCH", "DELETE", ... */
    const char *url;                   /* absolute http:// or https:// URL; required */
    const struct http_header *headers; /* extra request headers (copied); may replace curl's */
    size_t nheaders;
    const void *body; /* request body (copied); sent when body_len > 0 or method is POST/PUT/PATCH */
    size_t body_len;
    unsigned connect_timeout_ms; /* 0: 10 s */
    unsigned timeout_ms;         /* whole transfer; 0: 30 s */
    size_t max_response_bytes;   /* decoded body cap; 0: 8 MiB; SIZE_MAX: no cap (streams) */
    bool follow_redirects;
    unsigned max_redirects;                      /* when following; 0: 5 */
    http_client_data_fn on_data;                 /* optional streaming callback */
    http_client_address_filter_fn allow_address; /* optional; disables connection reuse */
    void *filter_arg;                            /* passed to allow_address */
    const char *ca_file;                         /* PEM CA bundle instead of the system's; copied */
};

/* Create a client on base (borrowed; must outlive the client). Returns GW_OK and *out (caller
 * frees with http_client_free), or GW_ERR_IO when curl cannot be set up. */
enum gw_err http_client_create(struct event_base *base, struct http_client **out);

/* Free the client on its loop thread. Transfers still running get their done callback with
 * GW_ERR_CLOSED (inside this call, or, when called from inside a callback of this client,
 * before it returns to the loop); cancelled ones get nothing. NULL is ignored. */
void http_client_free(struct http_client *client);

/* Start a request. req and everything it points to are copied before this returns. Returns
 * GW_OK and, when handle is not NULL, the transfer in *handle (valid until done is called or
 * the transfer is cancelled). Refused without a callback: GW_ERR_INVALID (no URL or done
 * callback, a bad method, a header name that is not a token, a header value with CR or LF,
 * or a header line over 64 KiB), GW_ERR_CLOSED (the client is being freed), GW_ERR_IO (curl
 * refused the options). */
enum gw_err http_client_request(struct http_client *client, const struct http_client_request *req,
                                http_client_done_fn done, void *arg, struct http_transfer **handle);

/* Abort a transfer; its done callback is never called afterwards. handle must be a live
 * transfer of this client (not one whose done callback already ran). */
void http_client_cancel(struct http_transfer *handle);

/* Transfers started and not yet finished or cancelled. For tests and metrics. */
size_t http_client_active(const struct http_client *client);

#endif
