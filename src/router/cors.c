#include "cors.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/alloc.h"

#define EXPOSED_HEADERS                                                                                      \
    "Mcp-Session-Id, WWW-Authenticate, MCP-Protocol-Version, Retry-After, RateLimit-Limit, "                 \
    "RateLimit-Remaining, RateLimit-Reset"
#define ALLOWED_HEADERS                                                                                      \
    "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, " \
    "Mcp-Name"
#define ALLOWED_METHODS "GET, POST, DELETE, OPTIONS"

struct cors_policy {
    bool any;
    char **origins;
    size_t norigins;
};

struct cors_policy *cors_policy_create(const struct config *cfg)
{
    struct cors_policy *p = gw_calloc(1, sizeof(*p));
    p->origins = config_get_list(cfg, "MCP_CORS_ORIGINS", &p->norigins);
    for (size_t i = 0; i < p->norigins; i++) {
        if (strcmp(p->origins[i], "*") == 0)
            p->any = true;
        size_t n = strlen(p->origins[i]);
        while (n > 0 && p->origins[i][n - 1] == '/')
            p->origins[i][--n] = '\0';
    }
    return p;
}

void cors_policy_free(struct cors_policy *p)
{
    if (!p)
        return;
    config_list_free(p->origins, p->norigins);
    free(p);
}

bool cors_origin_allowed(const struct cors_policy *p, const char *origin)
{
    if (p->any)
        return true;
    for (size_t i = 0; i < p->norigins; i++)
        if (strcasecmp(p->origins[i], origin) == 0)
            return true;
    return false;
}

/* Access-Control-Request-Headers names only tokens; reflect them when they are that simple. */
static bool header_list_is_sane(const char *s)
{
    if (strlen(s) > 1024)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_' || c == ',' || c == ' '))
            return false;
    }
    return true;
}

static bool is_preflight(struct http_exchange *ex)
{
    return strcmp(http_request(ex)->method, "OPTIONS") == 0 &&
           http_header(ex, "Access-Control-Request-Method") != NULL;
}

static void answer_preflight(struct http_exchange *ex)
{
    const char *requested = http_header(ex, "Access-Control-Request-Headers");
    http_response_header(ex, "Access-Control-Allow-Methods", ALLOWED_METHODS);
    http_response_header(ex, "Access-Control-Allow-Headers",
                         requested && *requested && header_list_is_sane(requested) ? requested
                                                                                   : ALLOWED_HEADERS);
    http_response_header(ex, "Access-Control-Max-Age", "86400");
    http_respond(ex, 204, NULL, NULL, 0);
}

bool cors_handle_mcp(const struct cors_policy *p, struct http_exchange *ex)
{
    const char *origin = http_header(ex, "Origin");
    if (!origin)
        return false; /* not a browser request: nothing to check or add */
    if (!cors_origin_allowed(p, origin) || http_header_count(ex, "Origin") > 1) {
        http_exchange_set_error(ex, "origin_not_allowed");
        http_respond_error(ex, 403, "origin_not_allowed", "Forbidden: Origin not allowed");
        return true;
    }
    http_response_header(ex, "Access-Control-Allow-Origin", origin);
    http_response_header(ex, "Vary", "Origin");
    if (is_preflight(ex)) {
        answer_preflight(ex);
        return true;
    }
    http_response_header(ex, "Access-Control-Expose-Headers", EXPOSED_HEADERS);
    return false;
}

bool cors_handle_public(struct http_exchange *ex)
{
    if (!http_header(ex, "Origin"))
        return false;
    http_response_header(ex, "Access-Control-Allow-Origin", "*");
    if (is_preflight(ex)) {
        answer_preflight(ex);
        return true;
    }
    return false;
}
