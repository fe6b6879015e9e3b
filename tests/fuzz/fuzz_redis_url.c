/*
 * fuzz_redis_url.c - any bytes as REDIS_URL: parsing never crashes or leaks, a refusal leaves
 * the endpoint empty with a reason, and an accepted endpoint is consistent (numeric host or
 * absolute socket path, port in range, printable address made of host and port only).
 */
#include <arpa/inet.h>
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
        if (err != GW_ERR_CONFIG || !reason || ep.host || ep.unix_path || ep.password || ep.address)
            abort();
    } else {
        unsigned char scratch[16];
        if (!ep.address || reason)
            abort();
        if (ep.host) {
            if (ep.unix_path || ep.port < 1 || ep.port > 65535)
                abort();
            if (inet_pton(AF_INET, ep.host, scratch) != 1 && inet_pton(AF_INET6, ep.host, scratch) != 1)
                abort();
        } else if (!ep.unix_path || ep.unix_path[0] != '/') {
            abort();
        }
        if (ep.db < 0)
            abort();
        /* The printable address is made of host and port (or the path) only: no credentials. */
        char expected[300];
        if (ep.host)
            snprintf(expected, sizeof(expected), strchr(ep.host, ':') ? "[%s]:%d" : "%s:%d", ep.host,
                     ep.port);
        else
            snprintf(expected, sizeof(expected), "%s", ep.unix_path);
        if (strcmp(expected, ep.address) != 0)
            abort();
        redis_endpoint_free(&ep);
    }
    free(url);
    return 0;
}
