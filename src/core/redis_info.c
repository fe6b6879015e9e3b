/*
 * redis_info.c - INFO parsing and the redis_* gauges (see redis_info.h).
 */
#include "redis_info.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "redis.h"

/* ---- parsing ---- */

/* A decimal number filling [p, p+len) exactly, finite and >= 0. */
static bool parse_number(const char *p, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, p, len);
    tmp[len] = '\0';
    if (!((tmp[0] >= '0' && tmp[0] <= '9') || tmp[0] == '.'))
        return false;
    char *end = NULL;
    double v = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

static bool field_is(const char *line, size_t name_len, const char *name)
{
    return strlen(name) == name_len && memcmp(line, name, name_len) == 0;
}

/* "keys=1,expires=0,avg_ttl=0": the value of `name` in that comma list. */
static bool keyspace_value(const char *p, size_t len, const char *name, double *out)
{
    size_t nlen = strlen(name);
    while (len > 0) {
        const char *comma = memchr(p, ',', len);
        size_t item = comma ? (size_t)(comma - p) : len;
        if (item > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=')
            return parse_number(p + nlen + 1, item - nlen - 1, out);
        if (!comma)
            break;
        len -= item + 1;
        p = comma + 1;
    }
    return false;
}

/* "db" followed by one or more digits. */
static bool is_db_name(const char *p, size_t len)
{
    if (len < 3 || len > 8 || memcmp(p, "db", 2) != 0)
        return false;
    for (size_t i = 2; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

static void parse_line(const char *line, size_t len, struct redis_info *info, bool *have_memory,
                       bool *have_clients)
{
    if (len == 0 || line[0] == '#')
        return;
    const char *colon = memchr(line, ':', len);
    if (!colon)
        return;
    size_t name_len = (size_t)(colon - line);
    const char *value = colon + 1;
    size_t value_len = len - name_len - 1;
    double v;
    if (field_is(line, name_len, "used_memory")) {
        if (parse_number(value, value_len, &v)) {
            info->used_memory = v;
            *have_memory = true;
        }
    } else if (field_is(line, name_len, "maxmemory")) {
        if (parse_number(value, value_len, &v))
            info->maxmemory = v;
    } else if (field_is(line, name_len, "connected_clients")) {
        if (parse_number(value, value_len, &v)) {
            info->connected_clients = v;
            *have_clients = true;
        }
    } else if (is_db_name(line, name_len)) {
        double keys = 0, expires = 0;
        if (keyspace_value(value, value_len, "keys", &keys)) {
            (void)keyspace_value(value, value_len, "expires", &expires);
            info->keys += keys;
            info->expiring_keys += expires;
            info->ndbs++;
        }
    }
}

enum gw_err redis_info_parse(const char *text, size_t len, struct redis_info *out)
{
    memset(out, 0, sizeof(*out));
    bool have_memory = false, have_clients = false;
    const char *p = text;
    size_t left = text ? len : 0;
    while (left > 0) {
        const char *nl = memchr(p, '\n', left);
        size_t line_len = nl ? (size_t)(nl - p) : left;
        size_t used = nl ? line_len + 1 : line_len;
        if (line_len > 0 && p[line_len - 1] == '\r')
            line_len--;
        parse_line(p, line_len, out, &have_memory, &have_clients);
        p += used;
        left -= used;
    }
    /* Sums of many huge values can overflow to infinity: refuse rather than publish it. */
    if (!isfinite(out->keys) || !isfinite(out->expiring_keys))
        out->keys = out->expiring_keys = 0;
    return have_memory && have_clients ? GW_OK : GW_ERR_PROTOCOL;
}

/* ---- gauges ---- */

static struct metric_family *up_metric, *memory_metric, *maxmemory_metric, *clients_metric, *keys_metric,
    *expiring_metric;

static void register_once(void)
{
    up_metric = metrics_register(METRIC_GAUGE, "redis_up",
                                 "1 when Redis answered the last INFO poll, 0 when not", NULL, 0, NULL, 0);
    memory_metric = metrics_register(METRIC_GAUGE, "redis_memory_used_bytes",
                                     "Memory Redis has allocated (INFO used_memory)", NULL, 0, NULL, 0);
    maxmemory_metric = metrics_register(METRIC_GAUGE, "redis_memory_max_bytes",
                                        "Redis maxmemory setting (0: no limit)", NULL, 0, NULL, 0);
    clients_metric = metrics_register(METRIC_GAUGE, "redis_connected_clients",
                                      "Client connections open on Redis (every service's, and redis-cli's)",
                                      NULL, 0, NULL, 0);
    keys_metric =
        metrics_register(METRIC_GAUGE, "redis_keys", "Keys in Redis, over every database", NULL, 0, NULL, 0);
    expiring_metric =
        metrics_register(METRIC_GAUGE, "redis_expiring_keys",
                         "Keys in Redis that have a TTL, over every database", NULL, 0, NULL, 0);
    metrics_set(up_metric, NULL, 0);
}

void redis_info_metrics_register(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_once);
}

static void info_done(const struct redis_result *result, void *arg)
{
    (void)arg;
    struct redis_info info;
    if (result->err != GW_OK || result->reply->type != REDIS_REPLY_STRING ||
        redis_info_parse(result->reply->str, result->reply->len, &info) != GW_OK) {
        metrics_set(up_metric, NULL, 0);
        return;
    }
    metrics_set(memory_metric, NULL, info.used_memory);
    metrics_set(maxmemory_metric, NULL, info.maxmemory);
    metrics_set(clients_metric, NULL, info.connected_clients);
    metrics_set(keys_metric, NULL, info.keys);
    metrics_set(expiring_metric, NULL, info.expiring_keys);
    metrics_set(up_metric, NULL, 1);
}

void redis_info_poll(struct redis_client *client)
{
    redis_info_metrics_register();
    if (!client || redis_command(client, info_done, NULL, "INFO") != GW_OK)
        metrics_set(up_metric, NULL, 0);
}
