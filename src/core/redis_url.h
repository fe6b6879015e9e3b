/*
 * redis_url.h - REDIS_URL parsing, kept apart from the client so it can be tested (and fuzzed)
 * without a server.
 */
#ifndef MCPGW_CORE_REDIS_URL_H
#define MCPGW_CORE_REDIS_URL_H

#include "err.h"

/* Where and how to connect. All strings are owned by the struct (redis_endpoint_free). */
struct redis_endpoint {
    char *host;      /* numeric IP address ("localhost" becomes 127.0.0.1); NULL for a socket */
    int port;        /* 6379 unless given */
    char *unix_path; /* absolute socket path, or NULL */
    char *user;      /* ACL user name, or NULL */
    char *password;  /* NULL when none */
    int db;          /* 0 unless given */
    char *address;   /* "host:port", "[v6]:port" or the socket path: for logs, never the password */
};

/* Parse
 *   redis://[[user][:password]@]host[:port][/db][?db=N]   host: IP literal or "localhost"
 *   unix:///path/to/redis.sock[?db=N]
 * user and password may be percent-encoded. On success fills *out (caller frees with
 * redis_endpoint_free) and returns GW_OK; otherwise returns GW_ERR_CONFIG, leaves *out empty
 * and sets *reason to a static English explanation (never containing the URL). */
enum gw_err redis_endpoint_parse(const char *url, struct redis_endpoint *out, const char **reason);

/* Free the strings (the password is wiped first) and zero the struct. */
void redis_endpoint_free(struct redis_endpoint *endpoint);

#endif
