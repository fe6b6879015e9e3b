/*
 * test_token_check.c - the router's token check against a real redis-server (revocations) and
 * an in-process evhttp server playing auth's /jwks: valid, wrong audience, expired, not yet
 * valid, alg=none, garbage, unknown kid -> refresh -> success (and the 10 s refresh limit),
 * revoked -> refused (live poll and start-up load), insufficient scope, HS256 without a fetch,
 * auth not answering at start (keys arrive by retry), Redis down (accepted, not ready).
 */
#include "redis_fixture.h"

#include <pthread.h>
#include <stdatomic.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/jwt.h"
#include "core/log.h"
#include "core/public_url.h"
#include "core/redis.h"
#include "router/bearer.h"
#include "router/token_check.h"

#define HS_SECRET "0123456789abcdef0123456789abcdef-router-secret"

/* ---- the fake auth: GET /jwks on its own thread ---- */

static struct {
    pthread_t thread;
    struct event_base *base;
    struct evhttp *http;
    int port;
    pthread_mutex_t lock;
    char *jwks; /* current document; guarded by lock */
    atomic_int requests;
    atomic_bool failing; /* answer 503 (auth not ready) */
} auth;

static void set_jwks(char *doc)
{
    pthread_mutex_lock(&auth.lock);
    free(auth.jwks);
    auth.jwks = doc;
    pthread_mutex_unlock(&auth.lock);
}

static void handle_jwks(struct evhttp_request *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&auth.requests, 1);
    struct evbuffer *out = evbuffer_new();
    if (atomic_load(&auth.failing)) {
        evhttp_send_reply(req, 503, "Unavailable", out);
        evbuffer_free(out);
        return;
    }
    pthread_mutex_lock(&auth.lock);
    evbuffer_add(out, auth.jwks, strlen(auth.jwks));
    pthread_mutex_unlock(&auth.lock);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void *auth_main(void *arg)
{
    (void)arg;
    event_base_dispatch(auth.base);
    evhttp_free(auth.http);
    event_base_free(auth.base);
    return NULL;
}

/* ---- keys and tokens ---- */

static struct jwt_key *key_a, *key_b, *key_c, *hs_key;
static char *issuer, *audience;
static struct config *cfg_rs, *cfg_hs;

static char *jwks_of(struct jwt_key *a, struct jwt_key *b)
{
    struct jwt_keyset *set = jwt_keyset_new();
    jwt_keyset_add(set, a);
    if (b)
        jwt_keyset_add(set, b);
    char *doc = jwt_keyset_to_jwks(set);
    jwt_keyset_free(set);
    return doc;
}

static char *make_token(const struct jwt_key *key, const char *aud, long long exp_in, long long nbf_in,
                        const char *scope, const char *jti)
{
    long long now = (long long)time(NULL);
    json_t *claims = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}", "iss", issuer, "sub",
                               "github:42", "aud", aud, "exp", (json_int_t)(now + exp_in), "iat",
                               (json_int_t)now, "nbf", (json_int_t)(now + nbf_in), "jti", jti, "client_id",
                               "client-1", "scope", scope, "username", "octocat");
    char *token = NULL;
    assert_int_equal(jwt_sign(key, claims, &token), GW_OK);
    json_decref(claims);
    return token;
}

static char *bearer(const char *token)
{
    size_t n = strlen(token) + 8;
    char *h = malloc(n);
    snprintf(h, n, "Bearer %s", token);
    return h;
}

static struct config *load_config(const char *extra)
{
    char redis_url[64], text[1024];
    fixture_redis_url(redis_url, sizeof(redis_url));
    snprintf(text, sizeof(text),
             "BASE_DOMAIN=example.test\nAUTH_INTERNAL_URL=http://127.0.0.1:%d/\nREDIS_URL=%s\n"
             "MCP_SCOPES=mcp\nREDIS_KEY_PREFIX=tc:\n%s",
             auth.port, redis_url, extra);
    struct config *cfg = NULL;
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    return cfg;
}

static int group_setup(void **state)
{
    (void)state;
    evthread_use_pthreads();
    log_init("test_token_check", NULL, LOG_WARNING);
    if (fixture_redis_start() != 0)
        return -1;
    if (jwt_key_generate(JWT_ALG_RS256, &key_a) || jwt_key_generate(JWT_ALG_ES256, &key_b) ||
        jwt_key_generate(JWT_ALG_ES256, &key_c) ||
        jwt_key_from_secret(HS_SECRET, strlen(HS_SECRET), &hs_key, NULL))
        return -1;
    pthread_mutex_init(&auth.lock, NULL);
    auth.jwks = jwks_of(key_a, NULL);
    auth.base = event_base_new();
    auth.http = evhttp_new(auth.base);
    evhttp_set_cb(auth.http, "/jwks", handle_jwks, NULL);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(auth.http, "127.0.0.1", 0);
    if (!bound)
        return -1;
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len);
    auth.port = ntohs(sin.sin_port);
    if (pthread_create(&auth.thread, NULL, auth_main, NULL) != 0)
        return -1;
    cfg_rs = load_config("");
    cfg_hs = load_config("JWT_ALGORITHM=HS256\nGATEWAY_JWT_SECRET=" HS_SECRET "\n");
    issuer = public_url_issuer(cfg_rs);
    audience = public_url_resource(cfg_rs, "mcp-echo");
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    event_base_loopbreak(auth.base);
    pthread_join(auth.thread, NULL);
    free(auth.jwks);
    jwt_key_free(key_a);
    jwt_key_free(key_b);
    jwt_key_free(key_c);
    jwt_key_free(hs_key);
    config_free(cfg_rs);
    config_free(cfg_hs);
    free(issuer);
    free(audience);
    fixture_redis_cleanup();
    log_shutdown();
    return 0;
}

/* ---- per test: a loop, a Redis client and a checker ---- */

struct ctx {
    struct fixture_loop loop;
    struct redis_client *redis;
    struct token_checker *tc;
};

static bool redis_up(void *arg)
{
    return redis_client_healthy(arg);
}

static bool checker_ready(void *arg)
{
    return token_checker_ready(arg);
}

static void ctx_open(struct ctx *c, struct config *cfg)
{
    char url[64];
    fixture_redis_url(url, sizeof(url));
    fixture_loop_init(&c->loop);
    assert_int_equal(redis_client_create(c->loop.base, url, NULL, &c->redis), GW_OK);
    assert_true(fixture_run_until(&c->loop, redis_up, c->redis, 5));
    assert_int_equal(token_checker_create(c->loop.base, cfg, c->redis, &c->tc), GW_OK);
    assert_true(fixture_run_until(&c->loop, checker_ready, c->tc, 5));
}

static void ctx_close(struct ctx *c)
{
    token_checker_free(c->tc);
    redis_client_free(c->redis);
    fixture_loop_free(&c->loop);
}

struct done_flag {
    bool done;
    enum gw_err err;
};

static void on_redis_done(const struct redis_result *result, void *arg)
{
    struct done_flag *f = arg;
    f->err = result->err;
    f->done = true;
}

static bool flag_set(void *arg)
{
    return ((struct done_flag *)arg)->done;
}

static void revoke_jti(struct ctx *c, const char *jti)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char score[32];
    snprintf(score, sizeof(score), "%lld", (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    struct done_flag f = {0};
    assert_int_equal(redis_command(c->redis, on_redis_done, &f, "ZADD tc:revocations %s %s", score, jti),
                     GW_OK);
    assert_true(fixture_run_until(&c->loop, flag_set, &f, 5));
    assert_int_equal(f.err, GW_OK);
}

static enum token_check_result check(struct ctx *c, const char *token, const char *aud,
                                     struct token_identity *id)
{
    char *h = bearer(token);
    const char *reason = NULL;
    enum token_check_result r = token_check(c->tc, h, aud, id, &reason);
    assert_non_null(reason);
    free(h);
    return r;
}

static void reset_jwks(void)
{
    set_jwks(jwks_of(key_a, NULL));
}

/* ---- tests ---- */

static void test_valid_and_claim_errors(void **state)
{
    (void)state;
    reset_jwks();
    struct ctx c;
    ctx_open(&c, cfg_rs);
    struct token_identity id;

    char *ok = make_token(key_a, audience, 300, 0, "mcp offline", "jti-valid");
    assert_int_equal(check(&c, ok, audience, &id), TOKEN_OK);
    assert_string_equal(id.user_id, "github:42");
    assert_string_equal(id.client_id, "client-1");
    assert_string_equal(id.username, "octocat");
    assert_string_equal(id.jti, "jti-valid");
    assert_int_equal(check(&c, ok, audience, &id), TOKEN_OK); /* cached path */
    /* The same token presented to another service: wrong audience. */
    char *other = public_url_resource(cfg_rs, "mcp-fetch");
    assert_int_equal(check(&c, ok, other, &id), TOKEN_WRONG_AUDIENCE);
    free(other);
    free(ok);

    char *expired = make_token(key_a, audience, -300, -600, "mcp", "jti-expired");
    assert_int_equal(check(&c, expired, audience, &id), TOKEN_EXPIRED);
    free(expired);

    char *early = make_token(key_a, audience, 3600, 600, "mcp", "jti-early");
    assert_int_equal(check(&c, early, audience, &id), TOKEN_INVALID);
    free(early);

    char *scopeless = make_token(key_a, audience, 300, 0, "profile", "jti-scope");
    assert_int_equal(check(&c, scopeless, audience, &id), TOKEN_INSUFFICIENT_SCOPE);
    free(scopeless);

    /* Signed by a key auth never published, under auth's kid: bad signature. */
    char *forged_hs = make_token(hs_key, audience, 300, 0, "mcp", "jti-hs");
    assert_int_equal(check(&c, forged_hs, audience, &id), TOKEN_INVALID);
    free(forged_hs);
    ctx_close(&c);
}

static void test_malformed_and_alg_none(void **state)
{
    (void)state;
    reset_jwks();
    struct ctx c;
    ctx_open(&c, cfg_rs);
    struct token_identity id;
    const char *reason = NULL;
    assert_int_equal(token_check(c.tc, NULL, audience, &id, &reason), TOKEN_MISSING);
    assert_int_equal(token_check(c.tc, "", audience, &id, &reason), TOKEN_MISSING);
    assert_int_equal(token_check(c.tc, "Basic dXNlcjpwYXNz", audience, &id, &reason), TOKEN_MISSING);
    assert_int_equal(token_check(c.tc, "Bearer", audience, &id, &reason), TOKEN_INVALID);
    assert_int_equal(token_check(c.tc, "Bearer    ", audience, &id, &reason), TOKEN_INVALID);
    assert_int_equal(token_check(c.tc, "Bearer a b", audience, &id, &reason), TOKEN_INVALID);
    assert_int_equal(token_check(c.tc, "Bearer not-a-jwt", audience, &id, &reason), TOKEN_INVALID);
    assert_int_equal(token_check(c.tc, "bearer x.y.z", audience, &id, &reason), TOKEN_INVALID);

    /* alg=none with auth's kid and valid claims. */
    char header[200], payload[400];
    snprintf(header, sizeof(header), "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"%s\"}", jwt_key_kid(key_a));
    snprintf(
        payload, sizeof(payload),
        "{\"iss\":\"%s\",\"sub\":\"github:1\",\"aud\":\"%s\",\"exp\":%lld,\"jti\":\"n\",\"scope\":\"mcp\"}",
        issuer, audience, (long long)time(NULL) + 300);
    char *h = base64url_encode_alloc(header, strlen(header));
    char *p = base64url_encode_alloc(payload, strlen(payload));
    char token[1024];
    snprintf(token, sizeof(token), "%s.%s.", h, p);
    assert_int_equal(check(&c, token, audience, &id), TOKEN_INVALID);
    free(h);
    free(p);
    ctx_close(&c);
}

static void test_unknown_kid_refresh(void **state)
{
    (void)state;
    reset_jwks();
    struct ctx c;
    ctx_open(&c, cfg_rs);
    struct token_identity id;
    assert_int_equal(token_checker_jwks_fetches(c.tc), 1);

    /* auth rotates: key B appears. The first token with B's kid fails and triggers a refresh. */
    set_jwks(jwks_of(key_a, key_b));
    char *token_b = make_token(key_b, audience, 300, 0, "mcp", "jti-b");
    assert_int_equal(check(&c, token_b, audience, &id), TOKEN_INVALID);
    double deadline = fixture_now() + 5;
    while (token_checker_jwks_fetches(c.tc) < 2 && fixture_now() < deadline)
        event_base_loop(c.loop.base, EVLOOP_ONCE);
    assert_int_equal(token_checker_jwks_fetches(c.tc), 2);
    assert_int_equal(check(&c, token_b, audience, &id), TOKEN_OK);
    free(token_b);

    /* Another unknown kid right away: no new fetch (at most one per 10 s). */
    int before = atomic_load(&auth.requests);
    char *token_c = make_token(key_c, audience, 300, 0, "mcp", "jti-c");
    assert_int_equal(check(&c, token_c, audience, &id), TOKEN_INVALID);
    assert_int_equal(check(&c, token_c, audience, &id), TOKEN_INVALID);
    fixture_run_for(&c.loop, 0.3);
    assert_int_equal(atomic_load(&auth.requests), before);
    assert_int_equal(token_checker_jwks_fetches(c.tc), 2);
    free(token_c);
    ctx_close(&c);
}

struct revoke_wait {
    struct ctx *c;
    const char *token;
};

static bool refused_as_revoked(void *arg)
{
    struct revoke_wait *w = arg;
    struct token_identity id;
    return check(w->c, w->token, audience, &id) == TOKEN_REVOKED;
}

static void test_revoked_live(void **state)
{
    (void)state;
    reset_jwks();
    struct ctx c;
    ctx_open(&c, cfg_rs);
    struct token_identity id;
    char *token = make_token(key_a, audience, 300, 0, "mcp", "jti-revoke-live");
    char *other = make_token(key_a, audience, 300, 0, "mcp", "jti-stays");
    assert_int_equal(check(&c, token, audience, &id), TOKEN_OK); /* now in the cache */
    revoke_jti(&c, "jti-revoke-live");
    /* Within a few poll periods the token is refused, cached or not; no per-request Redis. */
    struct revoke_wait w = {&c, token};
    assert_true(fixture_run_until(&c.loop, refused_as_revoked, &w, 5));
    assert_int_equal(check(&c, token, audience, &id), TOKEN_REVOKED);
    assert_string_equal(id.user_id, "");
    assert_int_equal(check(&c, other, audience, &id), TOKEN_OK);
    free(token);
    free(other);
    ctx_close(&c);
}

static void test_revoked_before_start(void **state)
{
    (void)state;
    reset_jwks();
    struct ctx c;
    ctx_open(&c, cfg_rs);
    revoke_jti(&c, "jti-revoked-earlier");
    /* Many more, so the local set has to grow (and rehash) while loading. */
    enum { MANY = 300 };
    static char members[MANY][32];
    const char *argv[2 + 2 * MANY];
    argv[0] = "ZADD";
    argv[1] = "tc:revocations";
    long long score = (long long)time(NULL) * 1000;
    static char score_text[32];
    snprintf(score_text, sizeof(score_text), "%lld", score);
    for (int i = 0; i < MANY; i++) {
        snprintf(members[i], sizeof(members[i]), "bulk-%d", i);
        argv[2 + 2 * i] = score_text;
        argv[3 + 2 * i] = members[i];
    }
    struct done_flag f = {0};
    assert_int_equal(redis_command_argv(c.redis, on_redis_done, &f, 2 + 2 * MANY, argv, NULL), GW_OK);
    assert_true(fixture_run_until(&c.loop, flag_set, &f, 5));
    assert_int_equal(f.err, GW_OK);
    ctx_close(&c);
    /* A fresh checker loads the whole list at start. */
    ctx_open(&c, cfg_rs);
    struct token_identity id;
    char *token = make_token(key_a, audience, 300, 0, "mcp", "jti-revoked-earlier");
    assert_int_equal(check(&c, token, audience, &id), TOKEN_REVOKED);
    free(token);
    const char *bulk[] = {"bulk-0", "bulk-150", "bulk-299"};
    for (size_t i = 0; i < 3; i++) {
        token = make_token(key_a, audience, 300, 0, "mcp", bulk[i]);
        assert_int_equal(check(&c, token, audience, &id), TOKEN_REVOKED);
        free(token);
    }
    token = make_token(key_a, audience, 300, 0, "mcp", "bulk-300");
    assert_int_equal(check(&c, token, audience, &id), TOKEN_OK);
    free(token);
    ctx_close(&c);
}

static void test_hs256_without_fetch(void **state)
{
    (void)state;
    int before = atomic_load(&auth.requests);
    struct ctx c;
    ctx_open(&c, cfg_hs);
    struct token_identity id;
    char *token = make_token(hs_key, audience, 300, 0, "mcp", "jti-hs256");
    assert_int_equal(check(&c, token, audience, &id), TOKEN_OK);
    char *rs = make_token(key_a, audience, 300, 0, "mcp", "jti-rs");
    assert_int_equal(check(&c, rs, audience, &id), TOKEN_INVALID);
    assert_int_equal(atomic_load(&auth.requests), before);
    struct buf detail;
    buf_init(&detail, 1024);
    token_checker_health_detail(c.tc, &detail);
    assert_non_null(strstr(buf_cstr(&detail), "1 keys"));
    buf_free(&detail);
    free(token);
    free(rs);
    ctx_close(&c);
}

/* Redis down: tokens still verify (nothing can be revoked meanwhile), the checker says not ready. */
static void test_redis_down(void **state)
{
    (void)state;
    reset_jwks();
    struct ctx c;
    ctx_open(&c, cfg_rs);
    fixture_redis_stop();
    struct token_identity id;
    char *token = make_token(key_a, audience, 300, 0, "mcp", "jti-redis-down");
    double deadline = fixture_now() + 10;
    while (token_checker_ready(c.tc) && fixture_now() < deadline)
        event_base_loop(c.loop.base, EVLOOP_ONCE);
    assert_false(token_checker_ready(c.tc));
    assert_int_equal(check(&c, token, audience, &id), TOKEN_OK);
    assert_int_equal(fixture_redis_start(), 0);
    assert_true(fixture_run_until(&c.loop, checker_ready, c.tc, 15));
    free(token);
    ctx_close(&c);
}

/* auth not answering at start: requests fail without hammering it, keys arrive by retry. */
static void test_keys_arrive_after_auth_starts(void **state)
{
    (void)state;
    reset_jwks();
    atomic_store(&auth.failing, true);
    struct ctx c;
    char url[64];
    fixture_redis_url(url, sizeof(url));
    fixture_loop_init(&c.loop);
    assert_int_equal(redis_client_create(c.loop.base, url, NULL, &c.redis), GW_OK);
    assert_true(fixture_run_until(&c.loop, redis_up, c.redis, 5));
    assert_int_equal(token_checker_create(c.loop.base, cfg_rs, c.redis, &c.tc), GW_OK);
    fixture_run_for(&c.loop, 0.2);
    assert_false(token_checker_ready(c.tc));
    struct token_identity id;
    char *token = make_token(key_a, audience, 300, 0, "mcp", "jti-late");
    int before = atomic_load(&auth.requests);
    for (int i = 0; i < 20; i++)
        assert_int_equal(check(&c, token, audience, &id), TOKEN_INVALID);
    fixture_run_for(&c.loop, 0.1);
    assert_true(atomic_load(&auth.requests) - before <= 1); /* not one fetch per request */
    atomic_store(&auth.failing, false);
    assert_true(fixture_run_until(&c.loop, checker_ready, c.tc, 15));
    assert_int_equal(check(&c, token, audience, &id), TOKEN_OK);
    free(token);
    ctx_close(&c);
}

static void test_bearer_parse(void **state)
{
    (void)state;
    const char *t = NULL;
    size_t n = 0;
    assert_int_equal(bearer_parse("Bearer abc.def-_~+/==", &t, &n), BEARER_OK);
    assert_int_equal(n, strlen("abc.def-_~+/=="));
    assert_int_equal(bearer_parse("  BEARER   tok  ", &t, &n), BEARER_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(t, "tok", 3);
    assert_int_equal(bearer_parse("Bearertok", &t, &n), BEARER_ABSENT);
    assert_int_equal(bearer_parse("Bearer =abc", &t, &n), BEARER_MALFORMED);
    assert_int_equal(bearer_parse("Bearer a=b", &t, &n), BEARER_MALFORMED);
    assert_int_equal(bearer_parse("Bearer a,b", &t, &n), BEARER_MALFORMED);
    char *scopes[] = {"mcp", "read"};
    assert_true(bearer_scopes_satisfied("read  mcp", scopes, 2));
    assert_false(bearer_scopes_satisfied("mcpx read", scopes, 2));
    assert_false(bearer_scopes_satisfied("", scopes, 1));
    assert_true(bearer_scopes_satisfied(NULL, scopes, 0));
}

/* The reference for bearer_parse's token scan: RFC 6750 b64token characters one at a time. */
static bool b64token_char(unsigned char c)
{
    return c && (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/", c) != NULL);
}

static enum bearer_parse_result reference_parse(const char *after_scheme, const char **token, size_t *len)
{
    while (*after_scheme == ' ')
        after_scheme++;
    const char *token_part = after_scheme, *p = token_part;
    while (b64token_char((unsigned char)*p))
        p++;
    while (*p == '=')
        p++;
    size_t n = (size_t)(p - token_part);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0' || n == 0 || n > JWT_MAX_TOKEN_LEN || *token_part == '=')
        return BEARER_MALFORMED;
    *token = token_part;
    *len = n;
    return BEARER_OK;
}

/* The scan reads 16 bytes at a time: every byte value at every position of tokens around the
 * block sizes must be judged as the one-at-a-time reference judges it. */
static void test_bearer_parse_every_byte(void **state)
{
    (void)state;
    static const size_t lengths[] = {1, 2, 15, 16, 17, 31, 32, 33, 47, 475};
    char header[600], *token_part = header + 7;
    memcpy(header, "Bearer ", 7);
    for (size_t l = 0; l < sizeof lengths / sizeof *lengths; l++) {
        size_t n = lengths[l];
        for (size_t i = 0; i < n; i++)
            token_part[i] = "abcXYZ019-._~+/"[i % 15];
        token_part[n] = '\0';
        for (size_t pos = 0; pos < n; pos++) {
            char saved = token_part[pos];
            for (int c = 1; c < 256; c++) {
                token_part[pos] = (char)c;
                size_t want_len = 0, got_len = 0;
                const char *t = NULL, *want_t = NULL;
                enum bearer_parse_result want = reference_parse(token_part, &want_t, &want_len);
                enum bearer_parse_result got = bearer_parse(header, &t, &got_len);
                if (got != want || (got == BEARER_OK && (got_len != want_len || t != want_t)))
                    fail_msg("length %zu, byte 0x%02x at %zu: got %d/%zu, want %d/%zu", n, c, pos, got,
                             got_len, want, want_len);
            }
            token_part[pos] = saved;
        }
    }
    /* the longest token accepted, and one more */
    char *big = malloc(7 + JWT_MAX_TOKEN_LEN + 2);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', JWT_MAX_TOKEN_LEN + 1);
    big[7 + JWT_MAX_TOKEN_LEN] = '\0';
    const char *t = NULL;
    size_t n = 0;
    assert_int_equal(bearer_parse(big, &t, &n), BEARER_OK);
    assert_int_equal(n, JWT_MAX_TOKEN_LEN);
    big[7 + JWT_MAX_TOKEN_LEN] = 'a';
    big[7 + JWT_MAX_TOKEN_LEN + 1] = '\0';
    assert_int_equal(bearer_parse(big, &t, &n), BEARER_MALFORMED);
    free(big);
}

/* Cache hits hand out the identity copied once from the claims; the per-request checks (audience,
 * revocation, scope) still apply to them, and every refusal zeroes the caller's identity. */
static void test_cached_identity(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c, cfg_hs);
    struct token_identity first, id;
    char *token = make_token(hs_key, audience, 300, 0, "mcp offline", "jti-cached-id");
    assert_int_equal(check(&c, token, audience, &first), TOKEN_OK);
    for (int i = 0; i < 3; i++) {
        memset(&id, 0x5a, sizeof(id));
        assert_int_equal(check(&c, token, audience, &id), TOKEN_OK);
        assert_memory_equal(&id, &first, sizeof(id)); /* every byte, padding of the strings included */
    }
    assert_string_equal(id.user_id, "github:42");
    assert_string_equal(id.username, "octocat");
    assert_string_equal(id.client_id, "client-1");
    assert_string_equal(id.scope, "mcp offline");
    assert_string_equal(id.jti, "jti-cached-id");
    assert_true(id.exp > (long long)time(NULL));

    /* the same cached token for another resource: refused, identity zeroed */
    char *other = public_url_resource(cfg_hs, "mcp-fetch");
    memset(&id, 0x5a, sizeof(id));
    assert_int_equal(check(&c, token, other, &id), TOKEN_WRONG_AUDIENCE);
    assert_string_equal(id.user_id, "");
    assert_string_equal(id.scope, "");
    assert_int_equal(check(&c, token, audience, &id), TOKEN_OK);
    free(other);

    /* no identity wanted: fine as well */
    const char *reason = NULL;
    char *h = bearer(token);
    assert_int_equal(token_check(c.tc, h, audience, NULL, &reason), TOKEN_OK);
    assert_string_equal(reason, "ok");
    free(h);

    /* insufficient scope, on the miss and on the hits: the identity is still filled */
    char *scopeless = make_token(hs_key, audience, 300, 0, "profile", "jti-cached-scope");
    for (int i = 0; i < 2; i++) {
        memset(&id, 0, sizeof(id));
        assert_int_equal(check(&c, scopeless, audience, &id), TOKEN_INSUFFICIENT_SCOPE);
        assert_string_equal(id.jti, "jti-cached-scope");
    }
    free(scopeless);

    /* claims without a usable identity stay refused when cached */
    char *oversized =
        make_token(hs_key, audience, 300, 0, "mcp",
                   "a-jti-far-longer-than-the-sixty-four-bytes-struct-token-identity-has-room-for");
    for (int i = 0; i < 2; i++) {
        memset(&id, 0x5a, sizeof(id));
        assert_int_equal(check(&c, oversized, audience, &id), TOKEN_INVALID);
        assert_string_equal(id.user_id, "");
    }
    free(oversized);

    /* a revocation reaches the cached token */
    revoke_jti(&c, "jti-cached-id");
    struct revoke_wait w = {&c, token};
    assert_true(fixture_run_until(&c.loop, refused_as_revoked, &w, 5));
    memset(&id, 0x5a, sizeof(id));
    assert_int_equal(check(&c, token, audience, &id), TOKEN_REVOKED);
    assert_string_equal(id.jti, "");
    free(token);
    ctx_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_parse),
        cmocka_unit_test(test_bearer_parse_every_byte),
        cmocka_unit_test(test_cached_identity),
        cmocka_unit_test(test_valid_and_claim_errors),
        cmocka_unit_test(test_malformed_and_alg_none),
        cmocka_unit_test(test_unknown_kid_refresh),
        cmocka_unit_test(test_revoked_live),
        cmocka_unit_test(test_revoked_before_start),
        cmocka_unit_test(test_hs256_without_fetch),
        cmocka_unit_test(test_keys_arrive_after_auth_starts),
        cmocka_unit_test(test_redis_down),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
