/*
 * stdio_child.h - one stdio MCP server process for mcpgw stdio-proxy: spawned in its own
 * process group with its stdin, stdout and stderr on pipes driven by libevent bufferevents.
 *
 * Messages are newline-delimited JSON (the MCP stdio transport). Lines the child writes on
 * stderr go to the JSON log at WARNING with its pid. The process is reaped without SIGCHLD: a
 * pidfd (Linux 5.3+) becomes readable when it exits, else a one-second waitpid(WNOHANG) timer.
 * Everything runs on the event loop the child was spawned on.
 */
#ifndef MCPGW_MCP_STDIO_CHILD_H
#define MCPGW_MCP_STDIO_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/err.h"

struct event_base;
struct stdio_child;

struct stdio_child_callbacks {
    /* A JSON message from the child's stdout (stolen). Lines that are not JSON are logged. */
    void (*on_message)(struct stdio_child *child, json_t *message, void *arg);
    /* The process has exited and was reaped. The child object stays valid until
     * stdio_child_free, which the callback may call. */
    void (*on_exit)(struct stdio_child *child, int wait_status, void *arg);
    void *arg;
};

/* Start argv (argv[0] looked up in PATH) on base. NULL with a reason in why on failure.
 * callbacks is copied. */
struct stdio_child *stdio_child_spawn(struct event_base *base, char *const argv[],
                                      const struct stdio_child_callbacks *callbacks, struct buf *why);
/* Queue one message (compact JSON plus "\n") on the child's stdin. GW_ERR_CLOSED when the child
 * has exited or its stdin is gone. */
enum gw_err stdio_child_send(struct stdio_child *child, const json_t *message);
pid_t stdio_child_pid(const struct stdio_child *child);
bool stdio_child_exited(const struct stdio_child *child);
/* Ask the process group to stop: SIGTERM now, SIGKILL two seconds later if still there. */
void stdio_child_terminate(struct stdio_child *child);
/* Free an exited child (on_exit has run). A live child is killed (SIGKILL to its group) and
 * reaped first, blocking briefly: for shutdown. */
void stdio_child_free(struct stdio_child *child);
/* Shutdown: SIGTERM to the group, wait up to two seconds for it, then SIGKILL; reaped; no
 * callback runs. The object stays to be freed. */
void stdio_child_stop_now(struct stdio_child *child);

#endif
