/*
 * diagnostics.c - diagnostic-bundle and update-all.
 *
 * The bundle must never carry a secret or a token: every file in it goes through scrub(), which
 * replaces each configured secret value (every variable config_is_secret() names, and the
 * password inside REDIS_URL) and anything token-shaped (JWTs, and runs of 32+ base64url
 * characters: refresh tokens, codes, client secrets, hashes) before the archive is written.
 */
#include "maintenance_commands.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "control.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/redis_url.h"
#include "core/role.h"
#include "ops_commands.h"
#include "ops_support.h"
#include "service_table.h"
#include "zip_archive.h"

static char *join(const char *a, const char *b)
{
    struct buf p;
    buf_init(&p, 8192);
    buf_printf(&p, "%s/%s", a, b);
    return buf_take(&p);
}

/* ---- scrubbing ---- */

struct secrets {
    char **values;
    size_t count;
};

static void add_secret(struct secrets *s, const char *v)
{
    if (!v || strlen(v) < 4) /* shorter values would blot out ordinary text; none is a real secret */
        return;
    s->values = gw_realloc(s->values, (s->count + 1) * sizeof(char *));
    s->values[s->count++] = gw_strdup(v);
}

static void collect_secrets(const struct config *cfg, struct secrets *s)
{
    for (size_t i = 0; i < config_count(cfg); i++) {
        const char *name, *value;
        config_entry(cfg, i, &name, &value, NULL);
        if (name && value && config_is_secret(name))
            add_secret(s, value);
    }
    struct redis_endpoint ep;
    const char *why;
    if (redis_endpoint_parse(config_get(cfg, "REDIS_URL", ""), &ep, &why) == GW_OK) {
        add_secret(s, ep.password);
        add_secret(s, ep.sentinel_password);
        redis_endpoint_free(&ep);
    }
}

static bool scrub_file(const char *path, const struct secrets *s, long long *replaced)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    char *text = ops_scrub(buf_take(&b), (const char *const *)s->values, s->count, replaced);
    f = fopen(path, "wb");
    bool ok = f && fwrite(text, 1, strlen(text), f) == strlen(text);
    if (f)
        ok &= fclose(f) == 0;
    free(text);
    return ok;
}

/* ---- gathering ---- */

/* Run `mcpgw ARGS` (this binary) with stdout into dir/file. */
static void capture(const char *dir, const char *file, const char *env_file, const char *a1, const char *a2)
{
    char *path = join(dir, file);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return;
    char *argv[8];
    int n = 0;
    argv[n++] = (char *)service_self_exe();
    argv[n++] = (char *)a1;
    if (a2)
        argv[n++] = (char *)a2;
    if (env_file) {
        argv[n++] = "--env-file";
        argv[n++] = (char *)env_file;
    }
    argv[n] = NULL;
    int status = ops_run(argv, fd, fd);
    dprintf(fd, "\n# exit status %d\n", status);
    close(fd);
}

static size_t to_file(char *data, size_t size, size_t n, void *arg)
{
    return fwrite(data, size, n, arg) * size;
}

static void fetch_metrics(const struct service_table *t, const char *dir)
{
    char *path = join(dir, "metrics.txt");
    FILE *f = fopen(path, "w");
    free(path);
    if (!f)
        return;
    for (size_t i = 0; i < t->count; i++) {
        const struct service_spec *s = &t->items[i];
        if (s->kind != SERVICE_HTTP)
            continue;
        char url[256];
        snprintf(url, sizeof(url), "http://%s:%d/metrics", s->health_host, s->health_port);
        fprintf(f, "# ---- %s (%s) ----\n", s->name, url);
        fflush(f);
        CURL *c = curl_easy_init();
        if (!c)
            continue;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_file);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
        CURLcode rc = curl_easy_perform(c);
        if (rc != CURLE_OK)
            fprintf(f, "# unavailable: %s\n", curl_easy_strerror(rc));
        curl_easy_cleanup(c);
    }
    fclose(f);
}

/* The last `lines` lines of from into to. */
static void tail_file(const char *from, const char *to, long lines)
{
    FILE *in = fopen(from, "rb");
    if (!in)
        return;
    fseek(in, 0, SEEK_END);
    long size = ftell(in), pos = size, seen = 0;
    char c;
    while (pos > 0 && seen <= lines) {
        fseek(in, --pos, SEEK_SET);
        if (fread(&c, 1, 1, in) == 1 && c == '\n' && pos != size - 1)
            seen++;
    }
    if (seen > lines)
        pos++;
    fseek(in, pos, SEEK_SET);
    FILE *out = fopen(to, "wb");
    char chunk[65536];
    size_t n;
    while (out && (n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        fwrite(chunk, 1, n, out);
    if (out)
        fclose(out);
    fclose(in);
}

static void versions(const char *dir)
{
    char *path = join(dir, "versions.txt");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return;
    dprintf(fd, "mcpgw %s (%s)\n", MCPGW_VERSION, service_self_exe());
    char *redis[] = {"redis-server", "--version", NULL};
    ops_run(redis, fd, fd);
    char *uname[] = {"uname", "-srmv", NULL};
    ops_run(uname, fd, fd);
    dprintf(fd, "libcurl %s\n", curl_version());
    close(fd);
}

/* Every service's log, the supervisor's stdout copy, and the newest rotated generation (.log.1),
 * so a bundle taken right after rotate-logs still shows what happened before it. */
static bool is_bundled_log(const char *name)
{
    size_t len = strlen(name);
    return (len > 4 && strcmp(name + len - 4, ".log") == 0) ||
           (len > 6 && strcmp(name + len - 6, ".log.1") == 0) || strcmp(name, "supervisor.out") == 0;
}

static const char bundle_usage[] =
    "Usage: mcpgw diagnostic-bundle [--lines N] [--output DIR] [--env-file FILE]\n"
    "Write DATA_DIR/diagnostics/mcpgw-diagnostics-YYYYmmdd-HHMMSS.zip (or into --output DIR) for a\n"
    "bug report: show-config (secrets masked), health-check, ps and stats (--json), a /metrics\n"
    "snapshot of every service, versions, and the last N lines (default 1000) of every log in\n"
    "LOG_DIR and of its newest rotated copy (.log.1). Every file is scrubbed before archiving: configured "
    "secret values and anything that\n"
    "looks like a token become [REDACTED]. Exit 1 when the bundle cannot be written.\n";

int diagnostic_bundle_main(int argc, char **argv)
{
    const char *env_file = NULL, *output = NULL;
    long lines = 1000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(bundle_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) {
            output = argv[++i];
        } else if (strcmp(argv[i], "--lines") == 0 && i + 1 < argc) {
            char *end;
            lines = strtol(argv[++i], &end, 10);
            if (*end || lines < 1) {
                fprintf(stderr, "ERROR: --lines needs a positive number\n%s", bundle_usage);
                return 2;
            }
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], bundle_usage);
            return 2;
        }
    }
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    const char *data_dir = config_get(cfg, "DATA_DIR", "./data");
    umask(077);
    mkdir(data_dir, 0700);
    char *outdir = output ? gw_strdup(output) : join(data_dir, "diagnostics");
    mkdir(outdir, 0700);
    char *staging = join(outdir, ".staging-XXXXXX");
    int rc = 1;
    char *archive = NULL;
    struct secrets secrets = {0};
    if (!mkdtemp(staging)) {
        fprintf(stderr, "ERROR: cannot create a directory in %s: %s\n", outdir, strerror(errno));
        goto out;
    }
    capture(staging, "show-config.txt", env_file, "show-config", NULL);
    capture(staging, "health-check.txt", env_file, "health-check", NULL);
    capture(staging, "ps.json", env_file, "ps", "--json");
    capture(staging, "stats.json", env_file, "stats", "--json");
    versions(staging);
    struct service_table table = {0};
    struct buf errors;
    buf_init(&errors, 1 << 16);
    if (service_table_build(cfg, env_file, false, &table, &errors) == GW_OK) {
        fetch_metrics(&table, staging);
        service_table_free(&table);
    }
    buf_free(&errors);
    const char *log_dir = config_get(cfg, "LOG_DIR", "");
    size_t nlogs = 0;
    DIR *d = log_dir && *log_dir ? opendir(log_dir) : NULL;
    if (d) {
        char *logs = join(staging, "logs");
        mkdir(logs, 0700);
        struct dirent *e;
        while ((e = readdir(d))) {
            if (is_bundled_log(e->d_name)) {
                char *from = join(log_dir, e->d_name), *to = join(logs, e->d_name);
                tail_file(from, to, lines);
                nlogs++;
                free(from);
                free(to);
            }
        }
        closedir(d);
        free(logs);
    }
    /* Scrub every file, then check that nothing configured as secret is left anywhere. */
    collect_secrets(cfg, &secrets);
    long long replaced = 0;
    bool ok = true;
    const char *files[] = {"show-config.txt", "health-check.txt", "ps.json",
                           "stats.json",      "versions.txt",     "metrics.txt"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *p = join(staging, files[i]);
        if (access(p, F_OK) == 0)
            ok &= scrub_file(p, &secrets, &replaced);
        free(p);
    }
    char *logs = join(staging, "logs");
    d = opendir(logs);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *p = join(logs, e->d_name);
        ok &= scrub_file(p, &secrets, &replaced);
        free(p);
    }
    if (d)
        closedir(d);
    free(logs);
    if (!ok) {
        fprintf(stderr, "ERROR: could not scrub the bundle; nothing written\n");
        goto out;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    struct buf name;
    buf_init(&name, 8192);
    buf_printf(&name, "%s/mcpgw-diagnostics-%s.zip", outdir, stamp);
    for (int i = 2; access(buf_cstr(&name), F_OK) == 0 && i < 100; i++) {
        buf_reset(&name);
        buf_printf(&name, "%s/mcpgw-diagnostics-%s-%d.zip", outdir, stamp, i);
    }
    archive = buf_take(&name);
    struct buf zip_error;
    buf_init(&zip_error, 8192);
    if (zip_archive_write_tree(staging, archive, &zip_error) != GW_OK) {
        fprintf(stderr, "%s\n", buf_cstr(&zip_error));
        buf_free(&zip_error);
        goto out;
    }
    buf_free(&zip_error);
    printf("Diagnostic bundle written: %s\n  configuration, health, ps, stats, metrics, versions, %zu logs "
           "(last %ld lines); %lld secret or token-shaped strings redacted\n",
           archive, nlogs, lines, replaced);
    rc = 0;
out:
    if (staging) {
        char *rm[] = {"rm", "-rf", "--", staging, NULL};
        ops_run(rm, -1, -1);
    }
    for (size_t i = 0; i < secrets.count; i++) {
        crypto_wipe(secrets.values[i], strlen(secrets.values[i]));
        free(secrets.values[i]);
    }
    free(secrets.values);
    free(staging);
    free(outdir);
    free(archive);
    config_free(cfg);
    return rc;
}

/* ---- update-all ---- */

/* The source tree this binary was built from: the nearest ancestor of its directory with a
 * Makefile. Caller frees; NULL when there is none. */
static char *source_tree(void)
{
    char *dir = gw_strdup(service_self_exe());
    for (int depth = 0; depth < 4; depth++) {
        char *parent = gw_strdup(dirname(dir));
        free(dir);
        dir = parent;
        char *mk = join(dir, "Makefile");
        bool found = access(mk, R_OK) == 0;
        free(mk);
        if (found)
            return dir;
        if (strcmp(dir, "/") == 0)
            break;
    }
    free(dir);
    return NULL;
}

static json_t *status_of(const char *sock)
{
    json_t *req = json_pack("{s:s}", "cmd", "status"), *reply = NULL;
    enum gw_err err = control_call(sock, req, 30000, &reply);
    json_decref(req);
    return err == GW_OK ? reply : NULL;
}

static const char *str_member(const json_t *o, const char *name)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v ? v : "";
}

static bool wait_service_healthy(const char *sock, const char *name, int timeout_s)
{
    time_t deadline = time(NULL) + timeout_s;
    while (time(NULL) < deadline) {
        json_t *st = status_of(sock);
        size_t i;
        json_t *s;
        bool healthy = false;
        json_array_foreach(json_object_get(st, "services"), i, s)
        {
            if (strcmp(str_member(s, "name"), name) == 0)
                healthy = strcmp(str_member(s, "health"), "healthy") == 0 &&
                          strcmp(str_member(s, "state"), "running") == 0;
        }
        json_decref(st);
        if (healthy)
            return true;
        usleep(300 * 1000);
    }
    return false;
}

static const char update_usage[] =
    "Usage: mcpgw update-all [--no-build] [--timeout S] [--env-file FILE]\n"
    "Rebuild with `make all` in the source tree of this binary, then restart the running services one\n"
    "at a time through the supervisor (redis, auth, router, the MCP services), each only after the\n"
    "previous one is healthy again (up to --timeout seconds, default 60). Stops at the first service\n"
    "that does not come back healthy (exit 1; the rest keep running the old build). A failed build\n"
    "restarts nothing. --no-build skips the build.\n";

int update_all_main(int argc, char **argv)
{
    const char *env_file = NULL;
    bool build = true;
    long timeout_s = 60;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(update_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (strcmp(argv[i], "--no-build") == 0) {
            build = false;
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            timeout_s = strtol(argv[++i], NULL, 10);
            if (timeout_s < 1) {
                fprintf(stderr, "ERROR: --timeout needs a positive number of seconds\n");
                return 2;
            }
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], update_usage);
            return 2;
        }
    }
    char sock[256];
    struct config *cfg = ops_load(env_file, sock, sizeof(sock), NULL);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    config_free(cfg);
    json_t *st = status_of(sock);
    if (!st) {
        fprintf(stderr, "ERROR: the supervisor is not running (start the stack with `mcpgw up -d`)\n");
        return 1;
    }
    if (build) {
        char *tree = source_tree();
        if (!tree) {
            fprintf(stderr, "ERROR: no Makefile above %s: cannot rebuild (use --no-build)\n",
                    service_self_exe());
            json_decref(st);
            return 1;
        }
        printf("Building in %s ...\n", tree);
        char *make[] = {"make", "--no-print-directory", "-C", tree, "all", NULL};
        int r = ops_run(make, -1, -1);
        free(tree);
        if (r != 0) {
            fprintf(stderr, "ERROR: the build failed (make exit %d); nothing was restarted\n", r);
            json_decref(st);
            return 1;
        }
    }
    int rc = 0;
    size_t i, done = 0;
    json_t *s;
    json_array_foreach(json_object_get(st, "services"), i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        if (!name || !json_is_true(json_object_get(s, "managed")))
            continue;
        json_t *req = json_pack("{s:s, s:s}", "cmd", "restart", "service", name), *reply = NULL;
        enum gw_err err = control_call(sock, req, 60000, &reply);
        json_decref(req);
        bool ok = err == GW_OK && json_is_true(json_object_get(reply, "ok"));
        json_decref(reply);
        if (ok)
            ok = wait_service_healthy(sock, name, (int)timeout_s);
        printf("  %-20s %s\n", name, ok ? "restarted, healthy" : "NOT HEALTHY");
        if (!ok) {
            fprintf(stderr,
                    "ERROR: %s did not come back healthy within %ld s; update stopped there "
                    "(see `mcpgw logs %s`)\n",
                    name, timeout_s, name);
            rc = 1;
            break;
        }
        done++;
    }
    if (rc == 0)
        printf("%zu services updated one at a time, all healthy\n", done);
    json_decref(st);
    return rc;
}
