/*
 * metrics_internal.h - data structures shared by metrics.c (registry and updates),
 * metrics_render.c (text exposition) and metrics_process.c (process metrics). Not an API.
 *
 * Memory model: a family owns its series; a series owns one shard per thread slot that ever
 * updated it. Series and shards are created on demand and never freed before
 * metrics_reset_for_tests, so the lock-free readers can hold pointers to them.
 */
#ifndef MCPGW_CORE_METRICS_INTERNAL_H
#define MCPGW_CORE_METRICS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"

/* Thread slots. A thread takes the next slot on its first update and keeps it: the first
 * METRICS_MAX_SHARDS - 1 threads each own one, and only the owner ever writes that slot's
 * shards, so it updates them with a relaxed load and store (no locked instruction). Every
 * later thread shares the last slot (METRICS_SHARED_SLOT), whose shards are updated with atomic
 * read-modify-writes: still correct, only slower. */
#define METRICS_MAX_SHARDS 64
#define METRICS_SHARED_SLOT (METRICS_MAX_SHARDS - 1)
/* Hash chains per family for label-set lookup. Chains only grow; label sets are bounded by
 * the callers (see metrics.h), so a few hundred series still give short chains. */
#define METRICS_CHAINS 64

/* Summaries: observations go into log-linear buckets (16 per power of two, so a bucket's
 * midpoint is within 1/33 ≈ 3% of any value in it) kept per 60-second slot; a scrape merges
 * the slots of the last 5 minutes (the current one included) and reads quantiles from the
 * merged histogram. Values from 2^-20 (~1 µs) to 2^44 are told apart; smaller positive
 * values fall in the first bucket, larger in the last, and zero or negative values count
 * as 0. */
#define SUMMARY_SLOT_SECONDS 60
#define SUMMARY_SLOTS 5
#define SUMMARY_SUB_BUCKETS 16
#define SUMMARY_MIN_EXPONENT (-20)
#define SUMMARY_EXPONENTS 64
#define SUMMARY_BUCKETS (1 + SUMMARY_EXPONENTS * SUMMARY_SUB_BUCKETS) /* bucket 0 holds values <= 0 */
#define SUMMARY_SLOT_RESETTING UINT64_MAX

struct summary_slot {
    _Atomic uint64_t epoch; /* monotonic seconds / SUMMARY_SLOT_SECONDS of the counts held */
    _Atomic uint32_t counts[SUMMARY_BUCKETS];
};

/* One thread slot's share of a series. Which members are used depends on the family type.
 * Written only by the slot's thread(s) (see METRICS_MAX_SHARDS), read by scrapes; every member
 * that changes after creation is atomic, so a scrape never reads a torn value. */
struct metric_shard {
    _Atomic uint64_t sum_bits;       /* counter/gauge: value (bits of a double); histogram/summary: sum */
    _Atomic uint64_t count;          /* summary: observations ever */
    _Atomic uint64_t *bucket_counts; /* histogram: nbuckets + 1, not cumulative; the last is +Inf */
    struct summary_slot *slots;      /* summary: SUMMARY_SLOTS */
};

struct metric_series {
    struct metric_family *family;     /* immutable */
    struct metric_series *chain_next; /* set before the series is published, then immutable */
    struct metric_series *order_next; /* creation order, for stable output; under family lock */
    uint64_t hash;
    char **label_values;
    char *label_text;                 /* `a="x",b="y"`, escaped, "" without labels */
    _Atomic uint64_t gauge_base_bits; /* gauges: last metrics_set value minus the shard sums then */
    _Atomic(struct metric_shard *) shards[METRICS_MAX_SHARDS];
};

struct metric_family {
    struct metric_family *next; /* registration order; under the registry lock */
    enum metric_type type;
    uint32_t id; /* unique in the process (never reused, even by metrics_reset_for_tests) */
    char *name;
    char *help;
    char **label_names;
    size_t nlabels;
    double *buckets; /* histograms: ascending upper bounds, +Inf implicit */
    size_t nbuckets;
    pthread_mutex_t lock; /* guards series creation and scrapes, never plain updates */
    _Atomic(struct metric_series *) chains[METRICS_CHAINS];
    struct metric_series *first, *last; /* creation order */
};

static inline double metrics_bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

static inline uint64_t metrics_double_to_bits(double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return bits;
}

/* A counter's or gauge's current value: the shard sums (plus the base set by metrics_set). */
double metrics_series_value(const struct metric_series *s, enum metric_type type);
/* Monotonic seconds (coarse clock: a vDSO read, no system call). */
uint64_t metrics_now_seconds(void);
/* The value a summary bucket stands for (its midpoint; 0 for bucket 0). */
double metrics_summary_bucket_value(size_t bucket);

/* Render every registered family (registry lock held by the caller). */
enum gw_err metrics_render_family(struct buf *out, struct metric_family *f);
/* Render the process_* families from /proc/self. */
enum gw_err metrics_render_process(struct buf *out);
/* Format a sample value as Prometheus expects: integers without a fraction, NaN, +Inf, -Inf,
 * otherwise the shortest decimal that reads back to the same double. out needs 32 bytes. */
void metrics_format_number(char out[32], double v);
/* Append `# HELP name help` and `# TYPE name type` lines. */
enum gw_err metrics_render_header(struct buf *out, const char *name, const char *help, const char *type);

#endif
