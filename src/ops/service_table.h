/*
 * service_table.h - which services `mcpgw up` runs, how each is started and health-checked,
 * derived from the configuration (DESIGN §2 and §5) and from the subcommands this build has.
 *
 * Order is start order: redis, auth, router, then the MCP services; stop order is the reverse.
 * A service whose subcommand is missing from this build (`mcpgw --help`) is left out with a
 * note in the table's notes, so a partial build still runs what it has.
 */
#ifndef MCPGW_OPS_SERVICE_TABLE_H
#define MCPGW_OPS_SERVICE_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/err.h"

#define SERVICE_NAME_MAX 64
#define SERVICE_MAX_PORTS 3

enum service_kind { SERVICE_REDIS, SERVICE_HTTP };

struct service_spec {
    char name[SERVICE_NAME_MAX]; /* "redis", "auth", "router", "mcp-echo", "mcp-<name>" */
    enum service_kind kind;
    bool managed;         /* false: a Redis that runs elsewhere; only health-checked */
    char **argv;          /* NULL-terminated command line of the child; NULL when !managed */
    char bind_host[64];   /* numeric address it listens on (port checks before start) */
    char health_host[64]; /* numeric address the health check connects to */
    int health_port;
    const char *health_path; /* "/health" (static); unused for redis */
    char *redis_password;    /* redis only; NULL when none */
    char *redis_url;         /* redis only, when its address needs a lookup (a host name, Sentinel):
                                REDIS_URL, resolved at each health check; NULL otherwise */
    /* Ports the service binds (checked before start) and the variables that set them. */
    int ports[SERVICE_MAX_PORTS];
    const char *port_vars[SERVICE_MAX_PORTS];
    size_t nports;
};

struct service_table {
    struct service_spec *items;
    size_t count;
    struct buf notes; /* human lines about services left out ("mcp-fetch: no `mcpgw fetch` in this build") */
};

/* Where the service is checked, for people: "http://127.0.0.1:8000/health", "redis://127.0.0.1:6379",
 * or for a Redis found by name or through Sentinels REDIS_URL itself, its password masked. */
void service_endpoint_text(const struct service_spec *s, char *out, size_t size);

/* The absolute path of the running mcpgw binary (from /proc/self/exe). Static storage. */
const char *service_self_exe(void);

/* Whether this build of mcpgw has subcommand `command` (runs `self --help` once and caches). */
bool service_have_command(const char *command);
/* Tests: use help_text (copied) as the `--help` output instead of running the binary. */
void service_set_help_text(const char *help_text);

/* The canonical service name: "traefik" -> "router", anything else unchanged. Static or name. */
const char *service_canonical_name(const char *name);

/* Build the table from cfg. env_file (may be NULL) is passed on to children as --env-file.
 * probe_redis: when REDIS_URL is local, connect to it to decide whether to start one (false:
 * assume it must be started). On success *out is filled (service_table_free); on a problem
 * appends "ERROR: ..." lines and returns GW_ERR_CONFIG. */
enum gw_err service_table_build(const struct config *cfg, const char *env_file, bool probe_redis,
                                struct service_table *out, struct buf *errors);
void service_table_free(struct service_table *t);

/* The service named name (aliases accepted), or NULL. Borrowed from t. */
struct service_spec *service_table_find(const struct service_table *t, const char *name);

/* Directory of pid files and the control socket: RUN_DIR, else DATA_DIR/run. Caller frees. */
char *service_run_dir(const struct config *cfg);

/* Health of one service right now. For HTTP: GET /health with timeout_ms; true on 200. detail
 * receives a short reason (failing checks of a 503 body, "connection refused", ...).
 * For redis: AUTH (when a password is set) and PING; true on PONG. */
bool service_probe(const struct service_spec *s, int timeout_ms, struct buf *detail);

/* Whether something accepts TCP connections on host:port right now. */
bool service_port_answers(const char *host, int port, int timeout_ms);

#endif
