/*
 * redis_fixture.h - a real redis-server (Debian's) for unit tests: started on a free 127.0.0.1
 * port in a temporary directory without persistence, stopped (and restarted) by its PID, plus
 * the event-loop helpers of event_fixture.h. Shared by test_token_check.c, test_ratelimit.c and
 * test_redis.c.
 */
#ifndef MCPGW_TESTS_REDIS_FIXTURE_H
#define MCPGW_TESTS_REDIS_FIXTURE_H

#include "event_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
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

static struct {
    char dir[64];
    int port;
    pid_t pid;
} fixture_redis = {.pid = -1};

FIXTURE_HELPER bool fixture_port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    close(fd);
    return ok;
}

/* Make the fixture's directory and choose its port, once. fixture_redis_start does it itself; a
 * test calls it first to place files (a Unix socket) in fixture_redis.dir. Returns 0 when done. */
FIXTURE_HELPER int fixture_redis_prepare(void)
{
    if (!fixture_redis.dir[0]) {
        snprintf(fixture_redis.dir, sizeof(fixture_redis.dir), "/tmp/mcpgw-test-redisfx-XXXXXX");
        if (!mkdtemp(fixture_redis.dir))
            return -1;
        fixture_redis.port = fixture_free_port();
    }
    return 0;
}

/* Start redis-server on fixture_redis.port with extra_args (NULL-terminated; NULL for none) after
 * the fixture's own. Returns 0 when it listens on the port and, if ready_file is not NULL, that
 * file (its Unix socket) exists. */
FIXTURE_HELPER int fixture_redis_start_with(const char *const *extra_args, const char *ready_file)
{
    if (fixture_redis_prepare() != 0)
        return -1;
    char port_text[16], logfile[128];
    snprintf(port_text, sizeof(port_text), "%d", fixture_redis.port);
    snprintf(logfile, sizeof(logfile), "%s/redis-server.log", fixture_redis.dir);
    const char *args[40] = {"redis-server",    "--port",    port_text,      "--bind",      "127.0.0.1",
                            "--save",          "",          "--appendonly", "no",          "--dir",
                            fixture_redis.dir, "--logfile", logfile,        "--daemonize", "no"};
    size_t n = 0;
    while (args[n])
        n++;
    for (size_t i = 0; extra_args && extra_args[i]; i++) {
        if (n + 1 == sizeof(args) / sizeof(args[0]))
            return -1; /* the last slot stays NULL for execvp */
        args[n++] = extra_args[i];
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execvp("redis-server", (char *const *)args);
        _exit(127);
    }
    fixture_redis.pid = pid;
    for (int i = 0; i < 500; i++) {
        if (fixture_port_accepts(fixture_redis.port) && (!ready_file || access(ready_file, F_OK) == 0))
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

/* Start redis-server on fixture_redis.port (chosen on the first call). Returns 0 when it listens. */
FIXTURE_HELPER int fixture_redis_start(void)
{
    return fixture_redis_start_with(NULL, NULL);
}

/* SIGTERM the child *pid (if any), reap it, and set *pid to -1. */
FIXTURE_HELPER void fixture_stop_child(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    int status;
    while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
    }
    *pid = -1;
}

FIXTURE_HELPER void fixture_redis_stop(void)
{
    fixture_stop_child(&fixture_redis.pid);
}

FIXTURE_HELPER void fixture_redis_cleanup(void)
{
    fixture_redis_stop();
    if (fixture_redis.dir[0])
        remove_dir_tree(fixture_redis.dir);
}

FIXTURE_HELPER void fixture_redis_url(char *out, size_t cap)
{
    snprintf(out, cap, "redis://127.0.0.1:%d/0", fixture_redis.port);
}

#endif
