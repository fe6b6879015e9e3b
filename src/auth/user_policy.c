/*
 * user_policy.c - whether a user may still sign in (see user_policy.h).
 */
#include "auth/user_policy.h"

#include <string.h>

#include "core/users_file.h"

#define GITHUB_SUB "github:"
#define LOCAL_SUB "local:"

static enum gw_err github_user_still_allowed(const struct user_policy *p, const char *username,
                                             const char **why)
{
    if (!p->github) {
        *why = "GitHub login is no longer configured";
        return GW_ERR_NOT_FOUND;
    }
    if (p->github->anyone || github_user_allowed(p->github, username))
        return GW_OK;
    *why = p->github->nusers == 0 ? "ALLOWED_GITHUB_USERS is empty" : "not in ALLOWED_GITHUB_USERS";
    return GW_ERR_NOT_FOUND;
}

static enum gw_err local_user_still_allowed(const struct user_policy *p, const char *name, const char **why)
{
    if (!p->local_users_file || !p->local_users_file[0]) {
        *why = "local users are no longer configured (LOCAL_USERS_FILE)";
        return GW_ERR_NOT_FOUND;
    }
    if (!users_file_name_valid(name)) {
        *why = "not in LOCAL_USERS_FILE";
        return GW_ERR_NOT_FOUND;
    }
    enum gw_err err = users_file_lookup(p->local_users_file, name, NULL);
    if (err == GW_ERR_IO)
        *why = "LOCAL_USERS_FILE cannot be read";
    else if (err != GW_OK)
        *why = "not in LOCAL_USERS_FILE";
    return err;
}

enum gw_err user_policy_check(const struct user_policy *p, const char *sub, const char *username,
                              const char **why)
{
    *why = NULL;
    if (sub && strncmp(sub, GITHUB_SUB, strlen(GITHUB_SUB)) == 0)
        return github_user_still_allowed(p, username, why);
    if (sub && strncmp(sub, LOCAL_SUB, strlen(LOCAL_SUB)) == 0)
        return local_user_still_allowed(p, sub + strlen(LOCAL_SUB), why);
    *why = "unknown identity provider";
    return GW_ERR_NOT_FOUND;
}
