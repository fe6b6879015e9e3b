/*
 * http_head.h - a one-pass scanner for the everyday shape of an HTTP/1.x message.
 *
 * The server (http_conn.c) and the router's upstream client parse with llhttp, which handles
 * every shape HTTP/1.1 allows: heads split across reads, chunked bodies, close-delimited
 * responses, upgrades, lenient corner cases, and precise error reasons. Nearly every message
 * an MCP gateway sees is simpler: a head of plain ASCII lines and a Content-Length body, all
 * in one read. This scanner accepts exactly that subset, in one pass and without callbacks,
 * and answers HTTP_HEAD_DEFER for anything else (or anything incomplete); the caller then
 * hands the same bytes to llhttp as before. So it changes speed, never meaning: whatever it
 * accepts, llhttp accepts with the same method, target, version, fields, body and keep-alive
 * (tests/fuzz/fuzz_http_head.c checks that on every input it generates).
 *
 * The subset: a request line "METHOD SP /target SP HTTP/1.x CRLF" (GET, HEAD, POST, PUT, DELETE,
 * OPTIONS, PATCH) or a status line "HTTP/1.1 SP 2xx-5xx SP reason CRLF"; fields "token: value
 * CRLF" with visible ASCII, spaces and tabs only; no Transfer-Encoding, Upgrade, Expect or
 * Proxy-Connection; at most one Content-Length (decimal); Connection absent or exactly "close"
 * or "keep-alive"; every line ending in CRLF; the body complete. Responses also need a
 * Content-Length and must not be 1xx, 204 or 304, or answer a HEAD request (the caller's
 * business: it knows the method).
 *
 * Pure functions: no allocation, no I/O, safe on any bytes.
 */
#ifndef MCPGW_CORE_HTTP_HEAD_H
#define MCPGW_CORE_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_head_result {
    HTTP_HEAD_OK,    /* a complete message of the simple shape: see struct http_head */
    HTTP_HEAD_DEFER, /* anything else, or not all there yet: let llhttp parse these bytes */
};

/* Bytes of the scanned input: data + off, len bytes. */
struct http_head_span {
    uint32_t off, len;
};

struct http_head_field {
    struct http_head_span name;  /* as sent (case kept), without the colon */
    struct http_head_span value; /* without leading and trailing spaces and tabs */
};

/* More fields than this: deferred to llhttp, whose path applies the server's own limit. */
#define HTTP_HEAD_MAX_FIELDS 64

struct http_head {
    const char *method;           /* requests: static "GET", "POST", ...; NULL for responses */
    struct http_head_span target; /* requests: the request-target (starts with '/') */
    int status;                   /* responses: 200..599 */
    int version_minor;            /* 0 or 1 */
    struct http_head_field fields[HTTP_HEAD_MAX_FIELDS];
    size_t nfields;
    size_t head_len;       /* bytes through the blank line ending the head */
    size_t content_length; /* body bytes, which follow the head (0 without Content-Length) */
    bool keep_alive;       /* the connection may carry another message afterwards */
};

/* Scan a request at the start of data (len bytes). HTTP_HEAD_OK fills head; the message is
 * head->head_len + head->content_length bytes, and data may hold more (pipelined) after it. */
enum http_head_result http_head_scan_request(const char *data, size_t len, struct http_head *head);

/* Scan a response at the start of data, as for requests. The caller must not use this for the
 * answer to a HEAD request (its Content-Length describes a body that is not sent). */
enum http_head_result http_head_scan_response(const char *data, size_t len, struct http_head *head);

#endif
