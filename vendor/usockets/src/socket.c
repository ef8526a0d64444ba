/*
 * Connected sockets: event dispatch (the recv -> on_data hot path), writes,
 * half-close, close with deferred free, timeouts and address queries.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

static inline struct us_loop_t *loop_of(struct us_socket_t *s) {
    return s->context->loop;
}

static inline void want_writable(struct us_loop_t *loop, struct us_socket_t *s) {
    loop->last_write_failed = 1;
    us_poll_change(&s->p, loop, s->p.events | LIBUS_SOCKET_WRITABLE);
}

/* ---- dispatch ---------------------------------------------------------------- */

void us_internal_dispatch_socket(struct us_loop_t *loop, struct us_socket_t *s, unsigned int events) {
    if (US_UNLIKELY(events & (EPOLLERR | EPOLLHUP))) {
        us_socket_close(0, s, 0, NULL);
        return;
    }

    if (events & LIBUS_SOCKET_WRITABLE) {
        loop->last_write_failed = 0;
        if (s->context->on_writable) {
            s = s->context->on_writable(s);
            if (!s || (s->state & US_SOCKET_CLOSED)) {
                return;
            }
        }
        /* Keep watching only if the callback left data the kernel refused
         * (a shut-down socket has nothing left to send, unless TLS owes bytes). */
        if (!loop->last_write_failed ||
            (s->state & (US_SOCKET_SHUT_DOWN | US_SOCKET_FIN_OWED)) == US_SOCKET_SHUT_DOWN) {
            us_poll_change(&s->p, loop, s->p.events & ~LIBUS_SOCKET_WRITABLE);
        }
    }

    if (!(events & LIBUS_SOCKET_READABLE)) {
        return;
    }
    if (US_UNLIKELY(s->context->is_low_prio != NULL) && s->context->is_low_prio(s) &&
        !us_internal_low_prio_admit(loop, s)) {
        return; /* a handshake beyond this iteration's budget: later */
    }
    char *buf = loop->recv_buf + LIBUS_RECV_BUFFER_PADDING;
    for (;;) {
        if (!(s->p.events & LIBUS_SOCKET_READABLE)) {
            return; /* paused by a callback */
        }
        ssize_t n = recv(s->p.fd, buf, LIBUS_RECV_BUFFER_LENGTH, 0);
        if (US_LIKELY(n > 0)) {
            if (s->context->on_data) {
                s = s->context->on_data(s, buf, (int)n);
            }
            if (n == LIBUS_RECV_BUFFER_LENGTH && s && !(s->state & US_SOCKET_CLOSED)) {
                continue; /* the buffer was full: there may be more */
            }
            return;
        }
        if (n == 0) {
            if (s->state & US_SOCKET_SHUT_DOWN) {
                us_socket_close(0, s, 0, NULL); /* both directions finished */
                return;
            }
            us_poll_change(&s->p, loop, s->p.events & ~LIBUS_SOCKET_READABLE);
            if (s->context->on_end) {
                s->context->on_end(s);
            }
            return;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            us_socket_close(0, s, 0, NULL);
        }
        return;
    }
}

/* ---- writing ------------------------------------------------------------------ */

int us_internal_socket_send(struct us_socket_t *s, const char *data, int length, int msg_more) {
    if (US_UNLIKELY((s->state & US_SOCKET_CLOSED) || length <= 0)) {
        return 0;
    }
    struct us_loop_t *loop = loop_of(s);
    int flags = MSG_NOSIGNAL | (msg_more ? MSG_MORE : 0);
    ssize_t n;
    do {
        loop->send_syscalls++;
        n = send(s->p.fd, data, (size_t)length, flags);
    } while (n < 0 && errno == EINTR);
    if (US_UNLIKELY(n < length)) {
        if (n < 0) {
            n = 0; /* EAGAIN, or a real error that epoll will report as ERR/HUP */
        }
        want_writable(loop, s);
    }
    return (int)n;
}

int us_socket_write(int ssl, struct us_socket_t *s, const char *data, int length, int msg_more) {
    if (ssl) {
        return us_internal_ssl_write(s, data, length, msg_more);
    }
    if (US_UNLIKELY(s->state & US_SOCKET_SHUT_DOWN)) {
        return 0;
    }
    return us_internal_socket_send(s, data, length, msg_more);
}

int us_socket_write2(int ssl, struct us_socket_t *s, const char *header, int header_length, const char *payload,
                     int payload_length) {
    if (ssl) {
        /* TLS has no gather write: two records, the first marked "more". */
        int n = us_internal_ssl_write(s, header, header_length, payload_length > 0);
        if (n < header_length) {
            return n > 0 ? n : 0;
        }
        return n + us_internal_ssl_write(s, payload, payload_length, 0);
    }
    if (header_length < 0) {
        header_length = 0;
    }
    if (payload_length < 0) {
        payload_length = 0;
    }
    int total = header_length + payload_length;
    if (US_UNLIKELY((s->state & (US_SOCKET_CLOSED | US_SOCKET_SHUT_DOWN)) || total <= 0)) {
        return 0;
    }
    struct us_loop_t *loop = loop_of(s);
    struct iovec iov[2];
    iov[0].iov_base = (void *)header;
    iov[0].iov_len = (size_t)header_length;
    iov[1].iov_base = (void *)payload;
    iov[1].iov_len = (size_t)payload_length;
    ssize_t n;
    do {
        loop->send_syscalls++;
        n = writev(s->p.fd, iov, 2);
    } while (n < 0 && errno == EINTR);
    if (US_UNLIKELY(n < total)) {
        if (n < 0) {
            n = 0;
        }
        want_writable(loop, s);
    }
    return (int)n;
}

void us_socket_flush(int ssl, struct us_socket_t *s) {
    (void)ssl;
    if (!(s->state & (US_SOCKET_CLOSED | US_SOCKET_SHUT_DOWN))) {
        int zero = 0; /* uncorking pushes out anything held back by MSG_MORE */
        setsockopt(s->p.fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
    }
}

/* ---- timeouts -------------------------------------------------------------------- */

void us_socket_timeout(int ssl, struct us_socket_t *s, unsigned int seconds) {
    (void)ssl;
    if (seconds == 0) {
        s->timeout = US_TIMEOUT_OFF;
        return;
    }
    if (seconds > LIBUS_TIMEOUT_GRANULARITY * US_TICKS_PER_CYCLE) {
        seconds = LIBUS_TIMEOUT_GRANULARITY * US_TICKS_PER_CYCLE;
    }
    unsigned int ticks = (seconds + LIBUS_TIMEOUT_GRANULARITY - 1) / LIBUS_TIMEOUT_GRANULARITY;
    s->timeout = (unsigned char)((s->context->timestamp + ticks) % US_TICKS_PER_CYCLE);
}

void us_socket_long_timeout(int ssl, struct us_socket_t *s, unsigned int minutes) {
    (void)ssl;
    if (minutes == 0) {
        s->long_timeout = US_TIMEOUT_OFF;
        return;
    }
    if (minutes > US_TICKS_PER_CYCLE) {
        minutes = US_TICKS_PER_CYCLE;
    }
    s->long_timeout = (unsigned char)((s->context->long_timestamp + minutes) % US_TICKS_PER_CYCLE);
}

/* ---- half-close, state ----------------------------------------------------------- */

void us_socket_shutdown(int ssl, struct us_socket_t *s) {
    if (s->state & (US_SOCKET_CLOSED | US_SOCKET_SHUT_DOWN)) {
        return;
    }
    if (ssl) {
        us_internal_ssl_shutdown(s); /* close_notify, then the FIN */
        return;
    }
    shutdown(s->p.fd, SHUT_WR);
    s->state |= US_SOCKET_SHUT_DOWN;
    us_poll_change(&s->p, loop_of(s), s->p.events & ~LIBUS_SOCKET_WRITABLE);
}

void us_socket_shutdown_read(int ssl, struct us_socket_t *s) {
    (void)ssl;
    if (!(s->state & US_SOCKET_CLOSED)) {
        shutdown(s->p.fd, SHUT_RD);
    }
}

int us_socket_is_shut_down(int ssl, struct us_socket_t *s) {
    (void)ssl;
    return (s->state & US_SOCKET_SHUT_DOWN) != 0;
}

int us_socket_is_closed(int ssl, struct us_socket_t *s) {
    (void)ssl;
    return (s->state & US_SOCKET_CLOSED) != 0;
}

struct us_socket_t *us_socket_close(int ssl, struct us_socket_t *s, int code, void *reason) {
    (void)ssl;
    if (s->state & US_SOCKET_CLOSED) {
        return s;
    }
    struct us_socket_context_t *ctx = s->context;
    struct us_loop_t *loop = ctx->loop;
    us_internal_context_unlink_socket(ctx, s);
    if (US_UNLIKELY(s->low_prio)) {
        us_internal_low_prio_remove(loop, s);
    }
    us_internal_poll_forget(&s->p, loop);
    if (code == LIBUS_SOCKET_CLOSE_CODE_CONNECTION_RESET) {
        /* Abortive close: the peer gets an RST, nothing lingers in TIME_WAIT. */
        struct linger lin = {1, 0};
        setsockopt(s->p.fd, SOL_SOCKET, SO_LINGER, &lin, sizeof(lin));
    }
    close(s->p.fd);
    s->state |= US_SOCKET_CLOSED;
    /* Memory stays valid until the post phase of the current iteration. */
    s->next = loop->closed_head;
    loop->closed_head = s;
    us_internal_socket_removed(loop);
    if (ctx->on_close) {
        return ctx->on_close(s, code, reason);
    }
    return s;
}

/* ---- accessors ---------------------------------------------------------------------- */

void *us_socket_ext(int ssl, struct us_socket_t *s) {
    if (ssl) return (char *)s + sizeof(struct us_internal_ssl_socket_t);
    return (char *)s + sizeof(struct us_socket_t);
}

struct us_socket_context_t *us_socket_context(int ssl, struct us_socket_t *s) {
    (void)ssl;
    return s->context;
}

static int port_of(const struct sockaddr_storage *a) {
    if (a->ss_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *)a)->sin_port);
    }
    if (a->ss_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    }
    return -1;
}

int us_socket_local_port(int ssl, struct us_socket_t *s) {
    (void)ssl;
    struct sockaddr_storage a;
    socklen_t len = sizeof(a);
    if ((s->state & US_SOCKET_CLOSED) || getsockname(s->p.fd, (struct sockaddr *)&a, &len) != 0) {
        return -1;
    }
    return port_of(&a);
}

int us_socket_remote_port(int ssl, struct us_socket_t *s) {
    (void)ssl;
    struct sockaddr_storage a;
    socklen_t len = sizeof(a);
    if ((s->state & US_SOCKET_CLOSED) || getpeername(s->p.fd, (struct sockaddr *)&a, &len) != 0) {
        return -1;
    }
    return port_of(&a);
}

void us_socket_remote_address(int ssl, struct us_socket_t *s, char *buf, int *length) {
    (void)ssl;
    struct sockaddr_storage a;
    socklen_t len = sizeof(a);
    char ip[16];
    int n = 0;
    if (!(s->state & US_SOCKET_CLOSED) && getpeername(s->p.fd, (struct sockaddr *)&a, &len) == 0) {
        n = us_internal_sockaddr_ip(&a, ip);
    }
    if (n == 0 || *length < n) {
        *length = 0;
        return;
    }
    memcpy(buf, ip, (size_t)n);
    *length = n;
}

void *us_socket_get_native_handle(int ssl, struct us_socket_t *s) {
    if (ssl) {
        return ((struct us_internal_ssl_socket_t *)s)->ssl;
    }
    return (void *)(intptr_t)s->p.fd;
}
