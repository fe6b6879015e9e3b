#include "health.h"

#include <string.h>
#include <time.h>

#include "ip_allowlist.h"
#include "log.h"
#include "metrics.h"
#include "server.h"

#define MAX_CHECKS 16

struct health_check {
    const char *name;
    health_check_fn fn;
    void *arg;
    bool critical;
};

struct health_info {
    const char *name;
    health_info_fn fn;
    void *arg;
};

static struct health_check checks[MAX_CHECKS];
static int nchecks;
static struct health_info infos[MAX_CHECKS];
static int ninfos;
static int64_t started_usec;

void health_add_check(const char *name, health_check_fn fn, void *arg, bool critical)
{
    if (nchecks == MAX_CHECKS)
        return;
    checks[nchecks++] = (struct health_check){name, fn, arg, critical};
}

void health_add_info(const char *name, health_info_fn fn, void *arg)
{
    if (ninfos == MAX_CHECKS)
        return;
    infos[ninfos++] = (struct health_info){name, fn, arg};
}

void health_mark_start(void)
{
    started_usec = server_now_usec();
}

double health_uptime_seconds(void)
{
    return (double)(server_now_usec() - started_usec) / 1e6;
}

void health_handle(struct http_exchange *ex)
{
    struct buf out, detail;
    buf_init(&out, 64 * 1024);
    buf_init(&detail, 4096);
    bool healthy = true;
    buf_append_str(&out, "{\"checks\":{");
    for (int i = 0; i < nchecks; i++) {
        buf_reset(&detail);
        bool ok = checks[i].fn(checks[i].arg, &detail);
        if (!ok && checks[i].critical)
            healthy = false;
        buf_printf(&out, "%s\"%s\":{\"status\":\"%s\"", i ? "," : "", checks[i].name,
                   ok ? "healthy" : "unhealthy");
        if (detail.len) {
            buf_append_str(&out, ",\"detail\":\"");
            buf_append_json_escaped(&out, detail.data, detail.len);
            buf_append_char(&out, '"');
        }
        buf_append_char(&out, '}');
    }
    buf_append_char(&out, '}');
    for (int i = 0; i < ninfos; i++) {
        buf_printf(&out, ",\"%s\":", infos[i].name);
        size_t before = out.len;
        infos[i].fn(infos[i].arg, &out);
        if (out.len == before)
            buf_append_str(&out, "null");
    }
    buf_printf(&out, ",\"service\":\"%s\",\"status\":\"%s\",\"uptime_seconds\":%lld,\"version\":\"%s\"}",
               log_service(), healthy ? "healthy" : "unhealthy", (long long)health_uptime_seconds(),
               MCPGW_VERSION);
    http_response_header(ex, "Cache-Control", "no-store");
    http_respond(ex, healthy ? 200 : 503, "application/json", out.data, out.len);
    buf_free(&out);
    buf_free(&detail);
}

/* METRICS_ALLOWED_IPS; NULL: everyone. Set once at start-up, before the workers run. */
static struct ip_allowlist *metrics_allowed;

enum gw_err health_set_metrics_allowed(const char *spec)
{
    struct ip_allowlist *list = NULL;
    enum gw_err err = ip_allowlist_parse(spec ? spec : "", &list, NULL, 0);
    if (err != GW_OK)
        return err;
    ip_allowlist_free(metrics_allowed);
    metrics_allowed = list;
    return GW_OK;
}

void metrics_handle(struct http_exchange *ex)
{
    /* this machine is always allowed: the ops commands and a local Prometheus read it */
    const char *client = http_client_ip(ex);
    if (!ip_is_loopback(client) && !ip_allowlist_allows(metrics_allowed, client)) {
        http_respond_error(ex, 403, "forbidden", "/metrics is only for the addresses in METRICS_ALLOWED_IPS");
        return;
    }
    struct buf out;
    buf_init(&out, 64 * 1024 * 1024);
    if (metrics_render(&out) != GW_OK) {
        buf_free(&out);
        http_respond_error(ex, 500, "server_error", "metrics exposition too large");
        return;
    }
    http_response_header(ex, "Cache-Control", "no-store");
    http_respond(ex, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
    buf_free(&out);
}

bool health_route(struct http_exchange *ex)
{
    const struct http_request *r = http_request(ex);
    bool health = strcmp(r->path, "/health") == 0;
    bool metrics = strcmp(r->path, "/metrics") == 0;
    if (!health && !metrics)
        return false;
    if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
        http_response_header(ex, "Allow", "GET, HEAD");
        http_respond_error(ex, 405, "method_not_allowed", "Use GET");
        return true;
    }
    if (health)
        health_handle(ex);
    else
        metrics_handle(ex);
    return true;
}
