/*
 * oauth_flow.h - `mcpgw test-oauth-flow`: the whole OAuth + MCP flow against the running stack
 * with a built-in client, one line per step (discovery, metadata, registration, PKCE
 * authorization, login, code exchange, refresh, MCP initialize / tools/list / tools/call,
 * revocation, clean-up). Takes the subcommand's argc/argv (argv[0] is the subcommand) and
 * returns the exit code: 0 when every step passed, 1 when one failed, 2 on usage errors (an
 * unknown --service included), 78 on configuration errors.
 */
#ifndef MCPGW_OPS_OAUTH_FLOW_H
#define MCPGW_OPS_OAUTH_FLOW_H

int test_oauth_flow_main(int argc, char **argv);

#endif
