/*
 * acme_paths.c - ACME mode, hosts and file layout (see acme_paths.h).
 */
#include "acme_paths.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "public_url.h"

bool acme_enabled(const struct config *cfg)
{
    return config_get_int(cfg, "HTTPS_PORT", 443) != 0 && !config_has(cfg, "TLS_CERT_FILE") &&
           !config_has(cfg, "TLS_CERT_DIR");
}

static char *data_path(const struct config *cfg, const char *rest)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_printf(&b, "%s/%s", config_get(cfg, "DATA_DIR", "./data"), rest);
    return buf_take(&b);
}

char *acme_challenge_dir(const struct config *cfg)
{
    const char *dir = config_get(cfg, "ACME_CHALLENGE_DIR", NULL);
    if (dir && *dir)
        return gw_strdup(dir);
    return data_path(cfg, "acme-challenge");
}

bool acme_challenge_token_ok(const char *token, size_t len)
{
    if (len == 0 || len > 255)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = token[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return false;
    }
    return true;
}

char *acme_state_dir(const struct config *cfg)
{
    return data_path(cfg, "acme");
}

char *acme_cert_dir(const struct config *cfg)
{
    return data_path(cfg, "acme/certs");
}

static void add_host(char ***list, size_t *count, char *host)
{
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    for (size_t i = 0; i < *count; i++) {
        if (strcmp((*list)[i], host) == 0) {
            free(host);
            return;
        }
    }
    *list = gw_realloc(*list, (*count + 1) * sizeof(**list));
    (*list)[(*count)++] = host;
}

/* The host of an origin "scheme://host[:port]" (an IPv6 literal keeps its brackets). */
static char *origin_host(const char *origin)
{
    const char *h = strstr(origin, "://");
    h = h ? h + 3 : origin;
    size_t len = h[0] == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/");
    char *out = gw_malloc(len + 1);
    memcpy(out, h, len);
    out[len] = '\0';
    return out;
}

char **acme_hosts(const struct config *cfg, size_t *count)
{
    char **list = NULL;
    *count = 0;
    if (public_url_path_routing(cfg)) {
        char *origin = public_url_issuer(cfg);
        add_host(&list, count, origin_host(origin));
        free(origin);
        return list;
    }
    add_host(&list, count, public_url_service_host(cfg, "auth"));
    size_t nservices = 0;
    char **services = public_url_mcp_services(cfg, &nservices);
    for (size_t i = 0; i < nservices; i++)
        add_host(&list, count, public_url_service_host(cfg, services[i]));
    config_list_free(services, nservices);
    return list;
}
