/*
 * ops_support.c - see ops_support.h.
 */
#include "ops_support.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/public_url.h"
#include "core/redis_locate.h"
#include "core/redis_url.h"

bool ops_redis_address(const struct redis_endpoint *ep, char *host, size_t host_size, int *port)
{
    if (ep->sentinel_count == 0) {
        /* hiredis and redis-cli resolve a host name themselves (blocking is fine here) */
        snprintf(host, host_size, "%s", ep->host);
        *port = ep->port;
        return true;
    }
    struct redis_location where;
    char why[640];
    if (redis_locate_sync(ep, 5000, &where, why, sizeof(why)) != GW_OK) {
        fprintf(stderr, "ERROR: Could not find the Redis master: %s\n", why);
        return false;
    }
    snprintf(host, host_size, "%s", where.hosts[0]);
    *port = where.port;
    return true;
}

redisContext *ops_redis_connect(const struct config *cfg)
{
    const char *url = config_get(cfg, "REDIS_URL", "redis://127.0.0.1:6379/0");
    struct redis_endpoint ep;
    const char *reason = NULL;
    if (redis_endpoint_parse(url, &ep, &reason) != GW_OK) {
        fprintf(stderr, "ERROR: REDIS_URL: %s\n", reason ? reason : "invalid");
        return NULL;
    }
    struct timeval tv = {5, 0};
    char host[256];
    int port = 0;
    if (!ep.unix_path && !ops_redis_address(&ep, host, sizeof(host), &port)) {
        redis_endpoint_free(&ep);
        return NULL;
    }
    redisContext *c = ep.unix_path ? redisConnectUnixWithTimeout(ep.unix_path, tv)
                                   : redisConnectWithTimeout(host, port, tv);
    if (!c || c->err) {
        fprintf(stderr, "ERROR: Could not connect to Redis at %s: %s\n", ep.address,
                c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        redis_endpoint_free(&ep);
        return NULL;
    }
    redisSetTimeout(c, tv);
    const char *password = ep.password ? ep.password : config_get(cfg, "REDIS_PASSWORD", NULL);
    redisReply *r = NULL;
    if (password && *password) {
        r = ep.user ? redisCommand(c, "AUTH %s %s", ep.user, password) : redisCommand(c, "AUTH %s", password);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "ERROR: Redis at %s refused the password: %s\n", ep.address,
                    r ? r->str : c->errstr);
            goto fail;
        }
        freeReplyObject(r);
    }
    if (ep.db) {
        r = redisCommand(c, "SELECT %d", ep.db);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "ERROR: Redis at %s: SELECT %d failed\n", ep.address, ep.db);
            goto fail;
        }
        freeReplyObject(r);
    }
    redis_endpoint_free(&ep);
    return c;
fail:
    if (r)
        freeReplyObject(r);
    redisFree(c);
    redis_endpoint_free(&ep);
    return NULL;
}

char *ops_key(const struct config *cfg, const char *a, const char *b)
{
    struct buf k;
    buf_init(&k, 1 << 16);
    buf_printf(&k, "%s%s%s", config_get(cfg, "REDIS_KEY_PREFIX", "oauth:"), a, b ? b : "");
    return buf_take(&k);
}

/* A key file (at most 1 MiB: a longer one is no key and is refused, not cut short). */
static char *read_file(const char *path, size_t *len)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    if (buf_append_file(&b, path) != GW_OK) {
        buf_free(&b);
        return NULL;
    }
    *len = b.len;
    return buf_take(&b);
}

struct jwt_key *ops_signing_key(const struct config *cfg, struct buf *why_out)
{
    enum jwt_alg alg = jwt_alg_from_name(config_get(cfg, "JWT_ALGORITHM", "RS256"));
    struct jwt_key *key = NULL;
    const char *why = NULL;
    if (alg == JWT_ALG_HS256) {
        const char *secret = config_get(cfg, "GATEWAY_JWT_SECRET", "");
        if (jwt_key_from_secret(secret, strlen(secret), &key, &why) != GW_OK)
            buf_printf(why_out, "GATEWAY_JWT_SECRET: %s", why ? why : "unusable");
        return key;
    }
    if (alg == JWT_ALG_UNSUPPORTED) {
        buf_printf(why_out, "JWT_ALGORITHM: unsupported algorithm");
        return NULL;
    }
    if (config_has(cfg, "JWT_PRIVATE_KEY_B64")) {
        const char *b64 = config_get(cfg, "JWT_PRIVATE_KEY_B64", "");
        if (jwt_key_from_pem_base64(b64, strlen(b64), alg, &key, &why) != GW_OK)
            buf_printf(why_out, "JWT_PRIVATE_KEY_B64: %s", why ? why : "unusable");
        return key;
    }
    struct buf path;
    buf_init(&path, 4096);
    buf_printf(&path, "%s/keys/jwt-%s.pem", config_get(cfg, "DATA_DIR", "./data"),
               alg == JWT_ALG_ES256 ? "es256" : "rs256");
    size_t len = 0;
    char *pem = read_file(buf_cstr(&path), &len);
    if (!pem) {
        buf_printf(why_out, "no signing key here: %s: %s (auth generates it on its first start)",
                   buf_cstr(&path), strerror(errno));
    } else {
        if (jwt_key_from_pem(pem, len, alg, &key, &why) != GW_OK)
            buf_printf(why_out, "%s: %s", buf_cstr(&path), why ? why : "unusable");
        crypto_wipe(pem, len);
        free(pem);
    }
    buf_free(&path);
    return key;
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    if (b->len + size * n > JWT_JWKS_MAX_BYTES)
        return 0;
    buf_append(b, data, size * n);
    return size * n;
}

static struct jwt_keyset *fetch_jwks(const struct config *cfg, struct buf *why_out)
{
    const char *base = config_get(cfg, "AUTH_INTERNAL_URL", NULL);
    struct buf url;
    buf_init(&url, 4096);
    if (base && *base) {
        size_t n = strlen(base);
        while (n > 0 && base[n - 1] == '/')
            n--;
        buf_append(&url, base, n);
    } else {
        char internal[128];
        config_internal_url(cfg, config_get_int(cfg, "AUTH_PORT", 8000), internal, sizeof(internal));
        buf_append_str(&url, internal);
    }
    buf_append_str(&url, "/jwks");
    struct buf body;
    buf_init(&body, JWT_JWKS_MAX_BYTES + 1);
    CURL *curl = curl_easy_init();
    long status = 0;
    CURLcode rc = CURLE_FAILED_INIT;
    if (curl) {
        curl_easy_setopt(curl, CURLOPT_URL, buf_cstr(&url));
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
        rc = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(curl);
    }
    struct jwt_keyset *set = NULL;
    const char *why = NULL;
    if (rc != CURLE_OK)
        buf_printf(why_out, "no local signing key, and %s failed: %s", buf_cstr(&url),
                   curl_easy_strerror(rc));
    else if (status != 200)
        buf_printf(why_out, "no local signing key, and %s answered %ld", buf_cstr(&url), status);
    else if (jwt_keyset_from_jwks(buf_cstr(&body), body.len, &set, &why) != GW_OK)
        buf_printf(why_out, "%s: %s", buf_cstr(&url), why ? why : "unusable key set");
    buf_free(&url);
    buf_free(&body);
    return set;
}

struct jwt_keyset *ops_verification_keys(const struct config *cfg, struct buf *why_out)
{
    struct buf local_why;
    buf_init(&local_why, 4096);
    struct jwt_key *key = ops_signing_key(cfg, &local_why);
    struct jwt_keyset *set = NULL;
    if (key) {
        set = jwt_keyset_new();
        jwt_keyset_add(set, key);
        jwt_key_free(key);
    } else if (jwt_alg_from_name(config_get(cfg, "JWT_ALGORITHM", "RS256")) == JWT_ALG_HS256) {
        buf_append(why_out, buf_cstr(&local_why), local_why.len); /* HS256 keys are never published */
    } else {
        set = fetch_jwks(cfg, why_out);
    }
    buf_free(&local_why);
    return set;
}

void ops_human_duration(long long s, char *out, size_t size)
{
    static const struct {
        long long secs;
        const char *unit;
    } units[] = {{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}};
    if (s < 0)
        s = -s;
    for (size_t i = 0; i < 4; i++) {
        if (s >= units[i].secs || i == 3) {
            long long a = s / units[i].secs, rest = s % units[i].secs;
            if (i < 3 && rest / units[i + 1].secs)
                snprintf(out, size, "%lld%s %lld%s", a, units[i].unit, rest / units[i + 1].secs,
                         units[i + 1].unit);
            else
                snprintf(out, size, "%lld%s", a, units[i].unit);
            return;
        }
    }
}

void ops_utc(long long t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(out, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, size, "%lld", t);
}

int ops_run(char *const argv[], int stdout_fd, int stderr_fd)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return 127;
    if (pid == 0) {
        if (stdout_fd >= 0)
            dup2(stdout_fd, 1);
        if (stderr_fd >= 0)
            dup2(stderr_fd, 2);
        execvp(argv[0], argv);
        fprintf(stderr, "ERROR: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* ---- scrubbing ---- */

static bool b64url_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

char *ops_scrub(char *text, const char *const *secrets, size_t nsecrets, long long *replaced)
{
    for (size_t i = 0; i < nsecrets; i++) {
        size_t n = strlen(secrets[i]);
        struct buf out;
        buf_init(&out, (size_t)1 << 30);
        const char *p = text, *hit;
        while (n && (hit = strstr(p, secrets[i]))) {
            buf_append(&out, p, (size_t)(hit - p));
            buf_append_str(&out, "[REDACTED]");
            (*replaced)++;
            p = hit + n;
        }
        buf_append_str(&out, p);
        free(text);
        text = buf_take(&out);
    }
    /* Token-shaped: a run of base64url characters, dots allowed between runs (a JWT), whose
     * longest run is 32+ characters, or a JWT (eyJ...) of any length. */
    struct buf out;
    buf_init(&out, (size_t)1 << 30);
    const char *p = text;
    while (*p) {
        if (!b64url_char(*p) || (p > text && b64url_char(p[-1]))) {
            buf_append_char(&out, *p++);
            continue;
        }
        const char *q = p;
        size_t longest = 0, run = 0, dots = 0;
        while (b64url_char(*q) || (*q == '.' && b64url_char(q[1]) && q > p)) {
            if (*q == '.') {
                dots++;
                run = 0;
            } else if (++run > longest) {
                longest = run;
            }
            q++;
        }
        bool jwt = strncmp(p, "eyJ", 3) == 0 && dots >= 1;
        if (longest >= 32 || jwt) {
            buf_append_str(&out, jwt ? "[REDACTED-JWT]" : "[REDACTED-TOKEN]");
            (*replaced)++;
        } else {
            buf_append(&out, p, (size_t)(q - p));
        }
        p = q;
    }
    free(text);
    return buf_take(&out);
}
