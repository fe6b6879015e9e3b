/*
 * test_jsonrpc.c - the MCP core's pure parts: JSON-RPC parsing and classification, response
 * shapes, protocol revisions, Accept/Content-Type/Origin rules, the Base64 header sentinel, the
 * era classification of a POST with the 2026-07-28 header-vs-body rules, and the session table.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/server.h"
#include "mcp/jsonrpc.h"
#include "mcp/protocol.h"
#include "mcp/session.h"

/* ---- helpers --------------------------------------------------------------------------- */

static struct jsonrpc_batch parse_ok(const char *text)
{
    struct jsonrpc_batch b;
    struct buf why;
    buf_init(&why, 1024);
    enum gw_err err = jsonrpc_parse(text, strlen(text), &b, &why);
    if (err)
        fail_msg("parse failed (%s): %s", buf_cstr(&why), text);
    buf_free(&why);
    return b;
}

static enum gw_err parse_err(const char *text, size_t len)
{
    struct jsonrpc_batch b;
    enum gw_err err = jsonrpc_parse(text, len, &b, NULL);
    if (!err)
        jsonrpc_batch_free(&b);
    assert_null(b.root);
    assert_int_equal(b.count, 0);
    return err;
}

static enum jsonrpc_kind kind_of(const char *text)
{
    struct jsonrpc_batch b = parse_ok(text);
    assert_int_equal(b.count, 1);
    enum jsonrpc_kind k = b.messages[0].kind;
    jsonrpc_batch_free(&b);
    return k;
}

static struct mcp_versions default_versions(void)
{
    char *names[] = {"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"};
    struct mcp_versions v;
    assert_int_equal(mcp_versions_init(&v, names, 4, "2025-06-18", NULL), GW_OK);
    return v;
}

/* Classify text with the given headers (NULL: absent). */
static struct mcp_verdict classify(const char *text, const char *pv, const char *method, const char *name)
{
    struct mcp_versions versions = default_versions();
    struct jsonrpc_batch b = parse_ok(text);
    struct mcp_request_headers h = {pv, method, name};
    struct mcp_verdict v;
    mcp_classify_post(&b, &h, &versions, &v);
    jsonrpc_batch_free(&b);
    return v;
}

#define META                                                                                                 \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","                                 \
    "\"io.modelcontextprotocol/clientCapabilities\":{}}"
#define MODERN_CALL                                                                                          \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"," META "}}"

/* ---- JSON-RPC ------------------------------------------------------------------------------ */

static void test_classify_kinds(void **state)
{
    (void)state;
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"), JSONRPC_REQUEST);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"x\",\"params\":{}}"),
                     JSONRPC_REQUEST);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"),
                     JSONRPC_NOTIFICATION);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"), JSONRPC_RESPONSE);
    assert_int_equal(kind_of("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"m\"}}"),
                     JSONRPC_RESPONSE);
    /* the invalid shapes */
    const char *invalid[] = {
        "{\"id\":1,\"method\":\"ping\"}",                                    /* no jsonrpc */
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",                /* wrong version */
        "{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}",                    /* version not a string */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}",                       /* method not a string */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\"}",                    /* empty method */
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",             /* null id (MCP) */
        "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}",              /* fractional id */
        "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}",             /* boolean id */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}", /* by-position params */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"x\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"result\":{}}", /* both */
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":5}",
        "{\"jsonrpc\":\"2.0\",\"result\":{}}", /* response without id */
        "{\"jsonrpc\":\"2.0\"}",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        struct jsonrpc_batch b = parse_ok(invalid[i]);
        if (b.messages[0].kind != JSONRPC_INVALID)
            fail_msg("not invalid: %s", invalid[i]);
        assert_non_null(b.messages[0].invalid_reason);
        jsonrpc_batch_free(&b);
    }
}

static void test_invalid_keeps_readable_id(void **state)
{
    (void)state;
    struct jsonrpc_batch b = parse_ok("{\"id\":7,\"method\":\"ping\"}");
    assert_int_equal(b.messages[0].kind, JSONRPC_INVALID);
    assert_true(json_is_integer(b.messages[0].id));
    assert_int_equal(json_integer_value(b.messages[0].id), 7);
    jsonrpc_batch_free(&b);
    b = parse_ok("{\"id\":{},\"method\":\"ping\"}");
    assert_null(b.messages[0].id);
    jsonrpc_batch_free(&b);
}

static void test_request_fields(void **state)
{
    (void)state;
    struct jsonrpc_batch b = parse_ok(
        "{\"jsonrpc\":\"2.0\",\"id\":\"r1\",\"method\":\"tools/call\",\"params\":{\"name\":\"echo\"}}");
    const struct jsonrpc_message *m = &b.messages[0];
    assert_false(b.is_array);
    assert_string_equal(m->method, "tools/call");
    assert_string_equal(json_string_value(m->id), "r1");
    assert_string_equal(jsonrpc_param_string(m->params, "name"), "echo");
    assert_null(jsonrpc_param_string(m->params, "missing"));
    assert_null(jsonrpc_param_string(NULL, "name"));
    jsonrpc_batch_free(&b);
}

static void test_batches(void **state)
{
    (void)state;
    struct jsonrpc_batch b =
        parse_ok("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                 "{\"jsonrpc\":\"2.0\",\"method\":\"n\"},5,{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":1}]");
    assert_true(b.is_array);
    assert_int_equal(b.count, 4);
    assert_int_equal(b.messages[0].kind, JSONRPC_REQUEST);
    assert_int_equal(b.messages[1].kind, JSONRPC_NOTIFICATION);
    assert_int_equal(b.messages[2].kind, JSONRPC_INVALID);
    assert_int_equal(b.messages[3].kind, JSONRPC_RESPONSE);
    jsonrpc_batch_free(&b);
    b = parse_ok("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
    assert_true(b.is_array); /* a batch of one is still a batch */
    jsonrpc_batch_free(&b);
}

static void test_parse_failures(void **state)
{
    (void)state;
    assert_int_equal(parse_err("", 0), GW_ERR_PROTOCOL);
    assert_int_equal(parse_err("{", 1), GW_ERR_PROTOCOL);
    assert_int_equal(parse_err("{\"a\":1} x", 9), GW_ERR_PROTOCOL);
    const char dup[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"method\":\"b\"}";
    assert_int_equal(parse_err(dup, strlen(dup)), GW_ERR_PROTOCOL); /* duplicate keys */
    const char nul[] = "{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0000b\"}";
    assert_int_equal(parse_err(nul, strlen(nul)), GW_ERR_PROTOCOL);
    const char bad_utf8[] = "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\"}";
    assert_int_equal(parse_err(bad_utf8, strlen(bad_utf8)), GW_ERR_PROTOCOL);
    const char embedded_nul[] = "{\"a\":1}\0garbage";
    assert_int_equal(parse_err(embedded_nul, sizeof(embedded_nul) - 1), GW_ERR_PROTOCOL);
    assert_int_equal(parse_err("[]", 2), GW_ERR_INVALID);
    assert_int_equal(parse_err("\"text\"", 6), GW_ERR_INVALID);
    assert_int_equal(parse_err("42", 2), GW_ERR_INVALID);
    assert_int_equal(parse_err("null", 4), GW_ERR_INVALID);
    struct buf why;
    buf_init(&why, 512);
    struct jsonrpc_batch b;
    assert_int_equal(jsonrpc_parse("{", 1, &b, &why), GW_ERR_PROTOCOL);
    assert_non_null(strstr(buf_cstr(&why), "Parse error"));
    buf_free(&why);
}

static void test_response_shapes(void **state)
{
    (void)state;
    json_t *r = jsonrpc_error_response(NULL, JSONRPC_PARSE_ERROR, "Parse error", NULL);
    char *text = jsonrpc_dump(r);
    assert_string_equal(
        text, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}");
    free(text);
    json_decref(r);
    json_t *id = json_string("x");
    r = jsonrpc_error_response(
        id, MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
        json_pack("{s:[s],s:s}", "supported", "2026-07-28", "requested", "1999-01-01"));
    json_decref(id);
    json_t *err = json_object_get(r, "error");
    assert_int_equal(json_integer_value(json_object_get(err, "code")), -32022);
    assert_string_equal(json_string_value(json_object_get(json_object_get(err, "data"), "requested")),
                        "1999-01-01");
    assert_string_equal(json_string_value(json_object_get(r, "id")), "x");
    json_decref(r);
    id = json_integer(3);
    r = jsonrpc_result_response(id, json_pack("{s:s}", "text", "line1\nline2"));
    json_decref(id);
    text = jsonrpc_dump(r);
    assert_null(strchr(text, '\n')); /* one line: safe as a single SSE data field */
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"text\":\"line1\\nline2\"}}");
    free(text);
    json_decref(r);
    r = jsonrpc_notification("notifications/progress", NULL);
    text = jsonrpc_dump(r);
    assert_string_equal(text, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}");
    free(text);
    json_decref(r);
}

/* ---- revisions ----------------------------------------------------------------------------- */

static void test_versions(void **state)
{
    (void)state;
    assert_int_equal(mcp_version_from_name("2025-06-18"), MCP_VERSION_2025_06_18);
    assert_int_equal(mcp_version_from_name("2025-06-19"), MCP_VERSION_UNKNOWN);
    assert_int_equal(mcp_version_from_name(NULL), MCP_VERSION_UNKNOWN);
    assert_string_equal(mcp_version_name(MCP_VERSION_2026_07_28), "2026-07-28");
    assert_true(mcp_version_name_is_modern("2026-07-28"));
    assert_true(mcp_version_name_is_modern("2027-01-01"));
    assert_false(mcp_version_name_is_modern("2025-11-25"));
    assert_false(mcp_version_name_is_modern("2026-7-28"));
    assert_false(mcp_version_name_is_modern("zzzz-zz-zz"));
    assert_false(mcp_version_name_is_modern(NULL));
    assert_true(mcp_version_allows_batch(MCP_VERSION_2025_03_26));
    assert_true(mcp_version_allows_batch(MCP_VERSION_2024_11_05));
    assert_false(mcp_version_allows_batch(MCP_VERSION_2025_06_18));
    assert_false(mcp_version_allows_batch(MCP_VERSION_2026_07_28));

    struct mcp_versions v = default_versions();
    assert_int_equal(v.count, 4);
    assert_int_equal(v.list[0], MCP_VERSION_2026_07_28); /* newest first */
    assert_int_equal(v.list[3], MCP_VERSION_2025_03_26);
    assert_int_equal(v.counter_offer, MCP_VERSION_2025_06_18); /* the preferred one */
    assert_int_equal(v.headerless, MCP_VERSION_2025_03_26);
    assert_int_equal(mcp_versions_negotiate(&v, "2025-11-25"), MCP_VERSION_2025_11_25);
    assert_int_equal(mcp_versions_negotiate(&v, "2024-11-05"), MCP_VERSION_2025_06_18);
    assert_int_equal(mcp_versions_negotiate(&v, "2026-07-28"),
                     MCP_VERSION_2025_06_18); /* not via initialize */
    assert_int_equal(mcp_versions_negotiate(&v, NULL), MCP_VERSION_2025_06_18);
    json_t *list = mcp_versions_json(&v);
    char *text = jsonrpc_dump(list);
    assert_string_equal(text, "[\"2026-07-28\",\"2025-11-25\",\"2025-06-18\",\"2025-03-26\"]");
    free(text);
    json_decref(list);

    struct buf warnings;
    buf_init(&warnings, 4096);
    char *odd[] = {"2025-06-18", "1999-01-01", "2025-06-18"};
    assert_int_equal(mcp_versions_init(&v, odd, 3, "2025-11-25", &warnings), GW_OK);
    assert_int_equal(v.count, 1);
    assert_int_equal(v.counter_offer, MCP_VERSION_2025_06_18); /* preferred is not supported */
    assert_int_equal(v.headerless, MCP_VERSION_2025_06_18);
    assert_non_null(strstr(buf_cstr(&warnings), "WARNING: "));
    assert_false(mcp_versions_has(&v, MCP_VERSION_2026_07_28));
    buf_reset(&warnings);
    char *none[] = {"nope"};
    assert_int_equal(mcp_versions_init(&v, none, 1, NULL, &warnings), GW_ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&warnings), "ERROR: "));
    char *modern_only[] = {"2026-07-28"};
    assert_int_equal(mcp_versions_init(&v, modern_only, 1, NULL, NULL), GW_OK);
    assert_false(mcp_versions_has_legacy(&v));
    buf_free(&warnings);
}

/* ---- HTTP negotiation ------------------------------------------------------------------ */

static void check_accept(const char *header, bool json, bool sse)
{
    struct mcp_accept a;
    mcp_accept_parse(header, &a);
    if (a.json != json || a.sse != sse)
        fail_msg("Accept '%s': json=%d sse=%d, expected %d %d", header ? header : "(none)", a.json, a.sse,
                 json, sse);
}

static void test_accept(void **state)
{
    (void)state;
    check_accept(NULL, true, true);
    check_accept("application/json, text/event-stream", true, true);
    check_accept("text/event-stream", false, true);
    check_accept("application/json", true, false);
    check_accept("Application/JSON", true, false);
    check_accept("*/*", true, true);
    check_accept("application/*", true, false);
    check_accept("text/*", false, true);
    check_accept("text/html", false, false);
    check_accept("", false, false);
    check_accept("application/json;q=0, */*", false, true);
    check_accept("*/*;q=0.5, text/event-stream;q=0", true, false);
    check_accept("application/json; charset=utf-8; q=0.9 , text/event-stream", true, true);
    /* parameters at the very end (found by fuzz_jsonrpc: the parser once read past the NUL) */
    check_accept("text/event-stream;q=;", false, true);
    check_accept("application/json;", true, false);
    check_accept("application/json; q=", true, false);
    check_accept(";;;", false, false);
}

static void test_content_type(void **state)
{
    (void)state;
    assert_true(mcp_content_type_is_json("application/json"));
    assert_true(mcp_content_type_is_json("application/json; charset=utf-8"));
    assert_true(mcp_content_type_is_json("APPLICATION/JSON"));
    assert_false(mcp_content_type_is_json("application/jsonx"));
    assert_false(mcp_content_type_is_json("text/json"));
    assert_false(mcp_content_type_is_json("text/plain"));
    assert_false(mcp_content_type_is_json(NULL));
}

static void test_origin(void **state)
{
    (void)state;
    char *star[] = {"*"};
    char *list[] = {"https://good.example", "http://localhost:6274/"};
    assert_true(mcp_origin_allowed("https://evil.example", star, 1));
    assert_true(mcp_origin_allowed("https://good.example", list, 2));
    assert_true(mcp_origin_allowed("HTTPS://GOOD.example/", list, 2));
    assert_true(mcp_origin_allowed("http://localhost:6274", list, 2));
    assert_false(mcp_origin_allowed("https://good.example.evil", list, 2));
    assert_false(mcp_origin_allowed("https://evil.example", list, 2));
    assert_false(mcp_origin_allowed("null", list, 2));
    assert_false(mcp_origin_allowed("https://good.example", NULL, 0));
}

static void check_decode(const char *value, const char *expected)
{
    char *out = NULL;
    enum gw_err err = mcp_header_value_decode(value, &out);
    if (!expected) {
        if (err == GW_OK)
            fail_msg("'%s' decoded to '%s', expected an error", value, out);
        assert_null(out);
        return;
    }
    if (err != GW_OK)
        fail_msg("'%s' did not decode", value);
    assert_string_equal(out, expected);
    free(out);
}

static void test_header_value_decode(void **state)
{
    (void)state;
    check_decode("get_weather", "get_weather");
    check_decode("  spaced\t", "spaced");
    check_decode("=?base64?SGVsbG8sIOS4lueVjA==?=", "Hello, \xe4\xb8\x96\xe7\x95\x8c");
    check_decode("=?base64?IHBhZGRlZCA=?=", " padded ");
    check_decode("=?base64?bGluZTEKbGluZTI=?=", "line1\nline2");
    check_decode("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", "=?base64?literal?=");
    check_decode("=?base64?"
                 "?=",
                 ""); /* split: "??=" would be a trigraph */
    check_decode("=?base64?!!!!?=", NULL);
    check_decode("=?base64?SGVsbG8?=", NULL);  /* not a multiple of 4 */
    check_decode("=?base64?SG=sbG8=?=", NULL); /* padding inside */
    check_decode("=?base64?AA==?=", NULL);     /* decodes to a NUL byte */
    check_decode("caf\xc3\xa9", NULL);         /* non-ASCII must be sentinel-encoded */
    check_decode("a\x01z", NULL);
    check_decode("=?BASE64?YQ==?=", "=?BASE64?YQ==?="); /* the markers are case-sensitive */
}

/* ---- era classification ------------------------------------------------------------------- */

static void expect_reject(struct mcp_verdict v, int code)
{
    if (v.route != MCP_ROUTE_REJECT || v.code != code)
        fail_msg("route %d code %d (%s), expected rejection %d", v.route, v.code, v.message, code);
    assert_int_equal(v.http_status, 400);
}

static void test_classify_legacy(void **state)
{
    (void)state;
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}";
    assert_int_equal(classify(ping, NULL, NULL, NULL).route, MCP_ROUTE_LEGACY);
    assert_int_equal(classify(ping, "2025-06-18", NULL, NULL).route, MCP_ROUTE_LEGACY);
    /* 2025 clients never send Mcp-Method; an odd one is ignored on the legacy path */
    assert_int_equal(classify(ping, "2025-11-25", "whatever", NULL).route, MCP_ROUTE_LEGACY);
    struct mcp_verdict v = classify(ping, "1999-01-01", NULL, NULL);
    expect_reject(v, MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION);
    assert_string_equal(v.requested, "1999-01-01");
    expect_reject(classify(ping, "2024-11-05", NULL, NULL), MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION);
    assert_int_equal(
        classify("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", NULL, NULL, NULL).route,
        MCP_ROUTE_LEGACY);
    assert_int_equal(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "2025-11-25", NULL, NULL).route,
                     MCP_ROUTE_LEGACY);
    expect_reject(classify("{\"jsonrpc\":\"2.0\",\"id\":1}", NULL, NULL, NULL), JSONRPC_INVALID_REQUEST);
    assert_int_equal(
        classify("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},5]", NULL, NULL, NULL).route,
        MCP_ROUTE_LEGACY); /* invalid members are answered one by one */
}

static void test_classify_modern(void **state)
{
    (void)state;
    struct mcp_verdict v = classify(MODERN_CALL, "2026-07-28", "tools/call", "echo");
    assert_int_equal(v.route, MCP_ROUTE_MODERN);
    assert_int_equal(v.version, MCP_VERSION_2026_07_28);
    /* Mcp-Name may be Base64-encoded */
    v = classify(MODERN_CALL, "2026-07-28", "tools/call", "=?base64?ZWNobw==?=");
    assert_int_equal(v.route, MCP_ROUTE_MODERN);
    /* method without a mirrored name: no Mcp-Name needed */
    const char *list = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}";
    assert_int_equal(classify(list, "2026-07-28", "tools/list", NULL).route, MCP_ROUTE_MODERN);
    /* a claim makes initialize modern too (then answered method-not-found) */
    const char *init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{" META "}}";
    assert_int_equal(classify(init, "2026-07-28", "initialize", NULL).route, MCP_ROUTE_MODERN);
}

static void test_classify_header_mismatch(void **state)
{
    (void)state;
    struct mcp_verdict v = classify(MODERN_CALL, "2026-07-28", "tools/list", "echo");
    expect_reject(v, MCP_ERROR_HEADER_MISMATCH);
    assert_non_null(strstr(v.message, "Mcp-Method"));
    v = classify(MODERN_CALL, "2026-07-28", "tools/call", "other");
    expect_reject(v, MCP_ERROR_HEADER_MISMATCH);
    assert_non_null(strstr(v.message, "'other'"));
    expect_reject(classify(MODERN_CALL, "2026-07-28", NULL, "echo"), MCP_ERROR_HEADER_MISMATCH);
    expect_reject(classify(MODERN_CALL, "2026-07-28", "tools/call", NULL), MCP_ERROR_HEADER_MISMATCH);
    expect_reject(classify(MODERN_CALL, NULL, "tools/call", "echo"), MCP_ERROR_HEADER_MISMATCH);
    expect_reject(classify(MODERN_CALL, "2025-11-25", "tools/call", "echo"), MCP_ERROR_HEADER_MISMATCH);
    expect_reject(classify(MODERN_CALL, "2026-07-28", "tools/call", "=?base64?*?="),
                  MCP_ERROR_HEADER_MISMATCH);
    expect_reject(classify(MODERN_CALL, "2026-07-28", "tools/call", "Echo"), MCP_ERROR_HEADER_MISMATCH);
    /* header values are case-sensitive */
    expect_reject(classify(MODERN_CALL, "2026-07-28", "Tools/Call", "echo"), MCP_ERROR_HEADER_MISMATCH);
    /* resources/read mirrors params.uri */
    const char *read =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\",\"params\":{\"uri\":\"file:///a\"," META
        "}}";
    assert_int_equal(classify(read, "2026-07-28", "resources/read", "file:///a").route, MCP_ROUTE_MODERN);
    expect_reject(classify(read, "2026-07-28", "resources/read", "file:///b"), MCP_ERROR_HEADER_MISMATCH);
}

static void test_classify_unsupported_and_envelope(void **state)
{
    (void)state;
    const char *future = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                         "\"io.modelcontextprotocol/protocolVersion\":\"2099-01-01\","
                         "\"io.modelcontextprotocol/clientCapabilities\":{}}}}";
    struct mcp_verdict v = classify(future, "2099-01-01", "tools/list", NULL);
    expect_reject(v, MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION);
    assert_string_equal(v.requested, "2099-01-01");
    /* a 2025 revision through the 2026 mechanism is not served */
    const char *old = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                      "\"io.modelcontextprotocol/protocolVersion\":\"2025-11-25\","
                      "\"io.modelcontextprotocol/clientCapabilities\":{}}}}";
    expect_reject(classify(old, "2025-11-25", "tools/list", NULL), MCP_ERROR_UNSUPPORTED_PROTOCOL_VERSION);
    /* claim present but not a string */
    expect_reject(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                           "\"io.modelcontextprotocol/protocolVersion\":5}}}",
                           "2026-07-28", "tools/list", NULL),
                  JSONRPC_INVALID_PARAMS);
    /* clientCapabilities missing */
    expect_reject(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
                           "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}",
                           "2026-07-28", "tools/list", NULL),
                  JSONRPC_INVALID_PARAMS);
    /* a modern header on a request without the envelope */
    expect_reject(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", "2026-07-28",
                           "tools/list", NULL),
                  JSONRPC_INVALID_PARAMS);
    /* a modern header on a notification: modern (its era comes from the header) */
    v = classify("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}", "2026-07-28", "notifications/x",
                 NULL);
    assert_int_equal(v.route, MCP_ROUTE_MODERN);
    expect_reject(
        classify("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/x\"}", "2026-07-28", "other", NULL),
        MCP_ERROR_HEADER_MISMATCH);
    /* clients do not send responses in 2026-07-28 */
    expect_reject(classify("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", "2026-07-28", NULL, NULL),
                  JSONRPC_INVALID_REQUEST);
    /* no batches in 2026-07-28 */
    expect_reject(classify("[" MODERN_CALL "]", NULL, NULL, NULL), JSONRPC_INVALID_REQUEST);
    expect_reject(classify("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", "2026-07-28", NULL, NULL),
                  JSONRPC_INVALID_REQUEST);
}

/* ---- sessions ------------------------------------------------------------------------------ */

static int destroyed;
static void *state_create(void *arg)
{
    (void)arg;
    return strdup("state");
}
static void state_destroy(void *state, void *arg)
{
    (void)arg;
    free(state);
    destroyed++;
}

static void wake_counter(void *arg)
{
    (*(int *)arg)++;
}

static void test_session_table(void **state)
{
    (void)state;
    destroyed = 0;
    struct mcp_session_hooks hooks = {.create = state_create, .destroy = state_destroy};
    struct mcp_session_table *t = mcp_session_table_create(2, 3600LL * 1000000, &hooks);
    struct mcp_session *a, *b, *c;
    assert_int_equal(mcp_session_create(t, MCP_VERSION_2025_06_18, &a), GW_OK);
    assert_int_equal(mcp_session_create(t, MCP_VERSION_2025_11_25, &b), GW_OK);
    assert_int_equal(mcp_session_create(t, MCP_VERSION_2025_11_25, &c), GW_ERR_TOO_LARGE); /* the cap */
    assert_null(c);
    assert_int_equal(destroyed, 1); /* the refused session's state is not leaked */
    destroyed = 0;
    assert_int_equal(strlen(mcp_session_id(a)), MCP_SESSION_ID_LEN);
    assert_string_not_equal(mcp_session_id(a), mcp_session_id(b));
    assert_string_equal(mcp_session_state(a), "state");
    assert_int_equal(mcp_session_table_count(t), 2);

    struct mcp_session *again = mcp_session_acquire(t, mcp_session_id(a));
    assert_ptr_equal(again, a);
    assert_int_equal(mcp_session_version(again), MCP_VERSION_2025_06_18);
    mcp_session_release(again);
    assert_null(mcp_session_acquire(t, "0123456789abcdef0123456789abcdef"));
    assert_null(mcp_session_acquire(t, "short"));
    assert_null(mcp_session_acquire(t, NULL));

    /* a stream: one per session, woken by posts and by the end */
    int wakes = 0;
    assert_int_equal(mcp_session_post(a, "{\"queued\":1}"), GW_OK);
    assert_int_equal(mcp_session_attach_stream(a, wake_counter, &wakes), GW_OK);
    assert_int_equal(wakes, 1); /* queued before the stream came */
    assert_int_equal(mcp_session_attach_stream(a, wake_counter, &wakes), GW_ERR_EXISTS);
    assert_int_equal(mcp_session_post(a, "{\"queued\":2}"), GW_OK);
    assert_int_equal(wakes, 2);
    char *m = mcp_session_take_message(a);
    assert_string_equal(m, "{\"queued\":1}");
    free(m);
    m = mcp_session_take_message(a);
    assert_string_equal(m, "{\"queued\":2}");
    free(m);
    assert_null(mcp_session_take_message(a));

    char id[MCP_SESSION_ID_LEN + 1];
    strcpy(id, mcp_session_id(a));
    assert_true(mcp_session_end(t, id));
    assert_int_equal(wakes, 3);
    assert_true(mcp_session_ended(a));
    assert_false(mcp_session_end(t, id));
    assert_null(mcp_session_acquire(t, id));
    assert_int_equal(mcp_session_post(a, "{}"), GW_ERR_CLOSED);
    assert_int_equal(destroyed, 0); /* the creator's reference keeps it */
    mcp_session_detach_stream(a);
    mcp_session_release(a);
    assert_int_equal(destroyed, 1);

    /* room again after the end */
    assert_int_equal(mcp_session_create(t, MCP_VERSION_2025_11_25, &c), GW_OK);
    mcp_session_release(c);
    mcp_session_release(b);
    assert_int_equal(mcp_session_table_expire(t, server_now_usec()), 0); /* none idle for an hour */
    assert_int_equal(mcp_session_table_expire(t, server_now_usec() + 3601LL * 1000000), 2);
    assert_int_equal(destroyed, 3);
    assert_int_equal(mcp_session_table_count(t), 0);
    mcp_session_table_free(t);
}

static void test_session_idle_expiry_and_queue_cap(void **state)
{
    (void)state;
    struct mcp_session_table *t = mcp_session_table_create(10, 50 * 1000, NULL); /* 50 ms */
    struct mcp_session *s, *held;
    assert_int_equal(mcp_session_create(t, MCP_VERSION_2025_11_25, &s), GW_OK);
    char id[MCP_SESSION_ID_LEN + 1];
    strcpy(id, mcp_session_id(s));
    for (int i = 0; i < MCP_SESSION_QUEUE_MAX; i++)
        assert_int_equal(mcp_session_post(s, "{}"), GW_OK);
    assert_int_equal(mcp_session_post(s, "{}"), GW_ERR_TOO_LARGE);
    held = mcp_session_acquire(t, id);
    mcp_session_release(s);
    usleep(80 * 1000);
    /* in use (held) is not idle */
    assert_int_equal(mcp_session_table_expire(t, server_now_usec()), 0);
    mcp_session_release(held);
    usleep(80 * 1000);
    assert_null(mcp_session_acquire(t, id)); /* expired on lookup */
    assert_int_equal(mcp_session_table_count(t), 0);
    mcp_session_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classify_kinds),
        cmocka_unit_test(test_invalid_keeps_readable_id),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_batches),
        cmocka_unit_test(test_parse_failures),
        cmocka_unit_test(test_response_shapes),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_content_type),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_header_value_decode),
        cmocka_unit_test(test_classify_legacy),
        cmocka_unit_test(test_classify_modern),
        cmocka_unit_test(test_classify_header_mismatch),
        cmocka_unit_test(test_classify_unsupported_and_envelope),
        cmocka_unit_test(test_session_table),
        cmocka_unit_test(test_session_idle_expiry_and_queue_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
