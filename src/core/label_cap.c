#include "label_cap.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct label_cap {
    pthread_mutex_t lock;
    size_t cap, count;
    char **values; /* the admitted values, in the order they came */
};

struct label_cap *label_cap_create(size_t cap)
{
    struct label_cap *c = gw_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->cap = cap;
    c->values = gw_calloc(cap ? cap : 1, sizeof(*c->values));
    return c;
}

void label_cap_free(struct label_cap *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->count; i++)
        free(c->values[i]);
    free(c->values);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

size_t label_cap_count(struct label_cap *c)
{
    pthread_mutex_lock(&c->lock);
    size_t n = c->count;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* FNV-1a: the cache is only a shortcut, so a value that collides with another (even on purpose)
 * costs a trip to the shared table, never a wrong label. */
static uint64_t value_hash(const char *value, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)value[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Admit value or find it among the admitted; "other" once the cap is full. Under the lock: at
 * most `cap` comparisons, once per value per thread while the thread's cache holds it. */
static const char *shared_label(struct label_cap *c, const char *value)
{
    const char *label = NULL;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->count && !label; i++)
        if (strcmp(c->values[i], value) == 0)
            label = c->values[i];
    if (!label && c->count < c->cap) {
        c->values[c->count] = gw_strdup(value);
        label = c->values[c->count++];
    }
    pthread_mutex_unlock(&c->lock);
    return label ? label : "other";
}

const char *label_cap_get(struct label_cap *c, struct label_cache *cache, const char *value)
{
    if (!value || !*value)
        return "none";
    size_t len = strlen(value);
    if (len > LABEL_VALUE_MAX)
        return "other";
    if (len > LABEL_CACHE_VALUE_MAX)
        return shared_label(c, value);
    uint64_t hash = value_hash(value, len);
    struct label_cache_slot *slot = &cache->slots[hash & (LABEL_CACHE_SLOTS - 1)];
    if (slot->label && slot->hash == hash && memcmp(slot->value, value, len + 1) == 0)
        return slot->label;
    const char *label = shared_label(c, value);
    /* An "other" answer may be cached for good: admitted values are never removed, so a value
     * refused once is refused for the life of the cap. */
    slot->hash = hash;
    slot->label = label;
    memcpy(slot->value, value, len + 1);
    return label;
}
