/*
 * The event loop: one epoll set, one iteration = pre phase, one epoll_wait,
 * dispatch of the ready batch, post phase (deferred frees, post callback).
 *
 * The timeout sweep timer is armed only while the loop has open sockets and
 * the embedder has started driving the loop (run, run_once or integrate), so
 * an idle loop never wakes up by itself.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "internal.h"

/* ---- sweep timer arming --------------------------------------------------- */

static void sweep_update(struct us_loop_t *loop) {
    int want = loop->sweep_enabled && loop->num_sockets > 0;
    if (want == loop->sweep_armed) {
        return;
    }
    loop->sweep_armed = (unsigned char)want;
    if (want) {
        us_timer_set((struct us_timer_t *)loop->sweep_timer, us_internal_timeout_sweep, US_SWEEP_MS,
                     US_SWEEP_MS);
    } else {
        us_timer_set((struct us_timer_t *)loop->sweep_timer, us_internal_timeout_sweep, 0, 0);
    }
}

void us_internal_sockets_added(struct us_loop_t *loop) {
    if (loop->num_sockets++ == 0) {
        sweep_update(loop);
    }
}

void us_internal_socket_removed(struct us_loop_t *loop) {
    if (--loop->num_sockets == 0) {
        sweep_update(loop);
    }
}

static void enable_sweep(struct us_loop_t *loop) {
    if (!loop->sweep_enabled) {
        loop->sweep_enabled = 1;
        sweep_update(loop);
    }
}

/* ---- creation / destruction ------------------------------------------------ */

static int create_loop_fds(struct us_loop_t *loop) {
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->recv_buf = malloc(LIBUS_RECV_BUFFER_LENGTH + 2 * LIBUS_RECV_BUFFER_PADDING);
    if (loop->epfd < 0 || !loop->recv_buf) {
        return -1;
    }
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (tfd < 0 || !(loop->sweep_timer = us_internal_create_callback(loop, tfd, 1, 0))) {
        return -1;
    }
    loop->sweep_timer->cb = us_internal_timeout_sweep;
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0 || !(loop->wakeup = us_internal_create_callback(loop, efd, 1, 0))) {
        return -1;
    }
    loop->wakeup->is_wakeup = 1;
    return 0;
}

struct us_loop_t *us_create_loop(void *hint, void (*wakeup_cb)(struct us_loop_t *loop),
                                 void (*pre_cb)(struct us_loop_t *loop),
                                 void (*post_cb)(struct us_loop_t *loop), unsigned int ext_size) {
    (void)hint;
    struct us_loop_t *loop = calloc(1, sizeof(struct us_loop_t) + ext_size);
    if (!loop) {
        return NULL;
    }
    loop->wakeup_cb = wakeup_cb;
    loop->pre_cb = pre_cb;
    loop->post_cb = post_cb;
    if (create_loop_fds(loop) == 0) {
        return loop;
    }
    int saved = errno;
    if (loop->sweep_timer) {
        us_timer_close((struct us_timer_t *)loop->sweep_timer);
    }
    if (loop->epfd >= 0) {
        close(loop->epfd);
    }
    free(loop->recv_buf);
    free(loop);
    errno = saved;
    return NULL;
}

static void free_closed_sockets(struct us_loop_t *loop) {
    struct us_socket_t *s = loop->closed_head;
    if (US_LIKELY(!s)) {
        return;
    }
    loop->closed_head = NULL;
    while (s) {
        struct us_socket_t *next = s->next;
        free(s);
        s = next;
    }
}

void us_loop_free(struct us_loop_t *loop) {
    free_closed_sockets(loop);
    us_internal_ssl_loop_free(loop);
    if (loop->accept_timer) {
        us_timer_close((struct us_timer_t *)loop->accept_timer);
    }
    us_timer_close((struct us_timer_t *)loop->sweep_timer);
    us_timer_close((struct us_timer_t *)loop->wakeup);
    close(loop->epfd);
    free(loop->recv_buf);
    free(loop);
}

void *us_loop_ext(struct us_loop_t *loop) {
    return (char *)loop + sizeof(struct us_loop_t);
}

long long us_loop_iteration_number(struct us_loop_t *loop) {
    return loop->iteration_nr;
}

int us_loop_fd(struct us_loop_t *loop) {
    return loop->epfd;
}

unsigned long long us_loop_send_syscalls(struct us_loop_t *loop) {
    return loop->send_syscalls;
}

/* Thread-safe: the only function that may be called from another thread. */
void us_wakeup_loop(struct us_loop_t *loop) {
    uint64_t one = 1;
    ssize_t r;
    do {
        r = write(loop->wakeup->p.fd, &one, sizeof(one));
    } while (r < 0 && errno == EINTR);
}

/* ---- the low-priority queue ---------------------------------------------------
 *
 * A TLS handshake step costs far more CPU than serving a request, so at most
 * US_LOW_PRIO_BUDGET handshaking sockets are read per iteration; the rest
 * stop reading (their bytes wait in the kernel) and queue here, newest first
 * (the newest client is the likeliest to still be waiting). They stay in
 * their context, so a stalled handshake still times out. */

#define US_LOW_PRIO_BUDGET 5

static struct us_socket_t **lp_next(struct us_socket_t *s) {
    return &((struct us_internal_ssl_socket_t *)s)->lp_next;
}
static struct us_socket_t **lp_prev(struct us_socket_t *s) {
    return &((struct us_internal_ssl_socket_t *)s)->lp_prev;
}

int us_internal_low_prio_admit(struct us_loop_t *loop, struct us_socket_t *s) {
    if (s->low_prio == US_LOW_PRIO_RELEASED) {
        s->low_prio = US_LOW_PRIO_NONE; /* its turn, paid for by the pre phase */
        return 1;
    }
    if (s->low_prio == US_LOW_PRIO_QUEUED) {
        return 0;
    }
    if (loop->low_prio_budget > 0) {
        loop->low_prio_budget--;
        return 1;
    }
    us_poll_change(&s->p, loop, s->p.events & ~LIBUS_SOCKET_READABLE);
    s->low_prio = US_LOW_PRIO_QUEUED;
    *lp_prev(s) = NULL;
    *lp_next(s) = loop->low_prio_head;
    if (loop->low_prio_head) {
        *lp_prev(loop->low_prio_head) = s;
    }
    loop->low_prio_head = s;
    return 0;
}

void us_internal_low_prio_remove(struct us_loop_t *loop, struct us_socket_t *s) {
    if (s->low_prio != US_LOW_PRIO_QUEUED) {
        s->low_prio = US_LOW_PRIO_NONE;
        return;
    }
    struct us_socket_t *prev = *lp_prev(s), *next = *lp_next(s);
    if (prev) {
        *lp_next(prev) = next;
    } else {
        loop->low_prio_head = next;
    }
    if (next) {
        *lp_prev(next) = prev;
    }
    *lp_prev(s) = *lp_next(s) = NULL;
    s->low_prio = US_LOW_PRIO_NONE;
}

/* Pre phase: a new budget, spent first on the queue. */
static void release_low_prio(struct us_loop_t *loop) {
    loop->low_prio_budget = US_LOW_PRIO_BUDGET;
    while (loop->low_prio_head && loop->low_prio_budget > 0) {
        struct us_socket_t *s = loop->low_prio_head;
        us_internal_low_prio_remove(loop, s);
        s->low_prio = US_LOW_PRIO_RELEASED;
        us_poll_change(&s->p, loop, s->p.events | LIBUS_SOCKET_READABLE);
        loop->low_prio_budget--;
    }
}

/* ---- iteration ------------------------------------------------------------- */

static int loop_iteration(struct us_loop_t *loop, int timeout_ms) {
    int dispatched = 0;

    loop->in_iteration = 1;
    loop->iteration_nr++;
    release_low_prio(loop);
    if (loop->pre_cb) {
        loop->pre_cb(loop);
    }

    int n = epoll_wait(loop->epfd, loop->ready, US_MAX_READY_POLLS, timeout_ms);
    int failed = 0;
    if (n < 0) {
        /* EINTR is an empty batch; anything else (EBADF...) would repeat forever. */
        failed = errno != EINTR;
        n = 0;
    }
    loop->num_ready = n;
    for (int i = 0; i < n; i++) {
        loop->current_ready = i;
        struct us_poll_t *p = loop->ready[i].data.ptr;
        if (!p) {
            continue; /* stopped or closed earlier in this batch */
        }
        unsigned int got = loop->ready[i].events;
        unsigned int events = got & p->events;
        unsigned int error = got & (EPOLLERR | EPOLLHUP);

        switch (p->kind) {
        case US_POLL_SOCKET:
            if (events | error) {
                dispatched++;
                us_internal_dispatch_socket(loop, (struct us_socket_t *)p, events | error);
            }
            break;
        case US_POLL_LISTEN:
            if (events) {
                dispatched++;
                us_internal_dispatch_listen((struct us_listen_socket_t *)p);
            }
            break;
        case US_POLL_CALLBACK:
            if (events) {
                dispatched++;
                us_internal_dispatch_callback((struct us_internal_callback_t *)p);
            }
            break;
        default:
            break;
        }
    }
    loop->num_ready = 0;
    loop->current_ready = 0;

    free_closed_sockets(loop);
    if (loop->post_cb) {
        loop->post_cb(loop);
    }
    loop->in_iteration = 0;
    return failed ? -1 : dispatched;
}

void us_loop_run(struct us_loop_t *loop) {
    enable_sweep(loop);
    if (loop->in_iteration) {
        return;
    }
    while (loop->num_polls > 0) {
        if (loop_iteration(loop, -1) < 0) {
            break;
        }
    }
}

void us_loop_integrate(struct us_loop_t *loop) {
    enable_sweep(loop);
}

int us_loop_run_once(struct us_loop_t *loop, int timeout_ms) {
    if (US_UNLIKELY(loop->in_iteration)) {
        errno = EBUSY; /* called from inside a callback of this loop */
        return -1;
    }
    enable_sweep(loop);
    return loop_iteration(loop, timeout_ms);
}
