/*
 * test_router_upstream_health.c - the router's upstream reachability (src/router/upstream_health.c):
 * states from reports, the router_upstream_up gauge at a scrape, the /health member, and the
 * prober against real sockets on 127.0.0.1 (one port listening, one closed).
 */
#include "event_fixture.h"
#include "router_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "router/routes.h"
#include "router/upstream.h"
#include "router/upstream_addr.h"
#include "router/upstream_health.h"

static char *render(void)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(metrics_render(&b), GW_OK);
    return buf_take(&b);
}

static char *info(const struct upstream_health *h)
{
    struct buf b;
    buf_init(&b, 4096);
    upstream_health_info(h, &b);
    return buf_take(&b);
}

static void test_states_gauge_and_health_member(void **state)
{
    (void)state;
    metrics_reset_for_tests();
    struct config *cfg;
    struct route_table *t =
        route_table_for_text("BASE_DOMAIN=example.com\nMCP_X_URL=http://127.0.0.1:9\n", &cfg);
    struct upstream_health *h = upstream_health_create(t);
    size_t echo = route_find_service(t, "mcp-echo")->index, x = route_find_service(t, "mcp-x")->index;

    /* nothing known yet: no series, "unknown" in /health */
    char *text = render();
    assert_null(strstr(text, "router_upstream_up{"));
    free(text);
    char *doc = info(h);
    assert_string_equal(doc, "{\"auth\":\"unknown\",\"mcp-echo\":\"unknown\",\"mcp-x\":\"unknown\"}");
    free(doc);

    upstream_health_report(h, echo, true, NULL);
    upstream_health_report(h, x, false, "connect_failed");
    upstream_health_report(h, x, false, "connect_failed"); /* no change */
    upstream_health_report(h, 99, true, NULL);             /* no such service: ignored */
    assert_int_equal(upstream_health_state(h, echo), UPSTREAM_UP);
    assert_int_equal(upstream_health_state(h, x), UPSTREAM_DOWN);
    assert_int_equal(upstream_health_state(h, 0), UPSTREAM_UNKNOWN);
    text = render();
    assert_non_null(strstr(text, "# TYPE router_upstream_up gauge\n"));
    assert_non_null(strstr(text, "router_upstream_up{service=\"mcp-echo\"} 1\n"));
    assert_non_null(strstr(text, "router_upstream_up{service=\"mcp-x\"} 0\n"));
    assert_null(strstr(text, "router_upstream_up{service=\"auth\"}"));
    free(text);
    doc = info(h);
    assert_string_equal(doc, "{\"auth\":\"unknown\",\"mcp-echo\":\"up\",\"mcp-x\":\"down\"}");
    free(doc);

    /* and back: the gauge follows the state at the next scrape */
    upstream_health_report(h, echo, false, "connect_timeout");
    upstream_health_report(h, x, true, NULL);
    text = render();
    assert_non_null(strstr(text, "router_upstream_up{service=\"mcp-echo\"} 0\n"));
    assert_non_null(strstr(text, "router_upstream_up{service=\"mcp-x\"} 1\n"));
    free(text);

    upstream_health_report(NULL, echo, true, NULL); /* no health: ignored */
    metrics_reset_for_tests();
    upstream_health_free(h);
    route_table_free(t);
    config_free(cfg);
}

struct probe_wait {
    const struct upstream_health *h;
    size_t a, b;
};

static bool both_known(void *arg)
{
    const struct probe_wait *w = arg;
    return upstream_health_state(w->h, w->a) != UPSTREAM_UNKNOWN &&
           upstream_health_state(w->h, w->b) != UPSTREAM_UNKNOWN;
}

static int listen_on_free_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* The prober alone, without traffic: a listening upstream is up, a closed port is down. */
static void test_prober_connects(void **state)
{
    (void)state;
    metrics_reset_for_tests();
    int live_port, closed_port = fixture_free_port();
    int listener = listen_on_free_port(&live_port);
    char text[256];
    snprintf(text, sizeof(text),
             "BASE_DOMAIN=example.com\nMCP_ECHO_ENABLED=false\nAUTH_PORT=%d\n"
             "MCP_LIVE_URL=http://127.0.0.1:%d\nMCP_CLOSED_URL=http://127.0.0.1:%d\n",
             closed_port, live_port, closed_port);
    struct config *cfg;
    struct route_table *t = route_table_for_text(text, &cfg);
    struct upstream_health *h = upstream_health_create(t);
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    struct upstream_settings settings = {.connect_timeout_ms = 5000,
                                         .response_timeout_ms = 5000,
                                         .stream_idle_timeout_ms = 5000,
                                         .idle_keepalive_ms = 5000,
                                         .max_idle_per_service = 4};
    struct upstream_addrs *addrs = upstream_addrs_create(t, NULL, NULL);
    struct upstream_pool *pool = upstream_pool_create(loop.base, t, &settings, addrs, h);
    struct upstream_prober *prober = upstream_prober_create(loop.base, h, pool, 5000);
    assert_non_null(prober);
    struct probe_wait w = {h, route_find_service(t, "mcp-live")->index,
                           route_find_service(t, "mcp-closed")->index};
    assert_true(fixture_run_until(&loop, both_known, &w, 10));
    assert_int_equal(upstream_health_state(h, w.a), UPSTREAM_UP);
    assert_int_equal(upstream_health_state(h, w.b), UPSTREAM_DOWN);
    assert_int_equal(upstream_health_state(h, 0), UPSTREAM_DOWN); /* auth, on the closed port too */
    upstream_prober_free(prober);
    upstream_pool_free(pool);
    upstream_addrs_free(addrs);
    fixture_loop_free(&loop);
    close(listener);
    metrics_reset_for_tests();
    upstream_health_free(h);
    route_table_free(t);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_states_gauge_and_health_member),
        cmocka_unit_test(test_prober_connects),
    };
    return cmocka_run_group_tests(tests, router_fixture_quiet_log, router_fixture_log_shutdown);
}
