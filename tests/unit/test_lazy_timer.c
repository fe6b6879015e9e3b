/*
 * test_lazy_timer.c - deadlines that move without touching libevent: the callback runs once a
 * deadline has passed, never before, never for a cleared or replaced deadline.
 */
#include "testutil.h"

#include <stdlib.h>
#include <time.h>

#include <event2/event.h>

#include "core/lazy_timer.h"

static int64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct fixture {
    struct event_base *base;
    struct lazy_timer timer;
    int fired;
    int64_t fired_at, expected_after;
};

static void fired(void *arg)
{
    struct fixture *f = arg;
    f->fired++;
    f->fired_at = now_usec();
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->base = event_base_new();
    assert_int_equal(lazy_timer_init(&f->timer, f->base, fired, f), GW_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    lazy_timer_free(&f->timer);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* Run the loop until the callback ran or `ms` passed with nothing left to do. */
static void run_for(struct fixture *f, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    event_base_loopexit(f->base, &tv);
    event_base_dispatch(f->base);
}

static void test_fires_after_deadline(void **state)
{
    struct fixture *f = *state;
    int64_t start = now_usec();
    lazy_timer_set(&f->timer, 20);
    assert_true(lazy_timer_is_set(&f->timer));
    run_for(f, 200);
    assert_int_equal(f->fired, 1);
    assert_true(f->fired_at >= start + 20000);
    assert_false(lazy_timer_is_set(&f->timer));
}

static void test_moved_later_fires_only_at_the_new_deadline(void **state)
{
    struct fixture *f = *state;
    lazy_timer_set(&f->timer, 10);
    int64_t moved = now_usec();
    lazy_timer_set(&f->timer, 80); /* the libevent timer stays at 10 ms and re-arms itself */
    run_for(f, 200);
    assert_int_equal(f->fired, 1);
    assert_true(f->fired_at >= moved + 80000);
}

static void test_moved_earlier_fires_at_the_earlier_deadline(void **state)
{
    struct fixture *f = *state;
    lazy_timer_set(&f->timer, 60000);
    lazy_timer_set(&f->timer, 0);
    run_for(f, 300); /* the 60 s arming, if kept, would not fire in time */
    assert_int_equal(f->fired, 1);
}

static void test_cleared_never_fires(void **state)
{
    struct fixture *f = *state;
    lazy_timer_set(&f->timer, 5);
    lazy_timer_clear(&f->timer);
    assert_false(lazy_timer_is_set(&f->timer));
    run_for(f, 100);
    assert_int_equal(f->fired, 0);
    /* and it can be set again afterwards */
    lazy_timer_set(&f->timer, 5);
    run_for(f, 200);
    assert_int_equal(f->fired, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fires_after_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_later_fires_only_at_the_new_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_earlier_fires_at_the_earlier_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cleared_never_fires, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
