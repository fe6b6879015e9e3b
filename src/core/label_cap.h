/*
 * label_cap.h - a cap on how many distinct values one metric label may take.
 *
 * Every label value is a series Prometheus keeps forever, and client ids and user ids come from
 * outside (a registration flood makes thousands). So the first `cap` distinct values get their
 * own label, every later one (and any longer than LABEL_VALUE_MAX bytes) is counted as "other",
 * and an absent or empty one as "none". Used for the router's requests by client and by user
 * (the guide's "API usage by client") and auth's token requests by client.
 *
 * The admitted values are shared by all threads and kept for the life of the cap. Each thread
 * also remembers, in a small direct-mapped table of its own, what it recently answered for a
 * value, "other" included, so a request normally takes no lock and compares one string however
 * many clients there are. Only a value the thread has not seen recently (or one longer than
 * LABEL_CACHE_VALUE_MAX bytes) takes the shared lock.
 */
#ifndef MCPGW_CORE_LABEL_CAP_H
#define MCPGW_CORE_LABEL_CAP_H

#include <stddef.h>
#include <stdint.h>

#define LABEL_CACHE_SLOTS 128    /* per thread and cap; a power of two */
#define LABEL_CACHE_VALUE_MAX 55 /* longer values always take the shared path */
#define LABEL_VALUE_MAX 256      /* longer values are always "other" */

struct label_cap;

/* One thread's memory of recent answers. Declare it _Thread_local (zero-initialised: empty) and
 * pass the same one with the same cap every time; it owns nothing. */
struct label_cache {
    struct label_cache_slot {
        uint64_t hash;
        const char *label; /* NULL: empty slot; else an admitted value, or "other" */
        char value[LABEL_CACHE_VALUE_MAX + 1];
    } slots[LABEL_CACHE_SLOTS];
};

/* A cap admitting the first `cap` distinct values. Free with label_cap_free (which frees the
 * admitted values: no label may be used after). */
struct label_cap *label_cap_create(size_t cap);
void label_cap_free(struct label_cap *cap);

/*
 * The label for `value` (may be NULL): "none" for NULL or "", the admitted copy of value when it
 * is or becomes one of the first `cap` distinct values of at most LABEL_VALUE_MAX bytes, else
 * "other". The result is owned by the
 * cap and stays valid until label_cap_free. Thread-safe when each thread passes its own cache.
 */
const char *label_cap_get(struct label_cap *cap, struct label_cache *cache, const char *value);

/* How many distinct values have been admitted so far (at most the cap). */
size_t label_cap_count(struct label_cap *cap);

#endif
