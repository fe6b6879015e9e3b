/*
 * test_router_routes.c - the router's route table (src/router/routes.c): services from the
 * configuration, subdomain and path resolution, priorities, Host matching.
 */
#include "router_fixture.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "router/routes.h"

static struct config *load(const char *text)
{
    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, &errors), GW_OK);
    buf_free(&errors);
    return cfg;
}

static void test_services_from_configuration(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t =
        route_table_for_text("BASE_DOMAIN=Example.com\nAUTH_PORT=8001\nMCP_ECHO_PORT=3101\n"
                             "MCP_FETCH_ENABLED=true\nMCP_FETCH_PORT=3100\n"
                             "MCP_MY_TOOL_URL=http://10.0.0.5:9000/api/mcp\n"
                             "MCP_MEMORY_COMMAND=npx -y @modelcontextprotocol/server-memory\n"
                             "MCP_MEMORY_PORT=3102\nMCP_OFF_URL=http://127.0.0.1:1\nMCP_OFF_ENABLED=false\n",
                             &cfg);
    assert_int_equal(t->nservices, 5);
    assert_string_equal(t->services[0].name, "auth");
    assert_string_equal(t->services[0].upstream_authority, "127.0.0.1:8001");
    const struct router_service *echo = route_find_service(t, "mcp-echo"); /* enabled by default */
    assert_non_null(echo);
    assert_int_equal(echo->upstream_port, 3101);
    assert_string_equal(echo->host, "mcp-echo.example.com");
    assert_string_equal(echo->resource, "https://mcp-echo.example.com/mcp");
    assert_string_equal(echo->metadata_url,
                        "https://mcp-echo.example.com/.well-known/oauth-protected-resource/mcp");
    const struct router_service *tool = route_find_service(t, "mcp-my-tool");
    assert_non_null(tool);
    assert_string_equal(tool->upstream_authority, "10.0.0.5:9000");
    assert_string_equal(tool->mcp_path, "/api/mcp");
    const struct router_service *memory = route_find_service(t, "mcp-memory");
    assert_non_null(memory);
    assert_int_equal(memory->upstream_port, 3102);
    assert_non_null(route_find_service(t, "mcp-fetch"));
    assert_null(route_find_service(t, "mcp-off"));
    route_table_free(t);
    config_free(cfg);
}

/* The supervisor starts it on the same automatic port (config_stdio_port). */
static void test_command_without_port_gets_the_automatic_port(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t = route_table_for_text("BASE_DOMAIN=example.com\nMCP_X_COMMAND=run-me\n", &cfg);
    const struct router_service *x = route_find_service(t, "mcp-x");
    assert_non_null(x);
    assert_int_equal(x->upstream_port, 3002);
    assert_int_equal(x->upstream_port, config_stdio_port(cfg, "X"));
    route_table_free(t);
    config_free(cfg);
}

/* The router reaches what the supervisor starts where it listens: INTERNAL_BIND_ADDRESS, or
 * loopback for a wildcard. A service the operator runs (_ENABLED + _PORT) stays on 127.0.0.1. */
static void test_upstreams_follow_internal_bind_address(void **state)
{
    (void)state;
    static const char services[] = "BASE_DOMAIN=example.com\nAUTH_PORT=8001\nMCP_ECHO_PORT=3101\n"
                                   "MCP_FETCH_ENABLED=true\nMCP_FETCH_PORT=3100\nMCP_X_COMMAND=run-me\n"
                                   "MCP_MINE_ENABLED=true\nMCP_MINE_PORT=4000\n";
    static const struct {
        const char *setting, *internal;
    } cases[] = {
        {"", "127.0.0.1"},
        {"INTERNAL_BIND_ADDRESS=127.0.0.2\n", "127.0.0.2"},
        {"INTERNAL_BIND_ADDRESS=0.0.0.0\nBIND_ADDRESS=127.0.0.3\n", "127.0.0.1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "%s%s", services, cases[i].setting);
        struct config *cfg;
        struct route_table *t = route_table_for_text(text, &cfg);
        assert_string_equal(route_find_service(t, "auth")->upstream_host, cases[i].internal);
        assert_string_equal(route_find_service(t, "mcp-echo")->upstream_host, cases[i].internal);
        assert_string_equal(route_find_service(t, "mcp-fetch")->upstream_host, cases[i].internal);
        assert_string_equal(route_find_service(t, "mcp-x")->upstream_host, cases[i].internal);
        assert_string_equal(route_find_service(t, "mcp-mine")->upstream_host, "127.0.0.1");
        char authority[64];
        snprintf(authority, sizeof(authority), "%s:8001", cases[i].internal);
        assert_string_equal(route_find_service(t, "auth")->upstream_authority, authority);
        route_table_free(t);
        config_free(cfg);
    }
    /* AUTH_INTERNAL_URL still wins */
    struct config *cfg;
    struct route_table *t = route_table_for_text("BASE_DOMAIN=example.com\nINTERNAL_BIND_ADDRESS=127.0.0.2\n"
                                                 "AUTH_INTERNAL_URL=http://10.0.0.9:8000\n",
                                                 &cfg);
    assert_string_equal(route_find_service(t, "auth")->upstream_authority, "10.0.0.9:8000");
    route_table_free(t);
    config_free(cfg);
}

/* validate-env refuses the same, in the same words (config_local_service_port). */
static void test_enabled_service_without_port_refused(void **state)
{
    (void)state;
    struct config *cfg = load("BASE_DOMAIN=example.com\nMCP_FOO_ENABLED=true\n");
    struct route_table *t = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(route_table_create(cfg, &t, &errors), GW_ERR_CONFIG);
    assert_string_equal(buf_cstr(&errors),
                        "ERROR: Required variable MCP_FOO_PORT not set (MCP_FOO_ENABLED=true: mcp-foo needs "
                        "MCP_FOO_URL, MCP_FOO_COMMAND, or the port it listens on at 127.0.0.1)\n");
    buf_free(&errors);
    config_free(cfg);
}

static void test_https_upstream_refused(void **state)
{
    (void)state;
    struct config *cfg = load("BASE_DOMAIN=example.com\nMCP_X_URL=https://remote.example/mcp\n");
    struct route_table *t = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(route_table_create(cfg, &t, &errors), GW_ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&errors), "MCP_X_URL"));
    buf_free(&errors);
    config_free(cfg);
}

static void expect_route(const struct route_table *t, const char *host, const char *path,
                         enum route_kind kind, const char *service)
{
    struct route_match m = route_resolve(t, host, path);
    assert_int_equal(m.kind, kind);
    if (service) {
        assert_non_null(m.service);
        assert_string_equal(m.service->name, service);
    } else {
        assert_null(m.service);
    }
}

static void test_subdomain_resolution(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t = route_table_for_text("BASE_DOMAIN=example.com\n", &cfg);
    expect_route(t, "mcp-echo.example.com", "/mcp", ROUTE_MCP, "mcp-echo");
    expect_route(t, "MCP-ECHO.Example.COM:8443", "/mcp", ROUTE_MCP, "mcp-echo");
    expect_route(t, "mcp-echo.example.com.", "/mcp", ROUTE_MCP, "mcp-echo");
    expect_route(t, "mcp-echo.example.com", "/health", ROUTE_SERVICE_HEALTH, "mcp-echo");
    expect_route(t, "mcp-echo.example.com", "/.well-known/oauth-protected-resource", ROUTE_RESOURCE_METADATA,
                 "mcp-echo");
    expect_route(t, "mcp-echo.example.com", "/.well-known/oauth-protected-resource/mcp",
                 ROUTE_RESOURCE_METADATA, "mcp-echo");
    expect_route(t, "mcp-echo.example.com", "/.well-known/oauth-protected-resource/other", ROUTE_NOT_FOUND,
                 NULL);
    /* OAuth first: AS metadata on any host goes to auth */
    expect_route(t, "mcp-echo.example.com", "/.well-known/oauth-authorization-server", ROUTE_AUTH, "auth");
    expect_route(t, "anything.else", "/.well-known/openid-configuration", ROUTE_AUTH, "auth");
    expect_route(t, "auth.example.com", "/token", ROUTE_AUTH, "auth");
    assert_string_equal(route_resolve(t, "auth.example.com", "/token").auth_limit, "TOKEN");
    assert_string_equal(route_resolve(t, "auth.example.com", "/register").auth_limit, "REGISTER");
    assert_null(route_resolve(t, "auth.example.com", "/jwks").auth_limit);
    /* the guide's traefik host: the router's own admin endpoints; OAuth metadata still first */
    expect_route(t, "traefik.example.com", "/metrics", ROUTE_ADMIN, NULL);
    expect_route(t, "Traefik.Example.com:443", "/ping", ROUTE_ADMIN, NULL);
    expect_route(t, "traefik.example.com", "/.well-known/oauth-authorization-server", ROUTE_AUTH, "auth");
    expect_route(t, "traefik.example.com.evil.org", "/metrics", ROUTE_NOT_FOUND, NULL);
    /* a service host is no authorization server */
    expect_route(t, "mcp-echo.example.com", "/token", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "mcp-echo.example.com", "/mcp/extra", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "mcp-echo.example.com.evil.org", "/mcp", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "evil.org", "/mcp", ROUTE_NOT_FOUND, NULL);
    expect_route(t, NULL, "/mcp", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "mcp-echo.example.com", "*", ROUTE_NOT_FOUND, NULL);
    route_table_free(t);
    config_free(cfg);
}

/* "/mcp/" is the same endpoint as "/mcp" (the Python gateway's PathPrefix took both), and its
 * path-inserted metadata URL (RFC 9728 §3.1) answers the same document. */
static void test_trailing_slash_is_the_mcp_endpoint(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t = route_table_for_text("BASE_DOMAIN=example.com\n", &cfg);
    expect_route(t, "mcp-echo.example.com", "/mcp/", ROUTE_MCP, "mcp-echo");
    expect_route(t, "MCP-Echo.example.com:443", "/mcp/", ROUTE_MCP, "mcp-echo");
    expect_route(t, "mcp-echo.example.com", "/.well-known/oauth-protected-resource/mcp/",
                 ROUTE_RESOURCE_METADATA, "mcp-echo");
    expect_route(t, "mcp-echo.example.com", "/mcp//", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "mcp-echo.example.com", "/mcp/x", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "mcp-echo.example.com", "/MCP/", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "mcp-echo.example.com", "/.well-known/oauth-protected-resource/mcp//", ROUTE_NOT_FOUND,
                 NULL);
    route_table_free(t);
    config_free(cfg);

    t = route_table_for_text("BASE_DOMAIN=example.com\nROUTING=path\nMCP_FETCH_ENABLED=true\n", &cfg);
    expect_route(t, "example.com", "/mcp-echo/mcp/", ROUTE_MCP, "mcp-echo");
    expect_route(t, "example.com", "/mcp-fetch/mcp/", ROUTE_MCP, "mcp-fetch");
    expect_route(t, "example.com", "/.well-known/oauth-protected-resource/mcp-echo/mcp/",
                 ROUTE_RESOURCE_METADATA, "mcp-echo");
    expect_route(t, "example.com", "/mcp-echo/mcp//", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "example.com", "/mcp-echo/mcp/x", ROUTE_NOT_FOUND, NULL);
    route_table_free(t);
    config_free(cfg);
}

/* In path mode the origin is shared: the root metadata URL names the only MCP service, and no
 * service when there are several (subdomain mode answers it per service host). */
static void test_path_mode_root_metadata(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t = route_table_for_text("BASE_DOMAIN=example.com\nROUTING=path\n", &cfg);
    expect_route(t, "example.com", "/.well-known/oauth-protected-resource", ROUTE_RESOURCE_METADATA,
                 "mcp-echo");
    expect_route(t, "anything", "/.well-known/oauth-protected-resource", ROUTE_RESOURCE_METADATA, "mcp-echo");
    expect_route(t, "example.com", "/.well-known/oauth-protected-resource/", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "example.com", "/.well-known/oauth-protected-resourcex", ROUTE_AUTH, "auth");
    route_table_free(t);
    config_free(cfg);

    t = route_table_for_text("BASE_DOMAIN=example.com\nROUTING=path\nMCP_FETCH_ENABLED=true\n", &cfg);
    expect_route(t, "example.com", "/.well-known/oauth-protected-resource", ROUTE_NOT_FOUND, NULL);
    expect_route(t, "example.com", "/.well-known/oauth-protected-resource/mcp-fetch/mcp",
                 ROUTE_RESOURCE_METADATA, "mcp-fetch");
    route_table_free(t);
    config_free(cfg);
}

static void test_path_resolution(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t = route_table_for_text("BASE_DOMAIN=example.com\nROUTING=path\n", &cfg);
    assert_true(t->path_mode);
    const struct router_service *echo = route_find_service(t, "mcp-echo");
    assert_string_equal(echo->resource, "https://example.com/mcp-echo/mcp");
    expect_route(t, "example.com", "/mcp-echo/mcp", ROUTE_MCP, "mcp-echo");
    expect_route(t, "example.com", "/mcp-echo/health", ROUTE_SERVICE_HEALTH, "mcp-echo");
    expect_route(t, "example.com", "/.well-known/oauth-protected-resource/mcp-echo/mcp",
                 ROUTE_RESOURCE_METADATA, "mcp-echo");
    expect_route(t, "example.com", "/.well-known/oauth-protected-resource/nothing/mcp", ROUTE_NOT_FOUND,
                 NULL);
    expect_route(t, "example.com", "/.well-known/oauth-authorization-server", ROUTE_AUTH, "auth");
    /* the authorization server at the origin root */
    expect_route(t, "example.com", "/authorize", ROUTE_AUTH, "auth");
    assert_string_equal(route_resolve(t, "example.com", "/authorize").auth_limit, "AUTHORIZE");
    expect_route(t, "example.com", "/mcp-echoes/mcp", ROUTE_AUTH, "auth");
    expect_route(t, "example.com", "/mcp-echo/other", ROUTE_NOT_FOUND, NULL);
    route_table_free(t);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_services_from_configuration),
        cmocka_unit_test(test_command_without_port_gets_the_automatic_port),
        cmocka_unit_test(test_upstreams_follow_internal_bind_address),
        cmocka_unit_test(test_enabled_service_without_port_refused),
        cmocka_unit_test(test_https_upstream_refused),
        cmocka_unit_test(test_subdomain_resolution),
        cmocka_unit_test(test_path_resolution),
        cmocka_unit_test(test_trailing_slash_is_the_mcp_endpoint),
        cmocka_unit_test(test_path_mode_root_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
