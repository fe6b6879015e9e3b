/*
 * users_file.h - the format of LOCAL_USERS_FILE: `name:hash` lines, like an htpasswd file, with
 * `#` comments and blank lines ignored; hashes are argon2id ($argon2id$, or argon2i), bcrypt
 * ($2b$/$2y$/$2a$) or yescrypt ($y$).
 *
 * Only the text: auth (src/auth/local_users.c) checks passwords against the hashes, and the
 * configuration check (validate-env, `up`) uses users_file_check so that a file auth would
 * refuse at start is reported before anything starts. Pure functions apart from reading the
 * file; thread-safe.
 */
#ifndef MCPGW_CORE_USERS_FILE_H
#define MCPGW_CORE_USERS_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"

#define USERS_FILE_MAX_NAME 64

/* Whether name is an acceptable user name: 1..64 of [A-Za-z0-9._@-]. */
bool users_file_name_valid(const char *name);

/* Find name's hash in the file text text[0..len). Returns a new string (caller frees) or NULL.
 * Lines that are malformed are skipped. */
char *users_file_find(const char *text, size_t len, const char *name);

/* Read path (at most 1 MiB) and find name's hash; NULL when absent or unreadable. */
char *users_file_find_in_file(const char *path, const char *name);

/* The same, telling the two apart: GW_OK (*hash, when hash is not NULL, is a new string the
 * caller frees), GW_ERR_NOT_FOUND (no usable line for name), or GW_ERR_IO (the file cannot be
 * read, or is over 1 MiB: nothing is known about name). */
enum gw_err users_file_lookup(const char *path, const char *name, char **hash);

/* Check the file: readable (at most 1 MiB), every line well formed with a supported hash.
 * Appends one "ERROR: ...\n" line per problem to errors; GW_ERR_CONFIG when there was one. */
enum gw_err users_file_check(const char *path, struct buf *errors);

#endif
