/*
 * redis_info.h - Redis's own state as Prometheus gauges, read from its INFO answer.
 *
 * The stack runs no redis_exporter: a role that talks to Redis (the authorization server, which
 * owns the token store) polls INFO every few seconds on one worker and publishes
 *   redis_up                 1 when the last INFO was answered, 0 when Redis was unreachable
 *   redis_memory_used_bytes  used_memory
 *   redis_memory_max_bytes   maxmemory (0: no limit)
 *   redis_connected_clients  connected_clients
 *   redis_keys               keys over every database (0 when the keyspace is empty)
 *   redis_expiring_keys      keys with a TTL over every database
 * The names follow redis_exporter's where it has one, so familiar queries carry over.
 */
#ifndef MCPGW_CORE_REDIS_INFO_H
#define MCPGW_CORE_REDIS_INFO_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct redis_client;

/* What INFO says, as far as the gauges need it. */
struct redis_info {
    double used_memory;
    double maxmemory;
    double connected_clients;
    double keys;          /* sum of dbN:keys=... */
    double expiring_keys; /* sum of dbN:expires=... */
    size_t ndbs;          /* dbN lines counted */
};

/* Parse an INFO answer ("# Section" and "field:value" lines, CRLF or LF). Unknown fields and
 * malformed lines are skipped. GW_OK when used_memory and connected_clients were both found
 * (every value then finite and >= 0); GW_ERR_PROTOCOL otherwise. text need not be
 * NUL-terminated; nothing is kept. */
enum gw_err redis_info_parse(const char *text, size_t len, struct redis_info *out);

/* Register the redis_* gauges (once per process; later calls do nothing). redis_up starts at 0
 * until the first answer. */
void redis_info_metrics_register(void);

/* Send INFO on client (on the client's loop thread) and publish the answer when it arrives;
 * redis_up becomes 0 when the command is refused, fails or times out, or the answer does not
 * parse. The client is borrowed; a poll in flight when it is freed just sets redis_up 0. */
void redis_info_poll(struct redis_client *client);

#endif
