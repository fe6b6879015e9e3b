/*
 * supervisor_loop.c - the supervisor's children: start, reap, back off, health-check, stop,
 * and the control requests that act on them. One thread, one poll() loop: signals arrive
 * through a self-pipe, the control socket and Redis's stdout are polled beside it.
 */
#include "supervisor_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "control.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/public_url.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define HEALTHY_RESETS_BACKOFF_MS 10000
#define HEALTH_TIMEOUT_MS 2000
#define REDIS_READY_WAIT_MS 10000

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- pid files ---- */

static void pid_file_path(const struct supervisor *sv, const char *name, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/%s.pid", sv->run_dir, name);
}

static void pid_file_write(const struct supervisor *sv, const char *name, pid_t pid)
{
    char path[4200];
    pid_file_path(sv, name, path, sizeof(path));
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%d\n", (int)pid);
        fclose(f);
    }
}

static void pid_file_remove(const struct supervisor *sv, const char *name)
{
    char path[4200];
    pid_file_path(sv, name, path, sizeof(path));
    unlink(path);
}

/* ---- Redis's own log lines, re-written as our JSON lines ---- */

static void redis_log_line(struct child *c, const char *line)
{
    /* "1234:M 27 Nov 2026 21:00:00.000 * Ready to accept connections tcp": the level mark is a
     * lone '.', '-', '*' or '#' after the time; '#' is a warning. Other lines pass as they are. */
    enum log_level level = LOG_INFO;
    const char *msg = line;
    for (const char *p = line + 1; *p && p[1]; p++) {
        if (strchr(".-*#", p[0]) && p[-1] == ' ' && p[1] == ' ') {
            level = p[0] == '#' ? LOG_WARNING : p[0] == '*' ? LOG_INFO : LOG_DEBUG;
            msg = p + 2;
            break;
        }
    }
    if (!*msg)
        return;
    char out[8192];
    int n = log_format_line_capped(out, sizeof(out), level, "redis", msg, NULL, 0);
    if (n > 0 && c->log_fd >= 0)
        (void)!write(c->log_fd, out, (size_t)n);
}

static void redis_log_drain(struct child *c)
{
    char chunk[4096];
    for (;;) {
        ssize_t n = read(c->log_pipe, chunk, sizeof(chunk));
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(c->log_pipe);
                c->log_pipe = -1;
            }
            break;
        }
        buf_append(&c->log_pending, chunk, (size_t)n);
    }
    while (c->log_pending.len) {
        char *nl = memchr(c->log_pending.data, '\n', c->log_pending.len);
        if (!nl && c->log_pending.len < 4096 && c->log_pipe >= 0)
            break;
        size_t len = nl ? (size_t)(nl - c->log_pending.data) : c->log_pending.len;
        char line[4097];
        snprintf(line, sizeof(line), "%.*s", (int)len, c->log_pending.data);
        line[strcspn(line, "\r")] = '\0';
        redis_log_line(c, line);
        size_t consumed = nl ? len + 1 : len;
        memmove(c->log_pending.data, c->log_pending.data + consumed, c->log_pending.len - consumed);
        c->log_pending.len -= consumed;
        c->log_pending.data[c->log_pending.len] = '\0';
    }
}

/* ---- start and stop ---- */

static void make_dirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0700);
            *p = '/';
        }
    }
    mkdir(tmp, 0700);
}

static bool child_start(struct supervisor *sv, struct child *c)
{
    struct service_spec *s = c->spec;
    if (!s->managed) {
        c->state = CHILD_RUNNING;
        c->started_ms = now_ms();
        c->health = "starting";
        return true;
    }
    int pipefd[2] = {-1, -1};
    if (s->kind == SERVICE_REDIS) {
        for (size_t i = 0; s->argv[i]; i++)
            if (strcmp(s->argv[i], "--dir") == 0 && s->argv[i + 1])
                make_dirs(s->argv[i + 1]);
        if (pipe2(pipefd, O_CLOEXEC) != 0)
            pipefd[0] = pipefd[1] = -1;
        if (c->log_fd < 0 && sv->log_dir) {
            char path[4200];
            snprintf(path, sizeof(path), "%s/redis.log", sv->log_dir);
            c->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        }
    }
    /* The restart count so far, for the service's service_restarts_total (core/server.c). */
    char restarts[24];
    snprintf(restarts, sizeof(restarts), "%d", c->restarts);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_write(LOG_ERROR, "Could not start service",
                  (struct log_field[]){log_str("svc", s->name), log_str("error", strerror(errno))}, 2);
        if (pipefd[0] >= 0) {
            close(pipefd[0]);
            close(pipefd[1]);
        }
        return false;
    }
    if (pid == 0) {
        supervisor_child_setup(sv, parent, pipefd[1]);
        /* the supervisor is one thread, so setenv between fork and exec is safe */
        setenv("MCPGW_RESTARTS", restarts, 1);
        execvp(s->argv[0], s->argv);
        fprintf(stderr, "ERROR: cannot run %s: %s\n", s->argv[0], strerror(errno));
        _exit(127);
    }
    if (pipefd[1] >= 0) {
        close(pipefd[1]);
        fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
        if (c->log_pipe >= 0)
            close(c->log_pipe);
        c->log_pipe = pipefd[0];
    }
    c->pid = pid;
    c->state = CHILD_RUNNING;
    c->started_ms = now_ms();
    c->health = "starting";
    c->detail[0] = '\0';
    c->failed_checks = 0;
    c->dependency_down = false;
    c->grace_until_ms = 0;
    pid_file_write(sv, s->name, pid);
    log_write(LOG_INFO, "Service started", (struct log_field[]){log_str("svc", s->name), log_int("pid", pid)},
              2);
    return true;
}

void supervisor_child_setup(const struct supervisor *sv, pid_t parent, int stdout_fd)
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(1);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(stdout_fd >= 0 ? stdout_fd : devnull, 1);
    if (!sv->foreground)
        dup2(devnull, 2);
}

static void note_exit(struct child *c, int status)
{
    c->last_exit = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? -WTERMSIG(status) : 0;
}

/* SIGTERM, wait up to the shutdown timeout, then SIGKILL. Blocks the loop meanwhile. */
static void child_stop(struct supervisor *sv, struct child *c, enum child_state after)
{
    if (c->pid > 0) {
        kill(c->pid, SIGTERM);
        long long deadline = now_ms() + sv->shutdown_timeout_ms + 2000;
        int status = 0;
        pid_t r = 0;
        while ((r = waitpid(c->pid, &status, WNOHANG)) == 0 && now_ms() < deadline)
            usleep(20 * 1000);
        if (r == 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
        }
        note_exit(c, status);
        log_write(LOG_INFO, "Service stopped",
                  (struct log_field[]){log_str("svc", c->spec->name), log_int("pid", c->pid)}, 2);
        pid_file_remove(sv, c->spec->name);
        c->pid = 0;
    }
    if (c->log_pipe >= 0)
        redis_log_drain(c);
    c->state = after;
    c->health = "-";
    c->detail[0] = '\0';
}

/* Wait until a just-started dependency answers (Redis: PING; auth: its port), so the services
 * started after it find it at once instead of logging a first failed attempt. */
static void wait_ready(struct child *c)
{
    long long deadline = now_ms() + REDIS_READY_WAIT_MS;
    struct buf detail;
    buf_init(&detail, 4096);
    while (now_ms() < deadline) {
        buf_reset(&detail);
        if (c->log_pipe >= 0)
            redis_log_drain(c);
        if (c->spec->kind == SERVICE_REDIS
                ? service_probe(c->spec, 500, &detail)
                : service_port_answers(c->spec->health_host, c->spec->health_port, 500)) {
            if (c->spec->kind == SERVICE_REDIS)
                c->health = "healthy";
            break;
        }
        if (c->pid > 0 && waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            /* died at once (bad option, port taken): the loop's reaper will not see it again */
            c->pid = 0;
            c->state = CHILD_BACKOFF;
            c->next_start_ms = now_ms() + BACKOFF_FIRST_MS;
            break;
        }
        usleep(50 * 1000);
    }
    buf_free(&detail);
}

void supervisor_children_init(struct supervisor *sv)
{
    sv->nchildren = sv->table.count;
    sv->children = gw_calloc(sv->nchildren ? sv->nchildren : 1, sizeof(*sv->children));
    for (size_t i = 0; i < sv->nchildren; i++) {
        struct child *c = &sv->children[i];
        c->spec = &sv->table.items[i];
        c->state = CHILD_STOPPED;
        c->health = "-";
        c->log_pipe = -1;
        c->log_fd = -1;
        buf_init(&c->log_pending, 64 * 1024);
    }
}

static void children_free(struct supervisor *sv)
{
    for (size_t i = 0; i < sv->nchildren; i++) {
        struct child *c = &sv->children[i];
        if (c->log_pipe >= 0)
            close(c->log_pipe);
        if (c->log_fd >= 0)
            close(c->log_fd);
        buf_free(&c->log_pending);
    }
    free(sv->children);
    sv->children = NULL;
    sv->nchildren = 0;
}

void supervisor_start_all(struct supervisor *sv)
{
    for (size_t i = 0; i < sv->nchildren; i++) {
        struct child *c = &sv->children[i];
        if (c->state == CHILD_RUNNING)
            continue;
        child_start(sv, c);
        if (c->spec->kind == SERVICE_REDIS || strcmp(c->spec->name, "auth") == 0)
            wait_ready(c);
    }
    sv->next_health_ms = now_ms() + 300;
}

void supervisor_stop_all(struct supervisor *sv)
{
    for (size_t i = sv->nchildren; i-- > 0;)
        child_stop(sv, &sv->children[i], CHILD_STOPPED);
}

/* ---- reaping and backoff ---- */

static long long backoff_ms(int streak)
{
    long long d = BACKOFF_FIRST_MS;
    for (int i = 1; i < streak && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    return d > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d;
}

static void reap(struct supervisor *sv)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (supervisor_acme_reaped(sv, pid, status))
            continue;
        for (size_t i = 0; i < sv->nchildren; i++) {
            struct child *c = &sv->children[i];
            if (c->pid != pid)
                continue;
            note_exit(c, status);
            c->pid = 0;
            pid_file_remove(sv, c->spec->name);
            if (c->log_pipe >= 0)
                redis_log_drain(c);
            if (c->state == CHILD_STOPPING) {
                /* the unhealthy service we stopped: start it again after the backoff */
                c->state = CHILD_BACKOFF;
                c->health = "-";
                c->next_start_ms = now_ms() + backoff_ms(c->crash_streak);
                break;
            }
            if (sv->stopping || c->state != CHILD_RUNNING)
                break;
            c->crash_streak++;
            c->state = CHILD_BACKOFF;
            c->health = "-";
            long long delay = backoff_ms(c->crash_streak);
            c->next_start_ms = now_ms() + delay;
            snprintf(c->detail, sizeof(c->detail), "%s %d; restarting in %lld ms",
                     c->last_exit < 0 ? "killed by signal" : "exited with status",
                     c->last_exit < 0 ? -c->last_exit : c->last_exit, delay);
            log_write(LOG_ERROR, "Service exited",
                      (struct log_field[]){log_str("svc", c->spec->name), log_int("pid", pid),
                                           log_int(c->last_exit < 0 ? "signal" : "exit_code",
                                                   c->last_exit < 0 ? -c->last_exit : c->last_exit),
                                           log_int("restart_in_ms", delay)},
                      4);
            break;
        }
    }
}

static void kill_overdue(struct supervisor *sv)
{
    long long now = now_ms();
    for (size_t i = 0; i < sv->nchildren; i++) {
        struct child *c = &sv->children[i];
        if (c->state == CHILD_STOPPING && c->pid > 0 && now >= c->stop_deadline_ms) {
            log_write(LOG_WARNING, "Service ignored SIGTERM; sending SIGKILL",
                      (struct log_field[]){log_str("svc", c->spec->name), log_int("pid", c->pid)}, 2);
            kill(c->pid, SIGKILL);
            c->stop_deadline_ms = now + 60000;
        }
    }
}

static void start_due(struct supervisor *sv)
{
    long long now = now_ms();
    for (size_t i = 0; i < sv->nchildren; i++) {
        struct child *c = &sv->children[i];
        if (c->state != CHILD_BACKOFF || now < c->next_start_ms)
            continue;
        c->restarts++;
        log_write(LOG_WARNING, "Restarting service",
                  (struct log_field[]){log_str("svc", c->spec->name), log_int("restart_count", c->restarts)},
                  2);
        child_start(sv, c);
        if (c->spec->kind == SERVICE_REDIS)
            wait_ready(c);
    }
}

/* ---- health ---- */

static bool service_healthy(const struct supervisor *sv, const char *name)
{
    for (size_t i = 0; i < sv->nchildren; i++)
        if (strcmp(sv->children[i].spec->name, name) == 0)
            return strcmp(sv->children[i].health, "healthy") == 0;
    return true; /* not part of this stack */
}

/* What a service's /health depends on, and how long it may take, once that dependency is back,
 * to notice: its longest reconnect backoff (auth: REDIS_BACKOFF_MAX_MS in core/redis.c; the
 * router: JWKS_RETRY_MAX_MS in router/token_check.c). Restarting a service for its dependency's
 * outage would not help and would cut its live connections, so the supervisor waits for the
 * dependency, then for the service to reconnect, before its failed checks count. */
struct health_dependency {
    const char *service;
    const char *depends_on;
    long long reconnect_ms;
};

static const struct health_dependency health_dependencies[] = {
    {"auth", "redis", 5000},
    {"router", "auth", 10000},
};

static const struct health_dependency *health_dependency_of(const struct child *c)
{
    for (size_t i = 0; i < sizeof(health_dependencies) / sizeof(health_dependencies[0]); i++)
        if (strcmp(c->spec->name, health_dependencies[i].service) == 0)
            return &health_dependencies[i];
    return NULL;
}

/* Whether c's failed check of this round counts towards a restart. Not while its dependency
 * is unhealthy, nor within the reconnect grace after it recovered; either resets the count, so
 * the service gets its full HEALTH_CHECK_RETRIES once the grace is over. */
static bool failure_counts(struct supervisor *sv, struct child *c, long long now)
{
    const struct health_dependency *dep = health_dependency_of(c);
    if (!dep)
        return true;
    if (!service_healthy(sv, dep->depends_on)) {
        c->dependency_down = true;
        return false;
    }
    if (c->dependency_down) {
        c->dependency_down = false;
        c->grace_until_ms = now + dep->reconnect_ms + sv->health_interval_ms;
    }
    return now >= c->grace_until_ms;
}

static void announce(struct supervisor *sv)
{
    bool all = sv->nchildren > 0;
    for (size_t i = 0; i < sv->nchildren; i++)
        if (strcmp(sv->children[i].health, "healthy") != 0)
            all = false;
    if (!all || sv->announced)
        return;
    sv->announced = true;
    log_write(LOG_INFO, "All services healthy",
              (struct log_field[]){log_int("services", (long long)sv->nchildren)}, 1);
    if (!sv->foreground)
        return;
    printf(
        "mcpgw: all %zu services are healthy (mcpgw ps, mcpgw health-check, mcpgw logs -f; Ctrl-C stops)\n",
        sv->nchildren);
    for (size_t i = 0; i < sv->nchildren; i++) {
        const struct service_spec *s = sv->children[i].spec;
        if (strncmp(s->name, "mcp-", 4) == 0 && service_table_find(&sv->table, "router")) {
            char *url = public_url_resource(sv->cfg, s->name);
            printf("  %-10s %s\n", s->name, url);
            free(url);
        } else if (strcmp(s->name, "auth") == 0 && service_table_find(&sv->table, "router")) {
            char *url = public_url_issuer(sv->cfg);
            printf("  %-10s %s\n", s->name, url);
            free(url);
        }
    }
    fflush(stdout);
}

static void health_round(struct supervisor *sv)
{
    struct buf detail;
    buf_init(&detail, 4096);
    long long now = now_ms();
    for (size_t i = 0; i < sv->nchildren; i++) {
        struct child *c = &sv->children[i];
        if (c->state != CHILD_RUNNING)
            continue;
        buf_reset(&detail);
        bool ok = service_probe(c->spec, HEALTH_TIMEOUT_MS, &detail);
        snprintf(c->detail, sizeof(c->detail), "%s", buf_cstr(&detail));
        if (ok) {
            if (strcmp(c->health, "healthy") != 0 && strcmp(c->health, "starting") != 0)
                log_write(LOG_INFO, "Service healthy again",
                          (struct log_field[]){log_str("svc", c->spec->name)}, 1);
            c->health = "healthy";
            c->failed_checks = 0;
            if (now - c->started_ms >= HEALTHY_RESETS_BACKOFF_MS)
                c->crash_streak = 0;
            continue;
        }
        if (failure_counts(sv, c, now))
            c->failed_checks++;
        else
            c->failed_checks = 0;
        /* A service still starting gets the retries as grace before it counts as unhealthy. */
        if (strcmp(c->health, "starting") == 0 && c->failed_checks < sv->health_retries &&
            !c->dependency_down)
            continue;
        if (strcmp(c->health, "unhealthy") != 0)
            log_write(LOG_WARNING, "Service unhealthy",
                      (struct log_field[]){log_str("svc", c->spec->name), log_str("error", c->detail)}, 2);
        c->health = "unhealthy";
        if (c->failed_checks >= sv->health_retries && c->spec->managed && c->pid > 0) {
            log_write(LOG_ERROR, "Service unhealthy too long; restarting it",
                      (struct log_field[]){log_str("svc", c->spec->name),
                                           log_int("failed_checks", c->failed_checks)},
                      2);
            /* Without blocking the loop: SIGTERM now, SIGKILL at the deadline (kill_overdue),
             * the restart when reap() sees it gone. */
            kill(c->pid, SIGTERM);
            c->state = CHILD_STOPPING;
            c->crash_streak++;
            c->stop_deadline_ms = now_ms() + sv->shutdown_timeout_ms + 2000;
        }
    }
    buf_free(&detail);
    announce(sv);
}

/* ---- control requests ---- */

static json_t *service_json(const struct supervisor *sv, const struct child *c)
{
    static const char *const states[] = {"stopped", "running", "restarting", "stopped", "stopping"};
    const struct service_spec *s = c->spec;
    char url[512];
    service_endpoint_text(s, url, sizeof(url));
    long long uptime = c->state == CHILD_RUNNING ? (now_ms() - c->started_ms) / 1000 : 0;
    (void)sv;
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:s, s:i, s:b, s:s, s:b}", "name", s->name, "state",
                     !s->managed && c->state == CHILD_RUNNING ? "external" : states[c->state], "pid",
                     (json_int_t)c->pid, "uptime_seconds", (json_int_t)uptime, "health", c->health, "detail",
                     c->detail, "restarts", c->restarts, "managed", s->managed, "health_url", url, "held",
                     c->state == CHILD_HELD);
}

static json_t *error_reply(const char *fmt, const char *arg, const struct supervisor *sv)
{
    char text[2048];
    int n = snprintf(text, sizeof(text), fmt, arg);
    if (sv) {
        for (size_t i = 0; i < sv->nchildren && n > 0 && (size_t)n < sizeof(text); i++)
            n += snprintf(text + n, sizeof(text) - (size_t)n, "%s%s",
                          i ? ", " : " (services: ", sv->children[i].spec->name);
        if (n > 0 && (size_t)n < sizeof(text) - 1)
            snprintf(text + n, sizeof(text) - (size_t)n, ")");
    }
    return json_pack("{s:b, s:s}", "ok", 0, "error", text);
}

static struct child *find_child(struct supervisor *sv, const char *name)
{
    struct service_spec *s = service_table_find(&sv->table, name);
    for (size_t i = 0; s && i < sv->nchildren; i++)
        if (sv->children[i].spec == s)
            return &sv->children[i];
    return NULL;
}

/* Re-read .env (the guide: change DEBUG/LOG_LEVEL/RATE_LIMIT_*, then `restart`) and restart all. */
static json_t *restart_all(struct supervisor *sv)
{
    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 256 * 1024);
    if (config_load(sv->env_file, &cfg, &errors) != GW_OK || config_validate(cfg, &errors) != GW_OK) {
        config_free(cfg);
        json_t *r = json_pack("{s:b, s:s, s:b}", "ok", 0, "error", buf_cstr(&errors), "config_error", 1);
        buf_free(&errors);
        return r;
    }
    supervisor_stop_all(sv);
    struct service_table table;
    if (service_table_build(cfg, sv->env_file, true, &table, &errors) != GW_OK) {
        config_free(cfg);
        supervisor_start_all(sv); /* the old services, as they were */
        json_t *r = json_pack("{s:b, s:s}", "ok", 0, "error", buf_cstr(&errors));
        buf_free(&errors);
        return r;
    }
    buf_free(&errors);
    int *restarts = gw_calloc(sv->nchildren + 1, sizeof(int));
    char(*names)[SERVICE_NAME_MAX] = gw_calloc(sv->nchildren + 1, SERVICE_NAME_MAX);
    size_t old = sv->nchildren;
    for (size_t i = 0; i < old; i++) {
        restarts[i] = sv->children[i].restarts;
        snprintf(names[i], SERVICE_NAME_MAX, "%s", sv->children[i].spec->name);
    }
    children_free(sv);
    service_table_free(&sv->table);
    config_free(sv->cfg);
    sv->cfg = cfg;
    sv->table = table;
    supervisor_children_init(sv);
    json_t *list = json_array();
    for (size_t i = 0; i < sv->nchildren; i++) {
        for (size_t j = 0; j < old; j++)
            if (strcmp(names[j], sv->children[i].spec->name) == 0)
                sv->children[i].restarts = restarts[j];
        json_array_append_new(list, json_string(sv->children[i].spec->name));
    }
    free(restarts);
    free(names);
    sv->announced = false;
    supervisor_start_all(sv);
    log_write(LOG_INFO, "Restarted all services with the configuration re-read", NULL, 0);
    return json_pack("{s:b, s:o}", "ok", 1, "restarted", list);
}

static json_t *handle_request(struct supervisor *sv, json_t *req)
{
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    const char *svc = json_string_value(json_object_get(req, "service"));
    if (!cmd)
        return error_reply("request without \"cmd\"%s", "", NULL);
    if (strcmp(cmd, "status") == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < sv->nchildren; i++)
            json_array_append_new(list, service_json(sv, &sv->children[i]));
        return json_pack("{s:b, s:I, s:o, s:s}", "ok", 1, "pid", (json_int_t)getpid(), "services", list,
                         "notes", buf_cstr(&sv->table.notes));
    }
    if (strcmp(cmd, "down") == 0) {
        sv->stopping = true;
        return json_pack("{s:b, s:I}", "ok", 1, "pid", (json_int_t)getpid());
    }
    if ((strcmp(cmd, "restart") == 0 || strcmp(cmd, "stop") == 0) && svc && *svc) {
        struct child *c = find_child(sv, svc);
        if (!c)
            return error_reply("unknown service '%s'", svc, sv);
        bool restart = strcmp(cmd, "restart") == 0;
        child_stop(sv, c, restart ? CHILD_STOPPED : CHILD_HELD);
        if (restart) {
            child_start(sv, c);
            if (c->spec->kind == SERVICE_REDIS)
                wait_ready(c);
        }
        log_write(LOG_INFO, restart ? "Service restarted by the operator" : "Service stopped by the operator",
                  (struct log_field[]){log_str("svc", c->spec->name)}, 1);
        return json_pack("{s:b, s:[s]}", "ok", 1, restart ? "restarted" : "stopped", c->spec->name);
    }
    if (strcmp(cmd, "restart") == 0)
        return restart_all(sv);
    return error_reply("unknown command '%s'", cmd, NULL);
}

static void serve_control(struct supervisor *sv)
{
    for (;;) {
        int fd = accept4(sv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return;
        json_t *req = control_read_request(fd, 2000);
        json_t *reply = req ? handle_request(sv, req) : error_reply("not a JSON object line%s", "", NULL);
        control_write_reply(fd, reply);
        json_decref(reply);
        json_decref(req);
        close(fd);
    }
}

/* ---- signals passed on ---- */

static void forward_signal(struct supervisor *sv, const char *only, int sig)
{
    for (size_t i = 0; i < sv->nchildren; i++) {
        struct child *c = &sv->children[i];
        if (c->pid > 0 && c->spec->kind != SERVICE_REDIS && (!only || strcmp(c->spec->name, only) == 0))
            kill(c->pid, sig);
    }
}

/* After rotation (files renamed away): new files for the supervisor, Redis's rewritten lines
 * and every service (their SIGUSR1 handler reopens; Redis itself writes to our pipe). */
static void reopen_logs(struct supervisor *sv)
{
    log_reopen();
    for (size_t i = 0; i < sv->nchildren; i++) {
        struct child *c = &sv->children[i];
        if (c->log_fd < 0 || !sv->log_dir)
            continue;
        close(c->log_fd);
        char path[4200];
        snprintf(path, sizeof(path), "%s/redis.log", sv->log_dir);
        c->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    }
    if (!sv->foreground && sv->log_dir && *sv->log_dir)
        supervisor_reopen_stderr(sv->log_dir);
    forward_signal(sv, NULL, SIGUSR1);
    log_write(LOG_INFO, "Log files reopened", NULL, 0);
}

/* ---- the loop ---- */

int supervisor_run(struct supervisor *sv)
{
    while (!sv->stopping) {
        struct pollfd fds[2 + 64];
        size_t nfds = 0;
        fds[nfds++] = (struct pollfd){.fd = sv->signal_pipe[0], .events = POLLIN};
        fds[nfds++] = (struct pollfd){.fd = sv->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < sv->nchildren && nfds < sizeof(fds) / sizeof(fds[0]); i++)
            if (sv->children[i].log_pipe >= 0)
                fds[nfds++] = (struct pollfd){.fd = sv->children[i].log_pipe, .events = POLLIN};
        int pr = poll(fds, nfds, 200);
        if (pr < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN) {
            char sigs[64];
            ssize_t n = read(sv->signal_pipe[0], sigs, sizeof(sigs));
            for (ssize_t i = 0; i < n; i++)
                if (sigs[i] == 'U')
                    reopen_logs(sv);
                else if (sigs[i] == 'H')
                    forward_signal(sv, "router", SIGHUP);
                else if (sigs[i] == 'T') {
                    log_write(LOG_INFO, "Stopping all services (signal)", NULL, 0);
                    sv->stopping = true;
                }
        }
        reap(sv);
        for (size_t i = 0; i < sv->nchildren; i++)
            if (sv->children[i].log_pipe >= 0)
                redis_log_drain(&sv->children[i]);
        if (sv->stopping)
            break;
        if (fds[1].revents & POLLIN)
            serve_control(sv);
        if (sv->stopping)
            break;
        kill_overdue(sv);
        start_due(sv);
        if (now_ms() >= sv->next_health_ms) {
            health_round(sv);
            sv->next_health_ms = now_ms() + sv->health_interval_ms;
        }
        supervisor_acme_tick(sv);
    }
    supervisor_acme_stop(sv);
    supervisor_stop_all(sv);
    children_free(sv);
    return 0;
}
