/*
 * redis_fixture.h - a real redis-server (Debian's) for unit tests: started on a free 127.0.0.1
 * port in a temporary directory without persistence, stopped (and restarted) by its PID, plus
 * event-loop helpers. Shared by test_token_check.c and test_ratelimit.c.
 */
#ifndef MCPGW_TESTS_REDIS_FIXTURE_H
#define MCPGW_TESTS_REDIS_FIXTURE_H

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#define FIXTURE_HELPER static __attribute__((unused))

static struct {
    char dir[64];
    int port;
    pid_t pid;
} fixture_redis = {.pid = -1};

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

FIXTURE_HELPER bool fixture_port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

/* Start redis-server on fixture_redis.port (chosen on the first call). Returns 0 when it listens. */
FIXTURE_HELPER int fixture_redis_start(void)
{
    if (!fixture_redis.dir[0]) {
        snprintf(fixture_redis.dir, sizeof(fixture_redis.dir), "/tmp/mcpgw-test-redisfx-XXXXXX");
        if (!mkdtemp(fixture_redis.dir))
            return -1;
        fixture_redis.port = fixture_free_port();
    }
    char port_text[16], logfile[128];
    snprintf(port_text, sizeof(port_text), "%d", fixture_redis.port);
    snprintf(logfile, sizeof(logfile), "%s/redis-server.log", fixture_redis.dir);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp("redis-server", "redis-server", "--port", port_text, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", fixture_redis.dir, "--logfile", logfile, "--daemonize", "no",
               (char *)NULL);
        _exit(127);
    }
    fixture_redis.pid = pid;
    for (int i = 0; i < 500; i++) {
        if (fixture_port_accepts(fixture_redis.port))
            return 0;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fixture_redis.pid = -1;
            return -1;
        }
        usleep(10000);
    }
    return -1;
}

FIXTURE_HELPER void fixture_redis_stop(void)
{
    if (fixture_redis.pid <= 0)
        return;
    kill(fixture_redis.pid, SIGTERM);
    int status;
    while (waitpid(fixture_redis.pid, &status, 0) < 0 && errno == EINTR) {
    }
    fixture_redis.pid = -1;
}

static int fixture_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

FIXTURE_HELPER void fixture_redis_cleanup(void)
{
    fixture_redis_stop();
    if (fixture_redis.dir[0])
        nftw(fixture_redis.dir, fixture_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

FIXTURE_HELPER void fixture_redis_url(char *out, size_t cap)
{
    snprintf(out, cap, "redis://127.0.0.1:%d/0", fixture_redis.port);
}

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

static bool fixture_never(void *arg)
{
    (void)arg;
    return false;
}

FIXTURE_HELPER void fixture_run_for(struct fixture_loop *loop, double seconds)
{
    fixture_run_until(loop, fixture_never, NULL, seconds);
}

#endif
