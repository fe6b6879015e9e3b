/*
 * role.h - the common life of a long-running role process (auth, router, fetch, echo, ...):
 * parse the common options, load and check configuration, set up logging, bind, serve, drain.
 *
 * A role describes itself in a struct role and calls role_main from its subcommand. Common
 * options: --port N, --bind ADDR, --env-file FILE, --workers N, --help. Exit codes: 0 after a
 * clean shutdown, 78 for configuration errors, 1 when a port cannot be bound or start-up fails.
 */
#ifndef MCPGW_CORE_ROLE_H
#define MCPGW_CORE_ROLE_H

#include "buf.h"
#include "config.h"
#include "http.h"
#include "server.h"

struct role_context {
    const struct config *cfg; /* borrowed; valid until role_main returns */
    struct server *server;
    const char *bind_addr;
    int port;
    void *state; /* the role's own process-wide state, set by setup */
};

struct role {
    const char *service;         /* log/metrics name, e.g. "mcp-echo" */
    const char *command;         /* subcommand, e.g. "echo" */
    const char *summary;         /* one line for --help */
    const char *port_variable;   /* e.g. "MCP_ECHO_PORT"; its schema default is the default port */
    int default_port;            /* used when the variable has no default */
    const char *port_help;       /* --help's default for --port (NULL: "$port_variable, default_port") */
    const char *const *required; /* NULL-terminated names this role needs set (besides type checks) */
    const char *extra_help;      /* role-specific options/variables for --help; may be NULL */
    /* The router: listens on BIND_ADDRESS (default 0.0.0.0). Every other role is internal and
     * listens on INTERNAL_BIND_ADDRESS (default 127.0.0.1); see config_bind_address. */
    bool public_edge;
    /* Parse role-specific options; return the number of argv entries consumed at argv[i] (0 if
     * not recognised, -1 on error after printing it). May be NULL. */
    int (*parse_option)(struct role_context *ctx, int argc, char **argv, int i);
    /* After configuration and logging are up, before binding. Register health checks, build
     * state. Append "ERROR: ..." lines and return non-zero on failure. */
    enum gw_err (*setup)(struct role_context *ctx, struct buf *errors);
    void (*teardown)(struct role_context *ctx);
    http_handler_fn handler; /* receives the role_context as arg */
    void (*worker_init)(struct worker *w, void *ctx);
    void (*worker_fini)(struct worker *w, void *ctx);
    void (*worker_drain)(struct worker *w, void *ctx);
    /* On SIGHUP, on the main thread while workers serve (e.g. reload TLS certificates); may be
     * NULL. Receives the role_context. See server_options.reload. */
    void (*reload)(void *ctx);
};

int role_main(const struct role *role, int argc, char **argv);

/* Load configuration for a command (from --env-file or ./.env), printing errors to stderr.
 * Returns NULL on failure (the caller exits 78). Caller frees with config_free. */
struct config *role_load_config(const char *env_file);

#endif
