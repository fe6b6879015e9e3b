/*
 * lazy_timer.c - deadlines moved for the price of a clock read (see lazy_timer.h).
 */
#include "lazy_timer.h"

#include <time.h>

#include <event2/event.h>

static int64_t monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void arm(struct lazy_timer *t, int64_t now, int64_t due)
{
    int64_t wait = due > now ? due - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000), (suseconds_t)(wait % 1000000)};
    evtimer_add(t->event, &tv);
    t->fires_usec = now + wait;
}

static void lazy_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct lazy_timer *t = arg;
    t->fires_usec = 0;
    if (!t->deadline_usec)
        return;
    int64_t now = monotonic_usec();
    if (now < t->deadline_usec) {
        arm(t, now, t->deadline_usec); /* moved later since it was armed: wait for the rest */
        return;
    }
    t->deadline_usec = 0;
    t->fn(t->arg);
}

enum gw_err lazy_timer_init(struct lazy_timer *t, struct event_base *base, lazy_timer_fn fn, void *arg)
{
    t->deadline_usec = 0;
    t->fires_usec = 0;
    t->fn = fn;
    t->arg = arg;
    t->event = evtimer_new(base, lazy_timer_cb, t);
    return t->event ? GW_OK : GW_ERR_IO;
}

void lazy_timer_set(struct lazy_timer *t, int ms)
{
    int64_t now = monotonic_usec();
    int64_t deadline = now + (int64_t)(ms > 0 ? ms : 0) * 1000;
    t->deadline_usec = deadline > 0 ? deadline : 1;
    /* armed to fire no later than the deadline: it will re-arm itself for the rest */
    if (t->fires_usec && t->fires_usec <= t->deadline_usec)
        return;
    arm(t, now, t->deadline_usec);
}

void lazy_timer_clear(struct lazy_timer *t)
{
    t->deadline_usec = 0;
}

bool lazy_timer_is_set(const struct lazy_timer *t)
{
    return t->deadline_usec != 0;
}

void lazy_timer_free(struct lazy_timer *t)
{
    if (t->event)
        event_free(t->event);
    t->event = NULL;
    t->deadline_usec = 0;
    t->fires_usec = 0;
}
