/*
 * test_http_limits.c - the HTTP connection layer's limits and framing, driven in-process over
 * a socketpair (tests/support/http_harness.h).
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "../support/http_harness.h"
#include "core/log.h"

static int status_of(const struct buf *b)
{
    int status = 0;
    if (b->len < 12 || sscanf(buf_cstr(b), "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

static struct buf run(const char *input, size_t len, size_t max_header, size_t max_body)
{
    struct http_harness h;
    http_harness_init(&h, max_header, max_body);
    struct buf out = http_harness_exchange(&h, input, len);
    http_harness_free(&h);
    return out;
}

static int status_for(const char *input, size_t max_header, size_t max_body)
{
    struct buf out = run(input, strlen(input), max_header, max_body);
    int st = status_of(&out);
    buf_free(&out);
    return st;
}

static void test_simple_get(void **state)
{
    (void)state;
    const char *req = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
    struct buf out = run(req, strlen(req), 4096, 4096);
    assert_int_equal(status_of(&out), 200);
    assert_non_null(strstr(buf_cstr(&out), "Content-Length: "));
    assert_non_null(strstr(buf_cstr(&out), "X-Request-Id: "));
    assert_non_null(strstr(buf_cstr(&out), "{\"body_length\":0,\"headers\":1}"));
    buf_free(&out);
}

static void test_header_limit_431(void **state)
{
    (void)state;
    char req[8192];
    char big[6000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n", big);
    assert_int_equal(status_for(req, 4096, 4096), 431);
    /* the same request fits under a larger limit */
    assert_int_equal(status_for(req, 8192, 4096), 200);
}

static void test_too_many_headers_431(void **state)
{
    (void)state;
    struct buf req;
    buf_init(&req, 1 << 20);
    buf_append_str(&req, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 150; i++)
        buf_printf(&req, "X-%d: v\r\n", i);
    buf_append_str(&req, "\r\n");
    assert_int_equal(status_for(buf_cstr(&req), 65536, 4096), 431);
    buf_free(&req);
}

static void test_body_limit_413(void **state)
{
    (void)state;
    assert_int_equal(status_for("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 4096, 1000),
                     413);
    char req[4096];
    char chunk[700];
    memset(chunk, 'b', 600);
    chunk[600] = '\0';
    snprintf(
        req, sizeof(req),
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n%s\r\n258\r\n%s\r\n0\r\n\r\n",
        chunk, chunk);
    assert_int_equal(status_for(req, 4096, 1000), 413);
    assert_int_equal(status_for(req, 4096, 2000), 200);
}

static void test_bad_syntax_400(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "NOT HTTP AT ALL\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/3.0\r\nHost: a\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nXYZ\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf out = run(bad[i], strlen(bad[i]), 4096, 4096);
        if (status_of(&out) != 400)
            fail_msg("input %zu: expected 400, got: %.200s", i, buf_cstr(&out));
        assert_non_null(strstr(buf_cstr(&out), "Connection: close"));
        assert_non_null(strstr(buf_cstr(&out), "\"error\":\"bad_request\""));
        buf_free(&out);
    }
}

static void test_pipelined_requests_answered_in_order(void **state)
{
    (void)state;
    const char *req = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
                      "GET /c HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n\r\n";
    struct buf out = run(req, strlen(req), 4096, 4096);
    const char *s = buf_cstr(&out);
    const char *first = strstr(s, "{\"body_length\":0,\"headers\":1}");
    const char *second = strstr(s, "{\"body_length\":3,\"headers\":2}");
    const char *third = strstr(s, "{\"body_length\":0,\"headers\":2}");
    assert_non_null(first);
    assert_non_null(second);
    assert_non_null(third);
    assert_true(first < second && second < third);
    buf_free(&out);
}

static void test_http10_close_and_keepalive(void **state)
{
    (void)state;
    struct buf out = run("GET / HTTP/1.0\r\n\r\n", 18, 4096, 4096);
    assert_true(strncmp(buf_cstr(&out), "HTTP/1.0 200", 12) == 0);
    assert_non_null(strstr(buf_cstr(&out), "Connection: close"));
    buf_free(&out);
}

static void test_expect_continue(void **state)
{
    (void)state;
    const char *req = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi";
    struct buf out = run(req, strlen(req), 4096, 4096);
    assert_true(strncmp(buf_cstr(&out), "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", 37) == 0);
    buf_free(&out);
}

int main(void)
{
    log_init("test", NULL, LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_header_limit_431),
        cmocka_unit_test(test_too_many_headers_431),
        cmocka_unit_test(test_body_limit_413),
        cmocka_unit_test(test_bad_syntax_400),
        cmocka_unit_test(test_pipelined_requests_answered_in_order),
        cmocka_unit_test(test_http10_close_and_keepalive),
        cmocka_unit_test(test_expect_continue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
