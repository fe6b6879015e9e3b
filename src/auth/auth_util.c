/*
 * auth_util.c - helpers shared by the authorization server's endpoint files: Redis commands that
 * turn an outage into a clean 503, OAuth error answers, resource indicators, clocks and the auth
 * metrics.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "auth/auth.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/label_cap.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/public_url.h"
#include "core/redis.h"
#include "core/redis_info.h"
#include "core/server.h"

static void count_and_log_failure(const char *message, const char *reason, const struct log_field *fields,
                                  int nfields);

char *auth_key(struct http_exchange *ex, const char *kind, const char *id)
{
    const char *prefix = auth_state()->key_prefix;
    size_t n = strlen(prefix) + strlen(kind) + strlen(id) + 1;
    char *key = http_exchange_alloc(ex, n);
    snprintf(key, n, "%s%s%s", prefix, kind, id);
    return key;
}

char *auth_key_alloc(const char *kind, const char *id)
{
    const char *prefix = auth_state()->key_prefix;
    size_t n = strlen(prefix) + strlen(kind) + strlen(id) + 1;
    char *key = gw_malloc(n);
    snprintf(key, n, "%s%s%s", prefix, kind, id);
    return key;
}

const char *auth_resource_audience(struct http_exchange *ex, const char *requested)
{
    const struct auth_state *st = auth_state();
    if (!requested)
        return NULL;
    if (st->nservices == 0) {
        char *canonical = public_url_canonical_resource(requested);
        const char *out = canonical ? http_exchange_strdup(ex, canonical) : NULL;
        free(canonical);
        return out;
    }
    for (size_t i = 0; i < st->nservices; i++)
        if (public_url_same_resource(requested, st->resources[i]))
            return st->resources[i];
    return NULL;
}

long long auth_now(void)
{
    return (long long)time(NULL);
}

long long auth_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void auth_respond_unavailable(struct http_exchange *ex, const char *why)
{
    count_and_log_failure("Could not connect to Redis", "redis_unavailable",
                          (struct log_field[]){log_str("error", why ? why : "unavailable"),
                                               log_str("path", http_request(ex)->path),
                                               log_str("request_id", http_request(ex)->request_id)},
                          3);
    http_exchange_set_error(ex, "redis_unavailable");
    http_response_header(ex, "Cache-Control", "no-store");
    http_response_header(ex, "Retry-After", "5");
    http_respond_error(ex, 503, "temporarily_unavailable",
                       "The authorization server's storage is unavailable");
}

bool auth_redis(struct http_exchange *ex, redis_callback_fn cb, void *arg, int argc, const char **argv)
{
    struct auth_worker *w = auth_worker();
    enum gw_err err =
        w && w->redis ? redis_command_argv(w->redis, cb, arg, argc, argv, NULL) : GW_ERR_UNAVAILABLE;
    if (err == GW_OK)
        return true;
    auth_respond_unavailable(ex, w && w->redis ? redis_client_last_error(w->redis) : gw_strerror(err));
    return false;
}

bool auth_redis_failed(struct http_exchange *ex, const struct redis_result *result)
{
    if (result->err == GW_OK)
        return false;
    auth_respond_unavailable(ex, result->error);
    return true;
}

void auth_respond_oauth_error(struct http_exchange *ex, int status, const char *error,
                              const char *description)
{
    http_response_header(ex, "Cache-Control", "no-store");
    http_response_header(ex, "Pragma", "no-cache");
    http_exchange_set_error(ex, error);
    http_respond_error(ex, status, error, description);
}

void auth_respond_json_nostore(struct http_exchange *ex, int status, const char *json)
{
    http_response_header(ex, "Cache-Control", "no-store");
    http_response_header(ex, "Pragma", "no-cache");
    http_respond_json(ex, status, json);
}

/* ---- metrics ---- */

static struct metric_family *tokens_issued, *active_tokens, *failures, *registrations, *client_requests;

/* Requests by client: the first 100 distinct client ids get their own label value, the rest
 * are counted as "other", so a registration flood cannot blow up the metrics. */
#define CLIENT_LABELS_MAX 100
static struct label_cap *client_labels;
static _Thread_local struct label_cache client_label_cache;

void auth_metrics_register(void)
{
    static const char *const grant[] = {"grant_type"}, *const reason[] = {"reason"},
                             *const result[] = {"result"}, *const client[] = {"client_id"};
    tokens_issued = metrics_register(METRIC_COUNTER, "auth_tokens_issued_total",
                                     "Access tokens issued, by grant type", grant, 1, NULL, 0);
    active_tokens =
        metrics_register(METRIC_GAUGE, "auth_active_tokens",
                         "Access tokens issued and neither expired nor revoked", NULL, 0, NULL, 0);
    failures = metrics_register(METRIC_COUNTER, "auth_failures_total", "Authentication failures, by reason",
                                reason, 1, NULL, 0);
    registrations = metrics_register(METRIC_COUNTER, "auth_client_registrations_total",
                                     "Dynamic client registration requests, by result", result, 1, NULL, 0);
    client_requests = metrics_register(
        METRIC_COUNTER, "auth_client_requests_total",
        "Token endpoint requests by OAuth client (first 100 clients; the rest as other)", client, 1, NULL, 0);
    const char *grant_types[] = {"authorization_code", "refresh_token"};
    for (size_t i = 0; i < 2; i++)
        if (tokens_issued)
            metrics_add(tokens_issued, (const char *[]){grant_types[i]}, 0);
    if (active_tokens)
        metrics_set(active_tokens, NULL, 0);
    if (!client_labels)
        client_labels = label_cap_create(CLIENT_LABELS_MAX);
    redis_info_metrics_register();
}

/* The one place that counts auth_failures_total{reason}: it also logs the failure at ERROR with
 * the same `reason` field, so the metric and the AuthFailureSpike runbook's
 * `jq 'select(.reason == "REASON")'` never disagree. */
static void count_and_log_failure(const char *message, const char *reason, const struct log_field *fields,
                                  int nfields)
{
    if (failures)
        metrics_add(failures, (const char *[]){reason}, 1);
    struct log_field all[AUTH_FAILURE_FIELDS_MAX + 1];
    all[0] = log_str("reason", reason);
    if (nfields > AUTH_FAILURE_FIELDS_MAX)
        nfields = AUTH_FAILURE_FIELDS_MAX;
    for (int i = 0; i < nfields; i++)
        all[i + 1] = fields[i];
    log_write(LOG_ERROR, message, all, nfields + 1);
}

void auth_authentication_failed(const char *reason, const char *what, const struct log_field *fields,
                                int nfields)
{
    /* "authentication failed: ..." so that the guide's filter on ERROR lines whose message
     * contains "auth" finds every refused login, client and token. */
    char message[256];
    snprintf(message, sizeof message, "authentication failed: %s", what);
    count_and_log_failure(message, reason, fields, nfields);
}

void auth_count_token_issued(const char *grant_type)
{
    if (tokens_issued)
        metrics_add(tokens_issued, (const char *[]){grant_type}, 1);
}

void auth_count_registration(const char *result)
{
    if (registrations)
        metrics_add(registrations, (const char *[]){result}, 1);
}

void auth_count_client_request(const char *client_id)
{
    if (!client_requests || !client_id)
        return;
    metrics_add(client_requests,
                (const char *[]){label_cap_get(client_labels, &client_label_cache, client_id)}, 1);
}

/* The active-token gauge: worker 0 trims and counts the active_tokens sorted set (jti scored by
 * exp) every 5 s; one cheap round trip, no key scan. The same tick polls Redis's INFO for the
 * redis_* gauges: auth owns the token store, so its view of Redis is the one operators need. */
static struct event *active_timer;

static void active_count_done(const struct redis_result *result, void *arg)
{
    (void)arg;
    if (result->err == GW_OK && result->reply->type == REDIS_REPLY_INTEGER && active_tokens)
        metrics_set(active_tokens, NULL, (double)result->reply->integer);
}

static void active_trim_done(const struct redis_result *result, void *arg)
{
    (void)result;
    (void)arg;
}

static void active_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct auth_worker *w = arg;
    char *key = auth_key_alloc("active_tokens", "");
    char now[32];
    snprintf(now, sizeof(now), "%lld", auth_now());
    const char *trim[] = {"ZREMRANGEBYSCORE", key, "-inf", now};
    const char *count[] = {"ZCARD", key};
    if (redis_command_argv(w->redis, active_trim_done, NULL, 4, trim, NULL) == GW_OK)
        redis_command_argv(w->redis, active_count_done, NULL, 2, count, NULL);
    free(key);
    redis_info_poll(w->redis);
}

void auth_metrics_worker_start(struct auth_worker *w)
{
    if (w->worker->index != 0 || !w->redis)
        return;
    active_timer = event_new(w->worker->base, -1, EV_PERSIST, active_tick, w);
    struct timeval tv = {5, 0};
    event_add(active_timer, &tv);
    struct timeval soon = {1, 0};
    event_base_once(w->worker->base, -1, EV_TIMEOUT, active_tick, w, &soon);
}

void auth_metrics_worker_stop(struct auth_worker *w)
{
    if (w->worker->index != 0 || !active_timer)
        return;
    event_free(active_timer);
    active_timer = NULL;
}
