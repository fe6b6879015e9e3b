/*
 * log_rotation.c - rotate-logs: LOG_DIR/<name>.log (and supervisor.out, the detached
 * supervisor's stderr) -> <name>.log.1 -> ... -> .N (N = --keep), the
 * older ones gzip-compressed (.log.2.gz ...), then the running processes reopen their files:
 * SIGUSR1 to the supervisor, which reopens its own, redis.log, and passes it on to every
 * service (docs/operations.md); without a supervisor, SIGUSR1 to each pid recorded in RUN_DIR
 * (not redis-server, whose log the supervisor writes).
 */
#include "maintenance_commands.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/role.h"
#include "ops_support.h"
#include "service_table.h"
#include "supervisor.h"

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Every service's <name>.log, and the detached supervisor's stderr (supervisor.out), which
 * the supervisor reopens on SIGUSR1 as well. */
static bool is_rotated_log(const char *name)
{
    size_t len = strlen(name);
    return (len > 4 && strcmp(name + len - 4, ".log") == 0) || strcmp(name, SUPERVISOR_STDERR_FILE) == 0;
}

/* "<dir>/<base>.<i>" or with ".gz". Caller frees. */
static char *rotated(const char *dir, const char *base, int i, bool gz)
{
    struct buf b;
    buf_init(&b, 8192);
    if (i == 0)
        buf_printf(&b, "%s/%s", dir, base);
    else
        buf_printf(&b, "%s/%s.%d%s", dir, base, i, gz ? ".gz" : "");
    return buf_take(&b);
}

/* Rotate one file; returns false (after a message) when something could not be renamed. */
static bool rotate_one(const char *dir, const char *base, int keep, int *compressed)
{
    bool ok = true;
    for (int g = 0; g < 2; g++) { /* drop what would become .keep+1 */
        char *p = rotated(dir, base, keep, g);
        unlink(p);
        free(p);
    }
    for (int i = keep - 1; i >= 1; i--)
        for (int g = 0; g < 2; g++) {
            char *from = rotated(dir, base, i, g), *to = rotated(dir, base, i + 1, g);
            if (exists(from) && rename(from, to) != 0) {
                fprintf(stderr, "ERROR: rename %s: %s\n", from, strerror(errno));
                ok = false;
            }
            free(from);
            free(to);
        }
    char *cur = rotated(dir, base, 0, false), *first = rotated(dir, base, 1, false);
    if (keep >= 1 && rename(cur, first) != 0) {
        fprintf(stderr, "ERROR: rename %s: %s\n", cur, strerror(errno));
        ok = false;
    } else if (keep < 1) {
        unlink(cur);
    }
    free(cur);
    free(first);
    /* .1 stays plain: a process may write its last lines there until it reopens. */
    for (int i = 2; i <= keep; i++) {
        char *plain = rotated(dir, base, i, false), *gz = rotated(dir, base, i, true);
        if (exists(plain)) {
            unlink(gz);
            char *argv[] = {"gzip", "-f", "-q", plain, NULL};
            if (ops_run(argv, -1, -1) == 0)
                (*compressed)++;
            else
                fprintf(stderr, "warning: gzip %s failed; left uncompressed\n", plain);
        }
        free(plain);
        free(gz);
    }
    return ok;
}

static pid_t read_pid(const char *run_dir, const char *name)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_printf(&b, "%s/%s", run_dir, name);
    FILE *f = fopen(buf_cstr(&b), "r");
    buf_free(&b);
    long pid = 0;
    if (f) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    return pid > 1 && kill((pid_t)pid, 0) == 0 ? (pid_t)pid : 0;
}

static const char usage[] =
    "Usage: mcpgw rotate-logs [--keep N] [--env-file FILE]\n"
    "Rotate every LOG_DIR/<service>.log (and supervisor.out): .log -> .log.1 -> .log.2.gz ...\n"
    "keeping N old files\n"
    "(default 7; older ones are compressed with gzip), then have the running processes reopen\n"
    "their logs (SIGUSR1 to the supervisor, or to each service recorded in RUN_DIR).\n"
    "Exit 1 when a file could not be rotated.\n";

int rotate_logs_main(int argc, char **argv)
{
    const char *env_file = NULL;
    int keep = 7;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
            char *end;
            long k = strtol(argv[++i], &end, 10);
            if (*end || k < 1 || k > 1000) {
                fprintf(stderr, "ERROR: --keep needs a number from 1 to 1000\n%s", usage);
                return 2;
            }
            keep = (int)k;
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    const char *log_dir = config_get(cfg, "LOG_DIR", "");
    if (!log_dir || !*log_dir) {
        fprintf(stderr, "ERROR: LOG_DIR is not set: the services log to stderr, nothing to rotate\n");
        config_free(cfg);
        return 1;
    }
    DIR *d = opendir(log_dir);
    if (!d) {
        fprintf(stderr, "ERROR: LOG_DIR %s: %s\n", log_dir, strerror(errno));
        config_free(cfg);
        return 1;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (is_rotated_log(e->d_name) && e->d_type != DT_DIR) {
            names = gw_realloc(names, (n + 1) * sizeof(char *));
            names[n++] = gw_strdup(e->d_name);
        }
    }
    closedir(d);
    bool ok = true;
    int compressed = 0;
    for (size_t i = 0; i < n; i++) {
        bool r = rotate_one(log_dir, names[i], keep, &compressed);
        printf("  %-24s %s\n", names[i], r ? "rotated" : "FAILED");
        ok &= r;
    }
    /* Reopen: the supervisor passes SIGUSR1 on; without one, each recorded service. */
    char *run_dir = service_run_dir(cfg);
    int signalled = 0;
    pid_t sup = read_pid(run_dir, "supervisor.pid");
    if (sup) {
        if (kill(sup, SIGUSR1) == 0)
            signalled++;
        printf("Asked the supervisor (pid %d) to reopen every log\n", (int)sup);
    } else {
        DIR *rd = opendir(run_dir);
        while (rd && (e = readdir(rd))) {
            size_t len = strlen(e->d_name);
            if (len <= 4 || strcmp(e->d_name + len - 4, ".pid") != 0 || strcmp(e->d_name, "redis.pid") == 0 ||
                strcmp(e->d_name, "supervisor.pid") == 0)
                continue;
            pid_t pid = read_pid(run_dir, e->d_name);
            if (pid && kill(pid, SIGUSR1) == 0) {
                signalled++;
                printf("Asked %.*s (pid %d) to reopen its log\n", (int)(len - 4), e->d_name, (int)pid);
            }
        }
        if (rd)
            closedir(rd);
        if (!signalled)
            printf("No running service found: the logs will be reopened when they start\n");
    }
    /* Reopening is asynchronous: wait (at most 5 s) until the services have made their fresh files,
     * so that whatever they log after this command returns lands in the new ones. A file of a
     * service that is not running stays absent until it starts. */
    size_t reopened = 0;
    for (int tries = 0; signalled && tries < 100; tries++) {
        reopened = 0;
        for (size_t i = 0; i < n; i++) {
            char *path = rotated(log_dir, names[i], 0, false);
            reopened += exists(path);
            free(path);
        }
        if (reopened == n)
            break;
        usleep(50 * 1000);
    }
    printf("%zu log files rotated (keeping %d), %d compressed, %d processes signalled, %zu reopened\n", n,
           keep, compressed, signalled, reopened);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(run_dir);
    config_free(cfg);
    return ok ? 0 : 1;
}
