/*
 * local_users.h - the local-user identity provider: LOCAL_USERS_FILE (its format:
 * core/users_file.h) with bcrypt ($2b$/$2y$/$2a$) or yescrypt ($y$) hashes checked by the
 * system's crypt(3) (libxcrypt) and argon2id/argon2i hashes checked by libargon2, and
 * `mcpgw add-user` (which writes bcrypt).
 */
#ifndef MCPGW_AUTH_LOCAL_USERS_H
#define MCPGW_AUTH_LOCAL_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/users_file.h"

#define LOCAL_PASSWORD_MAX 1024

/* Check the file at start-up (users_file_check): *errors_text (may be NULL) gets the
 * "ERROR: ..." lines, GW_ERR_CONFIG on problems. Also prepares the dummy hash used for unknown
 * names. */
enum gw_err local_users_setup(const char *path, char **errors_text);

/* Verify password against hash with crypt(3) or libargon2, comparing in constant time. hash NULL (unknown
 * user) still spends the time of a real check on a dummy hash and returns false. Blocking
 * (bcrypt takes tens of milliseconds): call from a helper thread. */
bool local_password_verify(const char *hash, const char *password);

/* A new bcrypt hash ($2b$, cost 12) of password, caller frees; NULL when crypt is unavailable. */
char *local_password_hash(const char *password);

#endif
