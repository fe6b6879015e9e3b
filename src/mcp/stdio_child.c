/*
 * stdio_child.c - a stdio MCP server process on pipes (see stdio_child.h).
 */
#include "mcp/stdio_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "core/alloc.h"
#include "core/log.h"
#include "mcp/jsonrpc.h"

#define CHILD_MAX_LINE (16 * 1024 * 1024) /* one message; beyond it the child is stopped */
#define CHILD_MAX_STDERR_LINE 4096
#define CHILD_KILL_AFTER_SECONDS 2

struct stdio_child {
    pid_t pid;
    int pidfd; /* -1 when the kernel has none: the reap timer polls instead */
    struct stdio_child_callbacks cb;
    struct bufferevent *in, *out, *err;
    struct event *reap; /* pidfd readable, or the polling timer */
    struct event *kill_timer;
    bool exited;
};

static void set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0)
        fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static void close_pipe(struct bufferevent **bev)
{
    if (*bev) {
        bufferevent_free(*bev); /* BEV_OPT_CLOSE_ON_FREE closes the pipe */
        *bev = NULL;
    }
}

static void stdout_read_cb(struct bufferevent *bev, void *arg)
{
    struct stdio_child *child = arg;
    struct evbuffer *input = bufferevent_get_input(bev);
    char *line;
    size_t len;
    while ((line = evbuffer_readln(input, &len, EVBUFFER_EOL_LF))) {
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len) {
            json_error_t error;
            json_t *message = json_loadb(line, len, JSON_REJECT_DUPLICATES, &error);
            if (json_is_object(message)) {
                child->cb.on_message(child, message, child->cb.arg);
            } else {
                json_decref(message);
                log_write(
                    LOG_WARNING, "MCP server wrote a line that is not a JSON-RPC message",
                    (struct log_field[]){log_int("child_pid", child->pid), log_str("error", error.text)}, 2);
            }
        }
        free(line);
        if (!child->out)
            return; /* the callback stopped the child */
    }
    if (evbuffer_get_length(input) > CHILD_MAX_LINE) {
        log_write(LOG_ERROR, "MCP server message too large; stopping it",
                  (struct log_field[]){log_int("child_pid", child->pid)}, 1);
        evbuffer_drain(input, evbuffer_get_length(input));
        stdio_child_terminate(child);
    }
}

static void log_stderr_line(struct stdio_child *child, const char *line, size_t len)
{
    char text[CHILD_MAX_STDERR_LINE + 1];
    if (len > CHILD_MAX_STDERR_LINE)
        len = CHILD_MAX_STDERR_LINE;
    memcpy(text, line, len);
    text[len] = '\0';
    if (len && text[len - 1] == '\r')
        text[len - 1] = '\0';
    if (*text)
        log_write(LOG_WARNING, text, (struct log_field[]){log_int("child_pid", child->pid)}, 1);
}

static void stderr_read_cb(struct bufferevent *bev, void *arg)
{
    struct stdio_child *child = arg;
    struct evbuffer *input = bufferevent_get_input(bev);
    char *line;
    size_t len;
    while ((line = evbuffer_readln(input, &len, EVBUFFER_EOL_LF))) {
        log_stderr_line(child, line, len);
        free(line);
    }
    /* A child that never writes a newline must not grow our memory: log what is there. */
    size_t pending = evbuffer_get_length(input);
    if (pending > CHILD_MAX_STDERR_LINE) {
        char *p = (char *)evbuffer_pullup(input, CHILD_MAX_STDERR_LINE);
        log_stderr_line(child, p, CHILD_MAX_STDERR_LINE);
        evbuffer_drain(input, pending);
    }
}

static void pipe_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct stdio_child *child = arg;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (bev == child->err) {
        struct evbuffer *input = bufferevent_get_input(bev);
        size_t len = evbuffer_get_length(input);
        if (len)
            log_stderr_line(child, (char *)evbuffer_pullup(input, -1), len);
        close_pipe(&child->err);
    } else if (bev == child->out) {
        close_pipe(&child->out);
    } else if (bev == child->in) {
        close_pipe(&child->in);
    }
}

/* Read what a pipe holds into its bufferevent's input (non-blocking; bounded, since a
 * grandchild that kept the pipe open could write forever). */
static void drain_pipe(struct bufferevent *bev)
{
    evutil_socket_t fd = bufferevent_getfd(bev);
    struct evbuffer *input = bufferevent_get_input(bev);
    for (size_t total = 0; fd >= 0 && total < CHILD_MAX_LINE;) {
        int n = evbuffer_read(input, fd, 65536);
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

static void finish_exit(struct stdio_child *child, int status)
{
    child->exited = true;
    if (child->reap)
        event_del(child->reap);
    if (child->kill_timer)
        event_del(child->kill_timer);
    /* Whatever the child wrote before it died is still worth reading: the pipes may hold data
     * the loop has not read yet (the pidfd can win the race), so read them dry now. */
    if (child->out) {
        drain_pipe(child->out);
        stdout_read_cb(child->out, child);
    }
    if (child->err) {
        drain_pipe(child->err);
        stderr_read_cb(child->err, child);
    }
    close_pipe(&child->in);
    close_pipe(&child->out);
    close_pipe(&child->err);
    if (child->pidfd >= 0) {
        close(child->pidfd);
        child->pidfd = -1;
    }
    if (child->cb.on_exit)
        child->cb.on_exit(child, status, child->cb.arg);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct stdio_child *child = arg;
    int status = 0;
    pid_t r = waitpid(child->pid, &status, WNOHANG);
    if (r == child->pid || (r < 0 && errno == ECHILD))
        finish_exit(child, status);
}

static void kill_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct stdio_child *child = arg;
    if (!child->exited)
        kill(-child->pid, SIGKILL);
}

struct stdio_child *stdio_child_spawn(struct event_base *base, char *const argv[],
                                      const struct stdio_child_callbacks *callbacks, struct buf *why)
{
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        buf_printf(why, "pipe: %s", strerror(errno));
        return NULL;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        buf_printf(why, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return NULL;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
        buf_printf(why, "pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return NULL;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls from here: the parent has threads. */
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never left behind if the proxy dies */
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
#ifdef SYS_close_range
        syscall(SYS_close_range, 3U, ~0U, 0U);
#endif
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        _exit(127);
    }
    int saved = errno;
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (pid < 0) {
        buf_printf(why, "fork: %s", strerror(saved));
        close(in[1]);
        close(out[0]);
        close(err[0]);
        return NULL;
    }
    setpgid(pid, pid); /* also here: no race with a kill(-pid) before the child ran */
    struct stdio_child *child = gw_calloc(1, sizeof(*child));
    child->pid = pid;
    child->cb = *callbacks;
    set_nonblocking(in[1]);
    set_nonblocking(out[0]);
    set_nonblocking(err[0]);
    child->in = bufferevent_socket_new(base, in[1], BEV_OPT_CLOSE_ON_FREE);
    child->out = bufferevent_socket_new(base, out[0], BEV_OPT_CLOSE_ON_FREE);
    child->err = bufferevent_socket_new(base, err[0], BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(child->in, NULL, NULL, pipe_event_cb, child);
    bufferevent_setcb(child->out, stdout_read_cb, NULL, pipe_event_cb, child);
    bufferevent_setcb(child->err, stderr_read_cb, NULL, pipe_event_cb, child);
    bufferevent_enable(child->in, EV_WRITE);
    bufferevent_enable(child->out, EV_READ);
    bufferevent_enable(child->err, EV_READ);
    child->pidfd = -1;
#ifdef SYS_pidfd_open
    child->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
    if (child->pidfd >= 0) {
        child->reap = event_new(base, child->pidfd, EV_READ | EV_PERSIST, reap_cb, child);
        event_add(child->reap, NULL);
    } else {
        child->reap = event_new(base, -1, EV_PERSIST, reap_cb, child);
        struct timeval tv = {1, 0};
        event_add(child->reap, &tv);
    }
    child->kill_timer = event_new(base, -1, 0, kill_timer_cb, child);
    return child;
}

enum gw_err stdio_child_send(struct stdio_child *child, const json_t *message)
{
    if (child->exited || !child->in)
        return GW_ERR_CLOSED;
    char *text = jsonrpc_dump(message);
    struct evbuffer *output = bufferevent_get_output(child->in);
    evbuffer_add(output, text, strlen(text));
    evbuffer_add(output, "\n", 1);
    free(text);
    return GW_OK;
}

pid_t stdio_child_pid(const struct stdio_child *child)
{
    return child->pid;
}

bool stdio_child_exited(const struct stdio_child *child)
{
    return child->exited;
}

void stdio_child_terminate(struct stdio_child *child)
{
    if (child->exited)
        return;
    kill(-child->pid, SIGTERM);
    close_pipe(&child->in); /* stdio servers also stop at end of input */
    struct timeval tv = {CHILD_KILL_AFTER_SECONDS, 0};
    event_add(child->kill_timer, &tv);
}

void stdio_child_stop_now(struct stdio_child *child)
{
    if (child->exited)
        return;
    kill(-child->pid, SIGTERM);
    int status;
    for (int i = 0; i < CHILD_KILL_AFTER_SECONDS * 50; i++) {
        if (waitpid(child->pid, &status, WNOHANG) != 0)
            goto reaped;
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
    kill(-child->pid, SIGKILL);
    waitpid(child->pid, &status, 0);
reaped:
    kill(-child->pid, SIGKILL); /* anything the child left in its group */
    child->cb.on_exit = NULL;
    finish_exit(child, status);
}

void stdio_child_free(struct stdio_child *child)
{
    if (!child)
        return;
    if (!child->exited)
        stdio_child_stop_now(child);
    if (child->reap)
        event_free(child->reap);
    if (child->kill_timer)
        event_free(child->kill_timer);
    free(child);
}
