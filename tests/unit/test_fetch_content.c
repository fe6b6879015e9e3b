/*
 * test_fetch_content.c - the fetch tool's pure parts: robots.txt matching and its cache,
 * content kinds, UTF-8 repair and paging with the truncation hint.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/fetch_content.h"
#include "mcp/fetch_robots.h"

#define UA "ModelContextProtocol/1.0 (Autonomous; +https://github.com/modelcontextprotocol/servers)"

static bool allows(const char *robots, const char *path)
{
    return robots_allows(robots, strlen(robots), UA, path);
}

static void test_robots_groups(void **state)
{
    (void)state;
    const char *star = "User-agent: *\nDisallow: /private\n";
    assert_false(allows(star, "/private/x"));
    assert_true(allows(star, "/public"));
    /* Our own group wins over '*', whatever the order. */
    const char *ours = "User-agent: *\nDisallow: /\n\nUser-agent: ModelContextProtocol\nDisallow: /secret\n";
    assert_true(allows(ours, "/page"));
    assert_false(allows(ours, "/secret/a"));
    const char *other = "User-agent: Googlebot\nDisallow: /\n";
    assert_true(allows(other, "/anything"));
    /* Two agents sharing one group; case-insensitive keys and agent. */
    const char *shared = "user-agent: foo\nUSER-AGENT: modelcontextprotocol\ndisallow: /x # comment\n"
                         "User-agent: bar\nDisallow: /y\n";
    assert_false(allows(shared, "/x1"));
    assert_true(allows(shared, "/y1"));
    assert_true(allows("", "/"));
    assert_true(allows("garbage without colons\n\n", "/"));
    assert_true(allows("User-agent: *\nDisallow:\n", "/any"));
    assert_false(allows("User-agent: *\r\nDisallow: /\r\n", "/"));
}

static void test_robots_rules(void **state)
{
    (void)state;
    const char *r = "User-agent: *\nDisallow: /a\nAllow: /a/open\nDisallow: /*.pdf$\nDisallow: /q?s=*\n"
                    "Allow: /tie\nDisallow: /tie\n";
    assert_false(allows(r, "/a/b"));
    assert_true(allows(r, "/a/open/x")); /* longer Allow wins */
    assert_false(allows(r, "/doc/x.pdf"));
    assert_true(allows(r, "/doc/x.pdf?y")); /* '$' anchors the end */
    assert_false(allows(r, "/q?s=1"));
    assert_true(allows(r, "/tie")); /* equal length: Allow */
    assert_true(allows(r, "/b"));
    /* Percent-encoding compared in one spelling (RFC 9309 2.2.2). */
    const char *enc = "User-agent: *\nDisallow: /%7Euser\nDisallow: /caf%c3%a9\nDisallow: /a%2fb\n";
    assert_false(allows(enc, "/~user/x"));
    assert_false(allows(enc, "/caf\xC3\xA9"));
    assert_false(allows(enc, "/caf%C3%A9"));
    assert_false(allows(enc, "/a%2Fb"));
    assert_true(allows(enc, "/a/b")); /* an encoded slash is not a slash */
    assert_true(allows("User-agent: *\nDisallow: /%zz\n", "/x"));
    assert_false(allows("User-agent: *\nDisallow: /%zz\n", "/%zz"));
    /* Pathological wildcards finish. */
    assert_true(allows("User-agent: *\nDisallow: /*a*a*a*a*a*a*a*a*b$\n",
                       "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_robots_cache(void **state)
{
    (void)state;
    robots_cache_clear();
    enum robots_verdict v;
    char *text = NULL;
    assert_false(robots_cache_get("https://a.example", &v, &text));
    robots_cache_put("https://a.example", ROBOTS_USE_TEXT, "User-agent: *\n", 14);
    robots_cache_put("https://b.example", ROBOTS_DENY_ALL, NULL, 0);
    assert_true(robots_cache_get("https://a.example", &v, &text));
    assert_int_equal(v, ROBOTS_USE_TEXT);
    assert_string_equal(text, "User-agent: *\n");
    free(text);
    assert_true(robots_cache_get("https://b.example", &v, &text));
    assert_int_equal(v, ROBOTS_DENY_ALL);
    assert_null(text);
    /* More origins than slots: still consistent, the newest present. */
    char origin[64];
    for (int i = 0; i < 200; i++) {
        snprintf(origin, sizeof(origin), "https://h%d.example", i);
        robots_cache_put(origin, ROBOTS_ALLOW_ALL, NULL, 0);
    }
    assert_true(robots_cache_get(origin, &v, &text));
    assert_int_equal(v, ROBOTS_ALLOW_ALL);
    robots_cache_clear();
    assert_false(robots_cache_get(origin, &v, &text));
}

static void test_classify(void **state)
{
    (void)state;
    assert_int_equal(fetch_classify("text/html; charset=utf-8", "<p>", 3), FETCH_KIND_HTML);
    assert_int_equal(fetch_classify("application/xhtml+xml", "<p>", 3), FETCH_KIND_HTML);
    assert_int_equal(fetch_classify(NULL, "<!doctype html><html>", 21), FETCH_KIND_HTML);
    assert_int_equal(fetch_classify("", "plain words", 11), FETCH_KIND_TEXT);
    assert_int_equal(fetch_classify("application/json", "{}", 2), FETCH_KIND_JSON);
    assert_int_equal(fetch_classify("application/problem+json", "{}", 2), FETCH_KIND_JSON);
    assert_int_equal(fetch_classify("text/plain", "x", 1), FETCH_KIND_TEXT);
    assert_int_equal(fetch_classify("Text/CSV", "a,b", 3), FETCH_KIND_TEXT);
    assert_int_equal(fetch_classify("application/xml", "<a/>", 4), FETCH_KIND_TEXT);
    assert_int_equal(fetch_classify("application/javascript", "x", 1), FETCH_KIND_TEXT);
    assert_int_equal(fetch_classify("image/png", "\x89PNG", 4), FETCH_KIND_BINARY);
    assert_int_equal(fetch_classify("application/octet-stream", "x", 1), FETCH_KIND_BINARY);
    assert_int_equal(fetch_classify("application/pdf", "%PDF", 4), FETCH_KIND_BINARY);
    assert_int_equal(fetch_classify(NULL, "a\0b", 3), FETCH_KIND_BINARY);
    assert_int_equal(fetch_classify("text/plain", "a\0b", 3), FETCH_KIND_BINARY);
    char *cs = fetch_content_charset("text/html; charset=\"ISO-8859-1\"");
    assert_string_equal(cs, "ISO-8859-1");
    free(cs);
    assert_null(fetch_content_charset("text/html"));
}

static void test_utf8_repair(void **state)
{
    (void)state;
    char *t = fetch_utf8_text("ok \xC3\xA9 \xFF \xED\xA0\x80 \xF0\x9F\x98\x80", 17);
    assert_string_equal(t, "ok \xC3\xA9 \xEF\xBF\xBD \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD \xF0\x9F\x98\x80");
    free(t);
    t = fetch_utf8_text("a\0b", 3);
    assert_string_equal(t, "ab");
    free(t);
}

static void test_charsets(void **state)
{
    (void)state;
    char *t = fetch_text_from_charset("caf\xE9", 4, "ISO-8859-1");
    assert_string_equal(t, "caf\xC3\xA9");
    free(t);
    t = fetch_text_from_charset("\x93q\x94", 3, "windows-1252");
    assert_string_equal(t, "\xE2\x80\x9Cq\xE2\x80\x9D");
    free(t);
    t = fetch_text_from_charset("ok \xC3\xA9", 5, "utf-8");
    assert_string_equal(t, "ok \xC3\xA9");
    free(t);
    t = fetch_text_from_charset("ok\xFF", 3, "no-such-charset"); /* read as UTF-8, repaired */
    assert_string_equal(t, "ok\xEF\xBF\xBD");
    free(t);
    t = fetch_text_from_charset("a\xFF\xFE"
                                "b",
                                4, "UTF-16"); /* whatever it decodes to: valid UTF-8 */
    assert_non_null(t);
    free(t);
}

static void test_paging(void **state)
{
    (void)state;
    char *p = fetch_page("", "http://x/", "0123456789", 0, 4);
    assert_string_equal(
        p, "Contents of http://x/:\n0123\n\n<error>Content truncated. Call the fetch tool with a "
           "start_index of 4 to get more content.</error>");
    free(p);
    p = fetch_page("", "http://x/", "0123456789", 8, 4);
    assert_string_equal(p, "Contents of http://x/:\n89");
    free(p);
    p = fetch_page("", "http://x/", "0123456789", 6, 4); /* exactly to the end: no hint */
    assert_string_equal(p, "Contents of http://x/:\n6789");
    free(p);
    p = fetch_page("P:\n", "http://x/", "0123456789", 10, 4);
    assert_string_equal(p, "P:\nContents of http://x/:\n<error>No more content available.</error>");
    free(p);
    /* Characters, not bytes: "é" is one. */
    p = fetch_page("", "u", "\xC3\xA9\xC3\xA9\xC3\xA9", 1, 1);
    assert_string_equal(p, "Contents of u:\n\xC3\xA9\n\n<error>Content truncated. Call the fetch tool with a "
                           "start_index of 2 to get more content.</error>");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_robots_groups), cmocka_unit_test(test_robots_rules),
        cmocka_unit_test(test_robots_cache),  cmocka_unit_test(test_classify),
        cmocka_unit_test(test_utf8_repair),   cmocka_unit_test(test_charsets),
        cmocka_unit_test(test_paging),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
