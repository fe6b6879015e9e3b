/*
 * main.c - the mcpgw entry point: finds the subcommand and hands over. Nothing else.
 */
#include <stdio.h>
#include <string.h>

#include "mcp/echo.h"
#include "mcp/fetch.h"
#include "mcp/stdio_proxy.h"
#include "auth/auth_role.h"
#include "auth/browser.h"
#include "ops/config_commands.h"
#include "ops/dashboards.h"
#include "ops/maintenance_commands.h"
#include "ops/oauth_flow.h"
#include "ops/ops_commands.h"
#include "ops/supervisor.h"
#include "ops/token_commands.h"
#include "router/router_role.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static int version_main(int argc, char **argv);
static int help_main(int argc, char **argv);

static const struct command commands[] = {
    {"add-user", add_user_main, "add a local user to LOCAL_USERS_FILE (password from the terminal or stdin)"},
    {"auth", auth_main, "OAuth 2.1 authorization server (auth, port 8000)"},
    {"echo", echo_main, "MCP echo service, stateless or --stateful (mcp-echo, port 3001)"},
    {"fetch", fetch_main, "MCP fetch service: a web page as Markdown, SSRF-safe (mcp-fetch, port 3000)"},
    {"router", router_main,
     "the edge: routing, token check, rate limits, MCP streaming proxy (traefik, ports 80/443/8080)"},
    {"stdio-proxy", stdio_proxy_main,
     "any stdio MCP server as Streamable HTTP: stdio-proxy [--port N] -- CMD ARGS..."},
    {"validate-env", validate_env_main, "check the configuration; one line per problem, exit 78 if any"},
    {"show-config", show_config_main, "print the effective configuration with secrets masked"},
    {"up", up_main, "start the whole stack and supervise it (-d: in the background)"},
    {"down", down_main, "stop every service (or one: down SERVICE)"},
    {"restart", restart_main, "restart one service, or all with .env re-read"},
    {"emergency-restart", emergency_restart_main, "kill -9 everything, clear stale pid files, start fresh"},
    {"ps", ps_main, "service status: state, pid, uptime, health, restarts"},
    {"status", ps_main, "same as ps"},
    {"health-check", health_check_main, "every service's /health as a table; exit 1 if any is unhealthy"},
    {"logs", logs_main, "JSON log lines of one or all services (-f, --tail N)"},
    {"stats", stats_main, "CPU, memory, disk I/O, open fds per service (--json)"},
    {"decode-token", decode_token_main, "print a token's header and claims, times in UTC (no verification)"},
    {"validate-token", validate_token_main,
     "verify a token as the router does; VALID or INVALID with the reason"},
    {"generate-token", generate_token_main, "mint a test access token (--user U), recorded like any other"},
    {"test-oauth-flow", test_oauth_flow_main,
     "the whole OAuth + MCP flow against the running stack, step by step"},
    {"redis-cli", redis_cli_main,
     "Debian's redis-cli against REDIS_URL with the password (ping, INFO memory, ...)"},
    {"cleanup-tokens", cleanup_tokens_main, "remove expired and orphaned token records and index entries"},
    {"redis-vacuum", redis_vacuum_main, "give TTLs to keys that lack one, drop stale keys, MEMORY PURGE"},
    {"revoke-tokens", revoke_tokens_main,
     "revoke every access and refresh token of a user (--user) and/or a client (--client)"},
    {"rotate-logs", rotate_logs_main,
     "rotate LOG_DIR/*.log (keep N, gzip older), services reopen their logs"},
    {"backup-all", backup_all_main,
     "Redis snapshot + configuration (+ keys with --include-secrets) into a checksummed archive"},
    {"restore", restore_main,
     "verify a backup archive, stop services, restore Redis data and keys, start them"},
    {"diagnostic-bundle", diagnostic_bundle_main,
     "config, health, logs, metrics, versions, stats in one archive; no secrets"},
    {"update-all", update_all_main, "rebuild, then restart services one at a time, each gated on its health"},
    {"renew-certs", renew_certs_main,
     "obtain or renew the HTTPS certificates now with ACME (--force, --host H)"},
    {"import-dashboards", import_dashboards_main,
     "post the Grafana dashboards to GRAFANA_URL (folder mcpgw, by uid)"},
    {"version", version_main, "print the version"},
    {"help", help_main, "show this help (help COMMAND: that command's)"},
};

static int version_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "--help") != 0) {
        fprintf(stderr, "ERROR: unknown option or extra argument %s\nUsage: mcpgw version\n", argv[1]);
        return 2;
    }
    printf("mcpgw %s\n", MCPGW_VERSION);
    return 0;
}

/* argv[0] is "help" (or "--help"); `mcpgw help COMMAND` is `mcpgw COMMAND --help`. */
static int help_main(int argc, char **argv)
{
    if (argc == 2 && argv[1][0] != '-') {
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(argv[1], commands[i].name) == 0 && commands[i].run != help_main)
                return commands[i].run(2, (char *[]){argv[1], "--help", NULL});
        fprintf(stderr, "mcpgw: unknown command '%s' (see mcpgw --help)\n", argv[1]);
        return 2;
    }
    if (argc > 1 && strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "--help") != 0) {
        fprintf(stderr, "ERROR: unknown option or extra argument %s\nUsage: mcpgw help [COMMAND]\n", argv[1]);
        return 2;
    }
    printf("mcpgw %s - an MCP OAuth gateway\n\n"
           "Usage: mcpgw COMMAND [options]      (mcpgw COMMAND --help for details)\n\n"
           "Commands:\n",
           MCPGW_VERSION);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        printf("  %-18s %s\n", commands[i].name, commands[i].summary);
    printf("\nConfiguration comes from ./.env (or --env-file) and the environment; see\n"
           "`mcpgw show-config` and docs/configuration.md.\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return help_main(1, argv);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return help_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "--version") == 0)
        return version_main(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mcpgw: unknown command '%s' (see mcpgw --help)\n", argv[1]);
    return 2;
}
