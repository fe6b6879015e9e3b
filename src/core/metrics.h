/*
 * metrics.h - Prometheus metrics registry (text exposition format 0.0.4).
 *
 * Families are registered at start-up (before worker threads start) and live for the whole
 * process. Updates are lock-free on the hot path: each thread updates its own shard with
 * relaxed atomics, and a scrape sums the shards. A label set is created on first use (that
 * path takes a per-family mutex once per new label set); after that an update takes no lock and
 * allocates nothing. Each thread remembers the last few label sets it used per family, so an
 * update with the same values as a recent one costs a string comparison per label, no hashing.
 * Call sites whose label values are fixed can skip even that with a series handle (below).
 *
 * Label values are passed as an array of C strings in the order of the family's label names.
 * Cardinality is the caller's responsibility: never use unbounded values (paths, ids) as labels.
 */
#ifndef MCPGW_CORE_METRICS_H
#define MCPGW_CORE_METRICS_H

#include <stddef.h>
#include "buf.h"
#include "err.h"

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM, METRIC_SUMMARY };

struct metric_family;

/* Register a family. name and help are copied. label_names: nlabels strings (copied).
 * buckets: for histograms, nbuckets ascending upper bounds (+Inf is implicit); NULL elsewhere.
 * Summaries expose quantiles 0.5, 0.9, 0.99 over a sliding 5-minute window plus _sum and _count.
 * Returns a family owned by the registry (never freed), or NULL if the name is invalid or taken;
 * invalid includes what `promtool check metrics` rejects (counters not ending in _total, missing
 * help, abbreviated or non-base units, le/quantile labels: see docs/internals/metrics.md). */
struct metric_family *metrics_register(enum metric_type type, const char *name, const char *help,
                                       const char *const *label_names, size_t nlabels, const double *buckets,
                                       size_t nbuckets);

/* Counters: add v >= 0. Gauges: add any finite v (inc/dec). Other values are ignored. */
void metrics_add(struct metric_family *f, const char *const *label_values, double v);
/* Gauges only: set the value (process-wide, last writer wins). */
void metrics_set(struct metric_family *f, const char *const *label_values, double v);
/* Histograms and summaries: record one observation. */
void metrics_observe(struct metric_family *f, const char *const *label_values, double v);

/* ---- series handles ----
 *
 * A handle is one label set (series) of a family, resolved once; updating it costs no lookup
 * at all (this thread's shard, then the update). For call sites with a fixed label set, or a
 * small fixed table of them (a result enum, method x status). The registry owns the series:
 * it lives as long as its family, i.e. the whole process (tests: until
 * metrics_reset_for_tests), so a handle may be kept in a static and used from any thread.
 * Updates through a handle and through metrics_add/set/observe with the same label values
 * reach the same series; the exposition is the same either way.
 *
 * Resolving creates the series if it is new, and a series is exposed from its creation on (as
 * 0 for counters): resolve on first use, not at start-up, unless the label set should show
 * before it is first counted. metrics_series_once does that: it returns *slot, resolving it
 * on the first call (threads racing there store the same series). label_values are copied.
 * NULL family or label values (with labels): NULL; updates on a NULL handle are ignored, as are
 * updates of the wrong kind, with the rules of the by-values calls. */
struct metric_series;
struct metric_series *metrics_series(struct metric_family *f, const char *const *label_values);
struct metric_series *metrics_series_once(struct metric_series *_Atomic *slot, struct metric_family *f,
                                          const char *const *label_values);
void metrics_series_add(struct metric_series *s, double v);
void metrics_series_set(struct metric_series *s, double v);
void metrics_series_observe(struct metric_series *s, double v);

/* A callback run at every scrape to refresh gauges computed on demand (e.g. token counts). */
typedef void (*metrics_collect_fn)(void *arg);
void metrics_add_collector(metrics_collect_fn fn, void *arg);

/* Render every family plus the standard process metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 * process_max_fds, process_start_time_seconds) into out. */
enum gw_err metrics_render(struct buf *out);

/* Forget every family (tests only; not thread-safe). */
void metrics_reset_for_tests(void);
/* Move the summaries' clock forward by `seconds` (tests only), to age the sliding window. */
void metrics_advance_clock_for_tests(unsigned seconds);

#endif
