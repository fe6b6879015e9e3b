/*
 * redis.h - an asynchronous Redis client on a worker thread's event loop (hiredis 0.14, RESP2).
 *
 * hiredis 0.14 has no timeouts, no reconnect and resolves names with blocking DNS, so this
 * wrapper adds them: every command has a deadline (default 2 s), a lost connection is
 * re-established with jittered exponential backoff (100 ms doubling to 5 s), each connection
 * starts with AUTH and SELECT before any other command, and while Redis is down commands fail
 * at once with GW_ERR_UNAVAILABLE instead of queueing without bound.
 *
 * A client belongs to the thread that runs its event_base: create it, issue commands, read its
 * health and free it on that thread only (each worker has its own client). Not thread-safe.
 *
 * Callback contract: a command accepted with GW_OK gets exactly one callback, later, from the
 * event loop (never from inside redis_command itself): a reply, a Redis error reply, a timeout,
 * the loss of the connection, or GW_ERR_CLOSED when the client is freed first. A command that
 * is refused (non-GW_OK return) gets no callback.
 */
#ifndef MCPGW_CORE_REDIS_H
#define MCPGW_CORE_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "err.h"

struct event_base;
struct redis_client;

/* What a command callback receives. Everything in it is borrowed for the duration of the
 * callback only: copy what you keep. */
struct redis_result {
    /* GW_OK             Redis answered; reply is set and is not an error reply.
     * GW_ERR_PROTOCOL   Redis answered with an error reply (WRONGTYPE, OOM, ...); reply is set
     *                   (type REDIS_REPLY_ERROR) and error holds its text.
     * GW_ERR_TIMEOUT    no answer within the command timeout; a late answer is dropped.
     * GW_ERR_UNAVAILABLE the connection was lost or never came up before the answer.
     * GW_ERR_CLOSED     the client was freed while the command was in flight. */
    enum gw_err err;
    const struct redisReply *reply; /* NULL unless err is GW_OK or GW_ERR_PROTOCOL */
    const char *error;              /* NULL when err == GW_OK; otherwise a reason for logs */
};

typedef void (*redis_callback_fn)(const struct redis_result *result, void *arg);

/* Parse url and start connecting on base (the calling thread's loop). Accepted URLs:
 *   redis://[[user][:password]@]host[:port][/db]   host: an IP literal ([v6] too) or "localhost"
 *   unix:///path/to/redis.sock[?db=N]
 * (?db=N is accepted on redis:// too; user and password may be percent-encoded.) Host names
 * other than localhost are refused because hiredis would resolve them with blocking DNS on the
 * worker thread. password_override (may be NULL or "") replaces the URL's password, for
 * REDIS_PASSWORD. Returns GW_ERR_CONFIG for a bad URL (a static reason is logged); otherwise
 * GW_OK and *out, even when Redis is down: the client keeps trying in the background.
 * Caller frees with redis_client_free. base is borrowed and must outlive the client. */
enum gw_err redis_client_create(struct event_base *base, const char *url, const char *password_override,
                                struct redis_client **out);

/* Free the client on its loop thread. Every command still in flight gets its callback with
 * GW_ERR_CLOSED before this returns (exactly once; a command that already timed out gets
 * nothing more). Safe to call from inside a redis callback; NULL is ignored. */
void redis_client_free(struct redis_client *client);

/* Deadlines in milliseconds (0 keeps the current value): command_ms for each command
 * (default 2000), connect_ms for TCP connect plus the AUTH/SELECT handshake (default 2000).
 * Applies to commands and connection attempts started afterwards. */
void redis_client_set_timeouts(struct redis_client *client, unsigned command_ms, unsigned connect_ms);

/* Send a command built from a hiredis format string (%s for a C string, %b for a binary-safe
 * (pointer, size_t) pair, e.g. redis_command(c, cb, arg, "SET %s %b EX %d", key, val, len, 60)).
 * Returns GW_OK when the command was queued (cb will be called exactly once), or without
 * calling cb: GW_ERR_UNAVAILABLE (Redis down or too many commands in flight), GW_ERR_INVALID
 * (bad format, or a command this wrapper refuses: HELLO, SELECT, AUTH, (P|S)SUBSCRIBE,
 * (P|S)UNSUBSCRIBE, MONITOR, RESET, which would break its one-reply-per-command model),
 * GW_ERR_CLOSED (the client is being freed). */
enum gw_err redis_command(struct redis_client *client, redis_callback_fn cb, void *arg, const char *fmt, ...);

/* Like redis_command with argc arguments argv[i] of argvlen[i] bytes (argvlen may be NULL for
 * C strings). The arguments are copied before this returns. */
enum gw_err redis_command_argv(struct redis_client *client, redis_callback_fn cb, void *arg, int argc,
                               const char **argv, const size_t *argvlen);

/* True when connected, the AUTH/SELECT handshake succeeded, and no command has timed out since
 * the last reply (a stalled server is unhealthy). */
bool redis_client_healthy(const struct redis_client *client);

/* The most recent connection or timeout error ("" when none yet). Borrowed until the next
 * event loop iteration. Never contains the password. */
const char *redis_client_last_error(const struct redis_client *client);

/* Wall-clock time the current connection became ready, or 0 when not connected. */
time_t redis_client_connected_since(const struct redis_client *client);

/* "host:port" or the socket path, for logs and /health (no password). Borrowed, lives as long
 * as the client. */
const char *redis_client_address(const struct redis_client *client);

/* Number of commands sent and not yet answered (including ones whose callback already got
 * GW_ERR_TIMEOUT). For tests and metrics. */
size_t redis_client_in_flight(const struct redis_client *client);

#endif
