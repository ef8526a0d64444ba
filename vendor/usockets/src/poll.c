/*
 * Polls: one registered file descriptor plus its current interest mask.
 *
 * Every poll stores the events it currently wants; epoll is only told when the
 * mask really changes. A poll that stops (or moves in memory) while the loop
 * is dispatching a batch has its remaining ready entries nulled (or
 * redirected) so the loop never touches a poll that is no longer there.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "internal.h"

static void register_op(struct us_poll_t *p, struct us_loop_t *loop, int op) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = p->events;
    ev.data.ptr = p;
    if (epoll_ctl(loop->epfd, op, p->fd, &ev) == 0 && op == EPOLL_CTL_ADD) {
        p->flags |= US_POLL_REGISTERED;
    }
}

/* Drop ready entries of `p` that the current batch has not reached yet. */
static void drop_pending(struct us_poll_t *p, struct us_loop_t *loop) {
    for (int i = loop->current_ready + 1; i < loop->num_ready; i++) {
        if (loop->ready[i].data.ptr == p) {
            loop->ready[i].data.ptr = NULL;
        }
    }
}

void us_internal_poll_setup(struct us_poll_t *p, struct us_loop_t *loop, int fd, int kind, int fallthrough) {
    p->fd = fd;
    p->kind = (unsigned char)kind;
    p->events = 0;
    p->flags = fallthrough ? US_POLL_FALLTHROUGH : 0;
    p->spare = 0;
    if (!fallthrough) {
        loop->num_polls++;
    }
}

/* Leave the epoll set for good and stop counting towards us_loop_run's liveness. */
void us_internal_poll_forget(struct us_poll_t *p, struct us_loop_t *loop) {
    us_poll_stop(p, loop);
    if (!(p->flags & US_POLL_FALLTHROUGH)) {
        p->flags |= US_POLL_FALLTHROUGH;
        loop->num_polls--;
    }
}

/* `p` now lives at a new address (it used to be at `old_addr`). */
void us_internal_poll_moved(struct us_loop_t *loop, uintptr_t old_addr, struct us_poll_t *p) {
    for (int i = loop->current_ready + 1; i < loop->num_ready; i++) {
        if ((uintptr_t)loop->ready[i].data.ptr == old_addr) {
            loop->ready[i].data.ptr = p;
        }
    }
    if (p->flags & US_POLL_REGISTERED) {
        register_op(p, loop, EPOLL_CTL_MOD);
    }
}

void *us_internal_poll_realloc(struct us_poll_t *p, struct us_loop_t *loop, size_t total_size) {
    uintptr_t old_addr = (uintptr_t)p;
    struct us_poll_t *np = realloc(p, total_size);
    if (!np) {
        return NULL;
    }
    if ((uintptr_t)np != old_addr) {
        us_internal_poll_moved(loop, old_addr, np);
    }
    return np;
}

/* ---- public poll API ---------------------------------------------------- */

struct us_poll_t *us_create_poll(struct us_loop_t *loop, int fallthrough, unsigned int ext_size) {
    struct us_poll_t *p = malloc(US_POLL_HEADER_SIZE + ext_size);
    if (!p) {
        return NULL;
    }
    us_internal_poll_setup(p, loop, -1, US_POLL_OTHER, fallthrough);
    return p;
}

void us_poll_free(struct us_poll_t *p, struct us_loop_t *loop) {
    us_internal_poll_forget(p, loop);
    free(p);
}

void us_poll_init(struct us_poll_t *p, LIBUS_SOCKET_DESCRIPTOR fd, int poll_type) {
    p->fd = fd;
    p->kind = (unsigned char)poll_type;
}

void us_poll_start(struct us_poll_t *p, struct us_loop_t *loop, int events) {
    p->events = (unsigned char)(events & (LIBUS_SOCKET_READABLE | LIBUS_SOCKET_WRITABLE));
    register_op(p, loop, (p->flags & US_POLL_REGISTERED) ? EPOLL_CTL_MOD : EPOLL_CTL_ADD);
}

void us_poll_change(struct us_poll_t *p, struct us_loop_t *loop, int events) {
    unsigned char wanted = (unsigned char)(events & (LIBUS_SOCKET_READABLE | LIBUS_SOCKET_WRITABLE));
    if (wanted == p->events) {
        return;
    }
    p->events = wanted;
    if (p->flags & US_POLL_REGISTERED) {
        register_op(p, loop, EPOLL_CTL_MOD);
    }
}

void us_poll_stop(struct us_poll_t *p, struct us_loop_t *loop) {
    if (p->flags & US_POLL_REGISTERED) {
        struct epoll_event ev; /* ignored by the kernel, non-NULL for old ones */
        memset(&ev, 0, sizeof(ev));
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, p->fd, &ev);
        p->flags &= (unsigned char)~US_POLL_REGISTERED;
    }
    drop_pending(p, loop);
}

int us_poll_events(struct us_poll_t *p) {
    return p->events;
}

void *us_poll_ext(struct us_poll_t *p) {
    return (char *)p + US_POLL_HEADER_SIZE;
}

LIBUS_SOCKET_DESCRIPTOR us_poll_fd(struct us_poll_t *p) {
    return p->fd;
}

struct us_poll_t *us_poll_resize(struct us_poll_t *p, struct us_loop_t *loop, unsigned int ext_size) {
    /* NULL on allocation failure; `p` is then still valid and unchanged. */
    return us_internal_poll_realloc(p, loop, US_POLL_HEADER_SIZE + ext_size);
}
