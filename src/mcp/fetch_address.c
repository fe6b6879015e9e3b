/*
 * fetch_address.c - the SSRF address classifier (see fetch_address.h).
 */
#include "mcp/fetch_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

static bool ipv4_is_public(uint32_t a) /* host byte order */
{
    static const struct {
        uint32_t net;
        int prefix;
    } refused[] = {
        {0x00000000, 8},  /* "this network", unspecified */
        {0x0A000000, 8},  /* private */
        {0x64400000, 10}, /* CGNAT */
        {0x7F000000, 8},  /* loopback */
        {0xA9FE0000, 16}, /* link-local, cloud metadata */
        {0xAC100000, 12}, /* private */
        {0xC0000000, 24}, /* IETF protocol assignments */
        {0xC0A80000, 16}, /* private */
        {0xC6120000, 15}, /* benchmarking */
        {0xE0000000, 4},  /* multicast */
        {0xF0000000, 4},  /* reserved, broadcast */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        uint32_t mask = refused[i].prefix ? 0xFFFFFFFFu << (32 - refused[i].prefix) : 0;
        if ((a & mask) == refused[i].net)
            return false;
    }
    return true;
}

static uint32_t load_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool ipv6_is_public(const uint8_t *b)
{
    static const uint8_t zeros[12] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const uint8_t nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
    if (memcmp(b, mapped, 12) == 0 || memcmp(b, nat64, 12) == 0)
        return ipv4_is_public(load_be32(b + 12));
    if (memcmp(b, zeros, 12) == 0) /* ::, ::1 and IPv4-compatible ::a.b.c.d */
        return ipv4_is_public(load_be32(b + 12)) && load_be32(b + 12) > 1;
    if (b[0] == 0x20 && b[1] == 0x02) /* 6to4 carries an IPv4 address */
        return ipv4_is_public(load_be32(b + 2));
    if ((b[0] & 0xFE) == 0xFC) /* unique local fc00::/7 */
        return false;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) /* link-local fe80::/10 */
        return false;
    if (b[0] == 0xFE && (b[1] & 0xC0) == 0xC0) /* site-local fec0::/10 (deprecated) */
        return false;
    if (b[0] == 0xFF) /* multicast */
        return false;
    return true;
}

bool fetch_address_is_public(const struct sockaddr *addr, socklen_t addrlen)
{
    if (!addr)
        return false;
    if (addr->sa_family == AF_INET && addrlen >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        return ipv4_is_public(ntohl(in->sin_addr.s_addr));
    }
    if (addr->sa_family == AF_INET6 && addrlen >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        return ipv6_is_public(in6->sin6_addr.s6_addr);
    }
    return false;
}

bool fetch_address_text_is_public(const char *text)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    if (text && inet_pton(AF_INET, text, &in.sin_addr) == 1)
        return fetch_address_is_public((const struct sockaddr *)&in, sizeof(in));
    if (text && inet_pton(AF_INET6, text, &in6.sin6_addr) == 1)
        return fetch_address_is_public((const struct sockaddr *)&in6, sizeof(in6));
    return false;
}
