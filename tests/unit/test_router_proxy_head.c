/*
 * test_router_proxy_head.c - what the router sends upstream and relays back
 * (src/router/proxy_head.c): identity injected, client identity and token stripped, hop-by-hop
 * fields (RFC 9110 §7.6.1) dropped, MCP headers passed through.
 */
#include "testutil.h"

#include <string.h>

#include "router/proxy_head.h"

static const struct http_header client_headers[] = {
    {"Host", "mcp-echo.example.com"},
    {"Authorization", "Bearer secret-token"},
    {"X-User-Id", "admin"},
    {"x-user-groups", "root"},
    {"X-Client-Id", "forged"},
    {"X-Forwarded-For", "6.6.6.6"},
    {"Forwarded", "for=6.6.6.6"},
    {"Connection", "keep-alive, X-Hop"},
    {"X-Hop", "1"},
    {"Keep-Alive", "timeout=5"},
    {"TE", "trailers"},
    {"Transfer-Encoding", "chunked"},
    {"Content-Length", "999"},
    {"Expect", "100-continue"},
    {"Upgrade", "websocket"},
    {"Mcp-Session-Id", "sess-1"},
    {"MCP-Protocol-Version", "2025-06-18"},
    {"Last-Event-ID", "41"},
    {"Mcp-Method", "tools/call"},
    {"Mcp-Name", "echo"},
    {"Mcp-Param-Region", "eu"},
    {"Accept", "application/json, text/event-stream"},
    {"Content-Type", "application/json"},
    {"X-Bad", "a\r\nInjected: yes"},
};

static struct proxy_head_input input(void)
{
    struct proxy_head_input in = {
        .method = "POST",
        .target = "/mcp?x=1",
        .headers = client_headers,
        .nheaders = sizeof(client_headers) / sizeof(client_headers[0]),
        .upstream_authority = "127.0.0.1:3001",
        .client_host = "mcp-echo.example.com",
        .client_addr = "192.0.2.7",
        .scheme = "https",
        .request_id = "req-1",
        .user_id = "github:42",
        .username = "octocat",
        .client_id = "client-1",
        .body_len = 17,
    };
    return in;
}

static void test_request_head(void **state)
{
    (void)state;
    struct proxy_head_input in = input();
    struct buf out;
    buf_init(&out, 65536);
    assert_int_equal(proxy_build_request_head(&in, &out), GW_OK);
    const char *head = buf_cstr(&out);
    assert_true(strncmp(head, "POST /mcp?x=1 HTTP/1.1\r\nHost: 127.0.0.1:3001\r\n", 46) == 0);
    assert_true(out.len > 4 && strcmp(head + out.len - 4, "\r\n\r\n") == 0);
    static const char *const present[] = {"\r\nX-User-Id: github:42\r\n",
                                          "\r\nX-User-Name: octocat\r\n",
                                          "\r\nX-Client-Id: client-1\r\n",
                                          "\r\nX-Request-Id: req-1\r\n",
                                          "\r\nX-Forwarded-For: 192.0.2.7\r\n",
                                          "\r\nX-Forwarded-Proto: https\r\n",
                                          "\r\nX-Forwarded-Host: mcp-echo.example.com\r\n",
                                          "\r\nContent-Length: 17\r\n",
                                          "\r\nMcp-Session-Id: sess-1\r\n",
                                          "\r\nMCP-Protocol-Version: 2025-06-18\r\n",
                                          "\r\nLast-Event-ID: 41\r\n",
                                          "\r\nMcp-Method: tools/call\r\n",
                                          "\r\nMcp-Name: echo\r\n",
                                          "\r\nMcp-Param-Region: eu\r\n",
                                          "\r\nAccept: application/json, text/event-stream\r\n",
                                          NULL};
    for (const char *const *p = present; *p; p++)
        assert_non_null(strstr(head, *p));
    static const char *const absent[] = {
        "Authorization", "secret-token", "admin",   "x-user-groups", "forged", "6.6.6.6",
        "Forwarded:",    "Connection",   "X-Hop",   "Keep-Alive",    "TE:",    "Transfer-Encoding",
        "999",           "Expect",       "Upgrade", "Injected",      "X-Bad",  NULL};
    for (const char *const *p = absent; *p; p++)
        assert_null(strstr(head, *p));
    buf_free(&out);
}

static void test_no_identity_no_injection(void **state)
{
    (void)state;
    struct proxy_head_input in = input();
    in.method = "GET";
    in.user_id = in.username = in.client_id = NULL;
    in.body_len = 0;
    struct buf out;
    buf_init(&out, 65536);
    assert_int_equal(proxy_build_request_head(&in, &out), GW_OK);
    assert_null(strstr(buf_cstr(&out), "X-User"));
    assert_null(strstr(buf_cstr(&out), "X-Client-Id"));
    assert_null(strstr(buf_cstr(&out), "Content-Length")); /* GET without a body */
    buf_free(&out);
}

/* The authorization server checks client credentials itself (Basic client authentication,
 * registration access tokens): for it alone the client's Authorization goes through. */
static void test_authorization_kept_for_auth_only(void **state)
{
    (void)state;
    struct proxy_head_input in = input();
    in.keep_authorization = true;
    struct buf out;
    buf_init(&out, 65536);
    assert_int_equal(proxy_build_request_head(&in, &out), GW_OK);
    assert_non_null(strstr(buf_cstr(&out), "\r\nAuthorization: Bearer secret-token\r\n"));
    assert_null(strstr(buf_cstr(&out), "X-User-Id: admin")); /* the rest is still replaced */
    assert_null(strstr(buf_cstr(&out), "6.6.6.6"));
    buf_free(&out);
}

static void test_unusable_input(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 65536);
    struct proxy_head_input in = input();
    in.target = "http://elsewhere/";
    assert_int_equal(proxy_build_request_head(&in, &out), GW_ERR_INVALID);
    in = input();
    in.target = "/a b";
    assert_int_equal(proxy_build_request_head(&in, &out), GW_ERR_INVALID);
    in = input();
    in.method = "PO ST";
    assert_int_equal(proxy_build_request_head(&in, &out), GW_ERR_INVALID);
    in = input();
    in.username = "evil\r\nX-User-Id: admin"; /* an identity value that cannot be sent is left out */
    assert_int_equal(proxy_build_request_head(&in, &out), GW_OK);
    assert_null(strstr(buf_cstr(&out), "evil"));
    buf_free(&out);
    buf_init(&out, 64);
    assert_int_equal(proxy_build_request_head(&in, &out), GW_ERR_TOO_LARGE);
    buf_free(&out);
}

static void test_response_headers(void **state)
{
    (void)state;
    const char *connection = "close, X-Private";
    assert_true(proxy_response_header_relayed("Mcp-Session-Id", 14, connection));
    assert_true(proxy_response_header_relayed("WWW-Authenticate", 16, connection));
    assert_false(proxy_response_header_relayed("Transfer-Encoding", 17, connection));
    assert_false(proxy_response_header_relayed("connection", 10, connection));
    assert_false(proxy_response_header_relayed("Keep-Alive", 10, connection));
    assert_false(proxy_response_header_relayed("x-private", 9, connection));
    assert_false(proxy_response_header_relayed("Content-Length", 14, NULL));
    assert_true(proxy_connection_lists(" a ,b,, c", "C", 1));
    assert_false(proxy_connection_lists("abc", "ab", 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_head),
        cmocka_unit_test(test_no_identity_no_injection),
        cmocka_unit_test(test_authorization_kept_for_auth_only),
        cmocka_unit_test(test_unusable_input),
        cmocka_unit_test(test_response_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
