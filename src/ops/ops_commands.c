/*
 * ops_commands.c - down, restart, emergency-restart, ps/status, health-check.
 */
#include "ops_commands.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "control.h"
#include "core/alloc.h"
#include "core/role.h"
#include "service_table.h"

/* ---- shared ---- */

struct config *ops_load(const char *env_file, char *socket_path, unsigned socket_path_size, char **run_dir)
{
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return NULL;
    char *dir = service_run_dir(cfg);
    if (socket_path)
        control_socket_path(dir, socket_path, socket_path_size);
    if (run_dir)
        *run_dir = dir;
    else
        free(dir);
    return cfg;
}

/* What a command here accepts besides --env-file and --help (parse_options' `takes`). */
enum { TAKES_JSON = 1, TAKES_SERVICE = 2 };

/* A command line, after the options the commands here share. */
struct command_line {
    const char *env_file; /* --env-file FILE; NULL: the default */
    bool json;            /* --json */
    const char *service;  /* the SERVICE argument; NULL when none was given */
};

/* Common options: returns -1 to go on, else the exit code to return at once (0 after --help,
 * 2 on a usage error). */
static int parse_options(int argc, char **argv, const char *usage, unsigned takes, struct command_line *cl)
{
    *cl = (struct command_line){0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            cl->env_file = argv[++i];
        } else if ((takes & TAKES_JSON) && strcmp(argv[i], "--json") == 0) {
            cl->json = true;
        } else if ((takes & TAKES_SERVICE) && argv[i][0] != '-' && !cl->service) {
            cl->service = argv[i];
        } else {
            fprintf(stderr, "ERROR: unknown option or extra argument %s\n%s", argv[i], usage);
            return 2;
        }
    }
    return -1;
}

/* The start of a command that needs nothing of the configuration but where the supervisor is:
 * the common options, then the control socket path into sock (and RUN_DIR into *run_dir, for the
 * caller to free, when run_dir is not NULL). Returns -1 to go on, else the exit code to return at
 * once; CONFIG_EXIT_CODE when the configuration does not load (its errors printed). */
static int start_command(int argc, char **argv, const char *usage, unsigned takes, struct command_line *cl,
                         char *sock, unsigned socksize, char **run_dir)
{
    int rc = parse_options(argc, argv, usage, takes, cl);
    if (rc >= 0)
        return rc;
    struct config *cfg = ops_load(cl->env_file, sock, socksize, run_dir);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    config_free(cfg);
    return -1;
}

static json_t *call(const char *socket_path, json_t *req, int timeout_ms, enum gw_err *err)
{
    json_t *reply = NULL;
    *err = control_call(socket_path, req, timeout_ms, &reply);
    json_decref(req);
    if (*err != GW_OK) {
        json_decref(reply);
        return NULL;
    }
    return reply;
}

static void not_running(void)
{
    fprintf(stderr, "ERROR: the supervisor is not running (start it with: mcpgw up -d)\n");
}

/* Send req (consumed) to the supervisor; NULL, after saying it is not running, when it does not
 * answer. */
static json_t *ask_supervisor(const char *sock, json_t *req, int timeout_ms)
{
    enum gw_err err;
    json_t *reply = call(sock, req, timeout_ms, &err);
    if (!reply)
        not_running();
    return reply;
}

/* "external" is a Redis that runs elsewhere (the supervisor only health-checks it): up too. */
static bool state_is_up(const char *state)
{
    return state && (strcmp(state, "running") == 0 || strcmp(state, "external") == 0);
}

static void format_uptime(long long s, char *out, size_t outsz)
{
    if (s < 60)
        snprintf(out, outsz, "%llds", s);
    else if (s < 3600)
        snprintf(out, outsz, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, outsz, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, outsz, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* Print the ps table from a status reply; returns the number of services not running+healthy
 * (running_only: count only services that are not running). */
static int print_status(json_t *status, bool running_only)
{
    json_t *services = json_object_get(status, "services");
    size_t i;
    json_t *s;
    int bad = 0;
    printf("%-14s %-10s %-8s %-9s %-10s %-8s %s\n", "SERVICE", "STATE", "PID", "UPTIME", "HEALTH", "RESTARTS",
           "DETAIL");
    json_array_foreach(services, i, s)
    {
        const char *state = json_string_value(json_object_get(s, "state"));
        const char *health = json_string_value(json_object_get(s, "health"));
        long long pid = json_integer_value(json_object_get(s, "pid"));
        char up[32] = "-", pidtext[24] = "-";
        bool running = state_is_up(state);
        if (running)
            format_uptime(json_integer_value(json_object_get(s, "uptime_seconds")), up, sizeof(up));
        if (pid > 0)
            snprintf(pidtext, sizeof(pidtext), "%lld", pid);
        if (!running || (!running_only && (!health || strcmp(health, "healthy") != 0)))
            bad++;
        const char *detail = json_string_value(json_object_get(s, "detail"));
        printf("%-14s %-10s %-8s %-9s %-10s %-8lld %s\n", json_string_value(json_object_get(s, "name")),
               state ? state : "?", pidtext, up, health ? health : "-",
               json_integer_value(json_object_get(s, "restarts")),
               detail && *detail && (!health || strcmp(health, "healthy") != 0) ? detail : "");
    }
    return bad;
}

/* ---- ps / status ---- */

int ps_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw ps [--json] [--env-file FILE]      (also: mcpgw status)\n\n"
        "The services of the running supervisor (the guide's container status): state, pid, uptime,\n"
        "health (from the supervisor's periodic checks), restart count (automatic restarts since up).\n"
        "Exit 1 when the supervisor is not running or any service is not running.\n";
    struct command_line cl;
    char sock[256];
    int rc = start_command(argc, argv, usage, TAKES_JSON, &cl, sock, sizeof(sock), NULL);
    if (rc >= 0)
        return rc;
    enum gw_err err;
    json_t *reply = call(sock, json_pack("{s:s}", "cmd", "status"), 30000, &err);
    if (!reply) {
        if (cl.json)
            printf("{\"supervisor\":\"down\",\"services\":[]}\n");
        not_running();
        return 1;
    }
    int bad;
    if (cl.json) {
        json_t *services = json_object_get(reply, "services");
        size_t i;
        json_t *s;
        bad = 0;
        json_array_foreach(services, i, s)
        {
            if (!state_is_up(json_string_value(json_object_get(s, "state"))))
                bad++;
        }
        json_object_del(reply, "ok");
        char *text = json_dumps(reply, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
    } else {
        printf("supervisor pid %lld\n", json_integer_value(json_object_get(reply, "pid")));
        bad = print_status(reply, true);
        const char *notes = json_string_value(json_object_get(reply, "notes"));
        if (notes && *notes)
            printf("\n%s", notes);
    }
    json_decref(reply);
    return bad ? 1 : 0;
}

int ops_wait_healthy(const char *socket_path, pid_t pid, int timeout_s)
{
    time_t deadline = time(NULL) + timeout_s;
    json_t *last = NULL;
    bool all = false;
    while (time(NULL) < deadline) {
        enum gw_err err;
        json_t *reply = call(socket_path, json_pack("{s:s}", "cmd", "status"), 30000, &err);
        if (reply) {
            json_decref(last);
            last = reply;
            all = json_array_size(json_object_get(reply, "services")) > 0;
            size_t i;
            json_t *s;
            json_array_foreach(json_object_get(reply, "services"), i, s)
            {
                const char *h = json_string_value(json_object_get(s, "health"));
                if (!h || strcmp(h, "healthy") != 0)
                    all = false;
            }
            if (all)
                break;
        } else if (pid > 0 && kill(pid, 0) != 0) {
            fprintf(stderr, "ERROR: the supervisor exited during start-up; see LOG_DIR/supervisor.log and "
                            "supervisor.out\n");
            return 1;
        }
        usleep(300 * 1000);
    }
    if (last)
        print_status(last, false);
    json_decref(last);
    if (!all)
        fprintf(stderr, "ERROR: not every service became healthy within %d s (mcpgw logs SERVICE)\n",
                timeout_s);
    return all ? 0 : 1;
}

/* ---- health-check ---- */

int health_check_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw health-check [SERVICE] [--json] [--env-file FILE]\n\n"
        "Ask every service's /health now (redis: PING) and print one row each. Works without the\n"
        "supervisor (by the configured ports). Exit 1 if any service is unhealthy or unreachable.\n";
    struct command_line cl;
    int rc = parse_options(argc, argv, usage, TAKES_JSON | TAKES_SERVICE, &cl);
    if (rc >= 0)
        return rc;
    char sock[256];
    struct config *cfg = ops_load(cl.env_file, sock, sizeof(sock), NULL);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct service_table table;
    struct buf errors, detail;
    buf_init(&errors, 64 * 1024);
    buf_init(&detail, 8192);
    /* probe_redis false: a health check must report a stopped Redis, not decide it is "remote" */
    if (service_table_build(cfg, cl.env_file, false, &table, &errors) != GW_OK) {
        fputs(buf_cstr(&errors), stderr);
        buf_free(&errors);
        buf_free(&detail);
        config_free(cfg);
        return CONFIG_EXIT_CODE;
    }
    /* Services the operator stopped (`down SVC`) still count: they are down. */
    json_t *results = json_array();
    int bad = 0, shown = 0;
    if (!cl.json)
        printf("%-14s %-40s %-10s %s\n", "SERVICE", "ENDPOINT", "STATUS", "DETAIL");
    for (size_t i = 0; i < table.count; i++) {
        const struct service_spec *s = &table.items[i];
        if (cl.service && s != service_table_find(&table, cl.service))
            continue;
        shown++;
        buf_reset(&detail);
        bool ok = service_probe(s, 3000, &detail);
        char url[512];
        service_endpoint_text(s, url, sizeof(url) - 8);
        if (s->kind == SERVICE_REDIS)
            strcat(url, " (PING)");
        if (!ok)
            bad++;
        if (cl.json)
            json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:s}", "service", s->name, "endpoint",
                                                     url, "status", ok ? "healthy" : "unhealthy", "detail",
                                                     buf_cstr(&detail)));
        else
            printf("%-14s %-40s %-10s %s\n", s->name, url, ok ? "healthy" : "unhealthy", buf_cstr(&detail));
    }
    if (cl.service && !shown) {
        fprintf(stderr, "ERROR: unknown service '%s'\n", cl.service);
        bad++;
    }
    if (cl.json) {
        char *text = json_dumps(results, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
    } else if (!bad) {
        printf("All %d services healthy\n", shown);
    } else {
        printf("%d of %d services unhealthy\n", bad, shown);
    }
    json_decref(results);
    service_table_free(&table);
    buf_free(&errors);
    buf_free(&detail);
    config_free(cfg);
    return bad ? 1 : 0;
}

/* ---- down / restart ---- */

/* Whether pid is alive and looks like ours (mcpgw or redis-server), so a recycled pid is spared. */
static bool pid_is_ours(pid_t pid)
{
    char path[64], cmd[4096];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i++)
        if (!cmd[i])
            cmd[i] = ' ';
    cmd[n] = '\0';
    return strstr(cmd, "mcpgw") || strstr(cmd, "redis-server");
}

/* Poll every step_us, at most tries times, until pid is gone (or no longer ours); whether it is. */
static bool wait_until_gone(pid_t pid, int tries, unsigned step_us)
{
    for (int t = 0; t < tries && kill(pid, 0) == 0 && pid_is_ours(pid); t++)
        usleep(step_us);
    return !(kill(pid, 0) == 0 && pid_is_ours(pid));
}

/* Signal every pid recorded in run_dir (services, then the supervisor); removes the files.
 * Returns how many processes were signalled. */
static int signal_pid_files(const char *run_dir, int sig, bool wait_gone)
{
    DIR *d = opendir(run_dir);
    if (!d)
        return 0;
    struct dirent *e;
    pid_t pids[256];
    int n = 0;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".pid") != 0)
            continue;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", run_dir, e->d_name);
        FILE *f = fopen(path, "r");
        int pid = 0;
        if (f) {
            if (fscanf(f, "%d", &pid) != 1)
                pid = 0;
            fclose(f);
        }
        if (pid > 1 && pid_is_ours(pid)) {
            kill(pid, sig);
            printf("  sent %s to %.*s (pid %d)\n", sig == SIGKILL ? "SIGKILL" : "SIGTERM", (int)(len - 4),
                   e->d_name, pid);
            pids[n++] = pid;
        }
        unlink(path);
    }
    closedir(d);
    for (int i = 0; wait_gone && i < n; i++)
        if (!wait_until_gone(pids[i], 300, 50 * 1000))
            kill(pids[i], SIGKILL);
    return n;
}

int down_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw down [SERVICE] [--env-file FILE]\n\n"
        "Stop every service and the supervisor, in reverse start order (through the control socket;\n"
        "when the supervisor is gone, by the pid files in RUN_DIR). With SERVICE: stop only that one;\n"
        "it stays stopped until `mcpgw restart SERVICE` (traefik = router).\n";
    struct command_line cl;
    char sock[256], *run_dir = NULL;
    int rc = start_command(argc, argv, usage, TAKES_SERVICE, &cl, sock, sizeof(sock), &run_dir);
    if (rc >= 0)
        return rc;
    rc = 0;
    if (cl.service) {
        json_t *reply =
            ask_supervisor(sock, json_pack("{s:s, s:s}", "cmd", "stop", "service", cl.service), 120000);
        if (!reply) {
            rc = 1;
        } else if (!json_is_true(json_object_get(reply, "ok"))) {
            fprintf(stderr, "ERROR: %s\n", json_string_value(json_object_get(reply, "error")));
            rc = 1;
        } else {
            printf("Stopped %s\n", service_canonical_name(cl.service));
        }
        json_decref(reply);
        free(run_dir);
        return rc;
    }
    enum gw_err err;
    json_t *reply = call(sock, json_pack("{s:s}", "cmd", "down"), 10000, &err);
    if (reply) {
        pid_t pid = (pid_t)json_integer_value(json_object_get(reply, "pid"));
        printf("Stopping all services (supervisor pid %d)...\n", (int)pid);
        fflush(stdout);
        json_decref(reply);
        /* Gone when the socket no longer answers and the pid is no longer there. */
        if (pid > 0 && !wait_until_gone(pid, 1200, 100 * 1000)) {
            fprintf(stderr, "ERROR: the supervisor (pid %d) did not stop within 120 s\n", (int)pid);
            rc = 1;
        } else {
            printf("All services stopped\n");
        }
    } else {
        int n = signal_pid_files(run_dir, SIGTERM, true);
        char path[4400];
        snprintf(path, sizeof(path), "%s", sock);
        unlink(path);
        printf(n ? "Stopped %d leftover processes (the supervisor was not running)\n"
                 : "Nothing was running\n",
               n);
    }
    free(run_dir);
    return rc;
}

int restart_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw restart [SERVICE] [--env-file FILE]\n\n"
        "Restart one service (traefik = router), or all of them with .env re-read (the guide: change\n"
        "DEBUG, LOG_LEVEL or RATE_LIMIT_* in .env, then restart). Waits until the services are healthy\n"
        "and prints their status; exit 1 if one is not healthy within 60 s.\n";
    struct command_line cl;
    char sock[256];
    int rc = start_command(argc, argv, usage, TAKES_SERVICE, &cl, sock, sizeof(sock), NULL);
    if (rc >= 0)
        return rc;
    json_t *req = cl.service ? json_pack("{s:s, s:s}", "cmd", "restart", "service", cl.service)
                             : json_pack("{s:s}", "cmd", "restart");
    json_t *reply = ask_supervisor(sock, req, 600000);
    if (!reply)
        return 1;
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *e = json_string_value(json_object_get(reply, "error"));
        fprintf(stderr, "%s%s%s", strncmp(e ? e : "", "ERROR", 5) ? "ERROR: " : "", e ? e : "failed",
                e && *e && e[strlen(e) - 1] == '\n' ? "" : "\n");
        rc = json_is_true(json_object_get(reply, "config_error")) ? CONFIG_EXIT_CODE : 1;
        json_decref(reply);
        return rc;
    }
    printf("Restarted:");
    size_t i;
    json_t *n;
    json_array_foreach(json_object_get(reply, "restarted"), i, n) printf(" %s", json_string_value(n));
    printf("\n");
    fflush(stdout);
    json_decref(reply);
    return ops_wait_healthy(sock, 0, 60);
}

int emergency_restart_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw emergency-restart [--env-file FILE]\n\n"
        "SIGKILL every process recorded in RUN_DIR (supervisor and services), remove stale pid files\n"
        "and the control socket, then start fresh with `mcpgw up -d`. Redis keeps its data (AOF).\n";
    struct command_line cl;
    char sock[256], *run_dir = NULL;
    int rc = start_command(argc, argv, usage, 0, &cl, sock, sizeof(sock), &run_dir);
    if (rc >= 0)
        return rc;
    printf("Emergency restart: killing every recorded process\n");
    int n = signal_pid_files(run_dir, SIGKILL, false);
    unlink(sock);
    printf("  killed %d processes; removed stale pid files and %s\n", n, sock);
    /* A killed process frees its ports at once, but give the kernel a moment to reap them. */
    usleep(300 * 1000);
    free(run_dir);
    fflush(stdout);
    const char *self = service_self_exe();
    char *args[] = {(char *)self, (char *)"up", (char *)"-d", NULL, NULL, NULL};
    if (cl.env_file) {
        args[3] = (char *)"--env-file";
        args[4] = (char *)cl.env_file;
    }
    printf("Starting fresh: mcpgw up -d\n");
    fflush(stdout);
    execv(self, args);
    fprintf(stderr, "ERROR: cannot run %s up -d: %s\n", self, strerror(errno));
    return 1;
}
