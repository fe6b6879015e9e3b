/*
 * fuzz_github.c - any bytes as GitHub's answers (the OAuth token endpoint, /user,
 * /user/emails, /user/orgs): the parsers in src/auth/github.c never crash, read only the given
 * bytes, and what they accept has the promised shape (a non-empty token, a positive id and a
 * non-empty login, lower-case organisation logins, a NUL-terminated error code).
 * The first byte picks the parser, so one corpus covers all four.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/github.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    unsigned which = data[0] % 4;
    data++;
    size--;
    /* an exact-size copy, so ASan catches any read past len */
    char *body = malloc(size ? size : 1);
    if (size)
        memcpy(body, data, size);
    switch (which) {
    case 0: {
        char *token = NULL, error[64];
        memset(error, 'x', sizeof(error));
        enum gw_err err = github_parse_token_response(body, size, &token, error, sizeof(error));
        if (err == GW_OK && (!token || !*token))
            abort();
        if (err != GW_OK && token)
            abort();
        if (err == GW_ERR_PROTOCOL && !memchr(error, '\0', sizeof(error)))
            abort();
        free(token);
        break;
    }
    case 1: {
        struct github_user user;
        memset(&user, 0, sizeof(user));
        if (github_parse_user(body, size, &user) == GW_OK && (user.id <= 0 || !user.login || !*user.login))
            abort();
        github_user_clear(&user);
        break;
    }
    case 2:
        free(github_parse_primary_email(body, size));
        break;
    default: {
        char **orgs = NULL;
        size_t n = 0;
        if (github_parse_orgs(body, size, &orgs, &n) == GW_OK) {
            for (size_t i = 0; i < n; i++)
                for (const char *c = orgs[i]; *c; c++)
                    if (isupper((unsigned char)*c))
                        abort();
            github_orgs_free(orgs, n);
        } else if (orgs || n) {
            abort();
        }
        break;
    }
    }
    free(body);
    return 0;
}
