/*
 * test_auth_client_meta.c - redirect-URI rules (exact match, RFC 8252 §7.3 loopback ports and
 * the tricks that must not pass), registration metadata validation (RFC 7591 §2), and the
 * token-endpoint request parser.
 */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "auth/client_meta.h"
#include "auth/token_params.h"
#include "core/buf.h"

/* ---- redirect URI matching ---- */

static void test_exact_match(void **state)
{
    (void)state;
    assert_true(redirect_uri_matches("https://claude.ai/api/mcp/auth_callback",
                                     "https://claude.ai/api/mcp/auth_callback"));
    assert_true(redirect_uri_matches("cursor://anysphere.cursor/oauth", "cursor://anysphere.cursor/oauth"));
    assert_true(redirect_uri_matches("https://app.example/cb?x=1", "https://app.example/cb?x=1"));
}

static void test_prefix_and_suffix_tricks(void **state)
{
    (void)state;
    const char *reg = "https://app.example/cb";
    assert_false(redirect_uri_matches(reg, "https://app.example/cb/evil"));
    assert_false(redirect_uri_matches(reg, "https://app.example/cbx"));
    assert_false(redirect_uri_matches(reg, "https://app.example/c"));
    assert_false(redirect_uri_matches(reg, "https://app.example.evil.com/cb"));
    assert_false(redirect_uri_matches(reg, "https://app.example/cb?extra=1"));
    assert_false(redirect_uri_matches(reg, "https://app.example/cb/../cb"));
    assert_false(redirect_uri_matches(reg, "https://app.example:443/cb"));
    assert_false(redirect_uri_matches(reg, "https://app.example/cb "));
    assert_false(redirect_uri_matches(reg, ""));
    assert_false(redirect_uri_matches(reg, NULL));
}

static void test_userinfo_and_fragment_tricks(void **state)
{
    (void)state;
    assert_false(redirect_uri_matches("https://app.example/cb", "https://app.example@evil.com/cb"));
    assert_false(redirect_uri_matches("https://app.example/cb", "https://evil.com@app.example/cb"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://user@127.0.0.1:5000/cb"));
    assert_false(redirect_uri_matches("https://app.example/cb", "https://app.example/cb#frag"));
    assert_false(redirect_uri_matches("https://app.example/cb#", "https://app.example/cb#"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:8080/cb#x"));
}

static void test_case_is_significant(void **state)
{
    (void)state;
    assert_false(redirect_uri_matches("https://app.example/cb", "https://APP.example/cb"));
    assert_false(redirect_uri_matches("https://app.example/cb", "https://app.example/CB"));
    assert_false(redirect_uri_matches("https://app.example/cb", "HTTPS://app.example/cb"));
    assert_false(redirect_uri_matches("http://localhost/cb", "http://LOCALHOST:1234/cb"));
}

static void test_loopback_any_port(void **state)
{
    (void)state;
    assert_true(redirect_uri_matches("http://127.0.0.1/callback", "http://127.0.0.1:49152/callback"));
    assert_true(redirect_uri_matches("http://127.0.0.1:33418/callback", "http://127.0.0.1:1/callback"));
    assert_true(redirect_uri_matches("http://[::1]/cb", "http://[::1]:8080/cb"));
    assert_true(
        redirect_uri_matches("http://localhost:5555/oauth/callback", "http://localhost:6666/oauth/callback"));
    assert_true(redirect_uri_matches("http://127.0.0.1/", "http://127.0.0.1:80/"));
    assert_true(redirect_uri_matches("http://127.0.0.1/cb?a=1", "http://127.0.0.1:9/cb?a=1"));
    /* path, query and scheme stay exact */
    assert_false(redirect_uri_matches("http://127.0.0.1/callback", "http://127.0.0.1:49152/other"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb?a=1", "http://127.0.0.1:9/cb?a=2"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:9/cb?"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "https://127.0.0.1:9/cb"));
    /* only loopback registrations get the relaxation */
    assert_false(redirect_uri_matches("https://app.example/cb", "https://app.example:8443/cb"));
    assert_false(redirect_uri_matches("https://127.0.0.1/cb", "https://127.0.0.1:8443/cb"));
    assert_false(redirect_uri_matches("http://127.0.0.2/cb", "http://127.0.0.2:80/cb"));
}

/* RFC 3986 §6.2.3: an empty http path is "/"; VS Code registers "http://127.0.0.1" and
 * "http://127.0.0.1:33418/" and comes back on any port. */
static void test_loopback_empty_path_is_root(void **state)
{
    (void)state;
    assert_true(redirect_uri_matches("http://127.0.0.1", "http://127.0.0.1:54321/"));
    assert_true(redirect_uri_matches("http://127.0.0.1:33418", "http://127.0.0.1:54321/"));
    assert_true(redirect_uri_matches("http://127.0.0.1/", "http://127.0.0.1:54321"));
    assert_true(redirect_uri_matches("http://127.0.0.1:33418/", "http://127.0.0.1:33418"));
    assert_true(redirect_uri_matches("http://[::1]", "http://[::1]:8080/"));
    assert_true(redirect_uri_matches("http://localhost", "http://localhost:8080/"));
    assert_true(redirect_uri_matches("http://127.0.0.1?a=1", "http://127.0.0.1:9/?a=1"));
    /* still no prefix match, and the query stays exact */
    assert_false(redirect_uri_matches("http://127.0.0.1", "http://127.0.0.1:54321/cb"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:54321/"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://127.0.0.1:54321"));
    assert_false(redirect_uri_matches("http://127.0.0.1", "http://127.0.0.1:54321//"));
    assert_false(redirect_uri_matches("http://127.0.0.1", "http://127.0.0.1:54321/?a=1"));
    assert_false(redirect_uri_matches("http://127.0.0.1?a=1", "http://127.0.0.1:9/"));
    assert_false(redirect_uri_matches("http://127.0.0.1", "http://localhost:54321/"));
    /* everything that is not loopback http stays byte for byte */
    assert_false(redirect_uri_matches("https://app.example", "https://app.example/"));
    assert_false(redirect_uri_matches("https://app.example/", "https://app.example"));
    assert_false(redirect_uri_matches("https://127.0.0.1", "https://127.0.0.1/"));
}

static void test_no_localhost_ip_cross_match(void **state)
{
    (void)state;
    assert_false(redirect_uri_matches("http://localhost/cb", "http://127.0.0.1:8080/cb"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://localhost:8080/cb"));
    assert_false(redirect_uri_matches("http://[::1]/cb", "http://127.0.0.1:8080/cb"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://[::1]:8080/cb"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://127.1:8080/cb"));
    assert_false(redirect_uri_matches("http://127.0.0.1/cb", "http://2130706433:8080/cb"));
}

static void test_client_redirect_allowed(void **state)
{
    (void)state;
    json_t *rec = json_pack("{s:s, s:[ss]}", "client_id", "c1", "redirect_uris", "https://a.example/cb",
                            "http://127.0.0.1/cb");
    struct auth_client *c = NULL;
    assert_int_equal(auth_client_from_record(rec, &c), GW_OK);
    json_decref(rec);
    assert_true(auth_client_redirect_allowed(c, "https://a.example/cb"));
    assert_true(auth_client_redirect_allowed(c, "http://127.0.0.1:4000/cb"));
    assert_false(auth_client_redirect_allowed(c, "https://b.example/cb"));
    assert_string_equal(c->token_endpoint_auth_method, "client_secret_basic");
    assert_true(c->grant_refresh);
    auth_client_free(c);
    assert_false(auth_client_redirect_allowed(NULL, "https://a.example/cb"));
}

static void test_registrable(void **state)
{
    (void)state;
    const char *why;
    assert_true(redirect_uri_registrable("https://claude.ai/api/mcp/auth_callback", &why));
    assert_true(redirect_uri_registrable("http://localhost:3000/cb", &why));
    assert_true(redirect_uri_registrable("http://[::1]/cb", &why));
    assert_true(redirect_uri_registrable("com.example.app:/oauth", &why));
    assert_false(redirect_uri_registrable("http://app.example/cb", &why));
    assert_false(redirect_uri_registrable("https://app.example/cb#x", &why));
    assert_false(redirect_uri_registrable("https://u:p@app.example/cb", &why));
    assert_false(redirect_uri_registrable("javascript:alert(1)", &why));
    assert_false(redirect_uri_registrable("data:text/html,hi", &why));
    assert_false(redirect_uri_registrable("HTTP://localhost/cb", &why));
    assert_false(redirect_uri_registrable("/relative", &why));
    assert_false(redirect_uri_registrable("https:///nohost", &why));
    assert_false(redirect_uri_registrable("", &why));
    char long_uri[2100];
    memset(long_uri, 'a', sizeof(long_uri) - 1);
    memcpy(long_uri, "https://a.example/", 18);
    long_uri[sizeof(long_uri) - 1] = '\0';
    assert_false(redirect_uri_registrable(long_uri, &why));
}

/* ---- registration metadata ---- */

static json_t *validate_ok(const char *body)
{
    json_t *out = NULL;
    const char *error = NULL, *description = NULL;
    assert_int_equal(client_meta_validate(body, strlen(body), &out, &error, &description), GW_OK);
    assert_non_null(out);
    return out;
}

static const char *validate_error(const char *body)
{
    json_t *out = NULL;
    const char *error = NULL, *description = NULL;
    assert_int_equal(client_meta_validate(body, strlen(body), &out, &error, &description), GW_ERR_INVALID);
    assert_null(out);
    assert_non_null(description);
    return error;
}

static void test_metadata_defaults_and_unknown_fields(void **state)
{
    (void)state;
    json_t *m =
        validate_ok("{\"redirect_uris\":[\"https://a.example/cb\",\"https://a.example/cb\"],"
                    "\"future\":{\"x\":[1,2]},\"application_type\":\"native\",\"client_name\":\"n\"}");
    assert_string_equal(json_string_value(json_object_get(m, "token_endpoint_auth_method")),
                        "client_secret_basic");
    assert_int_equal(json_array_size(json_object_get(m, "redirect_uris")), 1); /* duplicates folded */
    assert_int_equal(json_array_size(json_object_get(m, "grant_types")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(m, "response_types"), 0)), "code");
    assert_null(json_object_get(m, "future"));
    assert_string_equal(json_string_value(json_object_get(m, "application_type")), "native");
    char h1[44], h2[44];
    client_meta_hash(m, h1);
    json_decref(m);
    m = validate_ok("{\"client_name\":\"n\",\"application_type\":\"native\",\"redirect_uris\":[\"https://"
                    "a.example/cb\"]}");
    client_meta_hash(m, h2);
    assert_string_equal(h1, h2); /* member order does not change the identity */
    json_decref(m);
}

static void test_metadata_errors(void **state)
{
    (void)state;
    assert_string_equal(validate_error("not json"), "invalid_client_metadata");
    assert_string_equal(validate_error("[]"), "invalid_client_metadata");
    assert_string_equal(validate_error("{}"), "invalid_redirect_uri");
    assert_string_equal(validate_error("{\"redirect_uris\":\"https://a.example/cb\"}"),
                        "invalid_redirect_uri");
    assert_string_equal(validate_error("{\"redirect_uris\":[1]}"), "invalid_redirect_uri");
    assert_string_equal(validate_error("{\"redirect_uris\":[\"http://evil.example/cb\"]}"),
                        "invalid_redirect_uri");
    assert_string_equal(validate_error("{\"redirect_uris\":[\"https://a/cb\\u0000x\"]}"),
                        "invalid_client_metadata");
    assert_string_equal(
        validate_error("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":[\"implicit\"]}"),
        "invalid_client_metadata");
    assert_string_equal(
        validate_error("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":[\"refresh_token\"]}"),
        "invalid_client_metadata");
    assert_string_equal(
        validate_error("{\"redirect_uris\":[\"https://a.example/cb\"],\"response_types\":[\"token\"]}"),
        "invalid_client_metadata");
    assert_string_equal(
        validate_error("{\"redirect_uris\":[\"https://a.example/cb\"],\"token_endpoint_auth_method\":1}"),
        "invalid_client_metadata");
    assert_string_equal(validate_error("{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":5}"),
                        "invalid_client_metadata");
    assert_string_equal(
        validate_error("{\"redirect_uris\":[\"https://a.example/cb\"],\"application_type\":\"tv\"}"),
        "invalid_client_metadata");
    assert_string_equal(validate_error("{\"redirect_uris\":[\"https://a.example/cb\"],\"a\":1,\"a\":2}"),
                        "invalid_client_metadata");
    struct buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"redirect_uris\":[");
    for (int i = 0; i < 11; i++)
        buf_printf(&b, "%s\"https://a.example/%d\"", i ? "," : "", i);
    buf_append_str(&b, "]}");
    assert_string_equal(validate_error(buf_cstr(&b)), "invalid_redirect_uri");
    buf_reset(&b);
    buf_append_str(&b, "{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":\"");
    for (int i = 0; i < CLIENT_META_MAX_BODY; i++)
        buf_append_char(&b, 'x');
    buf_append_str(&b, "\"}");
    assert_string_equal(validate_error(buf_cstr(&b)), "invalid_client_metadata");
    buf_free(&b);
}

/* ---- token request parsing ---- */

static const char *FORM_CT = "application/x-www-form-urlencoded";

static const char *parse_error(const char *ctype, const char *body)
{
    struct token_params p;
    const char *error = NULL, *description = NULL;
    assert_int_equal(token_params_parse(ctype, body, strlen(body), &p, &error, &description), GW_ERR_INVALID);
    assert_null(p.grant_type);
    return error;
}

static void test_token_params(void **state)
{
    (void)state;
    struct token_params p;
    const char *error, *description;
    const char *body = "grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb"
                       "&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&client_id=c%2B1&resource="
                       "https%3A%2F%2Fx%2Fmcp";
    assert_int_equal(token_params_parse("application/x-www-form-urlencoded; charset=UTF-8", body,
                                        strlen(body), &p, &error, &description),
                     GW_OK);
    assert_string_equal(p.redirect_uri, "http://127.0.0.1/cb");
    assert_string_equal(p.client_id, "c+1");
    assert_string_equal(p.resource, "https://x/mcp");
    assert_null(p.client_secret);
    token_params_free(&p);
    assert_null(p.code);

    assert_string_equal(parse_error("application/json", "grant_type=refresh_token&refresh_token=x"),
                        "invalid_request");
    assert_string_equal(parse_error(NULL, "grant_type=refresh_token&refresh_token=x"), "invalid_request");
    assert_string_equal(parse_error(FORM_CT, "grant_type=password&username=a"), "unsupported_grant_type");
    assert_string_equal(parse_error(FORM_CT, "code=x"), "invalid_request");
    assert_string_equal(parse_error(FORM_CT, "grant_type=refresh_token"), "invalid_request");
    assert_string_equal(parse_error(FORM_CT, "grant_type=refresh_token&refresh_token=a&refresh_token=b"),
                        "invalid_request");
    assert_string_equal(
        parse_error(FORM_CT, "grant_type=refresh_token&refresh_token=a&resource=x&resource=y"),
        "invalid_target");
    assert_string_equal(parse_error(FORM_CT, "grant_type=authorization_code&code=x&redirect_uri=y"),
                        "invalid_request");
    assert_string_equal(
        parse_error(FORM_CT, "grant_type=authorization_code&code=x&redirect_uri=y&code_verifier=short"),
        "invalid_grant");
    assert_string_equal(parse_error(FORM_CT, "grant_type=authorization_code&code=x&code_verifier="
                                             "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
                        "invalid_request");
    assert_string_equal(parse_error(FORM_CT, "grant_type=refresh_token&refresh_token=%zz"),
                        "invalid_request");
    assert_string_equal(parse_error(FORM_CT, "grant_type=refresh_token&refresh_token=a%00b"),
                        "invalid_request");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_match),
        cmocka_unit_test(test_prefix_and_suffix_tricks),
        cmocka_unit_test(test_userinfo_and_fragment_tricks),
        cmocka_unit_test(test_case_is_significant),
        cmocka_unit_test(test_loopback_any_port),
        cmocka_unit_test(test_loopback_empty_path_is_root),
        cmocka_unit_test(test_no_localhost_ip_cross_match),
        cmocka_unit_test(test_client_redirect_allowed),
        cmocka_unit_test(test_registrable),
        cmocka_unit_test(test_metadata_defaults_and_unknown_fields),
        cmocka_unit_test(test_metadata_errors),
        cmocka_unit_test(test_token_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
