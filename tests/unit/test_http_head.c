/*
 * test_http_head.c - the fast scanner for simple HTTP/1.x messages: what it accepts, with which
 * meaning, and the shapes it must leave to llhttp. (fuzz_http_head checks it against llhttp.)
 */
#include "testutil.h"

#include <string.h>

#include "core/http_head.h"

static void assert_span(const char *data, struct http_head_span span, const char *expected)
{
    assert_int_equal(span.len, strlen(expected));
    assert_memory_equal(data + span.off, expected, span.len);
}

static enum http_head_result scan_request(const char *s, struct http_head *head)
{
    return http_head_scan_request(s, strlen(s), head);
}

static enum http_head_result scan_response(const char *s, struct http_head *head)
{
    return http_head_scan_response(s, strlen(s), head);
}

static void test_request_with_body(void **state)
{
    (void)state;
    static const char msg[] = "POST /mcp?session=1 HTTP/1.1\r\n"
                              "Host: mcp-echo.example.com\r\n"
                              "Content-Type:application/json\r\n"
                              "X-Spaced: \t a  b \t\r\n"
                              "X-Empty:\r\n"
                              "Content-Length: 2\r\n"
                              "\r\n"
                              "{}";
    struct http_head head;
    assert_int_equal(scan_request(msg, &head), HTTP_HEAD_OK);
    assert_string_equal(head.method, "POST");
    assert_span(msg, head.target, "/mcp?session=1");
    assert_int_equal(head.version_minor, 1);
    assert_int_equal(head.nfields, 5);
    assert_span(msg, head.fields[0].name, "Host");
    assert_span(msg, head.fields[0].value, "mcp-echo.example.com");
    assert_span(msg, head.fields[1].value, "application/json");
    assert_span(msg, head.fields[2].value, "a  b");
    assert_span(msg, head.fields[3].name, "X-Empty");
    assert_span(msg, head.fields[3].value, "");
    assert_int_equal(head.content_length, 2);
    assert_int_equal(head.head_len, strlen(msg) - 2);
    assert_true(head.keep_alive);
}

static void test_request_pipelined_and_keep_alive(void **state)
{
    (void)state;
    struct http_head head;
    static const char two[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_int_equal(scan_request(two, &head), HTTP_HEAD_OK);
    assert_int_equal(head.head_len, strlen(two) / 2);
    assert_int_equal(head.content_length, 0);
    assert_int_equal(scan_request("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &head), HTTP_HEAD_OK);
    assert_false(head.keep_alive);
    assert_int_equal(scan_request("GET / HTTP/1.0\r\n\r\n", &head), HTTP_HEAD_OK);
    assert_int_equal(head.version_minor, 0);
    assert_false(head.keep_alive);
    assert_int_equal(scan_request("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &head), HTTP_HEAD_OK);
    assert_true(head.keep_alive);
}

/* Every one of these is left to llhttp: incomplete, or a shape outside the simple subset. */
static void test_request_deferred(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n",                                  /* head not complete */
        "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc",                /* body not complete */
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", /* chunked */
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nab",
        "POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na",
        "POST / HTTP/1.1\r\nContent-Length:\t1\r\n\r\na",
        "GET / HTTP/1.1\nHost: a\n\n",              /* bare LF */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",       /* space before the colon */
        "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",     /* obs-fold */
        "GET / HTTP/1.1\r\nA: caf\xc3\xa9\r\n\r\n", /* non-ASCII value */
        "GET / HTTP/1.1\r\nA: b\x01\r\n\r\n",       /* control byte */
        "GET / HTTP/1.1\r\nConnection: close, te\r\n\r\n",
        "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
        "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "get / HTTP/1.1\r\n\r\n", /* methods are case-sensitive */
        "CONNECT a:443 HTTP/1.1\r\n\r\n",
        "GET http://a/ HTTP/1.1\r\n\r\n", /* absolute-form */
        "GET /a b HTTP/1.1\r\n\r\n",
        "GET /a\"b HTTP/1.1\r\n\r\n",
        "GET /#frag HTTP/1.1\r\n\r\n",
        "\r\nGET / HTTP/1.1\r\n\r\n",
        "",
    };
    struct http_head head;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (scan_request(cases[i], &head) != HTTP_HEAD_DEFER)
            fail_msg("accepted: %s", cases[i]);
    }
}

static void test_many_fields_deferred(void **state)
{
    (void)state;
    char msg[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i <= HTTP_HEAD_MAX_FIELDS; i++)
        strcat(msg, "X-A: b\r\n");
    strcat(msg, "\r\n");
    struct http_head head;
    assert_int_equal(scan_request(msg, &head), HTTP_HEAD_DEFER);
}

static void test_response(void **state)
{
    (void)state;
    static const char msg[] = "HTTP/1.1 200 OK\r\n"
                              "Content-Type: application/json\r\n"
                              "Mcp-Session-Id: abc\r\n"
                              "Content-Length: 7\r\n"
                              "\r\n"
                              "{\"a\":1}";
    struct http_head head;
    assert_int_equal(scan_response(msg, &head), HTTP_HEAD_OK);
    assert_null(head.method);
    assert_int_equal(head.status, 200);
    assert_int_equal(head.nfields, 3);
    assert_span(msg, head.fields[1].value, "abc");
    assert_int_equal(head.content_length, 7);
    assert_true(head.keep_alive);
    assert_int_equal(
        scan_response("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", &head),
        HTTP_HEAD_OK);
    assert_false(head.keep_alive);
}

static void test_response_deferred(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: 1\r\n\r\n", /* no length */
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
        "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 999 X\r\nContent-Length: 0\r\n\r\n",
    };
    struct http_head head;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (scan_response(cases[i], &head) != HTTP_HEAD_DEFER)
            fail_msg("accepted: %s", cases[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_with_body), cmocka_unit_test(test_request_pipelined_and_keep_alive),
        cmocka_unit_test(test_request_deferred),  cmocka_unit_test(test_many_fields_deferred),
        cmocka_unit_test(test_response),          cmocka_unit_test(test_response_deferred),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
