/*
 * supervisor.c - `mcpgw up`: checks before anything starts (configuration, a supervisor already
 * running, taken ports, redis-server present), then the foreground run or the daemon.
 */
#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "control.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/role.h"
#include "ops_commands.h"
#include "supervisor_internal.h"

static int signal_write_fd = -1;

static void on_signal(int sig)
{
    int saved = errno;
    char c = sig == SIGCHLD ? 'C' : sig == SIGUSR1 ? 'U' : sig == SIGHUP ? 'H' : 'T';
    if (signal_write_fd >= 0)
        (void)!write(signal_write_fd, &c, 1);
    errno = saved;
}

static const char usage[] =
    "Usage: mcpgw up [-d] [--env-file FILE]\n\n"
    "Start the whole stack (the guide's `docker compose up`): redis (a local redis-server with AOF\n"
    "in DATA_DIR/redis, unless REDIS_URL points elsewhere or a Redis already answers there), auth,\n"
    "router, and every enabled MCP service (MCP_ECHO_ENABLED, MCP_FETCH_ENABLED, MCP_<NAME>_COMMAND\n"
    "through stdio-proxy). Each is health-checked every HEALTH_CHECK_INTERVAL seconds and restarted\n"
    "with exponential backoff when it exits, or when it fails HEALTH_CHECK_RETRIES checks in a row.\n"
    "With ACME certificates (HTTPS_PORT on, no TLS_CERT_FILE/TLS_CERT_DIR) it runs `mcpgw renew-certs`\n"
    "once the router is up and then daily (docs/certificates.md).\n\n"
    "  -d, --detach      run in the background (pid file and control socket in RUN_DIR,\n"
    "                    default DATA_DIR/run); waits until the services are healthy\n"
    "  --env-file FILE   configuration file instead of ./.env\n\n"
    "Foreground: Ctrl-C or SIGTERM stops every service in reverse start order. SIGUSR1 reopens the\n"
    "log files (the supervisor's, redis.log, and each service's: after rotation); SIGHUP is passed on\n"
    "to the router (certificate reload).\n"
    "Exit codes: 0 clean stop, 78 configuration errors (all listed), 1 a port in use or another\n"
    "start-up failure. Then: mcpgw ps, health-check, logs, stats, restart, down.\n";

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

/* EADDRINUSE for addr:port right now? (SO_REUSEADDR, like the services themselves.) */
static bool port_taken(const char *addr, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
        sin.sin_addr.s_addr = htonl(INADDR_ANY);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool taken = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 && errno == EADDRINUSE;
    close(fd);
    return taken;
}

/* Every taken port of every service that we start, one line each, in the guide's words. */
static bool check_ports(const struct service_table *t)
{
    bool ok = true;
    for (size_t i = 0; i < t->count; i++) {
        const struct service_spec *s = &t->items[i];
        if (!s->managed)
            continue;
        for (size_t j = 0; j < s->nports; j++) {
            const char *addr = s->bind_host;
            if (port_taken(addr, s->ports[j])) {
                fprintf(stderr, "ERROR: bind: address already in use (%s:%d, %s of %s)\n", addr, s->ports[j],
                        s->port_vars[j], s->name);
                ok = false;
            }
        }
    }
    if (!ok)
        fprintf(stderr, "Solution: change the port in .env or stop the program that holds it (ss -ltnp)\n");
    return ok;
}

static bool have_redis_server(void)
{
    const char *path = getenv("PATH");
    char dir[4096];
    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        size_t len = strcspn(p, ":");
        snprintf(dir, sizeof(dir), "%.*s/redis-server", (int)len, p);
        if (access(dir, X_OK) == 0)
            return true;
        p += len;
        if (*p == ':')
            p++;
    }
    return false;
}

/* A supervisor that answers on the socket already? Its pid in *pid. */
static bool already_running(const char *socket_path, long long *pid)
{
    json_t *req = json_pack("{s:s}", "cmd", "status"), *reply = NULL;
    bool up = control_call(socket_path, req, 3000, &reply) == GW_OK;
    if (up)
        *pid = json_integer_value(json_object_get(reply, "pid"));
    json_decref(req);
    json_decref(reply);
    return up;
}

/* fork twice, new session; the parent returns the daemon's pid through a pipe and keeps
 * running as the foreground waiter (returns > 0); the daemon returns 0. */
static pid_t daemonise(const char *log_dir)
{
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) != 0)
        return -1;
    pid_t first = fork();
    if (first < 0)
        return -1;
    if (first > 0) {
        close(ready[1]);
        pid_t daemon_pid = 0;
        ssize_t n = read(ready[0], &daemon_pid, sizeof(daemon_pid));
        close(ready[0]);
        waitpid(first, NULL, 0);
        return n == (ssize_t)sizeof(daemon_pid) ? daemon_pid : -1;
    }
    close(ready[0]);
    setsid();
    pid_t second = fork();
    if (second != 0)
        _exit(second < 0 ? 1 : 0);
    pid_t me = getpid();
    (void)!write(ready[1], &me, sizeof(me));
    close(ready[1]);
    int devnull = open("/dev/null", O_RDWR);
    dup2(devnull, 0);
    dup2(devnull, 1);
    if (!supervisor_reopen_stderr(log_dir))
        dup2(devnull, 2);
    return 0;
}

bool supervisor_reopen_stderr(const char *log_dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", log_dir, SUPERVISOR_STDERR_FILE);
    int out = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (out < 0)
        return false;
    dup2(out, STDERR_FILENO);
    close(out);
    return true;
}

int up_main(int argc, char **argv)
{
    bool detach = false;
    const char *env_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "-d") == 0 || strcmp(argv[i], "--detach") == 0) {
            detach = true;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct buf errors;
    buf_init(&errors, 1024 * 1024);
    if (config_validate(cfg, &errors) != GW_OK) {
        fputs(buf_cstr(&errors), stderr);
        buf_free(&errors);
        config_free(cfg);
        return CONFIG_EXIT_CODE;
    }
    struct supervisor sv;
    memset(&sv, 0, sizeof(sv));
    sv.cfg = cfg;
    sv.env_file = env_file;
    sv.foreground = !detach;
    sv.listen_fd = -1;
    sv.run_dir = service_run_dir(cfg);
    sv.log_dir = gw_strdup(config_get(cfg, "LOG_DIR", "./logs"));
    sv.health_interval_ms = (int)config_get_int(cfg, "HEALTH_CHECK_INTERVAL", 5) * 1000;
    sv.health_retries = (int)config_get_int(cfg, "HEALTH_CHECK_RETRIES", 3);
    sv.shutdown_timeout_ms = (int)config_get_int(cfg, "SHUTDOWN_TIMEOUT", 10) * 1000;
    int rc = 1;
    make_dirs(config_get(cfg, "DATA_DIR", "./data"));
    make_dirs(sv.run_dir);
    if (*sv.log_dir)
        make_dirs(sv.log_dir);
    if (!control_socket_path(sv.run_dir, sv.socket_path, sizeof(sv.socket_path))) {
        fprintf(stderr,
                "ERROR: RUN_DIR path too long for a Unix socket: %s (set RUN_DIR to a shorter path)\n",
                sv.run_dir);
        goto out;
    }
    long long other = 0;
    if (already_running(sv.socket_path, &other)) {
        fprintf(stderr,
                "ERROR: mcpgw up is already running (pid %lld); use mcpgw ps, mcpgw restart or mcpgw down\n",
                other);
        goto out;
    }
    if (service_table_build(cfg, env_file, true, &sv.table, &errors) != GW_OK) {
        fputs(buf_cstr(&errors), stderr);
        rc = CONFIG_EXIT_CODE;
        goto out;
    }
    if (sv.table.notes.len)
        fprintf(stderr, "%s", buf_cstr(&sv.table.notes));
    if (!check_ports(&sv.table))
        goto out;
    struct service_spec *redis = service_table_find(&sv.table, "redis");
    if (redis && redis->managed && !have_redis_server()) {
        fprintf(stderr, "ERROR: redis-server not found (apt-get install redis-server), or point REDIS_URL at "
                        "a running Redis\n");
        goto out;
    }

    if (detach) {
        pid_t daemon_pid = daemonise(*sv.log_dir ? sv.log_dir : ".");
        if (daemon_pid < 0) {
            fprintf(stderr, "ERROR: cannot start the supervisor in the background: %s\n", strerror(errno));
            goto out;
        }
        if (daemon_pid > 0) {
            /* The waiter: until the services answer, then the ps table. */
            service_table_free(&sv.table);
            printf("mcpgw: supervisor started in the background (pid %d)\n", (int)daemon_pid);
            fflush(stdout);
            rc = ops_wait_healthy(sv.socket_path, daemon_pid, 60);
            goto out;
        }
    }

    enum log_level level = LOG_INFO;
    log_level_parse(config_get(cfg, "LOG_LEVEL", "INFO"), &level);
    log_init("supervisor", *sv.log_dir ? sv.log_dir : NULL, level);
    /* Detached, stderr is supervisor.out: leave it what supervisor.log lacks (crash and
     * sanitizer reports, errors before logging starts), not a second copy of every line. */
    if (!sv.foreground)
        log_set_stderr(false);
    char pid_path[4200];
    snprintf(pid_path, sizeof(pid_path), "%s/%s", sv.run_dir, CONTROL_PID_NAME);
    FILE *pf = fopen(pid_path, "w");
    if (pf) {
        fprintf(pf, "%d\n", (int)getpid());
        fclose(pf);
    }
    sv.listen_fd = control_listen(sv.socket_path);
    if (sv.listen_fd < 0 || pipe2(sv.signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        fprintf(stderr, "ERROR: cannot listen on %s: %s\n", sv.socket_path, strerror(errno));
        unlink(pid_path);
        log_shutdown();
        goto out;
    }
    signal_write_fd = sv.signal_pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* log rotation: reopen ours, passed on to the services */
    sigaction(SIGHUP, &sa, NULL);  /* passed on to the router (certificate reload) */
    signal(SIGPIPE, SIG_IGN);

    log_write(LOG_INFO, "Supervisor starting",
              (struct log_field[]){log_int("pid", getpid()), log_int("services", (long long)sv.table.count),
                                   log_str("socket", sv.socket_path)},
              3);
    if (sv.foreground)
        printf("mcpgw: starting %zu services (control socket %s)\n", sv.table.count, sv.socket_path);
    fflush(stdout);
    supervisor_children_init(&sv);
    supervisor_start_all(&sv);
    rc = supervisor_run(&sv);
    close(sv.listen_fd);
    unlink(sv.socket_path);
    unlink(pid_path);
    signal_write_fd = -1;
    close(sv.signal_pipe[0]);
    close(sv.signal_pipe[1]);
    log_write(LOG_INFO, "Supervisor stopped", NULL, 0);
    if (sv.foreground)
        printf("mcpgw: all services stopped\n");
    log_shutdown();
    service_table_free(&sv.table);
out:
    service_table_free(&sv.table); /* safe on an empty or already freed table */
    buf_free(&errors);
    free(sv.run_dir);
    free(sv.log_dir);
    config_free(sv.cfg);
    return rc;
}
