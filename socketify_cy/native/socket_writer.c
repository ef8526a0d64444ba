/*
 * Socket writer: the per-loop cork, the per-socket output queue, drain,
 * half-close after the last byte and the send-progress deadline. See
 * socket_writer.h for the contract.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "socket_writer.h"

/* uSockets takes int lengths: hand it at most this much per call. */
#define SW_MAX_WRITE ((size_t)INT_MAX & ~(size_t)4095)

void sw_loop_init(sw_loop_t *loop, void *user) {
    loop->corked = NULL;
    loop->cork_len = 0;
    loop->user = user;
    loop->in_iteration = 0;
    loop->deferred = NULL;
    loop->on_deferred = NULL;
    loop->deferred_arg = NULL;
}

static void undefer(sw_conn_t *c) {
    if (!c->deferred) return;
    if (c->deferred_prev) c->deferred_prev->deferred_next = c->deferred_next;
    else c->loop->deferred = c->deferred_next;
    if (c->deferred_next) c->deferred_next->deferred_prev = c->deferred_prev;
    c->deferred_prev = c->deferred_next = NULL;
    c->deferred = 0;
}

void sw_conn_init(sw_conn_t *c, struct us_socket_t *s, int ssl, sw_loop_t *loop) {
    memset(c, 0, sizeof(*c));
    c->socket = s;
    c->loop = loop;
    c->ssl = (uint8_t)ssl;
    c->progress_timeout = 10;
    c->linger_timeout = 4;
}

static void defer_link(sw_conn_t *c) {
    sw_loop_t *loop = c->loop;
    c->deferred = 1;
    c->deferred_prev = NULL;
    c->deferred_next = loop->deferred;
    if (loop->deferred) loop->deferred->deferred_prev = c;
    loop->deferred = c;
}

int sw_conn_unlink(sw_conn_t *c) {
    int links = (c->deferred ? 1 : 0) | (c->loop->corked == c ? 2 : 0);
    undefer(c);
    if (links & 2) c->loop->corked = NULL;
    return links;
}

void sw_conn_relink(sw_conn_t *c, int links) {
    c->deferred = 0;
    c->deferred_prev = c->deferred_next = NULL;
    if (links & 1) defer_link(c);
    if (links & 2) c->loop->corked = c;
}

void sw_conn_release(sw_conn_t *c) {
    undefer(c);
    if (c->loop->corked == c) {
        c->loop->corked = NULL;
        c->loop->cork_len = 0;
    }
    free(c->out_buf);
    c->out_buf = NULL;
    c->out_len = c->out_cap = c->out_off = 0;
}

/* ---- timeouts ------------------------------------------------------------------ */

static void arm_timeout(sw_conn_t *c) {
    if (c->shut_down || sw_closed(c)) return; /* the linger deadline is in force */
    us_socket_timeout(c->ssl, c->socket, sw_buffered(c) ? c->progress_timeout : c->rest_timeout);
}

void sw_timeout(sw_conn_t *c, uint32_t seconds) {
    c->rest_timeout = seconds;
    if (!sw_buffered(c)) arm_timeout(c);
}

/* ---- the queue ---------------------------------------------------------------------- */

static int queue(sw_conn_t *c, const char *data, size_t len) {
    if (!len) return 0;
    int was_empty = sw_buffered(c) == 0;
    if (c->out_off && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    size_t need = c->out_len + len;
    if (need > c->out_cap) {
        /* Reclaim the sent prefix before growing. */
        if (c->out_off) {
            memmove(c->out_buf, c->out_buf + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
            need = c->out_len + len;
        }
        if (need > c->out_cap) {
            size_t n = c->out_cap ? c->out_cap : 4096;
            while (n < need) n *= 2;
            char *p = realloc(c->out_buf, n);
            if (!p) {
                /* Out of memory: the stream cannot stay intact; drop the link. */
                sw_close(c);
                return -1;
            }
            c->out_buf = p;
            c->out_cap = n;
        }
    }
    memcpy(c->out_buf + c->out_len, data, len);
    c->out_len += len;
    if (was_empty) arm_timeout(c); /* the progress deadline starts now */
    return 0;
}

/* One syscall for up to two pieces; returns the bytes the kernel took. */
static size_t send_pieces(sw_conn_t *c, const char *a, size_t alen, const char *b, size_t blen) {
    if (alen > SW_MAX_WRITE) { alen = SW_MAX_WRITE; blen = 0; }
    if (blen > SW_MAX_WRITE - alen) blen = SW_MAX_WRITE - alen;
    int n;
    if (alen && blen)
        n = us_socket_write2(c->ssl, c->socket, a, (int)alen, b, (int)blen);
    else if (alen || blen)
        n = us_socket_write(c->ssl, c->socket, alen ? a : b, (int)(alen ? alen : blen), 0);
    else
        return 0;
    return n > 0 ? (size_t)n : 0;
}

/* Write a then b now; queue whatever the kernel does not take. */
static int send_now(sw_conn_t *c, const char *a, size_t alen, const char *b, size_t blen) {
    if (sw_buffered(c)) {
        /* Earlier bytes are still queued: keep order. */
        if (queue(c, a, alen) || queue(c, b, blen)) return -1;
        sw_drain(c);
        return 0;
    }
    while (alen || blen) {
        size_t offered = alen >= SW_MAX_WRITE ? SW_MAX_WRITE
                         : alen + (blen > SW_MAX_WRITE - alen ? SW_MAX_WRITE - alen : blen);
        size_t sent = send_pieces(c, a, alen, b, blen);
        if (sw_closed(c)) return -1;
        if (sent < alen) {
            a += sent;
            alen -= sent;
        } else {
            b += sent - alen;
            blen -= sent - alen;
            alen = 0;
        }
        if (sent < offered) break; /* the kernel is full: the rest waits for writable */
    }
    if (queue(c, a, alen) || queue(c, b, blen)) return -1;
    return 0;
}

int sw_drain(sw_conn_t *c) {
    size_t before = sw_buffered(c);
    while (sw_buffered(c)) {
        if (sw_closed(c)) return 0;
        size_t n = send_pieces(c, c->out_buf + c->out_off, sw_buffered(c), NULL, 0);
        if (!n) break;
        c->out_off += n;
    }
    if (sw_closed(c)) return 0;
    if (sw_buffered(c)) {
        if (sw_buffered(c) < before) arm_timeout(c); /* progress: a new deadline */
        return 0;
    }
    c->out_off = c->out_len = 0;
    /* Let a burst's buffer go so an idle connection does not pin it. */
    if (c->out_cap > 64 * 1024) {
        free(c->out_buf);
        c->out_buf = NULL;
        c->out_cap = 0;
    }
    if (before) arm_timeout(c);
    if (c->shutdown_pending && !c->shut_down) sw_shutdown(c, 0);
    return 1;
}

void sw_flush_deferred(sw_loop_t *loop) {
    sw_conn_t *c;
    while ((c = loop->deferred) != NULL) {
        undefer(c);
        if (!sw_closed(c)) sw_drain(c);
    }
}

/* Outside the loop's passes (and with an owner that flushes): writes wait. */
static int deferring(const sw_loop_t *loop) { return !loop->in_iteration && loop->on_deferred; }

/* Outside the loop's passes: queue now, send at the flush. */
static int defer_write(sw_conn_t *c, const char *a, size_t alen, const char *b, size_t blen) {
    if (queue(c, a, alen) || queue(c, b, blen)) return -1;
    if (!c->deferred && sw_buffered(c)) {
        sw_loop_t *loop = c->loop;
        int first = loop->deferred == NULL;
        defer_link(c);
        if (first && loop->on_deferred) loop->on_deferred(loop->deferred_arg);
    }
    return 0;
}

/* ---- writes -------------------------------------------------------------------------- */

static int result(sw_conn_t *c, size_t limit) {
    if (sw_closed(c)) return SW_CLOSED;
    return sw_buffered(c) > limit ? SW_BACKPRESSURE : SW_OK;
}

int sw_write2(sw_conn_t *c, const char *a, size_t alen, const char *b, size_t blen, size_t limit) {
    if (sw_closed(c) || c->shut_down) return SW_CLOSED;
    sw_loop_t *loop = c->loop;
    if (loop->corked == c) {
        size_t room = SW_CORK_BUFFER_SIZE - loop->cork_len;
        if (alen + blen <= room) {
            if (alen) memcpy(loop->cork_buf + loop->cork_len, a, alen);
            if (blen) memcpy(loop->cork_buf + loop->cork_len + alen, b, blen);
            loop->cork_len += (uint32_t)(alen + blen);
            return result(c, limit);
        }
        if (deferring(loop)) {
            /* Outside the loop's passes: everything waits for the flush. */
            size_t n = loop->cork_len;
            loop->cork_len = 0;
            if (defer_write(c, loop->cork_buf, n, NULL, 0) == 0) defer_write(c, a, alen, b, blen);
            return result(c, limit);
        }
        /* Does not fit: what is corked leaves first, with as much of the new
         * bytes as one syscall can carry. */
        if (alen <= room) {
            memcpy(loop->cork_buf + loop->cork_len, a, alen);
            loop->cork_len += (uint32_t)alen;
            size_t n = loop->cork_len;
            loop->cork_len = 0;
            send_now(c, loop->cork_buf, n, b, blen);
        } else {
            size_t n = loop->cork_len;
            loop->cork_len = 0;
            if (send_now(c, loop->cork_buf, n, a, alen) == 0) send_now(c, b, blen, NULL, 0);
        }
        return result(c, limit);
    }
    if (deferring(loop)) {
        defer_write(c, a, alen, b, blen);
        return result(c, limit);
    }
    if (loop->corked == NULL && alen && blen && alen + blen <= SW_CORK_BUFFER_SIZE && !sw_buffered(c)) {
        /* Nobody is corked: join the pieces in the idle cork buffer and make
         * one plain send (cheaper in the kernel than a two-piece writev). */
        memcpy(loop->cork_buf, a, alen);
        memcpy(loop->cork_buf + alen, b, blen);
        send_now(c, loop->cork_buf, alen + blen, NULL, 0);
        return result(c, limit);
    }
    send_now(c, a, alen, b, blen);
    return result(c, limit);
}

size_t sw_write_optional(sw_conn_t *c, const char *data, size_t len) {
    if (sw_closed(c) || c->shut_down) return 0;
    sw_loop_t *loop = c->loop;
    const char *owed = NULL;
    size_t owed_len = 0;
    if (loop->corked == c && loop->cork_len) {
        owed = loop->cork_buf;
        owed_len = loop->cork_len;
        loop->cork_len = 0;
    }
    if (sw_buffered(c)) {
        /* Older bytes first; data only if they all leave. */
        if (owed_len && queue(c, owed, owed_len)) return 0;
        if (!sw_drain(c)) return 0;
        owed_len = 0;
    }
    size_t accepted = 0;
    if (owed_len) {
        size_t sent = send_pieces(c, owed, owed_len, data, len);
        if (sw_closed(c)) return 0;
        if (sent < owed_len) {
            queue(c, owed + sent, owed_len - sent);
            return 0;
        }
        accepted = sent - owed_len;
    }
    while (accepted < len && !sw_buffered(c)) {
        size_t sent = send_pieces(c, data + accepted, len - accepted, NULL, 0);
        if (!sent || sw_closed(c)) break;
        accepted += sent;
    }
    return accepted;
}

/* ---- cork ----------------------------------------------------------------------------- */

int sw_cork(sw_conn_t *c) {
    sw_loop_t *loop = c->loop;
    /* A closed socket's release already ran: corking it would leave the loop
     * pointing at memory the post phase frees. */
    if (loop->corked == c || sw_closed(c)) return 0;
    /* An empty cork held by another socket can be taken over: its holder's
     * uncork still re-checks its own half-close (sw_uncork). */
    if (loop->corked != NULL && loop->cork_len) return 0;
    loop->corked = c;
    loop->cork_len = 0;
    return 1;
}

void sw_uncork(sw_conn_t *c) {
    sw_loop_t *loop = c->loop;
    if (loop->corked == c) {
        loop->corked = NULL;
        size_t n = loop->cork_len;
        loop->cork_len = 0;
        if (n && !sw_closed(c)) {
            if (deferring(loop)) defer_write(c, loop->cork_buf, n, NULL, 0);
            else send_now(c, loop->cork_buf, n, NULL, 0);
        }
    }
    if (c->shutdown_pending && !c->shut_down && !sw_closed(c)) sw_shutdown(c, 0);
}

/* ---- closing ---------------------------------------------------------------------------- */

int sw_shutdown(sw_conn_t *c, uint32_t linger_s) {
    c->shutdown_pending = 1;
    if (linger_s) c->linger_timeout = linger_s;
    if (sw_closed(c) || c->shut_down) return 0;
    if (c->loop->corked == c && c->loop->cork_len) return 0; /* uncork comes back here */
    if (sw_buffered(c)) return 0;                            /* drain comes back here */
    if (c->loop->corked == c) c->loop->corked = NULL;
    us_socket_shutdown(c->ssl, c->socket);
    c->shut_down = 1;
    if (c->peer_ended) {
        sw_close(c); /* both directions are finished */
        return 1;
    }
    us_socket_timeout(c->ssl, c->socket, c->linger_timeout);
    return 1;
}

void sw_close(sw_conn_t *c) {
    if (!sw_closed(c)) us_socket_close(c->ssl, c->socket, 0, NULL);
}
