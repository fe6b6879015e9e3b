/*
 * acme_paths.h - what the router and the certificate commands must agree on about ACME
 * (RFC 8555) certificates: when mcpgw obtains them itself, for which hosts, and where the
 * challenge files, the ACME client's state and the issued certificates live.
 *
 * Layout under DATA_DIR (every path derived here, nowhere else):
 *   DATA_DIR/acme-challenge/TOKEN   HTTP-01 challenge files (or ACME_CHALLENGE_DIR), served by
 *                                   the router at /.well-known/acme-challenge/TOKEN
 *   DATA_DIR/acme/uacme/            the ACME client's directory: account key, per-host keys and
 *                                   certificates as uacme keeps them
 *   DATA_DIR/acme/certs/HOST.crt    the certificates the router serves (chain) with HOST.key,
 *                                   installed there atomically after each issuance
 */
#ifndef MCPGW_CORE_ACME_PATHS_H
#define MCPGW_CORE_ACME_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define ACME_DEFAULT_DIRECTORY_URL "https://acme-v02.api.letsencrypt.org/directory"
#define ACME_STAGING_DIRECTORY_URL "https://acme-staging-v02.api.letsencrypt.org/directory"

/* Whether mcpgw obtains its certificates by ACME: HTTPS is on (HTTPS_PORT not 0) and no
 * certificate files are given (neither TLS_CERT_FILE nor TLS_CERT_DIR). */
bool acme_enabled(const struct config *cfg);

/* The challenge directory: ACME_CHALLENGE_DIR, else DATA_DIR/acme-challenge. Caller frees. */
char *acme_challenge_dir(const struct config *cfg);

/* True when token is a safe challenge file name: 1 to 255 base64url characters
 * (A-Z a-z 0-9 - _), so no '/', '.', '..' or NUL can reach the file system. */
bool acme_challenge_token_ok(const char *token, size_t len);

/* DATA_DIR/acme (the state directory of the certificate commands). Caller frees. */
char *acme_state_dir(const struct config *cfg);

/* DATA_DIR/acme/certs: HOST.crt + HOST.key per host, the router's certificate directory in
 * ACME mode. Caller frees. */
char *acme_cert_dir(const struct config *cfg);

/*
 * The host names that need a certificate, lower case, each once: subdomain routing gives
 * auth.BASE_DOMAIN and SVC.BASE_DOMAIN for every enabled MCP service (public_url_mcp_services);
 * path routing gives the one host of the public origin. The caller frees the array and its
 * strings with config_list_free(list, count).
 */
char **acme_hosts(const struct config *cfg, size_t *count);

#endif
