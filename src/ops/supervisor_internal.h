/*
 * supervisor_internal.h - the supervisor's state, shared by supervisor.c (start-up, daemon)
 * and supervisor_loop.c (children, health, control requests). Not for other modules.
 */
#ifndef MCPGW_OPS_SUPERVISOR_INTERNAL_H
#define MCPGW_OPS_SUPERVISOR_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/config.h"
#include "service_table.h"

enum child_state {
    CHILD_STOPPED, /* not started yet, or stopped by the supervisor on the way down */
    CHILD_RUNNING,
    CHILD_BACKOFF, /* exited; waits for its next start */
    CHILD_HELD,    /* stopped by the operator (`mcpgw down SVC`) until `mcpgw restart SVC` */
    CHILD_STOPPING /* unhealthy: sent SIGTERM, SIGKILL at stop_deadline_ms; then restarted */
};

struct child {
    struct service_spec *spec; /* borrowed from the supervisor's table */
    pid_t pid;
    enum child_state state;
    long long started_ms; /* monotonic */
    const char *health;   /* "starting", "healthy", "unhealthy", "-" (static) */
    char detail[512];
    int failed_checks; /* consecutive, and only those that count (failure_counts) */
    /* The service's dependency (auth: Redis) was unhealthy at the last check; once it is back,
     * failed checks count from grace_until_ms (monotonic) on. */
    bool dependency_down;
    long long grace_until_ms;
    int restarts;     /* automatic restarts since `up` */
    int crash_streak; /* exits without a healthy period in between: the backoff exponent */
    long long next_start_ms;
    long long stop_deadline_ms;
    int last_exit; /* wait status text source: exit code, or -signal */
    int log_pipe;  /* redis: read end of its stdout, -1 otherwise */
    struct buf log_pending;
    int log_fd; /* redis: LOG_DIR/redis.log, -1 otherwise */
};

struct supervisor {
    struct config *cfg;
    const char *env_file;
    struct service_table table;
    struct child *children;
    size_t nchildren;
    char *run_dir;
    char *log_dir;
    char socket_path[256];
    int listen_fd;
    int signal_pipe[2];
    bool foreground;
    bool stopping;
    bool announced; /* the "all healthy" banner was printed */
    int health_interval_ms;
    int health_retries;
    int shutdown_timeout_ms;
    long long next_health_ms;
    /* ACME certificates (supervisor_acme.c): `mcpgw renew-certs` as a child, at the router's
     * first health check, then daily (backoff after failures) */
    pid_t acme_pid;         /* the run in progress, 0 when none */
    long long acme_next_ms; /* 0: as soon as the router has been checked */
    int acme_failures;      /* consecutive failed runs */
};

/* supervisor.c */
/* Point stderr at LOG_DIR/supervisor.out, created if missing (at start, and after rotation).
 * false when it cannot be opened; stderr is then unchanged. */
bool supervisor_reopen_stderr(const char *log_dir);

/* supervisor_loop.c */
/* In a freshly forked child of the supervisor (parent: the supervisor's pid before fork): its
 * own process group (a Ctrl-C in the terminal reaches the supervisor only, which then stops the
 * children in order), a death signal for a supervisor killed -9, default signals, stdin from
 * /dev/null, stdout to stdout_fd (-1: /dev/null), stderr kept only in the foreground. Exits
 * the child when the supervisor is already gone. */
void supervisor_child_setup(const struct supervisor *sv, pid_t parent, int stdout_fd);
void supervisor_children_init(struct supervisor *sv);
void supervisor_start_all(struct supervisor *sv);
void supervisor_stop_all(struct supervisor *sv);
int supervisor_run(struct supervisor *sv); /* until down/SIGTERM; returns the exit code */

/* supervisor_acme.c */
/* start a run when one is due */
void supervisor_acme_tick(struct supervisor *sv);
/* true when pid was the run (then scheduled the next one) */
bool supervisor_acme_reaped(struct supervisor *sv, pid_t pid, int status);
/* end a run in progress (SIGTERM, wait) */
void supervisor_acme_stop(struct supervisor *sv);

#endif
