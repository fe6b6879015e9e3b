/*
 * maintenance_commands.h - the guide's maintenance commands.
 *   redis_commands.c: redis-cli, cleanup-tokens, redis-vacuum
 *   log_rotation.c:   rotate-logs
 *   backup.c:         backup-all, restore
 *   diagnostics.c:    diagnostic-bundle, update-all
 *   certificates.c:   renew-certs (ACME; see certificates.h)
 *   (import-dashboards: dashboards.h)
 * Each takes the subcommand's argc/argv (argv[0] is the subcommand) and returns the exit code:
 * 0 all well, 1 something failed, 2 usage error, 78 configuration.
 */
#ifndef MCPGW_OPS_MAINTENANCE_COMMANDS_H
#define MCPGW_OPS_MAINTENANCE_COMMANDS_H

int redis_cli_main(int argc, char **argv);
int cleanup_tokens_main(int argc, char **argv);
int redis_vacuum_main(int argc, char **argv);
int revoke_tokens_main(int argc, char **argv);
int rotate_logs_main(int argc, char **argv);
int backup_all_main(int argc, char **argv);
int restore_main(int argc, char **argv);
int diagnostic_bundle_main(int argc, char **argv);
int update_all_main(int argc, char **argv);
int renew_certs_main(int argc, char **argv);

#endif
