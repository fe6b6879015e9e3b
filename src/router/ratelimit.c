/*
 * ratelimit.c - GCRA rate limits shared through Redis, with a per-worker local fallback
 * (see ratelimit.h).
 *
 * GCRA keeps one number per key: the theoretical arrival time (TAT) of the next request. With
 * T = period / limit (the emission interval) and a burst tolerance of one whole period, a
 * request at `now` is allowed when max(TAT, now) + T - period <= now, and then moves TAT by T.
 * So `limit` requests fit in any period, the (limit+1)-th is refused, and capacity comes back
 * one request per T. The script reads Redis's own clock (TIME) so routers on machines with
 * different clocks agree, and every key it writes carries a TTL of the time until it is idle.
 */
#include "router/ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/redis.h"

/* KEYS[1] the counter; ARGV[1] limit, ARGV[2] period in ms, ARGV[3] n requests to count at once,
 * ARGV[4] f requests already admitted by the router (optimistically, see below) that are counted
 * whatever the limit says. Admits the first k <= n that fit after those f. Returns {k, remaining,
 * reset_ms, retry_after_ms}: remaining after all of them, time until the counter is idle, and
 * when the next request would fit. TAT is stored in ms with 3 decimals (a 13-digit number: exact
 * in Lua's doubles and their string form). The 1e-6 keeps float rounding of period/limit from
 * refusing the limit-th request. */
static const char gcra_script[] =
    "local limit = tonumber(ARGV[1])\n"
    "local period = tonumber(ARGV[2])\n"
    "local n = tonumber(ARGV[3])\n"
    "local f = tonumber(ARGV[4])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000\n"
    "local interval = period / limit\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or now)\n"
    "if tat < now then tat = now end\n"
    "tat = tat + f * interval\n"
    "local k = math.floor((now + period - tat) / interval + 1e-6)\n"
    "if k > n then k = n end\n"
    "if k < 0 then k = 0 end\n"
    "tat = tat + k * interval\n"
    "if k + f > 0 then\n"
    "  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))\n"
    "end\n"
    "local remaining = math.floor((now + period - tat) / interval + 1e-6)\n"
    "if remaining < 0 then remaining = 0 end\n"
    "return {k, remaining, math.ceil(tat - now), math.max(0, math.ceil(tat + interval - period - now))}\n";

#define LOCAL_BUCKETS 4096
#define LOCAL_MAX_ENTRIES 100000 /* a flood of distinct keys must not grow memory without bound */

/* ---- metrics ---- */

static struct metric_family *checks_metric;
static struct metric_series *_Atomic checks_series[2][2]; /* [allowed][local], on first use */
static pthread_once_t metrics_once = PTHREAD_ONCE_INIT;

static void register_metrics_once(void)
{
    checks_metric =
        metrics_register(METRIC_COUNTER, "router_rate_limit_checks_total",
                         "Rate-limit decisions by result (allowed, limited) and backend (redis, local)",
                         (const char *[]){"result", "backend"}, 2, NULL, 0);
}

void rate_limit_register_metrics(void)
{
    pthread_once(&metrics_once, register_metrics_once);
}

/* ---- local GCRA (Redis unavailable) ---- */

struct local_entry {
    struct local_entry *next;
    double tat_ms;
    char key[];
};

struct key_batch;

#define BATCH_BUCKETS 1024

struct rate_limiter {
    struct event_base *base;
    struct redis_client *redis; /* borrowed */
    char *key_prefix;           /* REDIS_KEY_PREFIX "ratelimit:" */
    char sha[41];
    struct key_batch *batches[BATCH_BUCKETS]; /* keys with checks waiting or in flight, or a recent answer */
    struct event *sweep_timer;
    struct event *flush_timer; /* pending while admissions wait to be counted */
    bool flush_armed;          /* flush_timer is pending (asking libevent takes the base's lock) */
    struct local_entry *buckets[LOCAL_BUCKETS];
    size_t local_entries;
    bool outage; /* deciding locally; the WARNING was logged */
    long long local_decisions;
};

static int64_t monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static size_t bucket_of(const char *key)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *key; key++)
        h = (h ^ (unsigned char)*key) * 1099511628211ULL;
    return (size_t)(h % LOCAL_BUCKETS);
}

static void local_purge(struct rate_limiter *rl, double now, bool everything)
{
    for (size_t b = 0; b < LOCAL_BUCKETS; b++) {
        struct local_entry **pp = &rl->buckets[b];
        while (*pp) {
            struct local_entry *e = *pp;
            if (everything || e->tat_ms <= now) { /* idle: same as absent */
                *pp = e->next;
                free(e);
                rl->local_entries--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static void local_decide(struct rate_limiter *rl, const char *key, long long limit, long long period_s,
                         struct rate_limit_decision *d)
{
    double now = wall_ms(), period = (double)period_s * 1000.0, interval = period / (double)limit;
    size_t b = bucket_of(key);
    struct local_entry *e = rl->buckets[b];
    while (e && strcmp(e->key, key) != 0)
        e = e->next;
    if (!e) {
        if (rl->local_entries >= LOCAL_MAX_ENTRIES) {
            local_purge(rl, now, false);
            if (rl->local_entries >= LOCAL_MAX_ENTRIES)
                local_purge(rl, now, true);
        }
        size_t n = strlen(key) + 1;
        e = gw_malloc(sizeof(*e) + n);
        memcpy(e->key, key, n);
        e->tat_ms = now;
        e->next = rl->buckets[b];
        rl->buckets[b] = e;
        rl->local_entries++;
    }
    double tat = e->tat_ms < now ? now : e->tat_ms;
    double new_tat = tat + interval, allow_at = new_tat - period;
    d->limit = limit;
    d->local = true;
    if (allow_at > now) {
        d->allowed = false;
        d->remaining = 0;
        d->reset_seconds = (long long)ceil((tat - now) / 1000.0);
        d->retry_after = (long long)ceil((allow_at - now) / 1000.0);
    } else {
        e->tat_ms = new_tat;
        d->allowed = true;
        d->remaining = (long long)floor((now + period - new_tat) / interval);
        d->reset_seconds = (long long)ceil((new_tat - now) / 1000.0);
        d->retry_after = 0;
    }
    if (d->retry_after < 1 && !d->allowed)
        d->retry_after = 1;
}

/* ---- Redis, one command in flight per key ----
 *
 * Checks of one key (with the same limit and period) that arrive while a command for that key is
 * in flight wait and go together in the next command, which counts all of them at once. So under
 * load a worker sends at most one command per key per Redis round trip instead of one per
 * request, and the decisions are the same as one by one: the first k that fit are admitted.
 *
 * Far from the limit a check does not wait at all: when the last answer from Redis (less what
 * this worker admitted since) leaves more than a margin (a tenth of the limit, at least 10
 * requests), the request is admitted at once and counted by the next command as already
 * admitted. Waiting a Redis round trip per request would otherwise add that round trip to every
 * request's latency. Near the limit every check waits for Redis, so the limit is exact there; the
 * only way past it is for other workers or routers to spend more than the margin between two
 * answers. */

#define OPTIMISTIC_MARGIN_MIN 10
#define HEADROOM_VALID_USEC 1000000 /* an answer older than this is not trusted for headroom */
#define SWEEP_INTERVAL_SEC 2        /* idle keys are forgotten this often */
#define ADMITTED_FLUSH_MS 10        /* admissions alone are sent to Redis at most this often */

struct waiter {
    struct waiter *next;
    rate_limit_fn cb;
    void *arg;
};

struct key_batch {
    struct key_batch *next;  /* hash chain */
    struct rate_limiter *rl; /* NULL once the limiter was freed while a command was in flight */
    long long limit, period;
    struct waiter *waiting, **waiting_tail; /* arrived since the command in flight was sent */
    size_t nwaiting;
    struct waiter *sent; /* counted by the command in flight */
    size_t nsent;
    /* optimistic admissions (see above) */
    long long headroom;          /* `remaining` of the last answer */
    int64_t headroom_until_usec; /* 0: no usable answer */
    long long reset_seconds;     /* of the last answer */
    size_t admitted_waiting;     /* admitted since the command in flight was sent */
    size_t admitted_sent;        /* admitted, counted by the command in flight */
    bool in_flight;
    bool retried; /* NOSCRIPT was answered once with a full EVAL */
    char key[];   /* the caller's key, without prefix */
};

static size_t batch_bucket(const char *key, long long limit, long long period)
{
    return (bucket_of(key) ^ (size_t)(limit * 31 + period)) % BATCH_BUCKETS;
}

static struct key_batch **batch_slot(struct rate_limiter *rl, const char *key, long long limit,
                                     long long period)
{
    struct key_batch **pp = &rl->batches[batch_bucket(key, limit, period)];
    while (*pp && ((*pp)->limit != limit || (*pp)->period != period || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void batch_unlink_free(struct rate_limiter *rl, struct key_batch *b)
{
    if (rl) {
        struct key_batch **pp = batch_slot(rl, b->key, b->limit, b->period);
        if (*pp == b)
            *pp = b->next;
    }
    free(b);
}

static void deliver(struct rate_limiter *rl, const struct rate_limit_decision *d, rate_limit_fn cb, void *arg)
{
    if (d->local) {
        rl->local_decisions++;
        if (!rl->outage) {
            rl->outage = true;
            log_write(
                LOG_WARNING, "Redis unavailable: rate limits are counted locally per worker until it is back",
                (struct log_field[]){log_str("redis", rl->redis ? redis_client_address(rl->redis) : "none")},
                1);
        }
    } else if (rl->outage) {
        rl->outage = false;
        log_write(LOG_INFO, "Redis available again: rate limits are shared",
                  (struct log_field[]){log_str("redis", redis_client_address(rl->redis))}, 1);
    }
    metrics_series_add(metrics_series_once(&checks_series[d->allowed ? 1 : 0][d->local ? 1 : 0],
                                           checks_metric,
                                           (const char *[]){d->allowed ? "allowed" : "limited",
                                                            d->local ? "local" : "redis"}),
                       1);
    cb(d, arg);
}

/* Decide every waiter of list locally, freeing the list. */
static void decide_locally(struct rate_limiter *rl, const char *key, long long limit, long long period,
                           struct waiter *list)
{
    while (list) {
        struct waiter *w = list;
        list = w->next;
        struct rate_limit_decision d = {0};
        local_decide(rl, key, limit, period, &d);
        rate_limit_fn cb = w->cb;
        void *arg = w->arg;
        free(w);
        deliver(rl, &d, cb, arg);
    }
}

static void on_reply(const struct redis_result *result, void *arg);

static enum gw_err send_batch_command(struct key_batch *b, bool full_script)
{
    struct rate_limiter *rl = b->rl;
    char limit[24], period_ms[24], count[24], admitted[24];
    decimal_format(limit, b->limit);
    decimal_format(period_ms, b->period * 1000);
    decimal_format(count, (long long)b->nsent);
    decimal_format(admitted, (long long)b->admitted_sent);
    size_t klen = strlen(rl->key_prefix) + strlen(b->key) + 1;
    char *key = gw_malloc(klen);
    snprintf(key, klen, "%s%s", rl->key_prefix, b->key);
    const char *argv[] = {full_script ? "EVAL" : "EVALSHA",
                          full_script ? gcra_script : rl->sha,
                          "1",
                          key,
                          limit,
                          period_ms,
                          count,
                          admitted};
    enum gw_err err = redis_command_argv(rl->redis, on_reply, b, 8, argv, NULL);
    free(key);
    return err;
}

/* Whether b must stay in the table: something to send or awaited, or an answer still usable. */
static bool batch_needed(const struct key_batch *b, int64_t now)
{
    return b->in_flight || b->waiting || b->admitted_waiting || b->headroom_until_usec > now;
}

static void arm_flush_timer(struct rate_limiter *rl)
{
    if (rl->flush_timer && !rl->flush_armed) {
        struct timeval tv = {0, ADMITTED_FLUSH_MS * 1000};
        evtimer_add(rl->flush_timer, &tv);
        rl->flush_armed = true;
    }
}

/* Send what is waiting. Admissions alone (no check waiting) are left for the flush timer when
 * defer_admitted: under load that makes one command per key per 10 ms, not per round trip. When
 * Redis refuses at once, decide locally now. Returns false when b was freed. */
static bool batch_flush(struct key_batch *b, bool defer_admitted)
{
    struct rate_limiter *rl = b->rl;
    while (!b->in_flight && (b->waiting || b->admitted_waiting)) {
        if (!b->waiting && defer_admitted) {
            arm_flush_timer(rl);
            return true;
        }
        b->sent = b->waiting;
        b->nsent = b->nwaiting;
        b->admitted_sent = b->admitted_waiting;
        b->waiting = NULL;
        b->waiting_tail = &b->waiting;
        b->nwaiting = 0;
        b->admitted_waiting = 0;
        b->retried = false;
        if (rl->redis && send_batch_command(b, false) == GW_OK) {
            b->in_flight = true;
            return true;
        }
        /* Redis is gone: admissions already made stand; the rest is decided locally, and no
         * answer is trusted for headroom until Redis answers again. */
        struct waiter *list = b->sent;
        b->sent = NULL;
        b->nsent = 0;
        b->admitted_sent = 0;
        b->headroom_until_usec = 0;
        b->in_flight = true; /* callbacks below that check this key again only queue */
        decide_locally(rl, b->key, b->limit, b->period, list);
        b->in_flight = false;
    }
    if (!batch_needed(b, monotonic_usec())) {
        batch_unlink_free(rl, b);
        return false;
    }
    return true;
}

/* Count the admissions made since the last commands. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rate_limiter *rl = arg;
    rl->flush_armed = false;
    for (size_t i = 0; i < BATCH_BUCKETS; i++) {
        struct key_batch *b = rl->batches[i];
        while (b) {
            struct key_batch *next = b->next; /* batch_flush may free b */
            if (b->admitted_waiting && !b->in_flight)
                batch_flush(b, false);
            b = next;
        }
    }
}

/* Forget keys with nothing in flight whose last answer is too old to use. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct rate_limiter *rl = arg;
    int64_t now = monotonic_usec();
    for (size_t i = 0; i < BATCH_BUCKETS; i++) {
        struct key_batch **pp = &rl->batches[i];
        while (*pp) {
            struct key_batch *b = *pp;
            if (batch_needed(b, now)) {
                pp = &b->next;
                continue;
            }
            *pp = b->next;
            free(b);
        }
    }
}

static bool parse_reply(const struct redisReply *r, long long out[4])
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4)
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return false;
        out[i] = r->element[i]->integer;
    }
    return true;
}

static void on_reply(const struct redis_result *result, void *arg)
{
    struct key_batch *b = arg;
    struct rate_limiter *rl = b->rl;
    if (!rl) { /* the limiter is gone: drop the waiters */
        for (struct waiter *w = b->sent, *next; w; w = next) {
            next = w->next;
            free(w);
        }
        free(b);
        return;
    }
    if (result->err == GW_ERR_PROTOCOL && result->error && strncmp(result->error, "NOSCRIPT", 8) == 0 &&
        !b->retried) {
        /* Redis restarted or SCRIPT FLUSH: EVAL the text once, which caches it again. */
        b->retried = true;
        if (send_batch_command(b, true) == GW_OK)
            return;
    }
    struct waiter *list = b->sent;
    b->sent = NULL;
    b->nsent = 0;
    b->admitted_sent = 0;
    long long v[4];
    bool answered = result->err == GW_OK && parse_reply(result->reply, v);
    if (answered) {
        b->headroom = v[1];
        b->reset_seconds = (v[2] + 999) / 1000;
        b->headroom_until_usec = monotonic_usec() + HEADROOM_VALID_USEC;
    } else {
        b->headroom_until_usec = 0;
    }
    if (!answered) {
        if (result->err == GW_ERR_PROTOCOL)
            log_write(LOG_ERROR, "Rate limit script failed",
                      (struct log_field[]){log_str("error", result->error ? result->error : "bad reply")}, 1);
        decide_locally(rl, b->key, b->limit, b->period, list);
    } else {
        long long admitted = v[0], i = 0;
        while (list) {
            struct waiter *w = list;
            list = w->next;
            struct rate_limit_decision d = {.limit = b->limit, .local = false};
            d.allowed = i < admitted;
            /* the i-th admitted one saw the remaining count after itself */
            d.remaining = d.allowed ? v[1] + (admitted - 1 - i) : 0;
            d.reset_seconds = (v[2] + 999) / 1000;
            d.retry_after = d.allowed ? 0 : (v[3] + 999) / 1000;
            if (!d.allowed && d.retry_after < 1)
                d.retry_after = 1;
            i++;
            rate_limit_fn cb = w->cb;
            void *cb_arg = w->arg;
            free(w);
            deliver(rl, &d, cb, cb_arg); /* may queue more checks of this key on b */
        }
    }
    b->in_flight = false;
    batch_flush(b, true);
}

static void on_script_loaded(const struct redis_result *result, void *arg)
{
    (void)arg;
    if (result->err == GW_ERR_PROTOCOL)
        log_write(LOG_ERROR, "Rate limit script refused by Redis",
                  (struct log_field[]){log_str("error", result->error ? result->error : "")}, 1);
}

/* ---- public ---- */

enum gw_err rate_limiter_create(struct event_base *base, struct redis_client *redis, const char *key_prefix,
                                struct rate_limiter **out)
{
    rate_limit_register_metrics();
    struct rate_limiter *rl = gw_calloc(1, sizeof(*rl));
    rl->base = base;
    rl->redis = redis;
    rl->sweep_timer = event_new(base, -1, EV_PERSIST, sweep_cb, rl);
    rl->flush_timer = evtimer_new(base, flush_cb, rl);
    struct timeval every = {SWEEP_INTERVAL_SEC, 0};
    if (rl->sweep_timer)
        event_add(rl->sweep_timer, &every);
    const char *prefix = key_prefix ? key_prefix : "";
    size_t n = strlen(prefix) + sizeof("ratelimit:");
    rl->key_prefix = gw_malloc(n);
    snprintf(rl->key_prefix, n, "%sratelimit:", prefix);
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)gcra_script, strlen(gcra_script), digest);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        snprintf(rl->sha + 2 * i, 3, "%02x", digest[i]);
    /* Load once now; if Redis is not up yet (or restarts), the first EVALSHA's NOSCRIPT
     * answer makes on_reply send the whole script instead. */
    if (redis)
        redis_command(redis, on_script_loaded, NULL, "SCRIPT LOAD %s", gcra_script);
    *out = rl;
    return GW_OK;
}

void rate_limiter_free(struct rate_limiter *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < BATCH_BUCKETS; i++) {
        struct key_batch *b = rl->batches[i];
        while (b) {
            struct key_batch *next = b->next;
            for (struct waiter *w = b->waiting, *wn; w; w = wn) {
                wn = w->next;
                free(w);
            }
            b->waiting = NULL;
            if (b->in_flight)
                b->rl = NULL; /* its Redis callback frees it */
            else
                free(b);
            b = next;
        }
    }
    local_purge(rl, 0, true);
    if (rl->sweep_timer)
        event_free(rl->sweep_timer);
    if (rl->flush_timer)
        event_free(rl->flush_timer);
    free(rl->key_prefix);
    free(rl);
}

enum gw_err rate_limit_check(struct rate_limiter *rl, const char *key, long long limit,
                             long long period_seconds, rate_limit_fn cb, void *arg)
{
    if (!key || !cb || limit <= 0 || period_seconds <= 0)
        return GW_ERR_INVALID;
    struct key_batch **slot = batch_slot(rl, key, limit, period_seconds);
    struct key_batch *b = *slot;
    if (!b) {
        size_t n = strlen(key) + 1;
        b = gw_calloc(1, sizeof(*b) + n);
        memcpy(b->key, key, n);
        b->rl = rl;
        b->limit = limit;
        b->period = period_seconds;
        b->waiting_tail = &b->waiting;
        *slot = b;
    }
    long long margin = limit / 10 > OPTIMISTIC_MARGIN_MIN ? limit / 10 : OPTIMISTIC_MARGIN_MIN;
    long long unspent = b->headroom - (long long)(b->admitted_sent + b->admitted_waiting);
    if (rl->redis && !rl->outage && unspent > margin && b->headroom_until_usec > monotonic_usec()) {
        b->admitted_waiting++;
        struct rate_limit_decision d = {.allowed = true,
                                        .limit = limit,
                                        .remaining = unspent - 1,
                                        .reset_seconds = b->reset_seconds,
                                        .local = false};
        if (!b->in_flight)
            batch_flush(b, true); /* keeps b: it has an admission to count */
        deliver(rl, &d, cb, arg);
        return GW_OK;
    }
    struct waiter *w = gw_calloc(1, sizeof(*w));
    w->cb = cb;
    w->arg = arg;
    *b->waiting_tail = w;
    b->waiting_tail = &w->next;
    b->nwaiting++;
    if (!b->in_flight)
        batch_flush(b, false);
    return GW_OK;
}

bool rate_limiter_health_detail(const struct rate_limiter *rl, struct buf *detail)
{
    if (rl->outage) {
        buf_printf(detail, "Redis unavailable: rate limits counted locally per worker (%lld local decisions)",
                   rl->local_decisions);
        return false;
    }
    buf_printf(detail, "shared through Redis");
    return true;
}

bool rate_limiter_local(const struct rate_limiter *rl)
{
    return rl->outage;
}
