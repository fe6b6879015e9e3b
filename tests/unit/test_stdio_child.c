/*
 * test_stdio_child.c - a stdio MCP server process on pipes (src/mcp/stdio_child.c) with real
 * processes: messages both ways through `cat`, lines that are not JSON skipped, the exit
 * status, SIGTERM to the process group, and a stop at shutdown that reaps.
 */
#include "testutil.h"

#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/buf.h"
#include "mcp/stdio_child.h"

struct seen {
    struct event_base *base;
    json_t *messages; /* array */
    bool exited;
    int status;
};

static void on_message(struct stdio_child *child, json_t *message, void *arg)
{
    (void)child;
    struct seen *s = arg;
    json_array_append_new(s->messages, message);
    event_base_loopbreak(s->base);
}

static void on_exit_cb(struct stdio_child *child, int status, void *arg)
{
    (void)child;
    struct seen *s = arg;
    s->exited = true;
    s->status = status;
    event_base_loopbreak(s->base);
}

/* Run the loop until cond holds (each callback breaks the loop), at most ~10 s. */
static void run_until(struct seen *s, bool (*cond)(struct seen *))
{
    for (int i = 0; i < 100 && !cond(s); i++) {
        struct timeval tv = {0, 100 * 1000};
        event_base_loopexit(s->base, &tv);
        event_base_dispatch(s->base);
    }
}

static bool has_two_messages(struct seen *s)
{
    return json_array_size(s->messages) >= 2;
}

static bool has_exited(struct seen *s)
{
    return s->exited;
}

static struct stdio_child *spawn(struct seen *s, char *const argv[])
{
    s->base = event_base_new();
    s->messages = json_array();
    struct stdio_child_callbacks cb = {.on_message = on_message, .on_exit = on_exit_cb, .arg = s};
    struct buf why;
    buf_init(&why, 256);
    struct stdio_child *child = stdio_child_spawn(s->base, argv, &cb, &why);
    buf_free(&why);
    assert_non_null(child);
    return child;
}

static void finish(struct seen *s, struct stdio_child *child)
{
    stdio_child_free(child);
    json_decref(s->messages);
    event_base_free(s->base);
}

static void test_messages_both_ways(void **state)
{
    (void)state;
    struct seen s = {0};
    /* "cat" relays what it reads: our messages come back, a non-JSON line is skipped. */
    struct stdio_child *child = spawn(&s, (char *const[]){"sh", "-c", "echo not json; exec cat", NULL});
    json_t *a = json_pack("{s:s,s:i,s:s}", "jsonrpc", "2.0", "id", 1, "method", "ping");
    json_t *b =
        json_pack("{s:s,s:s,s:{s:s}}", "jsonrpc", "2.0", "method", "x", "params", "text", "line\nbreak");
    assert_int_equal(stdio_child_send(child, a), GW_OK);
    assert_int_equal(stdio_child_send(child, b), GW_OK);
    run_until(&s, has_two_messages);
    assert_int_equal(json_array_size(s.messages), 2);
    assert_true(json_equal(json_array_get(s.messages, 0), a));
    assert_true(json_equal(json_array_get(s.messages, 1), b));
    json_decref(a);
    json_decref(b);
    stdio_child_terminate(child); /* cat ends at end of input or SIGTERM */
    run_until(&s, has_exited);
    assert_true(s.exited);
    assert_true(stdio_child_exited(child));
    assert_int_equal(stdio_child_send(child, s.messages), GW_ERR_CLOSED);
    finish(&s, child);
}

static void test_exit_status_is_reported(void **state)
{
    (void)state;
    struct seen s = {0};
    struct stdio_child *child = spawn(&s, (char *const[]){"sh", "-c", "echo to stderr >&2; exit 7", NULL});
    run_until(&s, has_exited);
    assert_true(s.exited);
    assert_true(WIFEXITED(s.status));
    assert_int_equal(WEXITSTATUS(s.status), 7);
    finish(&s, child);
}

static void test_terminate_reaches_the_process_group(void **state)
{
    (void)state;
    struct seen s = {0};
    /* A shell that ignores its stdin closing and waits on a grandchild: SIGTERM to the group
     * ends both. */
    struct stdio_child *child = spawn(&s, (char *const[]){"sh", "-c", "sleep 30 & wait", NULL});
    pid_t pid = stdio_child_pid(child);
    assert_true(pid > 0);
    stdio_child_terminate(child);
    run_until(&s, has_exited);
    assert_true(s.exited);
    /* Nothing left in its group (the orphaned sleep is reaped by init: allow it a moment). */
    for (int i = 0; i < 100 && kill(-pid, 0) == 0; i++)
        usleep(50 * 1000);
    assert_int_equal(kill(-pid, 0), -1);
    finish(&s, child);
}

static void test_free_stops_a_live_child(void **state)
{
    (void)state;
    struct seen s = {0};
    struct stdio_child *child = spawn(&s, (char *const[]){"sleep", "30", NULL});
    pid_t pid = stdio_child_pid(child);
    finish(&s, child); /* kills and reaps before returning */
    assert_int_equal(waitpid(pid, NULL, WNOHANG), -1);
    assert_int_equal(kill(pid, 0), -1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_both_ways),
        cmocka_unit_test(test_exit_status_is_reported),
        cmocka_unit_test(test_terminate_reaches_the_process_group),
        cmocka_unit_test(test_free_stops_a_live_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
