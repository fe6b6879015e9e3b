/*
 * test_acme_challenge.c - HTTP-01 challenge files and the HTTPS redirect through the core
 * connection layer (in-process harness): a present token is served, traversal and odd names
 * are 404 without touching the file system, symlinks and oversize files are refused, other
 * methods 405; redirects keep the path and query, change the port, and refuse a bad Host.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../support/http_harness.h"
#include "core/config.h"
#include "core/log.h"
#include "router/acme_challenge.h"

static char dir[] = "/tmp/mcpgw-test-acme-XXXXXX";
static char challenge_dir[128];

static void handler(struct http_exchange *ex, void *arg)
{
    (void)arg;
    if (acme_challenge_route(ex, challenge_dir))
        return;
    https_redirect(ex, 8443);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("test_acme_challenge", NULL, LOG_ERROR);
    if (!mkdtemp(dir))
        return -1;
    snprintf(challenge_dir, sizeof(challenge_dir), "%s/acme-challenge", dir);
    mkdir(challenge_dir, 0700);
    char path[256];
    snprintf(path, sizeof(path), "%s/tok-EN_123", challenge_dir);
    write_file(path, "tok-EN_123.thumbprint", 21);
    snprintf(path, sizeof(path), "%s/secret", dir);
    write_file(path, "outside", 7);
    char link_path[256];
    snprintf(link_path, sizeof(link_path), "%s/link", challenge_dir);
    if (symlink(path, link_path) != 0)
        return -1;
    static char big[ACME_CHALLENGE_MAX_BYTES + 10];
    memset(big, 'x', sizeof(big));
    snprintf(path, sizeof(path), "%s/big", challenge_dir);
    write_file(path, big, sizeof(big));
    snprintf(path, sizeof(path), "%s/adir", challenge_dir);
    mkdir(path, 0700);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    remove_dir_tree(dir);
    log_shutdown();
    return 0;
}

/* Send one raw request; returns the raw response (caller frees). */
static char *exchange(const char *request)
{
    struct http_harness h;
    http_harness_init(&h, 16384, 65536);
    h.listener.opts.handler = handler;
    struct buf out = http_harness_exchange(&h, request, strlen(request));
    http_harness_free(&h);
    char *text = strdup(buf_cstr(&out));
    buf_free(&out);
    return text;
}

static void expect_status(const char *request, const char *status_line)
{
    char *resp = exchange(request);
    if (strncmp(resp, status_line, strlen(status_line)) != 0)
        fprintf(stderr, "request %s\ngot %.200s\n", request, resp);
    assert_memory_equal(resp, status_line, strlen(status_line));
    free(resp);
}

static void test_serves_challenge(void **state)
{
    (void)state;
    char *resp = exchange("GET /.well-known/acme-challenge/tok-EN_123 HTTP/1.1\r\nHost: a.example.com\r\n"
                          "Connection: close\r\n\r\n");
    assert_memory_equal(resp, "HTTP/1.1 200", 12);
    assert_non_null(strstr(resp, "\r\n\r\ntok-EN_123.thumbprint"));
    free(resp);
    expect_status(
        "HEAD /.well-known/acme-challenge/tok-EN_123 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "HTTP/1.1 200");
}

static void test_refuses_unsafe(void **state)
{
    (void)state;
    const char *paths[] = {
        "/.well-known/acme-challenge/",           "/.well-known/acme-challenge/missing",
        "/.well-known/acme-challenge/../secret",  "/.well-known/acme-challenge/%2e%2e%2fsecret",
        "/.well-known/acme-challenge/a/b",        "/.well-known/acme-challenge/link",
        "/.well-known/acme-challenge/big",        "/.well-known/acme-challenge/adir",
        "/.well-known/acme-challenge/tok.EN_123",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char req[512];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", paths[i]);
        char *resp = exchange(req);
        assert_memory_equal(resp, "HTTP/1.1 404", 12);
        assert_null(strstr(resp, "outside"));
        free(resp);
    }
    expect_status("POST /.well-known/acme-challenge/tok-EN_123 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
                  "Connection: close\r\n\r\n",
                  "HTTP/1.1 405");
    assert_true(acme_challenge_token_ok("abc-_XYZ09", 10));
    assert_false(acme_challenge_token_ok("..", 2));
    assert_false(acme_challenge_token_ok("", 0));
}

static void test_redirects(void **state)
{
    (void)state;
    char *resp =
        exchange("GET /mcp?x=1&y=2 HTTP/1.1\r\nHost: mcp-echo.example.com:8080\r\nConnection: close\r\n\r\n");
    assert_memory_equal(resp, "HTTP/1.1 308", 12);
    assert_non_null(strstr(resp, "\r\nLocation: https://mcp-echo.example.com:8443/mcp?x=1&y=2\r\n"));
    free(resp);
    resp =
        exchange("POST /token HTTP/1.1\r\nHost: [::1]:80\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_memory_equal(resp, "HTTP/1.1 308", 12);
    assert_non_null(strstr(resp, "\r\nLocation: https://[::1]:8443/token\r\n"));
    free(resp);
    /* The acme prefix itself is never redirected (the ACME server fetches over plain HTTP). */
    expect_status("GET /.well-known/acme-challenge/missing HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                  "HTTP/1.1 404");
    expect_status("GET / HTTP/1.1\r\nHost: evil.com/x\r\nConnection: close\r\n\r\n", "HTTP/1.1 400");
    expect_status("GET / HTTP/1.1\r\nHost: a:b\r\nConnection: close\r\n\r\n", "HTTP/1.1 400");
    expect_status("GET / HTTP/1.1\r\nHost: @evil\r\nConnection: close\r\n\r\n", "HTTP/1.1 400");
    char loc[256];
    assert_true(https_location_for("a.example:80", "/p?q", 443, loc, sizeof(loc)));
    assert_string_equal(loc, "https://a.example/p?q");
    assert_true(https_location_for("a.example", "http://other/x", 8443, loc, sizeof(loc)));
    assert_string_equal(loc, "https://a.example:8443/");
    assert_false(https_location_for("a.example", "/x y", 443, loc, sizeof(loc)));
    assert_false(https_location_for("a.example", "/x\r\nSet-Cookie: a", 443, loc, sizeof(loc)));
    assert_false(https_location_for(NULL, "/", 443, loc, sizeof(loc)));
    assert_false(https_location_for("a.example:", "/", 443, loc, sizeof(loc)));
    assert_false(https_location_for("[::1", "/", 443, loc, sizeof(loc)));
    assert_false(https_location_for("a.example", "/long", 443, loc, 12));
}

static void test_directory_from_config(void **state)
{
    (void)state;
    struct config *cfg = NULL;
    const char *text = "DATA_DIR=/var/lib/mcpgw\n";
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    char *d = acme_challenge_dir(cfg);
    assert_string_equal(d, "/var/lib/mcpgw/acme-challenge");
    free(d);
    config_free(cfg);
    text = "DATA_DIR=/x\nACME_CHALLENGE_DIR=/srv/acme\n";
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    d = acme_challenge_dir(cfg);
    assert_string_equal(d, "/srv/acme");
    free(d);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serves_challenge),
        cmocka_unit_test(test_refuses_unsafe),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_directory_from_config),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
