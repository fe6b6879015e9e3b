/*
 * acme_client.h - drives Debian's uacme (an RFC 8555 client in C) for mcpgw's certificates.
 *
 * uacme keeps its state in DATA_DIR/acme/uacme (account key private/key.pem, per host
 * private/HOST/key.pem and HOST/cert.pem). It proves control of a host with HTTP-01: for each
 * challenge it runs a hook program, DATA_DIR/acme/challenge-hook, a two-line script written here
 * that calls `mcpgw renew-certs --challenge-hook ...` (acme_hook_main), which writes or removes
 * the key authorization in the challenge directory that the router serves at
 * /.well-known/acme-challenge/. Every output line of uacme is handed to a callback (the
 * certificate commands log it); the run's outcome is classified by acme_outcome.h.
 *
 * ACME_CA_BUNDLE (a private ACME server's CA): Debian's uacme 1.7.4 always verifies against the
 * system's /etc/ssl/certs, so uacme runs in a private mount namespace where a directory holding
 * only the bundle is bind-mounted over /etc/ssl/certs (as root, or through an unprivileged user
 * namespace). Nothing changes for the rest of the system.
 */
#ifndef MCPGW_OPS_ACME_CLIENT_H
#define MCPGW_OPS_ACME_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "acme_outcome.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

/* Called with each line uacme prints (no newline; borrowed for the call). */
typedef void (*acme_line_fn)(const char *line, void *arg);

struct acme_client {
    char *uacme;                             /* absolute path of the uacme program */
    char *state_dir;                         /* DATA_DIR/acme */
    char *confdir;                           /* DATA_DIR/acme/uacme */
    char *hook;                              /* DATA_DIR/acme/challenge-hook */
    char *trust_dir;                         /* DATA_DIR/acme/trust (only with a CA bundle) */
    char *challenge_dir;                     /* acme_challenge_dir() */
    char *directory_url, *email, *ca_bundle; /* ca_bundle NULL: the system's CAs */
    int renew_days;
    int timeout_s; /* per uacme run; killed after */
    acme_line_fn on_line;
    void *line_arg;
};

/*
 * Prepare everything a run needs from cfg: find uacme (PATH), create the directories, write the
 * hook script (it runs self_exe) and copy the CA bundle. GW_ERR_CONFIG / GW_ERR_IO / GW_ERR_NOT_FOUND
 * with one "ERROR: ..." line in errors on a problem. On success c owns its strings
 * (acme_client_free).
 */
enum gw_err acme_client_init(struct acme_client *c, const struct config *cfg, const char *self_exe,
                             struct buf *errors);
void acme_client_free(struct acme_client *c);

/*
 * Make sure an account exists at the configured directory for the account key, with ACME_EMAIL
 * as its contact (registers it the first time, or again when the directory changed; updates the
 * contact when ACME_EMAIL changed). Remembers what it did in DATA_DIR/acme/account.json. false
 * with *o filled on failure.
 */
bool acme_client_account(struct acme_client *c, struct acme_outcome *o);

/*
 * Obtain a certificate for host unless the current one is valid for more than renew_days (force:
 * always). Returns the status in o->status (ACME_ISSUED, ACME_CURRENT, ACME_FAILED with the
 * failure). The files are then at acme_client_cert_path / acme_client_key_path.
 */
void acme_client_issue(struct acme_client *c, const char *host, bool force, struct acme_outcome *o);

/*
 * Copy uacme's certificate chain and key of host into cert_dir as HOST.crt and HOST.key (the
 * router's layout), after checking that they parse and belong together: the key first, each
 * written to a temporary file and renamed, so the router never reads half a pair it could not
 * load. Nothing is written when the installed files are the same (*changed false). *not_after
 * gets the certificate's expiry (Unix time). false with a reason in why otherwise.
 */
bool acme_client_install(const struct acme_client *c, const char *cert_dir, const char *host, bool *changed,
                         long long *not_after, char *why, size_t whysz);

/* Where uacme keeps host's certificate chain and key. Caller frees. */
char *acme_client_cert_path(const struct acme_client *c, const char *host);
char *acme_client_key_path(const struct acme_client *c, const char *host);

/*
 * The hook program (argv: METHOD TYPE IDENT TOKEN AUTH, as uacme passes them after
 * `renew-certs --challenge-hook`): "begin http-01" writes AUTH to CHALLENGE_DIR/TOKEN (from
 * the environment variable MCPGW_ACME_CHALLENGE_DIR), "done"/"failed" remove it; other challenge
 * types are declined (exit 1). Exit 0 on success, 1 declined or refused (a token that is not
 * base64url, an AUTH that is not TOKEN.THUMBPRINT), 2 usage.
 */
int acme_hook_main(int argc, char **argv);

#endif
