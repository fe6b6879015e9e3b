/*
 * offload.h - run one blocking task (getaddrinfo, a password hash, a Sentinel round trip) on a
 * short-lived thread and hear about its end on an event loop.
 *
 * The thread never touches the loop, libevent or the caller's state: it runs work(job) on the
 * caller's job object only and then signals an eventfd the loop watches. So a caller that stops
 * caring (its client freed, its exchange gone) cancels, and the thread still ends cleanly. The
 * job is freed by free_job exactly once, by whichever side lets go of it last.
 */
#ifndef MCPGW_CORE_OFFLOAD_H
#define MCPGW_CORE_OFFLOAD_H

struct event_base;
struct offload;

typedef void (*offload_fn)(void *job);

/* Start work(job) on its own thread; done(job) then runs on base's loop, unless the offload was
 * cancelled first; after both, free_job(job) (NULL: nothing to free). Returns the handle, owned
 * by the library until done has run or offload_cancel; NULL when no thread or eventfd could be
 * had: then nothing runs and the caller still owns job. */
struct offload *offload_start(struct event_base *base, void *job, offload_fn work, offload_fn done,
                              offload_fn free_job);

/* On the loop thread, before done has run: done will not run. NULL is ignored. */
void offload_cancel(struct offload *offload);

#endif
