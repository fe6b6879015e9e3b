/*
 * metrics.c - Prometheus metrics registry: families, label sets, lock-free updates.
 *
 * Hot path (metrics_add/observe): this thread's memo of the family's recent label sets gives
 * the series and this thread's shard after one string comparison per label; on a miss, find
 * the label set by hash with acquire loads (chains only ever grow, so readers need no lock) and
 * the shard with one acquire load. Series handles (metrics_series*) skip the lookup. Then
 * relaxed atomic arithmetic on the shard: a load and a store in a slot the thread owns,
 * read-modify-writes in the shared one. The family mutex is taken only to create a label set
 * or a scrape's view of them; a thread's shard is created with one compare-and-swap. There is
 * no lock and no allocation per update once a label set exists. Rendering lives in metrics_render.c, process
 * metrics in metrics_process.c.
 */
#include "metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "alloc.h"
#include "metrics_internal.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metric_family *registry_first, *registry_last;
static uint32_t last_family_id; /* under registry_lock; ids start at 1 (0: an empty memo entry) */

struct collector {
    metrics_collect_fn fn;
    void *arg;
};
static struct collector *collectors;
static size_t ncollectors;
/* Serialises scrapes, so collectors never run concurrently with themselves. */
static pthread_mutex_t scrape_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- names ----------------------------------------------------------------------------- */

static bool name_char_ok(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

static bool valid_identifier(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!name_char_ok(*p, p == s))
            return false;
    return true;
}

static bool has_camel_case(const char *s)
{
    for (const char *p = s; p[0] && p[1]; p++)
        if (p[0] >= 'a' && p[0] <= 'z' && p[1] >= 'A' && p[1] <= 'Z')
            return true;
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Does `_word_` occur in name, or does name end in `_word`? (Compared in lower case.) */
static bool has_word(const char *name, const char *word)
{
    size_t n = strlen(name), w = strlen(word);
    for (size_t i = 0; i + w + 1 <= n; i++) {
        if (name[i] != '_' || strncasecmp(name + i + 1, word, w) != 0)
            continue;
        if (i + 1 + w == n || name[i + 1 + w] == '_')
            return true;
    }
    return false;
}

/* Is some `_`-separated part of name a unit other than a base unit (milliseconds, bits,
 * kilobytes, ...)? */
static bool has_non_base_unit(const char *name)
{
    static const char *const base_units[] = {"amperes", "bytes",  "celsius", "grams",   "joules",
                                             "kelvin",  "meters", "metres",  "seconds", "volts"};
    static const char *const other_units[] = {"minutes",    "hours",    "days",   "weeks", "kelvins",
                                              "fahrenheit", "rankine",  "inches", "yards", "miles",
                                              "bits",       "calories", "pounds", "ounces"};
    static const char *const prefixes[] = {"pico", "nano",  "micro", "milli", "centi", "deci",
                                           "deca", "hecto", "kilo",  "kibi",  "mega",  "mibi",
                                           "giga", "gibi",  "tera",  "tebi",  "peta",  "pebi"};
    const size_t nprefixes = sizeof(prefixes) / sizeof(prefixes[0]);
    const char *part = name;
    while (*part) {
        size_t len = strcspn(part, "_");
        for (size_t u = 0; u < sizeof(other_units) / sizeof(other_units[0]); u++)
            for (size_t p = 0; p <= nprefixes; p++) {
                const char *prefix = p < nprefixes ? prefixes[p] : "";
                size_t plen = strlen(prefix), ulen = strlen(other_units[u]);
                if (len == plen + ulen && strncmp(part, prefix, plen) == 0 &&
                    strncmp(part + plen, other_units[u], ulen) == 0)
                    return true;
            }
        for (size_t u = 0; u < sizeof(base_units) / sizeof(base_units[0]); u++)
            for (size_t p = 0; p < nprefixes; p++) {
                size_t plen = strlen(prefixes[p]), ulen = strlen(base_units[u]);
                if (len == plen + ulen && strncmp(part, prefixes[p], plen) == 0 &&
                    strncmp(part + plen, base_units[u], ulen) == 0)
                    return true;
            }
        part += len;
        if (*part == '_')
            part++;
    }
    return false;
}

/* The metric name and label name rules of the exposition format plus the checks
 * `promtool check metrics` applies (its lint), so that a family that registers also passes
 * promtool; a name that would fail is refused here, at start-up, not at the first scrape. */
static bool family_names_ok(enum metric_type type, const char *name, const char *help,
                            const char *const *label_names, size_t nlabels)
{
    static const char *const type_words[] = {"counter", "gauge", "histogram", "summary"};
    static const char *const abbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb",
                                                "mb", "gb", "tb", "pb", "m",   "h", "d"};
    static const char *const process_names[] = {"process_cpu_seconds_total",
                                                "process_resident_memory_bytes",
                                                "process_virtual_memory_bytes",
                                                "process_open_fds",
                                                "process_max_fds",
                                                "process_start_time_seconds"};
    if (!valid_identifier(name) || !help || !*help || has_camel_case(name))
        return false;
    if ((type == METRIC_COUNTER) != ends_with(name, "_total"))
        return false;
    if (type != METRIC_HISTOGRAM && ends_with(name, "_bucket"))
        return false;
    if (type != METRIC_HISTOGRAM && type != METRIC_SUMMARY &&
        (ends_with(name, "_count") || ends_with(name, "_sum")))
        return false;
    for (size_t i = 0; i < sizeof(type_words) / sizeof(type_words[0]); i++)
        if (has_word(name, type_words[i]))
            return false;
    for (size_t i = 0; i < sizeof(abbreviations) / sizeof(abbreviations[0]); i++)
        if (has_word(name, abbreviations[i]))
            return false;
    if (has_non_base_unit(name))
        return false;
    for (size_t i = 0; i < sizeof(process_names) / sizeof(process_names[0]); i++)
        if (strcmp(name, process_names[i]) == 0)
            return false;
    if (nlabels && !label_names)
        return false;
    for (size_t i = 0; i < nlabels; i++) {
        const char *l = label_names[i];
        if (!valid_identifier(l) || strncmp(l, "__", 2) == 0 || has_camel_case(l) || strcmp(l, "le") == 0 ||
            strcmp(l, "quantile") == 0)
            return false;
        for (size_t j = 0; j < i; j++)
            if (strcmp(l, label_names[j]) == 0)
                return false;
    }
    return true;
}

/* ---- registration ---------------------------------------------------------------------- */

static const double default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

static struct metric_series *series_new(struct metric_family *f, const char *const *values, uint64_t hash);

struct metric_family *metrics_register(enum metric_type type, const char *name, const char *help,
                                       const char *const *label_names, size_t nlabels, const double *buckets,
                                       size_t nbuckets)
{
    if (type != METRIC_COUNTER && type != METRIC_GAUGE && type != METRIC_HISTOGRAM && type != METRIC_SUMMARY)
        return NULL;
    if (!family_names_ok(type, name, help, label_names, nlabels))
        return NULL;
    if (type == METRIC_HISTOGRAM) {
        if (!buckets || nbuckets == 0) {
            buckets = default_buckets;
            nbuckets = sizeof(default_buckets) / sizeof(default_buckets[0]);
        }
        for (size_t i = 0; i < nbuckets; i++)
            if (isnan(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
                return NULL;
        if (isinf(buckets[nbuckets - 1]) && buckets[nbuckets - 1] > 0)
            nbuckets--; /* +Inf is implicit */
    }

    pthread_mutex_lock(&registry_lock);
    for (struct metric_family *g = registry_first; g; g = g->next) {
        if (strcmp(g->name, name) == 0) {
            pthread_mutex_unlock(&registry_lock);
            return NULL;
        }
    }
    struct metric_family *f = gw_calloc(1, sizeof(*f));
    f->type = type;
    f->id = ++last_family_id;
    f->name = gw_strdup(name);
    f->help = gw_strdup(help);
    f->nlabels = nlabels;
    if (nlabels) {
        f->label_names = gw_calloc(nlabels, sizeof(char *));
        for (size_t i = 0; i < nlabels; i++)
            f->label_names[i] = gw_strdup(label_names[i]);
    }
    if (type == METRIC_HISTOGRAM) {
        f->nbuckets = nbuckets;
        f->buckets = gw_calloc(nbuckets ? nbuckets : 1, sizeof(double));
        memcpy(f->buckets, buckets, nbuckets * sizeof(double));
    }
    pthread_mutex_init(&f->lock, NULL);
    for (size_t i = 0; i < METRICS_CHAINS; i++)
        atomic_init(&f->chains[i], NULL);
    /* Without labels the one series exists from the start, so it is exposed (as 0) before
     * the first update, as Prometheus client libraries do. */
    if (nlabels == 0) {
        struct metric_series *s = series_new(f, NULL, 0);
        atomic_store_explicit(&f->chains[0], s, memory_order_release);
        f->first = f->last = s;
    }
    if (registry_last)
        registry_last->next = f;
    else
        registry_first = f;
    registry_last = f;
    pthread_mutex_unlock(&registry_lock);
    return f;
}

void metrics_add_collector(metrics_collect_fn fn, void *arg)
{
    if (!fn)
        return;
    pthread_mutex_lock(&registry_lock);
    collectors = gw_realloc(collectors, (ncollectors + 1) * sizeof(*collectors));
    collectors[ncollectors].fn = fn;
    collectors[ncollectors].arg = arg;
    ncollectors++;
    pthread_mutex_unlock(&registry_lock);
}

/* ---- label sets ------------------------------------------------------------------------ */

static uint64_t label_hash(const char *const *values, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)(values[i] ? values[i] : ""); *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL; /* separator: ("ab","") != ("a","b") */
    }
    return h;
}

/* Inline rather than strcmp: label values are short ("POST", "200"), so the call would cost
 * more than the comparison. value NULL stands for "". */
static inline bool label_equal(const char *copy, const char *value)
{
    if (!value)
        return *copy == '\0';
    for (;; copy++, value++) {
        if (*copy != *value)
            return false;
        if (!*copy)
            return true;
    }
}

static inline bool labels_equal(const struct metric_series *s, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!label_equal(s->label_values[i], values[i]))
            return false;
    return true;
}

/* `name="value"` with the exposition format's escapes (\\, \", \n). */
static void append_label(struct buf *b, const char *name, const char *value)
{
    if (b->len)
        buf_append_char(b, ',');
    buf_printf(b, "%s=\"", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\\')
            buf_append(b, "\\\\", 2);
        else if (*p == '"')
            buf_append(b, "\\\"", 2);
        else if (*p == '\n')
            buf_append(b, "\\n", 2);
        else
            buf_append_char(b, *p);
    }
    buf_append_char(b, '"');
}

static struct metric_series *series_new(struct metric_family *f, const char *const *values, uint64_t hash)
{
    struct metric_series *s = gw_calloc(1, sizeof(*s));
    s->family = f;
    s->hash = hash;
    struct buf text;
    buf_init(&text, SIZE_MAX / 2);
    if (f->nlabels) {
        s->label_values = gw_calloc(f->nlabels, sizeof(char *));
        for (size_t i = 0; i < f->nlabels; i++) {
            s->label_values[i] = gw_strdup(values[i] ? values[i] : "");
            append_label(&text, f->label_names[i], s->label_values[i]);
        }
    }
    s->label_text = buf_take(&text);
    atomic_init(&s->gauge_base_bits, metrics_double_to_bits(0.0));
    for (size_t i = 0; i < METRICS_MAX_SHARDS; i++)
        atomic_init(&s->shards[i], NULL);
    return s;
}

/* The series for these label values, created on first use. */
static struct metric_series *series_get(struct metric_family *f, const char *const *values)
{
    if (f->nlabels == 0)
        return f->first;
    if (!values)
        return NULL;
    uint64_t hash = label_hash(values, f->nlabels);
    _Atomic(struct metric_series *) *chain = &f->chains[hash % METRICS_CHAINS];
    for (struct metric_series *s = atomic_load_explicit(chain, memory_order_acquire); s; s = s->chain_next)
        if (s->hash == hash && labels_equal(s, values, f->nlabels))
            return s;

    pthread_mutex_lock(&f->lock);
    struct metric_series *head = atomic_load_explicit(chain, memory_order_relaxed);
    for (struct metric_series *s = head; s; s = s->chain_next) {
        if (s->hash == hash && labels_equal(s, values, f->nlabels)) {
            pthread_mutex_unlock(&f->lock);
            return s; /* another thread created it meanwhile */
        }
    }
    struct metric_series *s = series_new(f, values, hash);
    s->chain_next = head;
    atomic_store_explicit(chain, s, memory_order_release);
    if (f->last)
        f->last->order_next = s;
    else
        f->first = s;
    f->last = s;
    pthread_mutex_unlock(&f->lock);
    return s;
}

/* ---- shards ---------------------------------------------------------------------------- */

static _Atomic uint64_t next_thread_slot;
static _Thread_local int thread_slot = -1;

static inline int thread_slot_index(void)
{
    if (__builtin_expect(thread_slot < 0, 0)) {
        uint64_t n = atomic_fetch_add_explicit(&next_thread_slot, 1, memory_order_relaxed);
        thread_slot = n < METRICS_SHARED_SLOT ? (int)n : METRICS_SHARED_SLOT;
    }
    return thread_slot;
}

static struct metric_shard *shard_new(const struct metric_family *f)
{
    size_t size = sizeof(struct metric_shard);
    size_t extra = 0;
    if (f->type == METRIC_HISTOGRAM)
        extra = (f->nbuckets + 1) * sizeof(_Atomic uint64_t);
    else if (f->type == METRIC_SUMMARY)
        extra = SUMMARY_SLOTS * sizeof(struct summary_slot);
    /* Cache-line aligned and padded, so two threads' shards never share a line. */
    size_t total = (size + extra + 63) & ~(size_t)63;
    void *mem = NULL;
    if (posix_memalign(&mem, 64, total) != 0)
        gw_oom(total);
    memset(mem, 0, total);
    struct metric_shard *sh = mem;
    atomic_init(&sh->sum_bits, metrics_double_to_bits(0.0));
    atomic_init(&sh->count, 0);
    if (f->type == METRIC_HISTOGRAM) {
        sh->bucket_counts = (_Atomic uint64_t *)((char *)mem + size);
        for (size_t i = 0; i <= f->nbuckets; i++)
            atomic_init(&sh->bucket_counts[i], 0);
    } else if (f->type == METRIC_SUMMARY) {
        sh->slots = (struct summary_slot *)((char *)mem + size);
        for (size_t i = 0; i < SUMMARY_SLOTS; i++) {
            atomic_init(&sh->slots[i].epoch, 0);
            for (size_t j = 0; j < SUMMARY_BUCKETS; j++)
                atomic_init(&sh->slots[i].counts[j], 0);
        }
    }
    return sh;
}

/* This thread slot's shard of s, created on the slot's first update of s. */
static inline struct metric_shard *shard_get(struct metric_series *s, int slot)
{
    struct metric_shard *sh = atomic_load_explicit(&s->shards[slot], memory_order_acquire);
    if (__builtin_expect(sh != NULL, 1))
        return sh;
    sh = shard_new(s->family);
    struct metric_shard *expected = NULL;
    if (!atomic_compare_exchange_strong_explicit(&s->shards[slot], &expected, sh, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(sh); /* a thread sharing this slot installed one first */
        sh = expected;
    }
    return sh;
}

/* Shard arithmetic. `owned`: the calling thread owns its slot (see METRICS_MAX_SHARDS), so it
 * is the only writer and a relaxed load + store is exact; the shared slot needs atomic
 * read-modify-writes. Either way every access is atomic, so a concurrent scrape reads whole
 * values (this thread's latest or an earlier one). */
static inline void shard_add_u64(_Atomic uint64_t *target, uint64_t n, bool owned)
{
    if (owned)
        atomic_store_explicit(target, atomic_load_explicit(target, memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(target, n, memory_order_relaxed);
}

static inline void shard_add_u32(_Atomic uint32_t *target, uint32_t n, bool owned)
{
    if (owned)
        atomic_store_explicit(target, atomic_load_explicit(target, memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(target, n, memory_order_relaxed);
}

static inline void shard_add_double(_Atomic uint64_t *target, double v, bool owned)
{
    uint64_t old = atomic_load_explicit(target, memory_order_relaxed);
    if (owned) {
        atomic_store_explicit(target, metrics_double_to_bits(metrics_bits_to_double(old) + v),
                              memory_order_relaxed);
        return;
    }
    while (!atomic_compare_exchange_weak_explicit(target, &old,
                                                  metrics_double_to_bits(metrics_bits_to_double(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* ---- per-thread memo ------------------------------------------------------------------- */

/* Each thread remembers, per family, the MEMO_WAYS label sets it used last with its shard of
 * each, so that the by-values calls find a recent label set by comparing the values with the
 * series' copies: no hash, no chain, no shard lookup. Rows are indexed by family id; an entry
 * whose id is not the family's is empty or another family's (ids are never reused, so an entry
 * left by a family that metrics_reset_for_tests freed never matches again and is never read
 * through). Purely thread-local: no synchronisation. */
#define MEMO_ROWS 64
#define MEMO_WAYS 4

struct memo_entry {
    uint32_t family_id; /* 0: empty */
    struct metric_series *series;
    struct metric_shard *shard; /* this thread slot's shard of series */
};
static _Thread_local struct memo_entry memo[MEMO_ROWS][MEMO_WAYS];

static __attribute__((noinline)) struct memo_entry *
memo_fill(struct metric_family *f, const char *const *values, struct memo_entry *row)
{
    struct metric_series *s = series_get(f, values);
    if (!s)
        return NULL;
    memmove(&row[1], &row[0], (MEMO_WAYS - 1) * sizeof(row[0])); /* the oldest one goes */
    row[0].family_id = f->id;
    row[0].series = s;
    row[0].shard = shard_get(s, thread_slot_index());
    return &row[0];
}

/* This thread's memo entry for f's series with these label values (created on first use), or
 * NULL if values is NULL while f has labels. */
static inline struct memo_entry *memo_lookup(struct metric_family *f, const char *const *values)
{
    if (f->nlabels && !values)
        return NULL;
    struct memo_entry *row = memo[f->id % MEMO_ROWS];
    for (size_t w = 0; w < MEMO_WAYS; w++)
        if (row[w].family_id == f->id && labels_equal(row[w].series, values, f->nlabels))
            return &row[w];
    return memo_fill(f, values, row);
}

/* ---- updates --------------------------------------------------------------------------- */

static inline bool add_ok(const struct metric_family *f, double v)
{
    if (!isfinite(v) || (f->type != METRIC_COUNTER && f->type != METRIC_GAUGE))
        return false;
    return f->type != METRIC_COUNTER || v >= 0; /* counters only go up; a negative add is a caller bug */
}

void metrics_add(struct metric_family *f, const char *const *label_values, double v)
{
    if (!f || !add_ok(f, v))
        return;
    struct memo_entry *e = memo_lookup(f, label_values);
    if (e)
        shard_add_double(&e->shard->sum_bits, v, thread_slot != METRICS_SHARED_SLOT);
}

static double series_shard_sum(const struct metric_series *s)
{
    double sum = 0;
    for (size_t i = 0; i < METRICS_MAX_SHARDS; i++) {
        struct metric_shard *sh = atomic_load_explicit(&s->shards[i], memory_order_acquire);
        if (sh)
            sum += metrics_bits_to_double(atomic_load_explicit(&sh->sum_bits, memory_order_relaxed));
    }
    return sum;
}

/* A gauge's value is base + the sum of its shards, so that adds stay per-thread; set moves
 * the base. An add racing with a set lands either before or after it, both valid orders. */
static void series_set(struct metric_series *s, double v)
{
    atomic_store_explicit(&s->gauge_base_bits, metrics_double_to_bits(v - series_shard_sum(s)),
                          memory_order_relaxed);
}

void metrics_set(struct metric_family *f, const char *const *label_values, double v)
{
    if (!f || f->type != METRIC_GAUGE)
        return;
    struct metric_series *s = series_get(f, label_values);
    if (s)
        series_set(s, v);
}

double metrics_series_value(const struct metric_series *s, enum metric_type type)
{
    double sum = series_shard_sum(s);
    if (type == METRIC_GAUGE)
        sum += metrics_bits_to_double(atomic_load_explicit(&s->gauge_base_bits, memory_order_relaxed));
    return sum;
}

static _Atomic uint64_t clock_offset_for_tests;

uint64_t metrics_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec + atomic_load_explicit(&clock_offset_for_tests, memory_order_relaxed);
}

void metrics_advance_clock_for_tests(unsigned seconds)
{
    atomic_fetch_add_explicit(&clock_offset_for_tests, seconds, memory_order_relaxed);
}

_Static_assert(SUMMARY_SUB_BUCKETS == 16, "summary_bucket_index takes 4 mantissa bits");

/* Bucket 0: v <= 0. Then SUMMARY_SUB_BUCKETS linear buckets per power of two from
 * 2^SUMMARY_MIN_EXPONENT on. Read off the double's bits: the binary exponent picks the power
 * of two and the top 4 mantissa bits the linear bucket in it (what frexp and a multiply would
 * give, without the library call). Subnormals have the smallest exponent; +Inf the largest. */
static inline size_t summary_bucket_index(double v)
{
    if (!(v > 0))
        return 0;
    uint64_t bits = metrics_double_to_bits(v);
    int exponent = (int)((bits >> 52) & 0x7ff) - 1023; /* v in [2^exponent, 2^(exponent+1)) */
    if (exponent < SUMMARY_MIN_EXPONENT)
        return 1;
    if (exponent >= SUMMARY_MIN_EXPONENT + SUMMARY_EXPONENTS)
        return SUMMARY_BUCKETS - 1;
    size_t sub = (size_t)(bits >> 48) & (SUMMARY_SUB_BUCKETS - 1);
    return 1 + (size_t)(exponent - SUMMARY_MIN_EXPONENT) * SUMMARY_SUB_BUCKETS + sub;
}

double metrics_summary_bucket_value(size_t bucket)
{
    if (bucket == 0)
        return 0;
    size_t i = bucket - 1;
    int exponent = SUMMARY_MIN_EXPONENT + (int)(i / SUMMARY_SUB_BUCKETS);
    double sub = (double)(i % SUMMARY_SUB_BUCKETS);
    return ldexp(1.0 + (sub + 0.5) / SUMMARY_SUB_BUCKETS, exponent);
}

static void summary_observe(struct metric_shard *sh, double v, bool owned)
{
    uint64_t epoch = metrics_now_seconds() / SUMMARY_SLOT_SECONDS;
    struct summary_slot *slot = &sh->slots[epoch % SUMMARY_SLOTS];
    uint64_t seen = atomic_load_explicit(&slot->epoch, memory_order_acquire);
    if (seen != epoch) {
        /* The slot holds counts from SUMMARY_SLOTS minutes ago: clear it. While clearing, the
         * epoch is a value no scrape accepts, so a scrape never merges half-cleared counts. */
        if (atomic_compare_exchange_strong_explicit(&slot->epoch, &seen, SUMMARY_SLOT_RESETTING,
                                                    memory_order_acq_rel, memory_order_acquire)) {
            for (size_t i = 0; i < SUMMARY_BUCKETS; i++)
                atomic_store_explicit(&slot->counts[i], 0, memory_order_relaxed);
            atomic_store_explicit(&slot->epoch, epoch, memory_order_release);
        }
    }
    shard_add_u32(&slot->counts[summary_bucket_index(v)], 1, owned);
    shard_add_u64(&sh->count, 1, owned);
    shard_add_double(&sh->sum_bits, v, owned);
}

/* One observation into this thread's shard of a histogram or summary. */
static void shard_observe(const struct metric_family *f, struct metric_shard *sh, double v)
{
    bool owned = thread_slot != METRICS_SHARED_SLOT;
    if (f->type == METRIC_SUMMARY) {
        summary_observe(sh, v, owned);
        return;
    }
    /* First bucket whose upper bound is >= v; nbuckets means +Inf. */
    size_t lo = 0, hi = f->nbuckets;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= f->buckets[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    shard_add_u64(&sh->bucket_counts[lo], 1, owned);
    shard_add_double(&sh->sum_bits, v, owned);
}

void metrics_observe(struct metric_family *f, const char *const *label_values, double v)
{
    if (!f || isnan(v) || (f->type != METRIC_HISTOGRAM && f->type != METRIC_SUMMARY))
        return;
    struct memo_entry *e = memo_lookup(f, label_values);
    if (e)
        shard_observe(f, e->shard, v);
}

/* ---- series handles -------------------------------------------------------------------- */

struct metric_series *metrics_series(struct metric_family *f, const char *const *label_values)
{
    return f ? series_get(f, label_values) : NULL;
}

struct metric_series *metrics_series_once(struct metric_series *_Atomic *slot, struct metric_family *f,
                                          const char *const *label_values)
{
    /* Acquire pairs with the release below (and series_get's own publication), so a thread
     * that sees the handle sees the series' contents. */
    struct metric_series *s = atomic_load_explicit(slot, memory_order_acquire);
    if (__builtin_expect(s != NULL, 1))
        return s;
    s = metrics_series(f, label_values);
    if (s)
        atomic_store_explicit(slot, s, memory_order_release); /* racing threads store the same series */
    return s;
}

void metrics_series_add(struct metric_series *s, double v)
{
    if (!s || !add_ok(s->family, v))
        return;
    int slot = thread_slot_index();
    shard_add_double(&shard_get(s, slot)->sum_bits, v, slot != METRICS_SHARED_SLOT);
}

void metrics_series_set(struct metric_series *s, double v)
{
    if (s && s->family->type == METRIC_GAUGE)
        series_set(s, v);
}

void metrics_series_observe(struct metric_series *s, double v)
{
    if (!s || isnan(v) || (s->family->type != METRIC_HISTOGRAM && s->family->type != METRIC_SUMMARY))
        return;
    shard_observe(s->family, shard_get(s, thread_slot_index()), v);
}

/* ---- scrape ---------------------------------------------------------------------------- */

enum gw_err metrics_render(struct buf *out)
{
    pthread_mutex_lock(&scrape_lock);
    /* Collectors run without the registry lock: they call metrics_set, which does not need it. */
    pthread_mutex_lock(&registry_lock);
    size_t n = ncollectors;
    struct collector *copy = n ? gw_malloc(n * sizeof(*copy)) : NULL;
    if (n)
        memcpy(copy, collectors, n * sizeof(*copy));
    pthread_mutex_unlock(&registry_lock);
    for (size_t i = 0; i < n; i++)
        copy[i].fn(copy[i].arg);
    free(copy);

    enum gw_err err = GW_OK;
    pthread_mutex_lock(&registry_lock);
    for (struct metric_family *f = registry_first; f && !err; f = f->next)
        err = metrics_render_family(out, f);
    pthread_mutex_unlock(&registry_lock);
    if (!err)
        err = metrics_render_process(out);
    pthread_mutex_unlock(&scrape_lock);
    return err;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void family_free(struct metric_family *f)
{
    struct metric_series *s = f->first;
    while (s) {
        struct metric_series *next = s->order_next;
        for (size_t i = 0; i < METRICS_MAX_SHARDS; i++)
            free(atomic_load_explicit(&s->shards[i], memory_order_relaxed));
        for (size_t i = 0; i < f->nlabels; i++)
            free(s->label_values[i]);
        free(s->label_values);
        free(s->label_text);
        free(s);
        s = next;
    }
    for (size_t i = 0; i < f->nlabels; i++)
        free(f->label_names[i]);
    free(f->label_names);
    free(f->buckets);
    free(f->name);
    free(f->help);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

void metrics_reset_for_tests(void)
{
    pthread_mutex_lock(&registry_lock);
    struct metric_family *f = registry_first;
    registry_first = registry_last = NULL;
    free(collectors);
    collectors = NULL;
    ncollectors = 0;
    pthread_mutex_unlock(&registry_lock);
    while (f) {
        struct metric_family *next = f->next;
        family_free(f);
        f = next;
    }
}
