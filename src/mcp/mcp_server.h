/*
 * mcp_server.h - an MCP server over Streamable HTTP, for services to build on (echo, fetch, ...).
 *
 * A service creates one struct mcp_server at start-up, registers its tools (and prompts),
 * wires mcp_server_worker_* into its role's worker hooks, and hands every HTTP request to
 * mcp_server_handle. The server speaks every revision in MCP_PROTOCOL_VERSIONS_SUPPORTED on
 * one endpoint (/mcp): the 2025 revisions with initialize and, for a stateful service,
 * Mcp-Session-Id sessions, a GET stream and DELETE; 2026-07-28 statelessly. Everything below
 * runs on worker threads; tool handlers run on the worker that read the request.
 *
 * Tool and prompt handlers receive a struct mcp_call and must finish it exactly once with one
 * of the mcp_call_return_* functions, at once or later (after their own asynchronous work on
 * the same worker's event loop: mcp_call_base). If the client goes away first the call is
 * cancelled (mcp_call_cancelled, and the on_cancel callback): it must still be finished, and
 * the answer is dropped.
 */
#ifndef MCPGW_MCP_MCP_SERVER_H
#define MCPGW_MCP_MCP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"
#include "core/http.h"
#include "core/server.h"

struct mcp_server;
struct mcp_call;

/* A tool or prompt handler. arguments is the request's "arguments" object (an empty object
 * when absent; borrowed until the call is finished). */
typedef void (*mcp_handler_fn)(struct mcp_call *call, const json_t *arguments, void *arg);

struct mcp_tool {
    const char *name;  /* unique; letters, digits, '_', '-', '.' */
    const char *title; /* human-readable; may be NULL */
    const char *description;
    /* The JSON Schema of the arguments, as JSON text; NULL means {"type":"object"}. Arguments
     * are checked against its "type", "required", "properties" types and
     * "additionalProperties": false before the handler runs. */
    const char *input_schema;
    const char *annotations; /* JSON text of ToolAnnotations, or NULL */
    mcp_handler_fn handler;
    void *arg;
};

struct mcp_prompt_argument {
    const char *name;
    const char *description;
    bool required;
};

struct mcp_prompt {
    const char *name;
    const char *title; /* may be NULL */
    const char *description;
    const struct mcp_prompt_argument *arguments;
    size_t narguments;
    /* Finish with mcp_call_return_result and a GetPromptResult object
     * ({"description":..,"messages":[...]}). Required arguments are checked before. */
    mcp_handler_fn handler;
    void *arg;
};

struct mcp_server_options {
    const char *service;        /* log and metrics name, e.g. "mcp-echo" (borrowed, static) */
    const char *server_name;    /* serverInfo.name */
    const char *server_version; /* serverInfo.version */
    const char *instructions;   /* may be NULL */
    /* Sessions for 2025 clients: Mcp-Session-Id on initialize, GET stream, DELETE. Stateless
     * services answer GET and DELETE with 405 and never mint session ids. */
    bool stateful;
    /* Per-session state of a stateful service (may be NULL), made at initialize and destroyed
     * when the session ends or expires. */
    void *(*session_create)(void *arg);
    void (*session_destroy)(void *state, void *arg);
    void *session_arg;
    /* A relay (mcpgw stdio-proxy) sets relay_request: then every request of a POST, whatever
     * its method (initialize, ping, tools/list, tools/call, server/discover, ...), goes to it
     * instead of the built-in methods and registered tools. The transport's own rules (Origin,
     * headers, sessions, batches, 2026-07-28 checks) still apply before. The handler finishes
     * the call like a tool handler (mcp_call_method and mcp_call_params say what was asked). */
    void (*relay_request)(struct mcp_call *call, void *arg);
    /* With a relay: notifications and responses a client POSTs (notifications/initialized,
     * answers to server-to-client requests). session_state is the session's service state, or
     * NULL without a session; message is borrowed for the call. May be NULL. */
    void (*relay_message)(void *session_state, const json_t *message, void *arg);
    void *relay_arg;
};

/* Create a server from options (copied; the strings are borrowed and must outlive the server)
 * and the configuration: MCP_PROTOCOL_VERSIONS_SUPPORTED, MCP_PROTOCOL_VERSION,
 * MCP_CORS_ORIGINS, MCP_SESSION_TIMEOUT (seconds, default 3600), MCP_MAX_SESSIONS (default
 * 10000). Warnings and errors are appended to errors as lines ("WARNING: ..."/"ERROR: ...");
 * NULL on an error. Free with mcp_server_free after the workers have stopped. */
struct mcp_server *mcp_server_create(const struct mcp_server_options *options, const struct config *cfg,
                                     struct buf *errors);
void mcp_server_free(struct mcp_server *server);

/* Register a tool or prompt (before the workers start). The structs' strings are borrowed
 * and must outlive the server. GW_ERR_INVALID (with an "ERROR: ..." line) for a bad schema or
 * a duplicate name. */
enum gw_err mcp_server_add_tool(struct mcp_server *server, const struct mcp_tool *tool, struct buf *errors);
enum gw_err mcp_server_add_prompt(struct mcp_server *server, const struct mcp_prompt *prompt,
                                  struct buf *errors);

/* Serve the MCP endpoint (/mcp and /mcp/). Returns false, without answering, for other paths. */
bool mcp_server_handle(struct mcp_server *server, struct http_exchange *ex);

/* Worker hooks: call from the role's worker_init, worker_drain and worker_fini. Drain closes
 * the worker's open GET streams so a graceful shutdown does not wait for them. */
void mcp_server_worker_init(struct mcp_server *server, struct worker *worker);
void mcp_server_worker_drain(struct mcp_server *server, struct worker *worker);
void mcp_server_worker_fini(struct mcp_server *server, struct worker *worker);

/* ---- inside a tool or prompt handler ---- */

/* The tool or prompt name. Borrowed until the call is finished. */
const char *mcp_call_name(const struct mcp_call *call);
/* A request header (case-insensitive), or NULL when absent or the client has gone. Borrowed
 * until the handler returns (read what you need before going asynchronous). */
const char *mcp_call_header(const struct mcp_call *call, const char *name);
/* The user the gateway authenticated (X-User-Name, else X-User-Id), or NULL. Borrowed like
 * mcp_call_header. */
const char *mcp_call_user(const struct mcp_call *call);
/* The negotiated revision's name ("2025-06-18"). Static. */
const char *mcp_call_protocol_version(const struct mcp_call *call);
/* The session's id and service state, or NULL (stateless service, or a 2026-07-28 request).
 * Use the state between mcp_call_session_lock and _unlock: requests of one session may run on
 * several workers at once. */
const char *mcp_call_session_id(const struct mcp_call *call);
void *mcp_call_session_state(const struct mcp_call *call);
void mcp_call_session_lock(struct mcp_call *call);
void mcp_call_session_unlock(struct mcp_call *call);
/* The event loop of the worker running the call (for timers and clients). */
struct event_base *mcp_call_base(const struct mcp_call *call);
/* Whether the client has gone (the answer will be dropped). */
bool mcp_call_cancelled(const struct mcp_call *call);
/* fn(call, arg) runs once if the client goes away before the call is finished. */
void mcp_call_on_cancel(struct mcp_call *call, void (*fn)(struct mcp_call *call, void *arg), void *arg);
/* Send notifications/progress when the client asked for it (a progressToken) and the answer
 * is an SSE stream; otherwise nothing. message may be NULL; total <= 0 means unknown. */
void mcp_call_progress(struct mcp_call *call, double progress, double total, const char *message);

/* For relays: the request's method and params (params may be NULL). Borrowed until the call is
 * finished. */
const char *mcp_call_method(const struct mcp_call *call);
/* The request's id as the client sent it (a string or an integer). Borrowed like the params. */
const json_t *mcp_call_id(const struct mcp_call *call);
const json_t *mcp_call_params(const struct mcp_call *call);
/* The call's session (NULL without one), for mcp_session_post and mcp_session_id. A service
 * may keep it as a plain pointer in its session state: the state dies with the session. */
struct mcp_session *mcp_call_session(const struct mcp_call *call);
/* Send a message (a notification or a server-to-client request) on the call's own SSE answer.
 * Returns false (message still stolen) when the answer is JSON or the client has gone: then
 * use the session's GET stream (mcp_session_post). */
bool mcp_call_notify(struct mcp_call *call, json_t *message);
/* End a session as DELETE would (its GET stream closes; the next request gets 404). False when
 * the id was not a live session. Any thread. */
bool mcp_server_end_session(struct mcp_server *server, const char *session_id);

/* Finish the call. text: a CallToolResult with one text item (isError when is_error; text is
 * copied). result: any result object (stolen). error: a JSON-RPC error (message copied). */
void mcp_call_return_text(struct mcp_call *call, const char *text, bool is_error);
void mcp_call_return_result(struct mcp_call *call, json_t *result);
void mcp_call_return_error(struct mcp_call *call, int code, const char *message);
/* The same with the HTTP status a single-request POST gets (e.g. 503 when a relay has no room). */
void mcp_call_return_error_status(struct mcp_call *call, int http_status, int code, const char *message);
/* A relayed answer: response is the JSON-RPC response object of another server (stolen); its
 * id is replaced by the call's and a 2026-07-28 result is decorated as usual. */
void mcp_call_return_response(struct mcp_call *call, json_t *response);

#endif
