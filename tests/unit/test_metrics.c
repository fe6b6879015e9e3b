/*
 * test_metrics.c - the metrics registry: exact exposition text, label escaping, summary
 * quantiles and their sliding window, multi-thread sums, process metrics, and promtool.
 */
#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/metrics.h"

static int reset(void **state)
{
    (void)state;
    metrics_reset_for_tests();
    return 0;
}

/* The whole exposition; caller frees. */
static char *render_all(void)
{
    struct buf b;
    buf_init(&b, 16u << 20);
    assert_int_equal(metrics_render(&b), GW_OK);
    return buf_take(&b);
}

/* The exposition without the process_* families (which follow every registered family). */
static char *render_app(void)
{
    char *text = render_all();
    char *process = strstr(text, "# HELP process_cpu_seconds_total");
    assert_non_null(process);
    *process = '\0';
    return text;
}

/* The value of the sample line that starts with `prefix ` (name plus labels); NAN if absent. */
static double sample_value(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            break;
        if (strncmp(line, prefix, n) == 0 && line[n] == ' ')
            return strtod(line + n + 1, NULL);
        line = end + 1;
    }
    return NAN;
}

/* ---- exposition ------------------------------------------------------------------------ */

static void test_counter_exposition(void **state)
{
    (void)state;
    const char *labels[] = {"service", "method", "status"};
    struct metric_family *f =
        metrics_register(METRIC_COUNTER, "http_requests_total", "Total HTTP requests.", labels, 3, NULL, 0);
    assert_non_null(f);
    const char *get_ok[] = {"auth", "GET", "200"};
    const char *post_denied[] = {"auth", "POST", "401"};
    metrics_add(f, get_ok, 1);
    metrics_add(f, post_denied, 1);
    metrics_add(f, get_ok, 2);
    char *text = render_app();
    assert_string_equal(text, "# HELP http_requests_total Total HTTP requests.\n"
                              "# TYPE http_requests_total counter\n"
                              "http_requests_total{service=\"auth\",method=\"GET\",status=\"200\"} 3\n"
                              "http_requests_total{service=\"auth\",method=\"POST\",status=\"401\"} 1\n");
    free(text);
}

static void test_label_and_help_escaping(void **state)
{
    (void)state;
    const char *labels[] = {"reason"};
    struct metric_family *f = metrics_register(METRIC_COUNTER, "auth_failures_total",
                                               "Failures \\ by\nreason \"quoted\".", labels, 1, NULL, 0);
    assert_non_null(f);
    const char *odd[] = {"a\\b\"c\nd"};
    metrics_add(f, odd, 0.5);
    const char *empty[] = {""};
    metrics_add(f, empty, 1);
    char *text = render_app();
    assert_string_equal(text, "# HELP auth_failures_total Failures \\\\ by\\nreason \"quoted\".\n"
                              "# TYPE auth_failures_total counter\n"
                              "auth_failures_total{reason=\"a\\\\b\\\"c\\nd\"} 0.5\n"
                              "auth_failures_total{reason=\"\"} 1\n");
    free(text);
}

static void test_empty_families(void **state)
{
    (void)state;
    const char *labels[] = {"client"};
    assert_non_null(metrics_register(METRIC_COUNTER, "restarts_total", "Restarts.", NULL, 0, NULL, 0));
    assert_non_null(
        metrics_register(METRIC_COUNTER, "client_requests_total", "By client.", labels, 1, NULL, 0));
    assert_non_null(metrics_register(METRIC_GAUGE, "active_tokens", "Active tokens.", NULL, 0, NULL, 0));
    double buckets[] = {1};
    assert_non_null(metrics_register(METRIC_HISTOGRAM, "wait_seconds", "Wait.", NULL, 0, buckets, 1));
    assert_non_null(metrics_register(METRIC_SUMMARY, "lag_seconds", "Lag.", NULL, 0, NULL, 0));
    char *text = render_app();
    assert_string_equal(text, "# HELP restarts_total Restarts.\n"
                              "# TYPE restarts_total counter\n"
                              "restarts_total 0\n"
                              "# HELP client_requests_total By client.\n"
                              "# TYPE client_requests_total counter\n"
                              "# HELP active_tokens Active tokens.\n"
                              "# TYPE active_tokens gauge\n"
                              "active_tokens 0\n"
                              "# HELP wait_seconds Wait.\n"
                              "# TYPE wait_seconds histogram\n"
                              "wait_seconds_bucket{le=\"1\"} 0\n"
                              "wait_seconds_bucket{le=\"+Inf\"} 0\n"
                              "wait_seconds_sum 0\n"
                              "wait_seconds_count 0\n"
                              "# HELP lag_seconds Lag.\n"
                              "# TYPE lag_seconds summary\n"
                              "lag_seconds{quantile=\"0.5\"} NaN\n"
                              "lag_seconds{quantile=\"0.9\"} NaN\n"
                              "lag_seconds{quantile=\"0.99\"} NaN\n"
                              "lag_seconds_sum 0\n"
                              "lag_seconds_count 0\n");
    free(text);
}

static void test_gauge_add_and_set(void **state)
{
    (void)state;
    const char *labels[] = {"upstream"};
    struct metric_family *f =
        metrics_register(METRIC_GAUGE, "upstream_up", "Whether the upstream answers.", labels, 1, NULL, 0);
    assert_non_null(f);
    const char *fetch[] = {"mcp-fetch"}, *echo[] = {"mcp-echo"};
    metrics_add(f, fetch, 5);
    metrics_add(f, fetch, -2);
    metrics_set(f, echo, 0.25);
    metrics_set(f, fetch, 10);
    metrics_add(f, fetch, 1);
    char *text = render_app();
    assert_string_equal(text, "# HELP upstream_up Whether the upstream answers.\n"
                              "# TYPE upstream_up gauge\n"
                              "upstream_up{upstream=\"mcp-fetch\"} 11\n"
                              "upstream_up{upstream=\"mcp-echo\"} 0.25\n");
    free(text);
    metrics_set(f, echo, -1.0 / 0.0);
    metrics_set(f, fetch, 1e20);
    text = render_app();
    assert_non_null(strstr(text, "upstream_up{upstream=\"mcp-echo\"} -Inf\n"));
    assert_non_null(strstr(text, "upstream_up{upstream=\"mcp-fetch\"} 1e+20\n"));
    free(text);
}

static void test_histogram_exposition(void **state)
{
    (void)state;
    const char *labels[] = {"service"};
    double buckets[] = {0.1, 0.5, 1};
    struct metric_family *f = metrics_register(METRIC_HISTOGRAM, "upstream_latency_seconds",
                                               "Upstream latency.", labels, 1, buckets, 3);
    assert_non_null(f);
    const char *auth[] = {"auth"};
    double observations[] = {0.0625, 0.1, 0.25, 2};
    for (size_t i = 0; i < 4; i++)
        metrics_observe(f, auth, observations[i]);
    char *text = render_app();
    assert_string_equal(text, "# HELP upstream_latency_seconds Upstream latency.\n"
                              "# TYPE upstream_latency_seconds histogram\n"
                              "upstream_latency_seconds_bucket{service=\"auth\",le=\"0.1\"} 2\n"
                              "upstream_latency_seconds_bucket{service=\"auth\",le=\"0.5\"} 3\n"
                              "upstream_latency_seconds_bucket{service=\"auth\",le=\"1\"} 3\n"
                              "upstream_latency_seconds_bucket{service=\"auth\",le=\"+Inf\"} 4\n"
                              "upstream_latency_seconds_sum{service=\"auth\"} 2.4125\n"
                              "upstream_latency_seconds_count{service=\"auth\"} 4\n");
    free(text);
}

static void test_histogram_default_buckets(void **state)
{
    (void)state;
    struct metric_family *f =
        metrics_register(METRIC_HISTOGRAM, "proxy_seconds", "Proxy time.", NULL, 0, NULL, 0);
    assert_non_null(f);
    metrics_observe(f, NULL, 0.3);
    char *text = render_app();
    assert_float_equal(sample_value(text, "proxy_seconds_bucket{le=\"0.005\"}"), 0, 0);
    assert_float_equal(sample_value(text, "proxy_seconds_bucket{le=\"0.25\"}"), 0, 0);
    assert_float_equal(sample_value(text, "proxy_seconds_bucket{le=\"0.5\"}"), 1, 0);
    assert_float_equal(sample_value(text, "proxy_seconds_bucket{le=\"10\"}"), 1, 0);
    assert_float_equal(sample_value(text, "proxy_seconds_bucket{le=\"+Inf\"}"), 1, 0);
    free(text);
}

/* ---- summaries ------------------------------------------------------------------------- */

static void assert_near(double got, double want, double relative)
{
    if (!(fabs(got - want) <= relative * want))
        fail_msg("got %g, want %g within %g%%", got, want, relative * 100);
}

static void test_summary_quantiles(void **state)
{
    (void)state;
    const char *labels[] = {"service"};
    struct metric_family *f = metrics_register(METRIC_SUMMARY, "http_request_duration_seconds",
                                               "HTTP request latency.", labels, 1, NULL, 0);
    assert_non_null(f);
    const char *auth[] = {"auth"};
    /* 1 ms .. 1000 ms, shuffled order does not matter */
    for (int i = 1000; i >= 1; i--)
        metrics_observe(f, auth, i / 1000.0);
    const char *router[] = {"router"};
    for (int i = 0; i < 99; i++)
        metrics_observe(f, router, 0.010);
    metrics_observe(f, router, 3.0);
    char *text = render_app();
    assert_near(sample_value(text, "http_request_duration_seconds{service=\"auth\",quantile=\"0.5\"}"), 0.5,
                0.04);
    assert_near(sample_value(text, "http_request_duration_seconds{service=\"auth\",quantile=\"0.9\"}"), 0.9,
                0.04);
    assert_near(sample_value(text, "http_request_duration_seconds{service=\"auth\",quantile=\"0.99\"}"), 0.99,
                0.04);
    assert_near(sample_value(text, "http_request_duration_seconds_sum{service=\"auth\"}"), 500.5, 1e-9);
    assert_float_equal(sample_value(text, "http_request_duration_seconds_count{service=\"auth\"}"), 1000, 0);
    assert_near(sample_value(text, "http_request_duration_seconds{service=\"router\",quantile=\"0.5\"}"),
                0.010, 0.04);
    assert_near(sample_value(text, "http_request_duration_seconds{service=\"router\",quantile=\"0.99\"}"),
                0.010, 0.04);
    free(text);
    /* one slow request in a hundred moves p99 above the guide's alert threshold of 2 s */
    metrics_observe(f, router, 3.0);
    text = render_app();
    assert_true(sample_value(text, "http_request_duration_seconds{service=\"router\",quantile=\"0.99\"}") >
                2);
    free(text);
}

static void test_summary_extremes(void **state)
{
    (void)state;
    struct metric_family *f = metrics_register(METRIC_SUMMARY, "odd_values", "Odd values.", NULL, 0, NULL, 0);
    assert_non_null(f);
    metrics_observe(f, NULL, 0);
    metrics_observe(f, NULL, -5);
    metrics_observe(f, NULL, 1e-12);
    metrics_observe(f, NULL, 1e30);
    metrics_observe(f, NULL, 1.0 / 0.0);
    metrics_observe(f, NULL, 0.0 / 0.0); /* ignored */
    char *text = render_app();
    assert_float_equal(sample_value(text, "odd_values{quantile=\"0.5\"}"), 0, 1e-6);
    assert_true(sample_value(text, "odd_values{quantile=\"0.99\"}") > 1e12);
    assert_float_equal(sample_value(text, "odd_values_count"), 5, 0);
    assert_true(isinf(sample_value(text, "odd_values_sum")));
    free(text);
}

static void test_summary_window_slides(void **state)
{
    (void)state;
    struct metric_family *f = metrics_register(METRIC_SUMMARY, "slide_seconds", "Sliding.", NULL, 0, NULL, 0);
    assert_non_null(f);
    for (int i = 0; i < 100; i++)
        metrics_observe(f, NULL, 10.0);
    metrics_advance_clock_for_tests(160);
    char *text = render_app();
    assert_near(sample_value(text, "slide_seconds{quantile=\"0.5\"}"), 10.0, 0.04); /* still in the window */
    free(text);
    for (int i = 0; i < 10; i++)
        metrics_observe(f, NULL, 1.0);
    /* Slots are whole minutes, so the window is 4 to 5 minutes long: the 10 s observations are
     * now 370 s old (always out), the 1 s ones 210 s (always in). */
    metrics_advance_clock_for_tests(210);
    text = render_app();
    assert_near(sample_value(text, "slide_seconds{quantile=\"0.99\"}"), 1.0, 0.04);
    assert_float_equal(sample_value(text, "slide_seconds_count"), 110, 0); /* _count is for all time */
    free(text);
    metrics_advance_clock_for_tests(600);
    text = render_app();
    assert_true(isnan(sample_value(text, "slide_seconds{quantile=\"0.5\"}")));
    free(text);
    /* a slot reused after the window is cleared before it counts again */
    metrics_observe(f, NULL, 0.5);
    text = render_app();
    assert_near(sample_value(text, "slide_seconds{quantile=\"0.9\"}"), 0.5, 0.04);
    free(text);
}

/* ---- registration ---------------------------------------------------------------------- */

static void test_register_rejects(void **state)
{
    (void)state;
    const char *le[] = {"le"}, *quantile[] = {"quantile"}, *reserved[] = {"__name"}, *camel[] = {"userName"},
               *dup[] = {"a", "a"}, *bad[] = {"a-b"};
    double descending[] = {1, 0.5}, nan_bucket[] = {0.0 / 0.0};
    assert_null(metrics_register(METRIC_COUNTER, "requests", "No _total.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "tokens_total", "Gauge with _total.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_COUNTER, "", "Empty.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_COUNTER, "9lives_total", "Digit first.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_COUNTER, "a:b_total", "Colon.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_COUNTER, "bad-name_total", "Dash.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_COUNTER, "camelCase_total", "Camel.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_COUNTER, "no_help_total", "", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_COUNTER, "no_help_total", NULL, NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "request_duration_ms", "Abbreviated unit.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "request_milliseconds", "Non-base unit.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "payload_kilobytes", "Non-base unit.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "sessions_gauge", "Type in name.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "queue_count", "Reserved suffix.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "queue_sum", "Reserved suffix.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_SUMMARY, "queue_bucket", "Reserved suffix.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "process_open_fds", "Taken.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_HISTOGRAM, "h_seconds", "Le label.", le, 1, NULL, 0));
    assert_null(metrics_register(METRIC_SUMMARY, "s_seconds", "Quantile label.", quantile, 1, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "g_bytes", "Reserved label.", reserved, 1, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "g_bytes", "Camel label.", camel, 1, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "g_bytes", "Duplicate label.", dup, 2, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "g_bytes", "Bad label.", bad, 1, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "g_bytes", "Labels missing.", NULL, 1, NULL, 0));
    assert_null(metrics_register(METRIC_HISTOGRAM, "h_seconds", "Descending.", NULL, 0, descending, 2));
    assert_null(metrics_register(METRIC_HISTOGRAM, "h_seconds", "NaN bucket.", NULL, 0, nan_bucket, 1));
    assert_null(metrics_register((enum metric_type)42, "x_seconds", "Bad type.", NULL, 0, NULL, 0));

    /* allowed: words that merely contain an abbreviation or unit */
    assert_non_null(metrics_register(METRIC_GAUGE, "thermometers_seen", "Not a unit.", NULL, 0, NULL, 0));
    assert_non_null(metrics_register(METRIC_COUNTER, "rate_limit_hits_total", "Hits.", NULL, 0, NULL, 0));
    assert_non_null(metrics_register(METRIC_GAUGE, "g_bytes", "Fine.", NULL, 0, NULL, 0));
    assert_null(metrics_register(METRIC_GAUGE, "g_bytes", "Taken.", NULL, 0, NULL, 0));
    double with_inf[] = {1, 1.0 / 0.0};
    assert_non_null(metrics_register(METRIC_HISTOGRAM, "h_seconds", "Explicit +Inf.", NULL, 0, with_inf, 2));
    char *text = render_app();
    assert_non_null(
        strstr(text, "h_seconds_bucket{le=\"1\"} 0\nh_seconds_bucket{le=\"+Inf\"} 0\nh_seconds_sum"));
    free(text);
}

static void test_misuse_is_ignored(void **state)
{
    (void)state;
    const char *labels[] = {"service"};
    struct metric_family *c = metrics_register(METRIC_COUNTER, "misuse_total", "Misuse.", labels, 1, NULL, 0);
    assert_non_null(c);
    const char *auth[] = {"auth"};
    metrics_add(NULL, auth, 1);
    metrics_observe(NULL, auth, 1);
    metrics_set(NULL, auth, 1);
    metrics_add(c, NULL, 1);   /* label values missing */
    metrics_add(c, auth, -1);  /* counters never go down */
    metrics_add(c, auth, NAN); /* not data */
    metrics_add(c, auth, INFINITY);
    metrics_set(c, auth, 5); /* counters cannot be set */
    metrics_observe(c, auth, 5);
    metrics_add(c, auth, 2);
    char *text = render_app();
    assert_float_equal(sample_value(text, "misuse_total{service=\"auth\"}"), 2, 0);
    free(text);

    struct buf small;
    buf_init(&small, 16);
    assert_int_equal(metrics_render(&small), GW_ERR_TOO_LARGE);
    buf_free(&small);
}

static int collector_calls;
static void collect_tokens(void *arg)
{
    collector_calls++;
    metrics_set(arg, NULL, 42);
}

static void test_collector(void **state)
{
    (void)state;
    struct metric_family *g =
        metrics_register(METRIC_GAUGE, "active_tokens", "Active tokens.", NULL, 0, NULL, 0);
    collector_calls = 0;
    metrics_add_collector(collect_tokens, g);
    char *text = render_app();
    assert_int_equal(collector_calls, 1);
    assert_float_equal(sample_value(text, "active_tokens"), 42, 0);
    free(text);
}

/* ---- threads --------------------------------------------------------------------------- */

#define THREADS 4
#define INCREMENTS 100000

struct thread_families {
    struct metric_family *counter, *labelled, *gauge, *histogram, *summary;
    int id;
};

static void *update_thread(void *arg)
{
    struct thread_families *t = arg;
    char own[16];
    snprintf(own, sizeof(own), "t%d", t->id);
    const char *shared_labels[] = {"shared"}, *own_labels[] = {own};
    for (int i = 0; i < INCREMENTS; i++) {
        metrics_add(t->counter, NULL, 1);
        metrics_add(t->labelled, shared_labels, 1);
        metrics_add(t->labelled, own_labels, 0.5);
        metrics_add(t->gauge, NULL, (i & 1) ? -1 : 1);
        if (i % 10 == 0) {
            metrics_observe(t->histogram, shared_labels, 0.01 * (i % 7));
            metrics_observe(t->summary, NULL, 0.001);
        }
    }
    return NULL;
}

static void test_threads_sum(void **state)
{
    (void)state;
    const char *labels[] = {"who"};
    struct thread_families fam = {
        .counter = metrics_register(METRIC_COUNTER, "events_total", "Events.", NULL, 0, NULL, 0),
        .labelled =
            metrics_register(METRIC_COUNTER, "events_by_who_total", "Events by who.", labels, 1, NULL, 0),
        .gauge = metrics_register(METRIC_GAUGE, "in_flight", "In flight.", NULL, 0, NULL, 0),
        .histogram = metrics_register(METRIC_HISTOGRAM, "work_seconds", "Work.", labels, 1, NULL, 0),
        .summary = metrics_register(METRIC_SUMMARY, "tiny_seconds", "Tiny.", NULL, 0, NULL, 0),
    };
    struct thread_families per_thread[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        per_thread[i] = fam;
        per_thread[i].id = i;
        assert_int_equal(pthread_create(&threads[i], NULL, update_thread, &per_thread[i]), 0);
    }
    /* scrapes while the updates run must not disturb them */
    for (int i = 0; i < 5; i++)
        free(render_all());
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    char *text = render_app();
    assert_float_equal(sample_value(text, "events_total"), THREADS * INCREMENTS, 0);
    assert_float_equal(sample_value(text, "events_by_who_total{who=\"shared\"}"), THREADS * INCREMENTS, 0);
    for (int i = 0; i < THREADS; i++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "events_by_who_total{who=\"t%d\"}", i);
        assert_float_equal(sample_value(text, prefix), INCREMENTS / 2, 0);
    }
    assert_float_equal(sample_value(text, "in_flight"), 0, 0);
    assert_float_equal(sample_value(text, "work_seconds_count{who=\"shared\"}"), THREADS * INCREMENTS / 10,
                       0);
    assert_float_equal(sample_value(text, "work_seconds_bucket{who=\"shared\",le=\"+Inf\"}"),
                       THREADS * INCREMENTS / 10, 0);
    assert_float_equal(sample_value(text, "tiny_seconds_count"), THREADS * INCREMENTS / 10, 0);
    assert_near(sample_value(text, "tiny_seconds{quantile=\"0.5\"}"), 0.001, 0.04);
    free(text);
}

/* ---- series handles and the per-thread memo -------------------------------------------- */

/* The same updates, by values only or mixing handles in, give the same exposition text. */
static char *handles_scenario(bool use_handles)
{
    metrics_reset_for_tests();
    const char *req_labels[] = {"service", "method", "status"}, *svc_labels[] = {"service"};
    struct metric_family *requests =
        metrics_register(METRIC_COUNTER, "http_requests_total", "Requests.", req_labels, 3, NULL, 0);
    struct metric_family *active =
        metrics_register(METRIC_GAUGE, "active_streams", "Streams.", svc_labels, 1, NULL, 0);
    struct metric_family *latency =
        metrics_register(METRIC_SUMMARY, "latency_seconds", "Latency.", svc_labels, 1, NULL, 0);
    struct metric_family *sizes = metrics_register(METRIC_HISTOGRAM, "size_bytes", "Sizes.", svc_labels, 1,
                                                   (const double[]){10, 100}, 2);
    struct metric_family *plain = metrics_register(METRIC_COUNTER, "plain_total", "Plain.", NULL, 0, NULL, 0);
    const char *ok[] = {"echo", "POST", "200"}, *denied[] = {"echo", "POST", "401"}, *echo[] = {"echo"};
    struct metric_series *_Atomic ok_slot = NULL;
    for (int i = 0; i < 10; i++) {
        if (use_handles && i % 2) {
            metrics_series_add(metrics_series_once(&ok_slot, requests, ok), 1);
            metrics_series_add(metrics_series(active, echo), 1);
            metrics_series_observe(metrics_series(latency, echo), 0.001 * i);
            metrics_series_observe(metrics_series(sizes, echo), 7.0 * i);
            metrics_series_add(metrics_series(plain, NULL), 2);
        } else {
            metrics_add(requests, ok, 1);
            metrics_add(active, echo, 1);
            metrics_observe(latency, echo, 0.001 * i);
            metrics_observe(sizes, echo, 7.0 * i);
            metrics_add(plain, NULL, 2);
        }
        if (i == 5)
            metrics_add(requests, denied, 1);
    }
    if (use_handles)
        metrics_series_set(metrics_series(active, echo), 3);
    else
        metrics_set(active, echo, 3);
    metrics_add(active, echo, -1);
    return render_app();
}

static void test_series_handles_same_exposition(void **state)
{
    (void)state;
    char *by_values = handles_scenario(false);
    char *mixed = handles_scenario(true);
    assert_string_equal(mixed, by_values);
    assert_non_null(strstr(mixed,
                           "http_requests_total{service=\"echo\",method=\"POST\",status=\"200\"} 10\n"
                           "http_requests_total{service=\"echo\",method=\"POST\",status=\"401\"} 1\n"));
    assert_non_null(strstr(mixed, "active_streams{service=\"echo\"} 2\n"));
    assert_non_null(strstr(mixed, "plain_total 20\n"));
    assert_non_null(strstr(mixed, "size_bytes_bucket{service=\"echo\",le=\"10\"} 2\n"));
    free(by_values);
    free(mixed);
}

static void test_series_handles_misuse(void **state)
{
    (void)state;
    const char *labels[] = {"who"};
    struct metric_family *c = metrics_register(METRIC_COUNTER, "c_total", "C.", labels, 1, NULL, 0);
    struct metric_family *g = metrics_register(METRIC_GAUGE, "g", "G.", labels, 1, NULL, 0);
    assert_null(metrics_series(NULL, (const char *[]){"x"}));
    assert_null(metrics_series(c, NULL)); /* labelled family without values */
    struct metric_series *_Atomic slot = NULL;
    assert_null(metrics_series_once(&slot, NULL, (const char *[]){"x"}));
    assert_null(atomic_load(&slot));
    metrics_series_add(NULL, 1);
    metrics_series_set(NULL, 1);
    metrics_series_observe(NULL, 1);
    /* a handle resolves on first use only: the label set shows from then on */
    char *text = render_app();
    assert_null(strstr(text, "c_total{"));
    free(text);
    struct metric_series *a = metrics_series_once(&slot, c, (const char *[]){"a"});
    assert_non_null(a);
    assert_ptr_equal(metrics_series_once(&slot, c, (const char *[]){"ignored once resolved"}), a);
    assert_ptr_equal(metrics_series(c, (const char *[]){"a"}), a);
    metrics_series_add(a, -1);        /* counters never go down */
    metrics_series_add(a, 1.0 / 0.0); /* not finite */
    metrics_series_set(a, 5);         /* not a gauge */
    metrics_series_observe(a, 5);     /* not a histogram or summary */
    struct metric_series *gs = metrics_series(g, (const char *[]){"a"});
    metrics_series_add(gs, -2);
    metrics_series_observe(gs, 1);
    text = render_app();
    assert_float_equal(sample_value(text, "c_total{who=\"a\"}"), 0, 0);
    assert_float_equal(sample_value(text, "g{who=\"a\"}"), -2, 0);
    free(text);
}

/* The memo compares values, not pointers: one buffer holding different values in turn, more
 * label sets than a memo row holds, and values that differ only in length. */
static void test_memo_compares_values(void **state)
{
    (void)state;
    const char *labels[] = {"service", "status"};
    struct metric_family *f = metrics_register(METRIC_COUNTER, "codes_total", "Codes.", labels, 2, NULL, 0);
    char status[8];
    const char *values[] = {"echo", status};
    static const char *const codes[] = {"200", "404", "500", "201", "204", "302", "20", "2000"};
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
            strcpy(status, codes[i]);
            metrics_add(f, values, (double)(i + 1));
        }
    metrics_add(f, (const char *[]){"echo", NULL}, 1); /* NULL stands for "" */
    metrics_add(f, (const char *[]){"echo", ""}, 1);
    char *text = render_app();
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "codes_total{service=\"echo\",status=\"%s\"}", codes[i]);
        assert_float_equal(sample_value(text, prefix), 3.0 * (double)(i + 1), 0);
    }
    assert_float_equal(sample_value(text, "codes_total{service=\"echo\",status=\"\"}"), 2, 0);
    free(text);
    /* after a reset, a new family of the same name never sees the old one's memo entries */
    metrics_reset_for_tests();
    f = metrics_register(METRIC_COUNTER, "codes_total", "Codes.", labels, 2, NULL, 0);
    strcpy(status, "200");
    metrics_add(f, values, 1);
    text = render_app();
    assert_string_equal(text, "# HELP codes_total Codes.\n# TYPE codes_total counter\n"
                              "codes_total{service=\"echo\",status=\"200\"} 1\n");
    free(text);
}

/* Summary buckets as the registry documents them: v in [2^e, 2^(e+1)), 16 linear buckets per
 * power of two, reported at the bucket's midpoint (computed here with frexp). */
static double reference_bucket_value(double v)
{
    if (!(v > 0))
        return 0;
    int e;
    double m = frexp(v, &e);
    int exponent = e - 1;
    if (exponent < -20)
        return ldexp(1.0 + 0.5 / 16, -20);
    if (exponent >= -20 + 64 || isinf(v))
        return ldexp(1.0 + 15.5 / 16, -20 + 63);
    int sub = (int)((m * 2 - 1) * 16);
    return ldexp(1.0 + (sub + 0.5) / 16, exponent);
}

static void test_summary_buckets(void **state)
{
    (void)state;
    const char *labels[] = {"i"};
    struct metric_family *f = metrics_register(METRIC_SUMMARY, "v_seconds", "V.", labels, 1, NULL, 0);
    double values[200];
    size_t n = 0;
    const double fixed[] = {0,
                            -1,
                            1e-300,
                            5e-324,
                            ldexp(1, -21),
                            ldexp(1, -20),
                            1,
                            1.0625,
                            nextafter(1.0625, 0),
                            1.9999,
                            3,
                            0.0005,
                            0.25,
                            1e10,
                            ldexp(1, 44),
                            nextafter(ldexp(1, 44), 0),
                            1e300,
                            1.0 / 0.0};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        values[n++] = fixed[i];
    for (double v = 1e-7; n < 200; v *= 1.37)
        values[n++] = v;
    for (size_t i = 0; i < n; i++) {
        char label[16];
        snprintf(label, sizeof(label), "%zu", i);
        metrics_observe(f, (const char *[]){label}, values[i]);
    }
    char *text = render_app();
    for (size_t i = 0; i < n; i++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "v_seconds{i=\"%zu\",quantile=\"0.5\"}", i);
        double got = sample_value(text, prefix), want = reference_bucket_value(values[i]);
        if (got != want)
            fail_msg("value %.17g: bucket value %.17g, want %.17g", values[i], got, want);
    }
    free(text);
}

/* Handles and by-values updates from many threads, more than there are owned slots (so some
 * share the last one and update it with atomic read-modify-writes), with scrapes meanwhile. */
#define MANY_THREADS 80
#define MANY_INCREMENTS 2000

struct many_args {
    struct metric_family *counter, *summary;
    struct metric_series *_Atomic *slot;
    pthread_barrier_t *start;
};

static void *many_thread(void *arg)
{
    struct many_args *a = arg;
    const char *values[] = {"echo", "POST"};
    pthread_barrier_wait(a->start);
    for (int i = 0; i < MANY_INCREMENTS; i++) {
        if (i % 2)
            metrics_series_add(metrics_series_once(a->slot, a->counter, values), 1);
        else
            metrics_add(a->counter, values, 1);
        metrics_observe(a->summary, values, 0.25);
    }
    return NULL;
}

static void test_handles_many_threads(void **state)
{
    (void)state;
    const char *labels[] = {"service", "method"};
    struct metric_family *counter =
        metrics_register(METRIC_COUNTER, "calls_total", "Calls.", labels, 2, NULL, 0);
    struct metric_family *summary =
        metrics_register(METRIC_SUMMARY, "call_seconds", "Call time.", labels, 2, NULL, 0);
    struct metric_series *_Atomic slot = NULL;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, MANY_THREADS + 1);
    struct many_args args = {counter, summary, &slot, &start};
    pthread_t threads[MANY_THREADS];
    for (int i = 0; i < MANY_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, many_thread, &args), 0);
    pthread_barrier_wait(&start);
    for (int i = 0; i < 5; i++)
        free(render_all());
    for (int i = 0; i < MANY_THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    char *text = render_app();
    double total = (double)MANY_THREADS * MANY_INCREMENTS;
    assert_float_equal(sample_value(text, "calls_total{service=\"echo\",method=\"POST\"}"), total, 0);
    assert_float_equal(sample_value(text, "call_seconds_count{service=\"echo\",method=\"POST\"}"), total, 0);
    assert_float_equal(sample_value(text, "call_seconds_sum{service=\"echo\",method=\"POST\"}"), total / 4,
                       0);
    assert_near(sample_value(text, "call_seconds{service=\"echo\",method=\"POST\",quantile=\"0.99\"}"), 0.25,
                0.04);
    free(text);
}

/* ---- process metrics and promtool ------------------------------------------------------ */

static void test_process_metrics(void **state)
{
    (void)state;
    char *text = render_all();
    double cpu = sample_value(text, "process_cpu_seconds_total");
    double rss = sample_value(text, "process_resident_memory_bytes");
    double vsz = sample_value(text, "process_virtual_memory_bytes");
    double fds = sample_value(text, "process_open_fds");
    double max_fds = sample_value(text, "process_max_fds");
    double start = sample_value(text, "process_start_time_seconds");
    assert_true(cpu >= 0);
    assert_true(rss > 1e5 && rss <= vsz);
    assert_true(fds >= 3 && fds <= max_fds);
    double now = (double)time(NULL);
    assert_true(start > now - 3600 && start <= now + 2); /* this test started a moment ago */
    assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "# TYPE process_start_time_seconds gauge\n"));
    free(text);
}

static void test_promtool_accepts(void **state)
{
    (void)state;
    if (system("command -v promtool >/dev/null 2>&1") != 0) {
        print_message("promtool not installed: skipping the promtool check\n");
        skip();
    }
    const char *labels[] = {"service", "method", "status"};
    struct metric_family *c = metrics_register(METRIC_COUNTER, "http_requests_total",
                                               "Total HTTP requests \\ by\nstatus.", labels, 3, NULL, 0);
    const char *v1[] = {"auth", "GET", "200"}, *v2[] = {"we\"ird\\", "PO\nST", "\xc3\xa9"};
    metrics_add(c, v1, 7);
    metrics_add(c, v2, 0.1);
    const char *svc[] = {"service"};
    struct metric_family *s = metrics_register(METRIC_SUMMARY, "http_request_duration_seconds",
                                               "HTTP request latency.", svc, 1, NULL, 0);
    const char *router[] = {"router"};
    for (int i = 0; i < 50; i++)
        metrics_observe(s, router, i * 0.013);
    struct metric_family *h =
        metrics_register(METRIC_HISTOGRAM, "upstream_latency_seconds", "Upstream.", svc, 1, NULL, 0);
    metrics_observe(h, router, 0.2);
    struct metric_family *g =
        metrics_register(METRIC_GAUGE, "active_tokens", "Active tokens.", NULL, 0, NULL, 0);
    metrics_set(g, NULL, 3);
    assert_non_null(metrics_register(METRIC_SUMMARY, "empty_seconds", "Never observed.", NULL, 0, NULL, 0));
    assert_non_null(metrics_register(METRIC_COUNTER, "never_total", "Never.", svc, 1, NULL, 0));

    char *text = render_all();
    FILE *p = popen("promtool check metrics", "w");
    assert_non_null(p);
    fputs(text, p);
    int status = pclose(p);
    if (status != 0)
        fail_msg("promtool check metrics failed (status %d) on:\n%s", status, text);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_counter_exposition, reset),
        cmocka_unit_test_setup(test_label_and_help_escaping, reset),
        cmocka_unit_test_setup(test_empty_families, reset),
        cmocka_unit_test_setup(test_gauge_add_and_set, reset),
        cmocka_unit_test_setup(test_histogram_exposition, reset),
        cmocka_unit_test_setup(test_histogram_default_buckets, reset),
        cmocka_unit_test_setup(test_summary_quantiles, reset),
        cmocka_unit_test_setup(test_summary_extremes, reset),
        cmocka_unit_test_setup(test_summary_window_slides, reset),
        cmocka_unit_test_setup(test_register_rejects, reset),
        cmocka_unit_test_setup(test_misuse_is_ignored, reset),
        cmocka_unit_test_setup(test_collector, reset),
        cmocka_unit_test_setup(test_threads_sum, reset),
        cmocka_unit_test_setup(test_series_handles_same_exposition, reset),
        cmocka_unit_test_setup(test_series_handles_misuse, reset),
        cmocka_unit_test_setup(test_memo_compares_values, reset),
        cmocka_unit_test_setup(test_summary_buckets, reset),
        cmocka_unit_test_setup(test_handles_many_threads, reset),
        cmocka_unit_test_setup(test_process_metrics, reset),
        cmocka_unit_test_setup(test_promtool_accepts, reset),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    metrics_reset_for_tests();
    return failed;
}
