/*
 * stdio_proxy.h - `mcpgw stdio-proxy [--port N] [--name mcp-NAME] -- CMD ARGS...`: any stdio MCP
 * server as Streamable HTTP (one child per session, a small pool for 2026-07-28 requests).
 * See docs/internals/mcp.md.
 */
#ifndef MCPGW_MCP_STDIO_PROXY_H
#define MCPGW_MCP_STDIO_PROXY_H

int stdio_proxy_main(int argc, char **argv);

#endif
