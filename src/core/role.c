#include "role.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "log.h"

struct config *role_load_config(const char *env_file)
{
    struct buf errors;
    buf_init(&errors, 64 * 1024);
    struct config *cfg = NULL;
    if (config_load(env_file, &cfg, &errors) != GW_OK) {
        fputs(buf_cstr(&errors), stderr);
        buf_free(&errors);
        return NULL;
    }
    buf_free(&errors);
    return cfg;
}

static void print_role_help(const struct role *role)
{
    printf("Usage: mcpgw %s [options]\n\n%s\n\n", role->command, role->summary);
    char port_default[256];
    if (role->port_help)
        snprintf(port_default, sizeof(port_default), "%s", role->port_help);
    else
        snprintf(port_default, sizeof(port_default), "$%s, %d", role->port_variable, role->default_port);
    printf("Options:\n"
           "  --port N          listen on port N (default: %s)\n"
           "  --bind ADDR       listen address (default: %s)\n"
           "  --workers N       worker threads (default: $WORKERS, or one per CPU)\n"
           "  --env-file FILE   read configuration from FILE instead of ./.env\n"
           "  --tls-cert FILE   serve HTTPS (TLS 1.2+) with this PEM certificate chain\n"
           "  --tls-key FILE    ... and this PEM private key\n"
           "  -h, --help        show this help\n",
           port_default,
           role->public_edge ? "$BIND_ADDRESS, 0.0.0.0"
                             : "$INTERNAL_BIND_ADDRESS, 127.0.0.1: this machine only");
    if (role->extra_help)
        printf("%s", role->extra_help);
    printf("\nEndpoints: /health (JSON, 200 healthy / 503 unhealthy) and /metrics (Prometheus).\n"
           "Signals: SIGTERM/SIGINT drain and stop; SIGUSR1 reopens the log file.\n");
}

/* Start-up errors go to stderr as they are ("ERROR: ..." lines, for the operator at the
 * terminal) and to the JSON log one line each, without the "ERROR: " prefix and the newline
 * that would otherwise end up inside the field. */
static void report_startup_errors(const struct buf *errors)
{
    const char *text = buf_cstr(errors);
    fputs(text, stderr);
    for (const char *line = text; *line;) {
        size_t len = strcspn(line, "\n");
        const char *words = line;
        if (len >= 7 && strncmp(words, "ERROR: ", 7) == 0)
            words += 7;
        if (line + len > words) {
            char field[1024];
            snprintf(field, sizeof field, "%.*s", (int)(line + len - words), words);
            log_write(LOG_ERROR, "Start-up failed", (struct log_field[]){log_str("error", field)}, 1);
        }
        line += len;
        if (*line == '\n')
            line++;
    }
}

static int parse_int_arg(const char *opt, const char *value, int min, int max, int *out)
{
    long long v;
    if (!value || config_parse_int(value, &v) != GW_OK || v < min || v > max) {
        fprintf(stderr, "ERROR: %s needs a number from %d to %d\n", opt, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int role_main(const struct role *role, int argc, char **argv)
{
    struct role_context ctx = {0};
    const char *env_file = NULL;
    int port = -1, workers = -1;
    const char *bind_addr = NULL;
    const char *tls_cert = NULL, *tls_key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_role_help(role);
            return 0;
        } else if (strcmp(a, "--port") == 0) {
            if (parse_int_arg(a, next, 0, 65535, &port))
                return 2;
            i++;
        } else if (strcmp(a, "--workers") == 0) {
            if (parse_int_arg(a, next, 1, 64, &workers))
                return 2;
            i++;
        } else if (strcmp(a, "--bind") == 0 && next) {
            bind_addr = next;
            i++;
        } else if (strcmp(a, "--tls-cert") == 0 && next) {
            tls_cert = next;
            i++;
        } else if (strcmp(a, "--tls-key") == 0 && next) {
            tls_key = next;
            i++;
        } else if (strcmp(a, "--env-file") == 0 && next) {
            env_file = next;
            i++;
        } else {
            int used = role->parse_option ? role->parse_option(&ctx, argc, argv, i) : 0;
            if (used < 0)
                return 2;
            if (used == 0) {
                fprintf(stderr, "ERROR: unknown option %s (see mcpgw %s --help)\n", a, role->command);
                return 2;
            }
            i += used - 1;
        }
    }

    health_mark_start();
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct buf errors;
    buf_init(&errors, 64 * 1024);
    if (config_validate_for(cfg, role->required, &errors) != GW_OK) {
        fputs(buf_cstr(&errors), stderr);
        buf_free(&errors);
        config_free(cfg);
        return CONFIG_EXIT_CODE;
    }

    health_set_metrics_allowed(config_get(cfg, "METRICS_ALLOWED_IPS", "")); /* validated above */
    enum log_level level = LOG_INFO;
    log_level_parse(config_get(cfg, "LOG_LEVEL", "INFO"), &level);
    if (config_get_bool(cfg, "DEBUG", false))
        level = LOG_DEBUG;
    const char *log_dir = config_get(cfg, "LOG_DIR", NULL);
    if (log_init(role->service, log_dir && *log_dir ? log_dir : NULL, level) != GW_OK)
        fprintf(stderr, "WARNING: cannot open a log file in %s; logging to stderr only\n", log_dir);

    ctx.cfg = cfg;
    ctx.bind_addr = bind_addr ? bind_addr : config_bind_address(cfg, role->public_edge);
    ctx.port = port >= 0 ? port : (int)config_get_int(cfg, role->port_variable, role->default_port);
    if (workers < 0)
        workers = (int)config_get_int(cfg, "WORKERS", 0);

    struct server_options so = {
        .service = role->service,
        .workers = workers,
        .shutdown_timeout_ms = (int)config_get_int(cfg, "SHUTDOWN_TIMEOUT", 10) * 1000,
        .worker_init = role->worker_init,
        .worker_fini = role->worker_fini,
        .worker_drain = role->worker_drain,
        .reload = role->reload,
        .hook_arg = &ctx,
    };
    ctx.server = server_create(&so);
    int rc = 0;
    enum gw_err setup_err = role->setup ? role->setup(&ctx, &errors) : GW_OK;
    if (setup_err != GW_OK) {
        report_startup_errors(&errors);
        rc = setup_err == GW_ERR_CONFIG ? CONFIG_EXIT_CODE : 1;
        goto out;
    }
    struct listener_options lo;
    listener_options_defaults(&lo);
    lo.bind_addr = ctx.bind_addr;
    lo.port = ctx.port;
    lo.tls_cert_file = tls_cert;
    lo.tls_key_file = tls_key;
    lo.handler = role->handler;
    lo.handler_arg = &ctx;
    lo.max_body_bytes = (size_t)config_get_int(cfg, "MAX_BODY_SIZE", (long long)lo.max_body_bytes);
    lo.max_header_bytes = (size_t)config_get_int(cfg, "MAX_HEADER_SIZE", (long long)lo.max_header_bytes);
    lo.request_timeout_ms = (int)config_get_int(cfg, "REQUEST_TIMEOUT", lo.request_timeout_ms / 1000) * 1000;
    lo.keepalive_timeout_ms =
        (int)config_get_int(cfg, "KEEPALIVE_TIMEOUT", lo.keepalive_timeout_ms / 1000) * 1000;
    /* setup may have added listeners of its own (the router's admin and HTTPS ports) */
    size_t main_listener = 0;
    while (server_listener_port(ctx.server, main_listener) >= 0)
        main_listener++;
    if (server_add_listener(ctx.server, &lo, &errors) != GW_OK) {
        report_startup_errors(&errors);
        rc = 1;
        goto teardown;
    }
    log_write(LOG_INFO, "Listening",
              (struct log_field[]){log_str("address", ctx.bind_addr),
                                   log_int("port", server_listener_port(ctx.server, main_listener)),
                                   log_int("workers", server_worker_count(ctx.server)),
                                   log_str("version", MCPGW_VERSION)},
              4);
    if (server_run(ctx.server) != GW_OK)
        rc = 1;
teardown:
    if (role->teardown)
        role->teardown(&ctx);
out:
    server_free(ctx.server);
    buf_free(&errors);
    config_free(cfg);
    log_shutdown();
    return rc;
}
