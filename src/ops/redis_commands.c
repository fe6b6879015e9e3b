/*
 * redis_commands.c - redis-cli, cleanup-tokens, redis-vacuum, revoke-tokens.
 *
 * cleanup-tokens and redis-vacuum know the key layout of docs/internals/tokens.md and the
 * auth-private keys of src/auth/token_store.c (active_tokens, family:{id}) and registration.c
 * (client:{id} "used"/"client_id_issued_at"/"last_used_at", clients, regtoken:{hash}); change them
 * together.
 * Every pass uses SCAN (never KEYS), so a large Redis is not blocked.
 */
#include "maintenance_commands.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/redis_url.h"
#include "core/token_revoke.h"
#include "core/role.h"
#include "ops_support.h"

/* --env-file and --help; anything else is a usage error. 1 after --help, -1 on error, 0 go on. */
static int simple_options(int argc, char **argv, const char *usage, const char **env_file, bool *dry_run)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 1;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            *env_file = argv[++i];
        } else if (dry_run && strcmp(argv[i], "--dry-run") == 0) {
            *dry_run = true;
        } else {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], usage);
            return -1;
        }
    }
    return 0;
}

/* ---- redis-cli ---- */

static const char redis_cli_usage[] =
    "Usage: mcpgw redis-cli [--env-file FILE] [ARGS...]\n"
    "Run Debian's redis-cli against REDIS_URL with the password passed through REDISCLI_AUTH (never\n"
    "on the command line). Examples: mcpgw redis-cli ping; mcpgw redis-cli INFO memory;\n"
    "mcpgw redis-cli --scan --pattern 'oauth:token:*'. No ARGS: an interactive session.\n";

int redis_cli_main(int argc, char **argv)
{
    const char *env_file = NULL;
    int first = 1;
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(redis_cli_usage, stdout);
        return 0;
    }
    if (argc > 2 && strcmp(argv[1], "--env-file") == 0) {
        env_file = argv[2];
        first = 3;
    }
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct redis_endpoint ep;
    const char *reason = NULL;
    if (redis_endpoint_parse(config_get(cfg, "REDIS_URL", "redis://127.0.0.1:6379/0"), &ep, &reason) !=
        GW_OK) {
        fprintf(stderr, "ERROR: REDIS_URL: %s\n", reason ? reason : "invalid");
        config_free(cfg);
        return CONFIG_EXIT_CODE;
    }
    char host[256];
    int port_number = 0;
    if (!ep.unix_path && !ops_redis_address(&ep, host, sizeof(host), &port_number)) {
        redis_endpoint_free(&ep);
        config_free(cfg);
        return 1;
    }
    const char *password = ep.password ? ep.password : config_get(cfg, "REDIS_PASSWORD", NULL);
    if (password && *password)
        setenv("REDISCLI_AUTH", password, 1);
    char port[16], db[16];
    snprintf(port, sizeof(port), "%d", port_number);
    snprintf(db, sizeof(db), "%d", ep.db);
    char **args = gw_calloc((size_t)argc + 12, sizeof(char *));
    size_t n = 0;
    args[n++] = "redis-cli";
    if (ep.unix_path) {
        args[n++] = "-s";
        args[n++] = ep.unix_path;
    } else {
        args[n++] = "-h";
        args[n++] = host;
        args[n++] = "-p";
        args[n++] = port;
    }
    args[n++] = "-n";
    args[n++] = db;
    if (ep.user) {
        args[n++] = "--user";
        args[n++] = ep.user;
    }
    for (int i = first; i < argc; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    fflush(stdout);
    execvp("redis-cli", args);
    fprintf(stderr, "ERROR: cannot run redis-cli (apt-get install redis-tools): %m\n");
    free(args);
    redis_endpoint_free(&ep);
    config_free(cfg);
    return 1;
}

/* ---- shared helpers ---- */

typedef void (*key_fn)(redisContext *c, const char *key, void *arg);

/* SCAN every key matching pattern; fn is called for each (it may run commands on c). */
static bool scan_keys(redisContext *c, const char *pattern, key_fn fn, void *arg)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 500", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            fprintf(stderr, "ERROR: Redis SCAN failed: %s\n", r && r->str ? r->str : c->errstr);
            freeReplyObject(r);
            return false;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            fn(c, r->element[1]->element[i]->str, arg);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return true;
}

static long long command_int(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    long long v = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return v;
}

static json_t *get_json(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "GET %s", key);
    json_t *o = NULL;
    if (r && r->type == REDIS_REPLY_STRING)
        o = json_loadb(r->str, r->len, 0, NULL);
    freeReplyObject(r);
    return o;
}

static long long json_int(const json_t *o, const char *name)
{
    json_t *v = json_object_get(o, name);
    return json_is_integer(v) ? (long long)json_integer_value(v)
           : json_is_real(v)  ? (long long)json_real_value(v)
                              : 0;
}

struct pass {
    const struct config *cfg;
    const char *prefix;
    long long now;
    bool dry_run;
    long long counts[16];
};

/* The start both passes share: options, configuration, Redis. Returns -1 to go on (the caller
 * then owns *cfg and *c and frees them), else the exit code to return. */
static int start_pass(int argc, char **argv, const char *usage, struct config **cfg, redisContext **c,
                      struct pass *p)
{
    const char *env_file = NULL;
    bool dry_run = false;
    int o = simple_options(argc, argv, usage, &env_file, &dry_run);
    if (o)
        return o > 0 ? 0 : 2;
    *cfg = role_load_config(env_file);
    if (!*cfg)
        return CONFIG_EXIT_CODE;
    *c = ops_redis_connect(*cfg);
    if (!*c) {
        config_free(*cfg);
        return 1;
    }
    *p = (struct pass){.cfg = *cfg,
                       .prefix = config_get(*cfg, "REDIS_KEY_PREFIX", "oauth:"),
                       .now = time(NULL),
                       .dry_run = dry_run};
    return -1;
}

/* ---- cleanup-tokens ---- */

enum {
    C_USER_EXPIRED,
    C_USER_ORPHANED,
    C_ACTIVE_EXPIRED,
    C_ACTIVE_ORPHANED,
    C_REFRESH_ORPHANED,
    C_FAMILY_MEMBERS,
    C_REVOCATIONS,
    C_TOKEN_EXPIRED,
};

static void clean_user_tokens(redisContext *c, const char *key, void *arg)
{
    struct pass *p = arg;
    p->counts[C_USER_EXPIRED] += p->dry_run ? command_int(c, "ZCOUNT %s -inf %lld", key, p->now)
                                            : command_int(c, "ZREMRANGEBYSCORE %s -inf %lld", key, p->now);
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", key);
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            char *tk = ops_key(p->cfg, "token:", r->element[i]->str);
            if (command_int(c, "EXISTS %s", tk) == 0) {
                p->counts[C_USER_ORPHANED]++;
                if (!p->dry_run)
                    command_int(c, "ZREM %s %s", key, r->element[i]->str);
            }
            free(tk);
        }
    freeReplyObject(r);
}

static void clean_refresh(redisContext *c, const char *key, void *arg)
{
    struct pass *p = arg;
    json_t *rec = get_json(c, key);
    const char *fam = json_string_value(json_object_get(rec, "family"));
    bool orphan = !rec || !fam;
    if (fam) {
        char *fk = ops_key(p->cfg, "family:", fam);
        orphan = command_int(c, "EXISTS %s", fk) == 0;
        free(fk);
    }
    if (orphan) {
        p->counts[C_REFRESH_ORPHANED]++;
        if (!p->dry_run)
            command_int(c, "DEL %s", key);
    }
    json_decref(rec);
}

static void clean_family(redisContext *c, const char *key, void *arg)
{
    struct pass *p = arg;
    redisReply *r = redisCommand(c, "SMEMBERS %s", key);
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            const char *m = r->element[i]->str;
            bool gone = false;
            if (strncmp(m, "r:", 2) == 0) {
                gone = command_int(c, "EXISTS %s", m + 2) == 0;
            } else if (strncmp(m, "a:", 2) == 0) {
                const char *colon = strrchr(m, ':');
                gone = colon && atoll(colon + 1) < p->now;
            }
            if (gone) {
                p->counts[C_FAMILY_MEMBERS]++;
                if (!p->dry_run)
                    command_int(c, "SREM %s %s", key, m);
            }
        }
    freeReplyObject(r);
}

static void clean_token(redisContext *c, const char *key, void *arg)
{
    struct pass *p = arg;
    json_t *rec = get_json(c, key);
    long long exp = json_int(rec, "exp");
    if (rec && exp > 0 && exp < p->now) { /* a record past its token's exp (it lost its TTL) */
        p->counts[C_TOKEN_EXPIRED]++;
        if (!p->dry_run)
            command_int(c, "DEL %s", key);
    }
    json_decref(rec);
}

static const char cleanup_usage[] =
    "Usage: mcpgw cleanup-tokens [--dry-run] [--env-file FILE]\n"
    "Remove expired and orphaned token records and index entries from Redis: user_tokens members\n"
    "that expired or whose token:{jti} is gone, active_tokens entries past exp or without a record,\n"
    "token records past exp, refresh tokens of deleted families, dead family members, and\n"
    "revocation entries of tokens expired more than 60 s ago. Prints what it removed (--dry-run:\n"
    "what it would remove). Exit 1 when Redis cannot be reached.\n";

int cleanup_tokens_main(int argc, char **argv)
{
    struct config *cfg;
    redisContext *c;
    struct pass p;
    int rc = start_pass(argc, argv, cleanup_usage, &cfg, &c, &p);
    if (rc >= 0)
        return rc;
    bool dry_run = p.dry_run;
    bool ok = true;
    static const struct {
        const char *what;
        key_fn fn;
    } passes[] = {{"token:", clean_token},
                  {"user_tokens:", clean_user_tokens},
                  {"refresh:", clean_refresh},
                  {"family:", clean_family}};
    for (size_t i = 0; i < sizeof(passes) / sizeof(passes[0]); i++) {
        char *pattern = ops_key(cfg, passes[i].what, "*");
        ok &= scan_keys(c, pattern, passes[i].fn, &p);
        free(pattern);
    }
    /* active_tokens: past exp, or whose record is gone (revoked tokens leave it at once). */
    char *active = ops_key(cfg, "active_tokens", NULL);
    p.counts[C_ACTIVE_EXPIRED] = dry_run ? command_int(c, "ZCOUNT %s -inf %lld", active, p.now)
                                         : command_int(c, "ZREMRANGEBYSCORE %s -inf %lld", active, p.now);
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", active);
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            char *tk = ops_key(cfg, "token:", r->element[i]->str);
            if (command_int(c, "EXISTS %s", tk) == 0) {
                p.counts[C_ACTIVE_ORPHANED]++;
                if (!dry_run)
                    command_int(c, "ZREM %s %s", active, r->element[i]->str);
            }
            free(tk);
        }
    freeReplyObject(r);
    free(active);
    /* revocations: as the revoke script does, entries whose tokens expired > 60 s ago. */
    char *revs = ops_key(cfg, "revocations", NULL), *rexp = ops_key(cfg, "revocation_expiry", NULL);
    r = redisCommand(c, "ZRANGEBYSCORE %s -inf %lld", rexp, p.now - 60);
    if (r && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            p.counts[C_REVOCATIONS]++;
            if (!dry_run)
                command_int(c, "ZREM %s %s", revs, r->element[i]->str);
        }
    freeReplyObject(r);
    if (!dry_run)
        command_int(c, "ZREMRANGEBYSCORE %s -inf %lld", rexp, p.now - 60);
    free(revs);
    free(rexp);
    if (c->err) {
        fprintf(stderr, "ERROR: Redis: %s\n", c->errstr);
        ok = false;
    }
    static const char *const labels[] = {
        "user_tokens entries expired",          "user_tokens entries orphaned (token record gone)",
        "active_tokens entries expired",        "active_tokens entries orphaned",
        "refresh tokens of deleted families",   "family members expired or gone",
        "revocation entries of expired tokens", "token records past exp"};
    long long total = 0;
    printf("%s\n", dry_run ? "Would remove:" : "Removed:");
    for (int i = 0; i <= C_TOKEN_EXPIRED; i++) {
        printf("  %6lld  %s\n", p.counts[i], labels[i]);
        total += p.counts[i];
    }
    printf("%lld in all\n", total);
    redisFree(c);
    config_free(cfg);
    return ok ? 0 : 1;
}

/* ---- redis-vacuum ---- */

enum { V_TTL_SET, V_REMOVED, V_RATELIMIT, V_CLIENTS };

static void set_or_remove(redisContext *c, struct pass *p, const char *key, long long expire_at)
{
    if (expire_at > p->now) {
        p->counts[V_TTL_SET]++;
        if (!p->dry_run)
            command_int(c, "EXPIREAT %s %lld", key, expire_at);
    } else {
        p->counts[V_REMOVED]++;
        if (!p->dry_run)
            command_int(c, "DEL %s", key);
    }
}

static bool has_prefix(const char *key, const struct pass *p, const char *what)
{
    size_t pl = strlen(p->prefix);
    return strncmp(key, p->prefix, pl) == 0 && strncmp(key + pl, what, strlen(what)) == 0;
}

static void remove_unused_client(redisContext *c, struct pass *p, const char *key, const json_t *rec)
{
    const char *id = key + strlen(p->prefix) + strlen("client:");
    p->counts[V_CLIENTS]++;
    if (p->dry_run)
        return;
    command_int(c, "DEL %s", key);
    char *clients = ops_key(p->cfg, "clients", NULL);
    command_int(c, "ZREM %s %s", clients, id);
    free(clients);
    const char *reg = json_string_value(json_object_get(rec, "registration_token_hash"));
    if (reg) {
        char *rk = ops_key(p->cfg, "regtoken:", reg);
        command_int(c, "DEL %s", rk);
        free(rk);
    }
}

static void vacuum_key(redisContext *c, const char *key, void *arg)
{
    struct pass *p = arg;
    long long ttl = command_int(c, "TTL %s", key);
    long long access_life = config_get_int(p->cfg, "ACCESS_TOKEN_LIFETIME", 86400),
              refresh_life = config_get_int(p->cfg, "REFRESH_TOKEN_LIFETIME", 2592000),
              client_life = config_get_int(p->cfg, "CLIENT_LIFETIME", 7776000),
              unused_life = config_get_int(p->cfg, "UNUSED_CLIENT_LIFETIME", 86400);
    if (has_prefix(key, p, "client:")) {
        /* auth's records say client_id_issued_at (RFC 7591) and last_used_at; created_at is
         * read too, for records written by hand or by older versions */
        json_t *rec = get_json(c, key);
        long long created = json_int(rec, "client_id_issued_at");
        if (created <= 0)
            created = json_int(rec, "created_at");
        long long last_used = json_int(rec, "last_used_at");
        if (rec && !json_is_true(json_object_get(rec, "used")) && created > 0 &&
            created + unused_life < p->now)
            remove_unused_client(c, p, key, rec);
        else if (ttl == -1 && client_life > 0)
            set_or_remove(c, p, key,
                          (last_used > 0 ? last_used
                           : created > 0 ? created
                                         : p->now) +
                              client_life);
        json_decref(rec);
        return;
    }
    if (ttl != -1)
        return; /* has a TTL already (or vanished meanwhile) */
    if (has_prefix(key, p, "ratelimit:")) {
        p->counts[V_RATELIMIT]++; /* a counter without its window is stale: it would never reset */
        if (!p->dry_run)
            command_int(c, "DEL %s", key);
    } else if (has_prefix(key, p, "token:")) {
        json_t *rec = get_json(c, key);
        set_or_remove(c, p, key, rec ? json_int(rec, "exp") : 0);
        json_decref(rec);
    } else if (has_prefix(key, p, "refresh:")) {
        json_t *rec = get_json(c, key);
        long long created = json_int(rec, "created_at");
        set_or_remove(c, p, key, created > 0 ? created + refresh_life : 0);
        json_decref(rec);
    } else if (has_prefix(key, p, "code:") || has_prefix(key, p, "state:")) {
        set_or_remove(c, p, key, p->now + 600);
    } else if (has_prefix(key, p, "revoked:")) {
        set_or_remove(c, p, key, p->now + access_life);
    } else if (has_prefix(key, p, "family:")) {
        set_or_remove(c, p, key, p->now + (refresh_life > access_life ? refresh_life : access_life));
    } else if (has_prefix(key, p, "user_tokens:")) {
        redisReply *r = redisCommand(c, "ZRANGE %s -1 -1 WITHSCORES", key);
        long long last =
            r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 ? atoll(r->element[1]->str) : 0;
        freeReplyObject(r);
        set_or_remove(c, p, key, last > 0 ? last + 1 : 0);
    }
}

static long long used_memory(redisContext *c, char *human, size_t size)
{
    redisReply *r = redisCommand(c, "INFO memory");
    long long used = -1;
    snprintf(human, size, "?");
    if (r && r->type == REDIS_REPLY_STRING) {
        const char *u = strstr(r->str, "used_memory:");
        if (u)
            used = atoll(u + strlen("used_memory:"));
        const char *h = strstr(r->str, "used_memory_human:");
        if (h) {
            h += strlen("used_memory_human:");
            size_t n = strcspn(h, "\r\n");
            snprintf(human, size, "%.*s", (int)n, h);
        }
    }
    freeReplyObject(r);
    return used;
}

static const char vacuum_usage[] =
    "Usage: mcpgw redis-vacuum [--dry-run] [--env-file FILE]\n"
    "Tidy the gateway's keys (REDIS_KEY_PREFIX) in Redis: keys that should expire but have no TTL get\n"
    "one (tokens at their exp, refresh tokens, codes, states, revocations, families, user indexes) or\n"
    "are removed when already past it; rate-limit counters without a TTL are removed; registered\n"
    "clients never used within UNUSED_CLIENT_LIFETIME are removed; then MEMORY PURGE. Prints\n"
    "used_memory before and after. Exit 1 when Redis cannot be reached.\n";

int redis_vacuum_main(int argc, char **argv)
{
    struct config *cfg;
    redisContext *c;
    struct pass p;
    int rc = start_pass(argc, argv, vacuum_usage, &cfg, &c, &p);
    if (rc >= 0)
        return rc;
    bool dry_run = p.dry_run;
    char before_h[64], after_h[64];
    long long before = used_memory(c, before_h, sizeof(before_h));
    char *pattern = ops_key(cfg, "*", NULL);
    bool ok = scan_keys(c, pattern, vacuum_key, &p);
    free(pattern);
    if (!dry_run) {
        redisReply *r = redisCommand(c, "MEMORY PURGE");
        if (r && r->type == REDIS_REPLY_ERROR)
            printf("note: MEMORY PURGE: %s\n", r->str); /* not every allocator has it */
        freeReplyObject(r);
    }
    long long after = used_memory(c, after_h, sizeof(after_h));
    if (c->err) {
        fprintf(stderr, "ERROR: Redis: %s\n", c->errstr);
        ok = false;
    }
    printf("%s\n  %6lld  keys given a TTL\n  %6lld  keys removed (past their expiry)\n"
           "  %6lld  stale rate-limit keys removed\n  %6lld  never-used clients removed\n",
           dry_run ? "Would change:" : "Changed:", p.counts[V_TTL_SET], p.counts[V_REMOVED],
           p.counts[V_RATELIMIT], p.counts[V_CLIENTS]);
    printf("used_memory before: %lld (%s)\nused_memory after:  %lld (%s)\n", before, before_h, after,
           after_h);
    redisFree(c);
    config_free(cfg);
    return ok ? 0 : 1;
}

/* ---- revoke-tokens ---- */

struct revoke_pass {
    struct pass base;
    const char *user;   /* sub ("github:123", "local:alice") or login; NULL: any */
    const char *client; /* client_id; NULL: any */
    long long now_ms;
    long long access, refresh, failed;
};

static bool revoke_matches(const struct revoke_pass *r, const json_t *rec)
{
    if (!json_is_object(rec))
        return false;
    const char *client_id = json_string_value(json_object_get(rec, "client_id"));
    if (r->client && !(client_id && strcmp(client_id, r->client) == 0))
        return false;
    if (r->user) {
        const char *sub = json_string_value(json_object_get(rec, "sub"));
        const char *login = json_string_value(json_object_get(rec, "username"));
        /* GitHub logins are case-insensitive; subjects are exact */
        if (!(sub && strcmp(sub, r->user) == 0) && !(login && login[0] && strcasecmp(login, r->user) == 0))
            return false;
    }
    return true;
}

static bool eval_revoke(redisContext *c, const char *script, const char *key, const char *prefix,
                        const char *jti, long long exp, long long now, long long now_ms)
{
    char exp_text[24], now_text[24], now_ms_text[24];
    snprintf(exp_text, sizeof(exp_text), "%lld", exp);
    snprintf(now_text, sizeof(now_text), "%lld", now);
    snprintf(now_ms_text, sizeof(now_ms_text), "%lld", now_ms);
    const char *jti_argv[] = {"EVAL", script, "0", prefix, jti, exp_text, now_text, now_ms_text};
    const char *refresh_argv[] = {"EVAL", script, "1", key, prefix, "", now_text, now_ms_text};
    redisReply *r = jti ? redisCommandArgv(c, 8, jti_argv, NULL) : redisCommandArgv(c, 8, refresh_argv, NULL);
    bool ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (!ok && (!r || r->type == REDIS_REPLY_ERROR))
        fprintf(stderr, "ERROR: revoking %s failed: %s\n", jti ? jti : "a refresh token",
                r && r->str ? r->str : c->errstr);
    freeReplyObject(r);
    return ok;
}

static void revoke_access_token(redisContext *c, const char *key, void *arg)
{
    struct revoke_pass *r = arg;
    json_t *rec = get_json(c, key);
    long long exp = json_int(rec, "exp");
    if (revoke_matches(r, rec) && exp > r->base.now) {
        const char *jti = key + strlen(r->base.prefix) + strlen("token:");
        if (r->base.dry_run ||
            eval_revoke(c, token_revoke_jti_script, NULL, r->base.prefix, jti, exp, r->base.now, r->now_ms))
            r->access++;
        else
            r->failed++;
    }
    json_decref(rec);
}

static void revoke_refresh_token(redisContext *c, const char *key, void *arg)
{
    struct revoke_pass *r = arg;
    json_t *rec = get_json(c, key);
    if (revoke_matches(r, rec)) {
        /* 0 from the script: the token went away meanwhile (rotated or expired), nothing to do */
        if (r->base.dry_run ||
            eval_revoke(c, token_revoke_refresh_script, key, r->base.prefix, NULL, 0, r->base.now, r->now_ms))
            r->refresh++;
    }
    json_decref(rec);
}

static const char revoke_usage[] =
    "Usage: mcpgw revoke-tokens (--user USER | --client CLIENT_ID | both) [--dry-run] [--env-file FILE]\n"
    "Revoke every live access token and refresh token of a user (USER: the subject, e.g. github:123\n"
    "or local:alice, or the login, case-insensitive) and/or of a client: a stolen laptop, a leaked\n"
    "client, a user who must lose access now rather than at their next refresh. Refresh tokens go\n"
    "with their whole grant (every token it led to). Written as auth's /revoke writes them, so routers\n"
    "refuse the access tokens within about a second and auth refuses the refresh tokens at once\n"
    "(invalid_grant). The user can log in again if still allowed: remove them from\n"
    "ALLOWED_GITHUB_USERS or LOCAL_USERS_FILE first. --dry-run counts what would be revoked.\n"
    "Exit 0 when done (also when nothing matched), 1 when Redis cannot be reached or a revocation\n"
    "failed, 2 for a usage error.\n";

int revoke_tokens_main(int argc, char **argv)
{
    const char *env_file = NULL, *user = NULL, *client = NULL;
    bool dry_run = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(revoke_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc && argv[i + 1][0]) {
            user = argv[++i];
        } else if (strcmp(argv[i], "--client") == 0 && i + 1 < argc && argv[i + 1][0]) {
            client = argv[++i];
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
        } else {
            fprintf(stderr, "ERROR: unknown option or missing value: %s\n%s", argv[i], revoke_usage);
            return 2;
        }
    }
    if (!user && !client) {
        fprintf(stderr, "ERROR: say whose tokens: --user USER and/or --client CLIENT_ID\n%s", revoke_usage);
        return 2;
    }
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    redisContext *c = ops_redis_connect(cfg);
    if (!c) {
        config_free(cfg);
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct revoke_pass r = {.base = {.cfg = cfg,
                                     .prefix = config_get(cfg, "REDIS_KEY_PREFIX", "oauth:"),
                                     .now = ts.tv_sec,
                                     .dry_run = dry_run},
                            .user = user,
                            .client = client,
                            .now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000};
    /* Access tokens first, so each is counted once; the refresh pass then revokes the grants. */
    char *tokens = ops_key(cfg, "token:", "*"), *refreshes = ops_key(cfg, "refresh:", "*");
    bool ok =
        scan_keys(c, tokens, revoke_access_token, &r) && scan_keys(c, refreshes, revoke_refresh_token, &r);
    free(tokens);
    free(refreshes);
    char whose[600];
    if (user && client)
        snprintf(whose, sizeof(whose), "user %s with client %s", user, client);
    else
        snprintf(whose, sizeof(whose), user ? "user %s" : "client %s", user ? user : client);
    printf("%s %lld access token%s and %lld refresh token%s of %s.\n", dry_run ? "Would revoke" : "Revoked",
           r.access, r.access == 1 ? "" : "s", r.refresh, r.refresh == 1 ? "" : "s", whose);
    if (!dry_run && r.access + r.refresh > 0)
        printf(
            "Routers refuse the access tokens within about a second; the refresh tokens no longer work.\n");
    if (r.failed)
        fprintf(stderr, "ERROR: %lld token%s could not be revoked (see above)\n", r.failed,
                r.failed == 1 ? "" : "s");
    redisFree(c);
    config_free(cfg);
    return ok && r.failed == 0 ? 0 : 1;
}
