/*
 * token_commands.c - decode-token, validate-token, generate-token.
 *
 * generate-token records the token in Redis as auth's token_store.c issue_script does: the
 * token:{jti} value from core/token_record (shared with auth), user_tokens:{sub} pruned and
 * EXPIREAT its longest member (docs/internals/tokens.md), and the auth-private active_tokens and
 * family:{id} with "a:<jti>:<exp>", so cleanup, revocation and the auth_active_tokens gauge treat
 * it like any other. The key layout is owned by src/auth/token_store.c: change both together.
 */
#include "token_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/crypto.h"
#include "core/public_url.h"
#include "core/role.h"
#include "core/token_record.h"
#include "ops_support.h"

#define LEEWAY_SECONDS 30 /* the router's */

/* Reads a token argument; "-" means stdin (keeps tokens out of shell history and ps). */
static char *token_argument(const char *arg)
{
    if (strcmp(arg, "-") != 0)
        return gw_strdup(arg);
    char line[JWT_MAX_TOKEN_LEN + 2];
    if (!fgets(line, sizeof(line), stdin))
        return gw_strdup("");
    line[strcspn(line, "\r\n")] = '\0';
    return gw_strdup(line);
}

static void strip_bearer(char *t)
{
    if (strncasecmp(t, "Bearer ", 7) == 0)
        memmove(t, t + 7, strlen(t + 7) + 1);
}

static void print_time_claim(const json_t *claims, const char *name, long long now)
{
    json_t *v = json_object_get(claims, name);
    if (!json_is_integer(v) && !json_is_real(v))
        return;
    long long t = json_is_integer(v) ? (long long)json_integer_value(v) : (long long)json_real_value(v);
    char when[64], dur[64];
    ops_utc(t, when, sizeof(when));
    ops_human_duration(t - now, dur, sizeof(dur));
    if (strcmp(name, "exp") == 0)
        printf("  %-4s %s (%s %s%s)\n", name, when, t >= now ? "expires in" : "expired", dur,
               t >= now ? "" : " ago");
    else
        printf("  %-4s %s (%s%s%s)\n", name, when, t > now ? "in " : "", dur, t > now ? "" : " ago");
}

static int usage_error(const char *msg, const char *usage)
{
    fprintf(stderr, "ERROR: %s\n%s", msg, usage);
    return 2;
}

static const char decode_usage[] =
    "Usage: mcpgw decode-token TOKEN|-\n"
    "Print a JWT's header and claims as JSON and its times (exp, iat, nbf) in UTC and relative to now.\n"
    "Nothing is verified: use validate-token for that. '-' reads the token from stdin.\n";

int decode_token_main(int argc, char **argv)
{
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(decode_usage, stdout);
            return 0;
        }
        /* A JWT never starts with '-': anything else that does is a mistyped option. */
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "ERROR: unknown option %s\n%s", argv[i], decode_usage);
            return 2;
        }
        if (arg)
            return usage_error("one token only", decode_usage);
        arg = argv[i];
    }
    if (!arg)
        return usage_error("a token is needed", decode_usage);
    char *token = token_argument(arg);
    strip_bearer(token);
    json_t *header = NULL, *claims = NULL;
    enum jwt_result jr = jwt_decode_unverified(token, strlen(token), &header, &claims);
    crypto_wipe(token, strlen(token));
    free(token);
    if (jr != JWT_OK) {
        fprintf(stderr,
                "ERROR: not a JWT: %s (expected three base64url parts header.claims.signature "
                "of JSON objects)\n",
                jwt_strerror(jr));
        return 1;
    }
    char *h = json_dumps(header, JSON_INDENT(2) | JSON_SORT_KEYS);
    char *c = json_dumps(claims, JSON_INDENT(2) | JSON_SORT_KEYS);
    printf("Header:\n%s\nClaims:\n%s\nTimes (not verified):\n", h, c);
    free(h);
    free(c);
    long long now = (long long)time(NULL);
    print_time_claim(claims, "exp", now);
    print_time_claim(claims, "iat", now);
    print_time_claim(claims, "nbf", now);
    if (!json_object_get(claims, "exp"))
        printf("  no exp: the gateway refuses tokens without one\n");
    json_decref(header);
    json_decref(claims);
    return 0;
}

/* ---- validate-token ---- */

static const char validate_usage[] =
    "Usage: mcpgw validate-token [--audience URL] [--env-file FILE] TOKEN|-\n"
    "Verify a token as the router does: signature (auth's key: GATEWAY_JWT_SECRET, JWT_PRIVATE_KEY_B64,\n"
    "DATA_DIR/keys, else auth's JWKS at AUTH_INTERNAL_URL), issuer, expiry, audience (any enabled\n"
    "service's resource, or --audience), MCP_SCOPES, and revocation in Redis.\n"
    "Prints VALID with who it speaks for (exit 0), or INVALID: REASON (exit 1).\n";

static int invalid(const char *reason, const char *detail)
{
    printf("INVALID: %s%s%s\n", reason, detail && *detail ? " - " : "", detail ? detail : "");
    return 1;
}

static bool scope_listed(const char *granted, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = granted; *p;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == n && strncmp(p, want, n) == 0)
            return true;
        p += len;
    }
    return false;
}

static const char *claim_str(const json_t *claims, const char *name)
{
    const char *s = json_string_value(json_object_get(claims, name));
    return s ? s : "";
}

/* 1 revoked, 0 not, -1 Redis unreachable (message printed). */
static int is_revoked(const struct config *cfg, const char *jti)
{
    redisContext *rc = ops_redis_connect(cfg);
    if (!rc)
        return -1;
    char *rk = ops_key(cfg, "revoked:", jti), *rs = ops_key(cfg, "revocations", NULL);
    redisReply *a = redisCommand(rc, "EXISTS %s", rk);
    redisReply *b = redisCommand(rc, "ZSCORE %s %s", rs, jti);
    int result = -1;
    if (a && b && a->type == REDIS_REPLY_INTEGER)
        result = a->integer > 0 || b->type == REDIS_REPLY_STRING;
    else
        fprintf(stderr, "ERROR: Redis: %s\n", rc->err ? rc->errstr : "unexpected reply");
    freeReplyObject(a);
    freeReplyObject(b);
    free(rk);
    free(rs);
    redisFree(rc);
    return result;
}

int validate_token_main(int argc, char **argv)
{
    const char *arg = NULL, *env_file = NULL, *audience = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(validate_usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--env-file") == 0 && i + 1 < argc) {
            env_file = argv[++i];
        } else if (strcmp(argv[i], "--audience") == 0 && i + 1 < argc) {
            audience = argv[++i];
        } else if (!arg && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
            arg = argv[i];
        } else {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown option or extra argument %s", argv[i]);
            return usage_error(msg, validate_usage);
        }
    }
    if (!arg)
        return usage_error("a token is needed", validate_usage);
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    struct buf why;
    buf_init(&why, 4096);
    struct jwt_keyset *keys = ops_verification_keys(cfg, &why);
    if (!keys) {
        fprintf(stderr, "ERROR: no verification key: %s\n", buf_cstr(&why));
        buf_free(&why);
        config_free(cfg);
        return 1;
    }
    buf_free(&why);
    char *token = token_argument(arg);
    strip_bearer(token);
    char *issuer = public_url_issuer(cfg);
    size_t nservices = 0;
    char **services = public_url_mcp_services(cfg, &nservices);
    struct jwt_verify_options opts = {.issuer = issuer, .audience = NULL, .leeway_seconds = LEEWAY_SECONDS};
    json_t *claims = NULL;
    enum jwt_result jr = jwt_verify(keys, token, strlen(token), &opts, &claims);
    int rc = 0;
    const char *matched = NULL;
    if (jr == JWT_OK) {
        /* The audience: --audience, or any enabled service's resource, as the router would. */
        char *resource = NULL;
        if (audience) {
            opts.audience = audience;
            if (jwt_check_claims(claims, &opts) == JWT_OK)
                matched = audience;
        } else {
            for (size_t i = 0; i < nservices && !matched; i++) {
                free(resource);
                resource = public_url_resource(cfg, services[i]);
                opts.audience = resource;
                if (jwt_check_claims(claims, &opts) == JWT_OK)
                    matched = services[i];
            }
        }
        free(resource);
        if (!matched)
            jr = JWT_WRONG_AUDIENCE;
    }
    crypto_wipe(token, strlen(token));
    free(token);
    if (jr != JWT_OK) {
        const char *reason = jr == JWT_EXPIRED          ? "expired"
                             : jr == JWT_BAD_SIGNATURE  ? "bad signature"
                             : jr == JWT_WRONG_AUDIENCE ? "wrong audience"
                             : jr == JWT_WRONG_ISSUER   ? "wrong issuer"
                             : jr == JWT_UNKNOWN_KID    ? "unknown key (kid)"
                             : jr == JWT_NOT_YET_VALID  ? "not yet valid"
                             : jr == JWT_BAD_ALG        ? "bad algorithm"
                                                        : "malformed";
        char detail[256];
        snprintf(detail, sizeof(detail), "%s%s%s", jwt_strerror(jr),
                 jr == JWT_WRONG_AUDIENCE && !audience ? "; not the resource of any enabled service" : "",
                 jr == JWT_WRONG_ISSUER ? "; expected the issuer " : "");
        if (jr == JWT_WRONG_ISSUER)
            strncat(detail, issuer, sizeof(detail) - strlen(detail) - 1);
        rc = invalid(reason, detail);
        goto out;
    }
    const char *jti = claim_str(claims, "jti"), *sub = claim_str(claims, "sub");
    if (!*jti || !*sub) {
        rc = invalid("malformed", "token lacks sub or jti");
        goto out;
    }
    size_t nscopes = 0;
    char **scopes = config_get_list(cfg, "MCP_SCOPES", &nscopes);
    const char *scope = claim_str(claims, "scope");
    for (size_t i = 0; i < nscopes && rc == 0; i++)
        if (!scope_listed(scope, scopes[i])) {
            char d[256];
            snprintf(d, sizeof(d), "lacks the scope '%s' (MCP_SCOPES)", scopes[i]);
            rc = invalid("insufficient scope", d);
        }
    config_list_free(scopes, nscopes);
    if (rc)
        goto out;
    int revoked = is_revoked(cfg, jti);
    if (revoked < 0) {
        printf("UNKNOWN: signature and claims are valid, but revocation could not be checked (Redis)\n");
        rc = 1;
        goto out;
    }
    if (revoked) {
        rc = invalid("revoked", "the token's jti is in the revocation list");
        goto out;
    }
    long long exp = (long long)json_integer_value(json_object_get(claims, "exp")),
              now = (long long)time(NULL);
    char when[64], dur[64];
    ops_utc(exp, when, sizeof(when));
    ops_human_duration(exp - now, dur, sizeof(dur));
    printf("VALID\n  user:      %s (%s)\n  client:    %s\n  scope:     %s\n  audience:  %s (%s)\n"
           "  expires:   %s (in %s)\n  jti:       %s\n",
           sub, claim_str(claims, "username"), claim_str(claims, "client_id"), scope,
           json_is_string(json_object_get(claims, "aud")) ? claim_str(claims, "aud") : "(list)", matched,
           when, dur, jti);
out:
    json_decref(claims);
    config_list_free(services, nservices);
    free(issuer);
    jwt_keyset_free(keys);
    config_free(cfg);
    return rc;
}

/* ---- generate-token ---- */

static const char generate_usage[] =
    "Usage: mcpgw generate-token [--user USER] [--client CLIENT] [--ttl SECONDS] [--scope \"A B\"]\n"
    "                            [--service mcp-echo] [--email E] [--env-file FILE]\n"
    "Mint an access token signed with auth's key (for testing), recorded in Redis like any other\n"
    "(token:{jti}, user_tokens:{sub}), so it can be listed, revoked and cleaned up.\n"
    "USER is a local user name (sub local:USER) or a full sub such as github:12345; without --user,\n"
    "the only user of LOCAL_USERS_FILE (when there is exactly one).\n"
    "Defaults: client mcpgw-operator, ttl ACCESS_TOKEN_LIFETIME, scope MCP_SCOPES, the first enabled\n"
    "service. The token alone goes to stdout; a summary to stderr.\n";

/* The names in LOCAL_USERS_FILE (NAME:HASH lines, '#' comments), comma-separated into names;
 * returns how many. */
static size_t local_user_names(const struct config *cfg, struct buf *names)
{
    const char *path = config_get(cfg, "LOCAL_USERS_FILE", NULL);
    FILE *f = path && *path ? fopen(path, "re") : NULL;
    if (!f)
        return 0;
    size_t count = 0;
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        size_t name_len = strcspn(line, ":\r\n");
        if (line[0] == '#' || line[name_len] != ':' || name_len == 0)
            continue;
        buf_printf(names, "%s%.*s", count ? ", " : "", (int)name_len, line);
        count++;
    }
    fclose(f);
    return count;
}

/* Without --user: the only local user (what `make up` creates) is the obvious one, and saying so
 * on stderr keeps it from being a surprise. A GitHub account is never guessed: its sub is
 * github:ID, which only the operator knows. Returns an allocated name, or NULL after explaining
 * on stderr exactly what to pass. */
static char *default_user(const struct config *cfg)
{
    struct buf names;
    buf_init(&names, 64 * 1024);
    size_t count = local_user_names(cfg, &names);
    char *user = NULL;
    if (count == 1) {
        user = gw_strdup(buf_cstr(&names));
        fprintf(stderr, "No --user given: using %s, the only user in LOCAL_USERS_FILE\n", user);
    } else if (count > 1) {
        fprintf(stderr,
                "ERROR: --user is required: pass --user NAME, one of LOCAL_USERS_FILE's users (%s), or "
                "--user github:ID for a GitHub account (its numeric id)\n",
                buf_cstr(&names));
    } else {
        fprintf(stderr, "ERROR: --user is required: pass --user NAME for a local user (mcpgw add-user NAME "
                        "adds one) or --user github:ID for a GitHub account (its numeric id)\n");
    }
    buf_free(&names);
    return user;
}

int generate_token_main(int argc, char **argv)
{
    const char *env_file = NULL, *user = NULL, *client = "mcpgw-operator", *scope = NULL, *service = NULL,
               *email = NULL;
    long long ttl = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(generate_usage, stdout);
            return 0;
        } else if (strcmp(a, "--env-file") == 0 && has_value) {
            env_file = argv[++i];
        } else if (strcmp(a, "--user") == 0 && has_value) {
            user = argv[++i];
        } else if (strcmp(a, "--client") == 0 && has_value) {
            client = argv[++i];
        } else if (strcmp(a, "--scope") == 0 && has_value) {
            scope = argv[++i];
        } else if (strcmp(a, "--service") == 0 && has_value) {
            service = argv[++i];
        } else if (strcmp(a, "--email") == 0 && has_value) {
            email = argv[++i];
        } else if (strcmp(a, "--ttl") == 0 && has_value) {
            char *end;
            ttl = strtoll(argv[++i], &end, 10);
            if (*end || ttl <= 0 || ttl > 10LL * 365 * 86400)
                return usage_error("--ttl needs a positive number of seconds", generate_usage);
        } else {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown option or missing value %s", a);
            return usage_error(msg, generate_usage);
        }
    }
    if (user && !*user)
        return usage_error("--user must not be empty", generate_usage);
    if (!*client)
        return usage_error("--client must not be empty", generate_usage);
    struct config *cfg = role_load_config(env_file);
    if (!cfg)
        return CONFIG_EXIT_CODE;
    char *chosen_user = NULL;
    if (!user) {
        if (!(chosen_user = default_user(cfg))) {
            config_free(cfg);
            return 2;
        }
        user = chosen_user;
    }
    int rc = 1;
    char *jti = NULL, *family = NULL, *access = NULL, *resource = NULL, *issuer = NULL, *default_scope = NULL;
    redisContext *redis = NULL;
    size_t nservices = 0;
    char **services = public_url_mcp_services(cfg, &nservices);
    if (service) {
        bool known = false;
        for (size_t i = 0; i < nservices; i++)
            known |= strcmp(services[i], service) == 0;
        if (!known) {
            fprintf(stderr, "ERROR: %s is not an enabled service (enabled:", service);
            for (size_t i = 0; i < nservices; i++)
                fprintf(stderr, " %s", services[i]);
            fprintf(stderr, ")\n");
            rc = 2;
            goto out;
        }
    } else if (nservices) {
        service = services[0];
    } else {
        fprintf(stderr, "ERROR: no MCP service is enabled, so there is no audience for a token\n");
        goto out;
    }
    struct buf why;
    buf_init(&why, 4096);
    struct jwt_key *key = ops_signing_key(cfg, &why);
    if (!key) {
        fprintf(stderr, "ERROR: no signing key: %s\n", buf_cstr(&why));
        buf_free(&why);
        goto out;
    }
    buf_free(&why);
    if (!scope) {
        size_t n = 0;
        char **list = config_get_list(cfg, "MCP_SCOPES", &n);
        struct buf b;
        buf_init(&b, 4096);
        for (size_t i = 0; i < n; i++)
            buf_printf(&b, "%s%s", i ? " " : "", list[i]);
        config_list_free(list, n);
        default_scope = buf_take(&b);
        scope = default_scope;
    }
    if (ttl < 0)
        ttl = config_get_int(cfg, "ACCESS_TOKEN_LIFETIME", 86400);
    char sub[256];
    const char *colon = strchr(user, ':');
    snprintf(sub, sizeof(sub), "%s%s", colon ? "" : "local:", user);
    const char *username = colon ? colon + 1 : user;
    issuer = public_url_issuer(cfg);
    resource = public_url_resource(cfg, service);
    long long now = (long long)time(NULL), exp = now + ttl;
    if (crypto_random_token(16, &jti) != GW_OK || crypto_random_token(16, &family) != GW_OK) {
        fprintf(stderr, "ERROR: no randomness\n");
        jwt_key_free(key);
        goto out;
    }
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s}", "iss", issuer, "sub", sub,
                               "aud", resource, "exp", (json_int_t)exp, "iat", (json_int_t)now, "nbf",
                               (json_int_t)now, "jti", jti, "client_id", client, "username", username);
    if (*scope)
        json_object_set_new(claims, "scope", json_string(scope));
    if (email && *email)
        json_object_set_new(claims, "email", json_string(email));
    enum gw_err err = jwt_sign(key, claims, &access);
    json_decref(claims);
    jwt_key_free(key);
    if (err) {
        fprintf(stderr, "ERROR: could not sign: %s\n", gw_strerror(err));
        goto out;
    }
    redis = ops_redis_connect(cfg);
    if (!redis)
        goto out;
    struct token_record tr = {.client_id = client,
                              .sub = sub,
                              .username = username,
                              .scope = scope,
                              .resource = resource,
                              .iat = now,
                              .exp = exp,
                              .grant = "operator"};
    char *record_json = token_record_json(&tr);
    if (!record_json) {
        fprintf(stderr, "ERROR: the user, client or scope is not valid UTF-8\n");
        goto out;
    }
    char *k_token = ops_key(cfg, "token:", jti), *k_user = ops_key(cfg, "user_tokens:", sub),
         *k_active = ops_key(cfg, "active_tokens", NULL), *k_family = ops_key(cfg, "family:", family);
    char member[128];
    snprintf(member, sizeof(member), "a:%s:%lld", jti, exp);
    /* MULTI/EXEC: the same writes as auth's issue_script, all or nothing. */
    redisAppendCommand(redis, "MULTI");
    redisAppendCommand(redis, "SET %s %s EX %lld", k_token, record_json, ttl);
    redisAppendCommand(redis, "ZADD %s %lld %s", k_user, exp, jti);
    redisAppendCommand(redis, "ZREMRANGEBYSCORE %s -inf %lld", k_user, now);
    redisAppendCommand(redis, "ZADD %s %lld %s", k_active, exp, jti);
    redisAppendCommand(redis, "SADD %s %s", k_family, member);
    redisAppendCommand(redis, "EXPIRE %s %lld", k_family, ttl);
    redisAppendCommand(redis, "EXEC");
    bool ok = true;
    for (int i = 0; i < 8; i++) {
        redisReply *r = NULL;
        if (redisGetReply(redis, (void **)&r) != REDIS_OK || !r || r->type == REDIS_REPLY_ERROR ||
            (i == 7 && r->type != REDIS_REPLY_ARRAY)) {
            if (ok)
                fprintf(stderr, "ERROR: Redis: %s\n", r && r->str ? r->str : redis->errstr);
            ok = false;
        }
        freeReplyObject(r);
        if (!r)
            break;
    }
    /* user_tokens lives as long as its longest member (tokens.md). */
    if (ok) {
        redisReply *r = redisCommand(redis, "ZRANGE %s -1 -1 WITHSCORES", k_user);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            redisReply *e = redisCommand(redis, "EXPIREAT %s %lld", k_user, atoll(r->element[1]->str) + 1);
            freeReplyObject(e);
        }
        freeReplyObject(r);
    }
    free(record_json);
    free(k_token);
    free(k_user);
    free(k_active);
    free(k_family);
    if (!ok)
        goto out;
    printf("%s\n", access);
    char when[64];
    ops_utc(exp, when, sizeof(when));
    fprintf(stderr, "Generated a token for %s, client %s, audience %s (%s), scope '%s', expires %s, jti %s\n",
            sub, client, resource, service, scope, when, jti);
    rc = 0;
out:
    if (access) {
        crypto_wipe(access, strlen(access));
        free(access);
    }
    if (redis)
        redisFree(redis);
    free(jti);
    free(family);
    free(resource);
    free(issuer);
    free(default_scope);
    config_list_free(services, nservices);
    config_free(cfg);
    free(chosen_user);
    return rc;
}
