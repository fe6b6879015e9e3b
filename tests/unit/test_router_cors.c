/*
 * test_router_cors.c - the router's CORS policy (src/router/cors.c): which origins are allowed.
 * (Preflight and 403 answers are covered end to end in tests/e2e/test_router.py.)
 */
#include "testutil.h"

#include <string.h>

#include "core/config.h"
#include "router/cors.h"

static struct config *load(const char *text)
{
    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, &errors), GW_OK);
    buf_free(&errors);
    return cfg;
}

static void test_listed_origins(void **state)
{
    (void)state;
    struct config *cfg =
        load("BASE_DOMAIN=example.com\nMCP_CORS_ORIGINS=https://claude.ai, https://App.Example.org/ ,\n");
    struct cors_policy *p = cors_policy_create(cfg);
    assert_true(cors_origin_allowed(p, "https://claude.ai"));
    assert_true(cors_origin_allowed(p, "https://app.example.org")); /* case, trailing slash in config */
    assert_false(cors_origin_allowed(p, "https://claude.ai.evil.com"));
    assert_false(cors_origin_allowed(p, "http://claude.ai"));
    assert_false(cors_origin_allowed(p, "null"));
    assert_false(cors_origin_allowed(p, ""));
    cors_policy_free(p);
    config_free(cfg);
}

static void test_wildcard(void **state)
{
    (void)state;
    struct config *cfg = load("BASE_DOMAIN=example.com\n"); /* default: * */
    struct cors_policy *p = cors_policy_create(cfg);
    assert_true(cors_origin_allowed(p, "https://anything.example"));
    cors_policy_free(p);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listed_origins),
        cmocka_unit_test(test_wildcard),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
