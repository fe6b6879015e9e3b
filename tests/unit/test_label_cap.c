/*
 * test_label_cap.c - the cardinality cap on the router's by-client and by-user labels
 * (src/core/label_cap.c): the first N distinct values, then "other"; "none" for nothing; the
 * per-thread cache never gives a value another value's label, whether slots collide, values are
 * too long for it, or two threads admit values at the same time.
 */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/label_cap.h"

static void test_first_values_admitted_then_other(void **state)
{
    (void)state;
    struct label_cap *cap = label_cap_create(3);
    static struct label_cache cache;
    memset(&cache, 0, sizeof(cache));
    assert_string_equal(label_cap_get(cap, &cache, "client-a"), "client-a");
    assert_string_equal(label_cap_get(cap, &cache, "client-b"), "client-b");
    assert_string_equal(label_cap_get(cap, &cache, "client-a"), "client-a");
    assert_string_equal(label_cap_get(cap, &cache, "client-c"), "client-c");
    assert_int_equal(label_cap_count(cap), 3);
    assert_string_equal(label_cap_get(cap, &cache, "client-d"), "other");
    assert_string_equal(label_cap_get(cap, &cache, "client-d"), "other"); /* now from the cache */
    assert_string_equal(label_cap_get(cap, &cache, "client-b"), "client-b");
    assert_int_equal(label_cap_count(cap), 3);
    /* The label is the cap's own copy, not the caller's string. */
    char mine[] = "client-c";
    const char *label = label_cap_get(cap, &cache, mine);
    assert_ptr_not_equal(label, mine);
    mine[0] = 'X';
    assert_string_equal(label, "client-c");
    label_cap_free(cap);
}

static void test_absent_and_empty_are_none(void **state)
{
    (void)state;
    struct label_cap *cap = label_cap_create(2);
    static struct label_cache cache;
    memset(&cache, 0, sizeof(cache));
    assert_string_equal(label_cap_get(cap, &cache, NULL), "none");
    assert_string_equal(label_cap_get(cap, &cache, ""), "none");
    assert_int_equal(label_cap_count(cap), 0);
    label_cap_free(cap);
}

/* Many more values than cache slots, so slots are reused by other values again and again: each
 * value must keep the answer the shared table gives, in any order. */
static void test_cache_collisions_keep_labels_exact(void **state)
{
    (void)state;
    enum { CAP = 40, VALUES = 4 * LABEL_CACHE_SLOTS };
    struct label_cap *cap = label_cap_create(CAP);
    static struct label_cache cache;
    memset(&cache, 0, sizeof(cache));
    char value[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < VALUES; i++) {
            int v = round == 1 ? VALUES - 1 - i : (i * 7) % VALUES; /* 7 is prime to VALUES */
            snprintf(value, sizeof(value), "user-%d", v);
            const char *label = label_cap_get(cap, &cache, value);
            if (round == 0 && i < CAP) /* the first pass admits the first CAP it meets */
                assert_string_equal(label, value);
            int admitted = 0;
            for (int k = 0; k < CAP; k++)
                admitted |= (k * 7) % VALUES == v;
            assert_string_equal(label, admitted ? value : "other");
        }
    }
    assert_int_equal(label_cap_count(cap), CAP);
    label_cap_free(cap);
}

static void test_long_values_bypass_the_cache_and_too_long_are_other(void **state)
{
    (void)state;
    struct label_cap *cap = label_cap_create(1);
    static struct label_cache cache;
    memset(&cache, 0, sizeof(cache));
    char long_a[LABEL_CACHE_VALUE_MAX + 10], long_b[LABEL_CACHE_VALUE_MAX + 10];
    memset(long_a, 'a', sizeof(long_a) - 1);
    long_a[sizeof(long_a) - 1] = '\0';
    memcpy(long_b, long_a, sizeof(long_b));
    long_b[LABEL_CACHE_VALUE_MAX + 5] = 'b'; /* differs only past what a slot could hold */
    assert_string_equal(label_cap_get(cap, &cache, long_a), long_a);
    assert_string_equal(label_cap_get(cap, &cache, long_b), "other");
    assert_string_equal(label_cap_get(cap, &cache, long_a), long_a);
    /* Exactly the longest value a slot holds is cached and still told apart from its prefix. */
    char edge[LABEL_CACHE_VALUE_MAX + 1];
    memset(edge, 'e', LABEL_CACHE_VALUE_MAX);
    edge[LABEL_CACHE_VALUE_MAX] = '\0';
    assert_string_equal(label_cap_get(cap, &cache, edge), "other");
    edge[LABEL_CACHE_VALUE_MAX - 1] = '\0';
    assert_string_equal(label_cap_get(cap, &cache, edge), "other");
    assert_int_equal(label_cap_count(cap), 1);
    label_cap_free(cap);

    /* A value longer than LABEL_VALUE_MAX never gets a label of its own, even with room left. */
    cap = label_cap_create(5);
    memset(&cache, 0, sizeof(cache));
    char huge[LABEL_VALUE_MAX + 2];
    memset(huge, 'h', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    assert_string_equal(label_cap_get(cap, &cache, huge), "other");
    huge[LABEL_VALUE_MAX] = '\0';
    assert_string_equal(label_cap_get(cap, &cache, huge), huge);
    assert_int_equal(label_cap_count(cap), 1);
    label_cap_free(cap);
}

/* Two threads, each with its own cache, offer overlapping values at once: together they admit
 * exactly CAP distinct values, and both agree on every label afterwards. */
struct racer {
    struct label_cap *cap;
    int offset;
    const char *labels[300];
};
static _Thread_local struct label_cache racer_cache;

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    char value[32];
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 300; i++) {
            int v = (i + r->offset) % 300;
            snprintf(value, sizeof(value), "client-%d", v);
            const char *label = label_cap_get(r->cap, &racer_cache, value);
            if (pass == 1)
                r->labels[v] = label;
        }
    return NULL;
}

static void test_threads_agree_on_admitted_values(void **state)
{
    (void)state;
    enum { CAP = 100 };
    struct label_cap *cap = label_cap_create(CAP);
    struct racer a = {.cap = cap, .offset = 0}, b = {.cap = cap, .offset = 150};
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, racer_main, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, racer_main, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(label_cap_count(cap), CAP);
    int admitted = 0;
    char value[32];
    for (int v = 0; v < 300; v++) {
        assert_ptr_equal(a.labels[v], b.labels[v]);
        snprintf(value, sizeof(value), "client-%d", v);
        if (strcmp(a.labels[v], "other") != 0) {
            assert_string_equal(a.labels[v], value);
            admitted++;
        }
    }
    assert_int_equal(admitted, CAP);
    label_cap_free(cap);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_values_admitted_then_other),
        cmocka_unit_test(test_absent_and_empty_are_none),
        cmocka_unit_test(test_cache_collisions_keep_labels_exact),
        cmocka_unit_test(test_long_values_bypass_the_cache_and_too_long_are_other),
        cmocka_unit_test(test_threads_agree_on_admitted_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
