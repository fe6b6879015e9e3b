#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/config.h"
#include "core/public_url.h"

static struct config *load(const char *text)
{
    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, &errors), GW_OK);
    buf_free(&errors);
    return cfg;
}

static void expect(char *got, const char *want)
{
    assert_string_equal(got, want);
    free(got);
}

static void test_subdomain_defaults(void **state)
{
    (void)state;
    struct config *cfg = load("BASE_DOMAIN=Gateway.Example.COM\n");
    expect(public_url_issuer(cfg), "https://auth.gateway.example.com");
    expect(public_url_resource(cfg, "mcp-echo"), "https://mcp-echo.gateway.example.com/mcp");
    expect(public_url_resource_metadata(cfg, "mcp-echo"),
           "https://mcp-echo.gateway.example.com/.well-known/oauth-protected-resource/mcp");
    config_free(cfg);
}

static void test_plain_http_with_port(void **state)
{
    (void)state;
    struct config *cfg = load("BASE_DOMAIN=localhost\nHTTPS_PORT=0\nHTTP_PORT=8081\n");
    expect(public_url_issuer(cfg), "http://auth.localhost:8081");
    expect(public_url_resource(cfg, "mcp-fetch"), "http://mcp-fetch.localhost:8081/mcp");
    config_free(cfg);
}

static void test_path_routing(void **state)
{
    (void)state;
    struct config *cfg =
        load("BASE_DOMAIN=example.com\nROUTING=path\nPUBLIC_ORIGIN=HTTPS://Example.com:8443/\n");
    expect(public_url_issuer(cfg), "https://example.com:8443");
    expect(public_url_resource(cfg, "mcp-echo"), "https://example.com:8443/mcp-echo/mcp");
    expect(public_url_resource_metadata(cfg, "mcp-echo"),
           "https://example.com:8443/.well-known/oauth-protected-resource/mcp-echo/mcp");
    config_free(cfg);
}

static void test_metadata_document(void **state)
{
    (void)state;
    struct config *cfg = load("BASE_DOMAIN=example.com\nMCP_SCOPES=mcp, extra\n");
    char *doc = public_url_resource_metadata_document(cfg, "mcp-echo");
    json_t *j = json_loads(doc, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "resource")),
                        "https://mcp-echo.example.com/mcp");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "authorization_servers"), 0)),
                        "https://auth.example.com");
    assert_int_equal(json_array_size(json_object_get(j, "scopes_supported")), 2);
    json_decref(j);
    free(doc);
    config_free(cfg);
}

static void expect_canonical(const char *uri, const char *want)
{
    char *got = public_url_canonical_resource(uri);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    expect(got, want);
}

/* RFC 8707 canonical form: the spellings clients send for one resource compare equal. */
static void test_canonical_resource(void **state)
{
    (void)state;
    expect_canonical("https://mcp-echo.example.com/mcp", "https://mcp-echo.example.com/mcp");
    expect_canonical("https://mcp-echo.example.com/mcp/", "https://mcp-echo.example.com/mcp");
    expect_canonical("HTTPS://MCP-Echo.Example.COM/mcp", "https://mcp-echo.example.com/mcp");
    expect_canonical("https://mcp-echo.example.com:443/mcp/", "https://mcp-echo.example.com/mcp");
    expect_canonical("http://localhost:80/x/mcp", "http://localhost/x/mcp");
    expect_canonical("http://127.0.0.1:8080/mcp-echo/mcp/", "http://127.0.0.1:8080/mcp-echo/mcp");
    expect_canonical("https://example.com:80/mcp", "https://example.com:80/mcp");
    expect_canonical("http://[::1]:443/mcp", "http://[::1]:443/mcp");
    expect_canonical("https://example.com/", "https://example.com");
    expect_canonical("https://example.com", "https://example.com");
    expect_canonical("https://example.com:/mcp", "https://example.com/mcp");
    expect_canonical("https://example.com/mcp?x=1", "https://example.com/mcp?x=1");
    /* the path's case is significant, and only one trailing slash is tolerated */
    expect_canonical("https://example.com/MCP", "https://example.com/MCP");
    expect_canonical("https://example.com/mcp//", "https://example.com/mcp/");
    /* not a resource indicator */
    expect_canonical("https://example.com/mcp#f", NULL);
    expect_canonical("https://user@example.com/mcp", NULL);
    expect_canonical("urn:example:mcp", NULL);
    expect_canonical("ftp://example.com/mcp", NULL);
    expect_canonical("/mcp", NULL);
    expect_canonical("https:///mcp", NULL);
    expect_canonical("", NULL);
    expect_canonical(NULL, NULL);

    assert_true(public_url_same_resource("https://Svc.Example/mcp/", "https://svc.example/mcp"));
    assert_true(public_url_same_resource("https://svc.example:443/mcp", "https://svc.example/mcp/"));
    assert_false(public_url_same_resource("https://svc.example/mcp", "https://svc.example/mcp-other"));
    assert_false(public_url_same_resource("https://svc.example/mcp", "http://svc.example/mcp"));
    assert_false(public_url_same_resource("https://svc.example/mcp", "https://svc.example:8443/mcp"));
    assert_false(public_url_same_resource("https://svc.example/mcp", NULL));
    assert_false(public_url_same_resource("not a uri", "not a uri"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subdomain_defaults), cmocka_unit_test(test_plain_http_with_port),
        cmocka_unit_test(test_path_routing),       cmocka_unit_test(test_metadata_document),
        cmocka_unit_test(test_canonical_resource),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
