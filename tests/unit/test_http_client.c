/*
 * test_http_client.c - the outbound HTTP client against a small evhttp server that runs in
 * this process, on its own thread and event_base, on an ephemeral 127.0.0.1 port.
 * (evhttp is fine for a fixture; the gateway itself does not use it.)
 */
#include "event_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>

#include "core/http_client.h"

/* ---- the test server (its own thread) ---- */

#define BIG_SIZE 100000
static const char *const stream_chunks[] = {"one\n", "two\n", "three\n"};
#define STREAM_CHUNKS 3

struct delayed_reply {
    struct delayed_reply *next;
    struct evhttp_request *req;
    struct event *timer;
    int next_chunk; /* /stream: index of the next chunk to send */
    bool streaming; /* the reply was started (chunked) */
};

static struct {
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    int port;
    struct delayed_reply *delayed; /* server thread only */
    atomic_int requests;           /* requests received */
    atomic_int stream_acked;       /* chunks the client has seen; /stream waits for them */
} server;

static void finish_delayed(struct delayed_reply *d)
{
    struct delayed_reply **pp = &server.delayed;
    while (*pp != d)
        pp = &(*pp)->next;
    *pp = d->next;
    event_free(d->timer);
    free(d);
}

static void on_slow_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct delayed_reply *d = arg;
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_printf(out, "finally");
    evhttp_send_reply(d->req, 200, "OK", out);
    evbuffer_free(out);
    finish_delayed(d);
}

/* /stream sends chunk i only after the client saw chunk i-1: proof that the data callback
 * runs as data arrives, without relying on timing. */
static void on_stream_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct delayed_reply *d = arg;
    if (d->next_chunk > 0 && atomic_load(&server.stream_acked) < d->next_chunk) {
        struct timeval tv = {0, 5000};
        evtimer_add(d->timer, &tv);
        return;
    }
    if (d->next_chunk == STREAM_CHUNKS) {
        evhttp_send_reply_end(d->req);
        finish_delayed(d);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, stream_chunks[d->next_chunk], strlen(stream_chunks[d->next_chunk]));
    evhttp_send_reply_chunk(d->req, out);
    evbuffer_free(out);
    d->next_chunk++;
    struct timeval tv = {0, 5000};
    evtimer_add(d->timer, &tv);
}

static void start_delayed(struct evhttp_request *req, event_callback_fn cb, int delay_ms, bool streaming)
{
    struct delayed_reply *d = calloc(1, sizeof(*d));
    d->req = req;
    d->streaming = streaming;
    d->timer = evtimer_new(server.base, cb, d);
    d->next = server.delayed;
    server.delayed = d;
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(d->timer, &tv);
}

static void reply_text(struct evhttp_request *req, int status, const char *text)
{
    struct evbuffer *out = evbuffer_new();
    evbuffer_add(out, text, strlen(text));
    evhttp_send_reply(req, status, "X", out);
    evbuffer_free(out);
}

static const char *method_name(enum evhttp_cmd_type type)
{
    switch (type) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    default:
        return "OTHER";
    }
}

static void handle_request(struct evhttp_request *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&server.requests, 1);
    const char *uri = evhttp_request_get_uri(req);
    struct evkeyvalq *out_headers = evhttp_request_get_output_headers(req);
    struct evkeyvalq *in_headers = evhttp_request_get_input_headers(req);
    if (!strcmp(uri, "/hello")) {
        evhttp_add_header(out_headers, "X-Test", "yes");
        evhttp_add_header(out_headers, "X-Multi", "a");
        evhttp_add_header(out_headers, "X-Multi", "b");
        reply_text(req, 200, "hello world");
    } else if (!strcmp(uri, "/echo")) {
        const char *custom = evhttp_find_header(in_headers, "X-Custom");
        const char *type = evhttp_find_header(in_headers, "Content-Type");
        evhttp_add_header(out_headers, "X-Method", method_name(evhttp_request_get_command(req)));
        evhttp_add_header(out_headers, "X-Got-Custom", custom ? custom : "(none)");
        evhttp_add_header(out_headers, "X-Got-Type", type ? type : "(none)");
        evhttp_send_reply(req, 200, "OK", evhttp_request_get_input_buffer(req));
    } else if (!strncmp(uri, "/status/", 8)) {
        reply_text(req, atoi(uri + 8), "status body");
    } else if (!strcmp(uri, "/big") || !strcmp(uri, "/big-chunked")) {
        char *big = malloc(BIG_SIZE);
        memset(big, 'x', BIG_SIZE);
        struct evbuffer *out = evbuffer_new();
        evbuffer_add(out, big, BIG_SIZE);
        free(big);
        if (!strcmp(uri, "/big")) {
            evhttp_send_reply(req, 200, "OK", out);
        } else {
            evhttp_send_reply_start(req, 200, "OK");
            evhttp_send_reply_chunk(req, out);
            evhttp_send_reply_end(req);
        }
        evbuffer_free(out);
    } else if (!strcmp(uri, "/slow")) {
        start_delayed(req, on_slow_timer, 1000, false);
    } else if (!strcmp(uri, "/stream")) {
        evhttp_add_header(out_headers, "Content-Type", "text/event-stream");
        evhttp_send_reply_start(req, 200, "OK");
        start_delayed(req, on_stream_timer, 0, true);
    } else if (!strcmp(uri, "/redirect")) {
        evhttp_add_header(out_headers, "Location", "/hello");
        reply_text(req, 302, "moved");
    } else if (!strcmp(uri, "/redirect-loop")) {
        evhttp_add_header(out_headers, "Location", "/redirect-loop");
        reply_text(req, 302, "again");
    } else {
        reply_text(req, 404, "not found");
    }
}

static void *server_main(void *arg)
{
    (void)arg;
    event_base_dispatch(server.base);
    /* Answer what is still waiting so evhttp frees those requests, then free everything. */
    while (server.delayed) {
        struct delayed_reply *d = server.delayed;
        if (d->streaming)
            evhttp_send_reply_end(d->req);
        else
            evhttp_send_reply(d->req, 200, "OK", NULL);
        finish_delayed(d);
    }
    evhttp_free(server.http);
    event_base_free(server.base);
    return NULL;
}

static int group_setup(void **state)
{
    (void)state;
    server.base = event_base_new();
    server.http = evhttp_new(server.base);
    evhttp_set_allowed_methods(server.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(server.http, handle_request, NULL);
    server.port = fixture_evhttp_listen(server.http);
    if (server.port < 0)
        return -1;
    return pthread_create(&server.thread, NULL, server_main, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    event_base_loopbreak(server.base);
    pthread_join(server.thread, NULL);
    return 0;
}

/* ---- client side helpers ---- */

struct loop {
    struct fixture_loop ev;
    struct http_client *client;
};

static void loop_init(struct loop *loop)
{
    fixture_loop_init(&loop->ev);
    assert_int_equal(http_client_create(loop->ev.base, &loop->client), GW_OK);
}

static void loop_free(struct loop *loop)
{
    http_client_free(loop->client);
    fixture_loop_free(&loop->ev);
}

/* A copy of what the done callback saw. */
struct outcome {
    bool done;
    int calls;
    enum gw_err err;
    long status;
    char *body;
    size_t body_len;
    char error[512];
    char effective_url[256];
    bool address_refused;
    char headers[1024]; /* "name=value;" for each header, in order */
    /* streaming */
    int chunks;
    char streamed[256];
    bool chunk_before_done;
    bool cancel_in_data;
    struct http_transfer *handle;
};

static void record_done(struct http_client_response *r, void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->calls++;
    o->err = r->err;
    o->status = r->status;
    o->body_len = r->body.len;
    free(o->body);
    o->body = buf_take(&r->body);
    snprintf(o->error, sizeof(o->error), "%s", r->error);
    snprintf(o->effective_url, sizeof(o->effective_url), "%s", r->effective_url);
    o->address_refused = r->address_refused;
    o->headers[0] = '\0';
    for (size_t i = 0; i < r->nheaders; i++) {
        size_t used = strlen(o->headers);
        snprintf(o->headers + used, sizeof(o->headers) - used, "%s=%s;", r->headers[i].name,
                 r->headers[i].value);
    }
}

static void outcome_free(struct outcome *o)
{
    free(o->body);
    o->body = NULL;
}

static void url_for(char *out, size_t size, const char *path)
{
    snprintf(out, size, "http://127.0.0.1:%d%s", server.port, path);
}

static struct outcome fetch(struct loop *loop, struct http_client_request *req, const char *path)
{
    char url[256];
    url_for(url, sizeof(url), path);
    req->url = url;
    struct outcome o = {0};
    assert_int_equal(http_client_request(loop->client, req, record_done, &o, NULL), GW_OK);
    assert_false(o.done); /* never called from inside http_client_request */
    assert_true(fixture_run_until_flag(&loop->ev, &o.done, 10));
    assert_int_equal(o.calls, 1);
    assert_int_equal(http_client_active(loop->client), 0);
    return o;
}

/* ---- tests ---- */

static void test_get(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    struct http_client_request req = {0};
    struct outcome o = fetch(&loop, &req, "/hello");
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello world");
    assert_string_equal(o.error, "");
    assert_non_null(strstr(o.headers, "X-Test=yes;"));
    assert_non_null(strstr(o.headers, "X-Multi=a;X-Multi=b;"));
    assert_non_null(strstr(o.effective_url, "/hello"));
    outcome_free(&o);

    /* A second request reuses the loop and (likely) the connection. */
    o = fetch(&loop, &req, "/hello");
    assert_int_equal(o.status, 200);
    outcome_free(&o);
    loop_free(&loop);
}

static void test_post_with_body_and_headers(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    static const char body[] = "{\"a\":1}\0binary";
    struct http_header headers[] = {{"X-Custom", "abc def"}, {"Content-Type", "application/json"}};
    struct http_client_request req = {
        .method = "POST", .headers = headers, .nheaders = 2, .body = body, .body_len = sizeof(body) - 1};
    struct outcome o = fetch(&loop, &req, "/echo");
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.body_len, sizeof(body) - 1);
    assert_memory_equal(o.body, body, sizeof(body) - 1);
    assert_non_null(strstr(o.headers, "X-Method=POST;"));
    assert_non_null(strstr(o.headers, "X-Got-Custom=abc def;"));
    assert_non_null(strstr(o.headers, "X-Got-Type=application/json;"));
    outcome_free(&o);

    req.method = "PUT";
    req.nheaders = 0;
    o = fetch(&loop, &req, "/echo");
    assert_non_null(strstr(o.headers, "X-Method=PUT;"));
    assert_int_equal(o.body_len, sizeof(body) - 1);
    outcome_free(&o);

    struct http_client_request del = {.method = "DELETE"};
    o = fetch(&loop, &del, "/echo");
    assert_non_null(strstr(o.headers, "X-Method=DELETE;"));
    assert_int_equal(o.body_len, 0);
    outcome_free(&o);

    struct http_client_request head = {.method = "HEAD"};
    o = fetch(&loop, &head, "/hello");
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.status, 200);
    assert_int_equal(o.body_len, 0);
    outcome_free(&o);
    loop_free(&loop);
}

static void test_status_codes(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    struct http_client_request req = {0};
    const int codes[] = {201, 204, 400, 404, 500, 503};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char path[32];
        snprintf(path, sizeof(path), "/status/%d", codes[i]);
        struct outcome o = fetch(&loop, &req, path);
        assert_int_equal(o.err, GW_OK); /* an HTTP error status is still a response */
        assert_int_equal(o.status, codes[i]);
        outcome_free(&o);
    }
    loop_free(&loop);
}

static void test_response_cap(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    struct http_client_request req = {.max_response_bytes = 1000};
    struct outcome o = fetch(&loop, &req, "/big"); /* refused by Content-Length */
    assert_int_equal(o.err, GW_ERR_TOO_LARGE);
    assert_non_null(strstr(o.error, "size limit"));
    outcome_free(&o);
    o = fetch(&loop, &req, "/big-chunked"); /* no length: cut while receiving */
    assert_int_equal(o.err, GW_ERR_TOO_LARGE);
    assert_true(o.body_len <= 1000);
    outcome_free(&o);
    req.max_response_bytes = BIG_SIZE;
    o = fetch(&loop, &req, "/big-chunked");
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.body_len, BIG_SIZE);
    outcome_free(&o);
    loop_free(&loop);
}

static void test_total_timeout(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    struct http_client_request req = {.timeout_ms = 200};
    struct outcome o = fetch(&loop, &req, "/slow");
    assert_int_equal(o.err, GW_ERR_TIMEOUT);
    assert_int_equal(o.status, 0);
    assert_true(o.error[0] != '\0');
    outcome_free(&o);
    loop_free(&loop);
}

static void test_connect_failure(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    int port = fixture_free_port(); /* no listener there */
    assert_true(port > 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
    struct http_client_request req = {.url = url};
    struct outcome o = {0};
    assert_int_equal(http_client_request(loop.client, &req, record_done, &o, NULL), GW_OK);
    assert_true(fixture_run_until_flag(&loop.ev, &o.done, 10));
    assert_int_equal(o.err, GW_ERR_UNAVAILABLE);
    assert_int_equal(o.status, 0);
    outcome_free(&o);

    /* A scheme other than http(s) is refused by curl. */
    req.url = "file:///etc/passwd";
    struct outcome f = {0};
    assert_int_equal(http_client_request(loop.client, &req, record_done, &f, NULL), GW_OK);
    assert_true(fixture_run_until_flag(&loop.ev, &f.done, 10));
    assert_int_equal(f.err, GW_ERR_INVALID);
    assert_int_equal(f.body_len, 0);
    outcome_free(&f);
    loop_free(&loop);
}

static bool on_stream_data(const struct http_client_response *progress, const char *data, size_t len,
                           void *arg)
{
    struct outcome *o = arg;
    assert_int_equal(progress->status, 200);
    assert_int_equal(progress->body.len, 0);
    o->chunk_before_done = !o->done;
    size_t used = strlen(o->streamed);
    snprintf(o->streamed + used, sizeof(o->streamed) - used, "%.*s", (int)len, data);
    o->chunks++;
    /* Tell the server how many whole chunks we have seen. */
    int seen = 0;
    size_t offset = 0;
    for (int i = 0; i < STREAM_CHUNKS; i++) {
        size_t n = strlen(stream_chunks[i]);
        if (strlen(o->streamed) >= offset + n)
            seen = i + 1;
        offset += n;
    }
    atomic_store(&server.stream_acked, seen);
    if (o->cancel_in_data) {
        http_client_cancel(o->handle);
        o->cancel_in_data = false;
    }
    return true;
}

static void test_streaming(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    atomic_store(&server.stream_acked, 0);
    char url[256];
    url_for(url, sizeof(url), "/stream");
    struct http_client_request req = {.url = url, .on_data = on_stream_data, .max_response_bytes = SIZE_MAX};
    struct outcome o = {0};
    assert_int_equal(http_client_request(loop.client, &req, record_done, &o, NULL), GW_OK);
    assert_true(fixture_run_until_flag(&loop.ev, &o.done, 10));
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.streamed, "one\ntwo\nthree\n"); /* all of it, in order */
    assert_true(o.chunks >= STREAM_CHUNKS);               /* each sent only after the last was seen */
    assert_true(o.chunk_before_done);
    assert_int_equal(o.body_len, 0); /* consumed by the data callback, not buffered */
    assert_non_null(strstr(o.headers, "Content-Type=text/event-stream;"));
    outcome_free(&o);

    /* Cancelling from inside the data callback: no done callback afterwards. */
    atomic_store(&server.stream_acked, 0);
    struct outcome c = {.cancel_in_data = true};
    assert_int_equal(http_client_request(loop.client, &req, record_done, &c, &c.handle), GW_OK);
    double deadline = fixture_now() + 5;
    while (c.chunks == 0 && fixture_now() < deadline)
        event_base_loop(loop.ev.base, EVLOOP_ONCE);
    assert_int_equal(c.chunks, 1);
    fixture_run_for(&loop.ev, 0.2);
    assert_false(c.done);
    assert_int_equal(http_client_active(loop.client), 0);
    loop_free(&loop);
}

static void test_cancel(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    char url[256];
    url_for(url, sizeof(url), "/slow");
    struct http_client_request req = {.url = url};
    struct outcome o = {0};
    struct http_transfer *handle = NULL;
    assert_int_equal(http_client_request(loop.client, &req, record_done, &o, &handle), GW_OK);
    assert_non_null(handle);
    fixture_run_for(&loop.ev, 0.1);
    assert_int_equal(http_client_active(loop.client), 1);
    http_client_cancel(handle);
    assert_int_equal(http_client_active(loop.client), 0);
    fixture_run_for(&loop.ev, 1.2); /* past the server's answer */
    assert_false(o.done);

    /* Cancel before the loop ever ran. */
    struct outcome early = {0};
    assert_int_equal(http_client_request(loop.client, &req, record_done, &early, &handle), GW_OK);
    http_client_cancel(handle);
    fixture_run_for(&loop.ev, 0.1);
    assert_false(early.done);
    loop_free(&loop);
}

static bool refuse_loopback(const struct sockaddr *addr, socklen_t len, void *arg)
{
    (void)len;
    int *calls = arg;
    (*calls)++;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        return (ntohl(sin->sin_addr.s_addr) >> 24) != 127;
    }
    return true;
}

static bool allow_all(const struct sockaddr *addr, socklen_t len, void *arg)
{
    (void)addr;
    (void)len;
    int *calls = arg;
    (*calls)++;
    return true;
}

static void test_address_filter(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    int calls = 0;
    int before = atomic_load(&server.requests);
    struct http_client_request req = {.allow_address = refuse_loopback, .filter_arg = &calls};
    struct outcome o = fetch(&loop, &req, "/hello");
    assert_int_equal(o.err, GW_ERR_INVALID);
    assert_true(o.address_refused);
    assert_non_null(strstr(o.error, "127.0.0.1"));
    assert_true(calls >= 1);
    assert_int_equal(atomic_load(&server.requests), before); /* nothing reached the server */
    outcome_free(&o);

    /* Warm a connection without the filter, then make sure a filtered request does not reuse
     * it: the filter still sees (and refuses) a fresh connection. */
    struct http_client_request plain = {0};
    o = fetch(&loop, &plain, "/hello");
    assert_int_equal(o.status, 200);
    outcome_free(&o);
    calls = 0;
    o = fetch(&loop, &req, "/hello");
    assert_int_equal(o.err, GW_ERR_INVALID);
    assert_int_equal(calls, 1);
    outcome_free(&o);

    calls = 0;
    req.allow_address = allow_all;
    o = fetch(&loop, &req, "/hello");
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(calls, 1);
    outcome_free(&o);
    loop_free(&loop);
}

static void test_redirects(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    struct http_client_request req = {0};
    struct outcome o = fetch(&loop, &req, "/redirect");
    assert_int_equal(o.status, 302); /* not followed unless asked */
    outcome_free(&o);

    req.follow_redirects = true;
    o = fetch(&loop, &req, "/redirect");
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.status, 200);
    assert_string_equal(o.body, "hello world");
    assert_non_null(strstr(o.effective_url, "/hello"));
    assert_null(strstr(o.headers, "Location=")); /* headers are the final response's */
    outcome_free(&o);

    req.max_redirects = 3;
    o = fetch(&loop, &req, "/redirect-loop");
    assert_int_equal(o.err, GW_ERR_PROTOCOL);
    outcome_free(&o);
    loop_free(&loop);
}

static void test_invalid_requests(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    struct outcome o = {0};
    struct http_client_request req = {.url = "http://127.0.0.1:1/"};
    struct http_header injected[] = {{"X-Evil", "a\r\nHost: other"}};
    struct http_header bad_name[] = {{"Bad Name", "x"}};
    struct http_client_request with_injection = {.url = req.url, .headers = injected, .nheaders = 1};
    struct http_client_request with_bad_name = {.url = req.url, .headers = bad_name, .nheaders = 1};
    struct http_client_request bad_method = {.url = req.url, .method = "GET /x"};
    struct http_client_request no_url = {0};
    assert_int_equal(http_client_request(loop.client, &with_injection, record_done, &o, NULL),
                     GW_ERR_INVALID);
    assert_int_equal(http_client_request(loop.client, &with_bad_name, record_done, &o, NULL), GW_ERR_INVALID);
    assert_int_equal(http_client_request(loop.client, &bad_method, record_done, &o, NULL), GW_ERR_INVALID);
    assert_int_equal(http_client_request(loop.client, &no_url, record_done, &o, NULL), GW_ERR_INVALID);
    assert_int_equal(http_client_request(loop.client, &req, NULL, &o, NULL), GW_ERR_INVALID);
    assert_int_equal(http_client_active(loop.client), 0);
    fixture_run_for(&loop.ev, 0.05);
    assert_false(o.done);
    loop_free(&loop);
}

struct free_from_done {
    struct loop *loop;
    struct outcome first, second;
};

static void done_then_free(struct http_client_response *r, void *arg)
{
    struct free_from_done *t = arg;
    record_done(r, &t->first);
    http_client_free(t->loop->client);
    t->loop->client = NULL;
}

static void test_free_with_transfers(void **state)
{
    (void)state;
    struct loop loop;
    loop_init(&loop);
    char slow[256], hello[256];
    url_for(slow, sizeof(slow), "/slow");
    url_for(hello, sizeof(hello), "/hello");
    struct http_client_request slow_req = {.url = slow}, hello_req = {.url = hello};

    /* Freed from outside: running transfers get GW_ERR_CLOSED before free returns. */
    struct outcome a = {0}, b = {0};
    assert_int_equal(http_client_request(loop.client, &slow_req, record_done, &a, NULL), GW_OK);
    assert_int_equal(http_client_request(loop.client, &slow_req, record_done, &b, NULL), GW_OK);
    fixture_run_for(&loop.ev, 0.05);
    http_client_free(loop.client);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.err, GW_ERR_CLOSED);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.err, GW_ERR_CLOSED);
    outcome_free(&a);
    outcome_free(&b);

    /* Freed from inside a done callback while another transfer runs. */
    assert_int_equal(http_client_create(loop.ev.base, &loop.client), GW_OK);
    struct free_from_done t = {.loop = &loop};
    assert_int_equal(http_client_request(loop.client, &hello_req, done_then_free, &t, NULL), GW_OK);
    assert_int_equal(http_client_request(loop.client, &slow_req, record_done, &t.second, NULL), GW_OK);
    assert_true(fixture_run_until_flag(&loop.ev, &t.first.done, 10));
    assert_int_equal(t.first.err, GW_OK);
    assert_int_equal(t.second.calls, 1);
    assert_int_equal(t.second.err, GW_ERR_CLOSED);
    assert_null(loop.client);
    fixture_run_for(&loop.ev, 0.05);
    outcome_free(&t.first);
    outcome_free(&t.second);
    loop_free(&loop);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads(); /* the fixture stops the server thread's loop from this thread */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),
        cmocka_unit_test(test_post_with_body_and_headers),
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_response_cap),
        cmocka_unit_test(test_total_timeout),
        cmocka_unit_test(test_connect_failure),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_address_filter),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_invalid_requests),
        cmocka_unit_test(test_free_with_transfers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
