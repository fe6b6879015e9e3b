/*
 * router_fixture.h - shared setup for the router's unit tests: a route table from .env text,
 * and a cmocka group setup that logs only errors (static inline, like testutil.h).
 */
#ifndef MCPGW_TESTS_ROUTER_FIXTURE_H
#define MCPGW_TESTS_ROUTER_FIXTURE_H

#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "router/routes.h"
#include "testutil.h"

/* The configuration of text (*cfg_out, config_free it) and its route table (route_table_free
 * it); both must succeed. */
static inline struct route_table *route_table_for_text(const char *text, struct config **cfg_out)
{
    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, &errors), GW_OK);
    struct route_table *t = NULL;
    assert_int_equal(route_table_create(cfg, &t, &errors), GW_OK);
    buf_free(&errors);
    *cfg_out = cfg;
    return t;
}

/* cmocka group setup/teardown: only ERROR lines on stderr while the tests run. */
static inline int router_fixture_quiet_log(void **state)
{
    (void)state;
    log_init("router_test", NULL, LOG_ERROR);
    return 0;
}

static inline int router_fixture_log_shutdown(void **state)
{
    (void)state;
    log_shutdown();
    return 0;
}

#endif
