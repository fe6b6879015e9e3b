/*
 * public_url.h - the public URLs of the gateway, derived in one place so that the authorization
 * server and the router publish byte-identical strings (issuer, resource, metadata URLs).
 *
 * Subdomain routing (ROUTING=subdomain, the default):
 *   issuer                  SCHEME://auth.BASE_DOMAIN[:PORT]
 *   resource of SVC         SCHEME://SVC.BASE_DOMAIN[:PORT]/mcp
 *   resource metadata URL   SCHEME://SVC.BASE_DOMAIN[:PORT]/.well-known/oauth-protected-resource/mcp
 * Path routing (ROUTING=path): one ORIGIN (PUBLIC_ORIGIN, or SCHEME://BASE_DOMAIN[:PORT]):
 *   issuer                  ORIGIN
 *   resource of SVC         ORIGIN/SVC/mcp
 *   resource metadata URL   ORIGIN/.well-known/oauth-protected-resource/SVC/mcp
 * SCHEME is PUBLIC_SCHEME (default https, or http when HTTPS_PORT=0); PORT is PUBLIC_PORT
 * (default the router's HTTPS_PORT or HTTP_PORT) and is left out when it is the scheme's default.
 * Host names are lower-cased and nothing has a trailing slash (RFC 8707 canonical form).
 *
 * Every function returns a new string the caller frees with free().
 */
#ifndef MCPGW_CORE_PUBLIC_URL_H
#define MCPGW_CORE_PUBLIC_URL_H

#include <stdbool.h>
#include "config.h"

char *public_url_issuer(const struct config *cfg);
/* SCHEME://HOST[:PORT] where the service is reached (subdomain) or the shared origin (path). */
char *public_url_service_origin(const struct config *cfg, const char *service);
/* The canonical MCP URL of a service: the `resource` of its tokens and of its metadata. */
char *public_url_resource(const struct config *cfg, const char *service);
/* The absolute URL of the service's RFC 9728 protected-resource metadata (path-inserted form). */
char *public_url_resource_metadata(const struct config *cfg, const char *service);
/* The RFC 9728 document itself: {"resource":..,"authorization_servers":[issuer],
 * "scopes_supported":[..],"bearer_methods_supported":["header"],"resource_name":..}. */
char *public_url_resource_metadata_document(const struct config *cfg, const char *service);
/*
 * The RFC 8707 canonical form of a resource indicator, so that the spellings clients send for
 * one resource compare equal: scheme and host lower-cased, the scheme's default port left out,
 * one trailing '/' of the path removed ("https://Svc.Example:443/mcp/" -> "https://svc.example/mcp";
 * "/" becomes ""), the query kept. The path's case stays significant. NULL when uri is not an
 * absolute http(s) URI with a host, or has userinfo or a fragment. New string, caller frees.
 */
char *public_url_canonical_resource(const char *uri);
/* Whether a and b are the same resource in canonical form (false when either is NULL or not
 * a resource URI). */
bool public_url_same_resource(const char *a, const char *b);
/* The host name a service answers on in subdomain mode ("mcp-echo.example.com"). */
char *public_url_service_host(const struct config *cfg, const char *service);
bool public_url_path_routing(const struct config *cfg);

/* The MCP services this configuration enables, as service names ("mcp-echo", "mcp-memory"):
 * mcp-echo when MCP_ECHO_ENABLED (default true), mcp-fetch when MCP_FETCH_ENABLED, then every
 * MCP_<NAME>_ENABLED=true, MCP_<NAME>_URL or MCP_<NAME>_COMMAND (unless MCP_<NAME>_ENABLED is
 * false) as "mcp-<name>" (lower case, '_' as '-'), each once, in that order. The caller frees
 * the array and its strings with config_list_free(list, count). */
char **public_url_mcp_services(const struct config *cfg, size_t *count);

#endif
