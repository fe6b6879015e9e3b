/*
 * metrics_process.c - the standard process_* metrics, read from /proc at each scrape, with
 * the names, help texts and types of the Prometheus client libraries so that dashboards
 * built for them work unchanged. A value that cannot be read is left out (its HELP/TYPE
 * stay), never reported as 0.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics_internal.h"

struct process_stat {
    double cpu_seconds;
    double virtual_bytes;
    double resident_bytes;
    unsigned long long start_ticks; /* clock ticks after boot */
};

/* /proc/self/stat: the command name (field 2) may contain spaces and ')', so the fields
 * are counted from the last ')'. */
static bool read_process_stat(struct process_stat *st)
{
    FILE *f = fopen("/proc/self/stat", "re");
    if (!f)
        return false;
    char line[1024];
    bool ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!ok)
        return false;
    char *p = strrchr(line, ')');
    if (!p)
        return false;
    unsigned long utime, stime, vsize;
    unsigned long long starttime;
    long rss;
    /* fields 3..24: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss */
    int n = sscanf(
        p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d %*d %llu %lu %ld",
        &utime, &stime, &starttime, &vsize, &rss);
    if (n != 5)
        return false;
    long ticks = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    if (ticks <= 0 || page <= 0)
        return false;
    st->cpu_seconds = (double)(utime + stime) / (double)ticks;
    st->virtual_bytes = (double)vsize;
    st->resident_bytes = (double)rss * (double)page;
    st->start_ticks = starttime;
    return true;
}

/* Boot time (seconds since the epoch) from the btime line of /proc/stat. */
static bool read_boot_time(unsigned long long *btime)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f))
        found = sscanf(line, "btime %llu", btime) == 1;
    fclose(f);
    return found;
}

/* The start time never changes: computed once. */
static double start_time_seconds = -1;
static pthread_once_t start_time_once = PTHREAD_ONCE_INIT;

static void compute_start_time(void)
{
    struct process_stat st;
    unsigned long long btime;
    long ticks = sysconf(_SC_CLK_TCK);
    if (read_process_stat(&st) && read_boot_time(&btime) && ticks > 0)
        start_time_seconds = (double)btime + (double)st.start_ticks / (double)ticks;
}

static bool count_open_fds(double *out)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return false;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    *out = (double)(n - 1); /* less the descriptor opendir itself held */
    return true;
}

static enum gw_err render_one(struct buf *out, const char *name, const char *help, const char *type,
                              bool have, double value)
{
    enum gw_err err = metrics_render_header(out, name, help, type);
    if (!err && have) {
        char number[32];
        metrics_format_number(number, value);
        err = buf_printf(out, "%s %s\n", name, number);
    }
    return err;
}

enum gw_err metrics_render_process(struct buf *out)
{
    struct process_stat st;
    bool have_stat = read_process_stat(&st);
    double open_fds = 0, max_fds = 0;
    bool have_fds = count_open_fds(&open_fds);
    struct rlimit rl;
    bool have_max = getrlimit(RLIMIT_NOFILE, &rl) == 0;
    if (have_max)
        max_fds = rl.rlim_cur == RLIM_INFINITY ? 1.0 / 0.0 : (double)rl.rlim_cur;
    pthread_once(&start_time_once, compute_start_time);

    enum gw_err err =
        render_one(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                   "counter", have_stat, have_stat ? st.cpu_seconds : 0);
    if (!err)
        err = render_one(out, "process_open_fds", "Number of open file descriptors.", "gauge", have_fds,
                         open_fds);
    if (!err)
        err = render_one(out, "process_max_fds", "Maximum number of open file descriptors.", "gauge",
                         have_max, max_fds);
    if (!err)
        err = render_one(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge",
                         have_stat, have_stat ? st.virtual_bytes : 0);
    if (!err)
        err = render_one(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
                         have_stat, have_stat ? st.resident_bytes : 0);
    if (!err)
        err = render_one(out, "process_start_time_seconds",
                         "Start time of the process since unix epoch in seconds.", "gauge",
                         start_time_seconds >= 0, start_time_seconds);
    return err;
}
