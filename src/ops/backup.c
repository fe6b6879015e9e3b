/*
 * backup.c - backup-all and restore.
 *
 * An archive DATA_DIR/backups/mcpgw-backup-YYYYmmdd-HHMMSS.tar.gz holds:
 *   manifest.json     what is inside, when, from which REDIS_KEY_PREFIX, with or without secrets
 *   redis-keys.jsonl  every key under the prefix: {"key","ttl_ms","dump"(base64 of DUMP)}, read in
 *                     one MULTI/EXEC so the set is consistent; what restore uses (RESTORE works
 *                     whatever the server's persistence, AOF included)
 *   redis.rdb         a full snapshot from `redis-cli --rdb` (for recovery by hand; when possible)
 *   env               the .env with secret values masked (clear only with --include-secrets)
 *   keys/             DATA_DIR/keys (signing keys), only with --include-secrets
 *   SHA256SUMS        sha256sum format, of every other file; restore refuses an archive that
 *                     does not match before it touches anything.
 */
#include "maintenance_commands.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "control.h"
#include "ops_commands.h"
#include "core/alloc.h"
#include "core/crypto.h"
#include "core/redis_url.h"
#include "core/role.h"
#include "ops_support.h"
#include "service_table.h"

#define BACKUP_FORMAT 1

static char *path_join(const char *a, const char *b)
{
    struct buf p;
    buf_init(&p, 8192);
    buf_printf(&p, "%s/%s", a, b);
    return buf_take(&p);
}

static bool sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    unsigned char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        EVP_DigestUpdate(ctx, chunk, n);
    bool ok = !ferror(f);
    fclose(f);
    unsigned char md[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, md, &len);
    EVP_MD_CTX_free(ctx);
    crypto_hex_encode(md, 32, hex);
    hex[64] = '\0';
    return ok;
}

static int rm_rf(const char *dir)
{
    char *argv[] = {"rm", "-rf", "--", (char *)dir, NULL};
    return ops_run(argv, -1, -1);
}

/* ---- backup-all ---- */

static bool dump_redis_keys(const struct config *cfg, redisContext *c, const char *path, long long *count)
{
    char *pattern = ops_key(cfg, "*", NULL);
    char **keys = NULL;
    size_t n = 0;
    char cursor[32] = "0";
    bool ok = true;
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            fprintf(stderr, "ERROR: Redis SCAN: %s\n", r && r->str ? r->str : c->errstr);
            freeReplyObject(r);
            ok = false;
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            keys = gw_realloc(keys, (n + 1) * sizeof(char *));
            keys[n++] = gw_strdup(r->element[1]->element[i]->str);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    free(pattern);
    FILE *out = ok ? fopen(path, "w") : NULL;
    if (ok && !out) {
        fprintf(stderr, "ERROR: %s: %s\n", path, strerror(errno));
        ok = false;
    }
    if (ok) {
        /* One transaction: every DUMP and PTTL see the same moment. */
        redisAppendCommand(c, "MULTI");
        for (size_t i = 0; i < n; i++) {
            redisAppendCommand(c, "DUMP %s", keys[i]);
            redisAppendCommand(c, "PTTL %s", keys[i]);
        }
        redisAppendCommand(c, "EXEC");
        redisReply *r = NULL;
        for (size_t i = 0; i < 2 * n + 1 && ok; i++) { /* MULTI's OK and the QUEUED answers */
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r || r->type == REDIS_REPLY_ERROR)
                ok = false;
            freeReplyObject(r);
        }
        r = NULL;
        if (!ok || redisGetReply(c, (void **)&r) != REDIS_OK || !r || r->type != REDIS_REPLY_ARRAY ||
            r->elements != 2 * n) {
            fprintf(stderr, "ERROR: Redis DUMP transaction failed: %s\n", c->err ? c->errstr : "bad reply");
            ok = false;
        } else {
            for (size_t i = 0; i < n; i++) {
                redisReply *d = r->element[2 * i], *t = r->element[2 * i + 1];
                if (d->type != REDIS_REPLY_STRING)
                    continue; /* expired between SCAN and EXEC */
                char *b64 = base64_encode_alloc(d->str, d->len);
                json_t *line =
                    json_pack("{s:s, s:I, s:s}", "key", keys[i], "ttl_ms",
                              (json_int_t)(t->type == REDIS_REPLY_INTEGER ? t->integer : -1), "dump", b64);
                char *s = json_dumps(line, JSON_COMPACT);
                fprintf(out, "%s\n", s);
                free(s);
                free(b64);
                json_decref(line);
                (*count)++;
            }
        }
        freeReplyObject(r);
    }
    if (out && fclose(out) != 0)
        ok = false;
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    return ok;
}

/* The .env as written, secret values masked unless include_secrets. */
static bool copy_env(const char *env_path, const char *dest, bool include_secrets)
{
    FILE *in = fopen(env_path, "r");
    if (!in)
        return false;
    FILE *out = fopen(dest, "w");
    if (!out) {
        fclose(in);
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!eq || *p == '#' || include_secrets) {
            fprintf(out, "%s\n", line);
            continue;
        }
        *eq = '\0';
        char name[256];
        snprintf(name, sizeof(name), "%s", p);
        if (strncmp(name, "export ", 7) == 0)
            memmove(name, name + 7, strlen(name + 7) + 1);
        name[strcspn(name, " \t")] = '\0';
        char *value = eq + 1;
        if (config_is_secret(name) || strstr(name, "URL")) {
            char *shown = config_display_value(name, value);
            fprintf(out, "%s=%s\n", line, shown);
            free(shown);
        } else {
            fprintf(out, "%s=%s\n", line, value);
        }
    }
    free(line);
    fclose(in);
    return fclose(out) == 0;
}

static bool copy_file(const char *from, const char *to, mode_t mode)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return false;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    bool ok = out >= 0;
    char chunk[65536];
    ssize_t n;
    while (ok && (n = read(in, chunk, sizeof(chunk))) > 0)
        ok = write(out, chunk, (size_t)n) == n;
    close(in);
    if (out >= 0 && close(out) != 0)
        ok = false;
    return ok;
}

/* Append "<sha256>  <rel>\n" for every regular file under dir/rel (recursively). */
static bool sum_tree(const char *root, const char *rel, FILE *sums, json_t *files)
{
    char *dir = *rel ? path_join(root, rel) : gw_strdup(root);
    DIR *d = opendir(dir);
    bool ok = d != NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "SHA256SUMS") == 0)
            continue;
        char *r = *rel ? path_join(rel, e->d_name) : gw_strdup(e->d_name);
        char *full = path_join(root, r);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            ok &= sum_tree(root, r, sums, files);
        } else if (lstat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            char hex[65];
            ok &= sha256_file(full, hex);
            fprintf(sums, "%s  %s\n", hex, r);
            if (files)
                json_array_append_new(files, json_string(r));
        }
        free(r);
        free(full);
    }
    if (d)
        closedir(d);
    free(dir);
    return ok;
}

static const char backup_usage[] =
    "Usage: mcpgw backup-all [--include-secrets] [--output DIR] [--env-file FILE]\n"
    "Write DATA_DIR/backups/mcpgw-backup-YYYYmmdd-HHMMSS.tar.gz (or into --output DIR) with a\n"
    "consistent snapshot of the gateway's Redis keys (one MULTI/EXEC of DUMP+PTTL, plus a full\n"
    "`redis-cli --rdb` snapshot), the .env with secrets masked, a manifest and SHA-256 sums.\n"
    "--include-secrets: the .env in clear and DATA_DIR/keys (the signing keys) too; keep that\n"
    "archive as safe as the keys. Restore with `mcpgw restore FILE`.\n";

int backup_all_main(int argc, char **argv)
{
    const char *env_file = NULL, *output = NULL;
    bool include_secrets = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(backup_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (strcmp(argv[i], "--output") == 0 && i + 1 < argc) {
            output = argv[++i];
        } else if (strcmp(argv[i], "--include-secrets") == 0) {
            include_secrets = true;
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], backup_usage);
            return 2;
        }
    }
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    const char *data_dir = config_get(cfg, "DATA_DIR", "./data");
    char *backups = output ? gw_strdup(output) : path_join(data_dir, "backups");
    umask(077); /* everything written from here on is the operator's alone */
    mkdir(data_dir, 0700);
    if (mkdir(backups, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "ERROR: cannot create %s: %s\n", backups, strerror(errno));
        free(backups);
        config_free(cfg);
        return 1;
    }
    int rc = 1;
    char *staging = path_join(backups, ".staging-XXXXXX");
    if (!mkdtemp(staging)) {
        fprintf(stderr, "ERROR: cannot create a staging directory in %s: %s\n", backups, strerror(errno));
        free(staging);
        free(backups);
        config_free(cfg);
        return 1;
    }
    char *archive = NULL;
    redisContext *c = ops_redis_connect(cfg);
    if (!c)
        goto out;
    long long nkeys = 0;
    char *keys_path = path_join(staging, "redis-keys.jsonl");
    bool ok = dump_redis_keys(cfg, c, keys_path, &nkeys);
    free(keys_path);
    redisFree(c);
    if (!ok)
        goto out;
    /* The full snapshot, best effort (a managed Redis may refuse SYNC). */
    struct redis_endpoint ep;
    const char *why = NULL;
    bool have_rdb = false;
    char host[256];
    int port_number = 0;
    bool have_endpoint =
        redis_endpoint_parse(config_get(cfg, "REDIS_URL", "redis://127.0.0.1:6379/0"), &ep, &why) == GW_OK;
    if (have_endpoint && !ep.unix_path && !ops_redis_address(&ep, host, sizeof(host), &port_number)) {
        redis_endpoint_free(&ep);
        have_endpoint = false;
    }
    if (have_endpoint) {
        const char *password = ep.password ? ep.password : config_get(cfg, "REDIS_PASSWORD", NULL);
        if (password && *password)
            setenv("REDISCLI_AUTH", password, 1);
        char port[16];
        snprintf(port, sizeof(port), "%d", port_number);
        char *rdb = path_join(staging, "redis.rdb");
        char *args[] = {"redis-cli",
                        ep.unix_path ? "-s" : "-h",
                        ep.unix_path ? ep.unix_path : host,
                        "-p",
                        port,
                        "--rdb",
                        rdb,
                        NULL};
        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        have_rdb = ops_run(args, devnull, devnull) == 0;
        if (devnull >= 0)
            close(devnull);
        if (!have_rdb)
            unlink(rdb);
        free(rdb);
        unsetenv("REDISCLI_AUTH");
        redis_endpoint_free(&ep);
    }
    const char *env_path = env_file ? env_file : ".env";
    char *env_dest = path_join(staging, "env");
    bool have_env = copy_env(env_path, env_dest, include_secrets);
    free(env_dest);
    size_t nkeyfiles = 0;
    if (include_secrets) {
        char *kdir = path_join(data_dir, "keys"), *kdest = path_join(staging, "keys");
        DIR *d = opendir(kdir);
        struct dirent *e;
        if (d)
            mkdir(kdest, 0700);
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char *from = path_join(kdir, e->d_name), *to = path_join(kdest, e->d_name);
            struct stat st;
            if (stat(from, &st) == 0 && S_ISREG(st.st_mode) && copy_file(from, to, 0600))
                nkeyfiles++;
            free(from);
            free(to);
        }
        if (d)
            closedir(d);
        free(kdir);
        free(kdest);
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32], iso[32];
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *manifest = json_pack(
        "{s:i, s:s, s:s, s:I, s:s, s:b, s:I, s:b, s:b, s:I}", "format", BACKUP_FORMAT, "mcpgw_version",
        MCPGW_VERSION, "created_at", iso, "created_at_unix", (json_int_t)now, "redis_key_prefix",
        config_get(cfg, "REDIS_KEY_PREFIX", "oauth:"), "include_secrets", include_secrets, "redis_keys",
        (json_int_t)nkeys, "redis_rdb", have_rdb, "env", have_env, "key_files", (json_int_t)nkeyfiles);
    char *mpath = path_join(staging, "manifest.json");
    ok = json_dump_file(manifest, mpath, JSON_INDENT(2)) == 0;
    free(mpath);
    json_decref(manifest);
    char *sums_path = path_join(staging, "SHA256SUMS");
    FILE *sums = fopen(sums_path, "w");
    ok = ok && sums && sum_tree(staging, "", sums, NULL);
    if (sums)
        ok &= fclose(sums) == 0;
    free(sums_path);
    if (!ok) {
        fprintf(stderr, "ERROR: could not write the backup's manifest or sums\n");
        goto out;
    }
    struct buf name;
    buf_init(&name, 8192);
    buf_printf(&name, "%s/mcpgw-backup-%s.tar.gz", backups, stamp);
    for (int i = 2; access(buf_cstr(&name), F_OK) == 0 && i < 100; i++) { /* two in one second */
        buf_reset(&name);
        buf_printf(&name, "%s/mcpgw-backup-%s-%d.tar.gz", backups, stamp, i);
    }
    archive = buf_take(&name);
    char *tmp_archive = path_join(backups, ".partial.tar.gz");
    char *tar[] = {"tar", "-czf", tmp_archive, "-C", staging, ".", NULL};
    if (ops_run(tar, -1, -1) != 0 || rename(tmp_archive, archive) != 0) {
        fprintf(stderr, "ERROR: tar failed writing %s\n", archive);
        unlink(tmp_archive);
        free(tmp_archive);
        goto out;
    }
    free(tmp_archive);
    printf("Backup written: %s\n  %lld Redis keys%s, configuration %s, %zu key files%s\n", archive, nkeys,
           have_rdb ? " (+ full RDB snapshot)" : "",
           have_env ? (include_secrets ? "with secrets" : "with secrets masked") : "(no .env found)",
           nkeyfiles, include_secrets ? "" : " (signing keys only with --include-secrets)");
    rc = 0;
out:
    rm_rf(staging);
    free(staging);
    free(archive);
    free(backups);
    config_free(cfg);
    return rc;
}

/* ---- restore ---- */

struct restore_key {
    char *key;
    long long ttl_ms;
    unsigned char *dump;
    size_t dump_len;
};

/* Check SHA256SUMS against the extracted tree: every listed file matches, nothing unlisted. */
static bool verify_sums(const char *staging, struct buf *why)
{
    char *sums_path = path_join(staging, "SHA256SUMS");
    FILE *f = fopen(sums_path, "r");
    free(sums_path);
    if (!f) {
        buf_append_str(why, "no SHA256SUMS in the archive");
        return false;
    }
    char line[8192];
    size_t listed = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strlen(line) < 67 || line[64] != ' ' || line[65] != ' ') {
            buf_append_str(why, "SHA256SUMS is malformed");
            ok = false;
            break;
        }
        const char *rel = line + 66;
        if (rel[0] == '/' || strstr(rel, "..")) {
            buf_printf(why, "unsafe path %s in SHA256SUMS", rel);
            ok = false;
            break;
        }
        char *full = path_join(staging, rel);
        char hex[65];
        struct stat st;
        if (lstat(full, &st) != 0 || !S_ISREG(st.st_mode) || !sha256_file(full, hex) ||
            !crypto_str_equal(hex, 64, line, 64)) {
            buf_printf(why, "%s does not match its SHA-256 sum", rel);
            ok = false;
        }
        free(full);
        listed++;
    }
    fclose(f);
    if (!ok)
        return false;
    FILE *scratch = fopen("/dev/null", "w");
    json_t *files = json_array();
    sum_tree(staging, "", scratch, files);
    if (scratch)
        fclose(scratch);
    if (json_array_size(files) != listed) {
        buf_printf(why, "the archive holds %zu files but SHA256SUMS lists %zu", json_array_size(files),
                   listed);
        ok = false;
    }
    json_decref(files);
    return ok;
}

static bool load_keys_file(const char *path, struct restore_key **out, size_t *count, struct buf *why)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        buf_append_str(why, "no redis-keys.jsonl in the archive");
        return false;
    }
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    bool ok = true;
    struct restore_key *keys = NULL;
    while (ok && (len = getline(&line, &cap, f)) > 0) {
        json_t *o = json_loadb(line, (size_t)len, 0, NULL);
        const char *k = json_string_value(json_object_get(o, "key"));
        const char *d = json_string_value(json_object_get(o, "dump"));
        unsigned char *dump = NULL;
        size_t dump_len = 0;
        if (!k || !d || base64_decode(d, strlen(d), false, &dump, &dump_len) != GW_OK) {
            buf_printf(why, "redis-keys.jsonl line %zu is malformed", n + 1);
            ok = false;
        } else {
            keys = gw_realloc(keys, (n + 1) * sizeof(*keys));
            keys[n].key = gw_strdup(k);
            keys[n].ttl_ms = (long long)json_integer_value(json_object_get(o, "ttl_ms"));
            keys[n].dump = dump;
            keys[n].dump_len = dump_len;
            n++;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    *out = keys;
    *count = n;
    return ok;
}

static void free_keys(struct restore_key *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i].key);
        free(keys[i].dump);
    }
    free(keys);
}

/* The services the supervisor runs, except redis (restored through, so it keeps running). */
static json_t *stop_services(const char *socket_path)
{
    json_t *req = json_pack("{s:s}", "cmd", "status"), *reply = NULL;
    enum gw_err err = control_call(socket_path, req, 30000, &reply);
    json_decref(req);
    if (err != GW_OK || !reply)
        return NULL;
    json_t *stopped = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(reply, "services"), i, s)
    {
        const char *name = json_string_value(json_object_get(s, "name"));
        if (!name || strcmp(name, "redis") == 0 || !json_is_true(json_object_get(s, "managed")))
            continue;
        json_t *stop = json_pack("{s:s, s:s}", "cmd", "stop", "service", name), *r = NULL;
        if (control_call(socket_path, stop, 60000, &r) == GW_OK && json_is_true(json_object_get(r, "ok"))) {
            json_array_append_new(stopped, json_string(name));
            printf("  stopped %s\n", name);
        }
        json_decref(r);
        json_decref(stop);
    }
    json_decref(reply);
    return stopped;
}

static bool restore_key_files(const char *staging, const char *data_dir, size_t *count)
{
    char *src = path_join(staging, "keys");
    DIR *d = opendir(src);
    bool ok = true;
    if (d) {
        mkdir(data_dir, 0700);
        char *dest = path_join(data_dir, "keys");
        mkdir(dest, 0700);
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char *from = path_join(src, e->d_name), *to = path_join(dest, e->d_name);
            char *tmp = path_join(dest, ".restoring");
            bool one = copy_file(from, tmp, 0600) && rename(tmp, to) == 0;
            if (!one) {
                fprintf(stderr, "ERROR: could not restore %s\n", to);
                unlink(tmp);
            }
            ok &= one;
            *count += one;
            free(from);
            free(to);
            free(tmp);
        }
        closedir(d);
        free(dest);
    }
    free(src);
    return ok;
}

static const char restore_usage[] =
    "Usage: mcpgw restore [--env-file FILE] ARCHIVE\n"
    "Restore a backup-all archive: first verify it (it unpacks, its manifest is there, every file\n"
    "matches SHA256SUMS and nothing else is inside; otherwise nothing is touched, exit 1), then stop\n"
    "the services through the supervisor (Redis keeps running), replace the gateway's Redis keys\n"
    "(REDIS_KEY_PREFIX) with the archive's (TTLs continue from the backup's time; keys that expired\n"
    "meanwhile are skipped), restore DATA_DIR/keys when the archive has them, and start the\n"
    "services again, waiting until they are healthy. The archive's env is not applied: compare it\n"
    "with your .env by hand.\n";

int restore_main(int argc, char **argv)
{
    const char *env_file = NULL, *archive = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(restore_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (!archive && argv[i][0] != '-') {
            archive = argv[i];
        } else {
            fprintf(stderr, "ERROR: unknown option or extra argument %s\n%s", argv[i], restore_usage);
            return 2;
        }
    }
    if (!archive) {
        fprintf(stderr, "ERROR: which archive?\n%s", restore_usage);
        return 2;
    }
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    const char *data_dir = config_get(cfg, "DATA_DIR", "./data");
    char *staging = gw_strdup("/tmp/mcpgw-restore-XXXXXX");
    int rc = 1;
    struct restore_key *keys = NULL;
    size_t nkeys = 0;
    json_t *manifest = NULL, *stopped = NULL;
    redisContext *c = NULL;
    char *run_dir = service_run_dir(cfg), sock[256];
    control_socket_path(run_dir, sock, sizeof(sock));
    struct buf why;
    buf_init(&why, 8192);
    if (!mkdtemp(staging)) {
        fprintf(stderr, "ERROR: cannot create a staging directory: %s\n", strerror(errno));
        goto out;
    }
    /* 1. verify, touching nothing */
    char *tar[] = {"tar", "-xzf", (char *)archive, "-C", staging, "--no-same-owner", "--no-same-permissions",
                   NULL};
    if (access(archive, R_OK) != 0) {
        buf_printf(&why, "cannot read it: %s", strerror(errno));
    } else if (ops_run(tar, -1, -1) != 0) {
        buf_append_str(&why, "it does not unpack (not a gzip tar, or damaged)");
    } else if (verify_sums(staging, &why)) {
        char *mpath = path_join(staging, "manifest.json");
        manifest = json_load_file(mpath, 0, NULL);
        free(mpath);
        if (!manifest || json_integer_value(json_object_get(manifest, "format")) != BACKUP_FORMAT)
            buf_append_str(&why, "no manifest.json of a known format");
        else {
            char *kpath = path_join(staging, "redis-keys.jsonl");
            load_keys_file(kpath, &keys, &nkeys, &why);
            free(kpath);
        }
    }
    if (why.len) {
        fprintf(stderr, "ERROR: refusing %s: %s. Nothing was changed.\n", archive, buf_cstr(&why));
        goto out;
    }
    const char *prefix = config_get(cfg, "REDIS_KEY_PREFIX", "oauth:");
    const char *archived_prefix = json_string_value(json_object_get(manifest, "redis_key_prefix"));
    if (archived_prefix && strcmp(archived_prefix, prefix) != 0) {
        fprintf(stderr,
                "ERROR: refusing %s: it holds keys of REDIS_KEY_PREFIX %s, this configuration uses %s. "
                "Nothing was changed.\n",
                archive, archived_prefix, prefix);
        goto out;
    }
    c = ops_redis_connect(cfg);
    if (!c) {
        fprintf(stderr, "Nothing was changed.\n");
        goto out;
    }
    printf("Archive verified: %s (%zu Redis keys, created %s)\n", archive, nkeys,
           json_string_value(json_object_get(manifest, "created_at")));
    /* 2. stop the services that write to Redis */
    stopped = stop_services(sock);
    if (!stopped)
        printf("No supervisor is running: restoring in place (start the stack afterwards)\n");
    /* 3. Redis: our keys become the archive's */
    long long removed = 0, restored = 0, skipped = 0;
    char *pattern = ops_key(cfg, "*", NULL);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            redisReply *d = redisCommand(c, "DEL %s", r->element[1]->element[i]->str);
            removed += d && d->type == REDIS_REPLY_INTEGER ? d->integer : 0;
            freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    free(pattern);
    long long elapsed_ms =
        ((long long)time(NULL) - json_integer_value(json_object_get(manifest, "created_at_unix"))) * 1000;
    bool ok = true;
    for (size_t i = 0; i < nkeys; i++) {
        long long ttl = keys[i].ttl_ms > 0 ? keys[i].ttl_ms - elapsed_ms : 0;
        if (keys[i].ttl_ms > 0 && ttl <= 0) {
            skipped++;
            continue;
        }
        redisReply *r =
            redisCommand(c, "RESTORE %s %lld %b REPLACE", keys[i].key, ttl, keys[i].dump, keys[i].dump_len);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "ERROR: RESTORE %s: %s\n", keys[i].key, r ? r->str : c->errstr);
            ok = false;
        } else {
            restored++;
        }
        freeReplyObject(r);
    }
    size_t nkeyfiles = 0;
    ok &= restore_key_files(staging, data_dir, &nkeyfiles);
    printf("Redis: %lld keys removed, %lld restored, %lld skipped (expired since the backup); %zu key files "
           "restored\n",
           removed, restored, skipped, nkeyfiles);
    /* 4. start them again */
    if (stopped) {
        size_t i;
        json_t *s;
        json_array_foreach(stopped, i, s)
        {
            json_t *req = json_pack("{s:s, s:s}", "cmd", "restart", "service", json_string_value(s)),
                   *r = NULL;
            if (control_call(sock, req, 60000, &r) != GW_OK || !json_is_true(json_object_get(r, "ok"))) {
                fprintf(stderr, "ERROR: could not start %s again: see `mcpgw ps`\n", json_string_value(s));
                ok = false;
            }
            json_decref(r);
            json_decref(req);
        }
        if (ops_wait_healthy(sock, 0, 60) != 0)
            ok = false;
    }
    rc = ok ? 0 : 1;
    printf("%s\n", ok ? "Restore complete" : "Restore finished with errors (see above)");
out:
    if (c)
        redisFree(c);
    rm_rf(staging);
    free(staging);
    free(run_dir);
    free_keys(keys, nkeys);
    json_decref(manifest);
    json_decref(stopped);
    buf_free(&why);
    config_free(cfg);
    return rc;
}
