/*
 * test_oauth_flow_parse.c - the parsers of `mcpgw test-oauth-flow` (src/ops/oauth_flow_parse.c):
 * WWW-Authenticate challenges, the authorization server's HTML forms and error pages, and MCP
 * answers as JSON or SSE.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "ops/oauth_flow_parse.h"

static void assert_param(const char *header, const char *name, const char *expected)
{
    char *v = flow_challenge_param(header, strlen(header), name);
    if (!expected) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, expected);
    free(v);
}

static void test_challenge(void **state)
{
    (void)state;
    const char *router =
        "Bearer resource_metadata=\"http://localhost:8080/.well-known/oauth-protected-resource/"
        "mcp-echo/mcp\"";
    assert_param(router, "resource_metadata",
                 "http://localhost:8080/.well-known/oauth-protected-resource/mcp-echo/mcp");
    /* case-insensitive scheme and names, token values, several params, spaces around '=' */
    assert_param("bearer Error = invalid_token, RESOURCE_METADATA=\"u\"", "resource_metadata", "u");
    assert_param("Bearer error=\"invalid_token\", error_description=\"a \\\"quoted\\\" word\"",
                 "error_description", "a \"quoted\" word");
    /* another challenge first, with a token68 and with params */
    assert_param("Basic dXNlcjpwYXNz==, Bearer resource_metadata=\"x\"", "resource_metadata", "x");
    assert_param("Basic realm=\"a, b\", Bearer realm=\"r\", resource_metadata=\"y\"", "resource_metadata",
                 "y");
    assert_param("Newauth realm=\"apps\", type=1, Bearer resource_metadata=\"z\"", "resource_metadata", "z");
    /* the param belongs to another scheme, or is absent */
    assert_param("Basic resource_metadata=\"x\"", "resource_metadata", NULL);
    assert_param("Bearer", "resource_metadata", NULL);
    assert_param("", "resource_metadata", NULL);
    /* malformed */
    assert_param("Bearer resource_metadata=\"unterminated", "resource_metadata", NULL);
    assert_param("Bearer a=\"x\" junk, resource_metadata=\"y\"", "resource_metadata", NULL);
    assert_param("Bearer , , ,", "resource_metadata", NULL);
}

static const char consent_page[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><title>Authorize access</title></head><body>"
    "<!-- <input name=\"csrf\" value=\"from-a-comment\"> -->"
    "<form method=\"post\" action=\"/consent\"><input type=\"hidden\" name=\"req\" value=\"R-1_x\">"
    "<input type=\"hidden\" name=\"csrf\" value=\"a&amp;b&#39;c&#x3c;\">"
    "<button type=\"submit\" name=\"action\" value=\"approve\" id=\"approve\">Approve</button>"
    "<button type=submit name=action value=deny>Deny</button></form></body></html>";

static void test_html_controls(void **state)
{
    (void)state;
    size_t len = strlen(consent_page);
    char *v = flow_html_control_value(consent_page, len, "req");
    assert_string_equal(v, "R-1_x");
    free(v);
    v = flow_html_control_value(consent_page, len, "csrf"); /* not the one inside the comment */
    assert_string_equal(v, "a&b'c<");
    free(v);
    assert_true(flow_html_has_control(consent_page, len, "action", "approve"));
    assert_true(flow_html_has_control(consent_page, len, "action", "deny")); /* unquoted attributes */
    assert_false(flow_html_has_control(consent_page, len, "action", "github"));
    assert_false(flow_html_has_control(consent_page, len, "password", NULL));
    assert_null(flow_html_control_value(consent_page, len, "nothing"));
    v = flow_html_form_action(consent_page, len);
    assert_string_equal(v, "/consent");
    free(v);
    /* only len bytes are read */
    assert_null(flow_html_control_value(consent_page, 40, "req"));
    /* truncated and broken markup */
    assert_null(flow_html_control_value("<input name=\"req\" value=\"x", 27, "req"));
    assert_null(flow_html_form_action("<form action='/a", 16));
    assert_false(flow_html_has_control("< < <input", 10, "x", NULL));
}

static void test_html_summary(void **state)
{
    (void)state;
    const char *login =
        "<html><head><title>Sign in</title><style>p{}</style></head><body><h1>Sign in</h1>"
        "<p role=\"alert\"><strong>Invalid user name\n   or password.</strong></p><p>second</p>";
    char *s = flow_html_summary(login, strlen(login));
    assert_string_equal(s, "Sign in: Invalid user name or password.");
    free(s);
    const char *error =
        "<title>Invalid request</title><div class=\"box\"><p>The redirect_uri &quot;x&quot; is "
        "not registered &amp; was refused.</p></div>";
    s = flow_html_summary(error, strlen(error));
    assert_string_equal(s, "Invalid request: The redirect_uri \"x\" is not registered & was refused.");
    free(s);
    s = flow_html_summary("<p>only a paragraph</p>", 23);
    assert_string_equal(s, "only a paragraph");
    free(s);
    assert_null(flow_html_summary("no markup at all", 16));
    /* long text is cut */
    char big[5000] = "<p>";
    memset(big + 3, 'x', 4000);
    s = flow_html_summary(big, strlen(big));
    assert_true(strlen(s) <= 300);
    free(s);
}

static void test_jsonrpc_answer(void **state)
{
    (void)state;
    const char *json = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"protocolVersion\":\"2025-06-18\"}}";
    json_t *m = flow_jsonrpc_answer("application/json", json, strlen(json), 1);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "result"), "protocolVersion")),
                        "2025-06-18");
    json_decref(m);
    assert_null(flow_jsonrpc_answer("application/json", json, strlen(json), 2));
    const char *batch =
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"x\":1}}]";
    m = flow_jsonrpc_answer(NULL, batch, strlen(batch), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "result"), "x")), 1);
    json_decref(m);
    /* SSE: a notification first, the answer in two data lines, CRLF line ends */
    const char *sse =
        "event: message\r\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\r\n\r\n"
        ": a comment\nevent: message\nid: 7\ndata: {\"jsonrpc\":\"2.0\",\ndata: "
        "\"id\":3,\"result\":{\"ok\":true}}\n\n";
    m = flow_jsonrpc_answer("text/event-stream; charset=utf-8", sse, strlen(sse), 3);
    assert_non_null(m);
    assert_true(json_is_true(json_object_get(json_object_get(m, "result"), "ok")));
    json_decref(m);
    /* a stream cut after the last data line still counts */
    const char *cut = "data: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}";
    m = flow_jsonrpc_answer("text/event-stream", cut, strlen(cut), 4);
    assert_non_null(m);
    json_decref(m);
    assert_null(flow_jsonrpc_answer("text/event-stream", "data: {not json}\n\n", 19, 1));
    assert_null(flow_jsonrpc_answer("application/json", "", 0, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge),
        cmocka_unit_test(test_html_controls),
        cmocka_unit_test(test_html_summary),
        cmocka_unit_test(test_jsonrpc_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
