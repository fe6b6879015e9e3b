/*
 * config_commands.h - operator commands about configuration: validate-env, show-config.
 * Each takes the subcommand's argc/argv (argv[0] is the subcommand) and returns the exit code.
 */
#ifndef MCPGW_OPS_CONFIG_COMMANDS_H
#define MCPGW_OPS_CONFIG_COMMANDS_H

int validate_env_main(int argc, char **argv);
int show_config_main(int argc, char **argv);

#endif
