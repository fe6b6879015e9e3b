/*
 * redis.c - hiredis 0.14 async client with deadlines, reconnect and a handshake.
 *
 * Lifetime rules this file is built around (hiredis 0.14.1 async.c):
 *  - Every command registered with a context gets its callback exactly once: with the reply,
 *    or with a NULL reply when the context is torn down (__redisAsyncFree runs them all).
 *    So a struct redis_pending lives until hiredis calls it back, even after its own
 *    callback was already answered by a timeout or by redis_client_free.
 *  - redisAsyncFree() from inside a reply callback is deferred by hiredis until the callback
 *    returns; outside callbacks it is immediate. We only call it from our own timers, from
 *    redis_client_free and from reply callbacks, never from a connect/disconnect callback
 *    (those are not protected in 0.14.1, so we do not register any).
 *  - The event adapter's cleanup hook runs exactly once per attached context, after all
 *    pending callbacks and before the context memory goes away. We wrap it: that is where
 *    a connection (attempt) ends, and the only safe point to free the client when the free
 *    was requested while hiredis was on the stack.
 */
#include "redis.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "alloc.h"
#include "log.h"
#include "redis_locate.h"
#include "redis_url.h"

#define REDIS_DEFAULT_COMMAND_MS 2000u
#define REDIS_DEFAULT_CONNECT_MS 2000u
#define REDIS_BACKOFF_FIRST_MS 100u
#define REDIS_BACKOFF_MAX_MS 5000u
/* At most one "Could not connect" line per this interval after the first of an outage. */
#define REDIS_FAILURE_LOG_INTERVAL_MS 5000u
/* A connection that lived this long is reconnected at once when lost (e.g. Redis' idle
 * `timeout`); a shorter-lived one waits a backoff step so a flapping server is not hammered. */
#define REDIS_STABLE_CONNECTION_MS 1000u
/* A client that sends nothing cannot notice a server that stopped answering (paused, hung, a
 * dead peer behind a live socket). So a ready client that has had no reply for this long sends
 * a PING; if that times out the client is stalled (unhealthy) like after any command's timeout,
 * on every worker alike, instead of only on the one that happened to send something. */
#define REDIS_PROBE_IDLE_MS 2000u
/* Sentinel mode: how often a ready client asks the Sentinels whether its server is still the
 * master (on the idle probe's 2 s timer, so in practice every 2 s). A failover closes the clients
 * of a master that died, but one that is demoted alive keeps answering (writes go to a server no
 * longer in charge) until the Sentinels reconfigure it, which took 10 s in our tests. */
#define REDIS_SENTINEL_CHECK_MS 1500u
/* Bound on commands awaiting a reply, so a stalled server cannot make us queue without end. */
#define REDIS_MAX_IN_FLIGHT 10000u

enum redis_state {
    REDIS_STATE_DOWN,       /* no context; a reconnect timer is armed */
    REDIS_STATE_CONNECTING, /* context exists; TCP connect or AUTH/SELECT/PING in progress */
    REDIS_STATE_READY,      /* handshake done */
};

enum redis_pending_kind {
    PENDING_USER,
    PENDING_HANDSHAKE,      /* AUTH or SELECT */
    PENDING_HANDSHAKE_ROLE, /* Sentinel mode: ROLE must say "master" */
    PENDING_HANDSHAKE_LAST, /* the PING whose answer makes the connection ready */
};

struct redis_pending {
    struct redis_client *client;
    struct redis_pending *prev, *next;
    enum redis_pending_kind kind;
    redis_callback_fn cb;
    void *arg;
    struct event *timer; /* user commands: the deadline; NULL once fired or answered */
    bool answered;       /* cb already called (timeout or close): a late reply is dropped */
};

struct redis_client {
    struct event_base *base;
    struct redis_endpoint ep; /* where to connect, credentials, db, printable address */
    unsigned command_ms, connect_ms;
    unsigned attempt_deadline_ms; /* connect_ms as armed for the current attempt */

    redisAsyncContext *ac;             /* the usable context, or NULL (none, or it is being torn down) */
    struct redis_locate_job *locating; /* a host name or Sentinel lookup in progress, or NULL */
    struct redis_locate_job *checking; /* Sentinel mode: a "still the master?" check, or NULL */
    uint64_t last_sentinel_check_ms;
    char connected_to[INET6_ADDRSTRLEN + 8]; /* the address of the current attempt, for logs */
    int contexts_alive;                      /* attached contexts whose cleanup hook has not run yet */
    enum redis_state state;
    struct event *reconnect_timer;
    struct event *connect_timer;
    struct event *probe_timer; /* every REDIS_PROBE_IDLE_MS: PING when idle (see above) */
    uint64_t last_reply_ms;    /* when the last reply (or readiness) came */
    bool probe_in_flight;
    unsigned failures; /* consecutive failed connection attempts */
    uint64_t ready_at_ms;
    time_t connected_since;
    bool stalled; /* a command timed out and no reply arrived since */
    uint64_t last_failure_log_ms;
    uint64_t rng;
    char attempt_error[256]; /* why the current attempt was abandoned, when hiredis cannot say */
    char last_error[256];

    struct redis_pending *pending_head;
    size_t in_flight;
    bool freeing; /* redis_client_free was called */
    bool in_free; /* ... and is still on the stack, so the cleanup hook must not free us */
};

static void start_attempt(struct redis_client *client);

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timeval ms_to_timeval(unsigned ms)
{
    struct timeval tv = {.tv_sec = ms / 1000u, .tv_usec = (ms % 1000u) * 1000u};
    return tv;
}

/* xorshift64: jitter only needs to differ between workers, not to be unpredictable. */
static uint64_t next_random(struct redis_client *client)
{
    uint64_t x = client->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    client->rng = x;
    return x;
}

/* ---- state changes ---- */

static void set_last_error(struct redis_client *client, const char *reason)
{
    if (reason != client->last_error)
        snprintf(client->last_error, sizeof(client->last_error), "%s", reason);
}

static void schedule_reconnect(struct redis_client *client, unsigned delay_ms)
{
    client->state = REDIS_STATE_DOWN;
    struct timeval tv = ms_to_timeval(delay_ms);
    evtimer_add(client->reconnect_timer, &tv);
}

/* Equal jitter: half the step fixed, half random, so workers do not reconnect in lockstep. */
static unsigned backoff_delay_ms(struct redis_client *client)
{
    unsigned step = REDIS_BACKOFF_FIRST_MS;
    for (unsigned i = 1; i < client->failures && step < REDIS_BACKOFF_MAX_MS; i++)
        step *= 2;
    if (step > REDIS_BACKOFF_MAX_MS)
        step = REDIS_BACKOFF_MAX_MS;
    return step / 2 + (unsigned)(next_random(client) % (step / 2 + 1));
}

static void attempt_failed(struct redis_client *client, const char *reason)
{
    client->failures++;
    set_last_error(client, reason);
    client->connected_since = 0;
    uint64_t now = monotonic_ms();
    /* The first failure of an outage is always logged; repeats at most once per interval. */
    if (client->failures == 1 || now - client->last_failure_log_ms >= REDIS_FAILURE_LOG_INTERVAL_MS) {
        struct log_field fields[] = {log_str("error", reason), log_str("redis", client->ep.address)};
        log_write(LOG_ERROR, "Could not connect to Redis", fields, 2);
        client->last_failure_log_ms = now;
    }
    schedule_reconnect(client, backoff_delay_ms(client));
}

static void connection_lost(struct redis_client *client, const char *reason)
{
    set_last_error(client, reason);
    client->connected_since = 0;
    struct log_field fields[] = {log_str("error", reason), log_str("redis", client->ep.address)};
    log_write(LOG_WARNING, "Lost connection to Redis", fields, 2);
    bool stable = monotonic_ms() - client->ready_at_ms >= REDIS_STABLE_CONNECTION_MS;
    client->failures = 0;
    schedule_reconnect(client, stable ? 0 : backoff_delay_ms(client));
}

static void became_ready(struct redis_client *client)
{
    client->state = REDIS_STATE_READY;
    client->failures = 0;
    client->stalled = false;
    client->ready_at_ms = monotonic_ms();
    client->last_reply_ms = client->ready_at_ms;
    client->last_sentinel_check_ms = client->ready_at_ms; /* the Sentinels were just asked */
    client->connected_since = time(NULL);
    evtimer_del(client->connect_timer);
    struct log_field fields[] = {log_str("redis", client->ep.address), log_int("db", client->ep.db),
                                 log_str("address", client->connected_to)};
    log_write(LOG_INFO, "Connected to Redis", fields, redis_endpoint_needs_lookup(&client->ep) ? 3 : 2);
}

static void destroy_client(struct redis_client *client)
{
    if (client->reconnect_timer)
        event_free(client->reconnect_timer);
    if (client->connect_timer)
        event_free(client->connect_timer);
    if (client->probe_timer)
        event_free(client->probe_timer);
    redis_endpoint_free(&client->ep);
    free(client);
}

/* A context is gone for good (its cleanup hook ran): classify why and plan the next step. */
static void context_gone(struct redis_client *client, redisAsyncContext *ac)
{
    client->contexts_alive--;
    if (client->ac == ac)
        client->ac = NULL;
    evtimer_del(client->connect_timer);
    if (client->freeing) {
        if (!client->in_free && client->contexts_alive == 0)
            destroy_client(client);
        return;
    }
    const char *reason = client->attempt_error[0] ? client->attempt_error
                         : ac->c.err              ? ac->c.errstr
                                                  : "connection closed";
    if (client->state == REDIS_STATE_READY)
        connection_lost(client, reason);
    else
        attempt_failed(client, reason);
    client->attempt_error[0] = '\0';
}

/* Our wrapper of the libevent adapter's cleanup hook (see the top of the file). */
static void on_context_cleanup(void *privdata)
{
    redisLibeventEvents *events = privdata;
    redisAsyncContext *ac = events->context;
    struct redis_client *client = ac->data;
    redisLibeventCleanup(privdata);
    context_gone(client, ac);
}

/* ---- commands ---- */

static void unlink_pending(struct redis_client *client, struct redis_pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        client->pending_head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

static void handle_handshake_reply(struct redis_client *client, redisAsyncContext *ac,
                                   enum redis_pending_kind kind, const redisReply *reply)
{
    if (!reply || client->freeing || client->ac != ac)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        /* e.g. WRONGPASS, NOAUTH, "DB index is out of range": this attempt failed. We are in a
         * reply callback, so hiredis defers the free until we return; the commands queued
         * behind the handshake then get NULL replies (GW_ERR_UNAVAILABLE). */
        snprintf(client->attempt_error, sizeof(client->attempt_error), "%s", reply->str);
        client->ac = NULL;
        redisAsyncFree(ac);
        return;
    }
    if (kind == PENDING_HANDSHAKE_ROLE) {
        const char *role = reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                                   reply->element[0]->type == REDIS_REPLY_STRING
                               ? reply->element[0]->str
                               : "?";
        if (strcmp(role, "master") != 0) {
            /* The Sentinel's answer is stale (a failover is under way): ask again next attempt. */
            snprintf(client->attempt_error, sizeof(client->attempt_error),
                     "%s is not the master (ROLE says %s); asking the Sentinels again", client->connected_to,
                     role);
            client->ac = NULL;
            redisAsyncFree(ac);
        }
        return;
    }
    if (kind == PENDING_HANDSHAKE_LAST)
        became_ready(client);
}

/* In Sentinel mode a READONLY error means the server we talk to was demoted to a replica: drop
 * the connection, so the next attempt asks the Sentinels for the new master. We are inside a
 * reply callback, so hiredis frees the context after it returns. */
static void drop_if_demoted(struct redis_client *client, redisAsyncContext *ac, const redisReply *reply)
{
    if (client->ep.sentinel_count == 0 || client->ac != ac || strncmp(reply->str, "READONLY", 8) != 0)
        return;
    snprintf(client->attempt_error, sizeof(client->attempt_error),
             "%s became a replica (READONLY); asking the Sentinels for the master", client->connected_to);
    client->ac = NULL;
    redisAsyncFree(ac);
}

static void on_reply(redisAsyncContext *ac, void *reply_ptr, void *privdata)
{
    struct redis_pending *p = privdata;
    struct redis_client *client = p->client;
    const redisReply *reply = reply_ptr;

    unlink_pending(client, p);
    if (p->timer) {
        event_free(p->timer);
        p->timer = NULL;
    }
    if (reply) {
        client->stalled = false;
        client->last_reply_ms = monotonic_ms();
    } else if (client->ac == ac)
        client->ac = NULL; /* NULL replies only come while the context is torn down */

    if (p->kind != PENDING_USER) {
        handle_handshake_reply(client, ac, p->kind, reply);
        free(p);
        return;
    }
    client->in_flight--;
    redis_callback_fn cb = p->cb;
    void *arg = p->arg;
    bool answered = p->answered;
    free(p);
    if (answered)
        return;

    struct redis_result result = {.err = GW_OK, .reply = reply, .error = NULL};
    if (!reply) {
        result.err = GW_ERR_UNAVAILABLE;
        result.error = ac->c.err                  ? ac->c.errstr
                       : client->attempt_error[0] ? client->attempt_error
                                                  : "connection to Redis closed";
    } else if (reply->type == REDIS_REPLY_ERROR) {
        result.err = GW_ERR_PROTOCOL;
        result.error = reply->str;
        drop_if_demoted(client, ac, reply);
    }
    /* Last thing we do: cb may free the client (the actual free then waits for the hook). */
    cb(&result, arg);
}

static void on_command_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_pending *p = arg;
    struct redis_client *client = p->client;
    event_free(p->timer);
    p->timer = NULL;
    p->answered = true; /* the pending stays registered with hiredis until its reply comes */
    client->stalled = true;
    snprintf(client->last_error, sizeof(client->last_error), "command timed out after %u ms",
             client->command_ms);
    struct redis_result result = {.err = GW_ERR_TIMEOUT, .reply = NULL, .error = client->last_error};
    p->cb(&result, p->arg);
}

/* Register a formatted command with the current context. */
static enum gw_err submit(struct redis_client *client, enum redis_pending_kind kind, redis_callback_fn cb,
                          void *arg, const char *cmd, size_t len)
{
    struct redis_pending *p = gw_calloc(1, sizeof(*p));
    p->client = client;
    p->kind = kind;
    p->cb = cb;
    p->arg = arg;
    if (redisAsyncFormattedCommand(client->ac, on_reply, p, cmd, len) != REDIS_OK) {
        free(p); /* the context is closing: hiredis did not take it */
        return GW_ERR_UNAVAILABLE;
    }
    p->next = client->pending_head;
    if (p->next)
        p->next->prev = p;
    client->pending_head = p;
    if (kind == PENDING_USER) {
        client->in_flight++;
        p->timer = evtimer_new(client->base, on_command_timeout, p);
        if (!p->timer)
            gw_oom(sizeof(struct event *));
        struct timeval tv = ms_to_timeval(client->command_ms);
        evtimer_add(p->timer, &tv);
    }
    return GW_OK;
}

static enum gw_err submit_argv(struct redis_client *client, enum redis_pending_kind kind, int argc,
                               const char **argv)
{
    char *cmd;
    int len = redisFormatCommandArgv(&cmd, argc, argv, NULL);
    if (len < 0)
        gw_oom(0);
    enum gw_err err = submit(client, kind, NULL, NULL, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return err;
}

/* AUTH, SELECT and a final PING, queued right behind the connect so they go out before any
 * user command. The PING also proves the connection works when neither AUTH nor SELECT is
 * needed, and gets NOAUTH if the server wants a password we were not given. */
static enum gw_err send_handshake(struct redis_client *client)
{
    enum gw_err err = GW_OK;
    if (client->ep.password && client->ep.password[0]) {
        const char *auth_user[] = {"AUTH", client->ep.user, client->ep.password};
        const char *auth[] = {"AUTH", client->ep.password};
        err = client->ep.user ? submit_argv(client, PENDING_HANDSHAKE, 3, auth_user)
                              : submit_argv(client, PENDING_HANDSHAKE, 2, auth);
    }
    if (!err && client->ep.sentinel_count > 0) {
        const char *role[] = {"ROLE"};
        err = submit_argv(client, PENDING_HANDSHAKE_ROLE, 1, role);
    }
    if (!err && client->ep.db != 0) {
        char db_text[16];
        snprintf(db_text, sizeof(db_text), "%d", client->ep.db);
        const char *select[] = {"SELECT", db_text};
        err = submit_argv(client, PENDING_HANDSHAKE, 2, select);
    }
    if (!err) {
        const char *ping[] = {"PING"};
        err = submit_argv(client, PENDING_HANDSHAKE_LAST, 1, ping);
    }
    return err;
}

/* Open the connection of this attempt to host:port (numeric), or to the Unix socket. */
static void connect_to(struct redis_client *client, const char *host, int port)
{
    redisAsyncContext *ac =
        client->ep.unix_path ? redisAsyncConnectUnix(client->ep.unix_path) : redisAsyncConnect(host, port);
    if (!ac)
        gw_oom(sizeof(*ac));
    if (ac->err) {
        /* Failed synchronously (e.g. refused on loopback, no socket file): not attached yet. */
        snprintf(client->attempt_error, sizeof(client->attempt_error), "%s", ac->errstr);
        redisAsyncFree(ac);
        evtimer_del(client->connect_timer);
        attempt_failed(client, client->attempt_error);
        client->attempt_error[0] = '\0';
        return;
    }
    if (!client->ep.unix_path)
        redisEnableKeepAlive(&ac->c);
    if (redisLibeventAttach(ac, client->base) != REDIS_OK) {
        redisAsyncFree(ac);
        evtimer_del(client->connect_timer);
        attempt_failed(client, "cannot attach to the event loop");
        return;
    }
    ac->data = client;
    ac->ev.cleanup = on_context_cleanup;
    client->ac = ac;
    client->contexts_alive++;
    if (send_handshake(client) != GW_OK) {
        snprintf(client->attempt_error, sizeof(client->attempt_error), "cannot queue the handshake");
        client->ac = NULL;
        redisAsyncFree(ac); /* not in a hiredis callback: immediate, ends in context_gone */
    }
}

static void on_located(enum gw_err err, const struct redis_location *location, const char *why, void *arg)
{
    struct redis_client *client = arg;
    client->locating = NULL;
    if (err != GW_OK) {
        evtimer_del(client->connect_timer);
        attempt_failed(client, why);
        return;
    }
    /* Successive failed attempts walk through the addresses a name has (IPv6 and IPv4, ...). */
    const char *host = location->hosts[client->failures % location->count];
    redis_format_address(client->connected_to, sizeof(client->connected_to), host, location->port);
    connect_to(client, host, location->port);
}

static void start_attempt(struct redis_client *client)
{
    client->attempt_error[0] = '\0';
    client->state = REDIS_STATE_CONNECTING;
    /* One deadline for the lookup, the connect and the handshake together. */
    client->attempt_deadline_ms = client->connect_ms;
    struct timeval tv = ms_to_timeval(client->connect_ms);
    evtimer_add(client->connect_timer, &tv);
    if (!redis_endpoint_needs_lookup(&client->ep)) {
        snprintf(client->connected_to, sizeof(client->connected_to), "%s", client->ep.address);
        connect_to(client, client->ep.host, client->ep.port);
        return;
    }
    client->locating = redis_locate_start(client->base, &client->ep, client->connect_ms, on_located, client);
    if (!client->locating) {
        evtimer_del(client->connect_timer);
        attempt_failed(client, "cannot start the address lookup (no thread or socket)");
    }
}

static void on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_attempt(arg);
}

static void on_connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_client *client = arg;
    if (client->state == REDIS_STATE_CONNECTING && client->locating) {
        redis_locate_cancel(client->locating);
        client->locating = NULL;
        char reason[128];
        snprintf(reason, sizeof(reason), "%s timed out after %u ms",
                 client->ep.sentinel_count ? "asking the Sentinels" : "resolving the host name",
                 client->attempt_deadline_ms);
        attempt_failed(client, reason);
        return;
    }
    if (client->state != REDIS_STATE_CONNECTING || !client->ac)
        return;
    snprintf(client->attempt_error, sizeof(client->attempt_error), "connect timed out after %u ms",
             client->attempt_deadline_ms);
    redisAsyncContext *ac = client->ac;
    client->ac = NULL;
    redisAsyncFree(ac); /* immediate: queued commands get UNAVAILABLE, then context_gone */
}

/* Commands whose replies do not follow one-command-one-reply (pub/sub, MONITOR), that switch
 * the protocol (HELLO: hiredis 0.14 dies on RESP3), or that would silently undo what the
 * handshake set up on this connection (SELECT, AUTH, RESET). */
static bool command_is_refused(const char *cmd, size_t len)
{
    static const char *const refused[] = {"HELLO",     "SELECT",       "AUTH",        "RESET",
                                          "SUBSCRIBE", "PSUBSCRIBE",   "SSUBSCRIBE",  "UNSUBSCRIBE",
                                          "MONITOR",   "PUNSUBSCRIBE", "SUNSUBSCRIBE"};
    /* cmd is "*<argc>\r\n$<len>\r\n<name>\r\n..." as produced by hiredis' formatter. */
    const char *end = cmd + len;
    const char *p = memchr(cmd, '\n', len);
    if (!p || p + 1 >= end || p[1] != '$')
        return true; /* no arguments at all: hiredis would assert on it */
    p += 2;
    size_t name_len = 0;
    while (p < end && *p >= '0' && *p <= '9')
        name_len = name_len * 10 + (size_t)(*p++ - '0');
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n' || (size_t)(end - p - 2) < name_len)
        return true;
    p += 2;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (strlen(refused[i]) == name_len && strncasecmp(p, refused[i], name_len) == 0)
            return true;
    return false;
}

static enum gw_err check_accepting(const struct redis_client *client)
{
    if (client->freeing)
        return GW_ERR_CLOSED;
    if (!client->ac)
        return GW_ERR_UNAVAILABLE;
    /* During the first attempt after start or after losing a good connection, commands queue
     * behind the handshake; once an attempt has failed, Redis is down: fail fast. */
    if (client->state == REDIS_STATE_CONNECTING && client->failures > 0)
        return GW_ERR_UNAVAILABLE;
    if (client->in_flight >= REDIS_MAX_IN_FLIGHT)
        return GW_ERR_UNAVAILABLE;
    return GW_OK;
}

static enum gw_err submit_user_command(struct redis_client *client, redis_callback_fn cb, void *arg,
                                       char *cmd, int len)
{
    if (len == -1)
        gw_oom(0);
    if (len < 0)
        return GW_ERR_INVALID; /* malformed format string; nothing was allocated */
    enum gw_err err = command_is_refused(cmd, (size_t)len)
                          ? GW_ERR_INVALID
                          : submit(client, PENDING_USER, cb, arg, cmd, (size_t)len);
    redisFreeCommand(cmd);
    return err;
}

enum gw_err redis_command(struct redis_client *client, redis_callback_fn cb, void *arg, const char *fmt, ...)
{
    if (!cb)
        return GW_ERR_INVALID;
    enum gw_err err = check_accepting(client);
    if (err)
        return err;
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    return submit_user_command(client, cb, arg, cmd, len);
}

enum gw_err redis_command_argv(struct redis_client *client, redis_callback_fn cb, void *arg, int argc,
                               const char **argv, const size_t *argvlen)
{
    enum gw_err err = check_accepting(client);
    if (err)
        return err;
    if (argc < 1 || !argv || !cb)
        return GW_ERR_INVALID;
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    return submit_user_command(client, cb, arg, cmd, len);
}

/* ---- lifecycle and health ---- */

static void probe_answered(const struct redis_result *result, void *arg)
{
    if (result->err == GW_ERR_CLOSED)
        return; /* the client is being freed */
    struct redis_client *client = arg;
    client->probe_in_flight = false;
}

static void on_master_checked(enum gw_err err, const struct redis_location *location, const char *why,
                              void *arg)
{
    (void)why; /* a Sentinel that cannot answer now says nothing about our server */
    struct redis_client *client = arg;
    client->checking = NULL;
    if (err != GW_OK || client->state != REDIS_STATE_READY || !client->ac)
        return;
    for (size_t i = 0; i < location->count; i++) {
        char address[sizeof(client->connected_to)];
        const char *host = location->hosts[i];
        redis_format_address(address, sizeof(address), host, location->port);
        if (strcmp(address, client->connected_to) == 0)
            return;
    }
    snprintf(client->attempt_error, sizeof(client->attempt_error),
             "the Sentinels now name another master than %s (failover)", client->connected_to);
    redisAsyncContext *ac = client->ac;
    client->ac = NULL;
    redisAsyncFree(ac); /* not in a hiredis callback: immediate; context_gone reconnects at once */
}

static void check_sentinel_master(struct redis_client *client)
{
    uint64_t now = monotonic_ms();
    if (client->ep.sentinel_count == 0 || client->state != REDIS_STATE_READY || client->checking ||
        now - client->last_sentinel_check_ms < REDIS_SENTINEL_CHECK_MS)
        return;
    client->last_sentinel_check_ms = now;
    client->checking =
        redis_locate_start(client->base, &client->ep, client->connect_ms, on_master_checked, client);
}

static void on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct redis_client *client = arg;
    check_sentinel_master(client);
    /* Not while stalled: that is known already, and the late replies will clear it. */
    if (client->state != REDIS_STATE_READY || !client->ac || client->probe_in_flight || client->stalled ||
        monotonic_ms() - client->last_reply_ms < REDIS_PROBE_IDLE_MS)
        return;
    if (redis_command(client, probe_answered, client, "PING") == GW_OK)
        client->probe_in_flight = true;
}

enum gw_err redis_client_create(struct event_base *base, const char *url, const char *password_override,
                                struct redis_client **out)
{
    *out = NULL;
    if (!base || !url)
        return GW_ERR_INVALID;
    struct redis_client *client = gw_calloc(1, sizeof(*client));
    client->base = base;
    client->command_ms = REDIS_DEFAULT_COMMAND_MS;
    client->connect_ms = REDIS_DEFAULT_CONNECT_MS;
    const char *reason = NULL;
    if (redis_endpoint_parse(url, &client->ep, &reason) != GW_OK) {
        /* Never log the URL itself: it may carry the password. */
        struct log_field fields[] = {log_str("error", reason)};
        log_write(LOG_ERROR, "Invalid REDIS_URL", fields, 1);
        destroy_client(client);
        return GW_ERR_CONFIG;
    }
    if (password_override && password_override[0]) {
        free(client->ep.password);
        client->ep.password = gw_strdup(password_override);
    }
    client->reconnect_timer = evtimer_new(base, on_reconnect_timer, client);
    client->connect_timer = evtimer_new(base, on_connect_timeout, client);
    client->probe_timer = event_new(base, -1, EV_PERSIST, on_probe_timer, client);
    if (!client->reconnect_timer || !client->connect_timer || !client->probe_timer)
        gw_oom(sizeof(struct event *));
    struct timeval probe_every = ms_to_timeval(REDIS_PROBE_IDLE_MS);
    event_add(client->probe_timer, &probe_every);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    client->rng = ((uint64_t)(uintptr_t)client * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ts.tv_nsec ^ 1u;
    start_attempt(client);
    *out = client;
    return GW_OK;
}

void redis_client_free(struct redis_client *client)
{
    if (!client || client->freeing)
        return;
    client->freeing = true;
    client->in_free = true;
    evtimer_del(client->reconnect_timer);
    evtimer_del(client->connect_timer);
    event_del(client->probe_timer);
    redis_locate_cancel(client->locating);
    client->locating = NULL;
    redis_locate_cancel(client->checking);
    client->checking = NULL;
    /* Answer every command still waiting. Callbacks cannot change the list here: new commands
     * are refused (freeing) and replies only arrive from the event loop or redisAsyncFree. */
    for (struct redis_pending *p = client->pending_head; p; p = p->next) {
        if (p->kind != PENDING_USER || p->answered)
            continue;
        p->answered = true;
        if (p->timer) {
            event_free(p->timer);
            p->timer = NULL;
        }
        struct redis_result result = {.err = GW_ERR_CLOSED, .reply = NULL, .error = "Redis client closed"};
        p->cb(&result, p->arg);
    }
    if (client->ac) {
        redisAsyncContext *ac = client->ac;
        client->ac = NULL;
        /* Immediate unless we are inside one of its reply callbacks; then hiredis frees it when
         * the callback returns and the cleanup hook frees the client. */
        redisAsyncFree(ac);
    }
    client->in_free = false;
    if (client->contexts_alive == 0)
        destroy_client(client);
}

void redis_client_set_timeouts(struct redis_client *client, unsigned command_ms, unsigned connect_ms)
{
    if (command_ms)
        client->command_ms = command_ms;
    if (connect_ms)
        client->connect_ms = connect_ms;
}

bool redis_client_healthy(const struct redis_client *client)
{
    return client->state == REDIS_STATE_READY && client->ac && !client->stalled;
}

const char *redis_client_last_error(const struct redis_client *client)
{
    return client->last_error;
}

time_t redis_client_connected_since(const struct redis_client *client)
{
    return client->state == REDIS_STATE_READY ? client->connected_since : 0;
}

const char *redis_client_address(const struct redis_client *client)
{
    return client->ep.address;
}

size_t redis_client_in_flight(const struct redis_client *client)
{
    return client->in_flight;
}
