/*
 * test_offload.c - core/offload: the work runs on another thread, done then on the loop's
 * thread, and the job is freed exactly once after both; a cancelled offload never runs done but
 * still frees its job once the thread is through, also when the loop is gone by then.
 */
#include "event_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/offload.h"

struct job {
    pthread_t loop_thread;
    atomic_int release_work; /* the work waits until this is 1 */
    atomic_bool worked_elsewhere;
    bool done_on_loop;
    int done_calls;
    int value; /* written by the work, read by done */
    int seen;
};

static atomic_int frees;

static void work(void *arg)
{
    struct job *j = arg;
    while (!atomic_load(&j->release_work)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&j->worked_elsewhere, !pthread_equal(pthread_self(), j->loop_thread));
    j->value = 42;
}

static void done(void *arg)
{
    struct job *j = arg;
    j->done_on_loop = pthread_equal(pthread_self(), j->loop_thread);
    j->done_calls++;
    j->seen = j->value;
}

static void free_job(void *arg)
{
    (void)arg; /* the jobs live on the test's stack or in a static array: count only */
    atomic_fetch_add(&frees, 1);
}

static bool job_done(void *arg)
{
    return ((struct job *)arg)->done_calls > 0;
}

static void test_work_then_done_then_free(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    atomic_store(&frees, 0);
    struct job j = {.loop_thread = pthread_self()};
    struct offload *o = offload_start(loop.base, &j, work, done, free_job);
    assert_non_null(o);
    fixture_run_for(&loop, 0.05);
    assert_int_equal(j.done_calls, 0); /* the work is still waiting */
    atomic_store(&j.release_work, 1);
    assert_true(fixture_run_until(&loop, job_done, &j, 10));
    assert_true(atomic_load(&j.worked_elsewhere));
    assert_true(j.done_on_loop);
    assert_int_equal(j.seen, 42);
    fixture_run_for(&loop, 0.05);
    assert_int_equal(j.done_calls, 1);
    assert_int_equal(atomic_load(&frees), 1);
    fixture_loop_free(&loop);
}

static bool frees_reach(void *arg)
{
    return atomic_load(&frees) == *(int *)arg;
}

static void test_cancel(void **state)
{
    (void)state;
    struct fixture_loop loop;
    fixture_loop_init(&loop);
    atomic_store(&frees, 0);
    /* cancelled while the work runs: done never runs; the job is freed when the thread ends */
    static struct job jobs[50];
    for (int i = 0; i < 50; i++) {
        jobs[i] = (struct job){.loop_thread = pthread_self()};
        struct offload *o = offload_start(loop.base, &jobs[i], work, done, free_job);
        assert_non_null(o);
        offload_cancel(o);
    }
    assert_int_equal(atomic_load(&frees), 0);
    for (int i = 0; i < 50; i++)
        atomic_store(&jobs[i].release_work, 1);
    int all = 50;
    assert_true(fixture_run_until(&loop, frees_reach, &all, 10));
    fixture_run_for(&loop, 0.05);
    for (int i = 0; i < 50; i++)
        assert_int_equal(jobs[i].done_calls, 0);
    /* cancelled after the work finished but before the loop saw it: freed at once */
    atomic_store(&frees, 0);
    struct job late = {.loop_thread = pthread_self()};
    atomic_store(&late.release_work, 1);
    struct offload *o = offload_start(loop.base, &late, work, done, free_job);
    assert_non_null(o);
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the thread is done by now; if not, the wait below covers it */
    offload_cancel(o);
    int one = 1;
    assert_true(fixture_run_until(&loop, frees_reach, &one, 10));
    assert_int_equal(late.done_calls, 0);
    offload_cancel(NULL);
    fixture_loop_free(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_work_then_done_then_free),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
