/*
 * fetch_address.h - the fetch service's SSRF rule: which addresses it may connect to.
 */
#ifndef MCPGW_MCP_FETCH_ADDRESS_H
#define MCPGW_MCP_FETCH_ADDRESS_H

#include <stdbool.h>
#include <sys/socket.h>

/* Whether addr (AF_INET or AF_INET6, addrlen bytes) is a public unicast address. Refused
 * (false): unspecified (0/8, ::), loopback (127/8, ::1), private (10/8, 172.16/12,
 * 192.168/16), CGNAT (100.64/10), link-local (169.254/16 with the cloud metadata address
 * 169.254.169.254, fe80::/10), IETF protocol and benchmark ranges (192.0.0/24, 198.18/15),
 * multicast (224/4, ff00::/8), reserved and broadcast (240/4), unique-local (fc00::/7),
 * site-local (fec0::/10), other families, and IPv6 forms that embed a refused IPv4 address
 * (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4 2002::/16). */
bool fetch_address_is_public(const struct sockaddr *addr, socklen_t addrlen);

/* The same rule on text ("10.0.0.1", "::ffff:127.0.0.1"); false when text is not an address. */
bool fetch_address_text_is_public(const char *text);

#endif
