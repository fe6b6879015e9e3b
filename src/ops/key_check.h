/*
 * key_check.h - the guide's "JWT secret matches across services" (`show-config | grep JWT_SECRET`):
 * is the key tokens are signed with the same in this configuration, in the running auth and in
 * the running router?
 *
 * Every service gets its configuration from the same ./.env (or --env-file) and the supervisor's
 * environment: there is no per-service key variable, so a difference can only come from a
 * process started with another .env or environment (a router run by hand, a shell that exported
 * GATEWAY_JWT_SECRET, a stale process after an edit). That is checked on the running processes:
 * auth and the router report the kid and algorithm of their keys (never the key) in the
 * "signing_key" member of /health; HS256 kids are derived from the secret by an HMAC, so equal
 * kids mean equal secrets. MCP services verify no tokens (the router does), so they are not asked.
 */
#ifndef MCPGW_OPS_KEY_CHECK_H
#define MCPGW_OPS_KEY_CHECK_H

#include <stdio.h>

#include "core/config.h"

/* Probe auth and the router (their health ports, 2 s each), compare, and print the verdict as
 * lines starting with "# JWT_SECRET check: " to out. Returns 0 when nothing differs (also when
 * nothing runs to compare with), 1 on a mismatch or a router that has no key to verify with. */
int key_check_report(const struct config *cfg, FILE *out);

#endif
