/*
 * test_urlform.c - percent-coding, form/query parsing and URL splitting.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/urlform.h"

static void assert_decodes(const char *input, bool form, const char *expected)
{
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(url_decode(input, strlen(input), form, &out, &len), GW_OK);
    assert_string_equal(out, expected);
    assert_int_equal(len, strlen(expected));
    free(out);
}

static void assert_decode_fails(const char *input, size_t len)
{
    char *out = (char *)1;
    assert_int_equal(url_decode(input, len, true, &out, NULL), GW_ERR_INVALID);
    assert_null(out);
}

static void assert_view(struct strview view, const char *expected)
{
    if (!expected) {
        assert_int_equal(view.len, 0);
        return;
    }
    if (view.len != strlen(expected) || memcmp(view.ptr, expected, view.len) != 0)
        fprintf(stderr, "got \"%.*s\", expected \"%s\"\n", (int)view.len, view.ptr ? view.ptr : "", expected);
    assert_true(strview_eq_cstr(view, expected));
}

/* ---- decoding and encoding ---- */

static void test_decode(void **state)
{
    (void)state;
    assert_decodes("", true, "");
    assert_decodes("plain", true, "plain");
    assert_decodes("a+b%20c", true, "a b c");
    assert_decodes("a+b%20c", false, "a+b c");
    assert_decodes("%2B%2b%41%7e", true, "++A~");
    assert_decodes("%E2%9C%93", false, "\xE2\x9C\x93");
    assert_decodes("%25", false, "%");
    assert_decodes("100%25+sure", true, "100% sure");

    assert_decode_fails("%", 1);
    assert_decode_fails("%4", 2);
    assert_decode_fails("%G1", 3);
    assert_decode_fails("%1G", 3);
    assert_decode_fails("abc%", 4);
    assert_decode_fails("%00", 3);
    assert_decode_fails("a\0b", 3);
    /* A length shorter than the string: "%4" of "%41" is malformed. */
    assert_decode_fails("%41", 2);
}

static void test_encode(void **state)
{
    (void)state;
    struct buf out;
    buf_init(&out, 1024);
    const char input[] = "AZaz09-._~ !\"#$%&'()*+,/:;=?@[]\x01\xff";
    assert_int_equal(url_encode(&out, input, sizeof input - 1), GW_OK);
    assert_string_equal(buf_cstr(&out), "AZaz09-._~%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3D"
                                        "%3F%40%5B%5D%01%FF");
    /* Round trip. */
    char *decoded = NULL;
    size_t len = 0;
    assert_int_equal(url_decode(out.data, out.len, false, &decoded, &len), GW_OK);
    assert_int_equal(len, sizeof input - 1);
    assert_memory_equal(decoded, input, len);
    free(decoded);

    /* The cap is honoured. */
    struct buf small;
    buf_init(&small, 4);
    assert_int_equal(url_encode(&small, "a b", 3), GW_ERR_TOO_LARGE);
    buf_free(&small);
    buf_free(&out);
}

static void test_append_query_param(void **state)
{
    (void)state;
    struct buf url;
    buf_init(&url, 1024);
    buf_append_str(&url, "https://client.example/cb");
    assert_int_equal(url_append_query_param(&url, "code", "a/b c"), GW_OK);
    assert_int_equal(url_append_query_param(&url, "state", "x&y=z"), GW_OK);
    assert_string_equal(buf_cstr(&url), "https://client.example/cb?code=a%2Fb%20c&state=x%26y%3Dz");
    buf_reset(&url);
    buf_append_str(&url, "https://c.example/cb?keep=1");
    assert_int_equal(url_append_query_param(&url, "error", "access_denied"), GW_OK);
    assert_string_equal(buf_cstr(&url), "https://c.example/cb?keep=1&error=access_denied");
    buf_reset(&url);
    buf_append_str(&url, "https://c.example/cb?");
    assert_int_equal(url_append_query_param(&url, "a", ""), GW_OK);
    assert_string_equal(buf_cstr(&url), "https://c.example/cb?a=");
    buf_free(&url);
}

/* ---- forms ---- */

static void test_form_parse(void **state)
{
    (void)state;
    struct form form;
    const char body[] =
        "grant_type=authorization_code&code=abc%2F123&redirect_uri=https%3A%2F%2Fx.example%2Fcb"
        "&&scope=read+write&flag&empty=&=anon&code=again";
    assert_int_equal(form_parse(body, sizeof body - 1, &form), GW_OK);
    assert_int_equal(form.count, 8);
    assert_string_equal(form.pairs[0].name, "grant_type");
    assert_string_equal(form.pairs[0].value, "authorization_code");
    assert_string_equal(form_get(&form, "code"), "abc/123"); /* the first one */
    assert_string_equal(form_get(&form, "redirect_uri"), "https://x.example/cb");
    assert_string_equal(form_get(&form, "scope"), "read write");
    assert_string_equal(form_get(&form, "flag"), "");
    assert_string_equal(form_get(&form, "empty"), "");
    assert_string_equal(form_get(&form, ""), "anon");
    assert_null(form_get(&form, "missing"));
    assert_string_equal(form.pairs[7].value, "again");
    assert_int_equal(form.pairs[7].value_len, 5);
    assert_int_equal(form_count(&form, "code"), 2);
    assert_true(form_is_repeated(&form, "code"));
    assert_false(form_is_repeated(&form, "scope"));
    assert_false(form_is_repeated(&form, "missing"));
    assert_string_equal(form_first_repeated(&form), "code");
    form_free(&form);
    assert_int_equal(form.count, 0);
    assert_null(form.pairs);
    form_free(&form); /* twice is harmless */

    assert_int_equal(form_parse("a=1&b=2", 7, &form), GW_OK);
    assert_null(form_first_repeated(&form));
    form_free(&form);

    assert_int_equal(form_parse("", 0, &form), GW_OK);
    assert_int_equal(form.count, 0);
    assert_int_equal(form_parse("&&&", 3, &form), GW_OK);
    assert_int_equal(form.count, 0);
    form_free(&form);

    /* Names and values are decoded: an encoded '=' or '&' is data, not syntax. */
    assert_int_equal(form_parse("a%3Db=c%26d", 11, &form), GW_OK);
    assert_int_equal(form.count, 1);
    assert_string_equal(form.pairs[0].name, "a=b");
    assert_string_equal(form.pairs[0].value, "c&d");
    form_free(&form);
}

static void test_form_errors_and_cap(void **state)
{
    (void)state;
    struct form form;
    assert_int_equal(form_parse("a=1&b=%zz", 9, &form), GW_ERR_INVALID);
    assert_int_equal(form.count, 0);
    assert_null(form.pairs);
    assert_int_equal(form_parse("a=1&b%=2", 8, &form), GW_ERR_INVALID);
    assert_int_equal(form_parse("a=%00", 5, &form), GW_ERR_INVALID);
    assert_int_equal(form_parse("a=x\0y", 5, &form), GW_ERR_INVALID);

    struct buf body;
    buf_init(&body, 1 << 20);
    for (int i = 0; i < FORM_MAX_PAIRS; i++)
        buf_printf(&body, "%sk%d=v", i ? "&" : "", i);
    assert_int_equal(form_parse(body.data, body.len, &form), GW_OK);
    assert_int_equal(form.count, FORM_MAX_PAIRS);
    assert_string_equal(form_get(&form, "k255"), "v");
    form_free(&form);
    buf_append_str(&body, "&one=more");
    assert_int_equal(form_parse(body.data, body.len, &form), GW_ERR_TOO_LARGE);
    assert_int_equal(form.count, 0);
    assert_null(form.pairs);
    buf_free(&body);
}

/* ---- URL splitting ---- */

static void test_split_full_url(void **state)
{
    (void)state;
    const char *url = "https://user:pa%40ss@Example.COM:8443/a/b%20c?x=1&y=2#frag";
    struct url_parts parts;
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_view(parts.scheme, "https");
    assert_true(parts.has_authority);
    assert_true(parts.has_userinfo);
    assert_true(parts.has_password);
    assert_view(parts.userinfo, "user:pa%40ss");
    assert_view(parts.user, "user");
    assert_view(parts.password, "pa%40ss");
    assert_view(parts.host, "Example.COM");
    assert_view(parts.port, "8443");
    assert_int_equal(parts.port_number, 8443);
    assert_view(parts.path, "/a/b%20c");
    assert_true(parts.has_query);
    assert_view(parts.query, "x=1&y=2");
    assert_true(parts.has_fragment);
    assert_view(parts.fragment, "frag");
    assert_false(parts.host_is_ipv6);
}

static void test_split_shapes(void **state)
{
    (void)state;
    struct url_parts parts;
    const char *url = "http://[::1]:6379";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_view(parts.host, "::1");
    assert_true(parts.host_is_ipv6);
    assert_int_equal(parts.port_number, 6379);
    assert_view(parts.path, "");

    url = "http://[2001:db8::a]/p";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_view(parts.host, "2001:db8::a");
    assert_int_equal(parts.port_number, -1);
    assert_view(parts.path, "/p");

    url = "redis://:secret@127.0.0.1:6379/0";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_view(parts.user, "");
    assert_view(parts.password, "secret");
    assert_true(parts.has_password);
    assert_view(parts.host, "127.0.0.1");
    assert_view(parts.path, "/0");

    url = "redis://user@host";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_true(parts.has_userinfo);
    assert_false(parts.has_password);
    assert_view(parts.user, "user");
    assert_view(parts.host, "host");

    url = "unix:///run/redis.sock";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_view(parts.scheme, "unix");
    assert_true(parts.has_authority);
    assert_view(parts.host, "");
    assert_view(parts.path, "/run/redis.sock");

    url = "mailto:someone@example.com";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_false(parts.has_authority);
    assert_view(parts.path, "someone@example.com");

    /* The last '@' ends the userinfo, as browsers read it. */
    url = "http://a@b@evil.example/";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_view(parts.userinfo, "a@b");
    assert_view(parts.host, "evil.example");

    /* An '@' after the authority is path, not userinfo. */
    url = "https://good.example/@evil.example";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_false(parts.has_userinfo);
    assert_view(parts.host, "good.example");

    url = "http://h:/?#";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_int_equal(parts.port_number, -1);
    assert_true(parts.has_query);
    assert_true(parts.has_fragment);
    assert_view(parts.query, "");

    url = "http://h?q";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_view(parts.host, "h");
    assert_view(parts.path, "");
    assert_view(parts.query, "q");

    url = "http://h:0";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_int_equal(parts.port_number, 0);
    url = "http://h:65535";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_int_equal(parts.port_number, 65535);

    url = "com.example.app:/callback";
    assert_int_equal(url_split(url, strlen(url), &parts), GW_OK);
    assert_view(parts.scheme, "com.example.app");
    assert_view(parts.path, "/callback");
}

static void test_split_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "no-scheme",
        "://x",
        "1http://x",
        "ht tp://x",
        "http://exa mple.com/",
        "http://example.com/a b",
        "http://example.com\\@evil.example",
        "http://h/\x01",
        "http://h/\x7f",
        "http://h/\xc3\xa9",
        "http://h/<script>",
        "http://h/{x}",
        "http://h/a|b",
        "http://h/%zz",
        "http://h/%4",
        "http://h:65536/",
        "http://h:123456/",
        "http://h:8o/",
        "http://h:-1/",
        "http://[::1/",
        "http://[]/",
        "http://[zz::1]/",
        "http://[::1]x/",
        "http://[127.0.0.1]/",
        "http://[::1%25eth0]/",
        "http://h]/",
        "http://h/#a#b",
    };
    struct url_parts parts;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum gw_err err = url_split(bad[i], strlen(bad[i]), &parts);
        if (err != GW_ERR_INVALID)
            fprintf(stderr, "accepted: %s\n", bad[i]);
        assert_int_equal(err, GW_ERR_INVALID);
        assert_null(parts.scheme.ptr);
        assert_int_equal(parts.port_number, -1);
    }
    /* An embedded NUL inside the given length is refused. */
    assert_int_equal(url_split("http://h/\0x", 11, &parts), GW_ERR_INVALID);
    /* Only len bytes are read: the junk after them does not matter. */
    assert_int_equal(url_split("http://h/ok junk", 11, &parts), GW_OK);
    assert_view(parts.path, "/ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_append_query_param),
        cmocka_unit_test(test_form_parse),
        cmocka_unit_test(test_form_errors_and_cap),
        cmocka_unit_test(test_split_full_url),
        cmocka_unit_test(test_split_shapes),
        cmocka_unit_test(test_split_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
