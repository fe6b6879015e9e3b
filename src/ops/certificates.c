/*
 * certificates.c - renew-certs: account, issuance per host, installation, router reload, and the
 * JSON lines of every step in the router's log (see certificates.h).
 */
#include "certificates.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acme_client.h"
#include "maintenance_commands.h"
#include "core/acme_paths.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/role.h"
#include "ops_support.h"
#include "service_table.h"

#define DAY_MS (24LL * 3600 * 1000)
#define FIRST_RETRY_MS (10LL * 60 * 1000)
#define MAX_HOST_ARGS 64

static const char usage[] =
    "Usage: mcpgw renew-certs [--force] [--host HOST]... [--env-file FILE]\n"
    "Obtain or renew the router's HTTPS certificates now with ACME (Let's Encrypt by default;\n"
    "ACME_DIRECTORY_URL), one per host: auth.BASE_DOMAIN and every MCP service's host (path\n"
    "routing: the one public host). A certificate is renewed when it expires within\n"
    "ACME_RENEW_DAYS (30) days; --force renews it anyway; --host renews only that host.\n"
    "The CA checks each host with an HTTP-01 challenge: DNS must point here and port 80 reach the\n"
    "router (HTTP_PORT), which must be running. New certificates go to DATA_DIR/acme/certs and the\n"
    "router reloads them (SIGHUP; open connections are kept). The supervisor (mcpgw up) runs this\n"
    "daily by itself. Every step is logged: mcpgw logs router | grep -i acme\n"
    "Exit codes: 0 every host has a valid certificate, 1 a host failed (the reason in plain words:\n"
    "DNS not pointing here, port 80 unreachable, rate limited, ...), 2 usage or ACME not in use\n"
    "(HTTPS_PORT=0, or TLS_CERT_FILE/TLS_CERT_DIR given), 78 configuration.\n";

long long acme_renewal_delay_ms(int consecutive_failures, double random01)
{
    long long base = DAY_MS;
    if (consecutive_failures > 0) {
        base = FIRST_RETRY_MS;
        for (int i = 1; i < consecutive_failures && base < DAY_MS; i++)
            base *= 2;
        if (base > DAY_MS)
            base = DAY_MS;
    }
    if (random01 < 0 || random01 >= 1)
        random01 = 0.5;
    return base + (long long)((double)base * 0.2 * (random01 - 0.5));
}

/* ---- the router's log ---- */

struct acme_log {
    int fd;           /* LOG_DIR/router.log, or -1: stderr */
    const char *host; /* the host being worked on, or NULL */
    bool in_problem;  /* inside uacme's multi-line problem document */
};

static void acme_log_open(struct acme_log *l, const struct config *cfg)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    const char *dir = config_get(cfg, "LOG_DIR", "./logs");
    if (dir && *dir) {
        mkdir(dir, 0700);
        struct buf p;
        buf_init(&p, 8192);
        buf_printf(&p, "%s/router.log", dir);
        l->fd = open(buf_cstr(&p), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        buf_free(&p);
    }
}

/* One JSON line as the router's, with "component":"acme" and the host. */
static void acme_log(struct acme_log *l, enum log_level level, const char *message,
                     const struct log_field *extra, int nextra)
{
    struct log_field fields[8];
    int n = 0;
    fields[n++] = log_str("component", "acme");
    if (l->host)
        fields[n++] = log_str("host", l->host);
    for (int i = 0; i < nextra && n < 8; i++)
        fields[n++] = extra[i];
    char line[16384];
    int len = log_format_line_capped(line, sizeof(line), level, "router", message, fields, n);
    if (len <= 0)
        return;
    int fd = l->fd >= 0 ? l->fd : 2;
    if (write(fd, line, (size_t)len) < 0) {
        /* nowhere better to say it */
    }
}

/* uacme's lines, as log lines: its steps as they are (without the tokens the hook lines carry),
 * the problem document left to the final error line. */
static void on_uacme_line(const char *line, void *arg)
{
    struct acme_log *l = arg;
    const char *text = strncmp(line, "uacme: ", 7) == 0 ? line + 7 : line;
    if (l->in_problem) {
        if (line[0] == '}')
            l->in_problem = false;
        return;
    }
    if (line[0] == '{') {
        l->in_problem = line[strlen(line) - 1] != '}';
        return;
    }
    if (strncmp(text, "running ", 8) == 0) {
        const char *what = strstr(text, " begin http-01 ")    ? "ACME: HTTP-01 challenge file published"
                           : strstr(text, " done http-01 ")   ? "ACME: HTTP-01 challenge passed; file removed"
                           : strstr(text, " failed http-01 ") ? "ACME: HTTP-01 challenge failed; file removed"
                                                              : NULL;
        if (what)
            acme_log(l, LOG_INFO, what, NULL, 0);
        return;
    }
    if (strstr(text, " declined") || strncmp(text, "hook returned", 13) == 0)
        return; /* dns-01 and tls-alpn-01 are declined every time: not news */
    char message[4200];
    snprintf(message, sizeof(message), "ACME: %s", text);
    bool bad = strstr(text, "failed") || strstr(text, "error") || strstr(text, "cannot");
    acme_log(l, bad ? LOG_WARNING : LOG_INFO, message, NULL, 0);
}

/* ---- router reload ---- */

/* The router's pid from RUN_DIR/router.pid (written by the supervisor), when that process is
 * alive and is an mcpgw router; 0 otherwise. */
static pid_t router_pid(const struct config *cfg)
{
    char *run_dir = service_run_dir(cfg);
    struct buf p;
    buf_init(&p, 8192);
    buf_printf(&p, "%s/router.pid", run_dir);
    free(run_dir);
    FILE *f = fopen(buf_cstr(&p), "r");
    buf_free(&p);
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    if (pid <= 1 || kill((pid_t)pid, 0) != 0)
        return 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char cmd[4096];
    ssize_t n = fd >= 0 ? read(fd, cmd, sizeof(cmd) - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    cmd[n] = '\0';
    /* argv[1] follows the first NUL: "router" */
    size_t first = strlen(cmd);
    return (ssize_t)first + 1 < n && strcmp(cmd + first + 1, "router") == 0 ? (pid_t)pid : 0;
}

/* ---- the command ---- */

struct options {
    bool force;
    const char *env_file;
    const char *hosts[MAX_HOST_ARGS];
    size_t nhosts;
};

static int parse_options(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof(*o));
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0) {
            o->force = true;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            o->env_file = argv[++i];
        } else if (strcmp(argv[i], "--host") == 0 && i + 1 < argc) {
            if (o->nhosts == MAX_HOST_ARGS) {
                fprintf(stderr, "ERROR: at most %d --host options\n", MAX_HOST_ARGS);
                return 2;
            }
            o->hosts[o->nhosts++] = argv[++i];
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    return -1;
}

/* Why ACME is not in use, for the operator; NULL when it is. */
static const char *acme_off_reason(const struct config *cfg)
{
    if (config_get_int(cfg, "HTTPS_PORT", 443) == 0)
        return "HTTPS is off (HTTPS_PORT=0): there are no certificates to renew";
    if (!acme_enabled(cfg))
        return "the certificates come from files (TLS_CERT_FILE/TLS_CERT_DIR), not ACME: replace the files, "
               "then "
               "`kill -HUP` the router or `mcpgw restart router` (unset both to use ACME)";
    return NULL;
}

/* Hosts to work on: the configured ones, or those named with --host (each must be one of them). */
static bool select_hosts(const struct options *o, char **all, size_t nall, bool *selected)
{
    for (size_t i = 0; i < nall; i++)
        selected[i] = o->nhosts == 0;
    bool ok = true;
    for (size_t j = 0; j < o->nhosts; j++) {
        bool found = false;
        for (size_t i = 0; i < nall; i++)
            if (strcasecmp(o->hosts[j], all[i]) == 0)
                found = selected[i] = true;
        if (!found) {
            fprintf(stderr, "ERROR: %s is not a host this gateway serves (", o->hosts[j]);
            for (size_t i = 0; i < nall; i++)
                fprintf(stderr, "%s%s", i ? ", " : "", all[i]);
            fprintf(stderr, ")\n");
            ok = false;
        }
    }
    return ok;
}

/* Take DATA_DIR/acme/lock so that the supervisor's run and an operator's do not overlap.
 * Returns the fd (kept open until exit) or -1. */
static int take_lock(const struct acme_client *c)
{
    struct buf p;
    buf_init(&p, 8192);
    buf_printf(&p, "%s/lock", c->state_dir);
    int fd = open(buf_cstr(&p), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    buf_free(&p);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int renew(const struct config *cfg, const struct options *o)
{
    size_t nall = 0;
    char **all = acme_hosts(cfg, &nall);
    bool *selected = gw_calloc(nall ? nall : 1, sizeof(bool));
    struct acme_client client;
    struct buf errors;
    buf_init(&errors, 64 * 1024);
    struct acme_log log;
    acme_log_open(&log, cfg);
    int rc = 2, lock = -1;
    if (!select_hosts(o, all, nall, selected))
        goto out;
    rc = 1;
    if (acme_client_init(&client, cfg, service_self_exe(), &errors) != GW_OK) {
        fputs(buf_cstr(&errors), stderr);
        acme_log(&log, LOG_ERROR, "ACME: renewal not started",
                 (struct log_field[]){log_str("error", buf_cstr(&errors))}, 1);
        goto out_client;
    }
    lock = take_lock(&client);
    if (lock < 0) {
        fprintf(
            stderr,
            "ERROR: another renew-certs is running (the supervisor's daily run?); try again in a minute\n");
        goto out_client;
    }
    client.on_line = on_uacme_line;
    client.line_arg = &log;
    int http_port = (int)config_get_int(cfg, "HTTP_PORT", 80);
    acme_log(&log, LOG_INFO, "ACME: certificate check started",
             (struct log_field[]){log_str("directory", client.directory_url), log_bool("force", o->force),
                                  log_int("renew_days", client.renew_days)},
             3);
    printf("ACME directory %s, account %s\n", client.directory_url, client.email);
    fflush(stdout);
    struct acme_outcome outcome;
    if (!acme_client_account(&client, &outcome)) {
        struct buf why;
        buf_init(&why, 8192);
        acme_outcome_explain(&outcome, "the account", http_port, &why);
        fprintf(stderr, "ERROR: ACME account: %s\n", buf_cstr(&why));
        acme_log(&log, LOG_ERROR, "ACME: account registration failed",
                 (struct log_field[]){log_str("error", buf_cstr(&why)),
                                      log_str("acme_error", outcome.problem_type)},
                 2);
        buf_free(&why);
        goto out_client;
    }
    char *cert_dir = acme_cert_dir(cfg);
    int issued = 0, current = 0, failed = 0, installed = 0;
    for (size_t i = 0; i < nall; i++) {
        if (!selected[i])
            continue;
        const char *host = all[i];
        log.host = host;
        acme_client_issue(&client, host, o->force, &outcome);
        log.in_problem = false;
        char why[512] = "";
        long long not_after = 0;
        bool changed = false;
        if (outcome.status != ACME_FAILED &&
            !acme_client_install(&client, cert_dir, host, &changed, &not_after, why, sizeof(why))) {
            outcome.status = ACME_FAILED;
            outcome.failure = ACME_FAIL_OTHER;
            snprintf(outcome.detail, sizeof(outcome.detail), "installing the certificate: %s", why);
        }
        char until[128] = "";
        if (not_after)
            ops_utc(not_after, until, sizeof(until));
        installed += changed;
        if (outcome.status == ACME_FAILED) {
            failed++;
            struct buf text;
            buf_init(&text, 8192);
            acme_outcome_explain(&outcome, host, http_port, &text);
            printf("  %-40s FAILED: %s\n", host, acme_failure_label(outcome.failure));
            fprintf(stderr, "ERROR: %s: %s\n", host, buf_cstr(&text));
            acme_log(&log, LOG_ERROR, "ACME: certificate not obtained",
                     (struct log_field[]){log_str("reason", acme_failure_label(outcome.failure)),
                                          log_str("error", buf_cstr(&text)),
                                          log_str("acme_error", outcome.problem_type)},
                     3);
            buf_free(&text);
        } else if (outcome.status == ACME_ISSUED) {
            issued++;
            printf("  %-40s issued, valid until %s\n", host, until);
            acme_log(&log, LOG_INFO, "ACME: certificate issued and installed",
                     (struct log_field[]){log_int("not_after", not_after), log_str("valid_until", until)}, 2);
        } else {
            current++;
            printf(
                "  %-40s valid until %s: not due (renewed within %d days of expiry; --force renews now)%s\n",
                host, until, client.renew_days, changed ? "; installed" : "");
            acme_log(&log, LOG_INFO, "ACME: certificate still valid; not renewed",
                     (struct log_field[]){log_int("not_after", not_after), log_str("valid_until", until),
                                          log_bool("installed", changed)},
                     3);
        }
        fflush(stdout);
    }
    log.host = NULL;
    free(cert_dir);
    printf("%d issued, %d still valid, %d failed\n", issued, current, failed);
    if (installed > 0) {
        pid_t router = router_pid(cfg);
        if (router > 0 && kill(router, SIGHUP) == 0) {
            printf("Router (pid %d) reloads its certificates; open connections keep theirs\n", (int)router);
            acme_log(&log, LOG_INFO, "ACME: asked the router to reload its certificates (SIGHUP)",
                     (struct log_field[]){log_int("pid", router), log_int("installed", installed)}, 2);
        } else {
            printf(
                "The router is not running under `mcpgw up`: it loads the new certificates when it starts\n"
                "(or `kill -HUP` it)\n");
        }
    }
    acme_log(&log, failed ? LOG_ERROR : LOG_INFO, "ACME: certificate check finished",
             (struct log_field[]){log_int("issued", issued), log_int("still_valid", current),
                                  log_int("failed", failed)},
             3);
    rc = failed ? 1 : 0;
out_client:
    if (lock >= 0)
        close(lock);
    acme_client_free(&client);
out:
    if (log.fd >= 0)
        close(log.fd);
    buf_free(&errors);
    free(selected);
    config_list_free(all, nall);
    return rc;
}

int renew_certs_main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--challenge-hook") == 0)
        return acme_hook_main(argc - 1, argv + 1);
    struct options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct config *cfg = role_load_config(o.env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    const char *off = acme_off_reason(cfg);
    if (off) {
        fprintf(stderr, "ERROR: ACME is not in use: %s\n", off);
        config_free(cfg);
        return 2;
    }
    const char *email = config_get(cfg, "ACME_EMAIL", "");
    if (!email || !*email) {
        fprintf(stderr, "ERROR: Required variable ACME_EMAIL not set\n");
        config_free(cfg);
        return CONFIG_EXIT_CODE;
    }
    rc = renew(cfg, &o);
    config_free(cfg);
    return rc;
}
