/*
 * echo.h - `mcpgw echo`: the MCP echo service (mcp-echo), for tests and demos.
 *
 * Stateless by default (tools echo and printHeader); `--stateful` or MCP_ECHO_STATEFUL=true
 * gives 2025 clients sessions and the tools echo and replayLastEcho.
 */
#ifndef MCPGW_MCP_ECHO_H
#define MCPGW_MCP_ECHO_H

/* The subcommand: argv[0] is "echo"; the rest are the role's options. Returns the process exit
 * code (0 after a clean shutdown, 78 for configuration errors, 1 when start-up fails, 2 for bad
 * options). */
int echo_main(int argc, char **argv);

#endif
