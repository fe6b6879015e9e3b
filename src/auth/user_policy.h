/*
 * user_policy.h - whether a user who signed in earlier may still sign in now, under the running
 * configuration. The refresh grant asks on every refresh: without it ALLOWED_GITHUB_USERS and
 * LOCAL_USERS_FILE would only be checked at login, and since every rotation issues a new refresh
 * token, a user taken off the list would keep access forever.
 *
 * The rules are login's (callback.c, login_local.c):
 *   "github:<id>"   GitHub login is configured and the login name (the token's username, as
 *                   GitHub gave it at login) passes ALLOWED_GITHUB_USERS: listed,
 *                   case-insensitively, or "*". Under "*" the name does not matter.
 *                   ALLOWED_GITHUB_ORGS cannot be checked again: that needs the user's GitHub
 *                   token, which is not kept after login.
 *   "local:<name>"  LOCAL_USERS_FILE is configured and still has a usable line for name; the
 *                   file is read now, as every login reads it, so an edit applies at once.
 *   anything else   not allowed (no identity provider issues it).
 */
#ifndef MCPGW_AUTH_USER_POLICY_H
#define MCPGW_AUTH_USER_POLICY_H

#include "auth/github.h"
#include "core/err.h"

/* The identity providers as configured. Borrowed. */
struct user_policy {
    const struct github_policy *github; /* NULL: GitHub login not configured */
    const char *local_users_file;       /* NULL or "": no local users */
};

/*
 * GW_OK: sub (with username, the GitHub login) may still sign in. GW_ERR_NOT_FOUND: no longer;
 * *why (static text for the log) says why. GW_ERR_IO: LOCAL_USERS_FILE cannot be read, so
 * nothing can be decided (*why says so). Reads the users file for local users (blocking, at most
 * 1 MiB; refreshes are rare, and the file is small and in the page cache).
 */
enum gw_err user_policy_check(const struct user_policy *p, const char *sub, const char *username,
                              const char **why);

#endif
