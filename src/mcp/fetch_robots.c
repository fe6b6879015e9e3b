/*
 * fetch_robots.c - robots.txt matching and the per-origin cache (see fetch_robots.h).
 */
#include "mcp/fetch_robots.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/alloc.h"

struct line {
    const char *key, *value;
    size_t key_len, value_len;
};

/* The next "key: value" line from *p (comments and spaces trimmed); false at the end. */
static bool next_line(const char **p, const char *end, struct line *out)
{
    while (*p < end) {
        const char *s = *p, *eol = s;
        while (eol < end && *eol != '\n' && *eol != '\r')
            eol++;
        *p = eol < end ? eol + 1 : end;
        const char *hash = memchr(s, '#', (size_t)(eol - s));
        const char *stop = hash ? hash : eol;
        const char *colon = memchr(s, ':', (size_t)(stop - s));
        if (!colon)
            continue;
        const char *k = s, *ke = colon, *v = colon + 1, *ve = stop;
        while (k < ke && isspace((unsigned char)*k))
            k++;
        while (ke > k && isspace((unsigned char)ke[-1]))
            ke--;
        while (v < ve && isspace((unsigned char)*v))
            v++;
        while (ve > v && isspace((unsigned char)ve[-1]))
            ve--;
        *out = (struct line){k, v, (size_t)(ke - k), (size_t)(ve - v)};
        return true;
    }
    return false;
}

static bool key_is(const struct line *l, const char *name)
{
    return l->key_len == strlen(name) && strncasecmp(l->key, name, l->key_len) == 0;
}

/* How well a User-agent value matches our agent: its product token's length when it occurs in
 * user_agent, 0 for "*", -1 for no match. */
static long agent_match(const struct line *l, const char *user_agent)
{
    size_t n = 0;
    while (n < l->value_len &&
           (isalnum((unsigned char)l->value[n]) || l->value[n] == '-' || l->value[n] == '_'))
        n++;
    if (l->value_len >= 1 && l->value[0] == '*')
        return 0;
    if (n == 0)
        return -1;
    for (const char *u = user_agent; *u; u++)
        if (strncasecmp(u, l->value, n) == 0)
            return (long)n;
    return -1;
}

/* Whether pattern (with '*' and a final '$') matches a prefix of path (or all of it for '$'). */
static bool pattern_matches(const char *pat, size_t pat_len, const char *path)
{
    bool anchored = pat_len > 0 && pat[pat_len - 1] == '$';
    if (anchored)
        pat_len--;
    size_t path_len = strlen(path), pi = 0, si = 0;
    size_t star_pi = (size_t)-1, star_si = 0;
    /* Glob with backtracking to the last star: O(len(pattern) * len(path)) at worst. */
    while (si < path_len || pi < pat_len) {
        if (pi < pat_len && pat[pi] == '*') {
            star_pi = pi++;
            star_si = si;
            continue;
        }
        if (pi == pat_len && !anchored)
            return true;
        if (pi < pat_len && si < path_len && pat[pi] == path[si]) {
            pi++;
            si++;
            continue;
        }
        if (star_pi != (size_t)-1 && star_si < path_len) {
            pi = star_pi + 1;
            si = ++star_si;
            continue;
        }
        return false;
    }
    return true;
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* One spelling per URL path (RFC 9309 2.2.2, RFC 3986 6.2.2): %XX of unreserved characters
 * decoded, other %XX upper-cased, bytes outside printable ASCII percent-encoded. So
 * "/%7Euser" matches "/~user" and "/caf%c3%a9" matches a raw "/café". Caller frees. */
static char *normalize_path(const char *in, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = gw_malloc(len * 3 + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '%' && i + 2 < len && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
            unsigned char v = (unsigned char)(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
            if (isalnum(v) || v == '-' || v == '.' || v == '_' || v == '~') {
                *o++ = (char)v;
            } else {
                *o++ = '%';
                *o++ = hex[v >> 4];
                *o++ = hex[v & 15];
            }
            i += 2;
        } else if (c <= 0x20 || c >= 0x7F) {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    *o = '\0';
    return out;
}

bool robots_allows(const char *text, size_t len, const char *user_agent, const char *raw_path)
{
    if (!text || !raw_path)
        return true;
    const char *end = text + len;
    struct line l;
    /* Pass 1: the best agent match among all groups. */
    long best = -1;
    for (const char *p = text; next_line(&p, end, &l);)
        if (key_is(&l, "user-agent")) {
            long m = agent_match(&l, user_agent);
            if (m > best)
                best = m;
        }
    if (best < 0)
        return true;
    char *path = normalize_path(raw_path, strlen(raw_path));
    /* Pass 2: the rules of every group that matched that well; longest pattern wins. */
    bool in_group = false, after_rules = false, allowed = true;
    long longest = -1;
    for (const char *p = text; next_line(&p, end, &l);) {
        if (key_is(&l, "user-agent")) {
            if (after_rules)
                in_group = false;
            after_rules = false;
            if (agent_match(&l, user_agent) == best)
                in_group = true;
            continue;
        }
        bool allow = key_is(&l, "allow"), disallow = key_is(&l, "disallow");
        if (!allow && !disallow)
            continue;
        after_rules = true;
        if (!in_group || l.value_len == 0)
            continue;
        char *pattern = normalize_path(l.value, l.value_len);
        bool matches = pattern_matches(pattern, strlen(pattern), path);
        free(pattern);
        if (!matches)
            continue;
        long weight = (long)l.value_len;
        if (weight > longest || (weight == longest && allow)) {
            longest = weight;
            allowed = allow;
        }
    }
    free(path);
    return allowed;
}

/* ---- the cache ---- */

#define CACHE_SLOTS 64

struct cache_entry {
    char *origin; /* NULL: free slot */
    enum robots_verdict verdict;
    char *text;
    time_t stored;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cache_entry cache[CACHE_SLOTS];

static time_t now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

static void entry_clear(struct cache_entry *e)
{
    free(e->origin);
    free(e->text);
    *e = (struct cache_entry){0};
}

bool robots_cache_get(const char *origin, enum robots_verdict *verdict, char **text)
{
    bool found = false;
    time_t now = now_seconds();
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_SLOTS && !found; i++) {
        struct cache_entry *e = &cache[i];
        if (!e->origin || strcmp(e->origin, origin) != 0)
            continue;
        if (now - e->stored >= ROBOTS_CACHE_SECONDS) {
            entry_clear(e);
            break;
        }
        *verdict = e->verdict;
        *text = e->text ? gw_strdup(e->text) : NULL;
        found = true;
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

void robots_cache_put(const char *origin, enum robots_verdict verdict, const char *text, size_t len)
{
    if (len > ROBOTS_MAX_BYTES)
        len = ROBOTS_MAX_BYTES;
    pthread_mutex_lock(&cache_lock);
    struct cache_entry *slot = &cache[0];
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        struct cache_entry *e = &cache[i];
        if (!e->origin || strcmp(e->origin, origin) == 0) {
            slot = e;
            break;
        }
        if (e->stored < slot->stored) /* else the oldest goes */
            slot = e;
    }
    entry_clear(slot);
    slot->origin = gw_strdup(origin);
    slot->verdict = verdict;
    slot->text = verdict == ROBOTS_USE_TEXT ? gw_strndup(text ? text : "", len) : NULL;
    slot->stored = now_seconds();
    pthread_mutex_unlock(&cache_lock);
}

void robots_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        entry_clear(&cache[i]);
    pthread_mutex_unlock(&cache_lock);
}
