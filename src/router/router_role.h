/*
 * router_role.h - `mcpgw router`: the edge (the guide's "traefik"): routing by host or path,
 * the bearer-token check, rate limits, CORS, and the streaming proxy to auth and the MCP
 * services. Listeners: HTTP_PORT, HTTPS_PORT (with TLS_CERT_FILE/TLS_KEY_FILE), ADMIN_PORT
 * (/metrics, /ping, /health).
 */
#ifndef MCPGW_ROUTER_ROUTER_ROLE_H
#define MCPGW_ROUTER_ROUTER_ROLE_H

/* The subcommand: argv[0] is "router". Returns the process exit code. */
int router_main(int argc, char **argv);

#endif
