/*
 * streamable_http.c - the Streamable HTTP transport: the /mcp endpoint's POST, GET and DELETE,
 * Origin validation, sessions of the 2025 revisions, and answers as one JSON body or as an
 * SSE stream.
 *
 * Answer mode of a POST: JSON when the client accepts application/json (the common case, and
 * what the Python original always did, for clients that mishandle SSE), SSE when it accepts
 * only text/event-stream, or when a request asks for progress notifications (a progressToken),
 * which only a stream can carry.
 *
 * GET streams (stateful services, 2025 revisions): one per session, held open with SSE
 * comments every MCP_KEEPALIVE_SECONDS (proxies and clients drop silent connections), carrying
 * messages posted to the session, and closed when the session ends, expires or the worker
 * drains.
 */
#include "mcp/mcp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/alloc.h"
#include "core/log.h"

/* ---- small helpers ---- */

static void sse_gauge(const struct mcp_server *server, int delta)
{
    if (mcp_metrics()->sse_streams)
        metrics_add(mcp_metrics()->sse_streams, (const char *const[]){server->opts.service}, delta);
}

/* A JSON-RPC error answered by the transport itself (no request was dispatched). reason is a
 * short word for the access log. data is stolen (may be NULL). */
static void respond_rpc_error(struct http_exchange *ex, int status, const char *reason, int code,
                              const char *message, const json_t *id, json_t *data)
{
    json_t *response = jsonrpc_error_response(id, code, message, data);
    char *text = jsonrpc_dump(response);
    http_exchange_set_error(ex, reason);
    http_response_header(ex, "Cache-Control", "no-store");
    http_respond(ex, status, "application/json", text, strlen(text));
    free(text);
    json_decref(response);
}

static void respond_method_not_allowed(const struct mcp_server *server, struct http_exchange *ex)
{
    http_response_header(ex, "Allow", server->opts.stateful ? "GET, POST, DELETE, OPTIONS" : "POST, OPTIONS");
    respond_rpc_error(ex, 405, "method_not_allowed", JSONRPC_SERVER_ERROR, "Method not allowed", NULL, NULL);
}

static void set_stream_headers(struct http_exchange *ex)
{
    http_response_header(ex, "Cache-Control", "no-cache, no-transform");
    /* nginx and other buffering proxies would hold events back without this. */
    http_response_header(ex, "X-Accel-Buffering", "no");
}

static enum gw_err sse_write_event(struct http_exchange *ex, const char *json)
{
    struct buf b;
    buf_init(&b, (size_t)-1 / 2);
    buf_append_str(&b, "event: message\ndata: ");
    buf_append_str(&b, json);
    buf_append_str(&b, "\n\n");
    enum gw_err err = http_stream_write(ex, b.data, b.len);
    buf_free(&b);
    return err;
}

/* ---- POST answers ---- */

static void post_free(struct mcp_post *post)
{
    jsonrpc_batch_free(&post->batch);
    json_decref(post->collected);
    mcp_session_release(post->session);
    if (post->keepalive)
        event_free(post->keepalive);
    free(post);
}

void mcp_post_unref(struct mcp_post *post)
{
    if (--post->refs == 0)
        post_free(post);
}

static void post_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mcp_post *post = arg;
    if (post->ex && post->streaming)
        http_stream_write(post->ex, ":\n\n", 3);
}

static void post_stop_keepalive(struct mcp_post *post)
{
    if (post->keepalive)
        event_del(post->keepalive);
}

static void post_start_stream(struct mcp_post *post)
{
    if (post->streaming || !post->ex)
        return;
    set_stream_headers(post->ex);
    if (http_stream_start(post->ex, 200, "text/event-stream") != GW_OK)
        return;
    post->streaming = true;
    sse_gauge(post->server, 1);
    struct worker *w = worker_current();
    if (w && !post->keepalive) {
        post->keepalive = event_new(w->base, -1, EV_PERSIST, post_keepalive_cb, post);
        struct timeval tv = {MCP_KEEPALIVE_SECONDS, 0};
        event_add(post->keepalive, &tv);
    }
}

/* Every request answered: send the JSON body or end the stream, and drop the exchange's
 * reference. */
static void post_finish(struct mcp_post *post)
{
    struct http_exchange *ex = post->ex;
    if (!ex)
        return; /* the client went away; post_on_close dropped the exchange's reference */
    post->ex = NULL;
    post_stop_keepalive(post);
    if (post->sse) {
        http_stream_end(ex);
        sse_gauge(post->server, -1);
    } else {
        json_t *body = post->batch.is_array ? post->collected : json_array_get(post->collected, 0);
        char *text = jsonrpc_dump(body ? body : json_null());
        if (post->http_status != 200)
            http_exchange_set_error(ex, "method_not_found");
        http_respond(ex, post->http_status, "application/json", text, strlen(text));
        free(text);
    }
    mcp_post_unref(post);
}

void mcp_post_deliver(struct mcp_post *post, json_t *response, int status)
{
    post->outstanding--;
    if (status != 200 && !post->batch.is_array)
        post->http_status = status;
    if (post->ex) {
        if (post->sse) {
            post_start_stream(post);
            char *text = jsonrpc_dump(response);
            if (post->streaming)
                sse_write_event(post->ex, text);
            free(text);
        } else {
            if (!post->collected)
                post->collected = json_array();
            json_array_append(post->collected, response);
        }
    }
    json_decref(response);
    if (post->outstanding == 0)
        post_finish(post);
}

void mcp_post_notify(struct mcp_post *post, json_t *notification)
{
    if (post->ex && post->sse) {
        post_start_stream(post);
        char *text = jsonrpc_dump(notification);
        if (post->streaming)
            sse_write_event(post->ex, text);
        free(text);
    }
    json_decref(notification);
}

static void post_on_close(struct http_exchange *ex, void *arg)
{
    (void)ex;
    struct mcp_post *post = arg;
    post->ex = NULL;
    post_stop_keepalive(post);
    if (post->streaming)
        sse_gauge(post->server, -1);
    for (struct mcp_call *c = post->calls; c; c = c->next)
        c->cancelled = true;
    /* A cancel callback may finish its call (unlinking it), so restart the walk after each. */
    for (bool again = true; again;) {
        again = false;
        for (struct mcp_call *c = post->calls; c; c = c->next) {
            if (c->on_cancel) {
                void (*fn)(struct mcp_call *, void *) = c->on_cancel;
                c->on_cancel = NULL;
                fn(c, c->cancel_arg);
                again = true;
                break;
            }
        }
    }
    mcp_post_unref(post); /* the exchange's reference */
}

static bool wants_progress(const struct jsonrpc_batch *batch)
{
    for (size_t i = 0; i < batch->count; i++) {
        json_t *meta = json_object_get(batch->messages[i].params, "_meta");
        if (json_object_get(meta, "progressToken"))
            return true;
    }
    return false;
}

/* Answer a rejected POST; -32022 carries the supported list as the 2026-07-28 schema wants. */
static void respond_verdict(struct mcp_server *server, struct http_exchange *ex, const struct mcp_verdict *v,
                            const struct jsonrpc_batch *batch)
{
    json_t *data = NULL;
    const char *reason = "invalid_request";
    if (v->code == MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION) {
        data = json_pack("{s:o,s:o}", "supported", mcp_versions_json(&server->versions), "requested",
                         jsonrpc_lenient_string(v->requested));
        reason = "unsupported_protocol_version";
    } else if (v->code == MCP_ERROR_HEADER_MISMATCH) {
        reason = "header_mismatch";
    }
    const json_t *id = batch->is_array ? NULL : batch->messages[0].id;
    respond_rpc_error(ex, v->http_status, reason, v->code, v->message, id, data);
}

/* The session and revision of a legacy POST. Answers and returns false when the request cannot
 * be served (missing or unknown session, session cap). */
static bool legacy_context(struct mcp_server *server, struct http_exchange *ex,
                           const struct jsonrpc_batch *batch, const struct mcp_request_headers *h,
                           struct mcp_session **session, enum mcp_version *version)
{
    const struct jsonrpc_message *init = NULL;
    for (size_t i = 0; i < batch->count; i++)
        if (batch->messages[i].kind == JSONRPC_REQUEST &&
            strcmp(batch->messages[i].method, "initialize") == 0)
            init = &batch->messages[i];
    if (init) {
        if (batch->is_array) {
            respond_rpc_error(ex, 400, "invalid_request", JSONRPC_INVALID_REQUEST,
                              "Invalid Request: initialize must not be part of a batch", NULL, NULL);
            return false;
        }
        *version =
            mcp_versions_negotiate(&server->versions, jsonrpc_param_string(init->params, "protocolVersion"));
        if (server->sessions && mcp_session_create(server->sessions, *version, session) != GW_OK) {
            log_write(LOG_WARNING, "Session limit reached; initialize refused", NULL, 0);
            http_response_header(ex, "Retry-After", "60");
            respond_rpc_error(ex, 503, "too_many_sessions", JSONRPC_SERVER_ERROR,
                              "Server busy: too many sessions, try again later", init->id, NULL);
            return false;
        }
        if (*session) {
            char prefix[9];
            snprintf(prefix, sizeof(prefix), "%s", mcp_session_id(*session));
            log_write(LOG_INFO, "Session created",
                      (struct log_field[]){log_str("session", prefix),
                                           log_str("protocol_version", mcp_version_name(*version))},
                      2);
        }
        return true;
    }
    if (server->sessions) {
        const char *sid = http_header(ex, "Mcp-Session-Id");
        if (!sid || !*sid) {
            respond_rpc_error(ex, 400, "session_required", JSONRPC_SERVER_ERROR,
                              "Bad Request: Mcp-Session-Id header is required", NULL, NULL);
            return false;
        }
        *session = mcp_session_acquire(server->sessions, sid);
        if (!*session) {
            respond_rpc_error(ex, 404, "session_not_found", JSONRPC_SESSION_NOT_FOUND, "Session not found",
                              NULL, NULL);
            return false;
        }
        *version = mcp_session_version(*session);
    } else {
        /* Stateless: the header says which revision; none means 2025-03-26 (transport spec). */
        *version =
            h->protocol_version ? mcp_version_from_name(h->protocol_version) : server->versions.headerless;
    }
    if (batch->is_array && !mcp_version_allows_batch(*version)) {
        char message[160];
        snprintf(message, sizeof(message),
                 "Invalid Request: batches are not supported in protocol version %s",
                 mcp_version_name(*version));
        respond_rpc_error(ex, 400, "invalid_request", JSONRPC_INVALID_REQUEST, message, NULL, NULL);
        mcp_session_release(*session);
        *session = NULL;
        return false;
    }
    return true;
}

static void handle_post(struct mcp_server *server, struct http_exchange *ex)
{
    if (!mcp_content_type_is_json(http_header(ex, "Content-Type"))) {
        respond_rpc_error(ex, 415, "unsupported_media_type", JSONRPC_SERVER_ERROR,
                          "Unsupported Media Type: Content-Type must be application/json", NULL, NULL);
        return;
    }
    struct mcp_accept accept;
    mcp_accept_parse(http_header(ex, "Accept"), &accept);
    if (!accept.json && !accept.sse) {
        respond_rpc_error(ex, 406, "not_acceptable", JSONRPC_SERVER_ERROR,
                          "Not Acceptable: Client must accept application/json or text/event-stream", NULL,
                          NULL);
        return;
    }
    const struct http_request *r = http_request(ex);
    struct jsonrpc_batch batch;
    struct buf why;
    buf_init(&why, 512);
    enum gw_err err = jsonrpc_parse(r->body, r->body_len, &batch, &why);
    if (err) {
        bool parse = err == GW_ERR_PROTOCOL;
        respond_rpc_error(ex, 400, parse ? "parse_error" : "invalid_request",
                          parse ? JSONRPC_PARSE_ERROR : JSONRPC_INVALID_REQUEST, buf_cstr(&why), NULL, NULL);
        buf_free(&why);
        return;
    }
    buf_free(&why);
    struct mcp_request_headers h = {
        .protocol_version = http_header(ex, "MCP-Protocol-Version"),
        .method = http_header(ex, "Mcp-Method"),
        .name = http_header(ex, "Mcp-Name"),
    };
    struct mcp_verdict verdict;
    mcp_classify_post(&batch, &h, &server->versions, &verdict);
    if (verdict.route == MCP_ROUTE_REJECT) {
        respond_verdict(server, ex, &verdict, &batch);
        jsonrpc_batch_free(&batch);
        return;
    }
    struct mcp_session *session = NULL;
    enum mcp_version version = verdict.version;
    if (verdict.route == MCP_ROUTE_LEGACY && !legacy_context(server, ex, &batch, &h, &session, &version)) {
        jsonrpc_batch_free(&batch);
        return;
    }
    if (server->opts.relay_message)
        for (size_t i = 0; i < batch.count; i++)
            if (batch.messages[i].kind == JSONRPC_NOTIFICATION || batch.messages[i].kind == JSONRPC_RESPONSE)
                server->opts.relay_message(session ? mcp_session_state(session) : NULL,
                                           batch.messages[i].object, server->opts.relay_arg);
    size_t expected = 0;
    for (size_t i = 0; i < batch.count; i++)
        if (batch.messages[i].kind == JSONRPC_REQUEST || batch.messages[i].kind == JSONRPC_INVALID)
            expected++;
    if (session)
        http_response_header(ex, "Mcp-Session-Id", mcp_session_id(session));
    if (expected == 0) {
        /* Notifications and responses only: accepted, never answered. */
        mcp_session_release(session);
        jsonrpc_batch_free(&batch);
        http_respond(ex, 202, NULL, NULL, 0);
        return;
    }
    struct mcp_post *post = gw_calloc(1, sizeof(*post));
    post->server = server;
    post->ex = ex;
    post->batch = batch;
    post->session = session;
    post->version = version;
    post->modern = verdict.route == MCP_ROUTE_MODERN;
    post->sse = accept.sse && (!accept.json || wants_progress(&batch));
    post->outstanding = expected;
    post->refs = 2; /* the exchange's, and ours while dispatching */
    post->http_status = 200;
    http_exchange_on_close(ex, post_on_close, post);
    for (size_t i = 0; i < post->batch.count; i++) {
        const struct jsonrpc_message *m = &post->batch.messages[i];
        if (m->kind == JSONRPC_REQUEST)
            mcp_dispatch_request(post, m);
        else if (m->kind == JSONRPC_INVALID)
            mcp_post_deliver(
                post, jsonrpc_error_response(m->id, JSONRPC_INVALID_REQUEST, m->invalid_reason, NULL), 200);
    }
    if (post->ex && post->sse && post->outstanding > 0)
        post_start_stream(post); /* slow calls: the client sees the stream (and keep-alives) at once */
    mcp_post_unref(post);
}

/* ---- GET streams ---- */

struct mcp_stream {
    struct mcp_server *server;
    struct mcp_worker_state *ws; /* NULL when the worker has no state slot */
    struct mcp_stream *next, *prev;
    struct http_exchange *ex;
    struct mcp_session *session; /* a reference */
    struct event *wake;
    struct event *keepalive;
};

static void stream_wake_any_thread(void *arg)
{
    struct mcp_stream *stream = arg;
    event_active(stream->wake, EV_TIMEOUT, 0); /* thread-safe: libevent runs with pthread locking */
}

static void stream_destroy(struct mcp_stream *stream)
{
    mcp_session_detach_stream(stream->session);
    if (stream->ws) {
        if (stream->prev)
            stream->prev->next = stream->next;
        else
            stream->ws->streams = stream->next;
        if (stream->next)
            stream->next->prev = stream->prev;
    }
    event_free(stream->wake);
    event_free(stream->keepalive);
    mcp_session_release(stream->session);
    sse_gauge(stream->server, -1);
    free(stream);
}

/* End the response (when the client is still there) and free the stream. */
static void stream_close(struct mcp_stream *stream)
{
    struct http_exchange *ex = stream->ex;
    stream->ex = NULL;
    if (ex)
        http_stream_end(ex);
    stream_destroy(stream);
}

static void stream_on_close(struct http_exchange *ex, void *arg)
{
    (void)ex;
    struct mcp_stream *stream = arg;
    stream->ex = NULL;
    stream_destroy(stream);
}

static void stream_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mcp_stream *stream = arg;
    char *text;
    while (stream->ex && (text = mcp_session_take_message(stream->session))) {
        sse_write_event(stream->ex, text);
        free(text);
    }
    if (mcp_session_ended(stream->session))
        stream_close(stream);
}

static void stream_keepalive_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mcp_stream *stream = arg;
    if (stream->ex)
        http_stream_write(stream->ex, ":\n\n", 3);
    mcp_session_touch(stream->session); /* an open stream keeps its session alive */
}

/* Shared by GET and DELETE: the session named by the request, or an answer and NULL. */
static struct mcp_session *request_session(struct mcp_server *server, struct http_exchange *ex)
{
    const char *pv = http_header(ex, "MCP-Protocol-Version");
    if (pv && !mcp_versions_has(&server->versions, mcp_version_from_name(pv))) {
        respond_rpc_error(ex, 400, "unsupported_protocol_version", MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION,
                          "Unsupported protocol version", NULL,
                          json_pack("{s:o,s:o}", "supported", mcp_versions_json(&server->versions),
                                    "requested", jsonrpc_lenient_string(pv)));
        return NULL;
    }
    const char *sid = http_header(ex, "Mcp-Session-Id");
    if (!sid || !*sid) {
        respond_rpc_error(ex, 400, "session_required", JSONRPC_SERVER_ERROR,
                          "Bad Request: Mcp-Session-Id header is required", NULL, NULL);
        return NULL;
    }
    struct mcp_session *session = mcp_session_acquire(server->sessions, sid);
    if (!session)
        respond_rpc_error(ex, 404, "session_not_found", JSONRPC_SESSION_NOT_FOUND, "Session not found", NULL,
                          NULL);
    return session;
}

static void handle_get(struct mcp_server *server, struct http_exchange *ex)
{
    /* 2026-07-28 has no GET stream; a stateless service offers none at all. */
    if (!server->sessions || mcp_version_name_is_modern(http_header(ex, "MCP-Protocol-Version"))) {
        respond_method_not_allowed(server, ex);
        return;
    }
    struct mcp_accept accept;
    mcp_accept_parse(http_header(ex, "Accept"), &accept);
    if (!accept.sse) {
        respond_rpc_error(ex, 406, "not_acceptable", JSONRPC_SERVER_ERROR,
                          "Not Acceptable: Client must accept text/event-stream", NULL, NULL);
        return;
    }
    struct mcp_session *session = request_session(server, ex);
    if (!session)
        return;
    struct worker *w = worker_current();
    struct mcp_stream *stream = gw_calloc(1, sizeof(*stream));
    stream->server = server;
    stream->session = session;
    stream->ex = ex;
    stream->wake = event_new(w->base, -1, 0, stream_wake_cb, stream);
    stream->keepalive = event_new(w->base, -1, EV_PERSIST, stream_keepalive_cb, stream);
    enum gw_err err = mcp_session_attach_stream(session, stream_wake_any_thread, stream);
    if (err) {
        event_free(stream->wake);
        event_free(stream->keepalive);
        free(stream);
        mcp_session_release(session);
        if (err == GW_ERR_EXISTS)
            respond_rpc_error(ex, 409, "stream_exists", JSONRPC_SERVER_ERROR,
                              "Conflict: only one GET stream is allowed per session", NULL, NULL);
        else
            respond_rpc_error(ex, 404, "session_not_found", JSONRPC_SESSION_NOT_FOUND, "Session not found",
                              NULL, NULL);
        return;
    }
    if (w->index >= 0 && w->index < MCP_MAX_WORKERS) {
        stream->ws = &server->workers[w->index];
        stream->next = stream->ws->streams;
        if (stream->next)
            stream->next->prev = stream;
        stream->ws->streams = stream;
    }
    sse_gauge(server, 1);
    http_response_header(ex, "Mcp-Session-Id", mcp_session_id(session));
    set_stream_headers(ex);
    http_exchange_on_close(ex, stream_on_close, stream);
    if (http_stream_start(ex, 200, "text/event-stream") != GW_OK) {
        stream->ex = NULL;
        stream_destroy(stream);
        return;
    }
    struct timeval tv = {MCP_KEEPALIVE_SECONDS, 0};
    event_add(stream->keepalive, &tv);
}

static void handle_delete(struct mcp_server *server, struct http_exchange *ex)
{
    if (!server->sessions || mcp_version_name_is_modern(http_header(ex, "MCP-Protocol-Version"))) {
        respond_method_not_allowed(server, ex);
        return;
    }
    struct mcp_session *session = request_session(server, ex);
    if (!session)
        return;
    char id[MCP_SESSION_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", mcp_session_id(session));
    mcp_session_release(session);
    if (!mcp_session_end(server->sessions, id)) {
        respond_rpc_error(ex, 404, "session_not_found", JSONRPC_SESSION_NOT_FOUND, "Session not found", NULL,
                          NULL);
        return;
    }
    id[8] = '\0'; /* logs get a prefix only: the whole id is a credential-like handle */
    log_write(LOG_INFO, "Session ended by client", (struct log_field[]){log_str("session", id)}, 1);
    http_respond(ex, 204, NULL, NULL, 0);
}

/* ---- the endpoint ---- */

bool mcp_server_handle(struct mcp_server *server, struct http_exchange *ex)
{
    const struct http_request *r = http_request(ex);
    if (strcmp(r->path, "/mcp") != 0 && strcmp(r->path, "/mcp/") != 0)
        return false;
    const char *user = http_header(ex, "X-User-Name");
    if (!user || !*user)
        user = http_header(ex, "X-User-Id");
    if (user && *user)
        http_exchange_set_identity(ex, user, NULL);
    /* DNS rebinding: a browser page must not reach this server from a foreign origin. */
    const char *origin = http_header(ex, "Origin");
    if (origin && !mcp_origin_allowed(origin, server->origins, server->norigins)) {
        respond_rpc_error(ex, 403, "origin_not_allowed", JSONRPC_SERVER_ERROR,
                          "Forbidden: Origin not allowed", NULL, NULL);
        return true;
    }
    if (strcmp(r->method, "POST") == 0) {
        handle_post(server, ex);
    } else if (strcmp(r->method, "GET") == 0) {
        handle_get(server, ex);
    } else if (strcmp(r->method, "DELETE") == 0) {
        handle_delete(server, ex);
    } else if (strcmp(r->method, "OPTIONS") == 0) {
        http_response_header(ex, "Allow",
                             server->opts.stateful ? "GET, POST, DELETE, OPTIONS" : "POST, OPTIONS");
        http_respond(ex, 204, NULL, NULL, 0);
    } else {
        respond_method_not_allowed(server, ex);
    }
    return true;
}

/* ---- worker hooks ---- */

static void sweeper_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mcp_server *server = arg;
    size_t n = mcp_session_table_expire(server->sessions, server_now_usec());
    if (n)
        log_write(LOG_INFO, "Expired idle sessions", (struct log_field[]){log_int("count", (long long)n)}, 1);
}

void mcp_server_worker_init(struct mcp_server *server, struct worker *worker)
{
    if (worker->index < 0 || worker->index >= MCP_MAX_WORKERS)
        return;
    struct mcp_worker_state *ws = &server->workers[worker->index];
    ws->streams = NULL;
    /* One sweeper per process is enough; lookups also refuse expired sessions on their own. */
    if (worker->index == 0 && server->sessions) {
        ws->sweeper = event_new(worker->base, -1, EV_PERSIST, sweeper_cb, server);
        struct timeval tv = {30, 0};
        event_add(ws->sweeper, &tv);
    }
}

void mcp_server_worker_drain(struct mcp_server *server, struct worker *worker)
{
    if (worker->index < 0 || worker->index >= MCP_MAX_WORKERS)
        return;
    struct mcp_worker_state *ws = &server->workers[worker->index];
    while (ws->streams)
        stream_close(ws->streams);
    if (ws->sweeper)
        event_del(ws->sweeper);
}

void mcp_server_worker_fini(struct mcp_server *server, struct worker *worker)
{
    if (worker->index < 0 || worker->index >= MCP_MAX_WORKERS)
        return;
    struct mcp_worker_state *ws = &server->workers[worker->index];
    while (ws->streams) {
        /* Connections are closed by now; a stream left over has no exchange to end. */
        ws->streams->ex = NULL;
        stream_destroy(ws->streams);
    }
    if (ws->sweeper)
        event_free(ws->sweeper);
    ws->sweeper = NULL;
}
