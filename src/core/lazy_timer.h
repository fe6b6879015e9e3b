/*
 * lazy_timer.h - a deadline that moves on every request but rarely expires (keep-alive,
 * request and response timeouts), moved for the price of a clock read.
 *
 * A libevent timer is rescheduled with event_add/event_del: a heap update under the event
 * base's lock, twice or more per proxied request. Here the libevent timer is left alone when the
 * deadline moves later; when it fires before the deadline, it re-arms itself for what is left.
 * Moving the deadline earlier re-arms it at once. So under steady traffic a connection's timer
 * fires about once per timeout period, and the callback runs only once the deadline has passed.
 *
 * Single-threaded like the event base it belongs to. The struct is the caller's; the libevent
 * event inside is owned by it and freed by lazy_timer_free.
 */
#ifndef MCPGW_CORE_LAZY_TIMER_H
#define MCPGW_CORE_LAZY_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct event;
struct event_base;

typedef void (*lazy_timer_fn)(void *arg);

struct lazy_timer {
    struct event *event;
    int64_t deadline_usec; /* monotonic; 0: no deadline */
    int64_t fires_usec;    /* when the libevent timer is due; 0: not armed */
    lazy_timer_fn fn;
    void *arg;
};

/* Set up t on base; fn(arg) runs when a deadline passes. GW_ERR_IO if libevent fails. */
enum gw_err lazy_timer_init(struct lazy_timer *t, struct event_base *base, lazy_timer_fn fn, void *arg);
/* The deadline is ms milliseconds from now (0: as soon as the loop runs), replacing any other. */
void lazy_timer_set(struct lazy_timer *t, int ms);
/* No deadline (the libevent timer may still fire once, to no effect). */
void lazy_timer_clear(struct lazy_timer *t);
/* Whether a deadline is set. */
bool lazy_timer_is_set(const struct lazy_timer *t);
/* Release the libevent event. t may be zeroed or never initialised (event NULL). */
void lazy_timer_free(struct lazy_timer *t);

#endif
