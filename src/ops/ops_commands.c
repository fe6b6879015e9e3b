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

/* Common options: returns 1 after --help, -1 on a usage error, 0 to go on. Options the command
 * knows itself are left to it: positional[] receives the rest, in order. */
static int parse_options(int argc, char **argv, const char *usage, const char **env_file, bool *json,
                         const char **positional, int max_positional, int *npositional)
{
    *npositional = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            *env_file = argv[++i];
        } else if (json && strcmp(argv[i], "--json") == 0) {
            *json = true;
        } else if (argv[i][0] != '-' && *npositional < max_positional) {
            positional[(*npositional)++] = argv[i];
        } else {
            fprintf(stderr, "ERROR: unknown option or extra argument %s\n%s", argv[i], usage);
            return -1;
        }
    }
    return 0;
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
        if (state && (strcmp(state, "running") == 0 || strcmp(state, "external") == 0))
            format_uptime(json_integer_value(json_object_get(s, "uptime_seconds")), up, sizeof(up));
        if (pid > 0)
            snprintf(pidtext, sizeof(pidtext), "%lld", pid);
        bool running = state && (strcmp(state, "running") == 0 || strcmp(state, "external") == 0);
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
    const char *env_file = NULL, *pos[1];
    bool json = false;
    int npos, r = parse_options(argc, argv, usage, &env_file, &json, pos, 0, &npos);
    if (r)
        return r > 0 ? 0 : 2;
    char sock[256];
    struct config *cfg = ops_load(env_file, sock, sizeof(sock), NULL);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    config_free(cfg);
    enum gw_err err;
    json_t *reply = call(sock, json_pack("{s:s}", "cmd", "status"), 30000, &err);
    if (!reply) {
        if (json)
            printf("{\"supervisor\":\"down\",\"services\":[]}\n");
        not_running();
        return 1;
    }
    int bad;
    if (json) {
        json_t *services = json_object_get(reply, "services");
        size_t i;
        json_t *s;
        bad = 0;
        json_array_foreach(services, i, s)
        {
            const char *state = json_string_value(json_object_get(s, "state"));
            if (!state || (strcmp(state, "running") != 0 && strcmp(state, "external") != 0))
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
    const char *env_file = NULL, *pos[1];
    bool json = false;
    int npos, r = parse_options(argc, argv, usage, &env_file, &json, pos, 1, &npos);
    if (r)
        return r > 0 ? 0 : 2;
    char sock[256];
    struct config *cfg = ops_load(env_file, sock, sizeof(sock), NULL);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct service_table table;
    struct buf errors, detail;
    buf_init(&errors, 64 * 1024);
    buf_init(&detail, 8192);
    /* probe_redis false: a health check must report a stopped Redis, not decide it is "remote" */
    if (service_table_build(cfg, env_file, false, &table, &errors) != GW_OK) {
        fputs(buf_cstr(&errors), stderr);
        buf_free(&errors);
        buf_free(&detail);
        config_free(cfg);
        return CONFIG_EXIT_CODE;
    }
    /* Services the operator stopped (`down SVC`) still count: they are down. */
    json_t *results = json_array();
    int bad = 0, shown = 0;
    if (!json)
        printf("%-14s %-40s %-10s %s\n", "SERVICE", "ENDPOINT", "STATUS", "DETAIL");
    for (size_t i = 0; i < table.count; i++) {
        const struct service_spec *s = &table.items[i];
        if (npos && s != service_table_find(&table, pos[0]))
            continue;
        shown++;
        buf_reset(&detail);
        bool ok = service_probe(s, 3000, &detail);
        char url[512];
        if (s->kind == SERVICE_REDIS)
            snprintf(url, sizeof(url), "redis://%s:%d (PING)", s->health_host, s->health_port);
        else
            snprintf(url, sizeof(url), "http://%s:%d%s", s->health_host, s->health_port, s->health_path);
        if (!ok)
            bad++;
        if (json)
            json_array_append_new(results, json_pack("{s:s, s:s, s:s, s:s}", "service", s->name, "endpoint",
                                                     url, "status", ok ? "healthy" : "unhealthy", "detail",
                                                     buf_cstr(&detail)));
        else
            printf("%-14s %-40s %-10s %s\n", s->name, url, ok ? "healthy" : "unhealthy", buf_cstr(&detail));
    }
    if (npos && !shown) {
        fprintf(stderr, "ERROR: unknown service '%s'\n", pos[0]);
        bad++;
    }
    if (json) {
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
    for (int i = 0; wait_gone && i < n; i++) {
        for (int t = 0; t < 300 && kill(pids[i], 0) == 0 && pid_is_ours(pids[i]); t++)
            usleep(50 * 1000);
        if (kill(pids[i], 0) == 0 && pid_is_ours(pids[i]))
            kill(pids[i], SIGKILL);
    }
    return n;
}

int down_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw down [SERVICE] [--env-file FILE]\n\n"
        "Stop every service and the supervisor, in reverse start order (through the control socket;\n"
        "when the supervisor is gone, by the pid files in RUN_DIR). With SERVICE: stop only that one;\n"
        "it stays stopped until `mcpgw restart SERVICE` (traefik = router).\n";
    const char *env_file = NULL, *pos[1];
    int npos, r = parse_options(argc, argv, usage, &env_file, NULL, pos, 1, &npos);
    if (r)
        return r > 0 ? 0 : 2;
    char sock[256], *run_dir = NULL;
    struct config *cfg = ops_load(env_file, sock, sizeof(sock), &run_dir);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    config_free(cfg);
    enum gw_err err;
    int rc = 0;
    if (npos) {
        json_t *reply = call(sock, json_pack("{s:s, s:s}", "cmd", "stop", "service", pos[0]), 120000, &err);
        if (!reply) {
            not_running();
            rc = 1;
        } else if (!json_is_true(json_object_get(reply, "ok"))) {
            fprintf(stderr, "ERROR: %s\n", json_string_value(json_object_get(reply, "error")));
            rc = 1;
        } else {
            printf("Stopped %s\n", service_canonical_name(pos[0]));
        }
        json_decref(reply);
        free(run_dir);
        return rc;
    }
    json_t *reply = call(sock, json_pack("{s:s}", "cmd", "down"), 10000, &err);
    if (reply) {
        pid_t pid = (pid_t)json_integer_value(json_object_get(reply, "pid"));
        printf("Stopping all services (supervisor pid %d)...\n", (int)pid);
        fflush(stdout);
        json_decref(reply);
        /* Gone when the socket no longer answers and the pid is no longer there. */
        for (int i = 0; i < 1200 && pid > 0 && kill(pid, 0) == 0 && pid_is_ours(pid); i++)
            usleep(100 * 1000);
        if (pid > 0 && kill(pid, 0) == 0 && pid_is_ours(pid)) {
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
    const char *env_file = NULL, *pos[1];
    int npos, r = parse_options(argc, argv, usage, &env_file, NULL, pos, 1, &npos);
    if (r)
        return r > 0 ? 0 : 2;
    char sock[256];
    struct config *cfg = ops_load(env_file, sock, sizeof(sock), NULL);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    config_free(cfg);
    json_t *req = npos ? json_pack("{s:s, s:s}", "cmd", "restart", "service", pos[0])
                       : json_pack("{s:s}", "cmd", "restart");
    enum gw_err err;
    json_t *reply = call(sock, req, 600000, &err);
    if (!reply) {
        not_running();
        return 1;
    }
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *e = json_string_value(json_object_get(reply, "error"));
        fprintf(stderr, "%s%s%s", strncmp(e ? e : "", "ERROR", 5) ? "ERROR: " : "", e ? e : "failed",
                e && *e && e[strlen(e) - 1] == '\n' ? "" : "\n");
        int rc = json_is_true(json_object_get(reply, "config_error")) ? CONFIG_EXIT_CODE : 1;
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
    const char *env_file = NULL, *pos[1];
    int npos, r = parse_options(argc, argv, usage, &env_file, NULL, pos, 0, &npos);
    if (r)
        return r > 0 ? 0 : 2;
    char sock[256], *run_dir = NULL;
    struct config *cfg = ops_load(env_file, sock, sizeof(sock), &run_dir);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    config_free(cfg);
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
    if (env_file) {
        args[3] = (char *)"--env-file";
        args[4] = (char *)env_file;
    }
    printf("Starting fresh: mcpgw up -d\n");
    fflush(stdout);
    execv(self, args);
    fprintf(stderr, "ERROR: cannot run %s up -d: %s\n", self, strerror(errno));
    return 1;
}
