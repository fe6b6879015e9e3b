/*
 * upstream_addr.h - the addresses of the router's upstreams, shared by its workers and kept
 * current.
 *
 * An upstream given by IP address (the usual 127.0.0.1) is parsed once. One given by name
 * (MCP_<NAME>_URL=http://tools.internal:3000, AUTH_INTERNAL_URL on another host) is resolved at
 * start-up and then again by one resolver thread: every UPSTREAM_RESOLVE_SECONDS, every
 * UPSTREAM_RESOLVE_RETRY_SECONDS while it does not resolve, and soon after a connect to it
 * failed (at most once per UPSTREAM_RESOLVE_RETRY_SECONDS), so a name that did not resolve at
 * start or whose address changed is picked up without a restart. getaddrinfo blocks, so workers
 * never call it: they copy the current address under a mutex when they open a connection (not
 * per request: connections are pooled).
 *
 * A name can have several addresses (localhost: ::1 and 127.0.0.1 on most machines, where a
 * service often listens on one only). They are kept in getaddrinfo's order and one is current;
 * a failed connect to the current one moves on to the next, so the router settles on the address
 * that answers instead of failing on the first forever.
 */
#ifndef MCPGW_ROUTER_UPSTREAM_ADDR_H
#define MCPGW_ROUTER_UPSTREAM_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "routes.h"

#define UPSTREAM_RESOLVE_SECONDS 30
#define UPSTREAM_RESOLVE_RETRY_SECONDS 5
#define UPSTREAM_MAX_ADDRESSES 4

/* Resolve host:port into out[0..max) (with their lengths in lens), in the order to try them
 * (getaddrinfo's). Returns how many; 0 when it does not resolve. Replaceable for tests. */
typedef size_t (*upstream_resolve_fn)(const char *host, int port, struct sockaddr_storage *out,
                                      socklen_t *lens, size_t max, void *arg);

struct upstream_addrs;

/* Resolve every service of table (borrowed; must outlive the result) once, now, logging the
 * ones that do not resolve, and start the resolver thread if any upstream is a name. resolve
 * NULL: getaddrinfo. Never NULL. */
struct upstream_addrs *upstream_addrs_create(const struct route_table *table, upstream_resolve_fn resolve,
                                             void *resolve_arg);
/* Stop the resolver thread and free. After the workers stopped. NULL is ignored. */
void upstream_addrs_free(struct upstream_addrs *addrs);

/* The current address of service (router_service.index) copied into out; false while it does
 * not resolve. Any thread. */
bool upstream_addrs_get(struct upstream_addrs *addrs, size_t service, struct sockaddr_storage *out,
                        socklen_t *len);
/* A connect to service at failed (the address upstream_addrs_get gave; NULL when it gave none)
 * failed: if that is still the current address, the next one of the name becomes current; and a
 * name is resolved again soon. Any thread; cheap. */
void upstream_addrs_connect_failed(struct upstream_addrs *addrs, size_t service,
                                   const struct sockaddr_storage *failed, socklen_t failed_len);
/* How many addresses service has now (1 for an IP literal, 0 while a name does not resolve). */
size_t upstream_addrs_count(struct upstream_addrs *addrs, size_t service);

#endif
