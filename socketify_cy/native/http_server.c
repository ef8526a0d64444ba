/*
 * HTTP connection engine: turns a uSockets context into an HTTP/1.x server.
 * Owns the per-connection state machine (head, body, held pipelined input),
 * keep-alive and the slow-client timeouts. Parsing is http_parser.c's job,
 * the response http_response.c's, and putting bytes on the wire
 * socket_writer.c's.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_conn.h"
#include "http_response.h"
#include "proxy_protocol.h"
#include "socket_kinds.h"

static http_app_t *app_of_socket(int ssl, struct us_socket_t *s) {
    return *(http_app_t **)us_socket_context_ext(ssl, us_socket_context(ssl, s));
}

/* Throughput floor for request bodies: 16 KiB/s, checked per timeout period. */
static uint64_t body_progress_bytes(const http_app_t *app) { return (uint64_t)16 * 1024 * app->idle_timeout; }

/* A pending handler has not asked for the body yet (it may after an await):
 * the body is kept, unread, until it asks or answers. Nothing is dropped. */
static int body_on_hold(const http_conn_t *conn) {
    return conn->body_state && (conn->res_flags & HTTP_RES_PENDING) && !(conn->res_flags & HTTP_RES_WANTS_BODY);
}

/* The client leaves so much of our output unread that we stop reading its requests. */
static int congested(const http_conn_t *conn) { return sw_buffered(&conn->sw) > HTTP_READ_PAUSE_BYTES; }

static void set_reading(http_conn_t *conn, int on) {
    struct us_poll_t *p = (struct us_poll_t *)conn->sw.socket;
    int events = us_poll_events(p);
    int want = on ? (events | LIBUS_SOCKET_READABLE) : (events & ~LIBUS_SOCKET_READABLE);
    if (want != events) us_poll_change(p, conn->app->loop, want);
    conn->paused = !on;
}

static int hold_input(http_conn_t *conn, const char *data, size_t len) {
    if (!len) return 0;
    size_t need = (size_t)conn->in_len + len;
    if (need > UINT32_MAX / 2) return -1;
    if (need > conn->in_cap) {
        size_t n = conn->in_cap ? conn->in_cap : 1024;
        while (n < need) n *= 2;
        char *p = realloc(conn->in_buf, n);
        if (!p) return -1;
        conn->in_buf = p;
        conn->in_cap = (uint32_t)n;
    }
    memmove(conn->in_buf + conn->in_len, data, len);
    conn->in_len = (uint32_t)need;
    return 0;
}

static void free_input(http_conn_t *conn) {
    free(conn->in_buf);
    conn->in_buf = NULL;
    conn->in_len = conn->in_cap = 0;
    conn->head_checked = conn->head_parsed = 0;
}

static void deliver_body(http_conn_t *conn, const char *data, size_t len, int is_last) {
    http_app_t *app = conn->app;
    conn->body_seen += len;
    conn->body_since_timer += len;
    if (conn->body_since_timer >= body_progress_bytes(app)) {
        conn->body_since_timer = 0;
        if (!conn->closing) sw_timeout(&conn->sw, app->idle_timeout);
    }
    if ((conn->res_flags & (HTTP_RES_PENDING | HTTP_RES_WANTS_BODY)) ==
            (HTTP_RES_PENDING | HTTP_RES_WANTS_BODY) && conn->res_user)
        app->callbacks.on_body(app->user, conn, conn->res_user, data, len, is_last);
}

static void body_finished(http_conn_t *conn) {
    conn->body_state = HTTP_BODY_DONE;
    if (sw_closed(&conn->sw) || conn->closing) return;
    /* Waiting for the next head (or for a handler that answers later, which
     * has no deadline: it promised an answer or an abort). */
    sw_timeout(&conn->sw, (conn->res_flags & HTTP_RES_PENDING) ? 0 : conn->app->idle_timeout);
}

static void enter_binding(http_app_t *app) {
    if (!app->entered) {
        app->entered = 1;
        app->callbacks.enter(app->user);
    }
}

static void leave_binding(http_app_t *app) {
    if (app->entered) {
        app->entered = 0;
        app->callbacks.leave(app->user);
    }
}

static void send_default_404(http_conn_t *conn) {
    static const char body[] = "Not Found";
    if (!(conn->res_flags & HTTP_RES_PENDING)) return;
    http_res_reset(conn);
    http_res_write_status_code(conn, 404);
    http_res_write_header(conn, "Content-Type", 12, "text/plain", 10);
    http_res_end(conn, body, sizeof(body) - 1, 0);
}

static void start_request(http_conn_t *conn, http_request_t *req) {
    http_app_t *app = conn->app;
    conn->keep_alive = req->keep_alive && !app->draining;
    conn->version_minor = req->version_minor;
    conn->is_head = req->is_head;
    conn->res_flags = HTTP_RES_PENDING;
    conn->deadline_set = 0;
    conn->status_code = 200;
    conn->write_offset = 0;
    conn->res_length = 0;
    conn->body_seen = 0;
    conn->body_since_timer = 0;
    conn->head_len = 0;
    conn->status_len = 0;
    conn->ctype_len = 0;
    if (req->body_kind == HTTP_BODY_LENGTH && req->content_length) {
        conn->body_state = HTTP_BODY_BY_LENGTH;
        conn->body_remaining = req->content_length;
    } else if (req->body_kind == HTTP_BODY_CHUNKED) {
        conn->body_state = HTTP_BODY_BY_CHUNKS;
        http_chunked_init(&conn->chunked);
    } else {
        conn->body_state = HTTP_BODY_DONE;
    }
    if (app->max_body_size && req->body_kind == HTTP_BODY_LENGTH && req->content_length > app->max_body_size) {
        conn->res_flags = 0;
        conn->body_state = HTTP_BODY_DONE;
        http_send_error(conn, 413);
        return;
    }
    /* 100 Continue waits until the handler asks for the body. */
    if (req->expect_continue && req->version_minor == 1 && conn->body_state) conn->res_flags |= HTTP_RES_EXPECT;
    enter_binding(app);
    int handled = app->callbacks.on_request(app->user, conn, req);
    if (sw_closed(&conn->sw)) return;
    if (!handled) send_default_404(conn);
    if (http_body_wanted(conn) && !conn->closing)
        sw_timeout(&conn->sw, app->idle_timeout); /* the body must keep coming */
    else if ((conn->res_flags & HTTP_RES_PENDING) && !conn->closing && !conn->deadline_set)
        sw_timeout(&conn->sw, 0); /* the handler answers later: no deadline while it works */
    /* (An answered request already re-armed the keep-alive deadline.) */
}

/* The pending response can no longer be sent: tell the binding, once. */
static void abort_response(http_conn_t *conn) {
    http_app_t *app = conn->app;
    void *res_user = conn->res_user;
    int was_pending = conn->res_flags & HTTP_RES_PENDING;
    conn->res_user = NULL;
    conn->res_flags = 0;
    if (was_pending && res_user) app->callbacks.on_abort(app->user, conn, res_user);
}

/* The request body is unacceptable while its handler still owns the
 * response: the handler's response is aborted (the binding learns it through
 * on_abort), then the client gets the error status if nothing was sent yet,
 * or just a closed connection. */
static void refuse_body(http_conn_t *conn, int status) {
    int unsent = (conn->res_flags & HTTP_RES_PENDING) && !(conn->res_flags & HTTP_RES_HEAD_SENT);
    abort_response(conn);
    conn->body_state = HTTP_BODY_DONE;
    if (sw_closed(&conn->sw)) return;
    if (unsent) {
        conn->head_len = conn->status_len = 0;
        conn->ctype_len = 0;
        http_send_error(conn, status);
    } else {
        http_conn_close(conn);
    }
}

/* A partial head held in in_buf is parsed again only when a terminator may
 * have arrived or it has doubled since the last parse: a head trickling in
 * byte by byte costs linear, not quadratic, time. */
static int head_worth_parsing(http_conn_t *conn, const char *buf, size_t avail) {
    if (!conn->head_checked || conn->head_checked > avail) return 1;
    if (avail >= conn->app->max_head_size || avail >= 2 * (size_t)conn->head_parsed) return 1;
    size_t from = conn->head_checked >= 3 ? conn->head_checked - 3 : 0;
    if (memmem(buf + from, avail - from, "\r\n\r\n", 4)) return 1;
    conn->head_checked = (uint32_t)avail;
    return 0;
}

/* A PROXY preamble leads the stream on proxy-enabled apps. Returns the bytes
 * it took, 0 if more are needed, -1 if the connection was refused. */
static long read_proxy_preamble(http_conn_t *conn, const char *buf, size_t len) {
    size_t used = 0;
    proxy_addr_t addr;
    int r = proxy_parse(buf, len, &used, &addr);
    if (r == PROXY_INCOMPLETE) return 0;
    if (r != PROXY_DONE) {
        /* Not from our proxy: nothing it says can be trusted, not even an error page. */
        conn->closing = 1;
        http_conn_close(conn);
        return -1;
    }
    conn->proxied = 1;
    if (addr.family == 4 || addr.family == 6) {
        conn->proxied_ip_len = addr.family == 4 ? 4 : 16;
        memcpy(conn->proxied_ip, addr.src_ip, conn->proxied_ip_len);
        conn->proxied_port = addr.src_port;
    }
    return (long)used;
}

/* TLS apps behind a proxy: the PROXY preamble comes before the handshake,
 * in plaintext; the TLS layer hands us the raw bytes until we have it all
 * (us_socket_context_on_preamble). Returns how many of these bytes it took,
 * -1 while more are needed or when the connection was refused. */
static int on_tls_preamble(struct us_socket_t *s, char *data, int length) {
    http_conn_t *conn = (http_conn_t *)us_socket_ext(1, s);
    if (!conn->preamble_len) {
        long n = read_proxy_preamble(conn, data, (size_t)length);
        if (n != 0) return n > 0 ? (int)n : -1;
    }
    /* Incomplete: keep it (a preamble is at most PROXY_MAX_PREAMBLE bytes, so
     * anything beyond that is an error for proxy_parse anyway). */
    size_t room = PROXY_MAX_PREAMBLE + 1 - conn->preamble_len;
    size_t take = (size_t)length < room ? (size_t)length : room;
    if (!conn->preamble_buf && !(conn->preamble_buf = malloc(PROXY_MAX_PREAMBLE + 1))) {
        http_conn_close(conn);
        return -1;
    }
    memcpy(conn->preamble_buf + conn->preamble_len, data, take);
    size_t held = conn->preamble_len;
    conn->preamble_len += (uint32_t)take;
    if (!held) return -1; /* the bytes were just parsed above */
    long n = read_proxy_preamble(conn, conn->preamble_buf, conn->preamble_len);
    if (n <= 0) return -1;
    free(conn->preamble_buf);
    conn->preamble_buf = NULL;
    conn->preamble_len = 0;
    return (int)((size_t)n - held); /* held bytes were all preamble: it was incomplete */
}

/* Run the state machine over buf. Returns how many bytes were used; the rest
 * (a partial head, or requests that must wait for a pending response) is the
 * caller's to keep. */
static size_t process(http_conn_t *conn, char *buf, size_t len, int held) {
    http_app_t *app = conn->app;
    size_t off = 0;
    conn->processing = 1;
    while (off < len) {
        if (conn->switching) break; /* what follows belongs to the new protocol */
        if (sw_closed(&conn->sw) || conn->closing) {
            off = len; /* a closing connection reads nothing more */
            break;
        }
        if (app->proxy_protocol && !conn->proxied) {
            long n = read_proxy_preamble(conn, buf + off, len - off);
            if (n <= 0) {
                if (n < 0) off = len;
                break;
            }
            off += (size_t)n;
            continue;
        }
        if (body_on_hold(conn)) break;
        if (conn->body_state == HTTP_BODY_BY_LENGTH) {
            size_t n = len - off;
            if (n > conn->body_remaining) n = (size_t)conn->body_remaining;
            conn->body_remaining -= n;
            off += n;
            deliver_body(conn, buf + off - n, n, conn->body_remaining == 0);
            if (conn->body_remaining == 0) body_finished(conn);
            continue;
        }
        if (conn->body_state == HTTP_BODY_BY_CHUNKS) {
            size_t used = 0, out_len = 0;
            const char *out = NULL;
            int r = http_chunked_decode(&conn->chunked, buf + off, len - off, &used, &out, &out_len);
            off += used;
            if (r == HTTP_CHUNKED_DATA) {
                if (app->max_body_size && conn->body_seen + out_len > app->max_body_size) {
                    refuse_body(conn, 413);
                    break;
                }
                deliver_body(conn, out, out_len, 0);
            } else if (r == HTTP_CHUNKED_DONE) {
                deliver_body(conn, NULL, 0, 1);
                body_finished(conn);
            } else if (r == HTTP_CHUNKED_ERROR) {
                refuse_body(conn, 400);
                break;
            }
            continue;
        }
        /* Responses go out in request order: the next request waits, and so
         * does every request while the client leaves our output unread. */
        if ((conn->res_flags & HTTP_RES_PENDING) || congested(conn)) break;
        if (held && off == 0 && !head_worth_parsing(conn, buf, len)) break;
        size_t consumed = 0;
        int r = http_parse_head(buf + off, len - off, app->max_head_size, &app->request, &consumed);
        if (r == HTTP_PARSE_INCOMPLETE) {
            /* What is left becomes the start of in_buf. */
            conn->head_checked = conn->head_parsed = (uint32_t)(len - off);
            break;
        }
        conn->head_checked = conn->head_parsed = 0;
        if (r < 0) {
            http_send_error(conn, -r);
            off = len;
            break;
        }
        off += consumed;
        start_request(conn, &app->request);
    }
    conn->processing = 0;
    return off;
}

/* Process what was held in in_buf, keep what is still not processable. */
static void process_held(http_conn_t *conn) {
    if (!conn->in_len) return;
    size_t used = process(conn, conn->in_buf, conn->in_len, 1);
    if (sw_closed(&conn->sw)) {
        /* on_close left the buffer to us: the handlers were reading from it. */
        free_input(conn);
        return;
    }
    if (used >= conn->in_len) {
        conn->in_len = 0;
    } else if (used) {
        memmove(conn->in_buf, conn->in_buf + used, conn->in_len - used);
        conn->in_len -= (uint32_t)used;
    }
}

/* After input was handled: stop reading while requests wait for an answer,
 * and finish a connection whose peer has stopped sending. */
static void settle(http_conn_t *conn) {
    if (sw_closed(&conn->sw)) return;
    int waiting = ((conn->res_flags & HTTP_RES_PENDING) && conn->in_len && !http_body_wanted(conn)) ||
                  congested(conn) || (conn->res_flags & HTTP_RES_USER_PAUSED);
    int ended = conn->sw.peer_ended;
    if (waiting && !conn->paused && !ended) set_reading(conn, 0);
    else if (!waiting && conn->paused && !ended && !conn->closing) set_reading(conn, 1);
    if (ended && !(conn->res_flags & HTTP_RES_PENDING)) http_conn_finish_close(conn);
}

static void unlink_resume(http_conn_t *conn);

/* The 101 is written and the engine is out of the request's callbacks: move
 * the socket into the new protocol's context. Everything the move needs is
 * read first: the ext memory may move with the socket. Returns the socket
 * writer at its new place, or NULL if the socket closed. */
static sw_conn_t *complete_switch(http_conn_t *conn) {
    http_app_t *app = conn->app;
    int ssl = conn->sw.ssl;
    http_switch_fn fn = conn->switch_fn;
    void *arg = conn->switch_arg;
    conn->switching = 0;
    if (sw_closed(&conn->sw)) {
        fn(arg, NULL, NULL, 0); /* gone before the move: the callee lets go of arg */
        return NULL;
    }
    unlink_resume(conn);
    /* Leave the app's list now (the links would dangle after a move); if
     * the move fails, on_close finds it unlinked and cleans up the rest. */
    if (conn->prev) conn->prev->next = conn->next;
    else if (app->conns == conn) app->conns = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    conn->prev = conn->next = NULL;
    char *leftover = conn->in_buf, *head_buf = conn->head_buf;
    size_t leftover_len = conn->in_len;
    int links = sw_conn_unlink(&conn->sw);
    struct us_socket_t *ns = us_socket_context_adopt_socket(ssl, conn->switch_ctx, conn->sw.socket,
                                                            conn->switch_ext_size);
    if (us_socket_is_closed(ssl, ns)) {
        fn(arg, NULL, NULL, 0);
        return NULL;
    }
    conn = NULL; /* may have moved with the socket */
    app->num_connections--;
    free(head_buf);
    sw_conn_t *sw = (sw_conn_t *)us_socket_ext(ssl, ns);
    sw->socket = ns;
    sw_conn_relink(sw, links);
    /* The new protocol reads from the start, whatever HTTP had paused. */
    struct us_poll_t *p = (struct us_poll_t *)ns;
    if (!(us_poll_events(p) & LIBUS_SOCKET_READABLE) && !sw->peer_ended)
        us_poll_change(p, app->loop, us_poll_events(p) | LIBUS_SOCKET_READABLE);
    enter_binding(app);
    fn(arg, ns, leftover, leftover_len);
    return us_socket_is_closed(ssl, ns) ? NULL : (sw_conn_t *)us_socket_ext(ssl, ns);
}

/* The end of a callback that switched protocols: the move, then the
 * binding's bracket closed and the cork (which moved with the socket) sent.
 * Returns the socket at its new address, or NULL if it closed. */
static struct us_socket_t *switch_and_uncork(http_conn_t *conn, int corked) {
    http_app_t *app = conn->app;
    sw_conn_t *sw = complete_switch(conn);
    leave_binding(app);
    if (!sw) return NULL;
    if (corked) sw_uncork(sw);
    return sw->socket;
}

static void process_resumes(http_app_t *app) {
    http_conn_t *conn;
    while ((conn = app->resume_head) != NULL) {
        app->resume_head = conn->resume_next;
        conn->resume_next = NULL;
        conn->in_resume_list = 0;
        int corked = sw_cork(&conn->sw);
        process_held(conn);
        if (conn->switching) {
            switch_and_uncork(conn, corked);
            continue;
        }
        settle(conn);
        leave_binding(app);
        if (corked) sw_uncork(&conn->sw);
    }
}

void http_app_schedule_resume(http_conn_t *conn) {
    if (conn->processing || conn->in_resume_list) return;
    http_app_t *app = conn->app;
    conn->in_resume_list = 1;
    conn->resume_next = app->resume_head;
    app->resume_head = conn;
    /* Called from outside the loop too (a handler answering after an await):
     * make sure an iteration runs soon. */
    us_wakeup_loop(app->loop);
}

static void unlink_resume(http_conn_t *conn) {
    if (!conn->in_resume_list) return;
    http_conn_t **pp = &conn->app->resume_head;
    while (*pp && *pp != conn) pp = &(*pp)->resume_next;
    if (*pp) *pp = conn->resume_next;
    conn->in_resume_list = 0;
}

void http_conn_response_done(http_conn_t *conn) {
    int expect_unread = (conn->res_flags & HTTP_RES_EXPECT) != 0;
    conn->res_flags = 0;
    conn->res_user = NULL;
    conn->head_len = 0;
    conn->status_len = 0;
    conn->ctype_len = 0;
    if (sw_closed(&conn->sw)) return;
    if (expect_unread) {
        /* The client waits for 100 Continue before sending the body we never
         * asked for: it may never come, so this connection cannot go on. */
        conn->close_after = 1;
    }
    if (conn->close_after) {
        http_conn_finish_close(conn);
        return;
    }
    /* Keep-alive idle deadline, or, while the rest of an unread body is
     * skipped, the body deadline (re-armed as it keeps coming). */
    sw_timeout(&conn->sw, conn->app->idle_timeout);
    conn->body_since_timer = 0;
    if (conn->in_len || conn->paused || conn->sw.peer_ended) http_app_schedule_resume(conn);
}

/* ---- uSockets callbacks ------------------------------------------------------------- */

static http_conn_t *conn_of(int ssl, struct us_socket_t *s) { return (http_conn_t *)us_socket_ext(ssl, s); }

static struct us_socket_t *on_open(int ssl, struct us_socket_t *s, char *ip, int ip_length) {
    http_app_t *app = app_of_socket(ssl, s);
    http_conn_t *conn = conn_of(ssl, s);
    memset(conn, 0, sizeof(*conn));
    sw_conn_init(&conn->sw, s, ssl, sw_loop_of(app->loop));
    conn->sw.progress_timeout = app->idle_timeout;
    conn->sw.linger_timeout = HTTP_LINGER_TIMEOUT_S;
    conn->app = app;
    conn->keep_alive = 1;
    if (ip && (ip_length == 4 || ip_length == 16)) {
        memcpy(conn->ip, ip, (size_t)ip_length);
        conn->ip_len = (uint8_t)ip_length;
    }
    app->num_connections++;
    conn->next = app->conns;
    if (app->conns) app->conns->prev = conn;
    app->conns = conn;
    /* Accepted before the listener closed: serve one request, no keep-alive. */
    if (app->draining) conn->close_after = 1;
    /* The first request head must arrive within the idle timeout. */
    sw_timeout(&conn->sw, app->idle_timeout);
    return s;
}

static struct us_socket_t *on_data(int ssl, struct us_socket_t *s, char *data, int length) {
    http_conn_t *conn = conn_of(ssl, s);
    http_app_t *app = conn->app;
    if (conn->closing || length <= 0) return s;
    int corked = sw_cork(&conn->sw);
    if (conn->in_len) {
        if (hold_input(conn, data, (size_t)length) != 0) {
            http_conn_close(conn);
            return s;
        }
        process_held(conn);
    } else {
        size_t used = process(conn, data, (size_t)length, 0);
        if (!sw_closed(&conn->sw) && used < (size_t)length &&
            hold_input(conn, data + used, (size_t)length - used) != 0) {
            leave_binding(app);
            http_conn_close(conn);
            return s;
        }
    }
    if (conn->switching) {
        struct us_socket_t *ns = switch_and_uncork(conn, corked);
        return ns ? ns : s;
    }
    settle(conn);
    leave_binding(app);
    if (corked) sw_uncork(&conn->sw);
    return s;
}

static struct us_socket_t *on_writable(int ssl, struct us_socket_t *s) {
    http_conn_t *conn = conn_of(ssl, s);
    http_app_t *app = conn->app;
    int empty = sw_drain(&conn->sw);
    if (sw_closed(&conn->sw)) return s;
    if (empty && (conn->res_flags & (HTTP_RES_PENDING | HTTP_RES_WANTS_WRITABLE)) ==
                     (HTTP_RES_PENDING | HTTP_RES_WANTS_WRITABLE) && conn->res_user) {
        /* The handler streams at the client's pace: its turn to write. */
        app->callbacks.on_writable(app->user, conn, conn->res_user, conn->write_offset);
        if (sw_closed(&conn->sw)) return s;
    }
    if (empty && conn->closing && !(conn->res_flags & HTTP_RES_PENDING)) {
        http_conn_finish_close(conn);
    } else if (conn->paused && !congested(conn) && !conn->closing) {
        /* The client caught up: continue with the requests it already sent. */
        http_app_schedule_resume(conn);
    }
    return s;
}

static struct us_socket_t *on_end(int ssl, struct us_socket_t *s) {
    http_conn_t *conn = conn_of(ssl, s);
    conn->sw.peer_ended = 1;
    /* HTTP has no half-close: a client that stops sending while its answer is
     * pending is gone as far as the handler is concerned (the handler learns
     * it through on_aborted), and requests it left unanswered are dropped. A
     * complete response still queued is delivered before our FIN. */
    if (conn->res_flags & HTTP_RES_PENDING) return us_socket_close(ssl, s, 0, NULL);
    if (sw_buffered(&conn->sw) || conn->closing) {
        http_conn_finish_close(conn);
        return s;
    }
    return us_socket_close(ssl, s, 0, NULL);
}

static struct us_socket_t *on_timeout(int ssl, struct us_socket_t *s) {
    /* Slow head, slow body, idle keep-alive, a client that stopped taking our
     * output, or a peer that never closes after our FIN: all end the same way. */
    return us_socket_close(ssl, s, 0, NULL);
}

static struct us_socket_t *on_close(int ssl, struct us_socket_t *s, int code, void *reason) {
    (void)code;
    (void)reason;
    http_conn_t *conn = conn_of(ssl, s);
    http_app_t *app = conn->app;
    abort_response(conn);
    unlink_resume(conn);
    sw_conn_release(&conn->sw);
    /* A handler running from in_buf still reads the request from it: the
     * parse loop frees it when it returns. */
    if (!conn->processing) free_input(conn);
    free(conn->head_buf);
    conn->head_buf = NULL;
    conn->head_len = conn->head_cap = 0;
    free(conn->preamble_buf);
    conn->preamble_buf = NULL;
    app->num_connections--;
    if (conn->prev) conn->prev->next = conn->next;
    else if (app->conns == conn) app->conns = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    conn->prev = conn->next = NULL;
    return s;
}

/* One set of trampolines per kind of context (socket_kinds.h), plus on_open. */
#define HTTP_SOCKET_CALLBACKS(KIND, SSL)                                                            \
    SOCKET_KIND_CALLBACKS(KIND, SSL)                                                              \
    static struct us_socket_t *on_open_##KIND(struct us_socket_t *s, int is_client, char *ip, int n) { \
        (void)is_client;                                                                          \
        return on_open(SSL, s, ip, n);                                                            \
    }                                                                                             \
    static void register_##KIND(struct us_socket_context_t *ctx) {                                \
        register_common_##KIND(ctx);                                                              \
        us_socket_context_on_open(SSL, ctx, on_open_##KIND);                                      \
    }

HTTP_SOCKET_CALLBACKS(tcp, 0)
HTTP_SOCKET_CALLBACKS(tls, 1)

static void on_wakeup(struct us_loop_t *loop) {
    /* The wakeup only makes an iteration happen: held requests are resumed
     * in its post phase (on_post), the one place that does it. */
    (void)loop;
}

static void on_pre(struct us_loop_t *loop) {
    http_app_t *app = sw_loop_of(loop)->user;
    /* Writes held since the last flush go first, in order. */
    sw_flush_deferred(sw_loop_of(loop));
    sw_loop_of(loop)->in_iteration = 1;
    app->date_fresh = 0;
}

static void on_post(struct us_loop_t *loop) {
    http_app_t *app = sw_loop_of(loop)->user;
    process_resumes(app);
    if (app->post_hook) app->post_hook(app->post_arg);
    sw_loop_of(loop)->in_iteration = 0;
}

static void need_flush(void *arg) {
    http_app_t *app = arg;
    app->callbacks.need_flush(app->user);
}

void http_app_flush(http_app_t *app) { sw_flush_deferred(sw_loop_of(app->loop)); }

/* ---- connection accessors ---------------------------------------------------------- */

void http_res_bind(http_conn_t *conn, void *res_user) { conn->res_user = res_user; }

int http_conn_body_pending(const http_conn_t *conn) { return conn->body_state != HTTP_BODY_DONE; }

int http_conn_ip(const http_conn_t *conn, uint8_t *out) {
    memcpy(out, conn->ip, conn->ip_len);
    return conn->ip_len;
}

int http_conn_proxied_ip(const http_conn_t *conn, uint8_t *out, int *port) {
    memcpy(out, conn->proxied_ip, conn->proxied_ip_len);
    *port = conn->proxied_port;
    return conn->proxied_ip_len;
}

void http_conn_close(http_conn_t *conn) { sw_close(&conn->sw); }

int http_conn_cork(http_conn_t *conn) { return sw_cork(&conn->sw); }

void http_conn_uncork(http_conn_t *conn) {
    sw_uncork(&conn->sw);
    if (!sw_closed(&conn->sw) && conn->closing && !(conn->res_flags & HTTP_RES_PENDING))
        http_conn_finish_close(conn);
}

struct us_socket_t *http_conn_socket(http_conn_t *conn) { return conn->sw.socket; }

int http_res_pause(http_conn_t *conn) {
    if (!(conn->res_flags & HTTP_RES_PENDING) || sw_closed(&conn->sw)) return HTTP_RES_NOT_PENDING;
    conn->res_flags |= HTTP_RES_USER_PAUSED;
    if (!conn->paused && !conn->sw.peer_ended) set_reading(conn, 0);
    sw_timeout(&conn->sw, 0);
    conn->deadline_set = 1;
    return HTTP_RES_OK;
}

int http_res_resume(http_conn_t *conn) {
    if (!(conn->res_flags & HTTP_RES_PENDING) || sw_closed(&conn->sw)) return HTTP_RES_NOT_PENDING;
    if (!(conn->res_flags & HTTP_RES_USER_PAUSED)) return HTTP_RES_OK;
    conn->res_flags &= (uint16_t)~HTTP_RES_USER_PAUSED;
    if (http_body_wanted(conn)) sw_timeout(&conn->sw, conn->app->idle_timeout);
    conn->deadline_set = 1;
    /* Reading restarts (and held input is processed) in the next post phase. */
    http_app_schedule_resume(conn);
    return HTTP_RES_OK;
}

/* ---- switching protocols --------------------------------------------------------------- */

int http_conn_switch(http_conn_t *conn, const char *head_lines, size_t len, struct us_socket_context_t *ctx,
                     int ext_size, http_switch_fn fn, void *arg) {
    if (!(conn->res_flags & HTTP_RES_PENDING) || (conn->res_flags & HTTP_RES_HEAD_SENT) || conn->switching ||
        conn->closing || sw_closed(&conn->sw))
        return HTTP_RES_NOT_PENDING;
    static const char status[] = "HTTP/1.1 101 Switching Protocols\r\n";
    size_t staged = conn->head_len - conn->status_len;
    size_t n = sizeof(status) - 1 + staged + len + 2;
    char stack[1024];
    char *head = n <= sizeof(stack) ? stack : malloc(n);
    if (!head) return HTTP_RES_NOT_PENDING;
    char *p = head;
    memcpy(p, status, sizeof(status) - 1);
    p += sizeof(status) - 1;
    if (staged) {
        memcpy(p, conn->head_buf + conn->status_len, staged);
        p += staged;
    }
    memcpy(p, head_lines, len);
    p += len;
    *p++ = '\r';
    *p++ = '\n';
    int r = sw_write(&conn->sw, head, n, SIZE_MAX);
    if (head != stack) free(head);
    if (r == SW_CLOSED) return HTTP_RES_NOT_PENDING;
    /* The HTTP exchange is over; nothing of a request body is expected (a
     * body on an upgrade request would be read as frames and fail them). */
    conn->res_flags = 0;
    conn->res_user = NULL;
    conn->head_len = conn->status_len = 0;
    conn->ctype_len = 0;
    conn->body_state = HTTP_BODY_DONE;
    conn->switching = 1;
    conn->switch_ctx = ctx;
    conn->switch_ext_size = ext_size;
    conn->switch_fn = fn;
    conn->switch_arg = arg;
    if (!conn->processing) {
        /* Outside the engine's callbacks (an upgrade after an await): now. */
        switch_and_uncork(conn, sw_cork(&conn->sw));
    }
    return 0;
}

int http_app_enter(http_app_t *app) {
    if (app->entered) return 0;
    enter_binding(app);
    return 1;
}

void http_app_leave(http_app_t *app) { leave_binding(app); }

void http_app_set_post_hook(http_app_t *app, void (*fn)(void *arg), void *arg) {
    app->post_hook = fn;
    app->post_arg = arg;
}

struct us_socket_context_t *http_app_context(http_app_t *app) { return app->context; }

struct us_socket_context_t *http_app_plain_context(http_app_t *app) { return app->plain_context; }

int http_app_is_ssl(http_app_t *app) { return app->ssl; }

/* ---- app ------------------------------------------------------------------------------ */

static void on_server_name(struct us_socket_context_t *ctx, const char *hostname);

http_app_t *http_app_create(const struct us_socket_context_options_t *tls, const http_app_callbacks_t *callbacks,
                            void *user) {
    int ssl = tls != NULL;
    http_app_t *app = calloc(1, sizeof(*app));
    if (!app) return NULL;
    app->ssl = ssl;
    app->callbacks = *callbacks;
    app->user = user;
    app->date_second = -1;
    app->max_head_size = HTTP_DEFAULT_MAX_HEAD_SIZE;
    app->idle_timeout = HTTP_DEFAULT_IDLE_TIMEOUT_S;
    app->backpressure = HTTP_DEFAULT_BACKPRESSURE;
    app->loop = us_create_loop(NULL, on_wakeup, on_pre, on_post, sizeof(sw_loop_t));
    if (!app->loop) goto fail;
    sw_loop_init(sw_loop_of(app->loop), app);
    if (callbacks->need_flush) {
        sw_loop_of(app->loop)->on_deferred = need_flush;
        sw_loop_of(app->loop)->deferred_arg = app;
    }
    struct us_socket_context_options_t none;
    memset(&none, 0, sizeof(none));
    app->context = us_create_socket_context(ssl, app->loop, sizeof(http_app_t *), ssl ? *tls : none);
    if (!app->context) goto fail;
    *(http_app_t **)us_socket_context_ext(ssl, app->context) = app;
    if (ssl) {
        register_tls(app->context);
        app->plain_context = us_create_socket_context(0, app->loop, sizeof(http_app_t *), none);
        if (!app->plain_context) goto fail;
        *(http_app_t **)us_socket_context_ext(0, app->plain_context) = app;
        register_tcp(app->plain_context);
        us_socket_context_on_server_name(1, app->context, on_server_name);
    } else {
        register_tcp(app->context);
    }
    app->router = router_create();
    if (!app->router) goto fail;
    return app;
fail:;
    int saved = errno ? errno : ENOMEM;
    if (app->plain_context) us_socket_context_free(0, app->plain_context);
    if (app->context) us_socket_context_free(ssl, app->context);
    if (app->loop) us_loop_free(app->loop);
    free(app);
    errno = saved;
    return NULL;
}

/* ---- TLS server names ------------------------------------------------------------------ */

static void on_server_name(struct us_socket_context_t *ctx, const char *hostname) {
    http_app_t *app = *(http_app_t **)us_socket_context_ext(1, ctx);
    if (app->on_server_name) app->on_server_name(app->user, hostname);
}

int http_app_add_server_name(http_app_t *app, const char *hostname_pattern,
                             const struct us_socket_context_options_t *tls, router_t *router) {
    struct us_socket_context_options_t none;
    memset(&none, 0, sizeof(none));
    if (!app->ssl) {
        errno = EINVAL;
        return -1;
    }
    return us_socket_context_add_server_name(1, app->context, hostname_pattern, tls ? *tls : none, router);
}

void http_app_remove_server_name(http_app_t *app, const char *hostname_pattern) {
    if (app->ssl) us_socket_context_remove_server_name(1, app->context, hostname_pattern);
}

router_t *http_app_server_name_router(http_app_t *app, const char *hostname_pattern) {
    return app->ssl ? us_socket_context_find_server_name_userdata(1, app->context, hostname_pattern) : NULL;
}

void http_app_on_server_name(http_app_t *app, void (*fn)(void *user, const char *hostname)) {
    app->on_server_name = fn;
}

int http_conn_is_ssl(const http_conn_t *conn) { return conn->sw.ssl; }

router_t *http_conn_router(http_conn_t *conn) {
    if (conn->sw.ssl) {
        router_t *r = us_socket_server_name_userdata(1, conn->sw.socket);
        if (r) return r;
    }
    return conn->app->router;
}

void http_app_set_limits(http_app_t *app, const http_app_limits_t *limits) {
    app->max_head_size = limits->max_head_size ? limits->max_head_size : HTTP_DEFAULT_MAX_HEAD_SIZE;
    app->max_body_size = limits->max_body_size;
    app->idle_timeout = limits->idle_timeout ? limits->idle_timeout : HTTP_DEFAULT_IDLE_TIMEOUT_S;
    app->backpressure = limits->backpressure ? limits->backpressure : HTTP_DEFAULT_BACKPRESSURE;
    app->proxy_protocol = limits->proxy_protocol ? 1 : 0;
    if (app->ssl) us_socket_context_on_preamble(1, app->context, app->proxy_protocol ? on_tls_preamble : NULL);
}

struct us_loop_t *http_app_loop(http_app_t *app) { return app->loop; }

router_t *http_app_router(http_app_t *app) { return app->router; }

static int add_listener(http_app_t *app, struct us_listen_socket_t *ls) {
    if (!ls) {
        if (!errno) errno = EADDRNOTAVAIL;
        return -1;
    }
    app->listen_sockets[app->num_listen++] = ls;
    return 0;
}

static int listener_slots_left(http_app_t *app) {
    if (app->num_listen < sizeof(app->listen_sockets) / sizeof(app->listen_sockets[0])) return 1;
    errno = EMFILE;
    return 0;
}

int http_app_listen(http_app_t *app, const char *host, int port, int options) {
    if (!listener_slots_left(app)) return -1;
    errno = 0;
    struct us_listen_socket_t *ls =
        us_socket_context_listen(app->ssl, app->context, host, port, options, (int)sizeof(http_conn_t));
    if (add_listener(app, ls) != 0) return -1;
    return us_socket_local_port(app->ssl, (struct us_socket_t *)ls);
}

int http_app_listen_unix(http_app_t *app, const char *path, int options) {
    if (!listener_slots_left(app)) return -1;
    errno = 0;
    /* A unix socket is local: it stays plain HTTP even on a TLS app. */
    struct us_listen_socket_t *ls = app->plain_context
        ? us_socket_context_listen_unix(0, app->plain_context, path, options, (int)sizeof(http_conn_t))
        : us_socket_context_listen_unix(app->ssl, app->context, path, options, (int)sizeof(http_conn_t));
    return add_listener(app, ls);
}

void http_app_close_listeners(http_app_t *app) {
    /* (closing a listener is the same for TCP and TLS) */
    for (uint32_t i = 0; i < app->num_listen; i++) us_listen_socket_close(0, app->listen_sockets[i]);
    app->num_listen = 0;
}

void http_app_close_connections(http_app_t *app) {
    http_app_close_listeners(app);
    us_socket_context_close(app->ssl, app->context);
    if (app->plain_context) us_socket_context_close(0, app->plain_context);
}

unsigned http_app_num_connections(http_app_t *app) { return app->num_connections; }

static int conn_idle(const http_conn_t *conn) {
    return !(conn->res_flags & HTTP_RES_PENDING) && !sw_buffered(&conn->sw) && !conn->in_len &&
           !conn->body_state;
}

void http_app_drain(http_app_t *app) {
    http_app_close_listeners(app);
    app->draining = 1;
    http_conn_t *conn = app->conns, *next;
    for (; conn; conn = next) {
        next = conn->next;
        conn->close_after = 1;
        if (conn_idle(conn) && !conn->closing) http_conn_finish_close(conn);
    }
}

unsigned http_app_busy(http_app_t *app) {
    unsigned n = 0;
    for (http_conn_t *conn = app->conns; conn; conn = conn->next)
        if ((conn->res_flags & HTTP_RES_PENDING) || sw_buffered(&conn->sw)) n++;
    return n;
}

void http_app_free(http_app_t *app) {
    if (!app) return;
    http_app_close_connections(app);
    /* One pass frees the sockets closed above (their memory is released
     * at the end of an iteration). */
    us_loop_run_once(app->loop, 0);
    us_socket_context_free(app->ssl, app->context);
    if (app->plain_context) us_socket_context_free(0, app->plain_context);
    router_free(app->router);
    us_loop_free(app->loop);
    free(app);
}
