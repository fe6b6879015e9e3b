/*
 * browser.h - the browser half of `mcpgw auth`: authorization request, consent, login (GitHub and
 * local users), the GitHub callback and the authorization response.
 *
 * auth_main.c dispatches to these handlers:
 *   GET       /authorize  -> authorize_handle   (validates the request, then consent or login)
 *   GET|POST  /consent    -> consent_handle     (consent page; POST approves or denies, CSRF-checked)
 *   GET|POST  /login      -> login_handle       (login chooser / local-user form; POST checks password)
 *   GET       /callback   -> callback_handle    (GitHub redirect back: state, code exchange, user check)
 * Each handler answers the exchange itself (synchronously or later via async Redis/HTTP callbacks)
 * and never crashes on bad input: errors before the client's redirect URI is trusted render an
 * escaped HTML page; later errors redirect to the client with error=, state and iss (RFC 9207).
 *
 * `mcpgw add-user NAME` -> add_user_main: reads a password from stdin (or the tty without echo) and
 * appends `NAME:hash` to LOCAL_USERS_FILE. Returns a process exit status.
 *
 * browser_setup is called once by auth_setup after auth_state() is set (it reads auth_state()->cfg
 * and ->issuer), before workers start: reads the GitHub/local-user configuration (GitHub needs
 * GITHUB_CLIENT_ID+SECRET, local users LOCAL_USERS_FILE; at least one), derives the cookie key,
 * logs start-up warnings (e.g. ALLOWED_GITHUB_USERS empty) and appends errors to errors
 * ("ERROR: ...\n" lines, which the role reports on stderr and in the log).
 * Returns GW_OK, or GW_ERR_CONFIG/GW_ERR_IO: start-up should stop with exit code 78.
 * browser_teardown releases it (auth_teardown).
 */
#ifndef MCPGW_AUTH_BROWSER_H
#define MCPGW_AUTH_BROWSER_H

#include "core/buf.h"
#include "core/err.h"
#include "core/http.h"

enum gw_err browser_setup(struct buf *errors);
/* Releases what browser_setup allocated (call from auth_teardown). */
void browser_teardown(void);

void authorize_handle(struct http_exchange *ex);
void consent_handle(struct http_exchange *ex);
void login_handle(struct http_exchange *ex);
void callback_handle(struct http_exchange *ex);

int add_user_main(int argc, char **argv);

/* Whether the user a grant was issued to (sub "github:<id>" with username, the GitHub login, or
 * "local:<name>") may still sign in under this configuration: user_policy_check (user_policy.h)
 * with the identity providers browser_setup read. GW_OK, GW_ERR_NOT_FOUND (no longer; *why says
 * why) or GW_ERR_IO (LOCAL_USERS_FILE unreadable: undecided). The token endpoint asks at every
 * refresh. */
enum gw_err browser_user_still_allowed(const char *sub, const char *username, const char **why);

#endif
