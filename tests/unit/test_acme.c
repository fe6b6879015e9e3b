/*
 * test_acme.c - the ACME pieces that need no ACME server: uacme's output read into a failure kind
 * and the operator's sentence (from real uacme 1.7.4 output and Let's Encrypt problem
 * documents), the supervisor's renewal schedule (daily, backoff, jitter bounds), ACME mode and
 * the host list, the new settings' validation, the challenge hook writing and removing files
 * (and refusing unsafe tokens), and installing uacme's files for the router (a mismatched key is
 * refused).
 */
#include "config_testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/acme_paths.h"
#include "ops/acme_client.h"
#include "ops/acme_outcome.h"
#include "ops/certificates.h"

static const char connection_refused[] =
    "uacme: challenge https://127.0.0.1:14999/chalZ/PbW failed with status invalid\n"
    "uacme: the server reported the following error:\n"
    "{\n"
    "    \"type\": \"urn:ietf:params:acme:error:connection\",\n"
    "    \"detail\": \"Get \\\"http://x.example.test:18080/.well-known/acme-challenge/vQD\\\": dial tcp "
    "127.0.0.1:18080: connect: connection refused\",\n"
    "    \"status\": 400\n"
    "}\n"
    "uacme: failed to authorize order at https://127.0.0.1:14999/my-order/ssq\n";

static void parse(const char *text, int code, struct acme_outcome *o)
{
    acme_outcome_parse(text, text ? strlen(text) : 0, code, o);
}

static void test_exit_codes(void **state)
{
    (void)state;
    struct acme_outcome o;
    parse("uacme: renaming a to b\n", 0, &o);
    assert_int_equal(o.status, ACME_ISSUED);
    assert_int_equal(o.failure, ACME_FAIL_NONE);
    parse("uacme: skipping cert.pem\n", 1, &o);
    assert_int_equal(o.status, ACME_CURRENT);
    parse(NULL, 2, &o);
    assert_int_equal(o.status, ACME_FAILED);
    assert_int_equal(o.failure, ACME_FAIL_OTHER);
    assert_string_equal(o.detail, "the ACME client failed (exit status 2)");
    parse("", -1, &o);
    assert_string_equal(o.detail, "the ACME client was killed or could not run");
}

static void test_connection_refused(void **state)
{
    (void)state;
    struct acme_outcome o;
    parse(connection_refused, 2, &o);
    assert_int_equal(o.status, ACME_FAILED);
    assert_int_equal(o.failure, ACME_FAIL_CONNECTION);
    assert_string_equal(o.problem_type, "urn:ietf:params:acme:error:connection");
    assert_non_null(strstr(o.detail, "connect: connection refused"));
    struct buf b;
    buf_init(&b, 8192);
    acme_outcome_explain(&o, "x.example.test", 18080, &b);
    assert_non_null(
        strstr(buf_cstr(&b), "port 80 unreachable: the CA could not connect to http://x.example.test/"));
    assert_non_null(strstr(buf_cstr(&b), "forwarded to HTTP_PORT 18080"));
    assert_non_null(strstr(buf_cstr(&b), "connection refused]"));
    buf_reset(&b);
    acme_outcome_explain(&o, "x.example.test", 80, &b);
    assert_null(strstr(buf_cstr(&b), "forwarded"));
    buf_free(&b);
}

static void test_problem_kinds(void **state)
{
    (void)state;
    static const struct {
        const char *type;
        enum acme_failure failure;
        const char *label;
    } cases[] = {
        {"dns", ACME_FAIL_DNS, "DNS not pointing here"},
        {"unauthorized", ACME_FAIL_UNAUTHORIZED, "challenge not served here (DNS points elsewhere?)"},
        {"incorrectResponse", ACME_FAIL_UNAUTHORIZED, "challenge not served here (DNS points elsewhere?)"},
        {"rateLimited", ACME_FAIL_RATE_LIMITED, "rate limited"},
        {"caa", ACME_FAIL_CAA, "CAA record forbids this CA"},
        {"rejectedIdentifier", ACME_FAIL_REJECTED, "name refused by the CA"},
        {"invalidContact", ACME_FAIL_ACCOUNT, "ACME account problem"},
        {"serverInternal", ACME_FAIL_OTHER, "ACME error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        snprintf(
            text, sizeof(text),
            "uacme: the server reported the following error:\n{\"type\": \"urn:ietf:params:acme:error:%s\", "
            "\"detail\": \"because\\nreasons\", \"status\": 400}\n",
            cases[i].type);
        struct acme_outcome o;
        parse(text, 2, &o);
        assert_int_equal(o.failure, cases[i].failure);
        assert_string_equal(acme_failure_label(o.failure), cases[i].label);
        assert_string_equal(o.detail, "because reasons"); /* one line */
    }
}

static void test_rate_limit_and_subproblems(void **state)
{
    (void)state;
    struct acme_outcome o;
    parse("uacme: the server reported the following error:\n{\n  \"type\": "
          "\"urn:ietf:params:acme:error:rateLimited\",\n"
          "  \"detail\": \"too many certificates (5) already issued for this exact set of domains in the "
          "last 168 "
          "hours: auth.example.com, retry after 2026-12-01 10:00:00 UTC\",\n  \"status\": 429\n}\n",
          2, &o);
    assert_int_equal(o.failure, ACME_FAIL_RATE_LIMITED);
    struct buf b;
    buf_init(&b, 8192);
    acme_outcome_explain(&o, "auth.example.com", 80, &b);
    assert_non_null(
        strstr(buf_cstr(&b), "rate limited: the CA refuses more certificates for auth.example.com"));
    assert_non_null(strstr(buf_cstr(&b), "retry after 2026-12-01"));
    buf_free(&b);
    /* a compound problem: the first subproblem says what happened */
    parse("uacme: the server reported the following error:\n{\"type\": "
          "\"urn:ietf:params:acme:error:compound\", "
          "\"detail\": \"several\", \"subproblems\": [{\"type\": \"urn:ietf:params:acme:error:dns\", "
          "\"detail\": "
          "\"NXDOMAIN looking up A for mcp-echo.example.com\"}]}\n",
          2, &o);
    assert_int_equal(o.failure, ACME_FAIL_DNS);
    assert_string_equal(o.detail, "NXDOMAIN looking up A for mcp-echo.example.com");
}

static void test_directory_failures(void **state)
{
    (void)state;
    struct acme_outcome o;
    parse("uacme: curl_get: GET https://127.0.0.1:14999/dir failed: SSL peer certificate or SSH remote key "
          "was not OK\n"
          "uacme: curl_get: waiting 5 seconds before retrying\n"
          "uacme: acme_get: curl_get failed\n"
          "uacme: failed to fetch directory at https://127.0.0.1:14999/dir\n",
          2, &o);
    assert_int_equal(o.failure, ACME_FAIL_SERVER_UNTRUSTED);
    assert_string_equal(o.detail, "uacme: failed to fetch directory at https://127.0.0.1:14999/dir");
    parse("uacme: curl_get: GET https://127.0.0.1:1/dir failed: Couldn't connect to server\n"
          "uacme: failed to fetch directory at https://127.0.0.1:1/dir\n",
          2, &o);
    assert_int_equal(o.failure, ACME_FAIL_SERVER_UNREACHABLE);
    /* a problem document that is not JSON: the last error line, kind unknown */
    parse("uacme: the server reported the following error:\n{ not json\nuacme: failed to authorize order\n",
          2, &o);
    assert_int_equal(o.failure, ACME_FAIL_OTHER);
    assert_string_equal(o.detail, "uacme: failed to authorize order");
}

static void test_schedule(void **state)
{
    (void)state;
    const long long day = 24LL * 3600 * 1000, ten_min = 10LL * 60 * 1000;
    assert_int_equal(acme_renewal_delay_ms(0, 0.5), day);
    assert_true(acme_renewal_delay_ms(0, 0.0) >= day * 9 / 10);
    assert_true(acme_renewal_delay_ms(0, 0.999999) <= day * 11 / 10);
    assert_int_equal(acme_renewal_delay_ms(1, 0.5), ten_min);
    assert_int_equal(acme_renewal_delay_ms(2, 0.5), 2 * ten_min);
    assert_int_equal(acme_renewal_delay_ms(4, 0.5), 8 * ten_min);
    assert_int_equal(acme_renewal_delay_ms(9, 0.5), day); /* capped at a day */
    assert_int_equal(acme_renewal_delay_ms(1000, 0.5), day);
    assert_int_equal(acme_renewal_delay_ms(1, 7.0), ten_min); /* out-of-range random: no jitter */
    for (int f = 0; f < 12; f++)
        for (double r = 0; r < 1; r += 0.125) {
            long long d = acme_renewal_delay_ms(f, r);
            assert_true(d >= ten_min * 9 / 10 && d <= day * 11 / 10);
        }
}

static void test_mode_and_hosts(void **state)
{
    (void)state;
    struct config *cfg =
        load_ok("BASE_DOMAIN=Gateway.Example.com\nMCP_ECHO_ENABLED=true\nMCP_FETCH_ENABLED=true\n"
                "MCP_MEMORY_COMMAND=x\nDATA_DIR=/var/lib/gw\n");
    assert_true(acme_enabled(cfg));
    size_t n = 0;
    char **hosts = acme_hosts(cfg, &n);
    assert_int_equal(n, 4);
    assert_string_equal(hosts[0], "auth.gateway.example.com");
    assert_string_equal(hosts[1], "mcp-echo.gateway.example.com");
    assert_string_equal(hosts[2], "mcp-fetch.gateway.example.com");
    assert_string_equal(hosts[3], "mcp-memory.gateway.example.com");
    config_list_free(hosts, n);
    char *d = acme_cert_dir(cfg);
    assert_string_equal(d, "/var/lib/gw/acme/certs");
    free(d);
    d = acme_state_dir(cfg);
    assert_string_equal(d, "/var/lib/gw/acme");
    free(d);
    config_free(cfg);

    cfg = load_ok("BASE_DOMAIN=example.com\nROUTING=path\nHTTPS_PORT=8443\nMCP_ECHO_ENABLED=true\n");
    hosts = acme_hosts(cfg, &n);
    assert_int_equal(n, 1);
    assert_string_equal(hosts[0], "example.com");
    config_list_free(hosts, n);
    config_free(cfg);
    cfg = load_ok("BASE_DOMAIN=example.com\nROUTING=path\nPUBLIC_ORIGIN=https://MCP.example.org:8443/\n");
    hosts = acme_hosts(cfg, &n);
    assert_int_equal(n, 1);
    assert_string_equal(hosts[0], "mcp.example.org");
    config_list_free(hosts, n);
    config_free(cfg);

    cfg = load_ok("BASE_DOMAIN=example.com\nHTTPS_PORT=0\n");
    assert_false(acme_enabled(cfg));
    config_free(cfg);
    cfg = load_ok("BASE_DOMAIN=example.com\nTLS_CERT_DIR=/etc/certs\n");
    assert_false(acme_enabled(cfg));
    config_free(cfg);
}

static void test_settings_validated(void **state)
{
    (void)state;
    char *v = validation_of(VALID_BASE "ACME_DIRECTORY_URL=http://acme.example.com/dir\n");
    assert_non_null(strstr(v, "ACME_DIRECTORY_URL"));
    assert_non_null(strstr(v, "https://"));
    free(v);
    v = validation_of(VALID_BASE "ACME_RENEW_DAYS=0\n");
    assert_non_null(strstr(v, "ACME_RENEW_DAYS"));
    free(v);
    v = validation_of(VALID_BASE "ACME_DIRECTORY_URL=https://acme-staging-v02.api.letsencrypt.org/directory\n"
                                 "ACME_RENEW_DAYS=45\n");
    assert_string_equal(v, "");
    free(v);
    struct config *cfg = load_ok(VALID_BASE);
    assert_value(cfg, "ACME_DIRECTORY_URL", "https://acme-v02.api.letsencrypt.org/directory");
    config_free(cfg);
}

static int hook(const char *method, const char *type, const char *token, const char *auth)
{
    char *argv[] = {"--challenge-hook", (char *)method, (char *)type, "auth.example.com",
                    (char *)token,      (char *)auth,   NULL};
    return acme_hook_main(6, argv);
}

static void test_hook(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcpgw-test-acme-hook-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char challenges[256], path[300];
    snprintf(challenges, sizeof(challenges), "%s/acme-challenge", dir);
    setenv("MCPGW_ACME_CHALLENGE_DIR", challenges, 1);
    snprintf(path, sizeof(path), "%s/tok_EN-1", challenges);

    assert_int_equal(hook("begin", "dns-01", "tok_EN-1", "tok_EN-1.thumb"), 1); /* declined */
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(hook("begin", "http-01", "tok_EN-1", "tok_EN-1.thumb_print"), 0);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char got[64] = "";
    assert_non_null(fgets(got, sizeof(got), f));
    fclose(f);
    assert_string_equal(got, "tok_EN-1.thumb_print");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644); /* the router reads it */
    assert_int_equal(hook("done", "http-01", "tok_EN-1", "tok_EN-1.thumb_print"), 0);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(hook("failed", "http-01", "tok_EN-1", "x"), 0); /* already gone: fine */

    /* unsafe tokens and authorizations never reach the file system */
    assert_int_equal(hook("begin", "http-01", "../escape", "../escape.x"), 1);
    assert_int_equal(hook("begin", "http-01", "a/b", "a/b.x"), 1);
    assert_int_equal(hook("begin", "http-01", "tok", "other.thumb"), 1);
    assert_int_equal(hook("begin", "http-01", "tok", "tok.thumb/../x"), 1);
    assert_int_equal(hook("nonsense", "http-01", "tok", "tok.x"), 2);
    char *short_argv[] = {"--challenge-hook", "begin", NULL};
    assert_int_equal(acme_hook_main(2, short_argv), 2);
    unsetenv("MCPGW_ACME_CHALLENGE_DIR");
    assert_int_equal(hook("begin", "http-01", "tok", "tok.x"), 2);
    remove_dir_tree(dir);
}

/* uacme's layout in dir/uacme for host, from a fresh self-signed pair (openssl CLI). */
static void make_uacme_pair(const char *dir, const char *host, const char *tag)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s/uacme/%s %s/uacme/private/%s && openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:P-256 -nodes -keyout %s/uacme/private/%s/key.pem -out %s/uacme/%s/cert.pem "
             "-subj /CN=%s -days 2 >/dev/null 2>&1",
             dir, host, dir, host, dir, host, dir, host, tag);
    assert_int_equal(system(cmd), 0);
}

static void test_install(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcpgw-test-acme-install-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char confdir[256], certs[256], path[400];
    snprintf(confdir, sizeof(confdir), "%s/uacme", dir);
    snprintf(certs, sizeof(certs), "%s/certs", dir);
    struct acme_client c = {.confdir = confdir};
    make_uacme_pair(dir, "a.example.com", "one");
    bool changed = false;
    long long not_after = 0;
    char why[256] = "";
    assert_true(acme_client_install(&c, certs, "a.example.com", &changed, &not_after, why, sizeof(why)));
    assert_true(changed);
    assert_true(not_after > time(NULL) && not_after <= time(NULL) + 2 * 86400 + 60);
    struct stat st;
    snprintf(path, sizeof(path), "%s/a.example.com.key", certs);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/a.example.com.crt", certs);
    assert_int_equal(stat(path, &st), 0);
    /* the same files again: nothing written */
    assert_true(acme_client_install(&c, certs, "a.example.com", &changed, &not_after, why, sizeof(why)));
    assert_false(changed);
    /* a key that is not the certificate's: refused, the installed pair stays */
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "
             "%s/uacme/private/a.example.com/key.pem "
             ">/dev/null 2>&1",
             dir);
    assert_int_equal(system(cmd), 0);
    assert_false(acme_client_install(&c, certs, "a.example.com", &changed, &not_after, why, sizeof(why)));
    assert_false(changed);
    assert_string_equal(why, "the key does not match the certificate");
    /* nothing issued for a host: the missing file is named */
    assert_false(acme_client_install(&c, certs, "b.example.com", &changed, &not_after, why, sizeof(why)));
    assert_non_null(strstr(why, "b.example.com/cert.pem"));
    remove_dir_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_problem_kinds),
        cmocka_unit_test(test_rate_limit_and_subproblems),
        cmocka_unit_test(test_directory_failures),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_mode_and_hosts),
        cmocka_unit_test(test_settings_validated),
        cmocka_unit_test(test_hook),
        cmocka_unit_test(test_install),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
