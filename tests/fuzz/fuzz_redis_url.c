/*
 * fuzz_redis_url.c - any bytes as REDIS_URL: parsing never crashes or leaks, a refusal leaves
 * the endpoint empty with a reason, and an accepted endpoint is consistent (an IP literal, or a
 * host name flagged for lookup and made of name characters only; or an absolute socket path; or
 * Sentinels with a master name), ports in range, a printable address without credentials, and a
 * deep copy that frees cleanly.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    memcpy(url, data, size);
    url[size] = '\0';
    struct redis_endpoint ep;
    const char *reason = NULL;
    enum gw_err err = redis_endpoint_parse(url, &ep, &reason);
    if (err) {
        if (err != GW_ERR_CONFIG || !reason || ep.host || ep.unix_path || ep.password || ep.address ||
            ep.sentinels || ep.sentinel_master || ep.sentinel_password)
            abort();
    } else {
        unsigned char scratch[16];
        if (!ep.address || reason)
            abort();
        bool literal = ep.host && (inet_pton(AF_INET, ep.host, scratch) == 1 ||
                                   inet_pton(AF_INET6, ep.host, scratch) == 1);
        if (ep.host) {
            if (ep.unix_path || ep.sentinels || ep.port < 1 || ep.port > 65535)
                abort();
            if (literal == ep.host_is_name)
                abort();
            if (ep.host_is_name &&
                strspn(ep.host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
                    strlen(ep.host))
                abort();
        } else if (ep.sentinel_count) {
            if (ep.unix_path || !ep.sentinel_master || !ep.sentinel_master[0])
                abort();
            for (size_t i = 0; i < ep.sentinel_count; i++)
                if (!ep.sentinels[i].host || ep.sentinels[i].port < 1 || ep.sentinels[i].port > 65535)
                    abort();
        } else if (!ep.unix_path || ep.unix_path[0] != '/') {
            abort();
        }
        if (ep.db < 0)
            abort();
        /* The printable address is made of hosts and ports (or the path) only: no credentials. */
        char expected[300];
        if (ep.host) {
            snprintf(expected, sizeof(expected), strchr(ep.host, ':') ? "[%s]:%d" : "%s:%d", ep.host,
                     ep.port);
            if (strcmp(expected, ep.address) != 0)
                abort();
        } else if (ep.unix_path) {
            if (strcmp(ep.unix_path, ep.address) != 0)
                abort();
        } else {
            /* "sentinel MASTER at h:p,h:p": made of the master name and the Sentinels only */
            char sentinel_expected[8192];
            int used =
                snprintf(sentinel_expected, sizeof(sentinel_expected), "sentinel %s at ", ep.sentinel_master);
            for (size_t i = 0; i < ep.sentinel_count && used > 0 && (size_t)used < sizeof(sentinel_expected);
                 i++)
                used += snprintf(sentinel_expected + used, sizeof(sentinel_expected) - (size_t)used,
                                 strchr(ep.sentinels[i].host, ':') ? "%s[%s]:%d" : "%s%s:%d", i ? "," : "",
                                 ep.sentinels[i].host, ep.sentinels[i].port);
            if ((size_t)used < sizeof(sentinel_expected) && strcmp(sentinel_expected, ep.address) != 0)
                abort();
        }
        struct redis_endpoint copy;
        redis_endpoint_copy(&copy, &ep);
        if (copy.sentinel_count != ep.sentinel_count || strcmp(copy.address, ep.address) != 0)
            abort();
        redis_endpoint_free(&copy);
        redis_endpoint_free(&ep);
    }
    free(url);
    return 0;
}
