#include "public_url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "buf.h"
#include "urlform.h"

bool public_url_path_routing(const struct config *cfg)
{
    return strcmp(config_get(cfg, "ROUTING", "subdomain"), "path") == 0;
}

static const char *scheme_of(const struct config *cfg)
{
    const char *s = config_get(cfg, "PUBLIC_SCHEME", NULL);
    if (s && *s)
        return s;
    return config_get_int(cfg, "HTTPS_PORT", 443) == 0 ? "http" : "https";
}

static long long port_of(const struct config *cfg, const char *scheme)
{
    if (config_has(cfg, "PUBLIC_PORT"))
        return config_get_int(cfg, "PUBLIC_PORT", 0);
    if (strcmp(scheme, "https") == 0)
        return config_get_int(cfg, "HTTPS_PORT", 443);
    return config_get_int(cfg, "HTTP_PORT", 80);
}

static char *lowercase(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

/* SCHEME://HOST[:PORT] with host lower-cased and the default port left out. */
static char *origin_for_host(const struct config *cfg, const char *host)
{
    const char *scheme = scheme_of(cfg);
    long long port = port_of(cfg, scheme);
    bool default_port = port == 0 || (strcmp(scheme, "https") == 0 && port == 443) ||
                        (strcmp(scheme, "http") == 0 && port == 80);
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b, "%s://", scheme);
    size_t host_at = b.len;
    buf_append_str(&b, host);
    lowercase(b.data + host_at);
    if (!default_port)
        buf_printf(&b, ":%lld", port);
    return buf_take(&b);
}

static char *path_origin(const struct config *cfg)
{
    const char *o = config_get(cfg, "PUBLIC_ORIGIN", NULL);
    if (o && *o) {
        char *copy = gw_strdup(o);
        size_t n = strlen(copy);
        while (n > 0 && copy[n - 1] == '/')
            copy[--n] = '\0';
        /* lower-case scheme and host (everything up to the first '/' after "://") */
        char *host = strstr(copy, "://");
        char *end = host ? strchr(host + 3, '/') : NULL;
        for (char *p = copy; *p && (!end || p < end); p++)
            *p = (char)tolower((unsigned char)*p);
        return copy;
    }
    return origin_for_host(cfg, config_get(cfg, "BASE_DOMAIN", "localhost"));
}

char *public_url_service_host(const struct config *cfg, const char *service)
{
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b, "%s.%s", service, config_get(cfg, "BASE_DOMAIN", "localhost"));
    return lowercase(buf_take(&b));
}

char *public_url_service_origin(const struct config *cfg, const char *service)
{
    if (public_url_path_routing(cfg))
        return path_origin(cfg);
    char *host = public_url_service_host(cfg, service);
    char *origin = origin_for_host(cfg, host);
    free(host);
    return origin;
}

char *public_url_issuer(const struct config *cfg)
{
    return public_url_service_origin(cfg, "auth");
}

char *public_url_resource(const struct config *cfg, const char *service)
{
    char *origin = public_url_service_origin(cfg, service);
    struct buf b;
    buf_init(&b, 4096);
    if (public_url_path_routing(cfg))
        buf_printf(&b, "%s/%s/mcp", origin, service);
    else
        buf_printf(&b, "%s/mcp", origin);
    free(origin);
    return buf_take(&b);
}

char *public_url_resource_metadata(const struct config *cfg, const char *service)
{
    char *origin = public_url_service_origin(cfg, service);
    struct buf b;
    buf_init(&b, 4096);
    if (public_url_path_routing(cfg))
        buf_printf(&b, "%s/.well-known/oauth-protected-resource/%s/mcp", origin, service);
    else
        buf_printf(&b, "%s/.well-known/oauth-protected-resource/mcp", origin);
    free(origin);
    return buf_take(&b);
}

char *public_url_resource_metadata_document(const struct config *cfg, const char *service)
{
    char *resource = public_url_resource(cfg, service);
    char *issuer = public_url_issuer(cfg);
    json_t *scopes = json_array();
    size_t n = 0;
    char **list = config_get_list(cfg, "MCP_SCOPES", &n);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(scopes, json_string(list[i]));
    config_list_free(list, n);
    json_t *doc =
        json_pack("{s:s, s:[s], s:o, s:[s], s:s}", "resource", resource, "authorization_servers", issuer,
                  "scopes_supported", scopes, "bearer_methods_supported", "header", "resource_name", service);
    char *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(resource);
    free(issuer);
    if (!out)
        gw_oom(0);
    return out;
}

char *public_url_canonical_resource(const char *uri)
{
    struct url_parts u;
    if (!uri || url_split(uri, strlen(uri), &u) != GW_OK || !u.has_authority || !u.host.len ||
        u.has_userinfo || u.has_fragment)
        return NULL;
    bool https = strview_eq_nocase(u.scheme, "https");
    if (!https && !strview_eq_nocase(u.scheme, "http"))
        return NULL;
    struct buf b;
    buf_init(&b, strlen(uri) + 1); /* never longer than uri: nothing is added */
    buf_append_str(&b, https ? "https://" : "http://");
    size_t host_at = b.len;
    buf_printf(&b, u.host_is_ipv6 ? "[%.*s]" : "%.*s", (int)u.host.len, u.host.ptr);
    lowercase(b.data + host_at);
    if (u.port_number >= 0 && u.port_number != (https ? 443 : 80))
        buf_printf(&b, ":%d", u.port_number);
    size_t path_len = u.path.len;
    if (path_len > 0 && u.path.ptr[path_len - 1] == '/')
        path_len--;
    buf_append(&b, u.path.ptr, path_len);
    if (u.has_query)
        buf_printf(&b, "?%.*s", (int)u.query.len, u.query.ptr);
    return buf_take(&b);
}

bool public_url_same_resource(const char *a, const char *b)
{
    char *ca = public_url_canonical_resource(a), *cb = public_url_canonical_resource(b);
    bool same = ca && cb && strcmp(ca, cb) == 0;
    free(ca);
    free(cb);
    return same;
}

static void add_unique(char ***list, size_t *n, const char *name)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i], name) == 0)
            return;
    *list = gw_realloc(*list, (*n + 1) * sizeof(char *));
    (*list)[(*n)++] = gw_strdup(name);
}

char **public_url_mcp_services(const struct config *cfg, size_t *count)
{
    char **list = NULL;
    size_t n = 0;
    if (config_get_bool(cfg, "MCP_ECHO_ENABLED", true))
        add_unique(&list, &n, "mcp-echo");
    if (config_get_bool(cfg, "MCP_FETCH_ENABLED", false))
        add_unique(&list, &n, "mcp-fetch");
    static const char *const suffixes[] = {"_ENABLED", "_URL", "_COMMAND"};
    for (size_t i = 0; i < config_count(cfg); i++) {
        const char *name, *value;
        config_entry(cfg, i, &name, &value, NULL);
        if (!name || strncmp(name, "MCP_", 4) != 0 || !value || !*value)
            continue;
        for (size_t k = 0; k < 3; k++) {
            size_t nlen = strlen(name), slen = strlen(suffixes[k]);
            if (nlen <= 4 + slen || strcmp(name + nlen - slen, suffixes[k]) != 0)
                continue;
            if (k == 0 && !config_get_bool(cfg, name, false))
                continue;
            size_t mid = nlen - 4 - slen;
            /* MCP_<NAME>_ENABLED=false switches a URL or stdio service off, as in the router */
            char enabled_var[160];
            if (k > 0 && mid + 12 < sizeof(enabled_var)) {
                snprintf(enabled_var, sizeof(enabled_var), "MCP_%.*s_ENABLED", (int)mid, name + 4);
                if (config_has(cfg, enabled_var) && !config_get_bool(cfg, enabled_var, true))
                    continue;
            }
            char svc[128];
            if (mid + 5 > sizeof(svc))
                continue;
            memcpy(svc, "mcp-", 4);
            for (size_t j = 0; j < mid; j++) {
                char c = name[4 + j];
                svc[4 + j] = c == '_' ? '-' : (char)tolower((unsigned char)c);
            }
            svc[4 + mid] = '\0';
            /* echo and fetch follow their own ENABLED variables; these two are settings */
            if (strcmp(svc, "mcp-echo") == 0 || strcmp(svc, "mcp-fetch") == 0 ||
                strcmp(svc, "mcp-protocol-version") == 0 || strcmp(svc, "mcp-scopes") == 0)
                continue;
            add_unique(&list, &n, svc);
        }
    }
    *count = n;
    return list;
}
