/*
 * mcp_internal.h - what mcp_server.c (methods, tools, calls) and streamable_http.c (the HTTP
 * transport) share. Not for services: they use mcp_server.h.
 *
 * One POST is a struct mcp_post: the parsed body, the session it belongs to, the response
 * mode (one JSON body, or an SSE stream) and the answers collected so far. Each request in
 * it becomes a struct mcp_call; when the last call is finished the POST is answered.
 * A post is reference-counted: one reference for the HTTP exchange (dropped when the answer is
 * sent or the client goes away), one per unfinished call, and one while the transport is
 * still dispatching the body's messages. All of it lives on one worker thread.
 */
#ifndef MCPGW_MCP_INTERNAL_H
#define MCPGW_MCP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/metrics.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp_server.h"
#include "mcp/protocol.h"
#include "mcp/session.h"

#define MCP_MAX_WORKERS 64
#define MCP_KEEPALIVE_SECONDS 15

struct mcp_registered_tool {
    const struct mcp_tool *def;
    struct mcp_tool copy; /* def points here */
    json_t *schema;       /* parsed input schema (owned) */
    json_t *listing;      /* its tools/list entry (owned) */
};

struct mcp_registered_prompt {
    struct mcp_prompt copy;
    json_t *listing; /* its prompts/list entry (owned) */
};

struct mcp_stream; /* a GET stream (streamable_http.c) */

/* Per worker: its open GET streams (closed on drain) and, on worker 0, the expiry sweeper. */
struct mcp_worker_state {
    struct mcp_stream *streams;
    struct event *sweeper;
};

struct mcp_server {
    struct mcp_server_options opts;
    struct mcp_versions versions;
    char **origins; /* MCP_CORS_ORIGINS */
    size_t norigins;
    struct mcp_session_table *sessions; /* NULL for a stateless service */
    struct mcp_registered_tool *tools;
    size_t ntools;
    struct mcp_registered_prompt *prompts;
    size_t nprompts;
    struct mcp_worker_state workers[MCP_MAX_WORKERS];
};

struct mcp_post {
    struct mcp_server *server;
    struct http_exchange *ex; /* NULL once answered or the client has gone */
    struct jsonrpc_batch batch;
    struct mcp_session *session; /* a reference, or NULL */
    enum mcp_version version;
    bool modern;
    bool sse;           /* answer as an SSE stream */
    bool streaming;     /* the SSE response has started */
    json_t *collected;  /* JSON mode: the responses so far (an array) */
    size_t outstanding; /* requests not yet answered */
    int refs;
    int http_status;        /* for a single request: 200, or 404 for an unknown 2026-07-28 method */
    struct mcp_call *calls; /* unfinished calls (doubly linked) */
    struct event *keepalive;
};

struct mcp_call {
    struct mcp_post *post;
    struct mcp_call *next, *prev;
    const struct jsonrpc_message *message;
    const char *name; /* tool or prompt name ("" for other methods) */
    const struct mcp_registered_tool *tool;
    json_t *arguments;      /* owned reference */
    json_t *progress_token; /* borrowed from the body, or NULL */
    bool cancelled;
    int64_t start_usec;
    void (*on_cancel)(struct mcp_call *call, void *arg);
    void *cancel_arg;
};

/* ---- mcp_server.c: methods ---- */

/* Run one request of a post (the transport has counted it in post->outstanding). The answer
 * comes back through mcp_post_deliver, now or later. */
void mcp_dispatch_request(struct mcp_post *post, const struct jsonrpc_message *message);

/* Metrics (registered once per process; any may be NULL if registration failed). */
struct mcp_metrics {
    struct metric_family *tool_calls;  /* mcp_tool_calls_total{service,tool,status} */
    struct metric_family *requests;    /* mcp_requests_total{service,method} */
    struct metric_family *sessions;    /* mcp_sessions_active{service} */
    struct metric_family *sse_streams; /* mcp_sse_streams_active{service} */
};
const struct mcp_metrics *mcp_metrics(void);

/* ---- streamable_http.c: answers ---- */

/* The final answer to one request of post (response stolen). status is the HTTP status a
 * single-request post should get (200, or 404 for an unknown 2026-07-28 method). */
void mcp_post_deliver(struct mcp_post *post, json_t *response, int status);
/* A notification related to a request (progress), sent only on an SSE answer (stolen). */
void mcp_post_notify(struct mcp_post *post, json_t *notification);
void mcp_post_unref(struct mcp_post *post);

#endif
