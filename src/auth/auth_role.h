/*
 * auth_role.h - the `mcpgw auth` subcommand: the OAuth 2.1 authorization server (service "auth").
 */
#ifndef MCPGW_AUTH_AUTH_ROLE_H
#define MCPGW_AUTH_AUTH_ROLE_H

/* Run the authorization server until SIGTERM; returns the process exit code. */
int auth_main(int argc, char **argv);

#endif
