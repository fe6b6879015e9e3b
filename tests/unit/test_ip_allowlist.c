/*
 * test_ip_allowlist.c - METRICS_ALLOWED_IPS and REGISTRATION_TRUSTED_NETWORKS matching
 * (core/ip_allowlist.c): addresses and CIDR networks of both families, IPv4-mapped IPv6 peers,
 * prefix lengths that are not byte-aligned, the entries that must be refused, and an empty list
 * that allows everyone but contains no one.
 */
#include "testutil.h"

#include <string.h>

#include "core/ip_allowlist.h"

static struct ip_allowlist *parse_ok(const char *spec)
{
    struct ip_allowlist *list = NULL;
    char why[160] = "";
    assert_int_equal(ip_allowlist_parse(spec, &list, why, sizeof(why)), GW_OK);
    assert_string_equal(why, "");
    return list;
}

static void test_empty_list_allows_everyone(void **state)
{
    (void)state;
    assert_null(parse_ok(""));
    assert_null(parse_ok(" , ,"));
    assert_true(ip_allowlist_allows(NULL, "203.0.113.9"));
    assert_true(ip_allowlist_allows(NULL, "not an address"));
}

/* An exemption list (REGISTRATION_TRUSTED_NETWORKS) asks "contains": empty must exempt nobody. */
static void test_contains_is_false_for_an_empty_list(void **state)
{
    (void)state;
    assert_false(ip_allowlist_contains(NULL, "160.79.104.10"));
    assert_false(ip_allowlist_contains(NULL, "127.0.0.1"));
    /* Anthropic's /21: 160.79.104.0 - 160.79.111.255 */
    struct ip_allowlist *list = parse_ok("160.79.104.0/21");
    assert_true(ip_allowlist_contains(list, "160.79.104.0"));
    assert_true(ip_allowlist_contains(list, "160.79.111.255"));
    assert_true(ip_allowlist_contains(list, "::ffff:160.79.108.1"));
    assert_false(ip_allowlist_contains(list, "160.79.103.255"));
    assert_false(ip_allowlist_contains(list, "160.79.112.0"));
    assert_false(ip_allowlist_contains(list, "not an address"));
    assert_false(ip_allowlist_contains(list, NULL));
    ip_allowlist_free(list);
}

static void test_ipv4_networks(void **state)
{
    (void)state;
    struct ip_allowlist *list = parse_ok("10.0.0.0/8, 192.168.1.7 ,172.16.0.0/12");
    assert_non_null(list);
    assert_true(ip_allowlist_allows(list, "10.200.3.4"));
    assert_true(ip_allowlist_allows(list, "192.168.1.7"));
    assert_false(ip_allowlist_allows(list, "192.168.1.8"));
    /* /12: 172.16.0.0 - 172.31.255.255, a prefix that ends inside a byte */
    assert_true(ip_allowlist_allows(list, "172.31.255.255"));
    assert_true(ip_allowlist_allows(list, "172.16.0.1"));
    assert_false(ip_allowlist_allows(list, "172.32.0.1"));
    assert_false(ip_allowlist_allows(list, "172.15.255.255"));
    assert_false(ip_allowlist_allows(list, "11.0.0.1"));
    /* a dual-stack listener reports IPv4 peers as IPv4-mapped IPv6 */
    assert_true(ip_allowlist_allows(list, "::ffff:10.1.2.3"));
    assert_false(ip_allowlist_allows(list, "::ffff:11.1.2.3"));
    /* the IPv6 address with the same low 32 bits is a different address */
    assert_false(ip_allowlist_allows(list, "::10.1.2.3"));
    assert_false(ip_allowlist_allows(list, "garbage"));
    assert_false(ip_allowlist_allows(list, ""));
    assert_false(ip_allowlist_allows(list, NULL));
    ip_allowlist_free(list);
}

static void test_ipv6_networks(void **state)
{
    (void)state;
    struct ip_allowlist *list = parse_ok("::1,fd00::/8,2001:db8:abcd::/47");
    assert_true(ip_allowlist_allows(list, "::1"));
    assert_false(ip_allowlist_allows(list, "::2"));
    assert_true(ip_allowlist_allows(list, "fd12:3456::1"));
    assert_false(ip_allowlist_allows(list, "fe80::1"));
    /* /47 keeps the high 15 bits of the third group: abcd and abcc differ only in the last bit
     * (same network), abce in the one before it (another network) */
    assert_true(ip_allowlist_allows(list, "2001:db8:abcd:ffff::1"));
    assert_true(ip_allowlist_allows(list, "2001:db8:abcc::1"));
    assert_false(ip_allowlist_allows(list, "2001:db8:abce::1"));
    assert_false(ip_allowlist_allows(list, "127.0.0.1"));
    ip_allowlist_free(list);
}

static void test_whole_families_and_zero_prefix(void **state)
{
    (void)state;
    struct ip_allowlist *v4 = parse_ok("0.0.0.0/0");
    assert_true(ip_allowlist_allows(v4, "198.51.100.1"));
    assert_true(ip_allowlist_allows(v4, "::ffff:198.51.100.1"));
    assert_false(ip_allowlist_allows(v4, "2001:db8::1"));
    ip_allowlist_free(v4);
    struct ip_allowlist *all = parse_ok("::/0");
    assert_true(ip_allowlist_allows(all, "2001:db8::1"));
    assert_true(ip_allowlist_allows(all, "198.51.100.1"));
    ip_allowlist_free(all);
    struct ip_allowlist *host = parse_ok("192.0.2.1/32,2001:db8::5/128");
    assert_true(ip_allowlist_allows(host, "192.0.2.1"));
    assert_false(ip_allowlist_allows(host, "192.0.2.0"));
    assert_true(ip_allowlist_allows(host, "2001:db8::5"));
    assert_false(ip_allowlist_allows(host, "2001:db8::4"));
    ip_allowlist_free(host);
}

static void test_bad_entries_are_named(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0.0/ 8",
        "10.0.0", "localhost", "10.0.0.0/8/8", "fe80::1%eth0", "1.2.3.4/0008",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char spec[128], why[160] = "";
        snprintf(spec, sizeof(spec), "127.0.0.1, %s", bad[i]);
        struct ip_allowlist *list = (struct ip_allowlist *)1;
        assert_int_equal(ip_allowlist_parse(spec, &list, why, sizeof(why)), GW_ERR_INVALID);
        assert_null(list);
        assert_non_null(strstr(why, bad[i]));
        assert_non_null(strstr(why, "not an IP address or CIDR network"));
    }
    /* without room for a reason */
    struct ip_allowlist *list = NULL;
    assert_int_equal(ip_allowlist_parse("nope", &list, NULL, 0), GW_ERR_INVALID);
}

static void test_loopback(void **state)
{
    (void)state;
    static const char *const local[] = {"127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"};
    static const char *const other[] = {"128.0.0.1", "10.0.0.1", "::2", "::ffff:10.0.0.1", "::127.0.0.1",
                                        "0.0.0.0", "::", "", "localhost"};
    for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
        assert_true(ip_is_loopback(local[i]));
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
        assert_false(ip_is_loopback(other[i]));
    assert_false(ip_is_loopback(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_list_allows_everyone),
        cmocka_unit_test(test_contains_is_false_for_an_empty_list),
        cmocka_unit_test(test_ipv4_networks),
        cmocka_unit_test(test_ipv6_networks),
        cmocka_unit_test(test_whole_families_and_zero_prefix),
        cmocka_unit_test(test_bad_entries_are_named),
        cmocka_unit_test(test_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
