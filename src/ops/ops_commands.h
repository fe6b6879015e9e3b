/*
 * ops_commands.h - operator commands that talk to the supervisor or to the services:
 * down, restart, emergency-restart, ps/status, health-check (ops_commands.c), logs and stats
 * (ops_logs.c). Each takes the subcommand's argc/argv (argv[0] is the subcommand) and returns
 * the exit code: 0 when all is well, 1 when something is down or unhealthy, 2 on usage errors,
 * 78 on configuration errors.
 */
#ifndef MCPGW_OPS_OPS_COMMANDS_H
#define MCPGW_OPS_OPS_COMMANDS_H

#include <sys/types.h>

#include "core/config.h"

int down_main(int argc, char **argv);
int restart_main(int argc, char **argv);
int emergency_restart_main(int argc, char **argv);
int ps_main(int argc, char **argv);
int health_check_main(int argc, char **argv);
int logs_main(int argc, char **argv);
int stats_main(int argc, char **argv);

/* After `up -d`: poll the supervisor at socket_path until every service is healthy, the
 * supervisor (pid) is gone, or timeout_s passes; print the ps table. 0 when all healthy. */
int ops_wait_healthy(const char *socket_path, pid_t pid, int timeout_s);

/* Shared by the commands: options --env-file FILE and --help are handled by each command; this
 * loads the configuration (NULL after printing errors) and finds the control socket path. */
struct config *ops_load(const char *env_file, char *socket_path, unsigned socket_path_size, char **run_dir);

#endif
