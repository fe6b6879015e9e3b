#include "routes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"
#include "core/public_url.h"
#include "core/urlform.h"

#define MAX_SERVICES 64

static char *lower_dup(const char *s)
{
    char *copy = gw_strdup(s);
    for (char *p = copy; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return copy;
}

static char *format_dup(const char *fmt, const char *a, int b)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), fmt, a, b);
    return gw_strdup(tmp);
}

static void service_fill_public(struct router_service *s, const struct config *cfg)
{
    s->host = public_url_service_host(cfg, s->name);
    s->resource = public_url_resource(cfg, s->name);
    s->metadata_url = public_url_resource_metadata(cfg, s->name);
    s->metadata_document = public_url_resource_metadata_document(cfg, s->name);
}

static enum gw_err add_service(struct route_table *t, const struct config *cfg, const char *name,
                               const char *config_name, const char *host, int port, const char *mcp_path,
                               struct buf *errors)
{
    if (t->nservices >= MAX_SERVICES) {
        buf_printf(errors, "ERROR: more than %d MCP services configured\n", MAX_SERVICES - 1);
        return GW_ERR_CONFIG;
    }
    struct router_service *s = &t->services[t->nservices];
    memset(s, 0, sizeof(*s));
    s->name = lower_dup(name);
    s->config_name = gw_strdup(config_name);
    s->upstream_host = gw_strdup(host);
    s->upstream_port = port;
    s->upstream_authority = format_dup(strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    s->mcp_path = gw_strdup(mcp_path && *mcp_path && strcmp(mcp_path, "/") != 0 ? mcp_path : "/mcp");
    s->index = t->nservices++;
    service_fill_public(s, cfg);
    return GW_OK;
}

/* An upstream given as http://host:port[/path]. */
static enum gw_err add_url_service(struct route_table *t, const struct config *cfg, const char *name,
                                   const char *config_name, const char *var, const char *url,
                                   struct buf *errors)
{
    struct url_parts parts;
    if (url_split(url, strlen(url), &parts) != GW_OK || !strview_eq_nocase(parts.scheme, "http") ||
        !parts.host.len || parts.has_query || parts.has_fragment) {
        buf_printf(errors,
                   "ERROR: %s must be an http://host:port[/path] URL (TLS to upstreams is not supported)\n",
                   var);
        return GW_ERR_CONFIG;
    }
    char host[256], path[1024];
    snprintf(host, sizeof(host), "%.*s", (int)parts.host.len, parts.host.ptr);
    snprintf(path, sizeof(path), "%.*s", (int)parts.path.len, parts.path.ptr);
    return add_service(t, cfg, name, config_name, host, parts.port_number > 0 ? parts.port_number : 80, path,
                       errors);
}

/* "MCP_<NAME>_<SUFFIX>" -> NAME into out; false if var is not of that shape. */
static bool dynamic_name(const char *var, const char *suffix, char *out, size_t outsz)
{
    size_t len = strlen(var), slen = strlen(suffix);
    if (strncmp(var, "MCP_", 4) != 0 || len <= 4 + slen || strcmp(var + len - slen, suffix) != 0)
        return false;
    size_t nlen = len - 4 - slen;
    if (nlen + 1 > outsz)
        return false;
    memcpy(out, var + 4, nlen);
    out[nlen] = '\0';
    return true;
}

/* mcp-<name>: lower case, '_' -> '-' (MCP_MY_TOOL -> mcp-my-tool). */
static void service_name_of(const char *name, char *out, size_t outsz)
{
    size_t n = (size_t)snprintf(out, outsz, "mcp-%s", name);
    for (size_t i = 4; i < n && i < outsz; i++)
        out[i] = out[i] == '_' ? '-' : (char)tolower((unsigned char)out[i]);
}

static enum gw_err add_named_service(struct route_table *t, const struct config *cfg, const char *name,
                                     struct buf *errors)
{
    char var[160], service[160];
    service_name_of(name, service, sizeof(service));
    if (route_find_service(t, service))
        return GW_OK;
    snprintf(var, sizeof(var), "MCP_%s_ENABLED", name);
    bool has_enabled = config_has(cfg, var);
    bool enabled = config_get_bool(cfg, var, false);
    if (has_enabled && !enabled)
        return GW_OK;
    if (strcmp(name, "ECHO") == 0 || strcmp(name, "FETCH") == 0) {
        if (!enabled)
            return GW_OK;
        snprintf(var, sizeof(var), "MCP_%s_PORT", name);
        return add_service(t, cfg, service, name, config_internal_address(cfg),
                           (int)config_get_int(cfg, var, 0), "/mcp", errors);
    }
    snprintf(var, sizeof(var), "MCP_%s_URL", name);
    const char *url = config_get(cfg, var, NULL);
    if (url && *url)
        return add_url_service(t, cfg, service, name, var, url, errors);
    /* A stdio service may leave its port to the rule the supervisor starts it by; validate-env
     * asks the same function, so it refuses what this refuses. */
    int port = config_local_service_port(cfg, name, errors);
    if (port < 0)
        return GW_ERR_CONFIG;
    if (port == 0)
        return GW_OK;
    /* The supervisor starts stdio services on INTERNAL_BIND_ADDRESS; one the operator runs
     * (MCP_<NAME>_ENABLED + _PORT) is expected on 127.0.0.1, as ever. */
    const char *host = config_is_stdio_service(cfg, name) ? config_internal_address(cfg) : "127.0.0.1";
    return add_service(t, cfg, service, name, host, port, "/mcp", errors);
}

enum gw_err route_table_create(const struct config *cfg, struct route_table **out, struct buf *errors)
{
    struct route_table *t = gw_calloc(1, sizeof(*t));
    t->services = gw_calloc(MAX_SERVICES, sizeof(*t->services));
    t->path_mode = public_url_path_routing(cfg);
    t->auth_host = public_url_service_host(cfg, "auth");
    t->admin_host = public_url_service_host(cfg, "traefik");

    enum gw_err err;
    const char *auth_url = config_get(cfg, "AUTH_INTERNAL_URL", NULL);
    if (auth_url && *auth_url)
        err = add_url_service(t, cfg, "auth", "", "AUTH_INTERNAL_URL", auth_url, errors);
    else
        err = add_service(t, cfg, "auth", "", config_internal_address(cfg),
                          (int)config_get_int(cfg, "AUTH_PORT", 8000), "/", errors);

    static const char *const suffixes[] = {"_URL", "_COMMAND", "_ENABLED", "_PORT", NULL};
    size_t n = config_count(cfg);
    for (size_t i = 0; !err && i < n; i++) {
        const char *var = NULL;
        config_entry(cfg, i, &var, NULL, NULL);
        char name[128];
        for (const char *const *suffix = suffixes; !err && var && *suffix; suffix++)
            if (dynamic_name(var, *suffix, name, sizeof(name)))
                err = add_named_service(t, cfg, name, errors);
    }
    if (err) {
        route_table_free(t);
        return err;
    }
    *out = t;
    return GW_OK;
}

void route_table_free(struct route_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nservices; i++) {
        struct router_service *s = &t->services[i];
        free(s->name);
        free(s->config_name);
        free(s->host);
        free(s->upstream_host);
        free(s->upstream_authority);
        free(s->mcp_path);
        free(s->resource);
        free(s->metadata_url);
        free(s->metadata_document);
    }
    free(t->services);
    free(t->auth_host);
    free(t->admin_host);
    free(t);
}

const struct router_service *route_find_service(const struct route_table *t, const char *name)
{
    for (size_t i = 0; i < t->nservices; i++)
        if (strcmp(t->services[i].name, name) == 0)
            return &t->services[i];
    return NULL;
}

/* Length of the host part of a Host value: without ":port" and a trailing dot. */
static size_t host_name_len(const char *host)
{
    size_t len;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        len = close ? (size_t)(close - host) + 1 : strlen(host);
    } else {
        len = strcspn(host, ":");
    }
    if (len > 0 && host[len - 1] == '.')
        len--;
    return len;
}

static bool host_is(const char *host, size_t len, const char *name)
{
    return strlen(name) == len && strncasecmp(host, name, len) == 0;
}

/* path equals prefix, or continues it with '/'. *rest gets what follows the prefix. */
static bool path_under(const char *path, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0 || (path[n] != '\0' && path[n] != '/'))
        return false;
    if (rest)
        *rest = path + n;
    return true;
}

static const char *auth_limit_of(const char *path)
{
    if (strcmp(path, "/register") == 0 || strncmp(path, "/register/", 10) == 0)
        return "REGISTER";
    if (strcmp(path, "/token") == 0)
        return "TOKEN";
    if (strcmp(path, "/authorize") == 0)
        return "AUTHORIZE";
    return NULL;
}

/* Whether tail is a service's MCP endpoint: "/mcp", or "/mcp/" as the Python gateway accepted
 * (clients configured with ".../mcp/" must get the same challenge and service). */
static bool is_mcp_path(const char *tail)
{
    return strcmp(tail, "/mcp") == 0 || strcmp(tail, "/mcp/") == 0;
}

/* The MCP service of the whole origin in path mode, for the root metadata URL: the only one.
 * With several, the root names no resource (a client asks the path-inserted URL first, and
 * auth's root answers the same way). */
static const struct router_service *only_service(const struct route_table *t)
{
    return t->nservices == 2 ? &t->services[1] : NULL;
}

/* "/SVC/tail" in path mode: the service and the tail ("/mcp"). */
static const struct router_service *path_service(const struct route_table *t, const char *path,
                                                 const char **tail)
{
    if (path[0] != '/')
        return NULL;
    const char *seg = path + 1;
    size_t len = strcspn(seg, "/");
    for (size_t i = 1; i < t->nservices; i++)
        if (strlen(t->services[i].name) == len && strncmp(seg, t->services[i].name, len) == 0) {
            *tail = seg + len;
            return &t->services[i];
        }
    return NULL;
}

struct route_match route_resolve(const struct route_table *t, const char *host, const char *path)
{
    struct route_match m = {ROUTE_NOT_FOUND, NULL, NULL};
    const struct router_service *auth = &t->services[0];
    if (!path || path[0] != '/')
        return m;
    size_t hlen = host ? host_name_len(host) : 0;

    /* OAuth first: the authorization server's host, and its metadata on any host. */
    if (path_under(path, "/.well-known/oauth-authorization-server", NULL) ||
        path_under(path, "/.well-known/openid-configuration", NULL)) {
        m.kind = ROUTE_AUTH;
        m.service = auth;
        return m;
    }
    if (!t->path_mode && host && host_is(host, hlen, t->auth_host)) {
        m.kind = ROUTE_AUTH;
        m.service = auth;
        m.auth_limit = auth_limit_of(path);
        return m;
    }
    /* The guide reads the edge's metrics at https://traefik.BASE_DOMAIN/metrics. */
    if (!t->path_mode && host && host_is(host, hlen, t->admin_host)) {
        m.kind = ROUTE_ADMIN;
        return m;
    }

    const struct router_service *svc = NULL;
    const char *rest = NULL;
    if (path_under(path, "/.well-known/oauth-protected-resource", &rest)) {
        /* RFC 9728 §3.1: the resource's path inserted after the well-known name, or the root. */
        if (t->path_mode) {
            const char *tail = NULL;
            if (strcmp(rest, "") == 0)
                svc = only_service(t);
            else if ((svc = path_service(t, rest, &tail)) && !is_mcp_path(tail))
                svc = NULL;
            if (svc) {
                m.kind = ROUTE_RESOURCE_METADATA;
                m.service = svc;
            }
            return m;
        }
        for (size_t i = 1; host && i < t->nservices; i++)
            if (host_is(host, hlen, t->services[i].host))
                svc = &t->services[i];
        if (svc && (strcmp(rest, "") == 0 || is_mcp_path(rest))) {
            m.kind = ROUTE_RESOURCE_METADATA;
            m.service = svc;
        }
        return m;
    }

    const char *tail = NULL;
    if (t->path_mode) {
        svc = path_service(t, path, &tail);
        if (!svc) {
            /* the authorization server lives at the origin root */
            m.kind = ROUTE_AUTH;
            m.service = auth;
            m.auth_limit = auth_limit_of(path);
            return m;
        }
    } else {
        for (size_t i = 1; host && i < t->nservices; i++)
            if (host_is(host, hlen, t->services[i].host))
                svc = &t->services[i];
        tail = path;
    }
    if (!svc)
        return m;
    if (is_mcp_path(tail)) {
        m.kind = ROUTE_MCP;
        m.service = svc;
    } else if (strcmp(tail, "/health") == 0) {
        m.kind = ROUTE_SERVICE_HEALTH;
        m.service = svc;
    }
    return m;
}
