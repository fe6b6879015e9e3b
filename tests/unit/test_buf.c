/*
 * test_buf.c - decimal formatting (used for every status, length and rate-limit header) against
 * printf's, across digit counts, signs and the extremes.
 */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"

static void assert_formats_like_printf(long long v)
{
    char ours[24], theirs[32];
    size_t n = decimal_format(ours, v);
    snprintf(theirs, sizeof(theirs), "%lld", v);
    assert_string_equal(ours, theirs);
    assert_int_equal(n, strlen(theirs));
}

static void test_decimal_format(void **state)
{
    (void)state;
    static const long long fixed[] = {
        0,     1,          9,  10,  11,  99,   100,       101,       999,           1000,
        12345, 1000000000, -1, -10, -99, -100, LLONG_MAX, LLONG_MIN, LLONG_MAX - 1, LLONG_MIN + 1};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        assert_formats_like_printf(fixed[i]);
    for (long long v = -20000; v <= 20000; v++)
        assert_formats_like_printf(v);
    for (long long v = 1; v > 0 && v < LLONG_MAX / 3; v = v * 3 + 1)
        assert_formats_like_printf(v);
}

static void test_buf_append_decimal(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(buf_append_str(&b, "Content-Length: "), GW_OK);
    assert_int_equal(buf_append_decimal(&b, 1048576), GW_OK);
    assert_string_equal(buf_cstr(&b), "Content-Length: 1048576");
    buf_free(&b);
}

static void test_buf_append_field_line(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 24);
    assert_int_equal(buf_append_field_line(&b, "Vary", 4, "Origin", 6), GW_OK);
    assert_string_equal(buf_cstr(&b), "Vary: Origin\r\n");
    /* past the cap: nothing of the line is appended */
    assert_int_equal(buf_append_field_line(&b, "X-Long", 6, "abcdefghij", 10), GW_ERR_TOO_LARGE);
    assert_string_equal(buf_cstr(&b), "Vary: Origin\r\n");
    assert_int_equal(buf_append_field_line(&b, "A", 1, "", 0), GW_OK);
    assert_string_equal(buf_cstr(&b), "Vary: Origin\r\nA: \r\n");
    buf_free(&b);
}

static void test_buf_append_file(void **state)
{
    (void)state;
    char path[] = "/tmp/mcpgw-test-buf-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static char content[10000];
    for (size_t i = 0; i < sizeof(content); i++) /* longer than one read chunk, with NULs */
        content[i] = (char)(i % 251);
    assert_int_equal(write(fd, content, sizeof(content)), (ssize_t)sizeof(content));
    close(fd);
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_str(&b, "head:"), GW_OK);
    assert_int_equal(buf_append_file(&b, path), GW_OK);
    assert_int_equal(b.len, 5 + sizeof(content));
    assert_memory_equal(b.data + 5, content, sizeof(content));
    buf_free(&b);
    /* a file over the cap is refused, not cut short */
    buf_init(&b, sizeof(content) - 1);
    assert_int_equal(buf_append_file(&b, path), GW_ERR_TOO_LARGE);
    buf_free(&b);
    unlink(path);
    buf_init(&b, 1 << 20);
    assert_int_equal(buf_append_file(&b, path), GW_ERR_IO);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(buf_append_file(&b, "/tmp"), GW_ERR_IO); /* a directory: opens, cannot be read */
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_format),
        cmocka_unit_test(test_buf_append_decimal),
        cmocka_unit_test(test_buf_append_field_line),
        cmocka_unit_test(test_buf_append_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
