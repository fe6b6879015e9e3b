/*
 * certificates.h - `mcpgw renew-certs`: the router's certificates by ACME (RFC 8555, HTTP-01)
 * through uacme (acme_client.h), installed where the router loads them (core/acme_paths.h),
 * then a reload of the router (SIGHUP: open connections keep their certificate).
 *
 * The supervisor runs the same command at start (once the router is up) and then once a day
 * (acme_renewal_delay_ms), so a certificate is issued as soon as the router serves the challenges and renewed
 * when it expires within ACME_RENEW_DAYS. Every ACME step is a JSON line in the router's log
 * (LOG_DIR/router.log, "service":"router","component":"acme"), so `mcpgw logs router | grep -i acme` shows
 * them.
 */
#ifndef MCPGW_OPS_CERTIFICATES_H
#define MCPGW_OPS_CERTIFICATES_H

/* The command itself, renew_certs_main, is declared with the other maintenance commands
 * (maintenance_commands.h): renew-certs [--force] [--host HOST]... [--env-file FILE]; exit 0
 * when every host has a valid certificate (issued now or still current), 1 when one failed (the
 * reason in plain words on stderr), 2 usage or ACME not in use, 78 configuration. It is also the
 * challenge hook (`renew-certs --challenge-hook ...`, see acme_hook_main). */

/* Milliseconds until the supervisor's next renewal run: a day after a success
 * (consecutive_failures 0); after the n-th failure in a row 10 minutes * 2^(n-1), at most a
 * day. Either way spread by +-10% with random01 (in [0, 1)) so that many gateways do not ask
 * the CA at the same moment. */
long long acme_renewal_delay_ms(int consecutive_failures, double random01);

#endif
