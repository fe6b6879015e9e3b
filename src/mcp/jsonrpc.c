/*
 * jsonrpc.c - parsing and classifying JSON-RPC 2.0 messages, building responses.
 */
#include "mcp/jsonrpc.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

bool jsonrpc_id_valid(const json_t *id)
{
    return id && (json_is_string(id) || json_is_integer(id));
}

void jsonrpc_classify(json_t *value, struct jsonrpc_message *out)
{
    memset(out, 0, sizeof(*out));
    out->object = value;
    out->kind = JSONRPC_INVALID;
    if (!json_is_object(value)) {
        out->invalid_reason = "Invalid Request: a message must be a JSON object";
        return;
    }
    json_t *id = json_object_get(value, "id");
    /* Keep a readable id even on invalid messages: the error reply should carry it. */
    if (jsonrpc_id_valid(id))
        out->id = id;
    json_t *version = json_object_get(value, "jsonrpc");
    if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
        out->invalid_reason = "Invalid Request: \"jsonrpc\" must be \"2.0\"";
        return;
    }
    json_t *method = json_object_get(value, "method");
    json_t *result = json_object_get(value, "result");
    json_t *error = json_object_get(value, "error");
    if (method) {
        if (!json_is_string(method) || json_string_length(method) == 0) {
            out->invalid_reason = "Invalid Request: \"method\" must be a non-empty string";
            return;
        }
        if (result || error) {
            out->invalid_reason = "Invalid Request: a request cannot carry \"result\" or \"error\"";
            return;
        }
        if (id && !jsonrpc_id_valid(id)) {
            out->invalid_reason = "Invalid Request: \"id\" must be a string or an integer";
            return;
        }
        json_t *params = json_object_get(value, "params");
        if (params && !json_is_object(params)) {
            /* MCP params are always objects; JSON-RPC's by-position arrays have no meaning here. */
            out->invalid_reason = "Invalid Request: \"params\" must be an object";
            return;
        }
        out->method = json_string_value(method);
        out->params = params;
        out->kind = id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
        return;
    }
    if ((result != NULL) != (error != NULL) && jsonrpc_id_valid(id)) {
        if (error && !json_is_object(error)) {
            out->invalid_reason = "Invalid Request: \"error\" must be an object";
            return;
        }
        out->kind = JSONRPC_RESPONSE;
        return;
    }
    out->invalid_reason = "Invalid Request: not a request, notification or response";
}

enum gw_err jsonrpc_parse(const char *body, size_t len, struct jsonrpc_batch *out, struct buf *why)
{
    memset(out, 0, sizeof(*out));
    json_error_t error;
    json_t *root = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (!root) {
        if (why)
            buf_printf(why, "Parse error: %s (line %d, column %d)", error.text, error.line, error.column);
        return GW_ERR_PROTOCOL;
    }
    if (json_is_object(root)) {
        out->root = root;
        out->count = 1;
        out->messages = gw_calloc(1, sizeof(*out->messages));
        jsonrpc_classify(root, &out->messages[0]);
        return GW_OK;
    }
    if (json_is_array(root) && json_array_size(root) > 0) {
        out->root = root;
        out->is_array = true;
        out->count = json_array_size(root);
        out->messages = gw_calloc(out->count, sizeof(*out->messages));
        for (size_t i = 0; i < out->count; i++)
            jsonrpc_classify(json_array_get(root, i), &out->messages[i]);
        return GW_OK;
    }
    if (why)
        buf_append_str(why, json_is_array(root) ? "Invalid Request: empty batch"
                                                : "Invalid Request: the body must be a JSON object");
    json_decref(root);
    return GW_ERR_INVALID;
}

void jsonrpc_batch_free(struct jsonrpc_batch *batch)
{
    if (!batch)
        return;
    free(batch->messages);
    batch->messages = NULL;
    if (batch->root)
        json_decref(batch->root);
    batch->root = NULL;
    batch->count = 0;
}

/* jansson returns NULL only when out of memory; the project's policy is to abort then. */
static json_t *must(json_t *value)
{
    if (!value)
        gw_oom(0);
    return value;
}

/* A JSON string of text even when text is not valid UTF-8 (error messages quote header values,
 * which may hold any byte, and truncate names, which may cut a character): such bytes become
 * '?' instead of making jansson refuse the string. */
json_t *jsonrpc_lenient_string(const char *text)
{
    json_t *s = json_string(text);
    if (s)
        return s;
    char *copy = gw_strdup(text);
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    s = must(json_string(copy));
    free(copy);
    return s;
}

json_t *jsonrpc_error_response(const json_t *id, int code, const char *message, json_t *data)
{
    json_t *err = must(json_object());
    json_object_set_new(err, "code", json_integer(code));
    json_object_set_new(err, "message", jsonrpc_lenient_string(message ? message : ""));
    if (data)
        json_object_set_new(err, "data", data);
    json_t *resp = must(json_object());
    json_object_set_new(resp, "jsonrpc", json_string("2.0"));
    json_object_set_new(resp, "id", id ? json_deep_copy(id) : json_null());
    json_object_set_new(resp, "error", err);
    return resp;
}

json_t *jsonrpc_result_response(const json_t *id, json_t *result)
{
    json_t *resp = must(json_object());
    json_object_set_new(resp, "jsonrpc", json_string("2.0"));
    json_object_set_new(resp, "id", id ? json_deep_copy(id) : json_null());
    json_object_set_new(resp, "result", result ? result : json_object());
    return resp;
}

json_t *jsonrpc_notification(const char *method, json_t *params)
{
    json_t *msg = must(json_object());
    json_object_set_new(msg, "jsonrpc", json_string("2.0"));
    json_object_set_new(msg, "method", json_string(method));
    if (params)
        json_object_set_new(msg, "params", params);
    return msg;
}

char *jsonrpc_dump(const json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        gw_oom(0);
    return text;
}

const char *jsonrpc_param_string(const json_t *params, const char *name)
{
    json_t *v = json_is_object(params) ? json_object_get(params, name) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}
