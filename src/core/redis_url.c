/*
 * redis_url.c - REDIS_URL parsing (see redis_url.h).
 *
 * Host names are accepted here; the client resolves them off the event loop (redis_locate.h),
 * because hiredis 0.14 would resolve them with blocking getaddrinfo on the worker thread.
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
#define REDIS_SENTINEL_DEFAULT_PORT 26379
#define REDIS_MAX_SENTINELS 16

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

/* The query string: db=N, and sentinel_password=P in Sentinel mode. */
static const char *parse_query(struct redis_endpoint *ep, const char *query)
{
    while (*query) {
        size_t len = strcspn(query, "&");
        long db;
        if (len > 3 && strncmp(query, "db=", 3) == 0) {
            if (!parse_number(query + 3, len - 3, 0, 1000000, &db))
                return "db must be a non-negative number";
            ep->db = (int)db;
        } else if (ep->sentinels && len >= 18 && strncmp(query, "sentinel_password=", 18) == 0) {
            free(ep->sentinel_password);
            ep->sentinel_password = percent_decode(query + 18, len - 18);
            if (!ep->sentinel_password)
                return "malformed percent-escape in sentinel_password";
        } else if (len > 0) {
            return ep->sentinels ? "unknown query parameter (db=N and sentinel_password=P are supported)"
                                 : "unknown query parameter (only db=N is supported)";
        }
        query += len;
        if (*query == '&')
            query++;
    }
    return NULL;
}

/* A host name as DNS and /etc/hosts know them: letters, digits, '-', '_' (container names such as
 * Compose's project_redis_1) and '.', labels of at most 63
 * characters, 253 in all, and not digits and dots only (that would be a malformed IPv4 address,
 * which getaddrinfo would read in surprising ways, e.g. "10.1" as 10.0.0.1). */
static bool valid_host_name(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    bool only_digits_and_dots = true;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && c != '_' && !(c == '-' && label > 0))
            return false;
        if (!(c >= '0' && c <= '9'))
            only_digits_and_dots = false;
        if (++label > 63)
            return false;
    }
    return !only_digits_and_dots;
}

/* host[:port] or [v6][:port] in text[0..len). *host gets a new string ("localhost" becomes
 * 127.0.0.1, so that what the supervisor starts and what the roles reach are the same address).
 * Returns NULL or a static reason. */
static const char *parse_host_port(const char *text, size_t len, int default_port, char **host_out,
                                   bool *is_name, int *port_out)
{
    const char *host = text, *port_text = NULL;
    size_t host_len;
    bool bracketed = len > 0 && text[0] == '[';
    if (bracketed) {
        const char *close = memchr(text, ']', len);
        if (!close)
            return "unterminated [IPv6] address";
        host = text + 1;
        host_len = (size_t)(close - host);
        if (close + 1 < text + len) {
            if (close[1] != ':')
                return "junk after the [IPv6] address";
            port_text = close + 2;
        }
    } else {
        const char *colon = memchr(text, ':', len);
        host_len = colon ? (size_t)(colon - text) : len;
        if (colon)
            port_text = colon + 1;
    }
    if (host_len == 0)
        return "missing host";
    if (host_len > 253)
        return "host name too long";
    char host_copy[256];
    memcpy(host_copy, host, host_len);
    host_copy[host_len] = '\0';
    unsigned char scratch[sizeof(struct in6_addr)];
    *is_name = false;
    if (strcasecmp(host_copy, "localhost") == 0) {
        *host_out = gw_strdup("127.0.0.1");
    } else if (inet_pton(AF_INET6, host_copy, scratch) == 1) {
        *host_out = gw_strdup(host_copy);
    } else if (bracketed) {
        return "[...] must hold an IPv6 address";
    } else if (inet_pton(AF_INET, host_copy, scratch) == 1) {
        *host_out = gw_strdup(host_copy);
    } else if (valid_host_name(host_copy, host_len)) {
        *host_out = gw_strdup(host_copy);
        *is_name = true;
    } else {
        return "host must be an IP address or a host name (letters, digits, '-', '_' and '.')";
    }
    *port_out = default_port;
    if (port_text) {
        long port;
        if (!parse_number(port_text, (size_t)(text + len - port_text), 1, 65535, &port)) {
            free(*host_out);
            *host_out = NULL;
            return "port must be a number from 1 to 65535";
        }
        *port_out = (int)port;
    }
    return NULL;
}

/* [user][:password]@ at the start of the authority; *rest_out points after it. */
static const char *parse_userinfo(struct redis_endpoint *ep, const char *authority, size_t authority_len,
                                  const char **rest_out)
{
    const char *at = NULL;
    for (size_t i = 0; i < authority_len; i++)
        if (authority[i] == '@')
            at = authority + i;
    *rest_out = authority;
    if (!at)
        return NULL;
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
    *rest_out = at + 1;
    return NULL;
}

/* /db, then ?query; path points at what follows the authority (or the master name). */
static const char *parse_db_and_query(struct redis_endpoint *ep, const char *path)
{
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

/* Fill host/port/user/password/db from a redis:// URL. Returns NULL or a static reason. */
static const char *parse_tcp_url(struct redis_endpoint *ep, const char *rest)
{
    size_t authority_len = strcspn(rest, "/?#");
    const char *hostport;
    const char *reason = parse_userinfo(ep, rest, authority_len, &hostport);
    if (reason)
        return reason;
    reason = parse_host_port(hostport, (size_t)(rest + authority_len - hostport), REDIS_DEFAULT_PORT,
                             &ep->host, &ep->host_is_name, &ep->port);
    if (reason)
        return reason;
    return parse_db_and_query(ep, rest + authority_len);
}

/* redis-sentinel://[userinfo@]h[:p][,h[:p]...]/MASTER[/db][?query] */
static const char *parse_sentinel_url(struct redis_endpoint *ep, const char *rest)
{
    size_t authority_len = strcspn(rest, "/?#");
    const char *list;
    const char *reason = parse_userinfo(ep, rest, authority_len, &list);
    if (reason)
        return reason;
    const char *list_end = rest + authority_len;
    if (list == list_end)
        return "redis-sentinel:// needs at least one Sentinel host[:port]";
    size_t count = 1;
    for (const char *c = list; c < list_end; c++)
        count += *c == ',';
    if (count > REDIS_MAX_SENTINELS)
        return "too many Sentinels (at most 16)";
    ep->sentinels = gw_calloc(count, sizeof(*ep->sentinels));
    for (const char *item = list; item <= list_end;) {
        const char *comma = memchr(item, ',', (size_t)(list_end - item));
        const char *item_end = comma ? comma : list_end;
        struct redis_sentinel *s = &ep->sentinels[ep->sentinel_count];
        bool is_name;
        reason = parse_host_port(item, (size_t)(item_end - item), REDIS_SENTINEL_DEFAULT_PORT, &s->host,
                                 &is_name, &s->port);
        if (reason)
            return reason;
        ep->sentinel_count++;
        item = item_end + 1;
    }
    const char *path = list_end;
    if (*path != '/' || path[1] == '\0' || path[1] == '/' || path[1] == '?' || path[1] == '#')
        return "redis-sentinel:// needs the master's name as the path (redis-sentinel://host:26379/mymaster)";
    size_t name_len = strcspn(path + 1, "/?#");
    ep->sentinel_master = percent_decode(path + 1, name_len);
    if (!ep->sentinel_master)
        return "malformed percent-escape in the master name";
    for (const char *c = ep->sentinel_master; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return "the master name must not contain spaces or control characters";
    return parse_db_and_query(ep, path + 1 + name_len);
}

static void format_sentinel_address(struct redis_endpoint *ep)
{
    size_t n = strlen(ep->sentinel_master) + 32;
    for (size_t i = 0; i < ep->sentinel_count; i++)
        n += strlen(ep->sentinels[i].host) + 10;
    ep->address = gw_malloc(n);
    int used = snprintf(ep->address, n, "sentinel %s at ", ep->sentinel_master);
    for (size_t i = 0; i < ep->sentinel_count; i++) {
        const struct redis_sentinel *s = &ep->sentinels[i];
        bool v6 = strchr(s->host, ':') != NULL;
        used += snprintf(ep->address + used, n - (size_t)used, v6 ? "%s[%s]:%d" : "%s%s:%d", i ? "," : "",
                         s->host, s->port);
    }
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
    if (strncasecmp(url, "redis-sentinel://", 17) == 0) {
        const char *reason = parse_sentinel_url(ep, url + 17);
        if (!reason)
            format_sentinel_address(ep);
        return reason;
    }
    if (strncasecmp(url, "rediss://", 9) == 0)
        return "rediss:// (TLS) is not supported by hiredis 0.14; use a loopback address or a Unix socket";
    return "must start with redis://, redis-sentinel:// or unix://";
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

static void free_secret(char *secret)
{
    if (secret) {
        /* the secret should not linger in freed heap memory */
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
}

void redis_endpoint_free(struct redis_endpoint *ep)
{
    free(ep->host);
    free(ep->unix_path);
    free(ep->user);
    free_secret(ep->password);
    free(ep->address);
    for (size_t i = 0; i < ep->sentinel_count; i++)
        free(ep->sentinels[i].host);
    free(ep->sentinels);
    free(ep->sentinel_master);
    free_secret(ep->sentinel_password);
    memset(ep, 0, sizeof(*ep));
}

static char *strdup_or_null(const char *s)
{
    return s ? gw_strdup(s) : NULL;
}

void redis_endpoint_copy(struct redis_endpoint *to, const struct redis_endpoint *from)
{
    *to = *from;
    to->host = strdup_or_null(from->host);
    to->unix_path = strdup_or_null(from->unix_path);
    to->user = strdup_or_null(from->user);
    to->password = strdup_or_null(from->password);
    to->address = strdup_or_null(from->address);
    to->sentinel_master = strdup_or_null(from->sentinel_master);
    to->sentinel_password = strdup_or_null(from->sentinel_password);
    to->sentinels = NULL;
    if (from->sentinel_count) {
        to->sentinels = gw_calloc(from->sentinel_count, sizeof(*to->sentinels));
        for (size_t i = 0; i < from->sentinel_count; i++) {
            to->sentinels[i].host = gw_strdup(from->sentinels[i].host);
            to->sentinels[i].port = from->sentinels[i].port;
        }
    }
}

bool redis_endpoint_needs_lookup(const struct redis_endpoint *ep)
{
    return ep->host_is_name || ep->sentinel_count > 0;
}
