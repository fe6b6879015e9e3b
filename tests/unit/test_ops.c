/*
 * test_ops.c - the supervisor's service table (which services, their command lines, ports and
 * health endpoints from the configuration), the control socket protocol, and the probes.
 */
#include "testutil.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "ops/control.h"
#include "ops/service_table.h"

static const char help_all[] = "Commands:\n"
                               "  auth             OAuth\n"
                               "  echo             MCP echo\n"
                               "  router           the edge\n"
                               "  stdio-proxy      stdio\n"
                               "  up               start\n";

static struct config *load(const char *text)
{
    struct buf errors;
    buf_init(&errors, 1 << 16);
    struct config *cfg = NULL;
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, &errors), GW_OK);
    buf_free(&errors);
    return cfg;
}

static void build(const char *text, const char *env_file, struct service_table *t)
{
    struct config *cfg = load(text);
    struct buf errors;
    buf_init(&errors, 1 << 16);
    assert_int_equal(service_table_build(cfg, env_file, false, t, &errors), GW_OK);
    buf_free(&errors);
    config_free(cfg);
}

static bool argv_has(char **argv, const char *a, const char *b)
{
    for (size_t i = 0; argv && argv[i]; i++)
        if (strcmp(argv[i], a) == 0 && (!b || (argv[i + 1] && strcmp(argv[i + 1], b) == 0)))
            return true;
    return false;
}

static void test_default_services_in_start_order(void **state)
{
    (void)state;
    service_set_help_text(help_all);
    struct service_table t;
    build("REDIS_URL=redis://127.0.0.1:6390/0\nREDIS_PASSWORD=pw\nDATA_DIR=/srv/gw\nAUTH_PORT=8100\n"
          "ADMIN_PORT=8181\nHTTP_PORT=8180\nMCP_ECHO_PORT=3101\n",
          "/etc/gw.env", &t);
    assert_int_equal(t.count, 4);
    assert_string_equal(t.items[0].name, "redis");
    assert_string_equal(t.items[1].name, "auth");
    assert_string_equal(t.items[2].name, "router");
    assert_string_equal(t.items[3].name, "mcp-echo");

    const struct service_spec *redis = &t.items[0];
    assert_true(redis->managed);
    assert_int_equal(redis->kind, SERVICE_REDIS);
    assert_int_equal(redis->health_port, 6390);
    assert_string_equal(redis->argv[0], "redis-server");
    assert_true(argv_has(redis->argv, "--appendonly", "yes"));
    assert_true(argv_has(redis->argv, "--requirepass", "pw"));
    assert_true(argv_has(redis->argv, "--dir", "/srv/gw/redis"));
    assert_true(argv_has(redis->argv, "--port", "6390"));
    assert_string_equal(redis->redis_password, "pw");

    const struct service_spec *auth = &t.items[1];
    assert_string_equal(auth->argv[1], "auth");
    assert_true(argv_has(auth->argv, "--env-file", "/etc/gw.env"));
    assert_int_equal(auth->health_port, 8100);
    assert_string_equal(auth->health_path, "/health");

    const struct service_spec *router = &t.items[2];
    assert_int_equal(router->health_port, 8181); /* /health lives on the admin port */
    assert_int_equal(router->nports, 3);         /* HTTP, HTTPS (no certificate files: ACME), admin */
    assert_int_equal(router->ports[0], 8180);
    assert_int_equal(router->ports[1], 443);
    assert_string_equal(router->port_vars[1], "HTTPS_PORT");
    assert_string_equal(router->port_vars[2], "ADMIN_PORT");

    assert_int_equal(t.items[3].health_port, 3101);
    assert_string_equal(t.items[3].argv[1], "echo");
    service_table_free(&t);
}

/* Only the router faces the network: the rest listen on INTERNAL_BIND_ADDRESS, and the health
 * checks (and stats, diagnostics) connect where each one listens, loopback for a wildcard. */
static void test_listen_and_health_addresses(void **state)
{
    (void)state;
    service_set_help_text(help_all);
    static const struct {
        const char *text, *router_bind, *router_health, *internal_bind, *internal_health;
    } cases[] = {
        {"", "0.0.0.0", "127.0.0.1", "127.0.0.1", "127.0.0.1"},
        {"BIND_ADDRESS=127.0.0.1\nINTERNAL_BIND_ADDRESS=127.0.0.2\n", "127.0.0.1", "127.0.0.1", "127.0.0.2",
         "127.0.0.2"},
        {"BIND_ADDRESS=192.0.2.1\nINTERNAL_BIND_ADDRESS=0.0.0.0\n", "192.0.2.1", "192.0.2.1", "0.0.0.0",
         "127.0.0.1"},
        {"INTERNAL_BIND_ADDRESS=::\n", "0.0.0.0", "127.0.0.1", "::", "::1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        snprintf(text, sizeof(text), "%sMCP_ECHO_ENABLED=true\nMCP_X_COMMAND=run-x\n", cases[i].text);
        struct service_table t;
        build(text, NULL, &t);
        const struct service_spec *router = service_table_find(&t, "router");
        assert_string_equal(router->bind_host, cases[i].router_bind);
        assert_string_equal(router->health_host, cases[i].router_health);
        static const char *const internal[] = {"auth", "mcp-echo", "mcp-x"};
        for (size_t j = 0; j < 3; j++) {
            const struct service_spec *s = service_table_find(&t, internal[j]);
            assert_non_null(s);
            assert_string_equal(s->bind_host, cases[i].internal_bind);
            assert_string_equal(s->health_host, cases[i].internal_health);
        }
        const struct service_spec *redis = service_table_find(&t, "redis");
        assert_string_equal(redis->bind_host, "127.0.0.1"); /* REDIS_URL's host, whatever the rest */
        service_table_free(&t);
    }
}

static void test_aliases(void **state)
{
    (void)state;
    service_set_help_text(help_all);
    struct service_table t;
    build("MCP_ECHO_ENABLED=true\n", NULL, &t);
    assert_ptr_equal(service_table_find(&t, "traefik"), service_table_find(&t, "router"));
    assert_non_null(service_table_find(&t, "TRAEFIK"));
    assert_ptr_equal(service_table_find(&t, "echo"), service_table_find(&t, "mcp-echo"));
    assert_null(service_table_find(&t, "nginx"));
    assert_string_equal(service_canonical_name("traefik"), "router");
    assert_string_equal(service_canonical_name("auth"), "auth");
    service_table_free(&t);
}

static void test_missing_subcommands_are_noted_not_started(void **state)
{
    (void)state;
    service_set_help_text("Commands:\n  echo   x\n  up   y\n");
    struct service_table t;
    build("MCP_FETCH_ENABLED=true\nMCP_MEMORY_COMMAND=npx -y @modelcontextprotocol/server-memory\n"
          "MCP_MEMORY_PORT=3005\n",
          NULL, &t);
    assert_int_equal(t.count, 2); /* redis, mcp-echo */
    assert_null(service_table_find(&t, "auth"));
    assert_non_null(strstr(buf_cstr(&t.notes), "auth: this build has no `mcpgw auth`"));
    assert_non_null(
        strstr(buf_cstr(&t.notes), "mcp-fetch: MCP_FETCH_ENABLED=true but this build has no `mcpgw fetch`"));
    assert_non_null(
        strstr(buf_cstr(&t.notes), "mcp-memory: MCP_MEMORY_COMMAND is set but this build has no"));
    service_table_free(&t);
}

static void test_stdio_servers_and_disabled_echo(void **state)
{
    (void)state;
    service_set_help_text(help_all);
    struct service_table t;
    build("MCP_ECHO_ENABLED=false\nMCP_MEMORY_COMMAND=npx -y @modelcontextprotocol/server-memory\n"
          "MCP_MEMORY_PORT=3005\nMCP_GIT_TOOLS_COMMAND=uvx "
          "mcp-server-git\nMCP_OFF_COMMAND=x\nMCP_OFF_PORT=3007\n"
          "MCP_OFF_ENABLED=false\n",
          NULL, &t);
    assert_null(service_table_find(&t, "mcp-echo"));
    const struct service_spec *mem = service_table_find(&t, "mcp-memory");
    assert_non_null(mem);
    assert_string_equal(mem->argv[1], "stdio-proxy");
    assert_true(argv_has(mem->argv, "--port", "3005"));
    assert_true(argv_has(mem->argv, "--", "/bin/sh"));
    assert_true(argv_has(mem->argv, "-c", "exec npx -y @modelcontextprotocol/server-memory"));
    assert_int_equal(mem->health_port, 3005);
    assert_true(argv_has(mem->argv, "--name", "mcp-memory"));
    /* no port: the first automatic one, where the router looks for it too */
    const struct service_spec *git = service_table_find(&t, "mcp-git-tools");
    assert_non_null(git);
    assert_int_equal(git->health_port, 3002);
    assert_true(argv_has(git->argv, "--port", "3002"));
    assert_null(service_table_find(&t, "mcp-off"));
    service_table_free(&t);
}

static void test_remote_redis_is_watched_not_started(void **state)
{
    (void)state;
    service_set_help_text(help_all);
    struct service_table t;
    build("REDIS_URL=redis://:secret@10.1.2.3:6400/2\n", NULL, &t);
    const struct service_spec *redis = service_table_find(&t, "redis");
    assert_false(redis->managed);
    assert_null(redis->argv);
    assert_string_equal(redis->health_host, "10.1.2.3");
    assert_int_equal(redis->health_port, 6400);
    assert_string_equal(redis->redis_password, "secret");
    assert_int_equal(redis->nports, 0);
    service_table_free(&t);
}

static void test_bad_redis_url_is_a_config_error(void **state)
{
    (void)state;
    struct config *cfg = load("REDIS_URL=http://nope\n");
    struct service_table t;
    struct buf errors;
    buf_init(&errors, 4096);
    assert_int_equal(service_table_build(cfg, NULL, false, &t, &errors), GW_ERR_CONFIG);
    assert_non_null(strstr(buf_cstr(&errors), "ERROR: Invalid value for REDIS_URL"));
    buf_free(&errors);
    config_free(cfg);
}

static void test_run_dir(void **state)
{
    (void)state;
    struct config *cfg = load("DATA_DIR=/var/lib/gw\n");
    char *dir = service_run_dir(cfg);
    assert_string_equal(dir, "/var/lib/gw/run");
    free(dir);
    config_free(cfg);
    cfg = load("DATA_DIR=/var/lib/gw\nRUN_DIR=/run/gw\n");
    dir = service_run_dir(cfg);
    assert_string_equal(dir, "/run/gw");
    free(dir);
    config_free(cfg);
}

/* ---- probes against closed ports ---- */

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&sin, sizeof(sin));
    socklen_t len = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd); /* bound, never listened: refused */
    return ntohs(sin.sin_port);
}

static void test_probes_report_why(void **state)
{
    (void)state;
    struct service_spec s;
    memset(&s, 0, sizeof(s));
    snprintf(s.health_host, sizeof(s.health_host), "127.0.0.1");
    s.health_port = closed_port();
    s.health_path = "/health";
    s.kind = SERVICE_HTTP;
    struct buf detail;
    buf_init(&detail, 4096);
    assert_false(service_probe(&s, 1000, &detail));
    assert_non_null(strstr(buf_cstr(&detail), "Connection refused"));
    buf_reset(&detail);
    s.kind = SERVICE_REDIS;
    assert_false(service_probe(&s, 1000, &detail));
    assert_non_null(strstr(buf_cstr(&detail), "Could not connect to Redis at 127.0.0.1:"));
    assert_false(service_port_answers("127.0.0.1", s.health_port, 500));
    buf_free(&detail);
}

/* ---- control socket ---- */

struct server_arg {
    int listen_fd;
};

static void *serve_one(void *p)
{
    struct server_arg *a = p;
    int fd;
    while ((fd = accept(a->listen_fd, NULL, NULL)) < 0)
        usleep(1000);
    json_t *req = control_read_request(fd, 2000);
    const char *cmd = req ? json_string_value(json_object_get(req, "cmd")) : NULL;
    json_t *reply = json_pack("{s:b, s:s}", "ok", 1, "echo", cmd ? cmd : "");
    control_write_reply(fd, reply);
    json_decref(reply);
    json_decref(req);
    close(fd);
    return NULL;
}

static void test_control_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcpgw-test-ops-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    assert_true(control_socket_path(dir, path, sizeof(path)));
    assert_non_null(strstr(path, "/supervisor.sock"));

    json_t *req = json_pack("{s:s}", "cmd", "status"), *reply = NULL;
    assert_int_equal(control_call(path, req, 1000, &reply), GW_ERR_UNAVAILABLE);
    assert_null(reply);

    struct server_arg a = {.listen_fd = control_listen(path)};
    assert_true(a.listen_fd >= 0);
    pthread_t th;
    pthread_create(&th, NULL, serve_one, &a);
    assert_int_equal(control_call(path, req, 5000, &reply), GW_OK);
    pthread_join(th, NULL);
    assert_true(json_is_true(json_object_get(reply, "ok")));
    assert_string_equal(json_string_value(json_object_get(reply, "echo")), "status");
    json_decref(reply);
    json_decref(req);
    close(a.listen_fd);
    unlink(path);
    rmdir(dir);

    char long_dir[300];
    memset(long_dir, 'a', sizeof(long_dir) - 1);
    long_dir[0] = '/';
    long_dir[sizeof(long_dir) - 1] = '\0';
    assert_false(control_socket_path(long_dir, path, sizeof(path)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_services_in_start_order),
        cmocka_unit_test(test_listen_and_health_addresses),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_missing_subcommands_are_noted_not_started),
        cmocka_unit_test(test_stdio_servers_and_disabled_echo),
        cmocka_unit_test(test_remote_redis_is_watched_not_started),
        cmocka_unit_test(test_bad_redis_url_is_a_config_error),
        cmocka_unit_test(test_run_dir),
        cmocka_unit_test(test_probes_report_why),
        cmocka_unit_test(test_control_round_trip),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    service_set_help_text("");
    return rc;
}
