/*
 * redis_url.c - REDIS_URL parsing (see redis_url.h).
 *
 * Host names other than localhost are refused on purpose: hiredis 0.14 resolves them with
 * blocking getaddrinfo on the worker thread, on every reconnect.
 */
#include "redis_url.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "alloc.h"

#define REDIS_DEFAULT_PORT 6379

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s[0..len) into a new string; NULL when an escape is malformed or yields NUL. */
static char *percent_decode(const char *s, size_t len)
{
    char *out = gw_malloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '%') {
            out[o++] = s[i];
            continue;
        }
        int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
        int lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(out);
            return NULL;
        }
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
    }
    out[o] = '\0';
    return out;
}

/* Digits only, value in [min, max]. */
static bool parse_number(const char *s, size_t len, long min, long max, long *out)
{
    if (len == 0 || len > 9)
        return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The query string: only db=N is understood. */
static const char *parse_query(struct redis_endpoint *ep, const char *query)
{
    while (*query) {
        size_t len = strcspn(query, "&");
        long db;
        if (len > 3 && strncmp(query, "db=", 3) == 0) {
            if (!parse_number(query + 3, len - 3, 0, 1000000, &db))
                return "db must be a non-negative number";
            ep->db = (int)db;
        } else if (len > 0) {
            return "unknown query parameter (only db=N is supported)";
        }
        query += len;
        if (*query == '&')
            query++;
    }
    return NULL;
}

/* Fill host/port/user/password/db from a redis:// URL. Returns NULL or a static reason. */
static const char *parse_tcp_url(struct redis_endpoint *ep, const char *rest)
{
    size_t authority_len = strcspn(rest, "/?#");
    const char *authority = rest;
    const char *at = NULL;
    for (size_t i = 0; i < authority_len; i++)
        if (authority[i] == '@')
            at = authority + i;
    const char *hostport = authority;
    if (at) {
        const char *colon = memchr(authority, ':', (size_t)(at - authority));
        size_t user_len = colon ? (size_t)(colon - authority) : (size_t)(at - authority);
        if (user_len > 0) {
            ep->user = percent_decode(authority, user_len);
            if (!ep->user)
                return "malformed percent-escape in the user name";
        }
        if (colon) {
            ep->password = percent_decode(colon + 1, (size_t)(at - colon - 1));
            if (!ep->password)
                return "malformed percent-escape in the password";
        }
        hostport = at + 1;
    }
    size_t hostport_len = (size_t)(authority + authority_len - hostport);
    const char *host = hostport, *port_text = NULL;
    size_t host_len;
    if (hostport_len > 0 && hostport[0] == '[') {
        const char *close = memchr(hostport, ']', hostport_len);
        if (!close)
            return "unterminated [IPv6] address";
        host = hostport + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < hostport + hostport_len) {
            if (close[1] != ':')
                return "junk after the [IPv6] address";
            port_text = close + 2;
        }
    } else {
        const char *colon = memchr(hostport, ':', hostport_len);
        host_len = colon ? (size_t)(colon - hostport) : hostport_len;
        if (colon)
            port_text = colon + 1;
    }
    if (host_len == 0)
        return "missing host";
    if (host_len >= INET6_ADDRSTRLEN)
        return "host names other than localhost are not supported: use an IP address";
    char host_copy[INET6_ADDRSTRLEN];
    memcpy(host_copy, host, host_len);
    host_copy[host_len] = '\0';
    unsigned char scratch[sizeof(struct in6_addr)];
    if (strcasecmp(host_copy, "localhost") == 0)
        ep->host = gw_strdup("127.0.0.1");
    else if (inet_pton(AF_INET, host_copy, scratch) == 1 || inet_pton(AF_INET6, host_copy, scratch) == 1)
        ep->host = gw_strdup(host_copy);
    else
        return "host names other than localhost are not supported: use an IP address";

    ep->port = REDIS_DEFAULT_PORT;
    if (port_text) {
        long port;
        size_t port_len = (size_t)(authority + authority_len - port_text);
        if (!parse_number(port_text, port_len, 1, 65535, &port))
            return "port must be a number from 1 to 65535";
        ep->port = (int)port;
    }

    const char *path = authority + authority_len;
    if (*path == '#')
        return "fragment not allowed";
    if (*path == '/') {
        size_t db_len = strcspn(path + 1, "?#");
        long db;
        if (db_len > 0) {
            if (!parse_number(path + 1, db_len, 0, 1000000, &db))
                return "the path must be a database number";
            ep->db = (int)db;
        }
        path += 1 + db_len;
    }
    if (*path == '#')
        return "fragment not allowed";
    if (*path == '?')
        return parse_query(ep, path + 1);
    return NULL;
}

static const char *parse_url(struct redis_endpoint *ep, const char *url)
{
    if (strncasecmp(url, "redis://", 8) == 0) {
        const char *reason = parse_tcp_url(ep, url + 8);
        if (reason)
            return reason;
        size_t n = strlen(ep->host) + 16;
        ep->address = gw_malloc(n);
        bool v6 = strchr(ep->host, ':') != NULL;
        snprintf(ep->address, n, v6 ? "[%s]:%d" : "%s:%d", ep->host, ep->port);
        return NULL;
    }
    if (strncasecmp(url, "unix://", 7) == 0) {
        const char *path = url + 7;
        size_t path_len = strcspn(path, "?");
        if (path_len == 0 || path[0] != '/')
            return "unix:// needs an absolute socket path (unix:///path/to/redis.sock)";
        if (path_len >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return "socket path too long";
        ep->unix_path = gw_strndup(path, path_len);
        ep->address = gw_strdup(ep->unix_path);
        if (path[path_len] == '?')
            return parse_query(ep, path + path_len + 1);
        return NULL;
    }
    if (strncasecmp(url, "rediss://", 9) == 0)
        return "rediss:// (TLS) is not supported by hiredis 0.14; use a loopback address or a Unix socket";
    return "must start with redis:// or unix://";
}

enum gw_err redis_endpoint_parse(const char *url, struct redis_endpoint *out, const char **reason)
{
    memset(out, 0, sizeof(*out));
    *reason = url ? parse_url(out, url) : "empty URL";
    if (*reason) {
        redis_endpoint_free(out);
        return GW_ERR_CONFIG;
    }
    return GW_OK;
}

void redis_endpoint_free(struct redis_endpoint *ep)
{
    free(ep->host);
    free(ep->unix_path);
    free(ep->user);
    if (ep->password) {
        /* the secret should not linger in freed heap memory */
        explicit_bzero(ep->password, strlen(ep->password));
        free(ep->password);
    }
    free(ep->address);
    memset(ep, 0, sizeof(*ep));
}
