/*
 * Socket contexts (a group of sockets sharing callbacks and ext memory),
 * listening sockets, the accept path, adoption, and the timeout sweep that
 * walks every context's socket list once per tick.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4 */
#endif
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define US_LISTEN_BACKLOG 512

/* ---- list maintenance ------------------------------------------------------- */

void us_internal_context_link_socket(struct us_socket_context_t *ctx, struct us_socket_t *s) {
    s->context = ctx;
    s->prev = NULL;
    s->next = ctx->head_sockets;
    if (ctx->head_sockets) {
        ctx->head_sockets->prev = s;
    }
    ctx->head_sockets = s;
}

void us_internal_context_unlink_socket(struct us_socket_context_t *ctx, struct us_socket_t *s) {
    if (ctx->iterator == s) {
        ctx->iterator = s->next; /* keep a running sweep on track */
    }
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        ctx->head_sockets = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
    s->prev = s->next = NULL;
}

static void link_listen(struct us_socket_context_t *ctx, struct us_listen_socket_t *ls) {
    struct us_socket_t *s = &ls->s;
    s->context = ctx;
    s->prev = NULL;
    s->next = (struct us_socket_t *)ctx->head_listen_sockets;
    if (s->next) {
        s->next->prev = s;
    }
    ctx->head_listen_sockets = ls;
}

static void unlink_listen(struct us_socket_context_t *ctx, struct us_listen_socket_t *ls) {
    struct us_socket_t *s = &ls->s;
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        ctx->head_listen_sockets = (struct us_listen_socket_t *)s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
    s->prev = s->next = NULL;
}

/* ---- contexts ---------------------------------------------------------------- */

void us_internal_context_init(struct us_socket_context_t *ctx, struct us_loop_t *loop) {
    ctx->loop = loop;
    ctx->next = loop->head_contexts;
    if (ctx->next) {
        ctx->next->prev = ctx;
    }
    loop->head_contexts = ctx;
}

struct us_socket_context_t *us_create_socket_context(int ssl, struct us_loop_t *loop, int ext_size,
                                                     struct us_socket_context_options_t options) {
    if (ext_size < 0) {
        errno = EINVAL;
        return NULL;
    }
    if (ssl) {
        return us_internal_ssl_context_create(loop, ext_size, options);
    }
    struct us_socket_context_t *ctx = calloc(1, sizeof(*ctx) + (size_t)ext_size);
    if (!ctx) {
        return NULL;
    }
    us_internal_context_init(ctx, loop);
    return ctx;
}

void us_socket_context_free(int ssl, struct us_socket_context_t *ctx) {
    (void)ssl;
    struct us_loop_t *loop = ctx->loop;
    if (loop->iterator_context == ctx) {
        loop->iterator_context = ctx->next; /* freed from inside a sweep callback */
    }
    if (ctx->prev) {
        ctx->prev->next = ctx->next;
    } else {
        loop->head_contexts = ctx->next;
    }
    if (ctx->next) {
        ctx->next->prev = ctx->prev;
    }
    if (ctx->is_ssl) {
        us_internal_ssl_context_release(ctx);
    }
    free(ctx);
}

void us_socket_context_close(int ssl, struct us_socket_context_t *ctx) {
    (void)ssl;
    while (ctx->head_listen_sockets) {
        us_listen_socket_close(0, ctx->head_listen_sockets);
    }
    while (ctx->head_sockets) {
        us_socket_close(0, ctx->head_sockets, 0, NULL);
    }
}

void *us_socket_context_ext(int ssl, struct us_socket_context_t *ctx) {
    if (ssl) return (char *)ctx + sizeof(struct us_internal_ssl_socket_context_t);
    return (char *)ctx + sizeof(*ctx);
}

struct us_loop_t *us_socket_context_loop(int ssl, struct us_socket_context_t *ctx) {
    (void)ssl;
    return ctx->loop;
}

unsigned short us_socket_context_timestamp(int ssl, struct us_socket_context_t *ctx) {
    (void)ssl;
    return ctx->timestamp;
}

struct us_socket_context_t *us_create_child_socket_context(int ssl, struct us_socket_context_t *ctx,
                                                           int context_ext_size) {
    if (ssl) {
        return us_internal_ssl_child_context_create(ctx, context_ext_size);
    }
    struct us_socket_context_options_t none;
    memset(&none, 0, sizeof(none));
    return us_create_socket_context(ssl, ctx->loop, context_ext_size, none);
}

void us_socket_context_on_pre_open(int ssl, struct us_socket_context_t *ctx,
    LIBUS_SOCKET_DESCRIPTOR (*cb)(struct us_socket_context_t *, LIBUS_SOCKET_DESCRIPTOR, char *, int)) {
    (void)ssl;
    ctx->on_pre_open = cb;
}

void us_socket_context_on_open(int ssl, struct us_socket_context_t *ctx,
                               struct us_socket_t *(*cb)(struct us_socket_t *, int, char *, int)) {
    if (ssl) {
        ((struct us_internal_ssl_socket_context_t *)ctx)->on_open = cb; /* called by the TLS layer */
        return;
    }
    ctx->on_open = cb;
}

void us_socket_context_on_close(int ssl, struct us_socket_context_t *ctx,
                                struct us_socket_t *(*cb)(struct us_socket_t *, int, void *)) {
    if (ssl) {
        ((struct us_internal_ssl_socket_context_t *)ctx)->on_close = cb; /* called by the TLS layer */
        return;
    }
    ctx->on_close = cb;
}

void us_socket_context_on_data(int ssl, struct us_socket_context_t *ctx,
                               struct us_socket_t *(*cb)(struct us_socket_t *, char *, int)) {
    if (ssl) {
        ((struct us_internal_ssl_socket_context_t *)ctx)->on_data = cb; /* called by the TLS layer */
        return;
    }
    ctx->on_data = cb;
}

void us_socket_context_on_writable(int ssl, struct us_socket_context_t *ctx,
                                   struct us_socket_t *(*cb)(struct us_socket_t *)) {
    if (ssl) {
        ((struct us_internal_ssl_socket_context_t *)ctx)->on_writable = cb; /* called by the TLS layer */
        return;
    }
    ctx->on_writable = cb;
}

void us_socket_context_on_timeout(int ssl, struct us_socket_context_t *ctx,
                                  struct us_socket_t *(*cb)(struct us_socket_t *)) {
    (void)ssl;
    ctx->on_timeout = cb;
}

void us_socket_context_on_long_timeout(int ssl, struct us_socket_context_t *ctx,
                                       struct us_socket_t *(*cb)(struct us_socket_t *)) {
    (void)ssl;
    ctx->on_long_timeout = cb;
}

void us_socket_context_on_end(int ssl, struct us_socket_context_t *ctx,
                              struct us_socket_t *(*cb)(struct us_socket_t *)) {
    (void)ssl;
    ctx->on_end = cb;
}

void us_socket_context_on_connect_error(int ssl, struct us_socket_context_t *ctx,
                                        struct us_socket_t *(*cb)(struct us_socket_t *, int)) {
    (void)ssl;
    ctx->on_connect_error = cb;
}

/* ---- timeout sweep ---------------------------------------------------------- */

/* Runs every LIBUS_TIMEOUT_GRANULARITY seconds while the loop has sockets.
 * Callbacks may close, adopt or free anything: both cursors (context and
 * socket) are advanced by the unlink functions, so we re-read them after
 * every callback instead of holding on to `next` pointers. */
void us_internal_timeout_sweep(struct us_timer_t *t) {
    struct us_loop_t *loop = us_timer_loop(t);
    struct us_socket_context_t *ctx;

    loop->iterator_context = loop->head_contexts;
    while ((ctx = loop->iterator_context)) {
        unsigned int tick = ++ctx->global_tick;
        unsigned char ts = (unsigned char)(tick % US_TICKS_PER_CYCLE);
        unsigned char lts = (unsigned char)((tick / 15) % US_TICKS_PER_CYCLE);
        ctx->timestamp = ts;
        ctx->long_timestamp = lts;

        struct us_socket_t *s;
        ctx->iterator = ctx->head_sockets;
        while ((s = ctx->iterator)) {
            if (s->timeout == ts) {
                s->timeout = US_TIMEOUT_OFF;
                if (ctx->on_timeout) {
                    ctx->on_timeout(s);
                }
                if (loop->iterator_context != ctx) {
                    goto next_context; /* this context was freed */
                }
                if (ctx->iterator != s) {
                    continue; /* s left the list; the cursor already moved on */
                }
            }
            if (s->long_timeout == lts) {
                s->long_timeout = US_TIMEOUT_OFF;
                if (ctx->on_long_timeout) {
                    ctx->on_long_timeout(s);
                }
                if (loop->iterator_context != ctx) {
                    goto next_context;
                }
                if (ctx->iterator != s) {
                    continue;
                }
            }
            ctx->iterator = s->next;
        }
        loop->iterator_context = ctx->next;
    next_context:;
    }
}

/* ---- listening ----------------------------------------------------------------- */

static int ensure_accept_timer(struct us_loop_t *loop) {
    if (!loop->accept_timer) {
        loop->accept_timer = (struct us_internal_callback_t *)us_create_timer(loop, 1, 0);
    }
    return loop->accept_timer ? 0 : -1;
}

static struct us_listen_socket_t *make_listen_socket(struct us_socket_context_t *ctx, int fd,
                                                     int socket_ext_size) {
    struct us_loop_t *loop = ctx->loop;
    struct us_listen_socket_t *ls = NULL;
    if (ensure_accept_timer(loop) == 0) {
        ls = malloc(sizeof(*ls));
    }
    if (!ls) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    us_internal_poll_setup(&ls->s.p, loop, fd, US_POLL_LISTEN, 0);
    us_poll_start(&ls->s.p, loop, LIBUS_SOCKET_READABLE);
    if (!(ls->s.p.flags & US_POLL_REGISTERED)) {
        int saved = errno;
        us_internal_poll_forget(&ls->s.p, loop);
        close(fd);
        free(ls);
        errno = saved;
        return NULL;
    }
    ls->s.timeout = US_TIMEOUT_OFF;
    ls->s.long_timeout = US_TIMEOUT_OFF;
    ls->s.state = 0;
    ls->s.low_prio = US_LOW_PRIO_NONE;
    ls->socket_ext_size = socket_ext_size > 0 ? (unsigned int)socket_ext_size : 0;
    ls->accept_paused = 0;
    link_listen(ctx, ls);
    return ls;
}

static int gai_to_errno(int rc) {
    switch (rc) {
    case EAI_SYSTEM:
        return errno;
    case EAI_MEMORY:
        return ENOMEM;
    case EAI_FAMILY:
        return EAFNOSUPPORT;
    default:
        return EADDRNOTAVAIL;
    }
}

struct us_listen_socket_t *us_socket_context_listen(int ssl, struct us_socket_context_t *ctx, const char *host,
                                                    int port, int options, int socket_ext_size) {
    (void)ssl;
    if (port < 0 || port > 65535) {
        errno = EINVAL;
        return NULL;
    }
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    if (host && !*host) {
        host = NULL; /* "" means the wildcard address, like NULL */
    }

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_PASSIVE;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0) {
        errno = gai_to_errno(rc);
        return NULL;
    }

    /* IPv6 first (dual stack), then IPv4; fall back only if the family is unusable. */
    struct addrinfo *candidates[2] = {NULL, NULL};
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET6 && !candidates[0]) {
            candidates[0] = a;
        } else if (a->ai_family == AF_INET && !candidates[1]) {
            candidates[1] = a;
        }
    }
    /* Each family in turn until one binds: a host without IPv6 (or a name
     * whose IPv6 address is not configured) still gets its IPv4 listener. */
    int fd = -1;
    int err = EAFNOSUPPORT;
    for (int i = 0; i < 2 && fd < 0; i++) {
        struct addrinfo *a = candidates[i];
        if (!a) {
            continue;
        }
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (port != 0 && !(options & LIBUS_LISTEN_EXCLUSIVE_PORT)) {
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        }
        if (a->ai_family == AF_INET6) {
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        }
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, US_LISTEN_BACKLOG) != 0) {
            err = errno;
            close(fd);
            fd = -1;
            /* A port in use is in use for both families: no point trying the other. */
            if (err == EADDRINUSE) {
                break;
            }
        }
    }
    if (fd < 0) {
        freeaddrinfo(res);
        errno = err;
        return NULL;
    }
    freeaddrinfo(res);
    return make_listen_socket(ctx, fd, socket_ext_size);
}

struct us_listen_socket_t *us_socket_context_listen_unix(int ssl, struct us_socket_context_t *ctx,
                                                         const char *path, int options, int socket_ext_size) {
    (void)ssl;
    (void)options;
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    size_t len = path ? strlen(path) : 0;
    if (len == 0 || len >= sizeof(addr.sun_path)) {
        errno = len ? ENAMETOOLONG : EINVAL;
        return NULL;
    }
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, len + 1);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return NULL;
    }
    unlink(path);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    if (bind(fd, (struct sockaddr *)&addr, alen) != 0 || listen(fd, US_LISTEN_BACKLOG) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    return make_listen_socket(ctx, fd, socket_ext_size);
}

void us_listen_socket_close(int ssl, struct us_listen_socket_t *ls) {
    (void)ssl;
    struct us_socket_t *s = &ls->s;
    if (s->state & US_SOCKET_CLOSED) {
        return;
    }
    struct us_socket_context_t *ctx = s->context;
    struct us_loop_t *loop = ctx->loop;
    us_internal_poll_forget(&s->p, loop);
    close(s->p.fd);
    unlink_listen(ctx, ls);
    s->state |= US_SOCKET_CLOSED;
    ls->accept_paused = 0;
    /* We may be inside this socket's accept loop: free it in the post phase. */
    s->next = loop->closed_head;
    loop->closed_head = s;
}

/* ---- accepting ------------------------------------------------------------------- */

int us_internal_sockaddr_ip(const struct sockaddr_storage *addr, char *out16) {
    if (addr->ss_family == AF_INET) {
        memcpy(out16, &((const struct sockaddr_in *)addr)->sin_addr, 4);
        return 4;
    }
    if (addr->ss_family == AF_INET6) {
        memcpy(out16, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

/* One-shot retry after accept ran out of descriptors or memory. */
static void accept_retry(struct us_timer_t *t) {
    struct us_loop_t *loop = us_timer_loop(t);
    for (struct us_socket_context_t *ctx = loop->head_contexts; ctx; ctx = ctx->next) {
        for (struct us_listen_socket_t *ls = ctx->head_listen_sockets; ls;
             ls = (struct us_listen_socket_t *)ls->s.next) {
            if (ls->accept_paused) {
                ls->accept_paused = 0;
                us_poll_change(&ls->s.p, loop, LIBUS_SOCKET_READABLE);
            }
        }
    }
}

/* Stop polling the listen fd (it stays readable while the backlog is full,
 * which would spin the loop) and look again shortly. */
static void pause_accept(struct us_listen_socket_t *ls) {
    struct us_loop_t *loop = ls->s.context->loop;
    us_poll_change(&ls->s.p, loop, 0);
    ls->accept_paused = 1;
    us_timer_set((struct us_timer_t *)loop->accept_timer, accept_retry, US_ACCEPT_RETRY_MS, 0);
}

void us_internal_dispatch_listen(struct us_listen_socket_t *ls) {
    for (;;) {
        struct sockaddr_storage addr;
        socklen_t alen = sizeof(addr);
        int fd = accept4(ls->s.p.fd, (struct sockaddr *)&addr, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            switch (errno) {
            case EINTR:
            case ECONNABORTED:
            case EPROTO:
            case ENETDOWN:
            case ENOPROTOOPT:
            case EHOSTDOWN:
            case ENONET:
            case EHOSTUNREACH:
            case ENETUNREACH:
                continue; /* that connection died in the queue; take the next one */
            case EMFILE:
            case ENFILE:
            case ENOBUFS:
            case ENOMEM:
                pause_accept(ls);
                return;
            default:
                return; /* EAGAIN: backlog drained */
            }
        }

        char ip[16];
        if (alen > sizeof(addr)) {
            addr.ss_family = AF_UNSPEC;
        }
        int ip_length = us_internal_sockaddr_ip(&addr, ip);
        struct us_socket_context_t *ctx = ls->s.context;

        if (ctx->on_pre_open && ctx->on_pre_open(ctx, fd, ip, ip_length) != fd) {
            /* the callback took ownership of fd */
        } else {
            us_adopt_accepted_socket(ctx->is_ssl, ctx, fd, ls->socket_ext_size, ip, ip_length);
        }
        if (ls->s.state & US_SOCKET_CLOSED) {
            return; /* closed from a callback; memory stays valid until the post phase */
        }
    }
}

struct us_socket_t *us_adopt_accepted_socket(int ssl, struct us_socket_context_t *ctx,
                                             LIBUS_SOCKET_DESCRIPTOR fd, unsigned int socket_ext_size,
                                             char *addr_ip, int addr_ip_length) {
    (void)ssl; /* the context knows */
    struct us_loop_t *loop = ctx->loop;
    size_t header = us_internal_socket_header_size(ctx);
    struct us_socket_t *s = malloc(header + socket_ext_size);
    if (!s) {
        close(fd);
        return NULL;
    }
    us_internal_poll_setup(&s->p, loop, fd, US_POLL_SOCKET, 0);
    us_poll_start(&s->p, loop, LIBUS_SOCKET_READABLE);
    if (US_UNLIKELY(!(s->p.flags & US_POLL_REGISTERED))) {
        us_internal_poll_forget(&s->p, loop);
        close(fd);
        free(s);
        return NULL;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on AF_UNIX */

    if (header > sizeof(*s)) {
        memset((char *)s + sizeof(*s), 0, header - sizeof(*s)); /* the TLS fields */
    }
    s->timeout = US_TIMEOUT_OFF;
    s->long_timeout = US_TIMEOUT_OFF;
    s->state = 0;
    s->low_prio = US_LOW_PRIO_NONE;
    us_internal_context_link_socket(ctx, s);
    us_internal_sockets_added(loop);

    if (ctx->on_open) {
        s = ctx->on_open(s, 0, addr_ip, addr_ip_length);
    }
    return s;
}

struct us_socket_t *us_socket_context_adopt_socket(int ssl, struct us_socket_context_t *ctx, struct us_socket_t *s,
                                                   int ext_size) {
    (void)ssl;
    if (s->state & US_SOCKET_CLOSED) {
        return s;
    }
    struct us_socket_context_t *old = s->context;
    struct us_loop_t *loop = old->loop;
    if (ext_size < 0) {
        ext_size = 0;
    }
    if (old->is_ssl != ctx->is_ssl) {
        errno = EINVAL; /* a TLS connection stays TLS */
        return us_socket_close(0, s, 0, NULL);
    }
    us_internal_context_unlink_socket(old, s);
    int was_queued = s->low_prio == US_LOW_PRIO_QUEUED; /* its reading is paused */
    if (US_UNLIKELY(s->low_prio)) {
        us_internal_low_prio_remove(loop, s);
    }
    struct us_socket_t *ns =
        us_internal_poll_realloc(&s->p, loop, us_internal_socket_header_size(ctx) + (size_t)ext_size);
    if (US_UNLIKELY(!ns)) {
        /* Out of memory: the socket cannot satisfy the new ext size. Put it
         * back where it was and close it there. */
        us_internal_context_link_socket(old, s);
        return us_socket_close(0, s, 0, NULL);
    }
    ns->timeout = US_TIMEOUT_OFF;
    ns->long_timeout = US_TIMEOUT_OFF;
    if (US_UNLIKELY(was_queued)) {
        /* Out of the queue: read again (the next read pays the budget as usual). */
        us_poll_change(&ns->p, loop, ns->p.events | LIBUS_SOCKET_READABLE);
    }
    us_internal_context_link_socket(ctx, ns);
    return ns;
}
