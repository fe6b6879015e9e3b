/*
 * ip_allowlist.c - IP networks as 128-bit prefixes: IPv4 is kept as IPv4-mapped IPv6
 * (::ffff:a.b.c.d, its prefix length plus 96), so one comparison serves both families and a
 * dual-stack listener's "::ffff:10.1.2.3" matches "10.0.0.0/8".
 */
#include "ip_allowlist.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

struct ip_network {
    unsigned char addr[16];
    int prefix_bits; /* 0..128 */
};

struct ip_allowlist {
    size_t count;
    struct ip_network networks[]; /* count entries */
};

static const unsigned char v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* text (NUL-terminated, no blanks) as a 16-byte address; *is_v4 says which family it was. */
static bool parse_address(const char *text, unsigned char out[16], bool *is_v4)
{
    struct in_addr v4;
    if (inet_pton(AF_INET, text, &v4) == 1) {
        memcpy(out, v4_mapped_prefix, 12);
        memcpy(out + 12, &v4, 4);
        *is_v4 = true;
        return true;
    }
    *is_v4 = false;
    return inet_pton(AF_INET6, text, out) == 1;
}

/* "ADDR" or "ADDR/BITS", len bytes at entry. */
static bool parse_network(const char *entry, size_t len, struct ip_network *net)
{
    char text[INET6_ADDRSTRLEN + 8];
    if (len == 0 || len >= sizeof(text))
        return false;
    memcpy(text, entry, len);
    text[len] = '\0';
    char *slash = strchr(text, '/');
    long bits = -1;
    if (slash) {
        *slash = '\0';
        const char *digits = slash + 1;
        if (*digits < '0' || *digits > '9' || strlen(digits) > 3)
            return false;
        char *end = NULL;
        bits = strtol(digits, &end, 10);
        if (*end)
            return false;
    }
    bool is_v4 = false;
    if (!parse_address(text, net->addr, &is_v4))
        return false;
    int max = is_v4 ? 32 : 128;
    if (bits > max)
        return false;
    net->prefix_bits = bits < 0 ? 128 : (int)bits + (is_v4 ? 96 : 0);
    return true;
}

static bool network_contains(const struct ip_network *net, const unsigned char addr[16])
{
    int full = net->prefix_bits / 8, rest = net->prefix_bits % 8;
    if (memcmp(net->addr, addr, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (net->addr[full] & mask) == (addr[full] & mask);
}

enum gw_err ip_allowlist_parse(const char *spec, struct ip_allowlist **out, char *why, size_t why_size)
{
    *out = NULL;
    size_t entries = 1;
    for (const char *p = spec; *p; p++)
        entries += *p == ',';
    struct ip_allowlist *list = gw_calloc(1, sizeof(*list) + entries * sizeof(list->networks[0]));
    const char *p = spec;
    for (;;) {
        size_t len = strcspn(p, ",");
        const char *start = p, *end = p + len;
        while (start < end && (*start == ' ' || *start == '\t'))
            start++;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end > start && !parse_network(start, (size_t)(end - start), &list->networks[list->count])) {
            if (why_size)
                snprintf(why, why_size, "\"%.*s\" is not an IP address or CIDR network", (int)(end - start > 64 ? 64 : end - start),
                         start);
            free(list);
            return GW_ERR_INVALID;
        }
        if (end > start)
            list->count++;
        if (!p[len])
            break;
        p += len + 1;
    }
    if (list->count == 0) {
        free(list);
        return GW_OK;
    }
    *out = list;
    return GW_OK;
}

bool ip_allowlist_allows(const struct ip_allowlist *list, const char *addr)
{
    return !list || ip_allowlist_contains(list, addr);
}

bool ip_allowlist_contains(const struct ip_allowlist *list, const char *addr)
{
    if (!list)
        return false;
    unsigned char bytes[16];
    bool is_v4;
    if (!addr || !parse_address(addr, bytes, &is_v4))
        return false;
    for (size_t i = 0; i < list->count; i++)
        if (network_contains(&list->networks[i], bytes))
            return true;
    return false;
}

void ip_allowlist_free(struct ip_allowlist *list)
{
    free(list);
}

bool ip_is_loopback(const char *addr)
{
    static const unsigned char v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    unsigned char bytes[16];
    bool is_v4;
    if (!addr || !parse_address(addr, bytes, &is_v4))
        return false;
    return memcmp(bytes, v6_loopback, 16) == 0 || (memcmp(bytes, v4_mapped_prefix, 12) == 0 && bytes[12] == 127);
}
