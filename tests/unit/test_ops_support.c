/*
 * test_ops_support.c - the operator commands' helpers: scrubbing for diagnostic bundles, human
 * durations, UTC times, and the enabled services (the same rule as auth's).
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/public_url.h"
#include "ops/ops_support.h"

static char *scrubbed(const char *text, const char *const *secrets, size_t n, long long *count)
{
    *count = 0;
    return ops_scrub(gw_strdup(text), secrets, n, count);
}

static void test_scrub_secrets_and_tokens(void **state)
{
    (void)state;
    const char *secrets[] = {"hunter2-password", "s3cr3t-value"};
    long long n;
    char *out =
        scrubbed("{\"pw\":\"hunter2-password\",\"x\":\"a s3cr3t-value b hunter2-password\"}", secrets, 2, &n);
    assert_null(strstr(out, "hunter2"));
    assert_null(strstr(out, "s3cr3t"));
    assert_int_equal(n, 3);
    free(out);

    const char *jwt = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl done";
    out = scrubbed(jwt, NULL, 0, &n);
    assert_string_equal(out, "Bearer [REDACTED-JWT] done");
    free(out);

    /* a refresh token or code: a long base64url run */
    out = scrubbed("refresh=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u&x=1", NULL, 0, &n);
    assert_string_equal(out, "refresh=[REDACTED-TOKEN]&x=1");
    assert_int_equal(n, 1);
    free(out);
}

static void test_scrub_keeps_ordinary_text(void **state)
{
    (void)state;
    const char *text =
        "{\"level\":\"info\",\"message\":\"Service restarted\",\"svc\":\"mcp-echo\","
        "\"path\":\"/tmp/mcpgw-e2e-abc/data/keys/jwt-rs256.pem\",\"kid\":\"ZOgMpgmpKSTK7MsStV2NQA\","
        "\"host\":\"auth.example.com\",\"ts\":\"2026-11-27T22:05:42Z\"}";
    long long n;
    char *out = scrubbed(text, NULL, 0, &n);
    assert_string_equal(out, text);
    assert_int_equal(n, 0);
    free(out);
    out = scrubbed("", NULL, 0, &n);
    assert_string_equal(out, "");
    free(out);
}

static void test_human_duration(void **state)
{
    (void)state;
    char b[64];
    ops_human_duration(0, b, sizeof(b));
    assert_string_equal(b, "0s");
    ops_human_duration(59, b, sizeof(b));
    assert_string_equal(b, "59s");
    ops_human_duration(300, b, sizeof(b));
    assert_string_equal(b, "5m");
    ops_human_duration(23 * 3600 + 59 * 60 + 10, b, sizeof(b));
    assert_string_equal(b, "23h 59m");
    ops_human_duration(-(2 * 86400 + 4 * 3600), b, sizeof(b));
    assert_string_equal(b, "2d 4h");
    ops_utc(0, b, sizeof(b));
    assert_string_equal(b, "1970-01-01 00:00:00 UTC");
}

static void test_services_follow_auths_rule(void **state)
{
    (void)state;
    /* MCP_OFF and MCP_REMOTE_OFF are switched off as the router does (MCP_<NAME>_ENABLED=false) */
    const char text[] =
        "MCP_ECHO_ENABLED=true\nMCP_FETCH_ENABLED=false\nMCP_MY_TOOL_COMMAND=/bin/cat\n"
        "MCP_OTHER_ENABLED=false\nMCP_SCOPES=mcp\nMCP_OFF_COMMAND=/bin/cat\nMCP_OFF_ENABLED=false\n"
        "MCP_REMOTE_OFF_URL=http://127.0.0.1:9/mcp\nMCP_REMOTE_OFF_ENABLED=no\n";
    struct config *cfg = NULL;
    struct buf errors;
    buf_init(&errors, 1 << 16);
    assert_int_equal(config_load_text(text, sizeof(text) - 1, false, &cfg, &errors), GW_OK);
    size_t n = 0;
    char **list = public_url_mcp_services(cfg, &n);
    assert_int_equal(n, 2);
    assert_string_equal(list[0], "mcp-echo");
    assert_string_equal(list[1], "mcp-my-tool");
    config_list_free(list, n);
    char *key = ops_key(cfg, "token:", "abc");
    assert_string_equal(key, "oauth:token:abc");
    free(key);
    config_free(cfg);
    buf_free(&errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scrub_secrets_and_tokens),
        cmocka_unit_test(test_scrub_keeps_ordinary_text),
        cmocka_unit_test(test_human_duration),
        cmocka_unit_test(test_services_follow_auths_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
