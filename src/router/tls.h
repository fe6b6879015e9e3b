/*
 * tls.h - the router's TLS certificates: a default pair (TLS_CERT_FILE/TLS_KEY_FILE) and/or one
 * pair per host from a directory (TLS_CERT_DIR/<host>.crt + <host>.key), chosen per connection
 * by SNI; TLS 1.2 and newer only.
 *
 * The certificates form an immutable set of SSL_CTXs. Reloading (SIGHUP) builds a complete new
 * set and swaps it in atomically; a connection keeps the set it started with (OpenSSL reference
 * counts), so nothing is dropped, and the old set is freed with its last connection. A reload
 * that fails (missing key, bad PEM, key not matching) changes nothing and reports why.
 *
 * Each certificate's notAfter is exported as the gauge tls_certificate_expiry_seconds{host}
 * (Unix time; "default" for the default pair), for the certificate-expiry alert.
 */
#ifndef MCPGW_ROUTER_TLS_H
#define MCPGW_ROUTER_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

struct tls_server;

/* Whether the router listens on HTTPS_PORT: certificate files are given (TLS_CERT_FILE or
 * TLS_CERT_DIR), or ACME obtains them (acme_enabled). */
bool tls_configured(const struct config *cfg);

/* Load the certificates named by cfg (see tls_server_create_from); in ACME mode those in
 * acme_cert_dir(cfg) (see tls_server_create_acme). */
enum gw_err tls_server_create(const struct config *cfg, struct tls_server **out, struct buf *errors);

/*
 * Load certificates: the default pair cert_file/key_file (both NULL or "" for none) and every
 * <host>.crt with its <host>.key in cert_dir (NULL or "" for none; host names are lower-cased;
 * "*.example.com.crt" serves any one-label subdomain). Connections without SNI, or naming a
 * host that has no pair, get the default pair, else the first host in name order. The paths
 * are copied (reload reads them again). On success *out is new (tls_server_free); on failure
 * GW_ERR_TLS (or GW_ERR_IO for an unreadable directory, GW_ERR_NOT_FOUND when no certificate
 * at all) and one "ERROR: TLS: ..." line per problem appended to errors (may be NULL).
 */
enum gw_err tls_server_create_from(const char *cert_file, const char *key_file, const char *cert_dir,
                                   struct tls_server **out, struct buf *errors);

/*
 * ACME mode: every HOST.crt/HOST.key in cert_dir, like TLS_CERT_DIR, except that an empty or
 * missing directory is not an error: then there is no certificate (tls_server_ready false,
 * tls_server_context NULL, so TLS connections are closed at once) until a reload finds one.
 */
enum gw_err tls_server_create_acme(const char *cert_dir, struct tls_server **out, struct buf *errors);

/* Whether a certificate set is loaded (false only in ACME mode before the first certificate). */
bool tls_server_ready(struct tls_server *ts);

/* Read every file again and swap the new set in (any thread; meant for the SIGHUP hook). On
 * failure the current set stays and errors says why; the outcome is also logged. */
enum gw_err tls_server_reload(struct tls_server *ts, struct buf *errors);

/* For listener_options.tls_context: the current default SSL_CTX with a new reference the caller
 * takes over (SSL_CTX_free), or NULL when none is loaded yet. Thread-safe. arg is the struct
 * tls_server. */
SSL_CTX *tls_server_context(void *arg);

/* Hosts with their own certificate in the current set (not counting the default pair). */
size_t tls_server_host_count(const struct tls_server *ts);

/* Drop the current set (connections still open keep theirs) and free ts. NULL is ignored. */
void tls_server_free(struct tls_server *ts);

#endif
