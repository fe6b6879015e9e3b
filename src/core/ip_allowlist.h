/*
 * ip_allowlist.h - a list of IP networks a request's client address is checked against
 * (METRICS_ALLOWED_IPS, REGISTRATION_TRUSTED_NETWORKS).
 *
 * Entries are addresses ("192.0.2.7", "::1") or networks in CIDR form ("10.0.0.0/8",
 * "fd00::/8"), comma-separated, blanks ignored. IPv4 and IPv4-mapped IPv6 addresses
 * ("::ffff:10.1.2.3", what a dual-stack listener reports) match the same entries.
 */
#ifndef MCPGW_CORE_IP_ALLOWLIST_H
#define MCPGW_CORE_IP_ALLOWLIST_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct ip_allowlist;

/* Parse spec. On success *out is the list, or NULL when spec has no entries (no restriction);
 * the caller frees it with ip_allowlist_free. On GW_ERR_INVALID, why (why_size bytes, may be 0)
 * names the first bad entry, and *out is NULL. */
enum gw_err ip_allowlist_parse(const char *spec, struct ip_allowlist **out, char *why, size_t why_size);

/* Whether the textual address addr is in one of the networks. A NULL list allows every address;
 * an address that does not parse is never allowed by a list. */
bool ip_allowlist_allows(const struct ip_allowlist *list, const char *addr);

/* Whether the textual address addr is in one of the networks. Unlike ip_allowlist_allows, a NULL
 * list contains no address: for lists that grant an exemption, where empty must mean nobody. */
bool ip_allowlist_contains(const struct ip_allowlist *list, const char *addr);

void ip_allowlist_free(struct ip_allowlist *list);

/* Whether the textual address is a loopback address (127.0.0.0/8, ::1, or 127.x mapped into
 * IPv6): this machine. */
bool ip_is_loopback(const char *addr);

#endif
