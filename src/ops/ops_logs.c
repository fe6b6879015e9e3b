/*
 * ops_logs.c - `mcpgw logs` (JSON lines from LOG_DIR, merged by timestamp, -f, --tail N) and
 * `mcpgw stats` (CPU, memory, disk I/O and open fds per service from /proc).
 */
#include "ops_commands.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "control.h"
#include "core/alloc.h"
#include "service_table.h"

/* ---- logs ---- */

struct log_source {
    char name[SERVICE_NAME_MAX];
    char path[4200];
    FILE *f;
    char *line; /* current line (merge), owned */
    size_t cap;
    char ts[40];  /* its timestamp, or the file's last one */
    off_t offset; /* -f: bytes already shown */
    ino_t inode;
};

struct tail_line {
    char *text;
    char ts[40];
    size_t source, seq;
};

static void line_timestamp(const char *line, char *ts, size_t tssz)
{
    const char *p = strstr(line, "\"timestamp\":\"");
    if (!p)
        return; /* keeps the previous line's: a non-JSON line stays with its neighbours */
    p += 13;
    size_t n = strcspn(p, "\"");
    if (n >= tssz)
        n = tssz - 1;
    memcpy(ts, p, n);
    ts[n] = '\0';
}

/* LOG_DIR/<svc>.log for one service, or every *.log in LOG_DIR. */
static int collect_sources(const char *log_dir, const char *service, struct log_source **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (service) {
        struct log_source *s = gw_calloc(1, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%s", service);
        snprintf(s->path, sizeof(s->path), "%s/%s.log", log_dir, service);
        *out = s;
        *count = 1;
        return 0;
    }
    DIR *d = opendir(log_dir);
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".log") != 0 || len - 4 >= SERVICE_NAME_MAX)
            continue;
        *out = gw_realloc(*out, (*count + 1) * sizeof(**out));
        struct log_source *s = &(*out)[(*count)++];
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%.*s", (int)(len - 4), e->d_name);
        snprintf(s->path, sizeof(s->path), "%s/%s", log_dir, e->d_name);
    }
    closedir(d);
    return 0;
}

static bool next_line(struct log_source *s)
{
    ssize_t n = s->f ? getline(&s->line, &s->cap, s->f) : -1;
    if (n <= 0) {
        if (s->f) {
            s->offset = ftello(s->f);
            fclose(s->f);
            s->f = NULL;
        }
        return false;
    }
    if (s->line[n - 1] != '\n') {
        /* a line still being written: leave it for -f */
        s->offset = ftello(s->f) - n;
        fclose(s->f);
        s->f = NULL;
        return false;
    }
    line_timestamp(s->line, s->ts, sizeof(s->ts));
    return true;
}

static int compare_tail(const void *a, const void *b)
{
    const struct tail_line *x = a, *y = b;
    int c = strcmp(x->ts, y->ts);
    if (c)
        return c;
    if (x->source != y->source)
        return x->source < y->source ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The last n lines of each file, merged, the last n of those. */
static void print_tail(struct log_source *src, size_t count, long long n)
{
    struct tail_line *all = NULL;
    size_t total = 0;
    for (size_t i = 0; i < count; i++) {
        struct tail_line *ring = gw_calloc((size_t)n, sizeof(*ring));
        size_t seen = 0;
        while (next_line(&src[i])) {
            struct tail_line *slot = &ring[seen % (size_t)n];
            free(slot->text);
            slot->text = gw_strdup(src[i].line);
            snprintf(slot->ts, sizeof(slot->ts), "%s", src[i].ts);
            slot->source = i;
            slot->seq = seen++;
        }
        size_t keep = seen < (size_t)n ? seen : (size_t)n;
        all = gw_realloc(all, (total + keep + 1) * sizeof(*all));
        for (size_t k = 0; k < keep; k++)
            all[total++] = ring[(seen - keep + k) % (size_t)n];
        free(ring);
    }
    if (total)
        qsort(all, total, sizeof(*all), compare_tail);
    size_t start = total > (size_t)n ? total - (size_t)n : 0;
    for (size_t k = 0; k < total; k++) {
        if (k >= start)
            fputs(all[k].text, stdout);
        free(all[k].text);
    }
    free(all);
}

/* Every line of every file, merged by timestamp (each file is already in order). */
static void print_merged(struct log_source *src, size_t count)
{
    bool *has = gw_calloc(count + 1, sizeof(bool));
    for (size_t i = 0; i < count; i++)
        has[i] = next_line(&src[i]);
    for (;;) {
        size_t best = count;
        for (size_t i = 0; i < count; i++)
            if (has[i] && (best == count || strcmp(src[i].ts, src[best].ts) < 0))
                best = i;
        if (best == count)
            break;
        if (fputs(src[best].line, stdout) == EOF)
            break; /* a closed pipe (| head) */
        has[best] = next_line(&src[best]);
    }
    free(has);
}

/* -f: print what each file gains; a file that shrank or was replaced (rotation) restarts at 0. */
static void follow(struct log_source **srcp, size_t *countp, const char *log_dir, bool all_services)
{
    signal(SIGPIPE, SIG_DFL);
    for (;;) {
        if (all_services) {
            /* a service that starts later gets followed from its first line */
            struct log_source *now = NULL;
            size_t ncount = 0;
            collect_sources(log_dir, NULL, &now, &ncount);
            for (size_t i = 0; i < ncount; i++) {
                bool known = false;
                for (size_t j = 0; j < *countp; j++)
                    known = known || strcmp((*srcp)[j].path, now[i].path) == 0;
                if (!known) {
                    *srcp = gw_realloc(*srcp, (*countp + 1) * sizeof(**srcp));
                    (*srcp)[(*countp)++] = now[i];
                }
            }
            free(now);
        }
        struct log_source *src = *srcp;
        size_t count = *countp;
        bool any = false;
        for (size_t i = 0; i < count; i++) {
            struct log_source *s = &src[i];
            struct stat st;
            if (stat(s->path, &st) != 0)
                continue;
            if ((s->inode && st.st_ino != s->inode) || st.st_size < s->offset)
                s->offset = 0;
            s->inode = st.st_ino;
            if (st.st_size == s->offset)
                continue;
            s->f = fopen(s->path, "r");
            if (!s->f)
                continue;
            fseeko(s->f, s->offset, SEEK_SET);
            while (next_line(s)) {
                fputs(s->line, stdout);
                any = true;
            }
        }
        if (any)
            fflush(stdout);
        usleep(200 * 1000);
    }
}

int logs_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw logs [SERVICE] [-f] [--tail N] [--env-file FILE]\n\n"
        "Print the JSON log lines of SERVICE (auth, router or traefik, redis, mcp-echo, supervisor, ...)\n"
        "from LOG_DIR/SERVICE.log, or of every service merged by timestamp. One JSON object per line,\n"
        "for grep and jq:  mcpgw logs auth | jq 'select(.level==\"ERROR\")'\n\n"
        "  -f, --follow   keep printing new lines (Ctrl-C stops)\n"
        "  --tail N       only the last N lines (with -f: then follow)\n";
    const char *env_file = NULL, *service = NULL;
    bool follow_mode = false;
    long long tail = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0) {
            follow_mode = true;
        } else if ((strcmp(argv[i], "--tail") == 0 || strcmp(argv[i], "-n") == 0) && i + 1 < argc) {
            char *end;
            tail = strtoll(argv[++i], &end, 10);
            if (*end || tail < 0) {
                fprintf(stderr, "ERROR: --tail needs a number of lines, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (strncmp(argv[i], "--tail=", 7) == 0) {
            tail = strtoll(argv[i] + 7, NULL, 10);
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (argv[i][0] != '-' && !service) {
            service = argv[i];
        } else {
            fprintf(stderr, "ERROR: unknown option or extra argument %s\n%s", argv[i], usage);
            return 2;
        }
    }
    struct config *cfg = ops_load(env_file, NULL, 0, NULL);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    char log_dir[4096];
    snprintf(log_dir, sizeof(log_dir), "%s", config_get(cfg, "LOG_DIR", "./logs"));
    config_free(cfg);
    if (!*log_dir) {
        fprintf(stderr, "ERROR: LOG_DIR is empty: services log to stderr only\n");
        return 1;
    }
    char name[SERVICE_NAME_MAX];
    if (service) {
        /* traefik = router; "echo" finds mcp-echo.log */
        snprintf(name, sizeof(name), "%s", service_canonical_name(service));
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s.log", log_dir, name);
        if (access(path, R_OK) != 0) {
            char alt[SERVICE_NAME_MAX + 8];
            snprintf(alt, sizeof(alt), "mcp-%s", name);
            snprintf(path, sizeof(path), "%s/%s.log", log_dir, alt);
            if (access(path, R_OK) == 0) {
                snprintf(name, sizeof(name), "%.*s", (int)sizeof(name) - 1, alt);
            } else if (!follow_mode) {
                fprintf(stderr, "ERROR: no log file for '%s' in %s (services log to LOG_DIR/SERVICE.log)\n",
                        service, log_dir);
                return 1;
            }
        }
        service = name;
    }
    struct log_source *src;
    size_t count;
    if (collect_sources(log_dir, service, &src, &count) != 0) {
        fprintf(stderr, "ERROR: cannot read LOG_DIR %s: %s\n", log_dir, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_DFL);
    for (size_t i = 0; i < count; i++)
        src[i].f = fopen(src[i].path, "r");
    if (tail > 0)
        print_tail(src, count, tail);
    else if (tail < 0)
        print_merged(src, count);
    else
        for (size_t i = 0; i < count; i++)
            while (next_line(&src[i]))
                ;
    fflush(stdout);
    for (size_t i = 0; i < count; i++) {
        struct stat st;
        if (stat(src[i].path, &st) == 0) {
            src[i].offset = st.st_size;
            src[i].inode = st.st_ino;
        }
    }
    if (follow_mode)
        follow(&src, &count, log_dir, service == NULL);
    for (size_t i = 0; i < count; i++) {
        if (src[i].f)
            fclose(src[i].f);
        free(src[i].line);
    }
    free(src);
    return 0;
}

/* ---- stats ---- */

struct proc_sample {
    unsigned long long cpu_ticks, rss_kb, read_bytes, write_bytes;
    int fds;
    bool ok, io_ok;
};

static void sample(pid_t pid, struct proc_sample *s)
{
    memset(s, 0, sizeof(*s));
    char path[64], text[4096];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    /* fields after the command (which may hold spaces) start after the last ')' */
    char *p = strrchr(text, ')');
    if (!p)
        return;
    unsigned long long utime = 0, stime = 0;
    long rss_pages = 0;
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %*u %*u %ld",
               &utime, &stime, &rss_pages) != 3)
        return;
    s->cpu_ticks = utime + stime;
    s->rss_kb = (unsigned long long)rss_pages * (unsigned long long)(sysconf(_SC_PAGESIZE) / 1024);
    s->ok = true;
    snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
    f = fopen(path, "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, "read_bytes: %llu", &s->read_bytes) == 1 ||
                sscanf(line, "write_bytes: %llu", &s->write_bytes) == 1)
                s->io_ok = true;
        }
        fclose(f);
    }
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                s->fds++;
        closedir(d);
    } else {
        s->fds = -1;
    }
}

static void human_bytes(unsigned long long b, char *out, size_t outsz)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    snprintf(out, outsz, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

int stats_main(int argc, char **argv)
{
    static const char usage[] =
        "Usage: mcpgw stats [--json] [--env-file FILE]      (the guide's `docker stats`)\n\n"
        "CPU % (over one second), resident memory, disk bytes read and written since start, and open\n"
        "file descriptors of each running service, from /proc. Exit 1 when the supervisor is not running.\n";
    const char *env_file = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    char sock[256];
    struct config *cfg = ops_load(env_file, sock, sizeof(sock), NULL);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    config_free(cfg);
    json_t *req = json_pack("{s:s}", "cmd", "status"), *reply = NULL;
    enum gw_err err = control_call(sock, req, 30000, &reply);
    json_decref(req);
    if (err != GW_OK) {
        json_decref(reply);
        fprintf(stderr, "ERROR: the supervisor is not running (start it with: mcpgw up -d)\n");
        return 1;
    }
    json_t *services = json_object_get(reply, "services");
    size_t n = json_array_size(services);
    struct proc_sample *before = gw_calloc(n + 1, sizeof(*before)), *after = gw_calloc(n + 1, sizeof(*after));
    pid_t *pids = gw_calloc(n + 1, sizeof(pid_t));
    for (size_t i = 0; i < n; i++) {
        pids[i] = (pid_t)json_integer_value(json_object_get(json_array_get(services, i), "pid"));
        if (pids[i] > 0)
            sample(pids[i], &before[i]);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    usleep(1000 * 1000);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    long hz = sysconf(_SC_CLK_TCK);
    json_t *out = json_array();
    if (!json)
        printf("%-14s %-8s %7s %12s %12s %12s %6s\n", "SERVICE", "PID", "CPU %", "MEM (RSS)", "DISK READ",
               "DISK WRITE", "FDS");
    int missing = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = json_string_value(json_object_get(json_array_get(services, i), "name"));
        if (pids[i] > 0)
            sample(pids[i], &after[i]);
        if (!after[i].ok || !before[i].ok) {
            const char *state = json_string_value(json_object_get(json_array_get(services, i), "state"));
            if (!state || strcmp(state, "external") != 0)
                missing++;
            if (json)
                json_array_append_new(out, json_pack("{s:s, s:n}", "service", name, "pid"));
            else
                printf("%-14s %-8s %7s %12s %12s %12s %6s\n", name, "-", "-", "-", "-", "-", "-");
            continue;
        }
        double cpu = elapsed > 0
                         ? 100.0 * (double)(after[i].cpu_ticks - before[i].cpu_ticks) / (double)hz / elapsed
                         : 0;
        if (json) {
            json_array_append_new(out, json_pack("{s:s, s:I, s:f, s:I, s:I, s:I, s:i}", "service", name,
                                                 "pid", (json_int_t)pids[i], "cpu_percent", cpu, "rss_bytes",
                                                 (json_int_t)(after[i].rss_kb * 1024), "disk_read_bytes",
                                                 (json_int_t)after[i].read_bytes, "disk_write_bytes",
                                                 (json_int_t)after[i].write_bytes, "open_fds", after[i].fds));
        } else {
            char rss[32], rd[32], wr[32];
            human_bytes(after[i].rss_kb * 1024, rss, sizeof(rss));
            human_bytes(after[i].read_bytes, rd, sizeof(rd));
            human_bytes(after[i].write_bytes, wr, sizeof(wr));
            printf("%-14s %-8d %6.1f%% %12s %12s %12s %6d\n", name, (int)pids[i], cpu, rss,
                   after[i].io_ok ? rd : "n/a", after[i].io_ok ? wr : "n/a", after[i].fds);
        }
    }
    if (json) {
        char *text = json_dumps(out, JSON_COMPACT);
        printf("%s\n", text);
        free(text);
    }
    json_decref(out);
    free(before);
    free(after);
    free(pids);
    json_decref(reply);
    return missing ? 1 : 0;
}
