/*
 * Private structures and helpers shared by the epoll backend of socketify_cy's
 * uSockets implementation. Nothing here is part of the public API.
 *
 * Layout rules:
 *  - every object that carries caller ext memory is declared 16-byte aligned so
 *    that sizeof() is a multiple of 16 and ext starts right after the struct;
 *  - a socket starts with its poll, a listen socket starts with a socket, a
 *    timer starts with its poll; this makes the public pointer casts valid.
 */
#ifndef US_INTERNAL_H
#define US_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "libusockets.h"

#define US_ALIGNED __attribute__((aligned(LIBUS_EXT_ALIGNMENT)))
#define US_LIKELY(x) __builtin_expect(!!(x), 1)
#define US_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define US_MAX_READY_POLLS 1024
#define US_SWEEP_MS (LIBUS_TIMEOUT_GRANULARITY * 1000)
#define US_ACCEPT_RETRY_MS 100
#define US_TIMEOUT_OFF 255
#define US_TICKS_PER_CYCLE 240

/* What a ready event on a poll means. */
enum us_poll_kind {
    US_POLL_SOCKET = 0,   /* accepted (or adopted) connection */
    US_POLL_LISTEN = 1,   /* listening socket: readable means "accept" */
    US_POLL_CALLBACK = 2, /* timerfd or eventfd with a callback */
    US_POLL_OTHER = 3,    /* bare poll from us_create_poll: never dispatched */
};

/* Poll flag bits. */
#define US_POLL_REGISTERED 1  /* currently in the epoll set */
#define US_POLL_FALLTHROUGH 2 /* does not keep us_loop_run alive */

struct us_poll_t {
    int fd;
    unsigned char kind;   /* enum us_poll_kind */
    unsigned char events; /* current interest: LIBUS_SOCKET_READABLE | _WRITABLE */
    unsigned char flags;  /* US_POLL_* */
    unsigned char spare;
};

/* Header size of a bare poll created with us_create_poll; ext follows. */
#define US_POLL_HEADER_SIZE \
    ((sizeof(struct us_poll_t) + LIBUS_EXT_ALIGNMENT - 1) & ~(size_t)(LIBUS_EXT_ALIGNMENT - 1))

/* Socket state bits. */
#define US_SOCKET_CLOSED 1
#define US_SOCKET_SHUT_DOWN 2 /* no more writes from the protocol (our FIN is out or owed) */
#define US_SOCKET_FIN_OWED 4  /* shut down, but the TLS layer still has bytes to send before the FIN */

/* Low-priority queue states (TLS handshakes, see loop.c). */
#define US_LOW_PRIO_NONE 0
#define US_LOW_PRIO_QUEUED 1   /* waiting for a turn; reading paused */
#define US_LOW_PRIO_RELEASED 2 /* given a turn by the pre phase: read once without budget */

struct us_socket_t {
    struct us_poll_t p; /* must be first */
    unsigned char timeout;      /* short tick at which on_timeout fires, 255 = off */
    unsigned char long_timeout; /* long tick at which on_long_timeout fires, 255 = off */
    unsigned char state;        /* US_SOCKET_* */
    unsigned char low_prio;     /* US_LOW_PRIO_* */
    struct us_socket_context_t *context;
    /* Context list links while open; `next` links the loop's closed list once closed. */
    struct us_socket_t *prev, *next;
} US_ALIGNED;

/* The TLS layer (ssl.c, the only file that sees OpenSSL) extends sockets
 * and contexts by starting its structs with the plain ones, so every cast
 * stays valid. Ext memory begins after the larger struct when ssl != 0:
 * us_socket_ext and us_socket_context_ext take the ssl flag for exactly this. */
struct us_internal_ssl_socket_t {
    struct us_socket_t s; /* must be first */
    void *ssl;            /* SSL * */
    void *sni_user;       /* user value of the server name the handshake matched */
    /* Ciphertext the kernel did not take (at most about one record): sent
     * before anything else, then freed. */
    char *tail;
    unsigned int tail_len, tail_off, tail_cap;
    /* Low-priority queue links (valid while low_prio == US_LOW_PRIO_QUEUED). */
    struct us_socket_t *lp_prev, *lp_next;
    unsigned char opened;         /* the protocol's on_open ran: it gets on_close too */
    unsigned char handshake_done;
    unsigned char write_wants_read; /* a write waited for the handshake: on_writable after it */
    unsigned char close_notify_sent;
    unsigned char failed;           /* not TLS, or a fatal TLS error: ignore input until closed */
    unsigned char preamble;         /* plaintext (a PROXY header) still leads the TLS bytes */
} US_ALIGNED;

struct us_listen_socket_t {
    struct us_socket_t s; /* must be first */
    unsigned int socket_ext_size;
    unsigned char accept_paused; /* accept hit a resource limit; waiting for the retry timer */
} US_ALIGNED;

/* Timers and the wakeup eventfd. us_timer_t is this struct. */
struct us_internal_callback_t {
    struct us_poll_t p; /* must be first */
    struct us_loop_t *loop;
    void (*cb)(struct us_timer_t *t); /* timers */
    unsigned char is_wakeup;          /* eventfd: call loop->wakeup_cb(loop) instead */
} US_ALIGNED;

struct us_socket_context_t {
    struct us_loop_t *loop;
    struct us_socket_context_t *prev, *next; /* loop's context list */
    struct us_socket_t *head_sockets;
    struct us_listen_socket_t *head_listen_sockets; /* linked through s.prev / s.next */
    struct us_socket_t *iterator; /* sweep cursor, advanced by unlink */
    unsigned int global_tick;
    unsigned char timestamp;      /* global_tick % 240 */
    unsigned char long_timestamp; /* (global_tick / 15) % 240 */

    LIBUS_SOCKET_DESCRIPTOR (*on_pre_open)(struct us_socket_context_t *, LIBUS_SOCKET_DESCRIPTOR, char *, int);
    struct us_socket_t *(*on_open)(struct us_socket_t *, int, char *, int);
    struct us_socket_t *(*on_close)(struct us_socket_t *, int, void *);
    struct us_socket_t *(*on_data)(struct us_socket_t *, char *, int);
    struct us_socket_t *(*on_writable)(struct us_socket_t *);
    struct us_socket_t *(*on_timeout)(struct us_socket_t *);
    struct us_socket_t *(*on_long_timeout)(struct us_socket_t *);
    struct us_socket_t *(*on_end)(struct us_socket_t *);
    struct us_socket_t *(*on_connect_error)(struct us_socket_t *, int);
    /* Non-NULL on TLS contexts: 1 while s is still handshaking (low priority). */
    int (*is_low_prio)(struct us_socket_t *);
    unsigned char is_ssl;
} US_ALIGNED;

struct us_internal_ssl_socket_context_t {
    struct us_socket_context_t sc; /* must be first */
    void *ssl_context;             /* SSL_CTX * (a reference of its own) */
    struct us_sni_tree *sni;       /* server names (listening context only) */
    void (*on_server_name)(struct us_socket_context_t *, const char *hostname);
    int (*on_preamble)(struct us_socket_t *, char *data, int length);
    /* The protocol's callbacks; the TLS layer installs its own on the plain context. */
    struct us_socket_t *(*on_open)(struct us_socket_t *, int, char *, int);
    struct us_socket_t *(*on_data)(struct us_socket_t *, char *, int);
    struct us_socket_t *(*on_writable)(struct us_socket_t *);
    struct us_socket_t *(*on_close)(struct us_socket_t *, int, void *);
} US_ALIGNED;

struct us_loop_t {
    int epfd;
    int num_ready;     /* entries of `ready` filled by the current epoll_wait, 0 outside dispatch */
    int current_ready; /* index being dispatched */
    int num_polls;     /* non-fallthrough polls alive (keeps us_loop_run going) */
    unsigned int num_sockets; /* open sockets (not listen sockets) in all contexts */
    unsigned char sweep_enabled; /* run / run_once / integrate was called */
    unsigned char sweep_armed;
    unsigned char last_write_failed; /* a write was partial since the flag was last cleared */
    unsigned char in_iteration;      /* guards against re-entrant run_once / run */
    long long iteration_nr;
    unsigned long long send_syscalls;
    int low_prio_budget;               /* low-priority reads left in this iteration */
    struct us_socket_t *low_prio_head; /* queued TLS handshakes, newest first */
    void *ssl_data;                    /* the TLS layer's per-loop state, NULL without TLS */
    char *recv_buf; /* LIBUS_RECV_BUFFER_LENGTH + 2 * LIBUS_RECV_BUFFER_PADDING */

    struct us_socket_context_t *head_contexts;
    struct us_socket_context_t *iterator_context; /* sweep cursor over contexts */
    struct us_socket_t *closed_head;              /* awaiting free in the post phase */

    struct us_internal_callback_t *sweep_timer;
    struct us_internal_callback_t *wakeup;
    struct us_internal_callback_t *accept_timer; /* created with the first listen socket */

    void (*wakeup_cb)(struct us_loop_t *);
    void (*pre_cb)(struct us_loop_t *);
    void (*post_cb)(struct us_loop_t *);

    struct epoll_event ready[US_MAX_READY_POLLS];
} US_ALIGNED;

_Static_assert(sizeof(struct us_socket_t) % LIBUS_EXT_ALIGNMENT == 0, "socket header alignment");
_Static_assert(sizeof(struct us_loop_t) % LIBUS_EXT_ALIGNMENT == 0, "loop header alignment");
_Static_assert(offsetof(struct us_socket_t, p) == 0, "socket must begin with its poll");
_Static_assert(offsetof(struct us_listen_socket_t, s) == 0, "listen socket must begin with a socket");
_Static_assert(offsetof(struct us_internal_ssl_socket_t, s) == 0, "TLS socket must begin with a socket");
_Static_assert(offsetof(struct us_internal_ssl_socket_context_t, sc) == 0, "TLS context must begin with a context");
_Static_assert(sizeof(struct us_internal_ssl_socket_t) % LIBUS_EXT_ALIGNMENT == 0, "TLS socket alignment");

struct us_sni_tree;

/* ---- poll.c ---- */
void us_internal_poll_setup(struct us_poll_t *p, struct us_loop_t *loop, int fd, int kind, int fallthrough);
void us_internal_poll_forget(struct us_poll_t *p, struct us_loop_t *loop);
void us_internal_poll_moved(struct us_loop_t *loop, uintptr_t old_addr, struct us_poll_t *p);
void *us_internal_poll_realloc(struct us_poll_t *p, struct us_loop_t *loop, size_t total_size);

/* ---- loop.c ---- */
void us_internal_sockets_added(struct us_loop_t *loop);
void us_internal_socket_removed(struct us_loop_t *loop);

/* ---- timer.c ---- */
struct us_internal_callback_t *us_internal_create_callback(struct us_loop_t *loop, int fd, int fallthrough,
                                                          unsigned int ext_size);
void us_internal_dispatch_callback(struct us_internal_callback_t *cb);

/* ---- context.c ---- */
void us_internal_context_init(struct us_socket_context_t *ctx, struct us_loop_t *loop);
void us_internal_context_link_socket(struct us_socket_context_t *ctx, struct us_socket_t *s);
void us_internal_context_unlink_socket(struct us_socket_context_t *ctx, struct us_socket_t *s);
void us_internal_dispatch_listen(struct us_listen_socket_t *ls);
void us_internal_timeout_sweep(struct us_timer_t *t);

struct sockaddr_storage;
int us_internal_sockaddr_ip(const struct sockaddr_storage *addr, char *out16);

/* ---- socket.c ---- */
void us_internal_dispatch_socket(struct us_loop_t *loop, struct us_socket_t *s, unsigned int events);
/* One send of raw bytes even on a shut-down socket (the TLS layer's own
 * bytes); returns the bytes taken and watches writable if not all were. */
int us_internal_socket_send(struct us_socket_t *s, const char *data, int length, int msg_more);
static inline size_t us_internal_socket_header_size(const struct us_socket_context_t *ctx) {
    return ctx->is_ssl ? sizeof(struct us_internal_ssl_socket_t) : sizeof(struct us_socket_t);
}

/* ---- loop.c: the low-priority queue ---- */
/* Called by dispatch before reading a socket whose context says it is low
 * priority; returns 0 if it must not be read now (it was queued). */
int us_internal_low_prio_admit(struct us_loop_t *loop, struct us_socket_t *s);
void us_internal_low_prio_remove(struct us_loop_t *loop, struct us_socket_t *s);

/* ---- ssl.c ---- */
struct us_socket_context_t *us_internal_ssl_context_create(struct us_loop_t *loop, int ext_size,
                                                           struct us_socket_context_options_t options);
struct us_socket_context_t *us_internal_ssl_child_context_create(struct us_socket_context_t *parent,
                                                                 int ext_size);
void us_internal_ssl_context_release(struct us_socket_context_t *ctx);
int us_internal_ssl_write(struct us_socket_t *s, const char *data, int length, int msg_more);
void us_internal_ssl_shutdown(struct us_socket_t *s);
void us_internal_ssl_loop_free(struct us_loop_t *loop);

#endif
