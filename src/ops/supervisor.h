/*
 * supervisor.h - `mcpgw up [-d]`: the supervisor (the guide's "docker compose up").
 *
 * Validates the configuration (all problems at once, exit 78), refuses taken ports (exit 1),
 * starts redis (when local), auth, router and the MCP services in that order, health-checks each
 * every HEALTH_CHECK_INTERVAL seconds, restarts crashed services (and services unhealthy for
 * HEALTH_CHECK_RETRIES checks in a row while Redis is fine) with exponential backoff, and answers
 * the operator commands on its control socket (control.h). SIGINT/SIGTERM stop every child in
 * reverse start order. -d daemonises (pid file RUN_DIR/supervisor.pid).
 */
#ifndef MCPGW_OPS_SUPERVISOR_H
#define MCPGW_OPS_SUPERVISOR_H

int up_main(int argc, char **argv);

/* The detached supervisor's stderr, in LOG_DIR: what is not a log line (a crash or sanitizer
 * report, an error before logging starts). rotate-logs rotates it like the *.log files, and the
 * supervisor reopens it on SIGUSR1. */
#define SUPERVISOR_STDERR_FILE "supervisor.out"

#endif
