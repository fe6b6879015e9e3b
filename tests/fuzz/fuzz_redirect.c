/*
 * fuzz_redirect.c - the plain-HTTP listener's parsers of network bytes: the Host header and
 * request-target that become an HTTPS Location, and ACME challenge tokens. Input: host, a NUL
 * byte, target. Invariants: no crash; an accepted Location is https://, has no CR/LF, space,
 * '@' or backslash before its path, and its authority is the Host's name part; an accepted
 * token contains only base64url characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/acme_challenge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 2);
    memcpy(copy, data, size);
    copy[size] = '\0';
    copy[size + 1] = '\0';
    const char *host = copy;
    const char *target = copy + strlen(copy) + 1; /* after the first NUL, or "" */
    char out[512];
    if (https_location_for(host, target, (int)(size % 3 == 0 ? 443 : 8443), out, sizeof(out))) {
        if (strncmp(out, "https://", 8) != 0)
            abort();
        const char *authority = out + 8;
        size_t alen = strcspn(authority, "/");
        for (size_t i = 0; i < alen; i++)
            if (strchr("\r\n @\\?#", authority[i]))
                abort();
        if (strpbrk(out, "\r\n"))
            abort();
        if (alen == 0)
            abort();
    }
    if (acme_challenge_token_ok(copy, strlen(copy)))
        for (const char *p = copy; *p; p++)
            if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p))
                abort();
    free(copy);
    return 0;
}
