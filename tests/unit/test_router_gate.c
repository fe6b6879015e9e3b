/*
 * test_router_gate.c - the router's per-service rate limits (src/router/gate.c): which limit,
 * limit name and Redis key prefix each MCP service gets from RATE_LIMIT_<NAME> and
 * RATE_LIMIT_MCP.
 */
#include "router_fixture.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "router/gate.h"
#include "router/routes.h"

struct loaded {
    struct config *cfg;
    struct route_table *routes;
    struct gate_limits limits;
    struct buf errors;
    enum gw_err err;
};

static void load(struct loaded *l, const char *text)
{
    memset(l, 0, sizeof(*l));
    buf_init(&l->errors, 4096);
    assert_int_equal(config_load_text(text, strlen(text), false, &l->cfg, &l->errors), GW_OK);
    assert_int_equal(route_table_create(l->cfg, &l->routes, &l->errors), GW_OK);
    l->err = gate_limits_load(l->cfg, l->routes, &l->limits, &l->errors);
}

static void unload(struct loaded *l)
{
    gate_limits_free(&l->limits);
    route_table_free(l->routes);
    config_free(l->cfg);
    buf_free(&l->errors);
}

static const struct gate_service_limit *limit_of(const struct loaded *l, const char *service)
{
    const struct router_service *svc = route_find_service(l->routes, service);
    assert_non_null(svc);
    return gate_service_limit(&l->limits, svc);
}

static void assert_limit(const struct gate_service_limit *sl, long long limit, long long period,
                         const char *variable, const char *name, const char *key_prefix)
{
    assert_int_equal(sl->limit, limit);
    assert_int_equal(sl->period, period);
    assert_string_equal(sl->variable, variable);
    assert_string_equal(sl->name, name);
    assert_string_equal(sl->key_prefix, key_prefix);
}

static void test_own_limit_replaces_the_mcp_limit(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "BASE_DOMAIN=example.com\nRATE_LIMIT_MCP=200/minute\nRATE_LIMIT_ECHO=3/minute\n"
             "MCP_FETCH_ENABLED=true\nMCP_MY_TOOL_URL=http://127.0.0.1:9000\nRATE_LIMIT_MY_TOOL=10/hour\n");
    assert_int_equal(l.err, GW_OK);
    assert_limit(limit_of(&l, "mcp-echo"), 3, 60, "RATE_LIMIT_ECHO", "echo", "svc:mcp-echo:");
    assert_limit(limit_of(&l, "mcp-my-tool"), 10, 3600, "RATE_LIMIT_MY_TOOL", "my_tool", "svc:mcp-my-tool:");
    /* no limit of its own: RATE_LIMIT_MCP, in the bucket every such service shares (as before) */
    assert_limit(limit_of(&l, "mcp-fetch"), 200, 60, "RATE_LIMIT_MCP", "mcp", "mcp:");
    assert_limit(&l.limits.mcp, 200, 60, "RATE_LIMIT_MCP", "mcp", "mcp:");
    unload(&l);
}

static void test_without_own_limits_every_service_shares_the_mcp_bucket(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "BASE_DOMAIN=example.com\nMCP_FETCH_ENABLED=true\n");
    assert_int_equal(l.err, GW_OK);
    assert_limit(limit_of(&l, "mcp-echo"), 200, 60, "RATE_LIMIT_MCP", "mcp", "mcp:"); /* the default */
    assert_limit(limit_of(&l, "mcp-fetch"), 200, 60, "RATE_LIMIT_MCP", "mcp", "mcp:");
    unload(&l);
}

/* RATE_LIMIT_TOKEN is the /token limit: a service named TOKEN does not take it over. */
static void test_fixed_limit_names_are_not_a_services_own(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "BASE_DOMAIN=example.com\nRATE_LIMIT_MCP=50/minute\nRATE_LIMIT_TOKEN=7/minute\n"
             "MCP_TOKEN_URL=http://127.0.0.1:9000\nMCP_MCP_URL=http://127.0.0.1:9001\n");
    assert_int_equal(l.err, GW_OK);
    assert_limit(limit_of(&l, "mcp-token"), 50, 60, "RATE_LIMIT_MCP", "mcp", "mcp:");
    assert_limit(limit_of(&l, "mcp-mcp"), 50, 60, "RATE_LIMIT_MCP", "mcp", "mcp:");
    assert_int_equal(l.limits.token_limit, 7);
    unload(&l);
}

static void test_bad_service_limit_is_a_configuration_error(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "BASE_DOMAIN=example.com\nRATE_LIMIT_ECHO=lots\n");
    assert_int_equal(l.err, GW_ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&l.errors), "ERROR: RATE_LIMIT_ECHO must look like 200/minute"));
    unload(&l);
}

/* A limit for a service that is not routed changes nothing (and is only warned about). */
static void test_limit_for_no_service(void **state)
{
    (void)state;
    struct loaded l;
    load(&l, "BASE_DOMAIN=example.com\nRATE_LIMIT_FETCH=1/second\n"); /* mcp-fetch is off by default */
    assert_int_equal(l.err, GW_OK);
    assert_null(route_find_service(l.routes, "mcp-fetch"));
    assert_limit(limit_of(&l, "mcp-echo"), 200, 60, "RATE_LIMIT_MCP", "mcp", "mcp:");
    unload(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_own_limit_replaces_the_mcp_limit),
        cmocka_unit_test(test_without_own_limits_every_service_shares_the_mcp_bucket),
        cmocka_unit_test(test_fixed_limit_names_are_not_a_services_own),
        cmocka_unit_test(test_bad_service_limit_is_a_configuration_error),
        cmocka_unit_test(test_limit_for_no_service),
    };
    return cmocka_run_group_tests(tests, router_fixture_quiet_log, router_fixture_log_shutdown);
}
