/*
 * fetch.h - `mcpgw fetch`: the MCP fetch service (mcp-fetch), the reference fetch server's
 * tool and prompt in C, with HTML turned into Markdown and SSRF guards on every connection.
 */
#ifndef MCPGW_MCP_FETCH_H
#define MCPGW_MCP_FETCH_H

/* The subcommand: argv[0] is "fetch"; the rest are the role's options. Returns the process
 * exit code (0 after a clean shutdown, 78 for configuration errors, 1 when start-up fails,
 * 2 for bad options). */
int fetch_main(int argc, char **argv);

#endif
