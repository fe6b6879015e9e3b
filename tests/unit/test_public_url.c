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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subdomain_defaults),
        cmocka_unit_test(test_plain_http_with_port),
        cmocka_unit_test(test_path_routing),
        cmocka_unit_test(test_metadata_document),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
