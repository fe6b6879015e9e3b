/*
 * echo.c - the mcp-echo service: a small MCP server whose tools show what reached it, used by
 * the gateway's tests and demos (the Python original's mcp-echo-streamablehttp-server
 * stateless and stateful variants, reduced to the tools the guide's checks use).
 *
 * Stateless: echo (returns message) and printHeader (returns one request header, never a
 * credential). Stateful: echo and replayLastEcho (the last message echoed in this session).
 */
#include "mcp/echo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "core/alloc.h"
#include "core/health.h"
#include "core/log.h"
#include "core/role.h"
#include "mcp/mcp_server.h"

#define ECHO_MAX_MESSAGE (64 * 1024) /* what replayLastEcho keeps per session */
#define ECHO_MAX_DELAY_MS 10000

/* Set by --stateful before setup runs (parse_option has no other place to put it). */
static bool stateful_option;

struct echo_session {
    char *last_message; /* owned; NULL until the first echo */
};

static void *echo_session_create(void *arg)
{
    (void)arg;
    return gw_calloc(1, sizeof(struct echo_session));
}

static void echo_session_destroy(void *state, void *arg)
{
    (void)arg;
    struct echo_session *s = state;
    free(s->last_message);
    free(s);
}

/* An echo answered later (delay_ms): exercises the asynchronous side of the tool API, which
 * timeouts, progress and client disconnects in front of slow tools depend on. */
struct delayed_echo {
    struct mcp_call *call;
    struct event *timer;
    char *message;
};

static void delayed_echo_free(struct delayed_echo *d)
{
    event_free(d->timer);
    free(d->message);
    free(d);
}

static void delayed_echo_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct delayed_echo *d = arg;
    mcp_call_progress(d->call, 1, 1, "done");
    mcp_call_return_text(d->call, d->message, false);
    delayed_echo_free(d);
}

static void delayed_echo_cancel(struct mcp_call *call, void *arg)
{
    struct delayed_echo *d = arg;
    mcp_call_return_text(call, "cancelled: the client went away", true);
    delayed_echo_free(d);
}

static void tool_echo(struct mcp_call *call, const json_t *arguments, void *arg)
{
    (void)arg;
    const char *message = json_string_value(json_object_get(arguments, "message"));
    json_int_t delay_ms = json_integer_value(json_object_get(arguments, "delay_ms"));
    if (delay_ms < 0 || delay_ms > ECHO_MAX_DELAY_MS) {
        mcp_call_return_text(call, "delay_ms must be from 0 to 10000", true);
        return;
    }
    struct echo_session *s = mcp_call_session_state(call);
    if (s) {
        mcp_call_session_lock(call);
        free(s->last_message);
        s->last_message = gw_strndup(message, ECHO_MAX_MESSAGE);
        mcp_call_session_unlock(call);
    }
    if (delay_ms == 0) {
        mcp_call_return_text(call, message, false);
        return;
    }
    struct delayed_echo *d = gw_calloc(1, sizeof(*d));
    d->call = call;
    d->message = gw_strdup(message);
    d->timer = evtimer_new(mcp_call_base(call), delayed_echo_fire, d);
    struct timeval tv = {(time_t)(delay_ms / 1000), (suseconds_t)(delay_ms % 1000) * 1000};
    evtimer_add(d->timer, &tv);
    mcp_call_on_cancel(call, delayed_echo_cancel, d);
    mcp_call_progress(call, 0, 1, "waiting");
}

static void tool_replay_last_echo(struct mcp_call *call, const json_t *arguments, void *arg)
{
    (void)arguments;
    (void)arg;
    struct echo_session *s = mcp_call_session_state(call);
    if (!s) {
        mcp_call_return_text(
            call, "replayLastEcho needs a session: initialize with protocol 2025-11-25 or older", true);
        return;
    }
    mcp_call_session_lock(call);
    char *copy = s->last_message ? gw_strdup(s->last_message) : NULL;
    mcp_call_session_unlock(call);
    if (copy)
        mcp_call_return_text(call, copy, false);
    else
        mcp_call_return_text(call, "No message has been echoed in this session yet", true);
    free(copy);
}

/* Headers that carry credentials: printHeader never shows them, whoever asks. */
static bool is_credential_header(const char *name)
{
    static const char *const secret[] = {"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key"};
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
        if (strcasecmp(name, secret[i]) == 0)
            return true;
    return false;
}

static void tool_print_header(struct mcp_call *call, const json_t *arguments, void *arg)
{
    (void)arg;
    const char *name = json_string_value(json_object_get(arguments, "header_name"));
    char text[512];
    if (is_credential_header(name)) {
        snprintf(text, sizeof(text), "Header '%.128s' is not shown: it carries credentials", name);
        mcp_call_return_text(call, text, true);
        return;
    }
    const char *value = mcp_call_header(call, name);
    if (!value) {
        snprintf(text, sizeof(text), "Header '%.128s' not found", name);
        mcp_call_return_text(call, text, true);
        return;
    }
    mcp_call_return_text(call, value, false);
}

static const char *const echo_schema =
    "{\"type\":\"object\",\"properties\":{"
    "\"message\":{\"type\":\"string\",\"description\":\"The message to echo back\"},"
    "\"delay_ms\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10000,"
    "\"description\":\"Answer after this many milliseconds (default 0; for timeout and streaming tests)\"}},"
    "\"required\":[\"message\"],\"additionalProperties\":false}";
static const char *const print_header_schema =
    "{\"type\":\"object\",\"properties\":{\"header_name\":{\"type\":\"string\","
    "\"description\":\"Name of the HTTP request header to show (case-insensitive)\"}},"
    "\"required\":[\"header_name\"],\"additionalProperties\":false}";
static const char *const no_arguments_schema =
    "{\"type\":\"object\",\"properties\":{},\"additionalProperties\":false}";
static const char *const read_only = "{\"readOnlyHint\":true,\"openWorldHint\":false}";

static const struct mcp_tool tool_echo_def = {
    .name = "echo",
    .title = "Echo",
    .description = "Echo back the given message",
    .input_schema = echo_schema,
    .annotations = read_only,
    .handler = tool_echo,
};
static const struct mcp_tool tool_print_header_def = {
    .name = "printHeader",
    .title = "Print request header",
    .description =
        "Show the value of one HTTP request header as the server received it (credentials are never shown)",
    .input_schema = print_header_schema,
    .annotations = read_only,
    .handler = tool_print_header,
};
static const struct mcp_tool tool_replay_def = {
    .name = "replayLastEcho",
    .title = "Replay last echo",
    .description = "Return the last message echoed in this session",
    .input_schema = no_arguments_schema,
    .annotations = read_only,
    .handler = tool_replay_last_echo,
};

/* ---- the role ---- */

static bool sessions_check(void *arg, struct buf *detail)
{
    (void)arg;
    buf_append_str(detail, stateful_option ? "stateful" : "stateless");
    return true;
}

static int echo_parse_option(struct role_context *ctx, int argc, char **argv, int i)
{
    (void)ctx;
    (void)argc;
    if (strcmp(argv[i], "--stateful") == 0) {
        stateful_option = true;
        return 1;
    }
    return 0;
}

static enum gw_err echo_setup(struct role_context *ctx, struct buf *errors)
{
    stateful_option = stateful_option || config_get_bool(ctx->cfg, "MCP_ECHO_STATEFUL", false);
    struct mcp_server_options options = {
        .service = "mcp-echo",
        .server_name = stateful_option ? "mcp-echo-stateful" : "mcp-echo-stateless",
        .server_version = MCPGW_VERSION,
        .instructions = "Test service: echo returns its message unchanged.",
        .stateful = stateful_option,
        .session_create = echo_session_create,
        .session_destroy = echo_session_destroy,
    };
    struct mcp_server *server = mcp_server_create(&options, ctx->cfg, errors);
    if (!server)
        return GW_ERR_CONFIG;
    if (errors->len) /* warnings only: show them, they do not stop the service */
        log_write(LOG_WARNING, buf_cstr(errors), NULL, 0);
    buf_reset(errors);
    enum gw_err err = mcp_server_add_tool(server, &tool_echo_def, errors);
    if (!err)
        err =
            mcp_server_add_tool(server, stateful_option ? &tool_replay_def : &tool_print_header_def, errors);
    if (err) {
        mcp_server_free(server);
        return err;
    }
    ctx->state = server;
    health_add_check("mode", sessions_check, NULL, false);
    log_write(LOG_INFO, "MCP echo service ready",
              (struct log_field[]){log_str("mode", stateful_option ? "stateful" : "stateless")}, 1);
    return GW_OK;
}

static void echo_teardown(struct role_context *ctx)
{
    mcp_server_free(ctx->state);
    ctx->state = NULL;
}

static void echo_handle(struct http_exchange *ex, void *arg)
{
    struct role_context *ctx = arg;
    if (health_route(ex) || mcp_server_handle(ctx->state, ex))
        return;
    http_respond_error(ex, 404, "not_found", "The MCP endpoint is /mcp");
}

static void echo_worker_init(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    mcp_server_worker_init(ctx->state, w);
}

static void echo_worker_drain(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    mcp_server_worker_drain(ctx->state, w);
}

static void echo_worker_fini(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    mcp_server_worker_fini(ctx->state, w);
}

static const struct role echo_role = {
    .service = "mcp-echo",
    .command = "echo",
    .summary = "MCP echo service (mcp-echo): tools echo and printHeader, or with --stateful echo and "
               "replayLastEcho in Mcp-Session-Id sessions",
    .port_variable = "MCP_ECHO_PORT",
    .default_port = 3001,
    .extra_help =
        "\nEcho options:\n"
        "  --stateful        sessions for 2025 clients (also MCP_ECHO_STATEFUL=true)\n"
        "Variables: MCP_PROTOCOL_VERSIONS_SUPPORTED, MCP_CORS_ORIGINS, MCP_SESSION_TIMEOUT (seconds,\n"
        "default 3600), MCP_MAX_SESSIONS (default 10000). The MCP endpoint is /mcp.\n",
    .parse_option = echo_parse_option,
    .setup = echo_setup,
    .teardown = echo_teardown,
    .handler = echo_handle,
    .worker_init = echo_worker_init,
    .worker_fini = echo_worker_fini,
    .worker_drain = echo_worker_drain,
};

int echo_main(int argc, char **argv)
{
    return role_main(&echo_role, argc, argv);
}
