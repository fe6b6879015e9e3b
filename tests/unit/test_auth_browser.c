/*
 * test_auth_browser.c - the pure parts of the browser half of `mcpgw auth`: HTML escaping,
 * signed session cookies, CSRF tokens, /authorize parameters, GitHub answers and login policy,
 * the local users file and password hashes, and whether a user may still sign in (user_policy).
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/authorize_params.h"
#include "auth/github.h"
#include "auth/local_users.h"
#include "auth/pages.h"
#include "auth/session.h"
#include "auth/user_policy.h"
#include "core/buf.h"
#include "core/config.h"

static const char *const scopes[] = {"mcp", "mcp:admin"};
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

/* ---- HTML escaping ---- */

static void test_html_escape(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(html_escape(&b, "<script>alert('x')</script>&\"q\""), GW_OK);
    assert_string_equal(buf_cstr(&b), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;q&quot;");
    buf_reset(&b);
    assert_int_equal(html_escape(&b, "plain text"), GW_OK);
    assert_string_equal(buf_cstr(&b), "plain text");
    buf_reset(&b);
    assert_int_equal(html_escape_n(&b, "a\0b", 3), GW_OK);
    assert_string_equal(buf_cstr(&b), "a&#65533;b");
    buf_reset(&b);
    assert_int_equal(html_escape(&b, NULL), GW_OK);
    assert_int_equal(b.len, 0);
    buf_free(&b);
    struct buf small;
    buf_init(&small, 4);
    assert_int_equal(html_escape(&small, "<<<<"), GW_ERR_TOO_LARGE);
    buf_free(&small);
}

/* ---- session cookies ---- */

static void test_session_round_trip(void **state)
{
    (void)state;
    session_setup_for_tests("0123456789abcdef0123456789abcdef", 32, true);
    assert_string_equal(session_cookie_name(), "__Host-mcpgw_session");
    char sid[SESSION_SID_LEN + 1];
    assert_int_equal(session_new_sid(sid), GW_OK);
    assert_int_equal(strlen(sid), SESSION_SID_LEN);
    struct session s = {
        .sid = sid, .sub = "github:42", .username = "octocat", .email = "o@example.com", .login_exp = 2000};
    char *value = session_encode(&s);
    struct session d;
    assert_int_equal(session_decode(value, strlen(value), 1000, &d), GW_OK);
    assert_string_equal(d.sid, sid);
    assert_string_equal(d.sub, "github:42");
    assert_string_equal(d.username, "octocat");
    assert_string_equal(d.email, "o@example.com");
    session_clear(&d);
    /* Expired login: the sid survives, the user does not. */
    assert_int_equal(session_decode(value, strlen(value), 2000, &d), GW_OK);
    assert_string_equal(d.sid, sid);
    assert_null(d.sub);
    session_clear(&d);
    /* Any change to the value breaks the signature. */
    for (size_t i = 0; value[i]; i++) {
        char saved = value[i];
        value[i] = saved == 'A' ? 'B' : 'A';
        assert_int_equal(session_decode(value, strlen(value), 1000, &d), GW_ERR_INVALID);
        assert_null(d.sid);
        value[i] = saved;
    }
    assert_int_equal(session_decode(value, strlen(value) - 1, 1000, &d), GW_ERR_INVALID);
    assert_int_equal(session_decode("nodot", 5, 1000, &d), GW_ERR_INVALID);
    /* Another key does not accept it. */
    session_setup_for_tests("another key, also 32 bytes long!", 32, false);
    assert_string_equal(session_cookie_name(), "mcpgw_session");
    assert_int_equal(session_decode(value, strlen(value), 1000, &d), GW_ERR_INVALID);
    free(value);
}

static void test_session_key_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/mcpgw_session_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char text[256];
    snprintf(text, sizeof text, "DATA_DIR=%s/data\n", dir);
    struct config *cfg = NULL;
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_int_equal(session_setup(cfg, "https://auth.example.com"), GW_OK);
    assert_true(session_cookie_secure());
    struct session s = {.sid = "AAAAAAAAAAAAAAAAAAAAAA"};
    char *value = session_encode(&s);
    /* A restart reads the same key: the cookie still verifies. */
    assert_int_equal(session_setup(cfg, "http://127.0.0.1:8000"), GW_OK);
    assert_false(session_cookie_secure());
    struct session d;
    assert_int_equal(session_decode(value, strlen(value), 0, &d), GW_OK);
    assert_string_equal(d.sid, s.sid);
    session_clear(&d);
    char path[512];
    snprintf(path, sizeof path, "%s/data/session.key", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 32);
    /* With GATEWAY_JWT_SECRET the key comes from the secret instead. */
    config_free(cfg);
    snprintf(text, sizeof text, "DATA_DIR=%s/data\nGATEWAY_JWT_SECRET=0123456789abcdef0123456789abcdef\n",
             dir);
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_int_equal(session_setup(cfg, "https://auth.example.com"), GW_OK);
    assert_int_equal(session_decode(value, strlen(value), 0, &d), GW_ERR_INVALID);
    config_free(cfg);
    /* With a configured signing key, two auths with different data directories (scale-out)
     * accept each other's cookies, and the key differs from the file's. */
    char other[] = "/tmp/mcpgw_session_XXXXXX";
    assert_non_null(mkdtemp(other));
    const char *key_b64 = "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCnNoYXJlZAo=";
    snprintf(text, sizeof text, "DATA_DIR=%s/data\nJWT_PRIVATE_KEY_B64=%s\n", dir, key_b64);
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_int_equal(session_setup(cfg, "https://auth.example.com"), GW_OK);
    config_free(cfg);
    char *shared = session_encode(&s);
    assert_int_equal(session_decode(value, strlen(value), 0, &d), GW_ERR_INVALID);
    snprintf(text, sizeof text, "DATA_DIR=%s/data\nJWT_PRIVATE_KEY_B64=%s\n", other, key_b64);
    assert_int_equal(config_load_text(text, strlen(text), false, &cfg, NULL), GW_OK);
    assert_int_equal(session_setup(cfg, "https://auth.example.com"), GW_OK);
    config_free(cfg);
    assert_int_equal(session_decode(shared, strlen(shared), 0, &d), GW_OK);
    assert_string_equal(d.sid, s.sid);
    session_clear(&d);
    free(shared);
    rmdir(other);
    free(value);
    unlink(path);
    snprintf(path, sizeof path, "%s/data", dir);
    rmdir(path);
    rmdir(dir);
}

static void test_cookie_find(void **state)
{
    (void)state;
    struct strview v;
    assert_true(cookie_find("a=1; mcpgw_session=abc.def; b=2", "mcpgw_session", &v));
    assert_int_equal(v.len, 7);
    assert_memory_equal(v.ptr, "abc.def", 7);
    assert_true(cookie_find("x_mcpgw_session=no;mcpgw_session=\"q\"", "mcpgw_session", &v));
    assert_int_equal(v.len, 1);
    assert_memory_equal(v.ptr, "q", 1);
    assert_false(cookie_find("xmcpgw_session=1", "mcpgw_session", &v));
    assert_false(cookie_find(NULL, "a", &v));
    assert_false(cookie_find("", "a", &v));
}

static void test_csrf(void **state)
{
    (void)state;
    session_setup_for_tests("0123456789abcdef0123456789abcdef", 32, true);
    char tok[CSRF_TOKEN_LEN + 1];
    csrf_token("sid1", "consent", "req1", tok);
    assert_true(csrf_valid("sid1", "consent", "req1", tok));
    assert_false(csrf_valid("sid2", "consent", "req1", tok));
    assert_false(csrf_valid("sid1", "login", "req1", tok));
    assert_false(csrf_valid("sid1", "consent", "req2", tok));
    assert_false(csrf_valid("sid1", "consent", "req1", NULL));
    assert_false(csrf_valid("sid1", "consent", "req1", ""));
    assert_false(csrf_valid(NULL, "consent", "req1", tok));
}

/* ---- /authorize parameters ---- */

static bool parse(const char *q, struct authorize_request *r)
{
    return authorize_request_parse(q, strlen(q), scopes, 2, r);
}

static void test_authorize_valid(void **state)
{
    (void)state;
    struct authorize_request r;
    assert_true(
        parse("response_type=code&client_id=abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&state=xyz"
              "&code_challenge=" CHALLENGE "&code_challenge_method=S256&scope=mcp+mcp&resource="
              "https%3A%2F%2Fmcp-echo.example.com%2Fmcp",
              &r));
    assert_string_equal(r.client_id, "abc");
    assert_string_equal(r.redirect_uri, "http://127.0.0.1:9/cb");
    assert_string_equal(r.state, "xyz");
    assert_string_equal(r.scope, "mcp");
    assert_string_equal(r.resource, "https://mcp-echo.example.com/mcp");
    assert_null(r.error);
    assert_null(r.page_error);
    authorize_request_free(&r);
    /* No scope: every supported scope. */
    assert_true(parse(
        "response_type=code&client_id=abc&code_challenge=" CHALLENGE "&code_challenge_method=S256", &r));
    assert_string_equal(r.scope, "mcp mcp:admin");
    assert_null(r.redirect_uri);
    authorize_request_free(&r);
}

static void expect_page_error(const char *q)
{
    struct authorize_request r;
    assert_false(parse(q, &r));
    assert_non_null(r.page_error);
    authorize_request_free(&r);
}

static void expect_error(const char *q, const char *error)
{
    struct authorize_request r;
    assert_false(parse(q, &r));
    assert_null(r.page_error);
    assert_non_null(r.error);
    assert_string_equal(r.error, error);
    assert_non_null(r.error_description);
    authorize_request_free(&r);
}

static void test_authorize_page_errors(void **state)
{
    (void)state;
    expect_page_error("response_type=code");
    expect_page_error("client_id=&response_type=code");
    expect_page_error("client_id=a&client_id=b");
    expect_page_error("client_id=a&redirect_uri=x&redirect_uri=y");
    expect_page_error("client_id=a&redirect_uri=https%3A%2F%2Fa%2F%23frag");
    expect_page_error("client_id=a%ZZ");
    expect_page_error("client_id=a%0Ab");
}

static void test_authorize_redirect_errors(void **state)
{
    (void)state;
    const char *base = "client_id=a&redirect_uri=https%3A%2F%2Fa%2Fcb&state=s";
    char q[1024];
    snprintf(q, sizeof q, "%s&code_challenge=%s&code_challenge_method=S256", base, CHALLENGE);
    expect_error(q, "invalid_request"); /* no response_type */
    snprintf(q, sizeof q, "%s&response_type=token&code_challenge=%s&code_challenge_method=S256", base,
             CHALLENGE);
    expect_error(q, "unsupported_response_type");
    snprintf(q, sizeof q, "%s&response_type=code", base);
    expect_error(q, "invalid_request"); /* PKCE missing */
    snprintf(q, sizeof q, "%s&response_type=code&code_challenge=%s", base, CHALLENGE);
    expect_error(q, "invalid_request"); /* method missing means plain */
    snprintf(q, sizeof q, "%s&response_type=code&code_challenge=%s&code_challenge_method=plain", base,
             CHALLENGE);
    expect_error(q, "invalid_request");
    snprintf(q, sizeof q, "%s&response_type=code&code_challenge=short&code_challenge_method=S256", base);
    expect_error(q, "invalid_request");
    snprintf(q, sizeof q, "%s&response_type=code&code_challenge=%s&code_challenge_method=S256&scope=admin",
             base, CHALLENGE);
    expect_error(q, "invalid_scope");
    snprintf(q, sizeof q, "%s&response_type=code&code_challenge=%s&code_challenge_method=S256&scope=mcp%%22x",
             base, CHALLENGE);
    expect_error(q, "invalid_scope");
    snprintf(q, sizeof q,
             "%s&response_type=code&code_challenge=%s&code_challenge_method=S256&resource=urn%%3Ax", base,
             CHALLENGE);
    expect_error(q, "invalid_target");
    snprintf(q, sizeof q,
             "%s&response_type=code&code_challenge=%s&code_challenge_method=S256&resource=https%%3A%%2F%%2Fa%"
             "%2F%%23f",
             base, CHALLENGE);
    expect_error(q, "invalid_target");
    snprintf(q, sizeof q,
             "%s&response_type=code&response_type=code&code_challenge=%s&code_challenge_method=S256", base,
             CHALLENGE);
    expect_error(q, "invalid_request");
    snprintf(q, sizeof q, "%s&response_type=code&code_challenge=%s&code_challenge_method=S256&request=x",
             base, CHALLENGE);
    expect_error(q, "request_not_supported");
    /* The state of an erroneous request is kept for the redirect. */
    struct authorize_request r;
    assert_false(parse("client_id=a&state=keep%20me&response_type=token", &r));
    assert_string_equal(r.state, "keep me");
    authorize_request_free(&r);
}

static void test_scope_subset(void **state)
{
    (void)state;
    assert_true(scope_is_subset("mcp", "mcp mcp:admin"));
    assert_true(scope_is_subset("", "mcp"));
    assert_true(scope_is_subset(NULL, "mcp"));
    assert_false(scope_is_subset("mcp:admin", "mcp"));
    assert_false(scope_is_subset("mc", "mcp"));
    assert_false(scope_is_subset("mcp", NULL));
}

/* ---- GitHub ---- */

static void test_github_policy(void **state)
{
    (void)state;
    struct github_policy p;
    github_policy_from_lists(" Alice , bob,,", NULL, &p);
    assert_true(github_user_allowed(&p, "alice"));
    assert_true(github_user_allowed(&p, "BOB"));
    assert_false(github_user_allowed(&p, "carol"));
    assert_false(github_user_allowed(&p, ""));
    char *orgs[] = {"acme"};
    assert_true(github_orgs_allowed(&p, orgs, 1));
    github_policy_free(&p);
    github_policy_from_lists("", NULL, &p);
    assert_false(github_user_allowed(&p, "alice"));
    github_policy_free(&p);
    github_policy_from_lists("*", "Acme", &p);
    assert_true(github_user_allowed(&p, "anyone"));
    assert_true(github_orgs_allowed(&p, orgs, 1));
    char *other[] = {"evil", "corp"};
    assert_false(github_orgs_allowed(&p, other, 2));
    assert_false(github_orgs_allowed(&p, NULL, 0));
    github_policy_free(&p);
}

static void test_github_parse(void **state)
{
    (void)state;
    char *tok = NULL;
    char err[64];
    const char *ok = "{\"access_token\":\"gho_abc\",\"token_type\":\"bearer\",\"scope\":\"read:user\"}";
    assert_int_equal(github_parse_token_response(ok, strlen(ok), &tok, err, sizeof err), GW_OK);
    assert_string_equal(tok, "gho_abc");
    free(tok);
    const char *bad =
        "{\"error\":\"bad_verification_code\",\"error_description\":\"The code passed is incorrect\"}";
    assert_int_equal(github_parse_token_response(bad, strlen(bad), &tok, err, sizeof err), GW_ERR_PROTOCOL);
    assert_null(tok);
    assert_string_equal(err, "bad_verification_code");
    assert_int_equal(github_parse_token_response("<html>", 6, &tok, err, sizeof err), GW_ERR_INVALID);
    assert_int_equal(github_parse_token_response("{}", 2, &tok, err, sizeof err), GW_ERR_INVALID);

    struct github_user u;
    const char *user = "{\"login\":\"octocat\",\"id\":583231,\"email\":null,\"name\":\"The Octocat\"}";
    assert_int_equal(github_parse_user(user, strlen(user), &u), GW_OK);
    assert_string_equal(u.login, "octocat");
    assert_int_equal(u.id, 583231);
    assert_null(u.email);
    github_user_clear(&u);
    assert_int_equal(github_parse_user("{\"login\":\"x\",\"id\":\"1\"}", 22, &u), GW_ERR_INVALID);
    assert_int_equal(github_parse_user("[]", 2, &u), GW_ERR_INVALID);

    const char *emails = "[{\"email\":\"a@x\",\"primary\":false,\"verified\":true},"
                         "{\"email\":\"b@x\",\"primary\":true,\"verified\":false},"
                         "{\"email\":\"c@x\",\"primary\":true,\"verified\":true}]";
    char *e = github_parse_primary_email(emails, strlen(emails));
    assert_string_equal(e, "c@x");
    free(e);
    assert_null(github_parse_primary_email("{}", 2));

    char **orgs = NULL;
    size_t n = 0;
    const char *o = "[{\"login\":\"Acme\",\"id\":1},{\"id\":2},{\"login\":\"beta\"}]";
    assert_int_equal(github_parse_orgs(o, strlen(o), &orgs, &n), GW_OK);
    assert_int_equal(n, 2);
    assert_string_equal(orgs[0], "acme");
    assert_string_equal(orgs[1], "beta");
    github_orgs_free(orgs, n);
    assert_int_equal(github_parse_orgs("{}", 2, &orgs, &n), GW_ERR_INVALID);
}

/* ---- local users ---- */

static void test_local_users(void **state)
{
    (void)state;
    assert_true(users_file_name_valid("alice"));
    assert_true(users_file_name_valid("a.b-c_d@e"));
    assert_false(users_file_name_valid(""));
    assert_false(users_file_name_valid("a:b"));
    assert_false(users_file_name_valid("a b"));
    const char *file = "# comment\n\nalice:$2b$12$abcdefghijklmnopqrstuuXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n"
                       "bob:plaintext\ncarol:$y$j9T$salt$hash  \n";
    char *h = users_file_find(file, strlen(file), "alice");
    assert_non_null(h);
    assert_string_equal(h, "$2b$12$abcdefghijklmnopqrstuuXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX");
    free(h);
    assert_null(users_file_find(file, strlen(file), "bob")); /* not a supported hash */
    assert_null(users_file_find(file, strlen(file), "al"));
    h = users_file_find(file, strlen(file), "carol");
    assert_string_equal(h, "$y$j9T$salt$hash");
    free(h);
}

/* ---- whether a user may still sign in (the refresh grant's check) ---- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_users_file_lookup(void **state)
{
    (void)state;
    char path[] = "/tmp/mcpgw-users-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "alice:$2b$12$abcdefghijklmnopqrstuuXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\nbob:plaintext\n");
    char *h = NULL;
    assert_int_equal(users_file_lookup(path, "alice", &h), GW_OK);
    assert_non_null(h);
    free(h);
    assert_int_equal(users_file_lookup(path, "alice", NULL), GW_OK);
    assert_int_equal(users_file_lookup(path, "bob", &h), GW_ERR_NOT_FOUND);
    assert_null(h);
    assert_int_equal(users_file_lookup(path, "carol", NULL), GW_ERR_NOT_FOUND);
    unlink(path);
    assert_int_equal(users_file_lookup(path, "alice", &h), GW_ERR_IO);
    assert_null(h);
    assert_null(users_file_find_in_file(path, "alice"));
}

static void test_user_policy_github(void **state)
{
    (void)state;
    struct github_policy gh;
    github_policy_from_lists("Octocat, bob", "acme", &gh);
    struct user_policy p = {.github = &gh};
    const char *why = NULL;
    assert_int_equal(user_policy_check(&p, "github:1", "octocat", &why), GW_OK);
    assert_null(why);
    assert_int_equal(user_policy_check(&p, "github:2", "BOB", &why), GW_OK);
    assert_int_equal(user_policy_check(&p, "github:3", "mallory", &why), GW_ERR_NOT_FOUND);
    assert_string_equal(why, "not in ALLOWED_GITHUB_USERS");
    assert_int_equal(user_policy_check(&p, "github:1", NULL, &why), GW_ERR_NOT_FOUND);
    assert_int_equal(user_policy_check(&p, "github:1", "", &why), GW_ERR_NOT_FOUND);
    /* a GitHub user is not a local user of the same name, and the other way round */
    assert_int_equal(user_policy_check(&p, "local:octocat", "octocat", &why), GW_ERR_NOT_FOUND);
    assert_int_equal(user_policy_check(&p, "octocat", "octocat", &why), GW_ERR_NOT_FOUND);
    assert_string_equal(why, "unknown identity provider");
    assert_int_equal(user_policy_check(&p, NULL, "octocat", &why), GW_ERR_NOT_FOUND);
    github_policy_free(&gh);
    github_policy_from_lists("", NULL, &gh);
    assert_int_equal(user_policy_check(&p, "github:1", "octocat", &why), GW_ERR_NOT_FOUND);
    assert_string_equal(why, "ALLOWED_GITHUB_USERS is empty");
    github_policy_free(&gh);
    /* "*": anyone who signed in with GitHub, whatever the record says the login was */
    github_policy_from_lists("*", NULL, &gh);
    assert_int_equal(user_policy_check(&p, "github:1", "someone", &why), GW_OK);
    assert_int_equal(user_policy_check(&p, "github:1", NULL, &why), GW_OK);
    github_policy_free(&gh);
    /* GitHub login switched off */
    p.github = NULL;
    assert_int_equal(user_policy_check(&p, "github:1", "octocat", &why), GW_ERR_NOT_FOUND);
    assert_string_equal(why, "GitHub login is no longer configured");
}

static void test_user_policy_local(void **state)
{
    (void)state;
    char path[] = "/tmp/mcpgw-users-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "alice:$2b$12$abcdefghijklmnopqrstuuXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n");
    struct user_policy p = {.local_users_file = path};
    const char *why = NULL;
    assert_int_equal(user_policy_check(&p, "local:alice", "alice", &why), GW_OK);
    assert_int_equal(user_policy_check(&p, "local:bob", "bob", &why), GW_ERR_NOT_FOUND);
    assert_string_equal(why, "not in LOCAL_USERS_FILE");
    assert_int_equal(user_policy_check(&p, "local:", "", &why), GW_ERR_NOT_FOUND);
    assert_int_equal(user_policy_check(&p, "local:a:b", "a:b", &why), GW_ERR_NOT_FOUND);
    assert_int_equal(user_policy_check(&p, "github:1", "alice", &why), GW_ERR_NOT_FOUND);
    /* the file is read at every check: an edit applies at once */
    write_file(path, "# alice left\n");
    assert_int_equal(user_policy_check(&p, "local:alice", "alice", &why), GW_ERR_NOT_FOUND);
    unlink(path);
    assert_int_equal(user_policy_check(&p, "local:alice", "alice", &why), GW_ERR_IO);
    assert_string_equal(why, "LOCAL_USERS_FILE cannot be read");
    p.local_users_file = "";
    assert_int_equal(user_policy_check(&p, "local:alice", "alice", &why), GW_ERR_NOT_FOUND);
}

static void test_password_hash(void **state)
{
    (void)state;
    char *h = local_password_hash("correct horse");
    assert_non_null(h);
    assert_memory_equal(h, "$2b$12$", 7);
    assert_true(local_password_verify(h, "correct horse"));
    assert_false(local_password_verify(h, "correct hors"));
    assert_false(local_password_verify(h, ""));
    assert_false(local_password_verify(NULL, "correct horse"));
    free(h);

    char path[] = "/tmp/mcpgw_users_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "alice:$2b$04$abcdefghijklmnopqrstuu5e1wNq6LtMzLVmK5aVs3Fu5VsXW4zVK\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char *errors = NULL;
    assert_int_equal(local_users_setup(path, &errors), GW_OK);
    assert_null(errors);
    FILE *f = fopen(path, "a");
    fputs("bad line\nbob:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\ncarl:$1$md5salt$x\n", f);
    fclose(f);
    assert_int_equal(local_users_setup(path, &errors), GW_ERR_CONFIG);
    /* line 2 is malformed and line 4's MD5-crypt hash unsupported; line 3's argon2id is fine */
    assert_non_null(strstr(errors, "line 2: expected NAME:HASH"));
    assert_null(strstr(errors, "line 3"));
    assert_non_null(strstr(errors, "line 4: unsupported hash"));
    free(errors);
    /* argon2id as the reference CLI writes it: echo -n pw-test | argon2 saltsaltsalt -id -t 2 -m 12 -p 1 -e
     */
    const char *argon =
        "$argon2id$v=19$m=4096,t=2,p=1$c2FsdHNhbHRzYWx0$VgscLb49t0nFnC0FqESCRe+rzzRZtzeDoD2kTtmaQ7o";
    assert_true(local_password_verify(argon, "pw-test"));
    assert_false(local_password_verify(argon, "pw-tesT"));
    assert_false(local_password_verify(argon, ""));
    assert_false(local_password_verify("$argon2id$v=19$m=4096,t=2,p=1$c2FsdA$broken", "pw-test"));
    unlink(path);
    assert_int_equal(local_users_setup("/nonexistent/users", &errors), GW_ERR_CONFIG);
    free(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escape),
        cmocka_unit_test(test_session_round_trip),
        cmocka_unit_test(test_session_key_file),
        cmocka_unit_test(test_cookie_find),
        cmocka_unit_test(test_csrf),
        cmocka_unit_test(test_authorize_valid),
        cmocka_unit_test(test_authorize_page_errors),
        cmocka_unit_test(test_authorize_redirect_errors),
        cmocka_unit_test(test_scope_subset),
        cmocka_unit_test(test_github_policy),
        cmocka_unit_test(test_github_parse),
        cmocka_unit_test(test_local_users),
        cmocka_unit_test(test_users_file_lookup),
        cmocka_unit_test(test_user_policy_github),
        cmocka_unit_test(test_user_policy_local),
        cmocka_unit_test(test_password_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
