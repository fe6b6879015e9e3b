/*
 * redis_url.h - REDIS_URL parsing, kept apart from the client so it can be tested (and fuzzed)
 * without a server.
 */
#ifndef MCPGW_CORE_REDIS_URL_H
#define MCPGW_CORE_REDIS_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

/* One Sentinel to ask where the master is. */
struct redis_sentinel {
    char *host; /* IP literal or host name */
    int port;   /* 26379 unless given */
};

/* Where and how to connect. All strings are owned by the struct (redis_endpoint_free). */
struct redis_endpoint {
    char *host;        /* IP literal or host name ("localhost" becomes 127.0.0.1); NULL for a socket
                          and in Sentinel mode */
    bool host_is_name; /* host must be resolved (redis_locate) before connecting */
    int port;          /* 6379 unless given */
    char *unix_path;   /* absolute socket path, or NULL */
    char *user;        /* ACL user name, or NULL */
    char *password;    /* NULL when none */
    int db;            /* 0 unless given */
    char *address;     /* "host:port", "[v6]:port", the socket path, or "sentinel NAME at h:p,h:p":
                          for logs, never the password */
    /* Sentinel mode (redis-sentinel://): the master is whatever these Sentinels name. */
    struct redis_sentinel *sentinels;
    size_t sentinel_count;
    char *sentinel_master;   /* the name the Sentinels monitor it under */
    char *sentinel_password; /* AUTH for the Sentinels themselves, or NULL */
};

/* Parse
 *   redis://[[user][:password]@]host[:port][/db][?db=N]   host: IP literal or host name
 *   unix:///path/to/redis.sock[?db=N]
 *   redis-sentinel://[[user][:password]@]host[:port][,host[:port]...]/MASTER[/db][?db=N&sentinel_password=P]
 * user and password may be percent-encoded; they (and db) are the master's, the Sentinels get
 * AUTH only with sentinel_password. On success fills *out (caller frees with
 * redis_endpoint_free) and returns GW_OK; otherwise returns GW_ERR_CONFIG, leaves *out empty
 * and sets *reason to a static English explanation (never containing the URL). */
enum gw_err redis_endpoint_parse(const char *url, struct redis_endpoint *out, const char **reason);

/* Free the strings (the passwords are wiped first) and zero the struct. */
void redis_endpoint_free(struct redis_endpoint *endpoint);

/* A deep copy of from into *to (caller frees with redis_endpoint_free). */
void redis_endpoint_copy(struct redis_endpoint *to, const struct redis_endpoint *from);

/* True when connecting needs a lookup first (a host name, or Sentinel mode): see redis_locate.h. */
bool redis_endpoint_needs_lookup(const struct redis_endpoint *endpoint);

#endif
