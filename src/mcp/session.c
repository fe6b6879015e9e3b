/*
 * session.c - the session table: a chained hash of sessions under one mutex, with reference
 * counts, idle expiry and a bounded queue of server-to-client messages per session.
 *
 * Lock order: the table mutex may be taken while holding nothing; a session's state lock is
 * taken by services only, never together with the table mutex.
 */
#include "mcp/session.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/alloc.h"
#include "core/server.h"

#define BUCKETS 1024 /* a power of two */

struct queued_message {
    struct queued_message *next;
    char *text;
};

struct mcp_session {
    struct mcp_session_table *table;
    struct mcp_session *next_in_bucket;
    char id[MCP_SESSION_ID_LEN + 1];
    enum mcp_version version;
    void *state;
    pthread_mutex_t state_lock;
    /* The fields below are guarded by the table mutex. */
    int refs;
    bool live; /* in the table */
    int64_t last_used_usec;
    void (*wake)(void *arg);
    void *wake_arg;
    struct queued_message *queue_head, *queue_tail;
    size_t queued;
};

struct mcp_session_table {
    pthread_mutex_t lock;
    struct mcp_session *buckets[BUCKETS];
    size_t count;
    size_t max_sessions;
    int64_t idle_timeout_usec;
    struct mcp_session_hooks hooks;
};

static size_t bucket_of(const char *id)
{
    uint32_t h = 2166136261u; /* FNV-1a: ids are random already; this only spreads them */
    for (const unsigned char *p = (const unsigned char *)id; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h & (BUCKETS - 1);
}

struct mcp_session_table *mcp_session_table_create(size_t max_sessions, int64_t idle_timeout_usec,
                                                   const struct mcp_session_hooks *hooks)
{
    struct mcp_session_table *t = gw_calloc(1, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    t->max_sessions = max_sessions ? max_sessions : 1;
    t->idle_timeout_usec = idle_timeout_usec;
    if (hooks)
        t->hooks = *hooks;
    return t;
}

static void session_destroy(struct mcp_session *s)
{
    struct mcp_session_table *t = s->table;
    if (s->state && t->hooks.destroy)
        t->hooks.destroy(s->state, t->hooks.arg);
    for (struct queued_message *q = s->queue_head, *next; q; q = next) {
        next = q->next;
        free(q->text);
        free(q);
    }
    pthread_mutex_destroy(&s->state_lock);
    free(s);
}

void mcp_session_table_free(struct mcp_session_table *table)
{
    if (!table)
        return;
    for (size_t b = 0; b < BUCKETS; b++) {
        for (struct mcp_session *s = table->buckets[b], *next; s; s = next) {
            next = s->next_in_bucket;
            /* Every worker has stopped: whatever references remain belonged to them. */
            session_destroy(s);
        }
    }
    pthread_mutex_destroy(&table->lock);
    free(table);
}

/* Unlink a live session (table mutex held); the caller then drops the table's reference. */
static void unlink_locked(struct mcp_session_table *t, struct mcp_session *s)
{
    struct mcp_session **pp = &t->buckets[bucket_of(s->id)];
    while (*pp && *pp != s)
        pp = &(*pp)->next_in_bucket;
    if (*pp)
        *pp = s->next_in_bucket;
    s->next_in_bucket = NULL;
    s->live = false;
    t->count--;
    if (s->wake)
        s->wake(s->wake_arg); /* the stream closes itself when it sees the session ended */
}

static bool idle_expired_locked(const struct mcp_session_table *t, const struct mcp_session *s, int64_t now)
{
    /* In use (a request or a stream holds it) means not idle, however old last_used is. */
    return t->idle_timeout_usec > 0 && s->refs == 1 && !s->wake &&
           now - s->last_used_usec > t->idle_timeout_usec;
}

/* Drop one reference with the mutex held; true when the caller must destroy the session. */
static bool unref_locked(struct mcp_session *s)
{
    return --s->refs == 0;
}

static void notify_count(struct mcp_session_table *t, size_t count)
{
    if (t->hooks.count_changed)
        t->hooks.count_changed(count, t->hooks.arg);
}

static size_t expire_locked(struct mcp_session_table *t, int64_t now, struct mcp_session **dead)
{
    size_t n = 0;
    for (size_t b = 0; b < BUCKETS; b++) {
        struct mcp_session *s = t->buckets[b];
        while (s) {
            struct mcp_session *next = s->next_in_bucket;
            if (idle_expired_locked(t, s, now)) {
                unlink_locked(t, s);
                if (unref_locked(s)) {
                    s->next_in_bucket = *dead;
                    *dead = s;
                }
                n++;
            }
            s = next;
        }
    }
    return n;
}

static void destroy_list(struct mcp_session *dead)
{
    while (dead) {
        struct mcp_session *next = dead->next_in_bucket;
        session_destroy(dead);
        dead = next;
    }
}

static void random_id(char out[MCP_SESSION_ID_LEN + 1])
{
    unsigned char raw[MCP_SESSION_ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof(raw)) {
        ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
        if (n < 0)
            abort(); /* no randomness means no secure session ids: refuse to go on */
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

enum gw_err mcp_session_create(struct mcp_session_table *table, enum mcp_version version,
                               struct mcp_session **out)
{
    *out = NULL;
    struct mcp_session *s = gw_calloc(1, sizeof(*s));
    s->table = table;
    s->version = version;
    pthread_mutex_init(&s->state_lock, NULL);
    random_id(s->id);
    if (table->hooks.create)
        s->state = table->hooks.create(table->hooks.arg);
    struct mcp_session *dead = NULL;
    int64_t now = server_now_usec();
    pthread_mutex_lock(&table->lock);
    if (table->count >= table->max_sessions)
        expire_locked(table, now, &dead);
    if (table->count >= table->max_sessions) {
        pthread_mutex_unlock(&table->lock);
        destroy_list(dead);
        session_destroy(s);
        return GW_ERR_TOO_LARGE;
    }
    size_t b = bucket_of(s->id);
    s->next_in_bucket = table->buckets[b];
    table->buckets[b] = s;
    s->live = true;
    s->refs = 2; /* the table's and the caller's */
    s->last_used_usec = now;
    size_t count = ++table->count;
    pthread_mutex_unlock(&table->lock);
    destroy_list(dead);
    notify_count(table, count);
    *out = s;
    return GW_OK;
}

struct mcp_session *mcp_session_acquire(struct mcp_session_table *table, const char *id)
{
    if (!id || strlen(id) != MCP_SESSION_ID_LEN)
        return NULL;
    int64_t now = server_now_usec();
    struct mcp_session *found = NULL, *dead = NULL;
    bool expired = false;
    size_t count = 0;
    pthread_mutex_lock(&table->lock);
    for (struct mcp_session *s = table->buckets[bucket_of(id)]; s; s = s->next_in_bucket) {
        if (strcmp(s->id, id) != 0)
            continue;
        if (idle_expired_locked(table, s, now)) {
            unlink_locked(table, s);
            if (unref_locked(s))
                dead = s;
            expired = true;
            count = table->count;
        } else {
            s->refs++;
            s->last_used_usec = now;
            found = s;
        }
        break;
    }
    pthread_mutex_unlock(&table->lock);
    if (dead)
        session_destroy(dead);
    if (expired)
        notify_count(table, count);
    return found;
}

void mcp_session_release(struct mcp_session *session)
{
    if (!session)
        return;
    struct mcp_session_table *t = session->table;
    pthread_mutex_lock(&t->lock);
    session->last_used_usec = server_now_usec(); /* idle time counts from the end of the last use */
    bool destroy = unref_locked(session);
    pthread_mutex_unlock(&t->lock);
    if (destroy)
        session_destroy(session);
}

bool mcp_session_end(struct mcp_session_table *table, const char *id)
{
    if (!id || strlen(id) != MCP_SESSION_ID_LEN)
        return false;
    struct mcp_session *dead = NULL;
    bool ended = false;
    size_t count = 0;
    pthread_mutex_lock(&table->lock);
    for (struct mcp_session *s = table->buckets[bucket_of(id)]; s; s = s->next_in_bucket) {
        if (strcmp(s->id, id) != 0)
            continue;
        unlink_locked(table, s);
        if (unref_locked(s))
            dead = s;
        ended = true;
        count = table->count;
        break;
    }
    pthread_mutex_unlock(&table->lock);
    if (dead)
        session_destroy(dead);
    if (ended)
        notify_count(table, count);
    return ended;
}

size_t mcp_session_table_expire(struct mcp_session_table *table, int64_t now_usec)
{
    struct mcp_session *dead = NULL;
    pthread_mutex_lock(&table->lock);
    size_t n = expire_locked(table, now_usec, &dead);
    size_t count = table->count;
    pthread_mutex_unlock(&table->lock);
    destroy_list(dead);
    if (n)
        notify_count(table, count);
    return n;
}

size_t mcp_session_table_count(struct mcp_session_table *table)
{
    pthread_mutex_lock(&table->lock);
    size_t n = table->count;
    pthread_mutex_unlock(&table->lock);
    return n;
}

const char *mcp_session_id(const struct mcp_session *session)
{
    return session->id;
}

enum mcp_version mcp_session_version(const struct mcp_session *session)
{
    return session->version;
}

void *mcp_session_state(const struct mcp_session *session)
{
    return session->state;
}

void mcp_session_lock(struct mcp_session *session)
{
    pthread_mutex_lock(&session->state_lock);
}

void mcp_session_unlock(struct mcp_session *session)
{
    pthread_mutex_unlock(&session->state_lock);
}

bool mcp_session_ended(struct mcp_session *session)
{
    pthread_mutex_lock(&session->table->lock);
    bool ended = !session->live;
    pthread_mutex_unlock(&session->table->lock);
    return ended;
}

void mcp_session_touch(struct mcp_session *session)
{
    pthread_mutex_lock(&session->table->lock);
    session->last_used_usec = server_now_usec();
    pthread_mutex_unlock(&session->table->lock);
}

enum gw_err mcp_session_attach_stream(struct mcp_session *session, void (*wake)(void *arg), void *arg)
{
    enum gw_err err = GW_OK;
    pthread_mutex_lock(&session->table->lock);
    if (!session->live)
        err = GW_ERR_CLOSED;
    else if (session->wake)
        err = GW_ERR_EXISTS;
    else {
        session->wake = wake;
        session->wake_arg = arg;
        if (session->queued)
            wake(arg); /* deliver what waited for a stream */
    }
    pthread_mutex_unlock(&session->table->lock);
    return err;
}

void mcp_session_detach_stream(struct mcp_session *session)
{
    pthread_mutex_lock(&session->table->lock);
    session->wake = NULL;
    session->wake_arg = NULL;
    session->last_used_usec = server_now_usec();
    pthread_mutex_unlock(&session->table->lock);
}

enum gw_err mcp_session_post(struct mcp_session *session, const char *json_text)
{
    struct queued_message *q = gw_calloc(1, sizeof(*q));
    q->text = gw_strdup(json_text);
    enum gw_err err = GW_OK;
    pthread_mutex_lock(&session->table->lock);
    if (!session->live) {
        err = GW_ERR_CLOSED;
    } else if (session->queued >= MCP_SESSION_QUEUE_MAX) {
        err = GW_ERR_TOO_LARGE;
    } else {
        if (session->queue_tail)
            session->queue_tail->next = q;
        else
            session->queue_head = q;
        session->queue_tail = q;
        session->queued++;
        if (session->wake)
            session->wake(session->wake_arg);
    }
    pthread_mutex_unlock(&session->table->lock);
    if (err) {
        free(q->text);
        free(q);
    }
    return err;
}

char *mcp_session_take_message(struct mcp_session *session)
{
    char *text = NULL;
    pthread_mutex_lock(&session->table->lock);
    struct queued_message *q = session->queue_head;
    if (q) {
        session->queue_head = q->next;
        if (!session->queue_head)
            session->queue_tail = NULL;
        session->queued--;
        text = q->text;
    }
    pthread_mutex_unlock(&session->table->lock);
    free(q);
    return text;
}
