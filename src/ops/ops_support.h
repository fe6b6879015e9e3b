/*
 * ops_support.h - what the token and Redis maintenance commands share: a synchronous Redis
 * connection from REDIS_URL/REDIS_PASSWORD, the enabled MCP services, auth's signing key and the
 * verification key set, option parsing, and human-readable durations. Only for src/ops.
 */
#ifndef MCPGW_OPS_OPS_SUPPORT_H
#define MCPGW_OPS_OPS_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/jwt.h"

/* Connect to REDIS_URL (password from the URL, else REDIS_PASSWORD; SELECT db) with a 5 s timeout.
 * Returns a context the caller frees with redisFree, or NULL after printing
 * "ERROR: Could not connect to Redis at ADDR: why" on stderr. */
redisContext *ops_redis_connect(const struct config *cfg);

struct redis_endpoint;
/* The TCP address to reach for endpoint: its own host and port, or in Sentinel mode the master
 * the Sentinels name now (5 s per Sentinel). host must hold INET6_ADDRSTRLEN bytes or more.
 * False after printing "ERROR: Could not find the Redis master: why" on stderr. */
bool ops_redis_address(const struct redis_endpoint *endpoint, char *host, size_t host_size, int *port);

/* REDIS_KEY_PREFIX + a + b as a new string (caller frees). b may be NULL. */
char *ops_key(const struct config *cfg, const char *a, const char *b);

/* Auth's signing key exactly as auth loads it (GATEWAY_JWT_SECRET for HS256, JWT_PRIVATE_KEY_B64,
 * or DATA_DIR/keys/jwt-<alg>.pem, which is never generated here). NULL with a sentence in why_out
 * (appended) when there is none. Caller frees with jwt_key_free. */
struct jwt_key *ops_signing_key(const struct config *cfg, struct buf *why_out);

/* Verification keys: the local signing key when there is one, else auth's JWKS from
 * AUTH_INTERNAL_URL (default http://INTERNAL_BIND_ADDRESS:AUTH_PORT, see config_internal_url) + /jwks.
 * *source gets a static-ish description ("GATEWAY_JWT_SECRET", "DATA_DIR/keys", "JWKS"). Caller frees with
 * jwt_keyset_free. NULL with why_out appended on failure. */
struct jwt_keyset *ops_verification_keys(const struct config *cfg, struct buf *why_out);

/* "23h 59m", "5m 3s", "2d 4h": the largest two units of seconds (>= 0). */
void ops_human_duration(long long seconds, char *out, size_t size);
/* "2026-11-27 22:05:00 UTC (expires in 23h 59m)" style: time t in UTC into out. */
void ops_utc(long long t, char *out, size_t size);

/* Run argv (argv[0] searched in PATH) and wait; returns the exit status (127 when it could not
 * start, 128+signal when killed). stdout_fd >= 0 redirects the child's stdout there,
 * stderr_fd >= 0 its stderr (-1: inherited). */
int ops_run(char *const argv[], int stdout_fd, int stderr_fd);

/* Scrub text (a NUL-terminated string the function takes over) for a diagnostic bundle: every
 * occurrence of each secrets[i] becomes "[REDACTED]", a JWT (eyJ...x.y) "[REDACTED-JWT]" and any
 * other run of 32+ base64url characters (tokens, codes, hashes) "[REDACTED-TOKEN]". Returns the new
 * text (caller frees); *replaced is increased by the number of replacements. */
char *ops_scrub(char *text, const char *const *secrets, size_t nsecrets, long long *replaced);

#endif
