/*
 * jsonrpc.h - JSON-RPC 2.0 messages as MCP uses them: parsing a POST body into messages,
 * classifying each one, and building response objects.
 *
 * Pure functions over jansson values; no I/O and no global state, so they can be unit-tested
 * and fuzzed directly. Bodies come from the network: parsing rejects duplicate object keys
 * (two "method" members would let two parsers disagree on what a message means), invalid
 * UTF-8 and NUL characters in strings (jansson's defaults), and anything but an object or a
 * non-empty array at the top level.
 *
 * MCP narrows JSON-RPC: a request id is a string or an integer (never null, never a
 * fraction), and params, when present, is an object.
 */
#ifndef MCPGW_MCP_JSONRPC_H
#define MCPGW_MCP_JSONRPC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

/* JSON-RPC 2.0 error codes. */
#define JSONRPC_PARSE_ERROR -32700
#define JSONRPC_INVALID_REQUEST -32600
#define JSONRPC_METHOD_NOT_FOUND -32601
#define JSONRPC_INVALID_PARAMS -32602
#define JSONRPC_INTERNAL_ERROR -32603
/* Implementation-defined server errors (-32000..-32019: what the 2025 SDKs use for transport
 * errors such as a missing session header; -32001 is their "Session not found"). */
#define JSONRPC_SERVER_ERROR -32000
#define JSONRPC_SESSION_NOT_FOUND -32001
/* MCP 2026-07-28 protocol errors (the range -32020..-32099 is reserved for the MCP spec). */
#define MCP_ERROR_HEADER_MISMATCH -32020
#define MCP_ERROR_MISSING_CLIENT_CAPABILITY -32021
#define MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION -32022

enum jsonrpc_kind {
    JSONRPC_REQUEST,      /* method + id: needs a response */
    JSONRPC_NOTIFICATION, /* method, no id: never answered */
    JSONRPC_RESPONSE,     /* id + result or error: a client answering a server request */
    JSONRPC_INVALID       /* anything else; answered with -32600 (id kept when readable) */
};

struct jsonrpc_message {
    enum jsonrpc_kind kind;
    json_t *object;             /* the message (borrowed from the batch's root) */
    json_t *id;                 /* borrowed; NULL when absent or unusable */
    const char *method;         /* borrowed; NULL unless a request or notification */
    json_t *params;             /* borrowed; NULL when absent; an object otherwise */
    const char *invalid_reason; /* JSONRPC_INVALID only: static text for the error message */
};

/* A parsed POST body: one message, or a batch (a JSON array) of them. */
struct jsonrpc_batch {
    json_t *root;  /* owned: the whole document */
    bool is_array; /* the body was a batch, even a batch of one */
    size_t count;
    struct jsonrpc_message *messages; /* owned array of count entries */
};

/* Parse body[0..len). On GW_OK *out holds the messages (free with jsonrpc_batch_free), each
 * classified; an invalid member of a batch is a JSONRPC_INVALID message, not a failure.
 * Failures leave *out empty and append a short reason to why (may be NULL):
 *   GW_ERR_PROTOCOL  not JSON (answer -32700 Parse error)
 *   GW_ERR_INVALID   JSON but neither an object nor a non-empty array (answer -32600) */
enum gw_err jsonrpc_parse(const char *body, size_t len, struct jsonrpc_batch *out, struct buf *why);
void jsonrpc_batch_free(struct jsonrpc_batch *batch);

/* Classify one JSON value as a message. value is borrowed and must outlive out. */
void jsonrpc_classify(json_t *value, struct jsonrpc_message *out);

/* Whether id is usable as a request id in MCP: a string or an integer. */
bool jsonrpc_id_valid(const json_t *id);

/* {"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message[,"data":data]}}.
 * message need not be valid UTF-8 (see jsonrpc_lenient_string); id is copied (NULL gives "id":null, as
 * JSON-RPC wants when the id could not be read); data is stolen (may be NULL). Returns a new reference
 * (caller decrefs). */
json_t *jsonrpc_error_response(const json_t *id, int code, const char *message, json_t *data);
/* {"jsonrpc":"2.0","id":id,"result":result}. id is copied, result is stolen. New reference. */
json_t *jsonrpc_result_response(const json_t *id, json_t *result);
/* {"jsonrpc":"2.0","method":method[,"params":params]}. params is stolen (may be NULL). */
json_t *jsonrpc_notification(const char *method, json_t *params);

/* A new JSON string of text (caller decrefs); bytes that would make it invalid UTF-8 become
 * '?' (for text that quotes header values or truncated names). text must not be NULL. */
json_t *jsonrpc_lenient_string(const char *text);

/* Serialize compactly (one line: strings escape their newlines, so the text is safe as one
 * SSE data line). Caller frees with free(). Never NULL (aborts on out-of-memory). */
char *jsonrpc_dump(const json_t *value);

/* The string member name of object params, or NULL when params is not an object or the
 * member is missing or not a string. Borrowed from params. */
const char *jsonrpc_param_string(const json_t *params, const char *name);

#endif
