/*
 * HTTP connection engine: turns a uSockets context into an HTTP/1.x server.
 * Owns the per-connection state machine (head, body, held pipelined input),
 * keep-alive and the slow-client timeouts. Parsing is http_parser.c's job,
 * putting bytes on the wire http_response.c's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"

/* Throughput floor for request bodies: 160 KiB per timeout period. */
#define HTTP_BODY_PROGRESS_BYTES (16 * 1024 * HTTP_IDLE_TIMEOUT_S)

static http_app_t *app_of_socket(struct us_socket_t *s) {
    return *(http_app_t **)us_socket_context_ext(0, us_socket_context(0, s));
}

/* A pending handler has asked for the request body (on_data). */
static int body_wanted(const http_conn_t *conn) {
    return conn->body_state && (conn->res_flags & HTTP_RES_PENDING) && (conn->res_flags & HTTP_RES_WANTS_BODY);
}

/* A pending handler has not asked for the body yet (it may after an await):
 * the body is kept, unread, until it asks or answers. Nothing is dropped. */
static int body_on_hold(const http_conn_t *conn) {
    return conn->body_state && (conn->res_flags & HTTP_RES_PENDING) && !(conn->res_flags & HTTP_RES_WANTS_BODY);
}

static int congested(const http_conn_t *conn) {
    return conn->out_len - conn->out_off > HTTP_BACKPRESSURE_PAUSE;
}

static void set_reading(http_conn_t *conn, int on) {
    struct us_poll_t *p = (struct us_poll_t *)conn->socket;
    int events = us_poll_events(p);
    int want = on ? (events | LIBUS_SOCKET_READABLE) : (events & ~LIBUS_SOCKET_READABLE);
    if (want != events) us_poll_change(p, conn->app->loop, want);
    conn->paused = !on;
}

static int hold_input(http_conn_t *conn, const char *data, size_t len) {
    if (!len) return 0;
    size_t need = (size_t)conn->in_len + len;
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

static void deliver_body(http_conn_t *conn, const char *data, size_t len, int is_last) {
    http_app_t *app = conn->app;
    conn->body_seen += len;
    conn->body_since_timer += len;
    if (conn->body_since_timer >= HTTP_BODY_PROGRESS_BYTES) {
        conn->body_since_timer = 0;
        if (!conn->closing) us_socket_timeout(0, conn->socket, HTTP_IDLE_TIMEOUT_S);
    }
    if ((conn->res_flags & (HTTP_RES_PENDING | HTTP_RES_WANTS_BODY)) ==
            (HTTP_RES_PENDING | HTTP_RES_WANTS_BODY) && conn->res_user)
        app->callbacks.on_body(app->user, conn, conn->res_user, data, len, is_last);
}

static void body_finished(http_conn_t *conn) {
    conn->body_state = 0;
    if (us_socket_is_closed(0, conn->socket) || conn->closing) return;
    /* Waiting for the next head (or for a handler that answers later, which
     * has no deadline: it promised an answer or an abort). */
    us_socket_timeout(0, conn->socket, (conn->res_flags & HTTP_RES_PENDING) ? 0 : HTTP_IDLE_TIMEOUT_S);
}

static void enter_binding(http_app_t *app) {
    if (!app->entered) {
        app->entered = 1;
        app->callbacks.enter(app);
    }
}

static void leave_binding(http_app_t *app) {
    if (app->entered) {
        app->entered = 0;
        app->callbacks.leave(app);
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
    conn->keep_alive = req->keep_alive;
    conn->version_minor = req->version_minor;
    conn->is_head = req->is_head;
    conn->res_flags = HTTP_RES_PENDING;
    conn->write_offset = 0;
    conn->body_seen = 0;
    conn->body_since_timer = 0;
    conn->head_len = 0;
    conn->status_len = 0;
    if (req->body_kind == HTTP_BODY_LENGTH && req->content_length) {
        conn->body_state = 1;
        conn->body_remaining = req->content_length;
    } else if (req->body_kind == HTTP_BODY_CHUNKED) {
        conn->body_state = 2;
        http_chunked_init(&conn->chunked);
    } else {
        conn->body_state = 0;
    }
    if (app->max_body_size && req->body_kind == HTTP_BODY_LENGTH && req->content_length > app->max_body_size) {
        conn->res_flags = 0;
        conn->body_state = 0;
        http_send_error(conn, 413);
        return;
    }
    /* The handler owns the connection now: no deadline while it works. */
    us_socket_timeout(0, conn->socket, 0);
    if (req->expect_continue && req->version_minor == 1 && conn->body_state)
        http_conn_write(conn, "HTTP/1.1 100 Continue\r\n\r\n", 25, NULL, 0);
    enter_binding(app);
    int handled = app->callbacks.on_request(app->user, conn, req);
    if (us_socket_is_closed(0, conn->socket)) return;
    if (!handled) send_default_404(conn);
    if (body_wanted(conn) && !conn->closing)
        us_socket_timeout(0, conn->socket, HTTP_IDLE_TIMEOUT_S); /* the body must keep coming */
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
    conn->body_state = 0;
    if (us_socket_is_closed(0, conn->socket)) return;
    if (unsent) {
        conn->head_len = conn->status_len = 0;
        http_send_error(conn, status);
    } else {
        http_conn_close(conn);
    }
}

/* Run the state machine over buf. Returns how many bytes were used; the rest
 * (a partial head, or requests that must wait for a pending response) is the
 * caller's to keep. */
static size_t process(http_conn_t *conn, char *buf, size_t len) {
    http_app_t *app = conn->app;
    size_t off = 0;
    conn->processing = 1;
    while (off < len) {
        if (us_socket_is_closed(0, conn->socket) || conn->closing) {
            off = len; /* a closing connection reads nothing more */
            break;
        }
        if (body_on_hold(conn)) break;
        if (conn->body_state == 1) {
            size_t n = len - off;
            if (n > conn->body_remaining) n = (size_t)conn->body_remaining;
            conn->body_remaining -= n;
            off += n;
            deliver_body(conn, buf + off - n, n, conn->body_remaining == 0);
            if (conn->body_remaining == 0) body_finished(conn);
            continue;
        }
        if (conn->body_state == 2) {
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
        size_t consumed = 0;
        int r = http_parse_head(buf + off, len - off, app->max_head_size, &app->request, &consumed);
        if (r == HTTP_PARSE_INCOMPLETE) break;
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
    size_t used = process(conn, conn->in_buf, conn->in_len);
    if (us_socket_is_closed(0, conn->socket)) return;
    if (used >= conn->in_len) {
        conn->in_len = 0;
    } else {
        memmove(conn->in_buf, conn->in_buf + used, conn->in_len - used);
        conn->in_len -= (uint32_t)used;
    }
}

/* After input was handled: stop reading while requests wait for an answer,
 * and finish a connection whose peer has stopped sending. */
static void settle(http_conn_t *conn) {
    if (us_socket_is_closed(0, conn->socket)) return;
    /* Stop reading while requests wait for an earlier answer, or while the
     * client is not reading what we already owe it. */
    int waiting = ((conn->res_flags & HTTP_RES_PENDING) && conn->in_len && !body_wanted(conn)) ||
                  congested(conn);
    if (waiting && !conn->paused && !conn->peer_ended) set_reading(conn, 0);
    else if (!waiting && conn->paused && !conn->peer_ended && !conn->closing) set_reading(conn, 1);
    if (conn->peer_ended && !(conn->res_flags & HTTP_RES_PENDING) && !congested(conn) && !conn->in_len)
        http_conn_finish_close(conn);
}

static void process_resumes(http_app_t *app) {
    http_conn_t *conn;
    while ((conn = app->resume_head) != NULL) {
        app->resume_head = conn->resume_next;
        conn->resume_next = NULL;
        conn->in_resume_list = 0;
        int corked = http_conn_cork(conn);
        process_held(conn);
        settle(conn);
        leave_binding(app);
        if (corked) http_conn_uncork(conn);
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
    conn->res_flags = 0;
    conn->res_user = NULL;
    conn->head_len = 0;
    conn->status_len = 0;
    if (us_socket_is_closed(0, conn->socket)) return;
    if (conn->close_after) {
        http_conn_finish_close(conn);
        return;
    }
    /* Keep-alive idle deadline, or, while the rest of an unread body is
     * skipped, the body deadline (re-armed as it keeps coming). */
    us_socket_timeout(0, conn->socket, HTTP_IDLE_TIMEOUT_S);
    conn->body_since_timer = 0;
    if (conn->in_len || conn->paused || conn->peer_ended) http_app_schedule_resume(conn);
}

/* ---- uSockets callbacks ------------------------------------------------------------- */

static struct us_socket_t *on_open(struct us_socket_t *s, int is_client, char *ip, int ip_length) {
    (void)is_client;
    http_app_t *app = app_of_socket(s);
    http_conn_t *conn = (http_conn_t *)us_socket_ext(0, s);
    memset(conn, 0, sizeof(*conn));
    conn->socket = s;
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
    if (app->draining) {
        /* Accepted before the listener closed: serve one request, no keep-alive. */
        conn->close_after = 1;
    }
    /* The first request head must arrive within the idle timeout. */
    us_socket_timeout(0, s, HTTP_IDLE_TIMEOUT_S);
    return s;
}

static struct us_socket_t *on_data(struct us_socket_t *s, char *data, int length) {
    http_conn_t *conn = (http_conn_t *)us_socket_ext(0, s);
    if (conn->closing || length <= 0) return s;
    int corked = http_conn_cork(conn);
    if (conn->in_len) {
        if (hold_input(conn, data, (size_t)length) != 0) {
            http_conn_close(conn);
            return s;
        }
        process_held(conn);
        if (us_socket_is_closed(0, s)) {
            leave_binding(conn->app);
            return s;
        }
    } else {
        size_t used = process(conn, data, (size_t)length);
        if (!us_socket_is_closed(0, s) && used < (size_t)length &&
            hold_input(conn, data + used, (size_t)length - used) != 0) {
            leave_binding(conn->app);
            http_conn_close(conn);
            return s;
        }
    }
    settle(conn);
    leave_binding(conn->app);
    if (corked) http_conn_uncork(conn);
    return s;
}

static struct us_socket_t *on_writable(struct us_socket_t *s) {
    http_conn_t *conn = (http_conn_t *)us_socket_ext(0, s);
    int empty = http_conn_drain(conn);
    if (empty && conn->closing && !(conn->res_flags & HTTP_RES_PENDING)) {
        http_conn_finish_close(conn);
    } else if (conn->paused && !congested(conn) && !conn->closing) {
        /* The client caught up: continue with the requests it already sent. */
        http_app_schedule_resume(conn);
    }
    return s;
}

static struct us_socket_t *on_end(struct us_socket_t *s) {
    http_conn_t *conn = (http_conn_t *)us_socket_ext(0, s);
    conn->peer_ended = 1;
    /* A client that half-closes after its request still gets its answer. */
    if (conn->closing || !(conn->res_flags & HTTP_RES_PENDING)) {
        if (conn->out_len > conn->out_off) {
            http_conn_finish_close(conn);
            return s;
        }
        return us_socket_close(0, s, 0, NULL);
    }
    return s;
}

static struct us_socket_t *on_timeout(struct us_socket_t *s) {
    /* Slow head, slow body, idle keep-alive, or a peer that never closes
     * after our FIN: all end the same way. */
    return us_socket_close(0, s, 0, NULL);
}

static struct us_socket_t *on_close(struct us_socket_t *s, int code, void *reason) {
    (void)code;
    (void)reason;
    http_conn_t *conn = (http_conn_t *)us_socket_ext(0, s);
    http_app_t *app = conn->app;
    abort_response(conn);
    unlink_resume(conn);
    if (app->corked == conn) {
        app->corked = NULL;
        app->cork_len = 0;
    }
    free(conn->in_buf);
    free(conn->head_buf);
    free(conn->out_buf);
    conn->in_buf = conn->head_buf = conn->out_buf = NULL;
    conn->in_len = conn->in_cap = conn->head_len = conn->head_cap = 0;
    conn->out_len = conn->out_cap = conn->out_off = 0;
    app->num_connections--;
    if (conn->prev) conn->prev->next = conn->next;
    else if (app->conns == conn) app->conns = conn->next;
    if (conn->next) conn->next->prev = conn->prev;
    conn->prev = conn->next = NULL;
    return s;
}

static void on_wakeup(struct us_loop_t *loop) {
    /* The wakeup only makes an iteration happen: held requests are resumed
     * in its post phase (on_post), the one place that does it. */
    (void)loop;
}

static void on_pre(struct us_loop_t *loop) {
    http_app_t *app = *(http_app_t **)us_loop_ext(loop);
    app->in_iteration = 1;
    app->date_fresh = 0;
}

static void on_post(struct us_loop_t *loop) {
    http_app_t *app = *(http_app_t **)us_loop_ext(loop);
    process_resumes(app);
    app->in_iteration = 0;
}

/* ---- app ------------------------------------------------------------------------------ */

http_app_t *http_app_create(const http_app_callbacks_t *callbacks, void *user) {
    http_app_t *app = calloc(1, sizeof(*app));
    if (!app) return NULL;
    app->callbacks = *callbacks;
    app->user = user;
    app->date_second = -1;
    app->max_head_size = HTTP_DEFAULT_MAX_HEAD_SIZE;
    const char *env = getenv("SOCKETIFY_MAX_HEAD_SIZE");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1024 && v <= 1024 * 1024) app->max_head_size = (size_t)v;
    }
    app->loop = us_create_loop(NULL, on_wakeup, on_pre, on_post, sizeof(http_app_t *));
    if (!app->loop) goto fail;
    *(http_app_t **)us_loop_ext(app->loop) = app;
    struct us_socket_context_options_t options;
    memset(&options, 0, sizeof(options));
    app->context = us_create_socket_context(0, app->loop, sizeof(http_app_t *), options);
    if (!app->context) goto fail;
    *(http_app_t **)us_socket_context_ext(0, app->context) = app;
    us_socket_context_on_open(0, app->context, on_open);
    us_socket_context_on_data(0, app->context, on_data);
    us_socket_context_on_writable(0, app->context, on_writable);
    us_socket_context_on_end(0, app->context, on_end);
    us_socket_context_on_timeout(0, app->context, on_timeout);
    us_socket_context_on_close(0, app->context, on_close);
    app->router = router_create();
    if (!app->router) goto fail;
    return app;
fail:
    if (app->context) us_socket_context_free(0, app->context);
    if (app->loop) us_loop_free(app->loop);
    free(app);
    errno = errno ? errno : ENOMEM;
    return NULL;
}

int http_app_listen(http_app_t *app, const char *host, int port, int options) {
    if (app->num_listen >= sizeof(app->listen_sockets) / sizeof(app->listen_sockets[0])) {
        errno = EMFILE;
        return -1;
    }
    errno = 0;
    struct us_listen_socket_t *ls =
        us_socket_context_listen(0, app->context, host, port, options, (int)sizeof(http_conn_t));
    if (!ls) {
        if (!errno) errno = EADDRNOTAVAIL;
        return -1;
    }
    app->listen_sockets[app->num_listen++] = ls;
    return us_socket_local_port(0, (struct us_socket_t *)ls);
}

int http_app_listen_unix(http_app_t *app, const char *path, int options) {
    if (app->num_listen >= sizeof(app->listen_sockets) / sizeof(app->listen_sockets[0])) {
        errno = EMFILE;
        return -1;
    }
    errno = 0;
    struct us_listen_socket_t *ls =
        us_socket_context_listen_unix(0, app->context, path, options, (int)sizeof(http_conn_t));
    if (!ls) {
        if (!errno) errno = EADDRNOTAVAIL;
        return -1;
    }
    app->listen_sockets[app->num_listen++] = ls;
    return 0;
}

void http_app_close_listeners(http_app_t *app) {
    for (uint32_t i = 0; i < app->num_listen; i++) us_listen_socket_close(0, app->listen_sockets[i]);
    app->num_listen = 0;
}

void http_app_close_connections(http_app_t *app) {
    http_app_close_listeners(app);
    us_socket_context_close(0, app->context);
}

unsigned http_app_num_connections(http_app_t *app) { return app->num_connections; }

static int conn_idle(const http_conn_t *conn) {
    return !(conn->res_flags & HTTP_RES_PENDING) && conn->out_len == conn->out_off && !conn->in_len &&
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
        if ((conn->res_flags & HTTP_RES_PENDING) || conn->out_len > conn->out_off) n++;
    return n;
}

void http_app_free(http_app_t *app) {
    if (!app) return;
    http_app_close_connections(app);
    /* One pass frees the sockets closed above (their memory is released
     * at the end of an iteration). */
    us_loop_run_once(app->loop, 0);
    us_socket_context_free(0, app->context);
    router_free(app->router);
    us_loop_free(app->loop);
    free(app);
}
