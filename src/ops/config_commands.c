#include "config_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/role.h"

/* Shared option parsing: --env-file FILE and --help. Returns 1 when --help was printed, -1 on
 * a usage error, 0 to go on. */
static int parse_common(int argc, char **argv, const char *usage, const char **env_file)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        }
        if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            *env_file = argv[++i];
            continue;
        }
        fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], usage);
        return -1;
    }
    return 0;
}

int validate_env_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw validate-env [--env-file FILE]\n\n"
        "Check the configuration (./.env, then the environment) against every rule mcpgw has:\n"
        "required variables, types, ranges. Prints one line per problem and exits 78 if there is\n"
        "any, or prints \"Configuration OK\" and exits 0.\n";
    const char *env_file = NULL;
    int r = parse_common(argc, argv, usage, &env_file);
    if (r)
        return r > 0 ? 0 : 2;
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct buf errors;
    buf_init(&errors, 1024 * 1024);
    enum gw_err err = config_validate(cfg, &errors);
    if (err) {
        fputs(buf_cstr(&errors), stderr);
    } else {
        printf("Configuration OK\n");
    }
    buf_free(&errors);
    config_free(cfg);
    return err ? CONFIG_EXIT_CODE : 0;
}

int show_config_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw show-config [--env-file FILE]\n\n"
        "Print the effective configuration (defaults, ./.env, then the environment), one\n"
        "NAME=value per line, sorted. Secrets are masked. Lines from defaults are marked\n"
        "\"# default\".\n";
    const char *env_file = NULL;
    int r = parse_common(argc, argv, usage, &env_file);
    if (r)
        return r > 0 ? 0 : 2;
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    size_t n = config_count(cfg);
    for (size_t i = 0; i < n; i++) {
        const char *name, *value;
        bool from_default;
        config_entry(cfg, i, &name, &value, &from_default);
        /* Only mcpgw's own variables: the environment also holds PATH, HOME, ... */
        if (!config_schema_find(name) && strncmp(name, "MCP_", 4) != 0 && strncmp(name, "RATE_LIMIT_", 11) != 0)
            continue;
        char *shown = config_display_value(name, value);
        printf("%s=%s%s\n", name, shown, from_default ? "    # default" : "");
        free(shown);
    }
    config_free(cfg);
    return 0;
}
