/*
 * test_redis.c - the Redis client against a real redis-server (Debian's), started on a free
 * 127.0.0.1 port in a temporary directory with a password and a Unix socket, and stopped by
 * its PID. Covers the URL parser, AUTH + SELECT, replies and error replies, refused commands,
 * wrong password, command timeout, Unix sockets, freeing with commands in flight, and a
 * server outage with fail-fast, the "Could not connect to Redis" log line and reconnection.
 */
#include "redis_fixture.h"

#include "core/log.h"
#include "core/redis.h"
#include "core/redis_locate.h"
#include "core/redis_url.h"

#define PASSWORD "secret"

static char socket_path[256];
static char log_path[256];

/* ---- the redis-server fixture, with a password and a Unix socket ---- */

static void start_redis(void)
{
    const char *const extra_args[] = {"--requirepass",
                                      PASSWORD,
                                      "--unixsocket",
                                      socket_path,
                                      "--unixsocketperm",
                                      "700",
                                      "--enable-debug-command",
                                      "local",
                                      NULL};
    if (fixture_redis_start_with(extra_args, socket_path) != 0)
        fail_msg("redis-server did not start listening on port %d (see %s/redis-server.log)",
                 fixture_redis.port, fixture_redis.dir);
}

static int group_setup(void **state)
{
    (void)state;
    if (fixture_redis_prepare() != 0)
        return -1;
    assert_true(fixture_redis.port > 0);
    snprintf(socket_path, sizeof(socket_path), "%s/redis.sock", fixture_redis.dir);
    snprintf(log_path, sizeof(log_path), "%s/test_redis.log", fixture_redis.dir);
    start_redis();
    log_init("test_redis", fixture_redis.dir, LOG_DEBUG);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    log_shutdown();
    fixture_redis_cleanup();
    return 0;
}

/* ---- loop helpers ---- */

static bool client_healthy(void *client)
{
    return redis_client_healthy(client);
}

static bool client_unhealthy(void *client)
{
    return !redis_client_healthy(client);
}

/* What a callback saw, copied out of the borrowed result. */
struct outcome {
    bool done;
    int calls;
    enum gw_err err;
    int type;
    long long integer;
    char str[256];
    char error[256];
};

static void record_outcome(const struct redis_result *result, void *arg)
{
    struct outcome *o = arg;
    o->done = true;
    o->calls++;
    o->err = result->err;
    o->type = result->reply ? result->reply->type : -1;
    o->integer = result->reply ? result->reply->integer : 0;
    snprintf(o->str, sizeof(o->str), "%s", result->reply && result->reply->str ? result->reply->str : "");
    snprintf(o->error, sizeof(o->error), "%s", result->error ? result->error : "");
}

/* Send argv (NULL-terminated) and wait for its one callback. */
static struct outcome command_wait(struct fixture_loop *loop, struct redis_client *client, const char *first,
                                   ...)
{
    const char *argv[16];
    int argc = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && argc < 16; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    struct outcome o = {0};
    enum gw_err err = redis_command_argv(client, record_outcome, &o, argc, argv, NULL);
    if (err) {
        o.err = err;
        o.calls = -1; /* refused synchronously: no callback */
        return o;
    }
    assert_true(fixture_run_until_flag(loop, &o.done, 10));
    assert_int_equal(o.calls, 1);
    return o;
}

static struct redis_client *connect_ready(struct fixture_loop *loop, const char *url, const char *password)
{
    struct redis_client *client = NULL;
    assert_int_equal(redis_client_create(loop->base, url, password, &client), GW_OK);
    assert_true(fixture_run_until(loop, client_healthy, client, 10));
    return client;
}

static char *tcp_url(char *out, size_t size, const char *userinfo, const char *path)
{
    snprintf(out, size, "redis://%s127.0.0.1:%d%s", userinfo, fixture_redis.port, path);
    return out;
}

static int count_in_log(const char *needle, long from_offset)
{
    FILE *f = fopen(log_path, "r");
    if (!f)
        return 0;
    fseek(f, from_offset, SEEK_SET);
    char line[4096];
    int n = 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

static long log_size(void)
{
    struct stat st;
    return stat(log_path, &st) == 0 ? (long)st.st_size : 0;
}

/* ---- tests ---- */

static void test_url_parsing(void **state)
{
    (void)state;
    struct redis_endpoint ep;
    const char *reason;

    assert_int_equal(redis_endpoint_parse("redis://localhost", &ep, &reason), GW_OK);
    assert_string_equal(ep.host, "127.0.0.1");
    assert_int_equal(ep.port, 6379);
    assert_int_equal(ep.db, 0);
    assert_null(ep.password);
    assert_string_equal(ep.address, "127.0.0.1:6379");
    redis_endpoint_free(&ep);

    assert_int_equal(redis_endpoint_parse("redis://:p%40ss%3Aw@10.0.0.5:6380/7", &ep, &reason), GW_OK);
    assert_string_equal(ep.password, "p@ss:w");
    assert_null(ep.user);
    assert_int_equal(ep.port, 6380);
    assert_int_equal(ep.db, 7);
    redis_endpoint_free(&ep);

    assert_int_equal(redis_endpoint_parse("redis://app:pw@[::1]:7000?db=3", &ep, &reason), GW_OK);
    assert_string_equal(ep.user, "app");
    assert_string_equal(ep.password, "pw");
    assert_string_equal(ep.host, "::1");
    assert_string_equal(ep.address, "[::1]:7000");
    assert_int_equal(ep.db, 3);
    redis_endpoint_free(&ep);

    assert_int_equal(redis_endpoint_parse("unix:///run/redis/redis.sock?db=4", &ep, &reason), GW_OK);
    assert_string_equal(ep.unix_path, "/run/redis/redis.sock");
    assert_null(ep.host);
    assert_int_equal(ep.db, 4);
    redis_endpoint_free(&ep);

    assert_int_equal(redis_endpoint_parse("redis://redis:6380/1", &ep, &reason), GW_OK);
    assert_string_equal(ep.host, "redis");
    assert_true(ep.host_is_name);
    assert_true(redis_endpoint_needs_lookup(&ep));
    assert_int_equal(ep.port, 6380);
    assert_string_equal(ep.address, "redis:6380");
    redis_endpoint_free(&ep);

    assert_int_equal(
        redis_endpoint_parse("redis-sentinel://app:p%40ss@10.0.0.1,s2.example:26380,[::1]/my-master/"
                             "3?sentinel_password=s%3Bp",
                             &ep, &reason),
        GW_OK);
    assert_null(ep.host);
    assert_true(redis_endpoint_needs_lookup(&ep));
    assert_int_equal(ep.sentinel_count, 3);
    assert_string_equal(ep.sentinels[0].host, "10.0.0.1");
    assert_int_equal(ep.sentinels[0].port, 26379);
    assert_string_equal(ep.sentinels[1].host, "s2.example");
    assert_int_equal(ep.sentinels[1].port, 26380);
    assert_string_equal(ep.sentinels[2].host, "::1");
    assert_string_equal(ep.sentinel_master, "my-master");
    assert_string_equal(ep.user, "app");
    assert_string_equal(ep.password, "p@ss");
    assert_string_equal(ep.sentinel_password, "s;p");
    assert_int_equal(ep.db, 3);
    assert_string_equal(ep.address, "sentinel my-master at 10.0.0.1:26379,s2.example:26380,[::1]:26379");
    struct redis_endpoint copy;
    redis_endpoint_copy(&copy, &ep);
    redis_endpoint_free(&ep);
    assert_string_equal(copy.sentinels[2].host, "::1");
    assert_string_equal(copy.sentinel_password, "s;p");
    assert_string_equal(copy.address, "sentinel my-master at 10.0.0.1:26379,s2.example:26380,[::1]:26379");
    redis_endpoint_free(&copy);

    const char *bad[] = {"redis://red!s:6379",
                         "redis://1.2.3",
                         "redis-sentinel://10.0.0.1",
                         "rediss://127.0.0.1",
                         "http://127.0.0.1",
                         "redis://127.0.0.1:0",
                         "redis://127.0.0.1:99999",
                         "redis://127.0.0.1/x",
                         "redis://:%zz@127.0.0.1",
                         "redis://[::1",
                         "unix://relative.sock",
                         "redis://127.0.0.1?foo=1",
                         "redis://",
                         "redis://:%00@127.0.0.1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        reason = NULL;
        if (redis_endpoint_parse(bad[i], &ep, &reason) != GW_ERR_CONFIG)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(reason);
        assert_null(ep.host);
    }

    struct event_base *base = event_base_new();
    struct redis_client *client = NULL;
    assert_int_equal(redis_client_create(base, "redis://db!example", NULL, &client), GW_ERR_CONFIG);
    assert_null(client);
    event_base_free(base);
}

static void test_password_db_and_commands(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    char url[128];
    struct redis_client *client = NULL;
    /* The override replaces the URL's (wrong) password, as REDIS_PASSWORD does. */
    assert_int_equal(
        redis_client_create(loop.base, tcp_url(url, sizeof(url), ":wrong@", "/3"), PASSWORD, &client), GW_OK);
    /* A command issued before the connection is up waits behind AUTH and SELECT. */
    struct outcome early = {0};
    assert_int_equal(
        redis_command(client, record_outcome, &early, "SET %s %b", "k:db3", "value\0x", (size_t)7), GW_OK);
    assert_true(fixture_run_until_flag(&loop, &early.done, 10));
    assert_int_equal(early.err, GW_OK);
    assert_string_equal(early.str, "OK");
    assert_true(redis_client_healthy(client));
    assert_true(redis_client_connected_since(client) > 0);

    struct outcome o = command_wait(&loop, client, "GET", "k:db3", NULL);
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.type, REDIS_REPLY_STRING);
    assert_string_equal(o.str, "value"); /* binary-safe: the NUL went over the wire */

    /* Another client on db 0 does not see it. */
    struct redis_client *db0 = connect_ready(&loop, tcp_url(url, sizeof(url), ":" PASSWORD "@", ""), NULL);
    o = command_wait(&loop, db0, "GET", "k:db3", NULL);
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.type, REDIS_REPLY_NIL);
    redis_client_free(db0);

    /* GETDEL consumes once (one-time codes). */
    o = command_wait(&loop, client, "GETDEL", "k:db3", NULL);
    assert_int_equal(o.type, REDIS_REPLY_STRING);
    o = command_wait(&loop, client, "GETDEL", "k:db3", NULL);
    assert_int_equal(o.err, GW_OK);
    assert_int_equal(o.type, REDIS_REPLY_NIL);

    o = command_wait(&loop, client, "SET", "code:x", "1", "NX", "EX", "60", NULL);
    assert_string_equal(o.str, "OK");
    o = command_wait(&loop, client, "SET", "code:x", "1", "NX", "EX", "60", NULL);
    assert_int_equal(o.type, REDIS_REPLY_NIL);
    o = command_wait(&loop, client, "INCR", "code:x", NULL);
    assert_int_equal(o.integer, 2);

    /* An error reply is GW_ERR_PROTOCOL with its text. */
    command_wait(&loop, client, "SET", "not-a-number", "abc", NULL);
    o = command_wait(&loop, client, "INCR", "not-a-number", NULL);
    assert_int_equal(o.err, GW_ERR_PROTOCOL);
    assert_int_equal(o.type, REDIS_REPLY_ERROR);
    assert_non_null(strstr(o.error, "not an integer"));

    /* Refused commands get no callback. */
    const char *refused[] = {"HELLO", "subscribe", "SELECT", "MONITOR", "auth"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        o = command_wait(&loop, client, refused[i], "3", NULL);
        assert_int_equal(o.err, GW_ERR_INVALID);
        assert_int_equal(o.calls, -1);
    }
    struct outcome unused = {0};
    assert_int_equal(redis_command(client, record_outcome, &unused, ""), GW_ERR_INVALID);
    assert_int_equal(redis_command(client, NULL, NULL, "PING"), GW_ERR_INVALID);
    assert_int_equal(redis_client_in_flight(client), 0);
    assert_true(redis_client_healthy(client));
    redis_client_free(client);
    fixture_loop_free(&loop);
}

static void test_wrong_password(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    long log_start = log_size();
    char url[128];
    struct redis_client *client = NULL;
    assert_int_equal(
        redis_client_create(loop.base, tcp_url(url, sizeof(url), "", ""), "not-the-password", &client),
        GW_OK);
    struct outcome queued = {0};
    assert_int_equal(redis_command(client, record_outcome, &queued, "PING"), GW_OK);
    assert_true(fixture_run_until_flag(&loop, &queued.done, 10));
    assert_int_equal(queued.err, GW_ERR_UNAVAILABLE);
    assert_non_null(strstr(queued.error, "WRONGPASS"));

    fixture_run_for(&loop, 0.3);
    assert_false(redis_client_healthy(client));
    assert_non_null(strstr(redis_client_last_error(client), "WRONGPASS"));
    assert_int_equal(redis_client_connected_since(client), 0);
    /* Redis is known to be unusable now: fail fast, no callback. */
    struct outcome o = command_wait(&loop, client, "PING", NULL);
    assert_int_equal(o.err, GW_ERR_UNAVAILABLE);
    assert_int_equal(o.calls, -1);
    assert_true(count_in_log("\"message\":\"Could not connect to Redis\"", log_start) >= 1);
    assert_true(count_in_log("WRONGPASS", log_start) >= 1);
    assert_int_equal(count_in_log("not-the-password", log_start), 0);

    /* No password at all: the handshake's PING gets NOAUTH. */
    struct redis_client *anonymous = NULL;
    assert_int_equal(redis_client_create(loop.base, url, NULL, &anonymous), GW_OK);
    fixture_run_for(&loop, 0.3);
    assert_false(redis_client_healthy(anonymous));
    assert_non_null(strstr(redis_client_last_error(anonymous), "NOAUTH"));
    redis_client_free(anonymous);
    redis_client_free(client);
    fixture_loop_free(&loop);
}

static void test_command_timeout(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    char url[128];
    struct redis_client *client = connect_ready(&loop, tcp_url(url, sizeof(url), ":" PASSWORD "@", ""), NULL);
    redis_client_set_timeouts(client, 200, 0);
    struct outcome slow = {0}, behind = {0};
    assert_int_equal(redis_command(client, record_outcome, &slow, "DEBUG SLEEP %s", "1"), GW_OK);
    assert_int_equal(redis_command(client, record_outcome, &behind, "PING"), GW_OK);
    assert_true(fixture_run_until_flag(&loop, &behind.done, 5));
    assert_int_equal(slow.err, GW_ERR_TIMEOUT);
    assert_int_equal(behind.err, GW_ERR_TIMEOUT);
    assert_false(redis_client_healthy(client)); /* stalled */
    assert_non_null(strstr(redis_client_last_error(client), "timed out"));
    assert_int_equal(redis_client_in_flight(client), 2);
    /* The late replies arrive and are dropped: still one callback each. */
    double deadline = fixture_now() + 5;
    while (redis_client_in_flight(client) > 0 && fixture_now() < deadline)
        event_base_loop(loop.base, EVLOOP_ONCE);
    assert_int_equal(redis_client_in_flight(client), 0);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(behind.calls, 1);
    assert_true(redis_client_healthy(client));
    struct outcome o = command_wait(&loop, client, "PING", NULL);
    assert_int_equal(o.err, GW_OK);
    assert_string_equal(o.str, "PONG");
    redis_client_free(client);
    fixture_loop_free(&loop);
}

/* A client that sends nothing still notices a server that stopped answering: after
 * REDIS_PROBE_IDLE_MS without a reply it PINGs, and that PING's timeout makes it unhealthy. When
 * the server answers again, the late PONG makes it healthy again. Another client blocks the
 * server with DEBUG SLEEP (as a paused or hung Redis would). */
static void test_idle_client_notices_a_server_that_stopped_answering(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    char url[128];
    tcp_url(url, sizeof(url), ":" PASSWORD "@", "");
    struct redis_client *idle = connect_ready(&loop, url, NULL);
    struct redis_client *blocker = connect_ready(&loop, url, NULL);
    redis_client_set_timeouts(idle, 300, 0);
    redis_client_set_timeouts(blocker, 20000, 0);
    struct outcome slept = {0};
    assert_int_equal(redis_command(blocker, record_outcome, &slept, "DEBUG SLEEP %s", "6"), GW_OK);
    /* idle sends nothing itself; only its probe can find out */
    assert_true(fixture_run_until(&loop, client_unhealthy, idle, 5));
    assert_non_null(strstr(redis_client_last_error(idle), "timed out"));
    assert_false(slept.done); /* the server really was still asleep */
    assert_true(fixture_run_until_flag(&loop, &slept.done, 15));
    assert_int_equal(slept.err, GW_OK);
    assert_true(fixture_run_until(&loop, client_healthy, idle, 10));
    redis_client_free(idle);
    redis_client_free(blocker);
    fixture_loop_free(&loop);
}

/* A server that accepts TCP but never answers: the handshake deadline ends the attempt. */
static void test_connect_timeout(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    assert_int_equal(bind(silent, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(silent, 16), 0);
    assert_int_equal(getsockname(silent, (struct sockaddr *)&sin, &len), 0);
    char url[128];
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", ntohs(sin.sin_port));

    struct redis_client *client = NULL;
    assert_int_equal(redis_client_create(loop.base, url, PASSWORD, &client), GW_OK);
    redis_client_set_timeouts(client, 5000, 200); /* only the next attempt gets 200 ms... */
    struct outcome queued = {0};
    assert_int_equal(redis_command(client, record_outcome, &queued, "PING"), GW_OK);
    /* ...so the first attempt runs into the default 2 s connect deadline. */
    assert_true(fixture_run_until_flag(&loop, &queued.done, 5));
    assert_int_equal(queued.err, GW_ERR_UNAVAILABLE);
    assert_non_null(strstr(queued.error, "connect timed out"));
    assert_false(redis_client_healthy(client));
    assert_non_null(strstr(redis_client_last_error(client), "connect timed out after 2000 ms"));
    fixture_run_for(&loop, 0.6);
    assert_non_null(strstr(redis_client_last_error(client), "connect timed out after 200 ms"));
    redis_client_free(client);
    close(silent);
    fixture_loop_free(&loop);
}

static void test_unix_socket(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    char url[300];
    snprintf(url, sizeof(url), "unix://%s?db=2", socket_path);
    struct redis_client *client = connect_ready(&loop, url, PASSWORD);
    assert_string_equal(redis_client_address(client), socket_path);
    struct outcome o = command_wait(&loop, client, "SET", "over-unix", "yes", NULL);
    assert_int_equal(o.err, GW_OK);
    o = command_wait(&loop, client, "GET", "over-unix", NULL);
    assert_string_equal(o.str, "yes");
    redis_client_free(client);
    fixture_loop_free(&loop);
}

struct free_in_callback {
    struct redis_client *client;
    struct outcome first, second;
};

static void free_from_callback(const struct redis_result *result, void *arg)
{
    struct free_in_callback *t = arg;
    record_outcome(result, &t->first);
    redis_client_free(t->client);
}

static void test_free_with_commands_in_flight(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    char url[128];
    tcp_url(url, sizeof(url), ":" PASSWORD "@", "");

    /* Freed from outside: each pending command gets GW_ERR_CLOSED once, before free returns. */
    struct redis_client *client = connect_ready(&loop, url, NULL);
    struct outcome a = {0}, b = {0};
    assert_int_equal(redis_command(client, record_outcome, &a, "PING"), GW_OK);
    assert_int_equal(redis_command(client, record_outcome, &b, "GET %s", "x"), GW_OK);
    redis_client_free(client);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.err, GW_ERR_CLOSED);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.err, GW_ERR_CLOSED);

    /* Freed from inside a reply callback: hiredis is on the stack, the free is deferred. */
    struct free_in_callback t = {0};
    t.client = connect_ready(&loop, url, NULL);
    assert_int_equal(redis_command(t.client, free_from_callback, &t, "PING"), GW_OK);
    assert_int_equal(redis_command(t.client, record_outcome, &t.second, "PING"), GW_OK);
    assert_true(fixture_run_until_flag(&loop, &t.first.done, 5));
    assert_int_equal(t.first.err, GW_OK);
    assert_int_equal(t.second.calls, 1);
    assert_int_equal(t.second.err, GW_ERR_CLOSED);
    fixture_run_for(&loop, 0.1);
    assert_int_equal(t.second.calls, 1);

    /* Freed while the first connection attempt is still in progress. */
    struct outcome c = {0};
    assert_int_equal(redis_client_create(loop.base, url, NULL, &client), GW_OK);
    assert_int_equal(redis_command(client, record_outcome, &c, "PING"), GW_OK);
    redis_client_free(client);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.err, GW_ERR_CLOSED);
    fixture_loop_free(&loop);
}

/* Last: stops and restarts the server. */
static void test_outage_and_reconnect(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    char url[128];
    struct redis_client *client =
        connect_ready(&loop, tcp_url(url, sizeof(url), ":" PASSWORD "@", "/1"), NULL);
    struct outcome o = command_wait(&loop, client, "SET", "survives", "no", NULL);
    assert_int_equal(o.err, GW_OK);

    long log_start = log_size();
    fixture_redis_stop();
    assert_true(fixture_run_until(&loop, client_unhealthy, client, 5));
    /* Fail fast while down: refused at once, no callback. */
    o = command_wait(&loop, client, "PING", NULL);
    assert_int_equal(o.err, GW_ERR_UNAVAILABLE);
    assert_int_equal(o.calls, -1);
    fixture_run_for(&loop, 1.5); /* several attempts: 100, 200, 400, 800 ms apart (jittered) */
    o = command_wait(&loop, client, "PING", NULL);
    assert_int_equal(o.err, GW_ERR_UNAVAILABLE);
    assert_false(redis_client_healthy(client));
    assert_int_equal(redis_client_connected_since(client), 0);
    assert_true(redis_client_last_error(client)[0] != '\0');
    /* The first failure is always logged; repeats within 5 s are not. */
    assert_int_equal(count_in_log("\"message\":\"Could not connect to Redis\"", log_start), 1);
    assert_int_equal(count_in_log("\"redis\":\"127.0.0.1:", log_start) >= 1, 1);

    start_redis();
    assert_true(fixture_run_until(&loop, client_healthy, client, 15));
    assert_true(count_in_log("\"message\":\"Connected to Redis\"", log_start) >= 1);
    o = command_wait(&loop, client, "SET", "after", "restart", NULL);
    assert_int_equal(o.err, GW_OK);
    o = command_wait(&loop, client, "GET", "after", NULL);
    assert_string_equal(o.str, "restart");
    redis_client_free(client);
    fixture_loop_free(&loop);
}

/* A name this machine's /etc/hosts maps to 127.0.0.1 other than "localhost" (which the URL
 * parser maps itself), so that the lookup path runs against the fixture's loopback server. */
static bool loopback_host_name(char *out, size_t size)
{
    FILE *f = fopen("/etc/hosts", "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *save = NULL, *address = strtok_r(line, " \t\r\n", &save);
        if (!address || strcmp(address, "127.0.0.1") != 0)
            continue;
        for (char *name = strtok_r(NULL, " \t\r\n", &save); name && !found;
             name = strtok_r(NULL, " \t\r\n", &save)) {
            if (name[0] == '#')
                break;
            struct redis_endpoint ep;
            const char *reason;
            char url[300];
            snprintf(url, sizeof(url), "redis://%s", name);
            if (redis_endpoint_parse(url, &ep, &reason) == GW_OK) {
                found = ep.host_is_name;
                redis_endpoint_free(&ep);
            }
            if (found)
                snprintf(out, size, "%s", name);
        }
    }
    fclose(f);
    return found;
}

static void test_host_name(void **state)
{
    (void)state;
    char name[256];
    if (!loopback_host_name(name, sizeof(name)))
        skip(); /* no /etc/hosts name for 127.0.0.1 besides localhost on this machine */
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    char url[400], expected[300];
    snprintf(url, sizeof(url), "redis://%s:%d/1", name, fixture_redis.port);
    long from = log_size();
    struct redis_client *client = connect_ready(&loop, url, PASSWORD);
    snprintf(expected, sizeof(expected), "%s:%d", name, fixture_redis.port);
    assert_string_equal(redis_client_address(client), expected);
    struct outcome o = command_wait(&loop, client, "SET", "by-name", "yes", NULL);
    assert_int_equal(o.err, GW_OK);
    o = command_wait(&loop, client, "GET", "by-name", NULL);
    assert_string_equal(o.str, "yes");
    snprintf(expected, sizeof(expected), "\"address\":\"127.0.0.1:%d\"", fixture_redis.port);
    assert_int_equal(count_in_log(expected, from), 1);
    redis_client_free(client);
    fixture_loop_free(&loop);
}

static bool last_error_says_cannot_resolve(void *client)
{
    return strstr(redis_client_last_error(client), "cannot resolve no-such-host.invalid") != NULL;
}

static void test_unresolvable_host_name(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    long from = log_size();
    struct redis_client *client = NULL;
    assert_int_equal(redis_client_create(loop.base, "redis://no-such-host.invalid:6379", NULL, &client),
                     GW_OK);
    /* the lookup runs on its own thread: nothing is known yet, and commands fail fast meanwhile */
    assert_false(redis_client_healthy(client));
    struct outcome o = command_wait(&loop, client, "PING", NULL);
    assert_int_equal(o.err, GW_ERR_UNAVAILABLE);
    assert_true(fixture_run_until(&loop, last_error_says_cannot_resolve, client, 10));
    assert_false(redis_client_healthy(client));
    assert_true(count_in_log("Could not connect to Redis", from) >= 1);
    assert_true(count_in_log("cannot resolve no-such-host.invalid", from) >= 1);
    redis_client_free(client);

    /* Freed while its lookup is still running: the thread finishes alone (ASan checks the rest). */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(redis_client_create(loop.base, "redis://no-such-host.invalid:6379", NULL, &client),
                         GW_OK);
        redis_client_free(client);
    }
    fixture_run_for(&loop, 0.2);
    fixture_loop_free(&loop);
}

/* ---- Sentinel ---- */

static struct {
    pid_t pid;
    int port;
} sentinel = {.pid = -1};

/* A real Sentinel (redis-server --sentinel) watching the fixture's server as "fxmaster". */
static void start_sentinel(void)
{
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/sentinel.conf", fixture_redis.dir);
    sentinel.port = fixture_free_port();
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f,
            "port %d\nbind 127.0.0.1\ndir %s\nlogfile %s/sentinel.log\nrequirepass sentinel-secret\n"
            "sentinel monitor fxmaster 127.0.0.1 %d 1\nsentinel auth-pass fxmaster %s\n",
            sentinel.port, fixture_redis.dir, fixture_redis.dir, fixture_redis.port, PASSWORD);
    fclose(f);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execlp("redis-server", "redis-server", conf, "--sentinel", (char *)NULL);
        _exit(127);
    }
    sentinel.pid = pid;
    for (int i = 0; i < 500 && !fixture_port_accepts(sentinel.port); i++)
        usleep(10000);
    assert_true(fixture_port_accepts(sentinel.port));
}

static void test_sentinel(void **state)
{
    (void)state;
    start_sentinel();
    int dead_port = fixture_free_port(); /* nothing listens there: the next Sentinel is asked */
    char url[400];
    snprintf(url, sizeof(url),
             "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d/fxmaster/2?sentinel_password=sentinel-secret",
             dead_port, sentinel.port);

    struct redis_endpoint ep;
    const char *reason;
    assert_int_equal(redis_endpoint_parse(url, &ep, &reason), GW_OK);
    struct redis_location where;
    char why[640];
    assert_int_equal(redis_locate_sync(&ep, 2000, &where, why, sizeof(why)), GW_OK);
    assert_int_equal(where.count, 1);
    assert_string_equal(where.hosts[0], "127.0.0.1");
    assert_int_equal(where.port, fixture_redis.port);
    char via[64];
    snprintf(via, sizeof(via), "127.0.0.1:%d", sentinel.port);
    assert_string_equal(where.via, via);
    /* A master the Sentinels do not watch, and a wrong Sentinel password: each reason says so. */
    free(ep.sentinel_master);
    ep.sentinel_master = strdup("nosuchmaster");
    assert_int_equal(redis_locate_sync(&ep, 2000, &where, why, sizeof(why)), GW_ERR_UNAVAILABLE);
    assert_non_null(strstr(why, "no Sentinel named the master nosuchmaster"));
    assert_non_null(strstr(why, "does not know a master named nosuchmaster"));
    assert_non_null(strstr(why, "Connection refused"));
    free(ep.sentinel_master);
    ep.sentinel_master = strdup("fxmaster");
    free(ep.sentinel_password);
    ep.sentinel_password = strdup("wrong");
    assert_int_equal(redis_locate_sync(&ep, 2000, &where, why, sizeof(why)), GW_ERR_UNAVAILABLE);
    assert_non_null(strstr(why, "refused sentinel_password"));
    assert_null(strstr(why, "wrong"));
    redis_endpoint_free(&ep);

    /* The client asks the Sentinels, confirms with ROLE, then works as usual on db 2. */
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    long from = log_size();
    struct redis_client *client = connect_ready(&loop, url, PASSWORD);
    struct outcome o = command_wait(&loop, client, "SET", "via-sentinel", "yes", NULL);
    assert_int_equal(o.err, GW_OK);
    o = command_wait(&loop, client, "GET", "via-sentinel", NULL);
    assert_string_equal(o.str, "yes");
    char expected[128];
    snprintf(expected, sizeof(expected), "\"address\":\"127.0.0.1:%d\"", fixture_redis.port);
    assert_int_equal(count_in_log(expected, from), 1);
    redis_client_free(client);

    /* A master the Sentinels do not know: unhealthy, and the reason is in last_error. */
    snprintf(url, sizeof(url), "redis-sentinel://127.0.0.1:%d/nosuchmaster?sentinel_password=sentinel-secret",
             sentinel.port);
    assert_int_equal(redis_client_create(loop.base, url, PASSWORD, &client), GW_OK);
    fixture_run_for(&loop, 0.5);
    assert_false(redis_client_healthy(client));
    assert_non_null(strstr(redis_client_last_error(client), "does not know a master named nosuchmaster"));
    redis_client_free(client);
    fixture_loop_free(&loop);
    fixture_stop_child(&sentinel.pid);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parsing),
        cmocka_unit_test(test_password_db_and_commands),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_command_timeout),
        cmocka_unit_test(test_idle_client_notices_a_server_that_stopped_answering),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_unix_socket),
        cmocka_unit_test(test_free_with_commands_in_flight),
        cmocka_unit_test(test_outage_and_reconnect),
        cmocka_unit_test(test_host_name),
        cmocka_unit_test(test_unresolvable_host_name),
        cmocka_unit_test(test_sentinel),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
