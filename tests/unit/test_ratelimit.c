/*
 * test_ratelimit.c - the shared GCRA limiter against a real redis-server: the limit trips at
 * N+1 with a sane Retry-After, capacity comes back after the period, two limiters (two routers)
 * share one count, keys carry a TTL, NOSCRIPT after SCRIPT FLUSH is survived, concurrent checks of
 * one key share one Redis command with the same outcome as one by one, and while Redis is
 * stopped each limiter counts locally and says so.
 */
#include "redis_fixture.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/redis.h"
#include "router/ratelimit.h"

struct ctx {
    struct fixture_loop loop;
    struct redis_client *redis_a, *redis_b;
    struct rate_limiter *rl_a, *rl_b;
};

struct outcome {
    bool done;
    int calls;
    struct rate_limit_decision d;
};

static void on_decision(const struct rate_limit_decision *d, void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->calls++;
    o->d = *d;
}

static bool outcome_done(void *arg)
{
    return ((struct outcome *)arg)->done;
}

static bool redis_up(void *arg)
{
    return redis_client_healthy(arg);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test_ratelimit", NULL, LOG_ERROR);
    return fixture_redis_start();
}

static int group_teardown(void **state)
{
    (void)state;
    fixture_redis_cleanup();
    log_shutdown();
    return 0;
}

static void ctx_open(struct ctx *c)
{
    char url[64];
    fixture_redis_url(url, sizeof(url));
    fixture_loop_init(&c->loop);
    assert_int_equal(redis_client_create(c->loop.base, url, NULL, &c->redis_a), GW_OK);
    assert_int_equal(redis_client_create(c->loop.base, url, NULL, &c->redis_b), GW_OK);
    assert_true(fixture_run_until(&c->loop, redis_up, c->redis_a, 5));
    assert_true(fixture_run_until(&c->loop, redis_up, c->redis_b, 5));
    assert_int_equal(rate_limiter_create(c->loop.base, c->redis_a, "rl:", &c->rl_a), GW_OK);
    assert_int_equal(rate_limiter_create(c->loop.base, c->redis_b, "rl:", &c->rl_b), GW_OK);
}

static void ctx_close(struct ctx *c)
{
    rate_limiter_free(c->rl_a);
    rate_limiter_free(c->rl_b);
    redis_client_free(c->redis_a);
    redis_client_free(c->redis_b);
    fixture_loop_free(&c->loop);
}

static struct rate_limit_decision hit(struct ctx *c, struct rate_limiter *rl, const char *key,
                                      long long limit, long long period)
{
    struct outcome o = {0};
    assert_int_equal(rate_limit_check(rl, key, limit, period, on_decision, &o), GW_OK);
    assert_true(fixture_run_until(&c->loop, outcome_done, &o, 5));
    fixture_run_for(&c->loop, 0.0);
    assert_int_equal(o.calls, 1);
    return o.d;
}

/* A unique key per run, so leftovers of an earlier run in the same Redis cannot matter. */
static const char *fresh_key(const char *name)
{
    static char key[96];
    static int n;
    snprintf(key, sizeof(key), "%s:%d:%d", name, (int)getpid(), ++n);
    return key;
}

static void test_trips_at_n_plus_one(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c);
    char key[96];
    snprintf(key, sizeof(key), "%s", fresh_key("mcp:user:client"));
    for (int i = 0; i < 5; i++) {
        struct rate_limit_decision d = hit(&c, c.rl_a, key, 5, 60);
        assert_true(d.allowed);
        assert_false(d.local);
        assert_int_equal(d.limit, 5);
        assert_int_equal(d.remaining, 4 - i);
        assert_true(d.reset_seconds >= 1 && d.reset_seconds <= 60);
    }
    struct rate_limit_decision d = hit(&c, c.rl_a, key, 5, 60);
    assert_false(d.allowed);
    assert_int_equal(d.remaining, 0);
    /* One request comes back every 12 s: Retry-After is at least 1 and at most that. */
    assert_true(d.retry_after >= 1 && d.retry_after <= 12);
    assert_false(rate_limiter_local(c.rl_a));
    /* Another key is independent. */
    assert_true(hit(&c, c.rl_a, fresh_key("mcp:other"), 5, 60).allowed);
    ctx_close(&c);
}

struct allowed_wait {
    struct ctx *c;
    const char *key;
};

static bool allowed_again(void *arg)
{
    struct allowed_wait *w = arg;
    return hit(w->c, w->c->rl_a, w->key, 2, 1).allowed;
}

static void test_resets_after_period(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c);
    char key[96];
    snprintf(key, sizeof(key), "%s", fresh_key("ip:127.0.0.1"));
    assert_true(hit(&c, c.rl_a, key, 2, 1).allowed);
    assert_true(hit(&c, c.rl_a, key, 2, 1).allowed);
    struct rate_limit_decision d = hit(&c, c.rl_a, key, 2, 1);
    assert_false(d.allowed);
    assert_int_equal(d.retry_after, 1);
    fixture_run_for(&c.loop, 1.0);
    struct allowed_wait w = {&c, key};
    assert_true(fixture_run_until(&c.loop, allowed_again, &w, 5));
    ctx_close(&c);
}

static void test_shared_between_limiters(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c);
    char key[96];
    snprintf(key, sizeof(key), "%s", fresh_key("mcp:shared"));
    assert_true(hit(&c, c.rl_a, key, 4, 3600).allowed);
    assert_true(hit(&c, c.rl_b, key, 4, 3600).allowed);
    assert_true(hit(&c, c.rl_a, key, 4, 3600).allowed);
    struct rate_limit_decision d = hit(&c, c.rl_b, key, 4, 3600);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 0);
    assert_false(hit(&c, c.rl_a, key, 4, 3600).allowed);
    assert_false(hit(&c, c.rl_b, key, 4, 3600).allowed);
    ctx_close(&c);
}

struct reply_wait {
    bool done;
    long long integer;
    int type;
};

static void on_reply(const struct redis_result *result, void *arg)
{
    struct reply_wait *w = arg;
    w->done = true;
    w->type = result->reply ? result->reply->type : -1;
    w->integer = result->reply ? result->reply->integer : 0;
}

static bool reply_done(void *arg)
{
    return ((struct reply_wait *)arg)->done;
}

static void test_ttl_and_noscript(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c);
    char key[96], full[128];
    snprintf(key, sizeof(key), "%s", fresh_key("mcp:ttl"));
    snprintf(full, sizeof(full), "rl:ratelimit:%s", key);
    assert_true(hit(&c, c.rl_a, key, 10, 60).allowed);
    struct reply_wait w = {0};
    assert_int_equal(redis_command(c.redis_b, on_reply, &w, "PTTL %s", full), GW_OK);
    assert_true(fixture_run_until(&c.loop, reply_done, &w, 5));
    assert_int_equal(w.type, REDIS_REPLY_INTEGER);
    assert_true(w.integer > 0 && w.integer <= 60000);

    /* The script cache is emptied (as after a Redis restart): the next check still counts. */
    struct reply_wait f = {0};
    assert_int_equal(redis_command(c.redis_b, on_reply, &f, "SCRIPT FLUSH"), GW_OK);
    assert_true(fixture_run_until(&c.loop, reply_done, &f, 5));
    struct rate_limit_decision d = hit(&c, c.rl_a, key, 10, 60);
    assert_true(d.allowed);
    assert_false(d.local);
    assert_int_equal(d.remaining, 8);
    ctx_close(&c);
}

static bool all_done(void *arg)
{
    struct outcome *o = arg;
    for (int i = 0; i < 10; i++)
        if (!o[i].done)
            return false;
    return true;
}

/* Ten checks of one key at once: one Redis command goes out, the other nine wait and are counted
 * together by the next; the outcome is the same as one by one. */
static void test_concurrent_checks_coalesce(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c);
    fixture_run_for(&c.loop, 0.05); /* let SCRIPT LOAD finish */
    char key[96];
    snprintf(key, sizeof(key), "%s", fresh_key("mcp:burst"));
    struct outcome o[10] = {0};
    size_t before = redis_client_in_flight(c.redis_a);
    for (int i = 0; i < 10; i++)
        assert_int_equal(rate_limit_check(c.rl_a, key, 5, 60, on_decision, &o[i]), GW_OK);
    assert_int_equal(redis_client_in_flight(c.redis_a) - before, 1);
    assert_true(fixture_run_until(&c.loop, all_done, o, 5));
    int allowed = 0;
    bool seen_remaining[5] = {false};
    for (int i = 0; i < 10; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_false(o[i].d.local);
        if (o[i].d.allowed) {
            allowed++;
            assert_true(o[i].d.remaining >= 0 && o[i].d.remaining < 5);
            seen_remaining[o[i].d.remaining] = true;
        } else {
            assert_true(o[i].d.retry_after >= 1 && o[i].d.retry_after <= 12);
        }
    }
    assert_int_equal(allowed, 5);
    for (int i = 0; i < 5; i++)
        assert_true(seen_remaining[i]);
    /* The first five in arrival order were the admitted ones. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(o[i].d.allowed, i < 5);
    ctx_close(&c);
}

static void test_local_fallback(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c);
    struct buf detail;
    buf_init(&detail, 1024);
    assert_true(rate_limiter_health_detail(c.rl_a, &detail));
    fixture_redis_stop();
    const char *key = "mcp:while-down";
    for (int i = 0; i < 3; i++) {
        struct rate_limit_decision d = hit(&c, c.rl_a, key, 3, 60);
        assert_true(d.allowed);
        assert_true(d.local);
    }
    struct rate_limit_decision d = hit(&c, c.rl_a, key, 3, 60);
    assert_false(d.allowed);
    assert_true(d.local);
    assert_true(d.retry_after >= 1 && d.retry_after <= 20);
    assert_true(rate_limiter_local(c.rl_a));
    buf_reset(&detail);
    assert_false(rate_limiter_health_detail(c.rl_a, &detail));
    assert_non_null(strstr(buf_cstr(&detail), "locally"));
    /* Limits apply per worker meanwhile: the other limiter has its own count. */
    assert_true(hit(&c, c.rl_b, key, 3, 60).allowed);

    assert_int_equal(fixture_redis_start(), 0);
    assert_true(fixture_run_until(&c.loop, redis_up, c.redis_a, 15));
    d = hit(&c, c.rl_a, fresh_key("mcp:after"), 3, 60);
    assert_true(d.allowed);
    assert_false(d.local);
    assert_false(rate_limiter_local(c.rl_a));
    buf_free(&detail);
    ctx_close(&c);
}

/* Far from the limit a check is decided at once (no Redis round trip) and counted by the next
 * command as already admitted; within the margin (10 here) every check waits for Redis. One
 * limiter still admits exactly `limit`, and Redis has counted all of them. */
static void test_far_from_limit_admits_without_waiting(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c);
    char key[96];
    snprintf(key, sizeof(key), "%s", fresh_key("mcp:optimistic"));
    struct rate_limit_decision d = hit(&c, c.rl_a, key, 100, 3600);
    assert_true(d.allowed);
    assert_int_equal(d.remaining, 99);
    int immediate = 0, allowed = 1;
    for (int i = 0; i < 150; i++) {
        struct outcome o = {0};
        assert_int_equal(rate_limit_check(c.rl_a, key, 100, 3600, on_decision, &o), GW_OK);
        if (o.done) {
            immediate++;
            assert_true(o.d.allowed);
            assert_int_equal(o.d.remaining, 98 - i);
        } else {
            assert_true(fixture_run_until(&c.loop, outcome_done, &o, 5));
        }
        fixture_run_for(&c.loop, 0.0);
        assert_int_equal(o.calls, 1);
        assert_false(o.d.local);
        if (o.d.allowed)
            allowed++;
    }
    assert_int_equal(immediate, 89);
    assert_int_equal(allowed, 100);
    assert_false(hit(&c, c.rl_b, key, 100, 3600).allowed);
    ctx_close(&c);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct ctx c;
    ctx_open(&c);
    struct outcome o = {0};
    assert_int_equal(rate_limit_check(c.rl_a, "k", 0, 60, on_decision, &o), GW_ERR_INVALID);
    assert_int_equal(rate_limit_check(c.rl_a, "k", 5, 0, on_decision, &o), GW_ERR_INVALID);
    assert_int_equal(rate_limit_check(c.rl_a, NULL, 5, 60, on_decision, &o), GW_ERR_INVALID);
    /* Freed with a check in flight: no callback afterwards, no leak. */
    assert_int_equal(rate_limit_check(c.rl_a, "k-inflight", 5, 60, on_decision, &o), GW_OK);
    rate_limiter_free(c.rl_a);
    c.rl_a = NULL;
    fixture_run_for(&c.loop, 0.2);
    assert_int_equal(o.calls, 0);
    ctx_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trips_at_n_plus_one),
        cmocka_unit_test(test_resets_after_period),
        cmocka_unit_test(test_shared_between_limiters),
        cmocka_unit_test(test_ttl_and_noscript),
        cmocka_unit_test(test_concurrent_checks_coalesce),
        cmocka_unit_test(test_far_from_limit_admits_without_waiting),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_local_fallback),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
