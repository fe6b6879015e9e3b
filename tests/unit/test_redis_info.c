/*
 * test_redis_info.c - parsing Redis's INFO answer for the redis_* gauges.
 */
#include "testutil.h"

#include <string.h>

#include "core/redis_info.h"

static enum gw_err parse(const char *text, struct redis_info *info)
{
    return redis_info_parse(text, strlen(text), info);
}

static void test_real_answer(void **state)
{
    (void)state;
    /* the shape redis-server 7 sends: sections, CRLF, human duplicates, keyspace lines */
    const char *text =
        "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:12\r\n\r\n"
        "# Clients\r\nconnected_clients:5\r\nblocked_clients:0\r\n\r\n"
        "# Memory\r\nused_memory:1161640\r\nused_memory_human:1.11M\r\n"
        "used_memory_rss:12496896\r\nmaxmemory:268435456\r\nmaxmemory_human:256.00M\r\n\r\n"
        "# Keyspace\r\ndb0:keys=12,expires=7,avg_ttl=3599000\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n";
    struct redis_info info;
    assert_int_equal(parse(text, &info), GW_OK);
    assert_true(info.used_memory == 1161640);
    assert_true(info.maxmemory == 268435456);
    assert_true(info.connected_clients == 5);
    assert_true(info.keys == 13);
    assert_true(info.expiring_keys == 7);
    assert_int_equal(info.ndbs, 2);
}

static void test_empty_keyspace_and_lf(void **state)
{
    (void)state;
    struct redis_info info;
    assert_int_equal(parse("# Clients\nconnected_clients:1\n# Memory\nused_memory:900\n# Keyspace\n", &info),
                     GW_OK);
    assert_true(info.keys == 0 && info.expiring_keys == 0);
    assert_int_equal(info.ndbs, 0);
    assert_true(info.maxmemory == 0);
}

static void test_missing_fields_refused(void **state)
{
    (void)state;
    struct redis_info info;
    assert_int_equal(parse("", &info), GW_ERR_PROTOCOL);
    assert_int_equal(parse("used_memory:900\r\n", &info), GW_ERR_PROTOCOL);
    assert_int_equal(parse("connected_clients:3\r\n", &info), GW_ERR_PROTOCOL);
    assert_int_equal(redis_info_parse(NULL, 0, &info), GW_ERR_PROTOCOL);
    /* a field name that only starts like ours does not count */
    assert_int_equal(parse("used_memory_rss:9\r\nconnected_clients:3\r\n", &info), GW_ERR_PROTOCOL);
}

static void test_bad_values_skipped(void **state)
{
    (void)state;
    struct redis_info info;
    const char *bad[] = {"used_memory:-5\nconnected_clients:1\n",  "used_memory:nan\nconnected_clients:1\n",
                         "used_memory:inf\nconnected_clients:1\n", "used_memory:12abc\nconnected_clients:1\n",
                         "used_memory:\nconnected_clients:1\n",    "used_memory: 12\nconnected_clients:1\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse(bad[i], &info), GW_ERR_PROTOCOL);
    /* malformed keyspace lines are skipped, the rest still counts */
    assert_int_equal(parse("used_memory:1\nconnected_clients:1\ndb0:keys=-1,expires=0\ndbx:keys=4\n"
                           "db1:expires=3\ndb2:keys=4\n",
                           &info),
                     GW_OK);
    assert_true(info.keys == 4 && info.expiring_keys == 0);
    assert_int_equal(info.ndbs, 1);
}

static void test_length_respected(void **state)
{
    (void)state;
    const char *text = "used_memory:1\nconnected_clients:2\ndb0:keys=5";
    struct redis_info info;
    /* cut before the keyspace line: only len bytes are read */
    assert_int_equal(redis_info_parse(text, strlen(text) - 11, &info), GW_OK);
    assert_true(info.keys == 0);
    assert_true(info.connected_clients == 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_answer),
        cmocka_unit_test(test_empty_keyspace_and_lf),
        cmocka_unit_test(test_missing_fields_refused),
        cmocka_unit_test(test_bad_values_skipped),
        cmocka_unit_test(test_length_respected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
