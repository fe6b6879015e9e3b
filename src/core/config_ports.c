/*
 * config_ports.c - the ports of stdio MCP services (MCP_<NAME>_COMMAND) that set no
 * MCP_<NAME>_PORT. The router (where it proxies to) and the supervisor (where it starts
 * `mcpgw stdio-proxy`) must agree on them, so both ask config_stdio_port, which depends on the
 * configuration alone.
 */
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

/* MCP_<NAME>_COMMAND -> NAME into out; false for any other variable. */
static bool command_variable_name(const char *var, char *out, size_t outsz)
{
    size_t len = strlen(var), prefix = strlen("MCP_"), suffix = strlen("_COMMAND");
    if (len <= prefix + suffix || strncmp(var, "MCP_", prefix) != 0 || !ends_with(var, "_COMMAND"))
        return false;
    size_t n = len - prefix - suffix;
    if (n >= outsz)
        return false;
    memcpy(out, var + prefix, n);
    out[n] = '\0';
    return true;
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
