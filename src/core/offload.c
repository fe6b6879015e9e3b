/*
 * offload.c - a blocking task on a helper thread, its end reported on a loop (see offload.h).
 */
#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "alloc.h"

struct offload {
    atomic_int refs; /* the thread and the loop */
    int efd;
    struct event *ev; /* on the loop, until done ran or the offload was cancelled */
    void *job;
    offload_fn work, done, free_job;
};

static void release(struct offload *o)
{
    if (atomic_fetch_sub(&o->refs, 1) != 1)
        return;
    if (o->free_job)
        o->free_job(o->job);
    close(o->efd);
    free(o);
}

static void *offload_thread(void *arg)
{
    struct offload *o = arg;
    o->work(o->job);
    /* The write is the release point of what work wrote into the job for the loop. */
    uint64_t one = 1;
    while (write(o->efd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    release(o);
    return NULL;
}

static void detach_from_loop(struct offload *o)
{
    event_free(o->ev);
    o->ev = NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct offload *o = arg;
    uint64_t value;
    if (read(fd, &value, sizeof value) != (ssize_t)sizeof value)
        return; /* not written yet */
    detach_from_loop(o);
    o->done(o->job);
    release(o);
}

struct offload *offload_start(struct event_base *base, void *job, offload_fn work, offload_fn done,
                              offload_fn free_job)
{
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return NULL;
    struct offload *o = gw_calloc(1, sizeof(*o));
    atomic_init(&o->refs, 2);
    o->efd = efd;
    o->job = job;
    o->work = work;
    o->done = done;
    o->free_job = free_job;
    o->ev = event_new(base, efd, EV_READ | EV_PERSIST, on_done, o);
    if (!o->ev)
        gw_oom(sizeof(struct event *));
    event_add(o->ev, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, offload_thread, o);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        detach_from_loop(o);
        close(efd);
        free(o); /* the caller keeps job */
        return NULL;
    }
    return o;
}

void offload_cancel(struct offload *o)
{
    if (!o)
        return;
    detach_from_loop(o);
    release(o);
}
