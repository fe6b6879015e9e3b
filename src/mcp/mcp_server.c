/*
 * mcp_server.c - the MCP methods: initialize, server/discover, ping, tools/list, tools/call,
 * prompts/list, prompts/get; tool and prompt registration; the call API handlers use.
 * The HTTP side (sessions, SSE, status codes) is streamable_http.c.
 */
#include "mcp/mcp_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"

/* How long 2026-07-28 clients may cache list and discover results: the lists of a process
 * never change while it runs. */
#define LIST_TTL_MS 3600000

/* ---- metrics ---- */

static struct mcp_metrics metrics;
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void register_metrics(void)
{
    static const char *const tool_labels[] = {"service", "tool", "status"};
    static const char *const method_labels[] = {"service", "method"};
    static const char *const service_label[] = {"service"};
    metrics.tool_calls =
        metrics_register(METRIC_COUNTER, "mcp_tool_calls_total",
                         "MCP tool calls by tool and outcome (success or error)", tool_labels, 3, NULL, 0);
    metrics.requests = metrics_register(METRIC_COUNTER, "mcp_requests_total",
                                        "MCP JSON-RPC requests by method", method_labels, 2, NULL, 0);
    metrics.sessions = metrics_register(METRIC_GAUGE, "mcp_sessions_active",
                                        "Live MCP sessions (Mcp-Session-Id)", service_label, 1, NULL, 0);
    metrics.sse_streams = metrics_register(
        METRIC_GAUGE, "mcp_sse_streams_active",
        "Open MCP Server-Sent Events streams (GET streams and SSE answers)", service_label, 1, NULL, 0);
}

const struct mcp_metrics *mcp_metrics(void)
{
    pthread_once(&metrics_once, register_metrics);
    return &metrics;
}

static void sessions_count_changed(size_t count, void *arg)
{
    struct mcp_server *server = arg;
    if (mcp_metrics()->sessions)
        metrics_set(mcp_metrics()->sessions, (const char *const[]){server->opts.service}, (double)count);
}

/* The table's hooks get the server; the service's get its own argument. */
static void *session_state_create(void *arg)
{
    struct mcp_server *server = arg;
    return server->opts.session_create ? server->opts.session_create(server->opts.session_arg) : NULL;
}

static void session_state_destroy(void *state, void *arg)
{
    struct mcp_server *server = arg;
    if (server->opts.session_destroy)
        server->opts.session_destroy(state, server->opts.session_arg);
}

/* ---- creation and registration ---- */

struct mcp_server *mcp_server_create(const struct mcp_server_options *options, const struct config *cfg,
                                     struct buf *errors)
{
    struct mcp_server *server = gw_calloc(1, sizeof(*server));
    server->opts = *options;
    size_t n = 0;
    char **names = config_get_list(cfg, "MCP_PROTOCOL_VERSIONS_SUPPORTED", &n);
    enum gw_err err =
        mcp_versions_init(&server->versions, names, n, config_get(cfg, "MCP_PROTOCOL_VERSION", NULL), errors);
    config_list_free(names, n);
    server->origins = config_get_list(cfg, "MCP_CORS_ORIGINS", &server->norigins);
    long long timeout = config_get_int(cfg, "MCP_SESSION_TIMEOUT", 3600);
    long long max_sessions = config_get_int(cfg, "MCP_MAX_SESSIONS", 10000);
    if (timeout <= 0 || max_sessions <= 0) {
        buf_append_str(errors, "ERROR: MCP_SESSION_TIMEOUT and MCP_MAX_SESSIONS must be positive integers\n");
        err = GW_ERR_CONFIG;
    }
    if (err) {
        mcp_server_free(server);
        return NULL;
    }
    /* Present from the start (0), so dashboards and alerts see the series before any traffic. */
    sessions_count_changed(0, server);
    if (mcp_metrics()->sse_streams)
        metrics_add(mcp_metrics()->sse_streams, (const char *const[]){server->opts.service}, 0);
    if (options->stateful) {
        struct mcp_session_hooks hooks = {
            .create = session_state_create,
            .destroy = session_state_destroy,
            .count_changed = sessions_count_changed,
            .arg = server,
        };
        server->sessions = mcp_session_table_create((size_t)max_sessions, timeout * 1000000, &hooks);
    }
    return server;
}

void mcp_server_free(struct mcp_server *server)
{
    if (!server)
        return;
    mcp_session_table_free(server->sessions);
    for (size_t i = 0; i < server->ntools; i++) {
        json_decref(server->tools[i].schema);
        json_decref(server->tools[i].listing);
    }
    free(server->tools);
    for (size_t i = 0; i < server->nprompts; i++)
        json_decref(server->prompts[i].listing);
    free(server->prompts);
    config_list_free(server->origins, server->norigins);
    free(server);
}

static bool name_is_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > 128)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return false;
    return true;
}

static json_t *parse_json_text(const char *text, const char *what, const char *name, struct buf *errors)
{
    json_error_t error;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &error);
    if (!v || !json_is_object(v)) {
        buf_printf(errors, "ERROR: %s of %s is not a JSON object: %s\n", what, name,
                   v ? "wrong type" : error.text);
        json_decref(v);
        return NULL;
    }
    return v;
}

enum gw_err mcp_server_add_tool(struct mcp_server *server, const struct mcp_tool *tool, struct buf *errors)
{
    if (!name_is_valid(tool->name) || !tool->handler) {
        buf_printf(errors, "ERROR: tool name \"%s\" is not valid (or it has no handler)\n",
                   tool->name ? tool->name : "");
        return GW_ERR_INVALID;
    }
    for (size_t i = 0; i < server->ntools; i++)
        if (strcmp(server->tools[i].copy.name, tool->name) == 0) {
            buf_printf(errors, "ERROR: tool %s registered twice\n", tool->name);
            return GW_ERR_INVALID;
        }
    json_t *schema = parse_json_text(tool->input_schema ? tool->input_schema : "{\"type\":\"object\"}",
                                     "input schema", tool->name, errors);
    if (!schema)
        return GW_ERR_INVALID;
    json_t *type = json_object_get(schema, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "object") != 0) {
        buf_printf(errors, "ERROR: input schema of %s must have \"type\": \"object\"\n", tool->name);
        json_decref(schema);
        return GW_ERR_INVALID;
    }
    json_t *annotations = NULL;
    if (tool->annotations &&
        !(annotations = parse_json_text(tool->annotations, "annotations", tool->name, errors))) {
        json_decref(schema);
        return GW_ERR_INVALID;
    }
    json_t *listing = json_pack("{s:s,s:s,s:O}", "name", tool->name, "description",
                                tool->description ? tool->description : "", "inputSchema", schema);
    if (tool->title)
        json_object_set_new(listing, "title", json_string(tool->title));
    if (annotations)
        json_object_set_new(listing, "annotations", annotations);
    server->tools = gw_realloc(server->tools, (server->ntools + 1) * sizeof(*server->tools));
    struct mcp_registered_tool *t = &server->tools[server->ntools++];
    t->copy = *tool;
    t->def = NULL; /* set below: the array may move while tools are added */
    t->schema = schema;
    t->listing = listing;
    for (size_t i = 0; i < server->ntools; i++)
        server->tools[i].def = &server->tools[i].copy;
    return GW_OK;
}

enum gw_err mcp_server_add_prompt(struct mcp_server *server, const struct mcp_prompt *prompt,
                                  struct buf *errors)
{
    if (!name_is_valid(prompt->name) || !prompt->handler) {
        buf_printf(errors, "ERROR: prompt name \"%s\" is not valid (or it has no handler)\n",
                   prompt->name ? prompt->name : "");
        return GW_ERR_INVALID;
    }
    json_t *args = json_array();
    for (size_t i = 0; i < prompt->narguments; i++) {
        const struct mcp_prompt_argument *a = &prompt->arguments[i];
        json_array_append_new(args, json_pack("{s:s,s:s,s:b}", "name", a->name, "description",
                                              a->description ? a->description : "", "required", a->required));
    }
    json_t *listing = json_pack("{s:s,s:s,s:o}", "name", prompt->name, "description",
                                prompt->description ? prompt->description : "", "arguments", args);
    if (prompt->title)
        json_object_set_new(listing, "title", json_string(prompt->title));
    server->prompts = gw_realloc(server->prompts, (server->nprompts + 1) * sizeof(*server->prompts));
    server->prompts[server->nprompts].copy = *prompt;
    server->prompts[server->nprompts].listing = listing;
    server->nprompts++;
    return GW_OK;
}

/* ---- results ---- */

/* The server's identity and capabilities, shared by initialize and server/discover. */
static json_t *server_info(const struct mcp_server *server)
{
    return json_pack("{s:s,s:s}", "name", server->opts.server_name, "version", server->opts.server_version);
}

static json_t *capabilities(const struct mcp_server *server)
{
    json_t *caps = json_pack("{s:{}}", "tools");
    if (server->nprompts)
        json_object_set_new(caps, "prompts", json_object());
    return caps;
}

/* 2026-07-28 results carry resultType and the server's identity (and cache hints for lists). */
static json_t *decorate(const struct mcp_post *post, json_t *result, bool cacheable)
{
    if (!post->modern)
        return result;
    if (!json_object_get(result, "resultType"))
        json_object_set_new(result, "resultType", json_string("complete"));
    json_t *meta = json_object_get(result, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(result, "_meta", meta);
    }
    json_object_set_new(meta, MCP_META_SERVER_INFO, server_info(post->server));
    if (cacheable) {
        json_object_set_new(result, "ttlMs", json_integer(LIST_TTL_MS));
        json_object_set_new(result, "cacheScope", json_string("public"));
    }
    return result;
}

static void deliver_result(struct mcp_post *post, const struct jsonrpc_message *m, json_t *result,
                           bool cacheable)
{
    mcp_post_deliver(post, jsonrpc_result_response(m->id, decorate(post, result, cacheable)), 200);
}

static void deliver_error(struct mcp_post *post, const struct jsonrpc_message *m, int code,
                          const char *message, int status)
{
    mcp_post_deliver(post, jsonrpc_error_response(m->id, code, message, NULL), status);
}

static json_t *initialize_result(const struct mcp_post *post)
{
    json_t *result =
        json_pack("{s:s,s:o,s:o}", "protocolVersion", mcp_version_name(post->version), "capabilities",
                  capabilities(post->server), "serverInfo", server_info(post->server));
    if (post->server->opts.instructions)
        json_object_set_new(result, "instructions", json_string(post->server->opts.instructions));
    return result;
}

static json_t *discover_result(const struct mcp_post *post)
{
    json_t *result = json_pack("{s:o,s:o}", "supportedVersions", mcp_versions_json(&post->server->versions),
                               "capabilities", capabilities(post->server));
    if (post->server->opts.instructions)
        json_object_set_new(result, "instructions", json_string(post->server->opts.instructions));
    return result;
}

static json_t *tools_list_result(const struct mcp_server *server)
{
    json_t *tools = json_array();
    for (size_t i = 0; i < server->ntools; i++)
        json_array_append(tools, server->tools[i].listing);
    return json_pack("{s:o}", "tools", tools);
}

static json_t *prompts_list_result(const struct mcp_server *server)
{
    json_t *prompts = json_array();
    for (size_t i = 0; i < server->nprompts; i++)
        json_array_append(prompts, server->prompts[i].listing);
    return json_pack("{s:o}", "prompts", prompts);
}

/* ---- argument checks (the subset of JSON Schema that tool schemas here use) ---- */

static bool type_matches(const char *type, const json_t *v)
{
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v) || (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "null") == 0)
        return json_is_null(v);
    return true; /* an unknown type word constrains nothing */
}

static bool value_matches(const json_t *property, const json_t *v)
{
    json_t *type = json_object_get(property, "type");
    if (json_is_string(type) && !type_matches(json_string_value(type), v))
        return false;
    if (json_is_array(type)) {
        bool any = false;
        size_t i;
        json_t *t;
        json_array_foreach(type, i, t) any =
            any || (json_is_string(t) && type_matches(json_string_value(t), v));
        if (!any)
            return false;
    }
    json_t *choices = json_object_get(property, "enum");
    if (json_is_array(choices)) {
        size_t i;
        json_t *c;
        json_array_foreach(choices, i, c) if (json_equal(c, v)) return true;
        return false;
    }
    return true;
}

/* Whether args fit schema; when not, why says which argument is wrong. */
static bool arguments_fit(const json_t *schema, const json_t *args, struct buf *why)
{
    json_t *required = json_object_get(schema, "required");
    size_t i;
    json_t *r;
    json_array_foreach(required, i, r)
    {
        if (json_is_string(r) && !json_object_get(args, json_string_value(r))) {
            buf_printf(why, "missing required argument \"%s\"", json_string_value(r));
            return false;
        }
    }
    json_t *properties = json_object_get(schema, "properties");
    bool closed = json_is_false(json_object_get(schema, "additionalProperties"));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)args, key, v)
    {
        json_t *property = json_object_get(properties, key);
        if (!property) {
            if (closed) {
                buf_printf(why, "unexpected argument \"%.64s\"", key);
                return false;
            }
            continue;
        }
        if (!value_matches(property, v)) {
            json_t *type = json_object_get(property, "type");
            buf_printf(why, "argument \"%.64s\" must be %s", key,
                       json_is_string(type) ? json_string_value(type) : "one of the allowed values");
            return false;
        }
    }
    return true;
}

/* ---- calls ---- */

static const char *bounded_method_label(const char *method)
{
    static const char *const known[] = {
        "initialize",   "ping",        "server/discover", "tools/list",       "tools/call",
        "prompts/list", "prompts/get", "resources/list",  "logging/setLevel", "completion/complete"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(method, known[i]) == 0)
            return known[i];
    return "other"; /* method names come from clients: never an unbounded label */
}

static struct mcp_call *call_new(struct mcp_post *post, const struct jsonrpc_message *m, const char *name,
                                 json_t *arguments)
{
    struct mcp_call *call = gw_calloc(1, sizeof(*call));
    call->post = post;
    call->message = m;
    call->name = name;
    call->arguments = arguments ? json_incref(arguments) : json_object();
    json_t *meta = json_object_get(m->params, "_meta");
    json_t *token = json_object_get(meta, "progressToken");
    if (json_is_string(token) || json_is_integer(token))
        call->progress_token = token;
    call->start_usec = server_now_usec();
    call->next = post->calls;
    if (post->calls)
        post->calls->prev = call;
    post->calls = call;
    post->refs++;
    return call;
}

static void log_tool_call(const struct mcp_call *call, const char *status)
{
    if (!log_enabled(LOG_INFO))
        return;
    struct mcp_post *post = call->post;
    struct log_field f[9];
    int n = 0;
    f[n++] = log_str("tool", call->name);
    f[n++] = log_str("status", status);
    f[n++] = log_double("duration_ms", (double)(server_now_usec() - call->start_usec) / 1000.0);
    f[n++] = log_str("protocol_version", mcp_version_name(post->version));
    char session[9];
    if (post->session) {
        /* A prefix correlates log lines; the whole id is a credential-like handle. */
        snprintf(session, sizeof(session), "%s", mcp_session_id(post->session));
        f[n++] = log_str("session", session);
    }
    const char *user = mcp_call_user(call);
    if (user)
        f[n++] = log_str("user", user);
    if (post->ex)
        f[n++] = log_str("request_id", http_request(post->ex)->request_id);
    if (call->cancelled)
        f[n++] = log_bool("cancelled", true);
    if (post->server->opts.relay_request) {
        /* Relayed: every method is logged; "tool" only for tools/call. */
        if (strcmp(call->message->method, "tools/call") == 0)
            f[n++] = log_str("method", call->message->method);
        else
            f[0] = log_str("method", call->message->method);
    }
    log_write(LOG_INFO,
              call->tool                         ? "Tool call"
              : post->server->opts.relay_request ? "Relayed request"
                                                 : "Prompt request",
              f, n);
}

static void call_finish_status(struct mcp_call *call, json_t *response, const char *status, int http_status)
{
    struct mcp_post *post = call->post;
    if (call->tool && mcp_metrics()->tool_calls)
        metrics_add(mcp_metrics()->tool_calls,
                    (const char *const[]){post->server->opts.service, call->tool->copy.name, status}, 1);
    if (!call->tool && post->server->opts.relay_request && strcmp(call->message->method, "tools/call") == 0 &&
        mcp_metrics()->tool_calls) {
        /* A relayed tool: the name is the client's, so it becomes a label only when the server
         * ran the tool (a result); a JSON-RPC error (unknown tool, ...) counts as "other". */
        const char *tool =
            json_object_get(response, "result") && strlen(call->name) <= 128 ? call->name : "other";
        metrics_add(mcp_metrics()->tool_calls,
                    (const char *const[]){post->server->opts.service, tool, status}, 1);
    }
    log_tool_call(call, status);
    if (call->prev)
        call->prev->next = call->next;
    else
        post->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    mcp_post_deliver(post, response, http_status);
    json_decref(call->arguments);
    free(call);
    mcp_post_unref(post);
}

static void call_finish(struct mcp_call *call, json_t *response, const char *status)
{
    call_finish_status(call, response, status, 200);
}

static void run_tool(struct mcp_post *post, const struct jsonrpc_message *m)
{
    const char *name = jsonrpc_param_string(m->params, "name");
    if (!name) {
        deliver_error(post, m, JSONRPC_INVALID_PARAMS, "Invalid params: \"name\" must be a string", 200);
        return;
    }
    const struct mcp_registered_tool *tool = NULL;
    for (size_t i = 0; i < post->server->ntools && !tool; i++)
        if (strcmp(post->server->tools[i].copy.name, name) == 0)
            tool = &post->server->tools[i];
    if (!tool) {
        char message[200];
        snprintf(message, sizeof(message), "Unknown tool: %.128s", name);
        deliver_error(post, m, JSONRPC_INVALID_PARAMS, message, 200);
        return;
    }
    json_t *arguments = json_object_get(m->params, "arguments");
    if (arguments && !json_is_object(arguments)) {
        deliver_error(post, m, JSONRPC_INVALID_PARAMS, "Invalid params: \"arguments\" must be an object",
                      200);
        return;
    }
    struct mcp_call *call = call_new(post, m, tool->copy.name, arguments);
    call->tool = tool;
    struct buf why;
    buf_init(&why, 512);
    if (!arguments_fit(tool->schema, call->arguments, &why)) {
        char message[600];
        snprintf(message, sizeof(message), "Invalid arguments for tool %s: %s", tool->copy.name,
                 buf_cstr(&why));
        buf_free(&why);
        /* Since 2025-11-25 argument errors are tool errors, so a model can correct itself. */
        if (post->version >= MCP_VERSION_2025_11_25)
            mcp_call_return_text(call, message, true);
        else
            mcp_call_return_error(call, JSONRPC_INVALID_PARAMS, message);
        return;
    }
    buf_free(&why);
    tool->copy.handler(call, call->arguments, tool->copy.arg);
}

static void run_prompt(struct mcp_post *post, const struct jsonrpc_message *m)
{
    const char *name = jsonrpc_param_string(m->params, "name");
    const struct mcp_registered_prompt *prompt = NULL;
    for (size_t i = 0; name && i < post->server->nprompts && !prompt; i++)
        if (strcmp(post->server->prompts[i].copy.name, name) == 0)
            prompt = &post->server->prompts[i];
    if (!prompt) {
        deliver_error(post, m, JSONRPC_INVALID_PARAMS,
                      name ? "Unknown prompt" : "Invalid params: \"name\" must be a string", 200);
        return;
    }
    json_t *arguments = json_object_get(m->params, "arguments");
    if (arguments && !json_is_object(arguments)) {
        deliver_error(post, m, JSONRPC_INVALID_PARAMS, "Invalid params: \"arguments\" must be an object",
                      200);
        return;
    }
    for (size_t i = 0; i < prompt->copy.narguments; i++) {
        const struct mcp_prompt_argument *a = &prompt->copy.arguments[i];
        json_t *v = json_object_get(arguments, a->name);
        if ((a->required && !v) || (v && !json_is_string(v))) {
            char message[200];
            snprintf(message, sizeof(message), "Invalid params: argument \"%.64s\" %s", a->name,
                     v ? "must be a string" : "is required");
            deliver_error(post, m, JSONRPC_INVALID_PARAMS, message, 200);
            return;
        }
    }
    struct mcp_call *call = call_new(post, m, prompt->copy.name, arguments);
    prompt->copy.handler(call, call->arguments, prompt->copy.arg);
}

void mcp_dispatch_request(struct mcp_post *post, const struct jsonrpc_message *m)
{
    const char *method = m->method;
    if (mcp_metrics()->requests)
        metrics_add(mcp_metrics()->requests,
                    (const char *const[]){post->server->opts.service, bounded_method_label(method)}, 1);
    bool prompts = post->server->nprompts > 0;
    if (post->server->opts.relay_request) {
        const char *tool = strcmp(method, "tools/call") == 0 ? jsonrpc_param_string(m->params, "name") : NULL;
        struct mcp_call *call =
            call_new(post, m, tool ? tool : method, json_object_get(m->params, "arguments"));
        post->server->opts.relay_request(call, post->server->opts.relay_arg);
    } else if (strcmp(method, "tools/call") == 0) {
        run_tool(post, m);
    } else if (strcmp(method, "tools/list") == 0) {
        deliver_result(post, m, tools_list_result(post->server), true);
    } else if (prompts && strcmp(method, "prompts/get") == 0) {
        run_prompt(post, m);
    } else if (prompts && strcmp(method, "prompts/list") == 0) {
        deliver_result(post, m, prompts_list_result(post->server), true);
    } else if (post->modern && strcmp(method, "server/discover") == 0) {
        deliver_result(post, m, discover_result(post), true);
    } else if (!post->modern && strcmp(method, "initialize") == 0) {
        deliver_result(post, m, initialize_result(post), false);
    } else if (!post->modern && strcmp(method, "ping") == 0) {
        deliver_result(post, m, json_object(), false);
    } else {
        char message[200];
        snprintf(message, sizeof(message), "Method not found: %.128s", method);
        /* 2026-07-28 answers an unknown method with HTTP 404 (its JSON-RPC body tells it apart
         * from a server without the endpoint); the 2025 revisions answer in-band. */
        deliver_error(post, m, JSONRPC_METHOD_NOT_FOUND, message, post->modern ? 404 : 200);
    }
}

/* ---- the call API ---- */

const char *mcp_call_name(const struct mcp_call *call)
{
    return call->name;
}

const char *mcp_call_header(const struct mcp_call *call, const char *name)
{
    return call->post->ex ? http_header(call->post->ex, name) : NULL;
}

const char *mcp_call_user(const struct mcp_call *call)
{
    const char *user = mcp_call_header(call, "X-User-Name");
    if (!user || !*user)
        user = mcp_call_header(call, "X-User-Id");
    return user && *user ? user : NULL;
}

const char *mcp_call_protocol_version(const struct mcp_call *call)
{
    return mcp_version_name(call->post->version);
}

const char *mcp_call_session_id(const struct mcp_call *call)
{
    return call->post->session ? mcp_session_id(call->post->session) : NULL;
}

void *mcp_call_session_state(const struct mcp_call *call)
{
    return call->post->session ? mcp_session_state(call->post->session) : NULL;
}

void mcp_call_session_lock(struct mcp_call *call)
{
    if (call->post->session)
        mcp_session_lock(call->post->session);
}

void mcp_call_session_unlock(struct mcp_call *call)
{
    if (call->post->session)
        mcp_session_unlock(call->post->session);
}

struct event_base *mcp_call_base(const struct mcp_call *call)
{
    (void)call;
    struct worker *w = worker_current();
    return w ? w->base : NULL;
}

bool mcp_call_cancelled(const struct mcp_call *call)
{
    return call->cancelled;
}

void mcp_call_on_cancel(struct mcp_call *call, void (*fn)(struct mcp_call *call, void *arg), void *arg)
{
    call->on_cancel = fn;
    call->cancel_arg = arg;
}

void mcp_call_progress(struct mcp_call *call, double progress, double total, const char *message)
{
    if (!call->progress_token || !call->post->sse || call->cancelled)
        return;
    json_t *params = json_pack("{s:O,s:f}", "progressToken", call->progress_token, "progress", progress);
    if (total > 0)
        json_object_set_new(params, "total", json_real(total));
    if (message)
        json_object_set_new(params, "message", json_string(message));
    mcp_post_notify(call->post, jsonrpc_notification("notifications/progress", params));
}

void mcp_call_return_text(struct mcp_call *call, const char *text, bool is_error)
{
    /* Lenient: a header value or a truncated name inside text may not be valid UTF-8. */
    json_t *item = json_pack("{s:s,s:o}", "type", "text", "text", jsonrpc_lenient_string(text ? text : ""));
    json_t *result = json_pack("{s:[o]}", "content", item);
    if (is_error)
        json_object_set_new(result, "isError", json_true());
    mcp_call_return_result(call, result);
}

void mcp_call_return_result(struct mcp_call *call, json_t *result)
{
    if (!json_is_object(result)) {
        json_decref(result);
        mcp_call_return_error(call, JSONRPC_INTERNAL_ERROR,
                              "Internal error: the handler returned no result object");
        return;
    }
    bool is_error = json_is_true(json_object_get(result, "isError"));
    const char *method = call->message->method;
    size_t len = strlen(method);
    if (call->post->modern && call->post->server->opts.relay_request &&
        ((len > 5 && strcmp(method + len - 5, "/list") == 0) || strcmp(method, "server/discover") == 0)) {
        /* A relayed server's lists may change at any time (listChanged): not cacheable. */
        if (!json_object_get(result, "ttlMs"))
            json_object_set_new(result, "ttlMs", json_integer(0));
        if (!json_object_get(result, "cacheScope"))
            json_object_set_new(result, "cacheScope", json_string("private"));
    }
    json_t *response = jsonrpc_result_response(call->message->id, decorate(call->post, result, false));
    call_finish(call, response, is_error ? "error" : "success");
}

void mcp_call_return_error_status(struct mcp_call *call, int http_status, int code, const char *message)
{
    call_finish_status(call, jsonrpc_error_response(call->message->id, code, message, NULL), "error",
                       http_status);
}

void mcp_call_return_response(struct mcp_call *call, json_t *response)
{
    json_t *result = json_object_get(response, "result");
    json_t *error = json_object_get(response, "error");
    if (json_is_object(result)) {
        json_incref(result);
        json_decref(response);
        mcp_call_return_result(call, result);
        return;
    }
    if (!json_is_object(error)) {
        json_decref(response);
        mcp_call_return_error(call, JSONRPC_INTERNAL_ERROR, "Internal error: the server answered no result");
        return;
    }
    json_t *copy = json_pack("{s:s,s:O,s:O}", "jsonrpc", "2.0", "id", call->message->id, "error", error);
    json_decref(response);
    call_finish(call, copy, "error");
}

const char *mcp_call_method(const struct mcp_call *call)
{
    return call->message->method;
}

const json_t *mcp_call_id(const struct mcp_call *call)
{
    return call->message->id;
}

const json_t *mcp_call_params(const struct mcp_call *call)
{
    return call->message->params;
}

struct mcp_session *mcp_call_session(const struct mcp_call *call)
{
    return call->post->session;
}

bool mcp_call_notify(struct mcp_call *call, json_t *message)
{
    if (!call->post->sse || !call->post->ex || call->cancelled) {
        json_decref(message);
        return false;
    }
    mcp_post_notify(call->post, message);
    return true;
}

bool mcp_server_end_session(struct mcp_server *server, const char *session_id)
{
    return server->sessions && mcp_session_end(server->sessions, session_id);
}

void mcp_call_return_error(struct mcp_call *call, int code, const char *message)
{
    call_finish(call, jsonrpc_error_response(call->message->id, code, message, NULL), "error");
}
