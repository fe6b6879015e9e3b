/*
 * stdio_proxy.c - `mcpgw stdio-proxy`: an unmodified stdio MCP server behind Streamable HTTP.
 *
 * The MCP core (mcp_server.c, streamable_http.c) does the HTTP side: sessions, headers, SSE,
 * status codes. This file is its relay: every request goes to a child process speaking
 * newline-delimited JSON-RPC on stdin/stdout (stdio_child.c).
 *
 * Which child: a 2025 client's session owns one child, spawned at its initialize (the client's
 * own initialize goes to it, and its answer back). 2026-07-28 requests have no session: they
 * go to a small pool of children this proxy initialized itself, round robin. Request ids are
 * rewritten per child (a counter) so concurrent HTTP requests, whose ids may clash, never
 * collide; the answer is matched back to its call by that id.
 *
 * Server-to-client messages (notifications, requests): progress goes to the request that
 * carries the token when its answer is an SSE stream; anything else to the newest pending
 * request's SSE answer, else to the session's GET stream (queued until one opens).
 *
 * One worker thread: every child, pipe and call lives on one event loop, so nothing here
 * needs a lock (a stdio server handles one message at a time anyway).
 */
#include "mcp/stdio_proxy.h"

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/alloc.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/role.h"
#include "mcp/jsonrpc.h"
#include "mcp/mcp_server.h"
#include "mcp/session.h"
#include "mcp/stdio_child.h"

#define SERVICE_NAME_MAX 64
#define POOL_PROTOCOL_VERSION "2025-11-25"

struct relay_child;

struct proxy_session {
    struct relay_child *child;   /* NULL until initialize, or after the child exited */
    struct mcp_session *session; /* the session this state belongs to (lives as long) */
    char id[MCP_SESSION_ID_LEN + 1];
};

enum pending_kind { PENDING_CALL, PENDING_POOL_INIT, PENDING_DISCOVER };

struct pending {
    struct pending *next, *prev;
    struct relay_child *child;
    enum pending_kind kind;
    long long id;           /* the id the child sees */
    struct mcp_call *call;  /* NULL for the pool's own initialize */
    json_t *queued;         /* to send once the pool child is initialized (owned), or NULL */
    json_t *progress_token; /* owned copy, or NULL */
    struct event *timer;
};

struct relay_child {
    struct relay_child *next, *prev;
    struct stdio_child *proc;
    struct proxy_session *owner; /* NULL for a pool child or one being stopped */
    bool pooled;
    bool ready;          /* initialized (pool children wait for their initialize answer) */
    json_t *init_result; /* pool: the child's initialize result (owned) */
    long long next_id;
    struct pending *pending;
};

static struct {
    char service[SERVICE_NAME_MAX];
    char **command; /* the child's argv, NULL-terminated (borrowed from main's argv) */
    struct mcp_server *server;
    struct event_base *base;
    struct relay_child *children;
    size_t nchildren;
    long long max_children, pool_size, timeout_seconds;
    size_t pool_turn;
    struct metric_family *children_gauge;
    json_t *supported_versions;    /* MCP_PROTOCOL_VERSIONS_SUPPORTED, for server/discover */
    struct relay_child *graveyard; /* exited, to be freed (next-linked) */
    struct event *graveyard_event;
} proxy;

static void children_gauge_update(void)
{
    if (proxy.children_gauge)
        metrics_set(proxy.children_gauge, (const char *const[]){proxy.service}, (double)proxy.nchildren);
}

/* ---- pending requests ---- */

static void pending_unlink_free(struct pending *p)
{
    struct relay_child *c = p->child;
    if (p->prev)
        p->prev->next = p->next;
    else
        c->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
    if (p->timer)
        event_free(p->timer);
    json_decref(p->queued);
    json_decref(p->progress_token);
    free(p);
}

/* Finish a pending call with an error and forget it. */
static void pending_fail(struct pending *p, int code, const char *message)
{
    struct mcp_call *call = p->call;
    if (call)
        mcp_call_on_cancel(call, NULL, NULL);
    pending_unlink_free(p);
    if (call)
        mcp_call_return_error(call, code, message);
}

static void send_cancelled(struct relay_child *c, long long id, const char *reason)
{
    json_t *n = jsonrpc_notification("notifications/cancelled",
                                     json_pack("{s:I,s:s}", "requestId", (json_int_t)id, "reason", reason));
    stdio_child_send(c->proc, n);
    json_decref(n);
}

static void pending_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pending *p = arg;
    char message[160];
    snprintf(message, sizeof(message), "MCP server did not answer within %lld seconds",
             proxy.timeout_seconds);
    log_write(LOG_WARNING, "Request to the MCP server timed out",
              (struct log_field[]){log_int("child_pid", stdio_child_pid(p->child->proc))}, 1);
    if (!p->queued)
        send_cancelled(p->child, p->id, "timeout");
    pending_fail(p, JSONRPC_INTERNAL_ERROR, message);
}

static void pending_cancel_cb(struct mcp_call *call, void *arg)
{
    (void)call;
    struct pending *p = arg;
    if (!p->queued)
        send_cancelled(p->child, p->id, "client disconnected");
    pending_fail(p, JSONRPC_INTERNAL_ERROR, "Request cancelled: the client went away");
}

static struct pending *pending_new(struct relay_child *c, enum pending_kind kind, struct mcp_call *call)
{
    struct pending *p = gw_calloc(1, sizeof(*p));
    p->child = c;
    p->kind = kind;
    p->id = ++c->next_id;
    p->call = call;
    p->next = c->pending;
    if (c->pending)
        c->pending->prev = p;
    c->pending = p;
    p->timer = event_new(proxy.base, -1, 0, pending_timeout_cb, p);
    struct timeval tv = {(time_t)proxy.timeout_seconds, 0};
    event_add(p->timer, &tv);
    if (call)
        mcp_call_on_cancel(call, pending_cancel_cb, p);
    return p;
}

/* ---- children ---- */

static void on_child_message(struct stdio_child *proc, json_t *message, void *arg);
static void on_child_exit(struct stdio_child *proc, int status, void *arg);

static void free_child(struct relay_child *c)
{
    stdio_child_free(c->proc);
    json_decref(c->init_result);
    free(c);
}

/* Exited children wait here until the loop comes back (they cannot be freed inside their own
 * reap event); the worker's end frees whatever is left. */
static void free_graveyard(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    while (proxy.graveyard) {
        struct relay_child *c = proxy.graveyard;
        proxy.graveyard = c->next;
        free_child(c);
    }
}

static struct relay_child *child_spawn(bool pooled)
{
    struct buf why;
    buf_init(&why, 512);
    struct relay_child *c = gw_calloc(1, sizeof(*c));
    struct stdio_child_callbacks cb = {.on_message = on_child_message, .on_exit = on_child_exit, .arg = c};
    c->proc = stdio_child_spawn(proxy.base, proxy.command, &cb, &why);
    if (!c->proc) {
        log_write(LOG_ERROR, "Cannot start the MCP server process",
                  (struct log_field[]){log_str("error", buf_cstr(&why))}, 1);
        buf_free(&why);
        free(c);
        return NULL;
    }
    buf_free(&why);
    c->pooled = pooled;
    c->next = proxy.children;
    if (proxy.children)
        proxy.children->prev = c;
    proxy.children = c;
    proxy.nchildren++;
    children_gauge_update();
    log_write(
        LOG_INFO, "MCP server process started",
        (struct log_field[]){log_int("child_pid", stdio_child_pid(c->proc)), log_bool("pooled", pooled)}, 2);
    return c;
}

static void child_unlink(struct relay_child *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        proxy.children = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->next = c->prev = NULL;
    proxy.nchildren--;
    children_gauge_update();
}

static void on_child_exit(struct stdio_child *proc, int status, void *arg)
{
    struct relay_child *c = arg;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    log_write(c->owner || c->pooled ? LOG_WARNING : LOG_INFO, "MCP server process exited",
              (struct log_field[]){log_int("child_pid", stdio_child_pid(proc)), log_int("exit_code", code),
                                   log_int("signal", sig)},
              3);
    while (c->pending)
        pending_fail(c->pending, JSONRPC_INTERNAL_ERROR, "MCP server process exited");
    if (c->owner) {
        /* The session cannot go on without its process: end it, so the client's next request
         * gets 404 and it re-initializes (with a new child). */
        struct proxy_session *s = c->owner;
        s->child = NULL;
        c->owner = NULL;
        mcp_server_end_session(proxy.server, s->id);
    }
    child_unlink(c);
    /* Not here: this runs inside the child's own reap event. */
    c->next = proxy.graveyard;
    proxy.graveyard = c;
    event_active(proxy.graveyard_event, EV_TIMEOUT, 0);
}

static void child_send_or_fail(struct pending *p, json_t *message)
{
    if (stdio_child_send(p->child->proc, message) != GW_OK)
        pending_fail(p, JSONRPC_INTERNAL_ERROR, "MCP server process exited");
}

/* A modern (2026-07-28) request as a 2025 stdio server understands it: without the envelope's
 * protocol claims in _meta. */
static json_t *strip_envelope(const json_t *params)
{
    json_t *copy = params ? json_deep_copy(params) : NULL;
    json_t *meta = json_object_get(copy, "_meta");
    if (json_is_object(meta)) {
        const char *key;
        void *tmp;
        json_t *v;
        json_object_foreach_safe(meta, tmp, key, v)
        {
            if (strncmp(key, "io.modelcontextprotocol/", 24) == 0)
                json_object_del(meta, key);
        }
        if (json_object_size(meta) == 0)
            json_object_del(copy, "_meta");
    }
    return copy;
}

static json_t *discover_result(const struct relay_child *c)
{
    json_t *caps = json_object_get(c->init_result, "capabilities");
    json_t *result = json_pack("{s:O,s:O}", "supportedVersions", proxy.supported_versions, "capabilities",
                               caps ? caps : json_object());
    json_t *instructions = json_object_get(c->init_result, "instructions");
    if (json_is_string(instructions))
        json_object_set(result, "instructions", instructions);
    return result;
}

/* The pool child finished its initialize: tell it so and send what waited. */
static void pool_child_ready(struct relay_child *c, json_t *response)
{
    json_t *result = json_object_get(response, "result");
    c->init_result = json_is_object(result) ? json_incref(result) : json_object();
    c->ready = true;
    json_t *initialized = jsonrpc_notification("notifications/initialized", NULL);
    stdio_child_send(c->proc, initialized);
    json_decref(initialized);
    for (struct pending *p = c->pending, *next; p; p = next) {
        next = p->next;
        if (p->kind == PENDING_DISCOVER) {
            struct mcp_call *call = p->call;
            mcp_call_on_cancel(call, NULL, NULL);
            pending_unlink_free(p);
            mcp_call_return_result(call, discover_result(c));
        } else if (p->queued) {
            json_t *m = p->queued;
            p->queued = NULL;
            child_send_or_fail(p, m);
            json_decref(m);
        }
    }
}

static struct pending *find_pending(struct relay_child *c, const json_t *id)
{
    if (!json_is_integer(id))
        return NULL;
    for (struct pending *p = c->pending; p; p = p->next)
        if (p->id == json_integer_value(id))
            return p;
    return NULL;
}

/* A server-to-client message: on a request's SSE answer when one is open, else the session's
 * GET stream (queued by the core until the client opens it). */
static void deliver_server_message(struct relay_child *c, json_t *message)
{
    const char *method = json_string_value(json_object_get(message, "method"));
    if (method && strcmp(method, "notifications/progress") == 0) {
        json_t *token = json_object_get(json_object_get(message, "params"), "progressToken");
        for (struct pending *p = c->pending; p; p = p->next)
            if (p->call && p->progress_token && token && json_equal(p->progress_token, token)) {
                /* A request that reports progress is alive: its timeout starts again. */
                struct timeval tv = {(time_t)proxy.timeout_seconds, 0};
                event_add(p->timer, &tv);
                if (mcp_call_notify(p->call, json_incref(message)))
                    goto done;
                break;
            }
    }
    for (struct pending *p = c->pending; p; p = p->next)
        if (p->call && p->kind == PENDING_CALL && mcp_call_notify(p->call, json_incref(message)))
            goto done;
    if (c->owner && c->owner->session) {
        char *text = jsonrpc_dump(message);
        if (mcp_session_post(c->owner->session, text) != GW_OK)
            log_write(LOG_WARNING, "Server message dropped: the session's queue is full or it has ended",
                      (struct log_field[]){log_str("method", method ? method : "")}, 1);
        free(text);
    }
done:
    json_decref(message);
}

static void on_child_message(struct stdio_child *proc, json_t *message, void *arg)
{
    (void)proc;
    struct relay_child *c = arg;
    if (json_object_get(message, "method")) {
        deliver_server_message(c, message);
        return;
    }
    struct pending *p = find_pending(c, json_object_get(message, "id"));
    if (!p) {
        json_decref(message);
        return; /* an answer to a call that timed out or was cancelled */
    }
    if (p->kind == PENDING_POOL_INIT) {
        pending_unlink_free(p);
        pool_child_ready(c, message);
        json_decref(message);
        return;
    }
    struct mcp_call *call = p->call;
    mcp_call_on_cancel(call, NULL, NULL);
    pending_unlink_free(p);
    mcp_call_return_response(call, message);
}

/* ---- the relay hooks ---- */

static json_t *request_for_child(struct mcp_call *call, long long id, bool modern)
{
    const json_t *params = mcp_call_params(call);
    json_t *copy = modern ? strip_envelope(params) : (params ? json_deep_copy(params) : NULL);
    json_t *m =
        json_pack("{s:s,s:I,s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", mcp_call_method(call));
    if (copy)
        json_object_set_new(m, "params", copy);
    return m;
}

static void track_progress(struct pending *p, struct mcp_call *call)
{
    json_t *token = json_object_get(json_object_get(mcp_call_params(call), "_meta"), "progressToken");
    if (token)
        p->progress_token = json_deep_copy(token);
}

static void relay_to_session_child(struct mcp_call *call, struct proxy_session *s)
{
    const char *method = mcp_call_method(call);
    if (strcmp(method, "initialize") == 0 && !s->child) {
        struct mcp_session *session = mcp_call_session(call);
        s->session = session;
        snprintf(s->id, sizeof(s->id), "%s", mcp_session_id(session));
        if ((long long)proxy.nchildren >= proxy.max_children) {
            log_write(LOG_WARNING, "Child limit reached; initialize refused",
                      (struct log_field[]){log_int("max_children", proxy.max_children)}, 1);
            mcp_server_end_session(proxy.server, s->id);
            mcp_call_return_error_status(call, 503, JSONRPC_SERVER_ERROR,
                                         "Server busy: too many MCP server processes, try again later");
            return;
        }
        s->child = child_spawn(false);
        if (!s->child) {
            mcp_server_end_session(proxy.server, s->id);
            mcp_call_return_error_status(call, 500, JSONRPC_INTERNAL_ERROR,
                                         "Cannot start the MCP server process");
            return;
        }
        s->child->owner = s;
        s->child->ready = true;
    }
    if (!s->child) {
        mcp_call_return_error(call, JSONRPC_INTERNAL_ERROR, "MCP server process exited");
        return;
    }
    struct pending *p = pending_new(s->child, PENDING_CALL, call);
    track_progress(p, call);
    json_t *m = request_for_child(call, p->id, false);
    child_send_or_fail(p, m);
    json_decref(m);
}

static struct relay_child *pool_pick(void)
{
    size_t pooled = 0;
    for (struct relay_child *c = proxy.children; c; c = c->next)
        if (c->pooled && !stdio_child_exited(c->proc))
            pooled++;
    if ((long long)pooled < proxy.pool_size && (long long)proxy.nchildren < proxy.max_children) {
        struct relay_child *c = child_spawn(true);
        if (c) {
            struct pending *p = pending_new(c, PENDING_POOL_INIT, NULL);
            json_t *init = json_pack("{s:s,s:I,s:s,s:{s:s,s:{},s:{s:s,s:s}}}", "jsonrpc", "2.0", "id",
                                     (json_int_t)p->id, "method", "initialize", "params", "protocolVersion",
                                     POOL_PROTOCOL_VERSION, "capabilities", "clientInfo", "name",
                                     "mcpgw-stdio-proxy", "version", MCPGW_VERSION);
            stdio_child_send(c->proc, init);
            json_decref(init);
            return c;
        }
    }
    if (pooled == 0)
        return NULL;
    size_t turn = proxy.pool_turn++ % pooled, i = 0;
    for (struct relay_child *c = proxy.children; c; c = c->next)
        if (c->pooled && !stdio_child_exited(c->proc) && i++ == turn)
            return c;
    return NULL;
}

static void relay_to_pool(struct mcp_call *call)
{
    struct relay_child *c = pool_pick();
    if (!c) {
        mcp_call_return_error_status(call, 503, JSONRPC_SERVER_ERROR,
                                     "Server busy: too many MCP server processes, try again later");
        return;
    }
    const char *method = mcp_call_method(call);
    if (strcmp(method, "server/discover") == 0) {
        if (c->ready) {
            mcp_call_return_result(call, discover_result(c));
            return;
        }
        pending_new(c, PENDING_DISCOVER, call);
        return;
    }
    struct pending *p = pending_new(c, PENDING_CALL, call);
    track_progress(p, call);
    json_t *m = request_for_child(call, p->id, true);
    if (c->ready) {
        child_send_or_fail(p, m);
        json_decref(m);
    } else {
        p->queued = m;
    }
}

static void relay_request(struct mcp_call *call, void *arg)
{
    (void)arg;
    struct proxy_session *s = mcp_call_session_state(call);
    if (s)
        relay_to_session_child(call, s);
    else
        relay_to_pool(call);
}

static void relay_message(void *session_state, const json_t *message, void *arg)
{
    (void)arg;
    struct proxy_session *s = session_state;
    if (!s || !s->child)
        return; /* 2026-07-28 notifications have no child to go to */
    const char *method = json_string_value(json_object_get(message, "method"));
    if (method && strcmp(method, "notifications/cancelled") == 0) {
        /* Its requestId is the client's: tell the child its own id, and answer the HTTP request
         * now (a server that was told to cancel does not answer). */
        json_t *request_id = json_object_get(json_object_get(message, "params"), "requestId");
        for (struct pending *p = s->child->pending; p; p = p->next)
            if (p->call && request_id && json_equal(mcp_call_id(p->call), request_id)) {
                send_cancelled(s->child, p->id, "cancelled by the client");
                pending_fail(p, JSONRPC_INTERNAL_ERROR, "Request cancelled by the client");
                break;
            }
        return;
    }
    stdio_child_send(s->child->proc, message);
}

static void *session_create(void *arg)
{
    (void)arg;
    return gw_calloc(1, sizeof(struct proxy_session));
}

/* The session ended (DELETE, idle expiry, or its child exited): stop its child. */
static void session_destroy(void *state, void *arg)
{
    (void)arg;
    struct proxy_session *s = state;
    if (s->child) {
        s->child->owner = NULL;
        log_write(LOG_INFO, "Session over; stopping its MCP server process",
                  (struct log_field[]){log_int("child_pid", stdio_child_pid(s->child->proc))}, 1);
        stdio_child_terminate(s->child->proc);
    }
    free(s);
}

/* ---- the role ---- */

static bool children_check(void *arg, struct buf *detail)
{
    (void)arg;
    buf_printf(detail, "%zu of %lld", proxy.nchildren, proxy.max_children);
    return true;
}

static int proxy_parse_option(struct role_context *ctx, int argc, char **argv, int i)
{
    (void)ctx;
    if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
        return 2; /* read before role_main (the log needs the name first) */
    return 0;
}

/* Whether argv0 names a program execvp would find: a misspelt command fails at start-up (exit
 * 78), not at each client's initialize. */
static bool command_exists(const char *argv0)
{
    if (strchr(argv0, '/'))
        return access(argv0, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/bin:/bin";
    for (const char *p = path; *p;) {
        size_t len = strcspn(p, ":");
        char candidate[4096];
        if (len + strlen(argv0) + 2 < sizeof(candidate)) {
            snprintf(candidate, sizeof(candidate), "%.*s/%s", (int)len, len ? p : ".", argv0);
            if (access(candidate, X_OK) == 0)
                return true;
        }
        p += len;
        if (*p == ':')
            p++;
    }
    return false;
}

static enum gw_err proxy_setup(struct role_context *ctx, struct buf *errors)
{
    if (!command_exists(proxy.command[0])) {
        buf_printf(errors, "ERROR: stdio-proxy: command not found or not executable: %s\n", proxy.command[0]);
        return GW_ERR_CONFIG;
    }
    proxy.max_children = config_get_int(ctx->cfg, "STDIO_MAX_CHILDREN", 16);
    proxy.pool_size = config_get_int(ctx->cfg, "STDIO_POOL_SIZE", 2);
    proxy.timeout_seconds = config_get_int(ctx->cfg, "STDIO_REQUEST_TIMEOUT", 60);
    if (proxy.max_children <= 0 || proxy.pool_size <= 0 || proxy.timeout_seconds <= 0) {
        buf_append_str(errors, "ERROR: STDIO_MAX_CHILDREN, STDIO_POOL_SIZE and STDIO_REQUEST_TIMEOUT must be "
                               "positive integers\n");
        return GW_ERR_CONFIG;
    }
    struct mcp_server_options options = {
        .service = proxy.service,
        .server_name = proxy.service,
        .server_version = MCPGW_VERSION,
        .stateful = true,
        .session_create = session_create,
        .session_destroy = session_destroy,
        .relay_request = relay_request,
        .relay_message = relay_message,
    };
    struct mcp_server *server = mcp_server_create(&options, ctx->cfg, errors);
    if (!server)
        return GW_ERR_CONFIG;
    if (errors->len)
        log_write(LOG_WARNING, buf_cstr(errors), NULL, 0);
    buf_reset(errors);
    static const char *const labels[] = {"service"};
    proxy.children_gauge = metrics_register(METRIC_GAUGE, "mcp_stdio_children",
                                            "Running stdio MCP server processes", labels, 1, NULL, 0);
    children_gauge_update();
    proxy.server = server;
    ctx->state = server;
    size_t nversions = 0;
    char **versions = config_get_list(ctx->cfg, "MCP_PROTOCOL_VERSIONS_SUPPORTED", &nversions);
    proxy.supported_versions = json_array();
    for (size_t i = 0; i < nversions; i++)
        json_array_append_new(proxy.supported_versions, json_string(versions[i]));
    config_list_free(versions, nversions);
    health_add_check("children", children_check, NULL, false);
    log_write(LOG_INFO, "stdio MCP proxy ready",
              (struct log_field[]){log_str("command", proxy.command[0]),
                                   log_int("max_children", proxy.max_children)},
              2);
    return GW_OK;
}

static void proxy_teardown(struct role_context *ctx)
{
    mcp_server_free(ctx->state);
    ctx->state = NULL;
    json_decref(proxy.supported_versions);
    proxy.supported_versions = NULL;
}

static void proxy_handle(struct http_exchange *ex, void *arg)
{
    struct role_context *ctx = arg;
    if (health_route(ex) || mcp_server_handle(ctx->state, ex))
        return;
    http_respond_error(ex, 404, "not_found", "The MCP endpoint is /mcp");
}

static void proxy_worker_init(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    proxy.base = w->base;
    proxy.graveyard_event = event_new(w->base, -1, 0, free_graveyard, NULL);
    mcp_server_worker_init(ctx->state, w);
}

static void proxy_worker_drain(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    mcp_server_worker_drain(ctx->state, w);
}

/* The loop is stopping: no child outlives the proxy. */
static void proxy_worker_fini(struct worker *w, void *arg)
{
    struct role_context *ctx = arg;
    /* All of them at once: each gets its two seconds in parallel, not one after the other. */
    for (struct relay_child *c = proxy.children; c; c = c->next)
        stdio_child_terminate(c->proc);
    while (proxy.children) {
        struct relay_child *c = proxy.children;
        while (c->pending)
            pending_fail(c->pending, JSONRPC_INTERNAL_ERROR, "The proxy is shutting down");
        if (c->owner)
            c->owner->child = NULL;
        c->owner = NULL;
        stdio_child_stop_now(c->proc);
        child_unlink(c);
        free_child(c);
    }
    free_graveyard(-1, 0, NULL);
    if (proxy.graveyard_event)
        event_free(proxy.graveyard_event);
    proxy.graveyard_event = NULL;
    mcp_server_worker_fini(ctx->state, w);
}

static const struct role proxy_role_template = {
    .service = "mcp-stdio",
    .command = "stdio-proxy",
    .summary = "any stdio MCP server as Streamable HTTP: mcpgw stdio-proxy [--port N] [--name mcp-NAME] -- "
               "CMD ARGS...",
    .port_variable = "MCP_STDIO_PORT",
    .default_port = 3002, /* where automatic stdio ports start (3000 and 3001 are fetch's and echo's) */
    .port_help = "with --name mcp-NAME, the port of\n"
                 "                    MCP_<NAME>_COMMAND's service: MCP_<NAME>_PORT, else the automatic one\n"
                 "                    from 3002 the router uses; otherwise $MCP_STDIO_PORT, 3002",
    .extra_help = "\nstdio-proxy options:\n"
                  "  --name mcp-NAME   service name for logs and metrics (default: that of the\n"
                  "                    MCP_<NAME>_COMMAND service on this port, else mcp-stdio)\n"
                  "  -- CMD ARGS...    the stdio MCP server to run (one process per session)\n"
                  "Variables: STDIO_MAX_CHILDREN (16), STDIO_POOL_SIZE (2), STDIO_REQUEST_TIMEOUT (60 s),\n"
                  "MCP_SESSION_TIMEOUT, MCP_MAX_SESSIONS, MCP_CORS_ORIGINS. The MCP endpoint is /mcp.\n",
    .parse_option = proxy_parse_option,
    .setup = proxy_setup,
    .teardown = proxy_teardown,
    .handler = proxy_handle,
    .worker_init = proxy_worker_init,
    .worker_fini = proxy_worker_fini,
    .worker_drain = proxy_worker_drain,
};

/* `stdio-proxy --port P` without --name: the service is mcp-<name> (lower case, '_' as '-')
 * of the MCP_<NAME>_COMMAND whose port (config_stdio_port) is P, the name `mcpgw logs` knows
 * it by. (The supervisor passes --name.) */
static void derive_service_name(const char *env_file, const char *port, char *out, size_t outsz)
{
    if (!port)
        return;
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return;
    size_t n = config_count(cfg);
    for (size_t i = 0; i < n; i++) {
        const char *name;
        config_entry(cfg, i, &name, NULL, NULL);
        size_t len = name ? strlen(name) : 0;
        if (len <= 12 || strncmp(name, "MCP_", 4) != 0 || strcmp(name + len - 8, "_COMMAND") != 0 ||
            len - 12 + 5 > outsz || len - 12 >= CONFIG_SERVICE_NAME_MAX)
            continue;
        char service[CONFIG_SERVICE_NAME_MAX];
        snprintf(service, sizeof(service), "%.*s", (int)(len - 12), name + 4);
        if (config_stdio_port(cfg, service) != atoi(port))
            continue;
        size_t o = (size_t)snprintf(out, outsz, "mcp-");
        for (size_t k = 4; k < len - 8; k++)
            out[o++] = name[k] == '_' ? '-' : (char)tolower((unsigned char)name[k]);
        out[o] = '\0';
        break;
    }
    config_free(cfg);
}

/* --name mcp-NAME without --port: the port the router expects MCP_<NAME>_COMMAND's service on,
 * written into port_text; false when NAME is no stdio service. */
static bool named_service_port(const char *env_file, const char *name, char *port_text, size_t size)
{
    char service[CONFIG_SERVICE_NAME_MAX];
    size_t len = strlen(name);
    if (strncmp(name, "mcp-", 4) != 0 || len - 4 >= sizeof(service))
        return false;
    for (size_t i = 4; i <= len; i++)
        service[i - 4] = name[i] == '-' ? '_' : (char)toupper((unsigned char)name[i]);
    struct config *cfg = role_load_config(env_file);
    int port = cfg ? config_stdio_port(cfg, service) : 0;
    config_free(cfg);
    if (port > 0)
        snprintf(port_text, size, "%d", port);
    return port > 0;
}

int stdio_proxy_main(int argc, char **argv)
{
    int dash = -1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) {
            dash = i;
            break;
        }
    bool help = false;
    const char *name = NULL, *env_file = NULL, *port = NULL;
    for (int i = 1; i < (dash < 0 ? argc : dash); i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            help = true;
        else if (i + 1 < argc && strcmp(argv[i], "--name") == 0)
            name = argv[i + 1];
        else if (i + 1 < argc && strcmp(argv[i], "--env-file") == 0)
            env_file = argv[i + 1];
        else if (i + 1 < argc && strcmp(argv[i], "--port") == 0)
            port = argv[i + 1];
    }
    if (!help && (dash < 0 || dash + 1 >= argc)) {
        /* The options are checked by the role once the command is known; name what came instead. */
        fprintf(stderr, "ERROR: no \"-- CMD ARGS...\" after the options");
        for (int i = 1; i < argc; i++)
            fprintf(stderr, "%s%s", i == 1 ? " (got: " : " ", argv[i]);
        fprintf(stderr, "%s\nUsage: mcpgw stdio-proxy [--port N] [--name mcp-NAME] -- CMD ARGS...\n",
                argc > 1 ? ")" : "");
        return 2;
    }
    snprintf(proxy.service, sizeof(proxy.service), "mcp-stdio");
    if (name && *name)
        snprintf(proxy.service, sizeof(proxy.service), "%s", name);
    else if (!help)
        derive_service_name(env_file, port, proxy.service, sizeof(proxy.service));
    proxy.command = dash >= 0 ? argv + dash + 1 : NULL;
    /* One worker: children, pipes and calls share one loop (see the top of this file). */
    int n = dash < 0 ? argc : dash;
    char **args = gw_calloc((size_t)n + 5, sizeof(*args));
    for (int i = 0; i < n; i++)
        args[i] = argv[i];
    args[n++] = "--workers";
    args[n++] = "1";
    char port_text[16];
    if (!help && !port && name && named_service_port(env_file, name, port_text, sizeof(port_text))) {
        args[n++] = "--port";
        args[n++] = port_text;
    }
    struct role role = proxy_role_template;
    role.service = proxy.service;
    signal(SIGPIPE, SIG_IGN); /* a child that closed its stdin must not kill the proxy */
    int rc = role_main(&role, n, args);
    free(args);
    return rc;
}
