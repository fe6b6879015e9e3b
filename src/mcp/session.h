/*
 * session.h - MCP sessions of the 2025 revisions (Mcp-Session-Id), kept in one process.
 *
 * Why one table per process under a mutex: the server's worker threads share a port through
 * SO_REUSEPORT, so the kernel, not the session id, decides which worker reads a request, and
 * any worker may see any session. A lookup is a hash probe under a mutex held for
 * microseconds; nothing slow ever runs under it. Sessions do not survive a restart and are
 * not shared between processes (a client that gets 404 re-initializes, as the spec says).
 *
 * A session is reference-counted: the table holds one reference while the session is live;
 * mcp_session_acquire adds one for a request in flight, and an open GET stream holds one. The
 * service's per-session state is destroyed when the last reference goes, on whichever thread
 * drops it.
 *
 * Expiry: a session idle (no request, no open stream) for longer than the timeout is gone: a
 * lookup treats it as unknown, and mcp_session_table_expire() drops it for good.
 *
 * Server-to-client messages: a session has at most one standalone stream (the GET). Messages
 * posted to the session are queued (bounded) and the stream's owner is woken through its wake
 * callback, which may be called from any thread (it only signals the owner's event loop).
 */
#ifndef MCPGW_MCP_SESSION_H
#define MCPGW_MCP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "mcp/protocol.h"

#define MCP_SESSION_ID_LEN 32     /* hex digits of 128 random bits */
#define MCP_SESSION_QUEUE_MAX 100 /* server-to-client messages waiting for a stream */

struct mcp_session;
struct mcp_session_table;

struct mcp_session_hooks {
    /* Per-session state of the service (may be NULL: no state). Called once per new session,
     * without locks held. */
    void *(*create)(void *arg);
    /* Destroy that state when the session's last reference goes. */
    void (*destroy)(void *state, void *arg);
    /* Told the session count after each change (metrics); may be NULL. */
    void (*count_changed)(size_t count, void *arg);
    void *arg;
};

/* A table holding at most max_sessions, expiring sessions idle for idle_timeout_usec. hooks is
 * copied (may be NULL). Never NULL; free with mcp_session_table_free after every thread that
 * used it has stopped (remaining sessions are destroyed then). */
struct mcp_session_table *mcp_session_table_create(size_t max_sessions, int64_t idle_timeout_usec,
                                                   const struct mcp_session_hooks *hooks);
void mcp_session_table_free(struct mcp_session_table *table);

/* Create a session for a negotiated revision. On GW_OK *out holds one reference for the caller
 * (release it); GW_ERR_TOO_LARGE when the table is full even after dropping expired sessions. */
enum gw_err mcp_session_create(struct mcp_session_table *table, enum mcp_version version,
                               struct mcp_session **out);
/* The live session with this id, with a new reference, its idle clock reset; NULL when the id
 * is unknown, ended or expired. */
struct mcp_session *mcp_session_acquire(struct mcp_session_table *table, const char *id);
/* Drop a reference (NULL is ignored). */
void mcp_session_release(struct mcp_session *session);
/* End a session now (DELETE): it disappears from the table and its stream is woken to close.
 * Returns false when the id was not a live session. */
bool mcp_session_end(struct mcp_session_table *table, const char *id);
/* Drop sessions idle past the timeout as of now_usec (monotonic). Returns how many. */
size_t mcp_session_table_expire(struct mcp_session_table *table, int64_t now_usec);
/* Live sessions. */
size_t mcp_session_table_count(struct mcp_session_table *table);

/* Accessors. The id is borrowed for the session's lifetime. */
const char *mcp_session_id(const struct mcp_session *session);
enum mcp_version mcp_session_version(const struct mcp_session *session);
/* The service state made by hooks->create (may be NULL). Guard its use with the lock below. */
void *mcp_session_state(const struct mcp_session *session);
void mcp_session_lock(struct mcp_session *session);
void mcp_session_unlock(struct mcp_session *session);
/* Whether the session has ended or expired (a stream holding it should close). */
bool mcp_session_ended(struct mcp_session *session);
/* Reset the idle clock (a stream's keep-alive does this). */
void mcp_session_touch(struct mcp_session *session);

/* Attach the standalone stream: wake(arg) is called (from any thread, with an internal lock
 * held: it must only signal) when messages arrive or the session ends. GW_ERR_EXISTS when a
 * stream is already attached, GW_ERR_CLOSED when the session has ended. */
enum gw_err mcp_session_attach_stream(struct mcp_session *session, void (*wake)(void *arg), void *arg);
/* Detach it; after this returns wake is never called again for it. */
void mcp_session_detach_stream(struct mcp_session *session);
/* Queue a server-to-client message (JSON text, copied). GW_ERR_TOO_LARGE when the queue is
 * full, GW_ERR_CLOSED when the session has ended. */
enum gw_err mcp_session_post(struct mcp_session *session, const char *json_text);
/* The oldest queued message (caller frees), or NULL when none. */
char *mcp_session_take_message(struct mcp_session *session);

#endif
