/*
 * routes.h - the router's route table: which service a request is for, and what kind of
 * request it is (OAuth, metadata, MCP, service health, nothing).
 *
 * Built once at start-up from the configuration (read-only afterwards, shared by all workers):
 *   MCP_ECHO_ENABLED=true     mcp-echo  -> http://INTERNAL:MCP_ECHO_PORT/mcp
 *   MCP_FETCH_ENABLED=true    mcp-fetch -> http://INTERNAL:MCP_FETCH_PORT/mcp
 *   MCP_<NAME>_URL=http://h:p[/path]   mcp-<name> -> that server (path, default /mcp)
 *   MCP_<NAME>_COMMAND [+ MCP_<NAME>_PORT]
 *                             mcp-<name> -> http://INTERNAL:PORT/mcp (run by the supervisor)
 *   MCP_<NAME>_ENABLED=true + MCP_<NAME>_PORT
 *                             mcp-<name> -> http://127.0.0.1:PORT/mcp (run by the operator)
 *   auth                      http://INTERNAL:AUTH_PORT (or AUTH_INTERNAL_URL)
 * INTERNAL is where the services mcpgw starts listen: config_internal_address (127.0.0.1 by
 * default). A service that would have no port is refused as config_local_service_port says.
 * Priorities (subdomain and path mode alike): OAuth > metadata > MCP > catch-all 404.
 * The MCP endpoint is /mcp or /mcp/ (path mode /SVC/mcp[/]); metadata answers at the root
 * (subdomain: per service host; path: the only MCP service) and path-inserted /mcp[/].
 */
#ifndef MCPGW_ROUTER_ROUTES_H
#define MCPGW_ROUTER_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

struct router_service {
    char *name;               /* "mcp-echo" ("auth" for the authorization server) */
    char *config_name;        /* NAME of its MCP_<NAME>_* variables, as written: "ECHO" ("" for auth) */
    char *host;               /* subdomain mode host, lower case: "mcp-echo.example.com" */
    char *upstream_host;      /* "127.0.0.1", or a name resolved as a worker starts */
    int upstream_port;        /* 3001 */
    char *upstream_authority; /* "127.0.0.1:3001", the Host sent upstream */
    char *mcp_path;           /* upstream MCP path, "/mcp" */
    char *resource;           /* public_url_resource(): the tokens' audience */
    char *metadata_url;       /* public_url_resource_metadata(): for WWW-Authenticate */
    char *metadata_document;  /* public_url_resource_metadata_document() (JSON) */
    size_t index;             /* position in the table (0 = auth) */
};

struct route_table {
    struct router_service *services; /* services[0] is auth */
    size_t nservices;
    bool path_mode;
    char *auth_host;  /* "auth.example.com" (subdomain mode) */
    char *admin_host; /* "traefik.example.com" (subdomain mode): the admin endpoints */
};

enum route_kind {
    ROUTE_NOT_FOUND,         /* catch-all: 404 JSON */
    ROUTE_AUTH,              /* proxy to auth unchanged (OAuth endpoints, AS metadata, pages) */
    ROUTE_RESOURCE_METADATA, /* answer the service's RFC 9728 document */
    ROUTE_MCP,               /* token check, then proxy to the service's MCP path */
    ROUTE_SERVICE_HEALTH,    /* proxy to the service's /health without a token */
    ROUTE_ADMIN,             /* the router's own /metrics, /ping, /health (the guide's traefik host) */
};

struct route_match {
    enum route_kind kind;
    const struct router_service *service; /* the target (auth for ROUTE_AUTH); NULL for 404 */
    const char *auth_limit;               /* ROUTE_AUTH: "REGISTER", "TOKEN", "AUTHORIZE" or NULL */
};

/* Build the table from cfg. Appends "ERROR: ..." lines to errors on a bad service definition. */
enum gw_err route_table_create(const struct config *cfg, struct route_table **out, struct buf *errors);
void route_table_free(struct route_table *table);

/* Resolve a request. host is the Host header (may be NULL; case and port are ignored), path is
 * the request path without query. Pure: no allocation. */
struct route_match route_resolve(const struct route_table *table, const char *host, const char *path);

/* The service named name ("mcp-echo"), or NULL. */
const struct router_service *route_find_service(const struct route_table *table, const char *name);

#endif
