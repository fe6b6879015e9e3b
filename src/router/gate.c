#include "gate.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/alloc.h"
#include "core/ip_allowlist.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/server.h"
#include "core/label_cap.h"
#include "ratelimit.h"

/* Distinct client ids and users that get their own label; the rest are counted as "other". */
#define LABEL_CAP 100

/* The label caps are created once by gate_metrics_register and kept for the life of the process. */
static struct label_cap *client_labels, *user_labels;
static _Thread_local struct label_cache client_cache, user_cache;

static struct metric_family *unauthorized_metric;
static struct metric_family *rate_limited_metric;
static struct metric_family *by_client_metric;
static struct metric_family *by_user_metric;

void gate_metrics_register(void)
{
    if (!client_labels) {
        client_labels = label_cap_create(LABEL_CAP);
        user_labels = label_cap_create(LABEL_CAP);
    }
    unauthorized_metric = metrics_register(METRIC_COUNTER, "router_unauthorized_requests_total",
                                           "MCP requests refused by the token check, by service and reason",
                                           (const char *[]){"service", "reason"}, 2, NULL, 0);
    rate_limited_metric =
        metrics_register(METRIC_COUNTER, "router_rate_limit_hits_total",
                         "Requests refused with 429, by limit (mcp, register, token, authorize)",
                         (const char *[]){"limit"}, 1, NULL, 0);
    by_client_metric = metrics_register(METRIC_COUNTER, "router_requests_by_client_total",
                                        "Authorized MCP requests by OAuth client (first 100 clients; "
                                        "the rest as other)",
                                        (const char *[]){"service", "client_id"}, 2, NULL, 0);
    by_user_metric = metrics_register(METRIC_COUNTER, "router_requests_by_user_total",
                                      "Authorized MCP requests by user (first 100 users; the rest as other)",
                                      (const char *[]){"service", "user"}, 2, NULL, 0);
}

/* ---- limits ---- */

static enum gw_err load_rate(const struct config *cfg, const char *name, long long *limit, long long *period,
                             struct buf *errors)
{
    const char *text = config_get(cfg, name, NULL);
    *limit = 0;
    *period = 1;
    if (!text || !*text || strcmp(text, "0") == 0)
        return GW_OK;
    if (config_parse_rate(text, limit, period) != GW_OK || *limit <= 0 || *period <= 0) {
        buf_printf(errors, "ERROR: %s must look like 200/minute (N/second|minute|hour|day)\n", name);
        return GW_ERR_CONFIG;
    }
    return GW_OK;
}

enum gw_err gate_limits_load(const struct config *cfg, struct gate_limits *l, struct buf *errors)
{
    enum gw_err err = load_rate(cfg, "RATE_LIMIT_MCP", &l->mcp_limit, &l->mcp_period, errors);
    if (!err)
        err = load_rate(cfg, "RATE_LIMIT_REGISTER", &l->register_limit, &l->register_period, errors);
    if (!err)
        err = load_rate(cfg, "RATE_LIMIT_TOKEN", &l->token_limit, &l->token_period, errors);
    if (!err)
        err = load_rate(cfg, "RATE_LIMIT_AUTHORIZE", &l->authorize_limit, &l->authorize_period, errors);
    char why[160];
    l->register_trusted = NULL;
    if (!err && ip_allowlist_parse(config_get(cfg, "REGISTRATION_TRUSTED_NETWORKS", ""), &l->register_trusted,
                                   why, sizeof(why)) != GW_OK) {
        buf_printf(errors, "ERROR: Invalid value for REGISTRATION_TRUSTED_NETWORKS: %s\n", why);
        err = GW_ERR_CONFIG;
    }
    size_t n = 0, used = 0;
    char **scopes = config_get_list(cfg, "MCP_SCOPES", &n);
    l->required_scope[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(l->required_scope + used, sizeof(l->required_scope) - used, "%s%s", i ? " " : "",
                         scopes[i]);
        if (w < 0 || (size_t)w >= sizeof(l->required_scope) - used)
            break;
        used += (size_t)w;
    }
    config_list_free(scopes, n);
    return err;
}

void gate_limits_free(struct gate_limits *l)
{
    ip_allowlist_free(l->register_trusted);
    l->register_trusted = NULL;
}

/* ---- refusals ---- */

static void refuse_token(struct http_exchange *ex, const struct router_service *svc,
                         enum token_check_result result, const char *reason, const char *required_scope)
{
    char challenge[2048];
    const char *error = "invalid_token";
    if (result == TOKEN_MISSING) {
        snprintf(challenge, sizeof(challenge), "Bearer resource_metadata=\"%s\"", svc->metadata_url);
        error = "unauthorized";
    } else if (result == TOKEN_INSUFFICIENT_SCOPE) {
        snprintf(challenge, sizeof(challenge),
                 "Bearer resource_metadata=\"%s\", error=\"insufficient_scope\", scope=\"%s\"",
                 svc->metadata_url, required_scope);
        error = "insufficient_scope";
    } else {
        snprintf(challenge, sizeof(challenge), "Bearer resource_metadata=\"%s\", error=\"invalid_token\"",
                 svc->metadata_url);
    }
    metrics_add(unauthorized_metric, (const char *[]){svc->name, result == TOKEN_MISSING ? "missing" : error},
                1);
    http_exchange_set_error(ex, result == TOKEN_MISSING ? "missing_token" : (reason ? reason : error));
    http_response_header(ex, "WWW-Authenticate", challenge);
    if (result == TOKEN_INSUFFICIENT_SCOPE)
        http_respond_error(ex, 403, error, "The access token does not grant the scope this resource needs");
    else if (result == TOKEN_MISSING)
        http_respond_error(ex, 401, error, "Authentication required: send an OAuth 2.1 bearer token");
    else
        http_respond_error(ex, 401, error,
                           "The access token is invalid, expired, revoked or for another resource");
}

static void add_rate_headers(struct http_exchange *ex, const struct rate_limit_decision *d, long long period)
{
    char v[64];
    decimal_format(v, d->limit);
    http_response_header(ex, "RateLimit-Limit", v);
    decimal_format(v, d->remaining < 0 ? 0 : d->remaining);
    http_response_header(ex, "RateLimit-Remaining", v);
    decimal_format(v, d->reset_seconds < 0 ? 0 : d->reset_seconds);
    http_response_header(ex, "RateLimit-Reset", v);
    size_t n = decimal_format(v, d->limit);
    memcpy(v + n, ";w=", 3);
    decimal_format(v + n + 3, period);
    http_response_header(ex, "RateLimit-Policy", v);
}

/* ---- the asynchronous limit step ---- */

struct gate_pending {
    struct http_exchange *ex; /* NULL once the client left */
    const struct router_service *svc;
    struct token_identity identity;
    bool has_identity;
    const char *limit_name; /* "mcp", "register", ... */
    long long period;
    gate_next_fn next;
    void *arg;
};

static void pending_client_left(struct http_exchange *ex, void *arg)
{
    (void)ex;
    struct gate_pending *p = arg;
    p->ex = NULL; /* the decision callback frees p */
}

static void on_decision(const struct rate_limit_decision *d, void *arg)
{
    struct gate_pending *p = arg;
    struct http_exchange *ex = p->ex;
    if (!ex) {
        free(p);
        return;
    }
    http_exchange_on_close(ex, NULL, NULL);
    add_rate_headers(ex, d, p->period);
    if (!d->allowed) {
        char retry[32];
        snprintf(retry, sizeof(retry), "%lld", d->retry_after > 0 ? d->retry_after : 1);
        http_response_header(ex, "Retry-After", retry);
        metrics_add(rate_limited_metric, (const char *[]){p->limit_name}, 1);
        log_write(LOG_WARNING, "Request refused: rate limit exceeded",
                  (struct log_field[]){log_str("limit", p->limit_name), log_str("route", p->svc->name),
                                       log_str("user", p->has_identity ? p->identity.user_id : ""),
                                       log_str("client_id", p->has_identity ? p->identity.client_id : ""),
                                       log_str("remote_addr", http_request(ex)->remote_addr),
                                       log_str("request_id", http_request(ex)->request_id),
                                       log_bool("local", d->local)},
                  7);
        http_exchange_set_error(ex, "rate_limited");
        char description[128];
        snprintf(description, sizeof(description), "Rate limit exceeded; retry after %s seconds", retry);
        http_respond_error(ex, 429, "rate_limit_exceeded", description);
    } else {
        p->next(ex, p->svc, p->has_identity ? &p->identity : NULL, p->arg);
    }
    free(p);
}

static void limit_then(struct http_exchange *ex, const struct router_service *svc,
                       const struct token_identity *identity, struct rate_limiter *rl, const char *limit_name,
                       const char *key, long long limit, long long period, gate_next_fn next, void *arg)
{
    if (!rl || limit <= 0) {
        next(ex, svc, identity, arg);
        return;
    }
    /* Far from its limit a key is decided at once, inside rate_limit_check (see ratelimit.h);
     * otherwise the decision comes with Redis's answer. */
    struct gate_pending *p = gw_calloc(1, sizeof(*p));
    p->ex = ex;
    p->svc = svc;
    if (identity) {
        p->identity = *identity;
        p->has_identity = true;
    }
    p->limit_name = limit_name;
    p->period = period;
    p->next = next;
    p->arg = arg;
    http_exchange_on_close(ex, pending_client_left, p);
    if (rate_limit_check(rl, key, limit, period, on_decision, p) != GW_OK) {
        /* the limiter could not count: let the request through rather than fail it */
        http_exchange_on_close(ex, NULL, NULL);
        free(p);
        next(ex, svc, identity, arg);
    }
}

/* A worker that has not read the revocation list yet (it just started) holds a request with an
 * otherwise valid token and checks again every UNLOADED_RETRY_MS, up to UNLOADED_WAIT_MS: the
 * first poll normally answers within milliseconds, and a client should not see a 503 for that.
 * Only when the list stays out of reach (Redis down since start) is the answer a 503. */
#define UNLOADED_RETRY_MS 25
#define UNLOADED_WAIT_MS 2000

struct gate_wait {
    struct http_exchange *ex;
    const struct router_service *svc;
    struct token_checker *tc;
    struct rate_limiter *rl;
    const struct gate_limits *limits;
    gate_next_fn next;
    void *arg;
    struct event *timer;
    int waited_ms;
};

static void gate_mcp_attempt(struct http_exchange *ex, const struct router_service *svc,
                             struct token_checker *tc, struct rate_limiter *rl,
                             const struct gate_limits *limits, gate_next_fn next, void *arg, int waited_ms);

static void wait_free(struct gate_wait *w)
{
    event_free(w->timer);
    free(w);
}

static void wait_client_left(struct http_exchange *ex, void *arg)
{
    (void)ex;
    wait_free(arg);
}

static void wait_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gate_wait *w = arg;
    struct gate_wait copy = *w;
    http_exchange_on_close(w->ex, NULL, NULL);
    wait_free(w);
    gate_mcp_attempt(copy.ex, copy.svc, copy.tc, copy.rl, copy.limits, copy.next, copy.arg,
                     copy.waited_ms + UNLOADED_RETRY_MS);
}

/* Whether the request is now held for another try (false: answer it now). */
static bool wait_for_revocations(struct http_exchange *ex, const struct router_service *svc,
                                 struct token_checker *tc, struct rate_limiter *rl,
                                 const struct gate_limits *limits, gate_next_fn next, void *arg,
                                 int waited_ms)
{
    struct event_base *base = http_exchange_base(ex);
    if (waited_ms >= UNLOADED_WAIT_MS || !base)
        return false;
    struct gate_wait *w = gw_calloc(1, sizeof(*w));
    *w = (struct gate_wait){ex, svc, tc, rl, limits, next, arg, evtimer_new(base, wait_over, w), waited_ms};
    if (!w->timer) {
        free(w);
        return false;
    }
    struct timeval tv = {0, UNLOADED_RETRY_MS * 1000};
    evtimer_add(w->timer, &tv);
    http_exchange_on_close(ex, wait_client_left, w);
    return true;
}

void gate_mcp(struct http_exchange *ex, const struct router_service *svc, struct token_checker *tc,
              struct rate_limiter *rl, const struct gate_limits *limits, gate_next_fn next, void *arg)
{
    gate_mcp_attempt(ex, svc, tc, rl, limits, next, arg, 0);
}

static void gate_mcp_attempt(struct http_exchange *ex, const struct router_service *svc,
                             struct token_checker *tc, struct rate_limiter *rl,
                             const struct gate_limits *limits, gate_next_fn next, void *arg, int waited_ms)
{
    if (!tc) {
        http_response_header(ex, "Retry-After", "5");
        http_respond_error(ex, 503, "temporarily_unavailable", "The token check is not ready");
        return;
    }
    if (http_header_count(ex, "Authorization") > 1) {
        http_respond_error(ex, 400, "invalid_request", "More than one Authorization header");
        return;
    }
    struct token_identity identity;
    memset(&identity, 0, sizeof(identity));
    const char *reason = NULL;
    enum token_check_result result =
        token_check(tc, http_header(ex, "Authorization"), svc->resource, &identity, &reason);
    if (result == TOKEN_UNAVAILABLE) {
        if (wait_for_revocations(ex, svc, tc, rl, limits, next, arg, waited_ms))
            return;
        http_exchange_set_error(ex, reason);
        http_response_header(ex, "Retry-After", "1");
        http_respond_error(ex, 503, "temporarily_unavailable",
                           "The router has not loaded the token revocation list yet; retry shortly");
        return;
    }
    if (result != TOKEN_OK) {
        refuse_token(ex, svc, result, reason, limits->required_scope);
        return;
    }
    http_exchange_set_identity(ex, identity.username[0] ? identity.username : identity.user_id,
                               identity.client_id);
    metrics_add(by_client_metric,
                (const char *[]){svc->name, label_cap_get(client_labels, &client_cache, identity.client_id)},
                1);
    metrics_add(by_user_metric,
                (const char *[]){svc->name, label_cap_get(user_labels, &user_cache, identity.user_id)}, 1);
    /* "mcp:<user>:<client>" (both NUL-terminated within their arrays, so this always fits) */
    char key[4 + sizeof(identity.user_id) + 1 + sizeof(identity.client_id)];
    size_t user_len = strlen(identity.user_id), client_len = strlen(identity.client_id);
    memcpy(key, "mcp:", 4);
    memcpy(key + 4, identity.user_id, user_len);
    key[4 + user_len] = ':';
    memcpy(key + 5 + user_len, identity.client_id, client_len + 1);
    limit_then(ex, svc, &identity, rl, "mcp", key, limits->mcp_limit, limits->mcp_period, next, arg);
}

void gate_auth_endpoint(struct http_exchange *ex, const struct router_service *auth, const char *which,
                        struct rate_limiter *rl, const struct gate_limits *limits, gate_next_fn next,
                        void *arg)
{
    long long limit = 0, period = 1;
    const char *name = "register";
    if (strcmp(which, "REGISTER") == 0) {
        /* Hosted connectors (Claude.ai) register from their vendor's few egress addresses for all
         * their users; auth's REGISTRATION_MAX_CLIENTS still bounds them. */
        bool trusted = ip_allowlist_contains(limits->register_trusted, http_request(ex)->remote_addr);
        limit = trusted ? 0 : limits->register_limit;
        period = limits->register_period;
    } else if (strcmp(which, "TOKEN") == 0) {
        limit = limits->token_limit;
        period = limits->token_period;
        name = "token";
    } else {
        limit = limits->authorize_limit;
        period = limits->authorize_period;
        name = "authorize";
    }
    char key[256];
    snprintf(key, sizeof(key), "ip:%s:%s", name, http_request(ex)->remote_addr);
    limit_then(ex, auth, NULL, rl, name, key, limit, period, next, arg);
}
