/*
 * bench_metrics.c - micro-benchmark of the router's per-request metric updates.
 *
 * One "request set" is what `mcpgw router` records for an authorized POST /mcp proxied to a
 * service (labels as the bench/router run produces them: service "echo", method "POST",
 * status "200", one client id, one user):
 *
 *   server_record_request     http_requests_total{service,method,status} +1 and
 *                             http_request_duration_seconds{service,method} (summary)
 *   gate.c                    router_requests_by_client_total{service,client_id} +1
 *                             router_requests_by_user_total{service,user} +1
 *   ratelimit.c               router_rate_limit_checks_total{result,backend} +1
 *   token_check.c             router_token_checks_total{result} +1
 *   upstream.c                router_upstream_requests_total{service,method,status} +1
 *
 * server_record_request is the real one (server.c); the others are written as their call sites
 * write them (series handles resolved on first use for the token and rate-limit checks; the
 * by-values metrics_add with a compound literal for the others, the upstream status formatted
 * into a stack buffer). -DBENCH_BEFORE writes them as they were before handles existed, to
 * measure an older library. Runs the set on 1 and 2 threads, optionally with a
 * thread scraping /metrics meanwhile, and prints nanoseconds per request set (the mean of the
 * threads' own CPU time per set; best of 5 runs).
 *
 *   bench/metrics/run [iterations [case]]  (builds build/release/libmcpgw.a first; case 1..4
 *                                          runs one of the four alone, e.g. under perf stat)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "core/server.h"
#include "core/server_internal.h"

static struct metric_family *by_client, *by_user, *rl_checks, *token_checks, *upstream_requests;
static long iterations = 2000000;
static volatile int scraping;

static void register_router_families(void)
{
    by_client = metrics_register(METRIC_COUNTER, "router_requests_by_client_total", "by client",
                                 (const char *[]){"service", "client_id"}, 2, NULL, 0);
    by_user = metrics_register(METRIC_COUNTER, "router_requests_by_user_total", "by user",
                               (const char *[]){"service", "user"}, 2, NULL, 0);
    rl_checks = metrics_register(METRIC_COUNTER, "router_rate_limit_checks_total", "rate limit checks",
                                 (const char *[]){"result", "backend"}, 2, NULL, 0);
    token_checks = metrics_register(METRIC_COUNTER, "router_token_checks_total", "token checks",
                                    (const char *[]){"result"}, 1, NULL, 0);
    upstream_requests =
        metrics_register(METRIC_COUNTER, "router_upstream_requests_total", "upstream requests",
                         (const char *[]){"service", "method", "status"}, 3, NULL, 0);
}

/* What one proxied request records. The strings stand for the router's: a service name and
 * client/user labels that live as long as the process, static result names. */
#ifdef BENCH_BEFORE
/* The call sites as they were before series handles (build against that library with
 * `make -C bench/metrics before LIB=...`). */
static void request_set(const char *svc, const char *client, const char *user, int i)
{
    metrics_add(token_checks, (const char *[]){"ok"}, 1);
    metrics_add(by_client, (const char *[]){svc, client}, 1);
    metrics_add(by_user, (const char *[]){svc, user}, 1);
    metrics_add(rl_checks, (const char *[]){"allowed", "redis"}, 1);
#else
static struct metric_series *_Atomic token_series[7], *_Atomic rl_series[2][2];

static void request_set(const char *svc, const char *client, const char *user, int i)
{
    int result = 0, allowed = 1, local = 0; /* token_check.c's finish(), ratelimit.c's deliver() */
    metrics_series_add(metrics_series_once(&token_series[result], token_checks, (const char *[]){"ok"}), 1);
    metrics_add(by_client, (const char *[]){svc, client}, 1);
    metrics_add(by_user, (const char *[]){svc, user}, 1);
    metrics_series_add(
        metrics_series_once(&rl_series[allowed][local], rl_checks,
                            (const char *[]){allowed ? "allowed" : "limited", local ? "local" : "redis"}),
        1);
#endif
    char status[24];
    decimal_format(status, 200);
    metrics_add(upstream_requests, (const char *[]){svc, "POST", status}, 1);
    server_record_request("echo", "POST", 200, 0.0005 + (i & 1023) * 1e-6);
}

/* The calling thread's CPU time: robust to the machine being busy (a preempted thread is not
 * charged for the time it waits). */
static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct run {
    pthread_t thread;
    pthread_barrier_t *start;
    double seconds;
};

static void *worker(void *arg)
{
    struct run *r = arg;
    /* per-thread copies, like strings the router keeps per process */
    char *svc = strdup("echo"), *client = strdup("bench-client"), *user = strdup("github:1");
    request_set(svc, client, user, 0); /* first use: label sets and shards created */
    pthread_barrier_wait(r->start);
    double t0 = now_seconds();
    for (long i = 0; i < iterations; i++)
        request_set(svc, client, user, (int)i);
    r->seconds = now_seconds() - t0;
    free(svc);
    free(client);
    free(user);
    return NULL;
}

static void *scraper(void *arg)
{
    (void)arg;
    struct buf out;
    buf_init(&out, 16 << 20);
    while (scraping) {
        buf_reset(&out);
        metrics_render(&out);
        struct timespec ts = {0, 1000000}; /* 1000 scrapes/s: far more than Prometheus does */
        nanosleep(&ts, NULL);
    }
    buf_free(&out);
    return NULL;
}

static double run_threads(int nthreads, int with_scraper)
{
    struct run runs[8];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    pthread_t scrape_thread;
    scraping = with_scraper;
    if (with_scraper)
        pthread_create(&scrape_thread, NULL, scraper, NULL);
    for (int t = 0; t < nthreads; t++) {
        runs[t].start = &start;
        pthread_create(&runs[t].thread, NULL, worker, &runs[t]);
    }
    double total = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(runs[t].thread, NULL);
        total += runs[t].seconds;
    }
    scraping = 0;
    if (with_scraper)
        pthread_join(scrape_thread, NULL);
    pthread_barrier_destroy(&start);
    return total / nthreads / (double)iterations * 1e9;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        iterations = atol(argv[1]);
    size_t only = argc > 2 ? (size_t)atol(argv[2]) : 0; /* 1..4: run that case alone */
    struct server_options opts = {.service = "echo", .workers = 1};
    struct server *srv = server_create(&opts); /* registers the http_* families */
    register_router_families();
    struct {
        int threads, scrape;
    } cases[] = {{1, 0}, {2, 0}, {1, 1}, {2, 1}};
    printf("bench/metrics: %ld request sets (7 metric updates each) per thread\n", iterations);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        if (only && c + 1 != only)
            continue;
        double best = 1e9;
        for (int round = 0; round < 5; round++) {
            double ns = run_threads(cases[c].threads, cases[c].scrape);
            if (ns < best)
                best = ns;
        }
        printf("  %d thread%s%-22s %7.1f ns per request set (best of 5)\n", cases[c].threads,
               cases[c].threads > 1 ? "s" : "", cases[c].scrape ? ", scraped every 1 ms" : "", best);
    }
    server_free(srv);
    return 0;
}
