/*
 * test_router_upstream_addr.c - upstream addresses (src/router/upstream_addr.c): IP literals
 * parsed once, names resolved at start and again by the resolver thread, a name that did not
 * resolve at start picked up later, a failed connect making a name resolve again soon (and not
 * more often than the retry interval), a name that stops resolving keeping its address, and a
 * name with several addresses moving on to the next when a connect to the current one fails.
 * The resolver is replaced by one whose answers the test controls.
 */
#include "router_fixture.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/log.h"
#include "router/routes.h"
#include "router/upstream_addr.h"

/* What "tools.test" resolves to: 0 = nothing, else 127.0.0.N. */
static atomic_int tools_answer;
static atomic_int tools_queries;

static void loopback_address(struct sockaddr_storage *out, socklen_t *len, int last_octet, int port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)out;
    memset(out, 0, sizeof(*out));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)port);
    sin->sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)last_octet);
    *len = sizeof(*sin);
}

/* "multi.test" has three addresses: 127.0.0.1, .2 and .3. */
static size_t fake_resolve(const char *host, int port, struct sockaddr_storage *out, socklen_t *lens,
                           size_t max, void *arg)
{
    (void)arg;
    int last_octet = 0;
    if (strcmp(host, "tools.test") == 0) {
        atomic_fetch_add(&tools_queries, 1);
        last_octet = atomic_load(&tools_answer);
    } else if (strcmp(host, "127.0.0.9") == 0) {
        last_octet = 9;
    } else if (strcmp(host, "multi.test") == 0 && max >= 3) {
        for (int i = 0; i < 3; i++)
            loopback_address(&out[i], &lens[i], i + 1, port);
        return 3;
    }
    if (!last_octet)
        return 0;
    loopback_address(&out[0], &lens[0], last_octet, port);
    return 1;
}

static int octet_of(struct upstream_addrs *a, size_t service)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (!upstream_addrs_get(a, service, &ss, &len))
        return 0;
    return (int)(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) & 0xff);
}

/* Wait (up to seconds) until service's address ends in want. No timing is asserted: the bound
 * only keeps a broken build from hanging. */
static bool wait_for_octet(struct upstream_addrs *a, size_t service, int want, int seconds)
{
    for (int i = 0; i < seconds * 20; i++) {
        if (octet_of(a, service) == want)
            return true;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return octet_of(a, service) == want;
}

static struct route_table *table_for(struct config **cfg_out)
{
    return route_table_for_text(
        "BASE_DOMAIN=example.com\nMCP_ECHO_ENABLED=false\n"
        "AUTH_INTERNAL_URL=http://127.0.0.9:8000\nMCP_TOOLS_URL=http://tools.test:3000\n",
        cfg_out);
}

static void test_names_follow_their_resolution(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t = table_for(&cfg);
    size_t auth = 0, tools = route_find_service(t, "mcp-tools")->index;
    atomic_store(&tools_answer, 0); /* DNS not answering at start */
    atomic_store(&tools_queries, 0);
    struct upstream_addrs *a = upstream_addrs_create(t, fake_resolve, NULL);
    assert_int_equal(octet_of(a, auth), 9);
    assert_int_equal(octet_of(a, tools), 0);
    /* DNS comes back: the retry picks it up, no restart */
    atomic_store(&tools_answer, 5);
    assert_true(wait_for_octet(a, tools, 5, 3 * UPSTREAM_RESOLVE_RETRY_SECONDS));
    /* the address moves; a failed connect to the old one makes it resolve again soon */
    atomic_store(&tools_answer, 6);
    upstream_addrs_connect_failed(a, tools, NULL, 0);
    assert_true(wait_for_octet(a, tools, 6, 3 * UPSTREAM_RESOLVE_RETRY_SECONDS));
    /* a storm of failed connects is not a storm of queries: one per retry interval at most */
    int before = atomic_load(&tools_queries);
    for (int i = 0; i < 1000; i++)
        upstream_addrs_connect_failed(a, tools, NULL, 0);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    assert_true(atomic_load(&tools_queries) - before <= 1);
    /* DNS trouble later does not take a working upstream down: the last address stays */
    atomic_store(&tools_answer, 0);
    upstream_addrs_connect_failed(a, tools, NULL, 0);
    assert_int_equal(octet_of(a, tools), 6);
    /* IP literals are never resolved again: they were not asked for after the start */
    upstream_addrs_free(a);
    route_table_free(t);
    config_free(cfg);
}

static void test_a_failed_address_moves_on_to_the_next(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t = route_table_for_text(
        "BASE_DOMAIN=example.com\nMCP_ECHO_ENABLED=false\nMCP_MULTI_URL=http://multi.test:3000\n", &cfg);
    size_t multi = route_find_service(t, "mcp-multi")->index;
    struct upstream_addrs *a = upstream_addrs_create(t, fake_resolve, NULL);
    assert_int_equal(upstream_addrs_count(a, multi), 3);
    assert_int_equal(octet_of(a, multi), 1); /* getaddrinfo's first answer first */
    struct sockaddr_storage first, second;
    socklen_t len = 0;
    assert_true(upstream_addrs_get(a, multi, &first, &len));
    upstream_addrs_connect_failed(a, multi, &first, len);
    assert_int_equal(octet_of(a, multi), 2);
    /* another worker's failed connect to the first address, reported late: no second skip */
    upstream_addrs_connect_failed(a, multi, &first, len);
    assert_int_equal(octet_of(a, multi), 2);
    /* a failure without an address (the name did not resolve) moves nothing */
    upstream_addrs_connect_failed(a, multi, NULL, 0);
    assert_int_equal(octet_of(a, multi), 2);
    assert_true(upstream_addrs_get(a, multi, &second, &len));
    upstream_addrs_connect_failed(a, multi, &second, len);
    assert_int_equal(octet_of(a, multi), 3);
    struct sockaddr_storage third;
    assert_true(upstream_addrs_get(a, multi, &third, &len));
    upstream_addrs_connect_failed(a, multi, &third, len);
    assert_int_equal(octet_of(a, multi), 1); /* round and round: the first may be back */
    upstream_addrs_free(a);
    route_table_free(t);
    config_free(cfg);
}

static void test_literal_only_tables_need_no_thread(void **state)
{
    (void)state;
    struct config *cfg;
    struct route_table *t =
        route_table_for_text("BASE_DOMAIN=example.com\nMCP_ECHO_ENABLED=true\nMCP_ECHO_PORT=3001\n", &cfg);
    struct upstream_addrs *a = upstream_addrs_create(t, NULL, NULL); /* the real getaddrinfo */
    size_t echo = route_find_service(t, "mcp-echo")->index;
    struct sockaddr_storage ss;
    socklen_t len = 0;
    assert_true(upstream_addrs_get(a, echo, &ss, &len));
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 3001);
    assert_false(upstream_addrs_get(a, 999, &ss, &len));
    upstream_addrs_connect_failed(a, echo, &ss, len); /* a literal: nothing to do */
    assert_true(upstream_addrs_get(a, echo, &ss, &len));
    assert_int_equal(upstream_addrs_count(a, echo), 1);
    upstream_addrs_free(a);
    route_table_free(t);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_follow_their_resolution),
        cmocka_unit_test(test_a_failed_address_moves_on_to_the_next),
        cmocka_unit_test(test_literal_only_tables_need_no_thread),
    };
    return cmocka_run_group_tests(tests, router_fixture_quiet_log, router_fixture_log_shutdown);
}
