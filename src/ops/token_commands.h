/*
 * token_commands.h - decode-token, validate-token, generate-token (the guide's token tools).
 * Each takes the subcommand's argc/argv (argv[0] is the subcommand) and returns the exit code:
 * 0 when all is well, 1 when the token is invalid or something failed, 2 on usage errors,
 * 78 on configuration errors.
 */
#ifndef MCPGW_OPS_TOKEN_COMMANDS_H
#define MCPGW_OPS_TOKEN_COMMANDS_H

int decode_token_main(int argc, char **argv);
int validate_token_main(int argc, char **argv);
int generate_token_main(int argc, char **argv);

#endif
