/*
 * test_fetch_ssrf.c - the fetch service's address classifier: every refused range, its
 * edges, the IPv6 forms that embed an IPv4 address, and public addresses let through.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "mcp/fetch_address.h"

static void assert_refused(const char *text)
{
    if (fetch_address_text_is_public(text))
        fprintf(stderr, "%s was let through\n", text);
    assert_false(fetch_address_text_is_public(text));
}

static void assert_public(const char *text)
{
    if (!fetch_address_text_is_public(text))
        fprintf(stderr, "%s was refused\n", text);
    assert_true(fetch_address_text_is_public(text));
}

static void test_ipv4_refused(void **state)
{
    (void)state;
    const char *refused[] = {
        "0.0.0.0",     "0.255.255.255",   /* unspecified / this network */
        "10.0.0.1",    "10.255.255.255",  /* 10/8 */
        "172.16.0.1",  "172.31.255.255",  /* 172.16/12 */
        "192.168.0.1", "192.168.255.255", /* 192.168/16 */
        "127.0.0.1",   "127.255.255.254", /* loopback */
        "169.254.0.1", "169.254.169.254", /* link-local, cloud metadata */
        "100.64.0.1",  "100.127.255.255", /* CGNAT 100.64/10 */
        "224.0.0.1",   "239.255.255.255", /* multicast */
        "240.0.0.1",   "255.255.255.255", /* reserved, broadcast */
        "192.0.0.8",   "198.18.0.1",      /* IETF, benchmarking */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_refused(refused[i]);
}

static void test_ipv4_public_edges(void **state)
{
    (void)state;
    const char *open[] = {"1.1.1.1",         "8.8.8.8",     "9.255.255.255",   "11.0.0.0",
                          "172.15.255.255",  "172.32.0.0",  "192.167.1.1",     "192.169.0.1",
                          "100.63.255.255",  "100.128.0.0", "169.253.255.255", "169.255.0.0",
                          "126.255.255.255", "128.0.0.0",   "223.255.255.255", "93.184.216.34"};
    for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
        assert_public(open[i]);
}

static void test_ipv6_refused(void **state)
{
    (void)state;
    const char *refused[] = {
        "::",
        "::1", /* unspecified, loopback */
        "fc00::1",
        "fdff:ffff::1", /* unique local fc00::/7 */
        "fe80::1",
        "febf::1", /* link-local fe80::/10 */
        "fec0::1", /* site-local */
        "ff02::1",
        "ff0e::1", /* multicast */
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:192.168.1.1",
        "::ffff:172.16.0.1",
        "::ffff:100.64.0.1",
        "::ffff:0.0.0.0",
        "::ffff:224.0.0.1",
        "::127.0.0.1",
        "::10.0.0.1", /* IPv4-compatible */
        "64:ff9b::127.0.0.1",
        "64:ff9b::a9fe:a9fe", /* NAT64 */
        "2002:7f00:1::1",
        "2002:a00:1::1", /* 6to4 of 127.0.0.1 and 10.0.0.1 */
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        assert_refused(refused[i]);
}

static void test_ipv6_public(void **state)
{
    (void)state;
    const char *open[] = {"2606:4700:4700::1111",
                          "2001:4860:4860::8888",
                          "::ffff:8.8.8.8",
                          "64:ff9b::808:808",
                          "2002:808:808::1",
                          "fbff::1",
                          "fe7f::1"};
    for (size_t i = 0; i < sizeof(open) / sizeof(open[0]); i++)
        assert_public(open[i]);
}

static void test_sockaddr_forms(void **state)
{
    (void)state;
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "8.8.8.8", &in.sin_addr);
    assert_true(fetch_address_is_public((struct sockaddr *)&in, sizeof(in)));
    /* A short length is refused, never read past. */
    assert_false(fetch_address_is_public((struct sockaddr *)&in, 4));
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
    assert_false(fetch_address_is_public((struct sockaddr *)&in6, sizeof(in6)));
    struct sockaddr unix_like = {.sa_family = AF_UNIX};
    assert_false(fetch_address_is_public(&unix_like, sizeof(unix_like)));
    assert_false(fetch_address_is_public(NULL, 0));
    assert_false(fetch_address_text_is_public("not an address"));
    assert_false(fetch_address_text_is_public("localhost"));
    assert_false(fetch_address_text_is_public(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_refused),   cmocka_unit_test(test_ipv4_public_edges),
        cmocka_unit_test(test_ipv6_refused),   cmocka_unit_test(test_ipv6_public),
        cmocka_unit_test(test_sockaddr_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
