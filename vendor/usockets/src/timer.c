/*
 * Timers: one nonblocking timerfd (CLOCK_MONOTONIC) per timer, registered for
 * READABLE for its whole life; arming and disarming only touch the timerfd.
 * The loop's wakeup eventfd is the same kind of object with another callback.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "internal.h"

struct us_internal_callback_t *us_internal_create_callback(struct us_loop_t *loop, int fd, int fallthrough,
                                                          unsigned int ext_size) {
    struct us_internal_callback_t *cb = malloc(sizeof(*cb) + ext_size);
    if (!cb) {
        close(fd);
        return NULL;
    }
    us_internal_poll_setup(&cb->p, loop, fd, US_POLL_CALLBACK, fallthrough);
    cb->loop = loop;
    cb->cb = NULL;
    cb->is_wakeup = 0;
    us_poll_start(&cb->p, loop, LIBUS_SOCKET_READABLE);
    if (!(cb->p.flags & US_POLL_REGISTERED)) {
        us_internal_poll_forget(&cb->p, loop);
        close(fd);
        free(cb);
        return NULL;
    }
    return cb;
}

/* Called by the loop when the timerfd/eventfd is readable. The callback may
 * close (free) the timer, so nothing touches `cb` after it. */
void us_internal_dispatch_callback(struct us_internal_callback_t *cb) {
    uint64_t count;
    /* A timer re-armed earlier in this batch has a zero count: not an expiry. */
    if (read(cb->p.fd, &count, sizeof(count)) != (ssize_t)sizeof(count)) {
        return;
    }
    if (cb->is_wakeup) {
        struct us_loop_t *loop = cb->loop;
        if (loop->wakeup_cb) {
            loop->wakeup_cb(loop);
        }
    } else if (cb->cb) {
        cb->cb((struct us_timer_t *)cb);
    }
}

struct us_timer_t *us_create_timer(struct us_loop_t *loop, int fallthrough, unsigned int ext_size) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    return (struct us_timer_t *)us_internal_create_callback(loop, fd, fallthrough, ext_size);
}

void *us_timer_ext(struct us_timer_t *timer) {
    return (char *)timer + sizeof(struct us_internal_callback_t);
}

struct us_loop_t *us_timer_loop(struct us_timer_t *t) {
    return ((struct us_internal_callback_t *)t)->loop;
}

static void ms_to_timespec(struct timespec *ts, int ms) {
    ts->tv_sec = ms / 1000;
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

void us_timer_set(struct us_timer_t *timer, void (*cb)(struct us_timer_t *t), int ms, int repeat_ms) {
    struct us_internal_callback_t *c = (struct us_internal_callback_t *)timer;
    struct itimerspec spec;
    memset(&spec, 0, sizeof(spec));
    c->cb = cb;
    if (ms < 0) {
        ms = 0;
    }
    if (repeat_ms < 0) {
        repeat_ms = 0;
    }
    ms_to_timespec(&spec.it_value, ms);
    ms_to_timespec(&spec.it_interval, repeat_ms);
    if (ms == 0 && repeat_ms > 0) {
        spec.it_value.tv_nsec = 1; /* a zero first expiry would disarm: fire as soon as possible */
    }
    /* ms == 0 && repeat_ms == 0 leaves it_value zero, which disarms. */
    timerfd_settime(c->p.fd, 0, &spec, NULL);
}

void us_timer_close(struct us_timer_t *timer) {
    struct us_internal_callback_t *c = (struct us_internal_callback_t *)timer;
    us_internal_poll_forget(&c->p, c->loop);
    close(c->p.fd);
    free(c);
}
