/*
 * config_ports.c - where the services listen and where the others reach them: the bind
 * addresses (BIND_ADDRESS for the router, INTERNAL_BIND_ADDRESS for the rest), and the ports of
 * the MCP services that are not built in. The router (where it proxies to), the supervisor
 * (where it starts and health-checks services) and validate-env must agree on these, so all of
 * them ask here, and the answers depend on the configuration alone.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "redis_url.h"

#define PORT_MAX 65535

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* MCP_<NAME><suffix> -> NAME into out; false for any other variable. */
static bool service_variable_name(const char *var, const char *suffix, char *out, size_t outsz)
{
    size_t len = strlen(var), prefix_len = strlen("MCP_"), suffix_len = strlen(suffix);
    if (len <= prefix_len + suffix_len || strncmp(var, "MCP_", prefix_len) != 0 || !ends_with(var, suffix))
        return false;
    size_t n = len - prefix_len - suffix_len;
    if (n >= outsz)
        return false;
    memcpy(out, var + prefix_len, n);
    out[n] = '\0';
    return true;
}

/* MCP_<NAME>_COMMAND -> NAME into out; false for any other variable. */
static bool command_variable_name(const char *var, char *out, size_t outsz)
{
    return service_variable_name(var, "_COMMAND", out, outsz);
}

/* "MCP_" NAME suffix into out. */
static void service_variable(const char *name, const char *suffix, char *out, size_t outsz)
{
    snprintf(out, outsz, "MCP_%s%s", name, suffix);
}

bool config_is_stdio_service(const struct config *cfg, const char *name)
{
    char var[CONFIG_SERVICE_NAME_MAX + 16];
    service_variable(name, "_COMMAND", var, sizeof(var));
    if (!config_has(cfg, var))
        return false;
    service_variable(name, "_ENABLED", var, sizeof(var));
    return !config_has(cfg, var) || config_get_bool(cfg, var, true);
}

/* Whether port is set explicitly for anything: a *_PORT variable (schema defaults included,
 * e.g. MCP_FETCH_PORT 3000) or the port of REDIS_URL. Such a port is never handed out. */
static bool port_taken(const struct config *cfg, long long port)
{
    size_t n = config_count(cfg);
    for (size_t i = 0; i < n; i++) {
        const char *var, *value;
        config_entry(cfg, i, &var, &value, NULL);
        long long taken;
        if (var && value && ends_with(var, "_PORT") && config_parse_int(value, &taken) == GW_OK &&
            taken == port)
            return true;
    }
    struct redis_endpoint redis;
    const char *why;
    bool redis_port = false;
    if (redis_endpoint_parse(config_get(cfg, "REDIS_URL", ""), &redis, &why) == GW_OK) {
        redis_port = !redis.unix_path && redis.port == port;
        redis_endpoint_free(&redis);
    }
    return redis_port;
}

static long long next_free_port(const struct config *cfg, long long after)
{
    long long port = after + 1;
    while (port <= PORT_MAX && port_taken(cfg, port))
        port++;
    return port <= PORT_MAX ? port : 0;
}

int config_stdio_port(const struct config *cfg, const char *name)
{
    if (!config_is_stdio_service(cfg, name))
        return 0;
    char var[CONFIG_SERVICE_NAME_MAX + 16];
    service_variable(name, "_PORT", var, sizeof(var));
    if (config_has(cfg, var)) {
        long long port = config_get_int(cfg, var, 0);
        return port > 0 && port <= PORT_MAX ? (int)port : 0;
    }
    /* Hand out ports in the order of the services' variable names (the config is sorted). */
    long long port = CONFIG_STDIO_FIRST_PORT - 1;
    size_t n = config_count(cfg);
    for (size_t i = 0; i < n; i++) {
        const char *command_var;
        char other[CONFIG_SERVICE_NAME_MAX];
        config_entry(cfg, i, &command_var, NULL, NULL);
        if (!command_var || !command_variable_name(command_var, other, sizeof(other)) ||
            !config_is_stdio_service(cfg, other))
            continue;
        service_variable(other, "_PORT", var, sizeof(var));
        if (config_has(cfg, var))
            continue;
        port = next_free_port(cfg, port);
        if (strcmp(other, name) == 0 || port == 0)
            return (int)port;
    }
    return 0;
}

/* ---- addresses ---- */

const char *config_bind_address(const struct config *cfg, bool public_edge)
{
    const char *value =
        public_edge ? config_get(cfg, "BIND_ADDRESS", NULL) : config_get(cfg, "INTERNAL_BIND_ADDRESS", NULL);
    if (value && *value)
        return value;
    return public_edge ? "0.0.0.0" : "127.0.0.1";
}

const char *config_connect_address(const char *bind_addr)
{
    if (!bind_addr || !*bind_addr || strcmp(bind_addr, "0.0.0.0") == 0)
        return "127.0.0.1";
    unsigned char addr[sizeof(struct in6_addr)];
    static const unsigned char any6[sizeof(struct in6_addr)] = {0};
    if (inet_pton(AF_INET6, bind_addr, addr) == 1 && memcmp(addr, any6, sizeof(addr)) == 0)
        return "::1";
    return bind_addr;
}

const char *config_internal_address(const struct config *cfg)
{
    return config_connect_address(config_bind_address(cfg, false));
}

void config_internal_url(const struct config *cfg, long long port, char *out, size_t outsz)
{
    const char *host = config_internal_address(cfg);
    snprintf(out, outsz, strchr(host, ':') ? "http://[%s]:%lld" : "http://%s:%lld", host, port);
}

/* ---- MCP services on this machine ---- */

/* mcp-<name>: lower case, '_' -> '-' (MY_TOOL -> mcp-my-tool), as the router names it. */
static void service_display_name(const char *name, char *out, size_t outsz)
{
    size_t n = (size_t)snprintf(out, outsz, "mcp-%s", name);
    for (size_t i = 4; i < n && i + 1 < outsz; i++)
        out[i] = out[i] == '_' ? '-' : (char)tolower((unsigned char)out[i]);
}

static bool is_builtin_service(const char *name)
{
    return strcmp(name, "ECHO") == 0 || strcmp(name, "FETCH") == 0;
}

int config_local_service_port(const struct config *cfg, const char *name, struct buf *errors)
{
    char var[CONFIG_SERVICE_NAME_MAX + 16], service[CONFIG_SERVICE_NAME_MAX + 8];
    service_variable(name, "_ENABLED", var, sizeof(var));
    bool has_enabled = config_has(cfg, var);
    bool enabled = config_get_bool(cfg, var, false);
    if ((has_enabled && !enabled) || is_builtin_service(name))
        return 0;
    service_variable(name, "_URL", var, sizeof(var));
    if (config_has(cfg, var))
        return 0;
    service_display_name(name, service, sizeof(service));
    service_variable(name, "_PORT", var, sizeof(var));
    if (config_is_stdio_service(cfg, name)) {
        int port = config_stdio_port(cfg, name);
        if (port <= 0 && errors)
            buf_printf(errors, "ERROR: Required variable %s not set (port of %s)\n", var, service);
        return port > 0 ? port : -1;
    }
    if (!enabled)
        return 0;
    long long port = config_get_int(cfg, var, 0);
    if (port > 0 && port <= PORT_MAX)
        return (int)port;
    if (errors)
        buf_printf(errors,
                   "ERROR: Required variable %s not set (MCP_%s_ENABLED=true: %s needs MCP_%s_URL, "
                   "MCP_%s_COMMAND, or the port it listens on at 127.0.0.1)\n",
                   var, name, service, name, name);
    return -1;
}

/* MCP_<NAME>_ENABLED or MCP_<NAME>_COMMAND -> NAME into out; false for any other variable. */
static bool service_defining_variable(const char *var, char *out, size_t outsz)
{
    return command_variable_name(var, out, outsz) || service_variable_name(var, "_ENABLED", out, outsz);
}

size_t config_check_local_services(const struct config *cfg, struct buf *errors)
{
    size_t problems = 0;
    size_t n = config_count(cfg);
    for (size_t i = 0; i < n; i++) {
        const char *var;
        char name[CONFIG_SERVICE_NAME_MAX], command[CONFIG_SERVICE_NAME_MAX + 16];
        config_entry(cfg, i, &var, NULL, NULL);
        if (!var || !service_defining_variable(var, name, sizeof(name)))
            continue;
        /* a service with both variables is checked once: at its _COMMAND when that is set */
        service_variable(name, "_COMMAND", command, sizeof(command));
        if ((strcmp(var, command) == 0) != config_has(cfg, command))
            continue;
        if (config_local_service_port(cfg, name, errors) < 0)
            problems++;
    }
    return problems;
}
