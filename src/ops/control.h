/*
 * control.h - the supervisor's control socket: a Unix stream socket in the run directory
 * (RUN_DIR, else DATA_DIR/run) speaking JSON lines. A client sends one request line and reads
 * one reply line, then the connection closes.
 *
 *   {"cmd":"status"}                      -> {"ok":true,"pid":N,"services":[{"name":..,"state":..,
 *                                             "pid":N,"uptime_seconds":N,"health":..,"detail":..,
 *                                             "restarts":N,"managed":true,"health_url":..}]}
 *   {"cmd":"restart"[,"service":"auth"]}  -> {"ok":true,"restarted":["auth"]}
 *   {"cmd":"stop","service":"redis"}      -> {"ok":true}   (stays stopped until restart)
 *   {"cmd":"down"}                        -> {"ok":true,"pid":N}  (then the supervisor stops all)
 * Errors: {"ok":false,"error":"unknown service 'x' (services: redis, auth, ...)"}.
 */
#ifndef MCPGW_OPS_CONTROL_H
#define MCPGW_OPS_CONTROL_H

#include <jansson.h>

#include "core/err.h"

#define CONTROL_SOCKET_NAME "supervisor.sock"
#define CONTROL_PID_NAME "supervisor.pid"

/* "<run_dir>/supervisor.sock" into out; false if it does not fit a sockaddr_un. */
int control_socket_path(const char *run_dir, char *out, unsigned outsz);

/* Listen on the socket path (a stale socket file is replaced). Returns the fd (non-blocking,
 * close-on-exec) or -1 with errno set. */
int control_listen(const char *path);

/* Send request (borrowed) and wait up to timeout_ms for the reply. On GW_OK *reply is owned by
 * the caller (json_decref). GW_ERR_UNAVAILABLE when nobody listens on the socket. */
enum gw_err control_call(const char *path, json_t *request, int timeout_ms, json_t **reply);

/* Server side: read one request line from a freshly accepted fd (blocking up to timeout_ms).
 * Returns the parsed object (caller json_decref) or NULL. */
json_t *control_read_request(int fd, int timeout_ms);
/* Write reply (borrowed) as one line. */
void control_write_reply(int fd, json_t *reply);

#endif
