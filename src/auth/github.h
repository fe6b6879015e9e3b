/*
 * github.h - the pure parts of GitHub as identity provider: who may log in, and reading
 * GitHub's answers (token exchange, /user, /user/emails, /user/orgs). No I/O here; the HTTP
 * calls live in login_github.c.
 */
#ifndef MCPGW_AUTH_GITHUB_H
#define MCPGW_AUTH_GITHUB_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/err.h"

/* ALLOWED_GITHUB_USERS / ALLOWED_GITHUB_ORGS. Owned; github_policy_free. */
struct github_policy {
    char **users; /* lower-cased logins */
    size_t nusers;
    bool anyone; /* "*" in ALLOWED_GITHUB_USERS */
    char **orgs; /* lower-cased organisation logins; none: no organisation check */
    size_t norgs;
};

/* Read the policy from cfg (comma lists, trimmed; case-insensitive). */
void github_policy_load(const struct config *cfg, struct github_policy *out);
/* From literal comma lists (tests). NULL means empty. */
void github_policy_from_lists(const char *users, const char *orgs, struct github_policy *out);
void github_policy_free(struct github_policy *p);

/* Whether login passes ALLOWED_GITHUB_USERS ("*" or listed, case-insensitive). Empty list:
 * nobody. */
bool github_user_allowed(const struct github_policy *p, const char *login);
/* Whether one of member_orgs[0..n) (logins from /user/orgs) is allowed; true when no
 * organisations are configured. A user must pass both checks. */
bool github_orgs_allowed(const struct github_policy *p, char *const *member_orgs, size_t n);

/* The token endpoint's JSON answer. GW_OK and *access_token (caller frees); or
 * GW_ERR_PROTOCOL with *error set to GitHub's error code (copied into error_out, at most
 * error_cap bytes), e.g. "bad_verification_code"; GW_ERR_INVALID when the body is not the
 * expected JSON. */
enum gw_err github_parse_token_response(const char *body, size_t len, char **access_token, char *error_out,
                                        size_t error_cap);

/* A GitHub user (owned; github_user_clear). email NULL when private and unknown. */
struct github_user {
    long long id;
    char *login;
    char *email;
};
/* /user: needs a positive integer id and a non-empty login. GW_ERR_INVALID otherwise. */
enum gw_err github_parse_user(const char *body, size_t len, struct github_user *out);
void github_user_clear(struct github_user *u);
/* /user/emails: the primary verified address as a new string, or NULL. */
char *github_parse_primary_email(const char *body, size_t len);
/* /user/orgs: the organisation logins (lower-cased), caller frees with github_orgs_free.
 * GW_ERR_INVALID when not a JSON array. */
enum gw_err github_parse_orgs(const char *body, size_t len, char ***orgs, size_t *n);
void github_orgs_free(char **orgs, size_t n);

#endif
