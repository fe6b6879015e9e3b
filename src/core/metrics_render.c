/*
 * metrics_render.c - the Prometheus text exposition format 0.0.4 for registered families.
 *
 * A scrape holds each family's lock while it sums that family's shards; updates never take
 * that lock, so a scrape slows no request. Sums are read with relaxed loads: a scrape that
 * races with updates sees each of them either fully or not at all, per counter.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "metrics_internal.h"

static const double summary_quantiles[] = {0.5, 0.9, 0.99};
static const char *const summary_quantile_labels[] = {"0.5", "0.9", "0.99"};

void metrics_format_number(char out[32], double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
    } else if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, 32, "%.0f", v);
    } else {
        snprintf(out, 32, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, 32, "%.17g", v);
    }
}

/* HELP text escapes: backslash and newline (not quotes, unlike label values). */
enum gw_err metrics_render_header(struct buf *out, const char *name, const char *help, const char *type)
{
    enum gw_err err = buf_printf(out, "# HELP %s ", name);
    for (const char *p = help; *p && !err; p++) {
        if (*p == '\\')
            err = buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            err = buf_append(out, "\\n", 2);
        else
            err = buf_append_char(out, *p);
    }
    if (!err)
        err = buf_printf(out, "\n# TYPE %s %s\n", name, type);
    return err;
}

/* name{labels,extra} value, where labels is the series' pre-rendered text and extra one more
 * `le="..."` or `quantile="..."` pair (either may be empty). */
static enum gw_err render_sample(struct buf *out, const char *name, const char *suffix, const char *labels,
                                 const char *extra, double value)
{
    char number[32];
    metrics_format_number(number, value);
    bool braces = *labels || *extra;
    return buf_printf(out, "%s%s%s%s%s%s%s %s\n", name, suffix, braces ? "{" : "", labels,
                      *labels && *extra ? "," : "", extra, braces ? "}" : "", number);
}

static const char *type_name(enum metric_type type)
{
    switch (type) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_GAUGE:
        return "gauge";
    case METRIC_HISTOGRAM:
        return "histogram";
    case METRIC_SUMMARY:
        return "summary";
    }
    return "untyped";
}

static double shard_sum(const struct metric_shard *sh)
{
    return metrics_bits_to_double(atomic_load_explicit(&sh->sum_bits, memory_order_relaxed));
}

static enum gw_err render_histogram(struct buf *out, const struct metric_family *f,
                                    const struct metric_series *s)
{
    uint64_t *counts = gw_calloc(f->nbuckets + 1, sizeof(uint64_t));
    double sum = 0;
    for (size_t i = 0; i < METRICS_MAX_SHARDS; i++) {
        struct metric_shard *sh = atomic_load_explicit(&s->shards[i], memory_order_acquire);
        if (!sh)
            continue;
        for (size_t b = 0; b <= f->nbuckets; b++)
            counts[b] += atomic_load_explicit(&sh->bucket_counts[b], memory_order_relaxed);
        sum += shard_sum(sh);
    }
    /* _count is the +Inf bucket by construction, so the two always agree. */
    enum gw_err err = GW_OK;
    uint64_t cumulative = 0;
    char le[48], number[32];
    for (size_t b = 0; b <= f->nbuckets && !err; b++) {
        cumulative += counts[b];
        if (b < f->nbuckets)
            metrics_format_number(number, f->buckets[b]);
        else
            strcpy(number, "+Inf");
        snprintf(le, sizeof(le), "le=\"%s\"", number);
        err = render_sample(out, f->name, "_bucket", s->label_text, le, (double)cumulative);
    }
    if (!err)
        err = render_sample(out, f->name, "_sum", s->label_text, "", sum);
    if (!err)
        err = render_sample(out, f->name, "_count", s->label_text, "", (double)cumulative);
    free(counts);
    return err;
}

/* The smallest bucket value below or at which at least q of the observations fall. */
static double quantile_from_counts(const uint64_t *counts, uint64_t total, double q)
{
    if (total == 0)
        return NAN;
    uint64_t rank = (uint64_t)ceil(q * (double)total);
    if (rank < 1)
        rank = 1;
    uint64_t cumulative = 0;
    for (size_t b = 0; b < SUMMARY_BUCKETS; b++) {
        cumulative += counts[b];
        if (cumulative >= rank)
            return metrics_summary_bucket_value(b);
    }
    return metrics_summary_bucket_value(SUMMARY_BUCKETS - 1);
}

static enum gw_err render_summary(struct buf *out, const struct metric_family *f,
                                  const struct metric_series *s)
{
    uint64_t *counts = gw_calloc(SUMMARY_BUCKETS, sizeof(uint64_t));
    uint64_t now_epoch = metrics_now_seconds() / SUMMARY_SLOT_SECONDS;
    uint64_t window_total = 0, count = 0;
    double sum = 0;
    for (size_t i = 0; i < METRICS_MAX_SHARDS; i++) {
        struct metric_shard *sh = atomic_load_explicit(&s->shards[i], memory_order_acquire);
        if (!sh)
            continue;
        count += atomic_load_explicit(&sh->count, memory_order_relaxed);
        sum += shard_sum(sh);
        for (size_t k = 0; k < SUMMARY_SLOTS; k++) {
            const struct summary_slot *slot = &sh->slots[k];
            uint64_t epoch = atomic_load_explicit(&slot->epoch, memory_order_acquire);
            /* current slot and the SUMMARY_SLOTS - 1 before it; skips slots being cleared */
            if (epoch > now_epoch || now_epoch - epoch >= SUMMARY_SLOTS)
                continue;
            for (size_t b = 0; b < SUMMARY_BUCKETS; b++) {
                uint32_t c = atomic_load_explicit(&slot->counts[b], memory_order_relaxed);
                counts[b] += c;
                window_total += c;
            }
        }
    }
    enum gw_err err = GW_OK;
    char extra[32];
    for (size_t q = 0; q < sizeof(summary_quantiles) / sizeof(summary_quantiles[0]) && !err; q++) {
        snprintf(extra, sizeof(extra), "quantile=\"%s\"", summary_quantile_labels[q]);
        err = render_sample(out, f->name, "", s->label_text, extra,
                            quantile_from_counts(counts, window_total, summary_quantiles[q]));
    }
    if (!err)
        err = render_sample(out, f->name, "_sum", s->label_text, "", sum);
    if (!err)
        err = render_sample(out, f->name, "_count", s->label_text, "", (double)count);
    free(counts);
    return err;
}

enum gw_err metrics_render_family(struct buf *out, struct metric_family *f)
{
    enum gw_err err = metrics_render_header(out, f->name, f->help, type_name(f->type));
    pthread_mutex_lock(&f->lock);
    for (struct metric_series *s = f->first; s && !err; s = s->order_next) {
        switch (f->type) {
        case METRIC_COUNTER:
        case METRIC_GAUGE:
            err = render_sample(out, f->name, "", s->label_text, "", metrics_series_value(s, f->type));
            break;
        case METRIC_HISTOGRAM:
            err = render_histogram(out, f, s);
            break;
        case METRIC_SUMMARY:
            err = render_summary(out, f, s);
            break;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return err;
}
