/*
 * Socket writer: how every protocol (HTTP now, WebSocket next) puts bytes on a
 * uSockets socket.
 *
 *  - The per-loop cork: one 16 KiB buffer and at most one corked socket per
 *    loop, kept in the loop's ext (sw_loop_t). While a socket is corked its
 *    writes collect there and leave in one send at uncork.
 *  - The per-socket output queue (sw_conn_t, embedded at the start of each
 *    protocol's socket ext): what the kernel did not take, sent on writable.
 *    Callers see its size and a limit (backpressure).
 *  - The socket timeout while output is queued: a progress deadline re-armed
 *    whenever the peer takes bytes; once the queue is empty the protocol's own
 *    timeout (sw_timeout) applies again.
 *  - Half-close after the last queued byte (sw_shutdown).
 *  - Coalescing outside the loop's iterations: a write made from outside any
 *    callback (an asyncio task after an await) is queued, not sent; the
 *    first one asks the owner for a flush (on_deferred), and
 *    sw_flush_deferred then sends each socket's queue in one syscall. So N
 *    sends after an await cost one syscall per socket, not N.
 *
 * Every uSockets call passes the socket's ssl flag; nothing here knows HTTP.
 */
#ifndef SOCKETIFY_SOCKET_WRITER_H
#define SOCKETIFY_SOCKET_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include "libusockets.h"

#define SW_CORK_BUFFER_SIZE (16 * 1024)

typedef struct sw_conn_s sw_conn_t;

/* Lives in the loop's ext (us_loop_ext); shared by every context on the loop. */
typedef struct sw_loop_s {
    sw_conn_t *corked;       /* at most one corked socket per loop */
    uint32_t cork_len;
    void *user;              /* the owner of the loop (the app) */
    uint8_t in_iteration;    /* inside a loop pass: writes go out at once */
    sw_conn_t *deferred;     /* sockets with coalesced writes to flush */
    void (*on_deferred)(void *arg); /* the first deferred write since the last flush */
    void *deferred_arg;
    char cork_buf[SW_CORK_BUFFER_SIZE];
} sw_loop_t;

struct sw_conn_s {
    struct us_socket_t *socket;
    sw_loop_t *loop;
    char *out_buf;           /* bytes the kernel did not take yet: out_buf[out_off, out_len) */
    size_t out_len, out_cap, out_off;
    uint32_t rest_timeout;   /* protocol's timeout (s) when nothing is queued; 0 = none */
    uint32_t progress_timeout; /* s without progress before a stuck queue is given up */
    uint8_t ssl;
    uint8_t shutdown_pending;/* half-close once the queue is empty */
    uint32_t linger_timeout; /* s to wait for the peer's FIN after ours */
    uint8_t shut_down;       /* our FIN is out */
    uint8_t peer_ended;      /* the peer's FIN arrived (set by the protocol's on_end) */
    uint8_t deferred;        /* on the loop's deferred list */
    sw_conn_t *deferred_prev, *deferred_next;
};

/* Result of sw_write: the bytes are always taken (queued if need be) unless the
 * socket is closed; SW_BACKPRESSURE says the queue is above the caller's limit. */
enum { SW_OK = 0, SW_BACKPRESSURE = 1, SW_CLOSED = -1 };

void sw_loop_init(sw_loop_t *loop, void *user);
static inline sw_loop_t *sw_loop_of(struct us_loop_t *loop) { return (sw_loop_t *)us_loop_ext(loop); }

void sw_conn_init(sw_conn_t *c, struct us_socket_t *s, int ssl, sw_loop_t *loop);
/* The socket's ext is about to move (adoption into another context): take c
 * off the loop's cork and deferred list; sw_conn_relink puts the moved copy
 * (whose socket field the caller has updated) back. */
int sw_conn_unlink(sw_conn_t *c);
void sw_conn_relink(sw_conn_t *c, int links);
/* The socket closed: drop the queue and the cork. */
void sw_conn_release(sw_conn_t *c);

static inline int sw_closed(const sw_conn_t *c) { return us_socket_is_closed(c->ssl, c->socket); }
static inline size_t sw_buffered(const sw_conn_t *c) { return c->out_len - c->out_off; }

/* Cork c. Returns 1 if this call corked it (the caller must sw_uncork), 0 if c
 * was corked already or another socket holds bytes in the cork. */
int sw_cork(sw_conn_t *c);
/* Send what c has corked (one syscall). Safe to call whoever holds the cork:
 * it then only re-checks a pending half-close. */
void sw_uncork(sw_conn_t *c);
static inline int sw_is_corked(const sw_conn_t *c) { return c->loop->corked == c; }

/* Write a then b (either may be empty) in order: into the cork if c holds it,
 * else in one syscall where possible; the rest is queued. */
int sw_write2(sw_conn_t *c, const char *a, size_t alen, const char *b, size_t blen, size_t limit);
static inline int sw_write(sw_conn_t *c, const char *data, size_t len, size_t limit) {
    return sw_write2(c, data, len, NULL, 0, limit);
}
/* Flush everything owed first (cork and queue), then offer data: only what the
 * kernel takes now is accepted, nothing of data is queued. Returns the bytes of
 * data accepted. */
size_t sw_write_optional(sw_conn_t *c, const char *data, size_t len);
/* Send queued output (on writable). Returns 1 once the queue is empty. */
int sw_drain(sw_conn_t *c);
/* Send every coalesced queue (one syscall per socket where the kernel takes it all). */
void sw_flush_deferred(sw_loop_t *loop);

/* The protocol's timeout for when nothing is queued (seconds, 0 = none). */
void sw_timeout(sw_conn_t *c, uint32_t seconds);
/* Half-close once every queued and corked byte is out, then wait linger_s
 * seconds (0: keep the last value) for the peer to close; close at once if the
 * peer has ended already. Returns 1 if the FIN went out now. */
int sw_shutdown(sw_conn_t *c, uint32_t linger_s);
void sw_close(sw_conn_t *c);

#endif
