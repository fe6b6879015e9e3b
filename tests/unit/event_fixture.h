/*
 * event_fixture.h - libevent and socket helpers for unit tests: a client-side event loop that
 * runs until a condition holds or a deadline passes, a free 127.0.0.1 port, and an evhttp
 * server on a port the kernel picks.
 * Shared by redis_fixture.h, test_redis.c, test_http_client.c and test_http_client_tls.c.
 */
#ifndef MCPGW_TESTS_EVENT_FIXTURE_H
#define MCPGW_TESTS_EVENT_FIXTURE_H

#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

/* A test uses only some of these; the others must not warn as unused. */
#define FIXTURE_HELPER static __attribute__((unused))

/* ---- loop helpers ---- */

static void fixture_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

struct fixture_loop {
    struct event_base *base;
    struct event *ticker; /* keeps EVLOOP_ONCE from blocking for long */
};

FIXTURE_HELPER void fixture_loop_init(struct fixture_loop *loop)
{
    loop->base = event_base_new();
    assert_non_null(loop->base);
    loop->ticker = event_new(loop->base, -1, EV_PERSIST, fixture_on_tick, NULL);
    struct timeval tv = {0, 10000};
    event_add(loop->ticker, &tv);
}

FIXTURE_HELPER void fixture_loop_free(struct fixture_loop *loop)
{
    event_free(loop->ticker);
    event_base_free(loop->base);
}

FIXTURE_HELPER double fixture_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the loop until pred(arg) is true or `seconds` pass (a generous bound, not a timing
 * assertion). Returns the predicate's last value. */
FIXTURE_HELPER bool fixture_run_until(struct fixture_loop *loop, bool (*pred)(void *), void *arg,
                                      double seconds)
{
    double deadline = fixture_now() + seconds;
    while (!pred(arg) && fixture_now() < deadline)
        event_base_loop(loop->base, EVLOOP_ONCE);
    return pred(arg);
}

static bool fixture_is_set(void *flag)
{
    return *(bool *)flag;
}

/* fixture_run_until for the usual condition: a callback set *flag. */
FIXTURE_HELPER bool fixture_run_until_flag(struct fixture_loop *loop, bool *flag, double seconds)
{
    return fixture_run_until(loop, fixture_is_set, flag, seconds);
}

static bool fixture_never(void *arg)
{
    (void)arg;
    return false;
}

FIXTURE_HELPER void fixture_run_for(struct fixture_loop *loop, double seconds)
{
    fixture_run_until(loop, fixture_never, NULL, seconds);
}

/* ---- a test server ---- */

/* A 127.0.0.1 port that was free a moment ago (nothing listens on it now), or -1. */
FIXTURE_HELPER int fixture_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sin.sin_port);
}

/* Bind http to a port the kernel picks on 127.0.0.1. Returns the port, or -1. */
FIXTURE_HELPER int fixture_evhttp_listen(struct evhttp *http)
{
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (!bound)
        return -1;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len);
    return ntohs(sin.sin_port);
}

#endif
