/*
 * config.h - configuration: .env loader, the environment, typed getters, validation.
 *
 * Sources, later wins: built-in defaults < the .env file < the process environment.
 * The .env syntax: `KEY=value` lines, `#` comments (whole line, or after whitespace in an
 * unquoted value), optional `export ` prefix, single quotes (literal), double quotes (escapes
 * \n \t \r \" \\ \$ and ${VAR} expansion; may span lines, e.g. a PEM key), unquoted values
 * (trimmed, ${VAR} and $VAR expansion, a `#` after whitespace starts a comment). ${VAR:-text}
 * gives text when VAR is empty. Values may contain '='. A ${VAR} reference expands, like the
 * final values, from the process environment first (when it is used), then keys defined earlier
 * in the file, then the schema default, else "", so a derived value agrees with the value the
 * program ends up with. The file is capped at 1 MiB, a value at 64 KiB, a config at 4096 keys.
 *
 * Every variable mcpgw knows is described once in a schema table (config_schema.c): its type,
 * default, whether it is a secret, when it is required, and one line of documentation. That
 * table drives validation, show-config, --help texts and docs/configuration.md.
 *
 * A struct config is immutable after config_load and may be shared by all threads.
 */
#ifndef MCPGW_CORE_CONFIG_H
#define MCPGW_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "err.h"

enum config_type {
    CONFIG_STRING,
    CONFIG_INT,      /* decimal integer */
    CONFIG_BOOL,     /* true/false/1/0/yes/no/on/off */
    CONFIG_URL,      /* absolute http(s)/redis URL */
    CONFIG_LIST,     /* comma-separated list */
    CONFIG_RATE,     /* N/second, N/minute, N/hour */
    CONFIG_ENUM,     /* one of a fixed set (schema's choices, '|'-separated) */
    CONFIG_LOG_LEVEL /* DEBUG/INFO/WARNING/ERROR */
};

struct config;

struct config_var {
    const char *name;
    enum config_type type;
    const char *default_value; /* NULL: no default */
    bool secret;               /* masked by show-config, never logged */
    /* Required when this predicate says so (NULL: never required). It sees the loaded config. */
    bool (*required)(const struct config *cfg);
    const char *choices; /* CONFIG_ENUM only: "RS256|ES256|HS256" */
    const char *doc;     /* one line for --help and docs */
    /* CONFIG_INT only: inclusive range of accepted values; both 0 means any integer. */
    long long min, max;
    /* Extra rule after the type check (NULL: none). Returns NULL when value is fine, else a
     * static reason such as "must be at least 32 characters". It sees the loaded config. */
    const char *(*check)(const struct config *cfg, const char *value);
};

/* The schema: every known variable, terminated by an entry with name == NULL. Static. */
const struct config_var *config_schema(void);
const struct config_var *config_schema_find(const char *name);
/* Patterns for dynamic variables (RATE_LIMIT_<NAME>, MCP_<NAME>_ENABLED, MCP_<NAME>_PORT,
 * MCP_<NAME>_URL, MCP_<NAME>_COMMAND), name == NULL terminated; their name field is the
 * pattern text. Static. */
const struct config_var *config_schema_patterns(void);
/* The entry that governs name: the known variable, else the pattern it matches, else NULL.
 * Static. */
const struct config_var *config_schema_match(const char *name);

/* Load configuration: defaults, then env_file (NULL: "./.env" if it exists; a named file must
 * exist), then the process environment: schema variables, every MCP_* and RATE_LIMIT_* variable
 * (dynamic ones), and any variable the .env file also sets (the environment overrides it);
 * the rest of the environment (PATH, HOME, ...) is not configuration and is left out.
 * On success *out is owned by the caller (config_free). On a .env syntax error or an
 * unreadable named file returns GW_ERR_CONFIG with one "ERROR: ..." line per problem in errors
 * (errors may be NULL), e.g. `ERROR: .env line 3: missing '=' (expected KEY=value)`. */
enum gw_err config_load(const char *env_file, struct config **out, struct buf *errors);
/* Same, from .env text already in memory (tests, fuzzing); no process environment when
 * use_environ is false. */
enum gw_err config_load_text(const char *text, size_t len, bool use_environ, struct config **out,
                             struct buf *errors);
void config_free(struct config *cfg);

/* Check every schema rule: required variables present, values of the declared type, for known
 * variables in schema order and then for dynamic ones by name. An empty value counts as unset.
 * Secret values are never shown. Appends one line per problem to errors, in the guide's words:
 *   ERROR: Required variable GITHUB_CLIENT_ID not set
 *   ERROR: Invalid value for ACCESS_TOKEN_LIFETIME: "abc" is not an integer
 * Also every MCP service the router would refuse for want of a port
 * (config_check_local_services). Returns GW_OK or GW_ERR_CONFIG. */
enum gw_err config_validate(const struct config *cfg, struct buf *errors);
/* The same checks for a role that needs only part of the configuration (mcp-echo needs no
 * GitHub app): only names listed in required (NULL-terminated; NULL: none) can be reported
 * missing, each when its schema predicate says so, or always if it has none or is not in the
 * schema. Type and rule checks still cover every variable that is set. */
enum gw_err config_validate_for(const struct config *cfg, const char *const *required, struct buf *errors);

/* Exit status for configuration errors (EX_CONFIG). */
#define CONFIG_EXIT_CODE 78

/* Getters. The string is borrowed from cfg. A missing variable yields the schema default,
 * then `fallback`. Typed getters treat an empty value as missing and return fallback when the
 * value does not parse (validation reports that case). */
const char *config_get(const struct config *cfg, const char *name, const char *fallback);
bool config_has(const struct config *cfg, const char *name); /* non-empty, defaults included */
long long config_get_int(const struct config *cfg, const char *name, long long fallback);
bool config_get_bool(const struct config *cfg, const char *name, bool fallback);
/* A comma list, trimmed, empty items dropped. Caller frees the array and the strings
 * (config_list_free). */
char **config_get_list(const struct config *cfg, const char *name, size_t *count);
void config_list_free(char **list, size_t count);

/* Stdio MCP services: MCP_<NAME>_COMMAND set, not turned off with MCP_<NAME>_ENABLED=false.
 * name is the NAME part ("MEMORY" for mcp-memory), at most CONFIG_SERVICE_NAME_MAX - 1 bytes. */
#define CONFIG_SERVICE_NAME_MAX 128
#define CONFIG_STDIO_FIRST_PORT 3002
bool config_is_stdio_service(const struct config *cfg, const char *name);
/* The port of stdio service NAME: MCP_<NAME>_PORT when set, else an automatic one. Services
 * without MCP_<NAME>_PORT get ports from CONFIG_STDIO_FIRST_PORT up, in the order of their
 * variable names, skipping every port the configuration names (any *_PORT variable, defaults
 * included, and the port of REDIS_URL). The router and the supervisor both use it, so they
 * agree. 0 when NAME is no stdio service, its MCP_<NAME>_PORT is not a port of 1-65535, or the
 * ports ran out. */
int config_stdio_port(const struct config *cfg, const char *name);

/* An MCP service on this machine that is neither built in (ECHO, FETCH) nor behind
 * MCP_<NAME>_URL: a stdio one (its config_stdio_port), or one the operator runs
 * (MCP_<NAME>_ENABLED=true and MCP_<NAME>_PORT). Returns its port; 0 when NAME is no such
 * service (or MCP_<NAME>_ENABLED=false); -1 when it is one but has no port, after appending
 * "ERROR: Required variable MCP_<NAME>_PORT not set (...)" to errors (may be NULL). The router
 * builds its routes with it and validate-env checks with it, so they refuse the same. */
int config_local_service_port(const struct config *cfg, const char *name, struct buf *errors);
/* config_local_service_port for every MCP_<NAME>_ENABLED / MCP_<NAME>_COMMAND in cfg, once per
 * NAME: returns the number of services without a port (one error line each). */
size_t config_check_local_services(const struct config *cfg, struct buf *errors);

/* Where services listen, when --bind does not say. Only the router checks tokens, so only it
 * faces the network by default: public_edge (the router) gets BIND_ADDRESS (default 0.0.0.0),
 * every other role (auth, fetch, echo, stdio-proxy) INTERNAL_BIND_ADDRESS (default 127.0.0.1).
 * Borrowed from cfg, or static. */
const char *config_bind_address(const struct config *cfg, bool public_edge);
/* The address a process on this machine connects to for a listener bound to bind_addr:
 * bind_addr itself, or loopback for a wildcard (0.0.0.0 or "" -> 127.0.0.1, :: -> ::1).
 * Static, or bind_addr. */
const char *config_connect_address(const char *bind_addr);
/* config_connect_address(config_bind_address(cfg, false)): where the router, the supervisor and
 * the operator commands reach auth and the MCP services mcpgw starts. Borrowed or static. */
const char *config_internal_address(const struct config *cfg);
/* "http://ADDR:PORT" (ADDR in [] when IPv6) for port on config_internal_address: the default of
 * AUTH_INTERNAL_URL with AUTH_PORT. Written to out (truncated to outsz). */
void config_internal_url(const struct config *cfg, long long port, char *out, size_t outsz);

/* Rate limit "200/minute" -> limit 200, period 60 s. Units second, minute, hour, day (any
 * case); the limit must be a positive integer. GW_ERR_INVALID otherwise. */
enum gw_err config_parse_rate(const char *text, long long *limit, long long *period_seconds);
enum gw_err config_parse_bool(const char *text, bool *out);
enum gw_err config_parse_int(const char *text, long long *out);

/* Whether name is a secret: schema flag, or a name ending in _SECRET, _PASSWORD, _TOKEN, _KEY
 * or _KEY_B64. (A URL's password, as in REDIS_URL, is masked by config_display_value.) */
bool config_is_secret(const char *name);
/* The value as show-config prints it: secrets as "**** (N chars)" ("" stays ""), a URL's
 * userinfo password as "****", anything else unchanged. value may be NULL (""). Caller frees. */
char *config_display_value(const char *name, const char *value);

/* Iterate over every variable in cfg (sorted by name): known ones (defaults included, with
 * *from_default true), dynamic ones and any other key the .env file set. config_count returns
 * the number of entries; config_entry's outputs (any may be NULL) point into cfg (borrowed);
 * an index out of range yields NULLs. */
size_t config_count(const struct config *cfg);
void config_entry(const struct config *cfg, size_t index, const char **name, const char **value,
                  bool *from_default);

#endif
