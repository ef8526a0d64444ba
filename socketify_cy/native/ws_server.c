/*
 * WebSocket connection engine: takes a socket over from the HTTP engine
 * after the 101, turns frames into events for the binding, frames what the
 * binding sends, runs the close handshake, the idle timeout with automatic
 * pings and the lifetime limit, and delivers pub/sub messages. Frame syntax
 * is ws_codec.c's, compression permessage_deflate.c's, the topics
 * topic_tree.c's, the bytes on the wire socket_writer.c's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "permessage_deflate.h"
#include "socket_kinds.h"
#include "socket_writer.h"
#include "topic_tree.h"
#include "utf8.h"
#include "ws_codec.h"
#include "ws_handshake.h"
#include "ws_server.h"

#define WS_LINGER_S 4           /* after our close frame, wait this long for the peer's */
#define WS_MAX_TIMER_S 960      /* longest single uSockets timeout; longer ones are chained */
#define WS_MSG_KEEP (64 * 1024) /* a message buffer above this is released after use */

/* Pub/sub message flags (tt_message_t.flags). */
#define WS_PUB_OPCODE_MASK 0xFF
#define WS_PUB_COMPRESS 0x100

enum ws_state {
    WS_OPEN = 0,    /* on_open ran, on_close not yet */
    WS_ENDING = 1,  /* our close frame is out, on_close ran: waiting for the peer's */
    WS_CLOSED = 2   /* on_close ran; the socket goes as soon as the bytes are out */
};

struct ws_app_s {
    http_app_t *http;
    struct us_loop_t *loop;
    int ssl;
    ws_callbacks_t cb;
    void *user;
    ws_route_t *routes;
    tt_tree_t *topics;
    pmd_deflater_t *shared_deflater; /* window 15, reset after every message */
    pmd_inflater_t *shared_inflater;
    pmd_buf_t zbuf;                  /* scratch: one message compressed */
    pmd_buf_t ibuf;                  /* scratch: one message inflated */
    ws_conn_t *conns;
    unsigned num_connections;
    uint8_t wakeup_pending;          /* a publish from outside the loop asked for an iteration */
    uint8_t draining;                /* inside tt_drain */
};

struct ws_route_s {
    ws_app_t *app;
    ws_route_t *next;
    ws_settings_t s;
    struct us_socket_context_t *ctx;       /* the app's kind (TCP or TLS) */
    struct us_socket_context_t *ctx_plain; /* TLS apps: upgrades on their plain unix listeners */
};

struct ws_conn_s {
    sw_conn_t sw; /* first: the part the HTTP engine used, moved along */
    ws_route_t *route;
    void *user;
    ws_conn_t *prev, *next;
    ws_parser_t parser;
    char *msg;                 /* a fragmented or compressed message being collected */
    size_t msg_len, msg_cap;
    const char *direct;        /* a whole unfragmented message in the receive buffer */
    size_t direct_len;
    utf8_stream_t utf8;
    tt_subscriber_t *sub;
    pmd_deflater_t *deflater;  /* own compressor (dedicated, or a shared one with a small window) */
    pmd_inflater_t *inflater;  /* own decompressor (dedicated) */
    char *extensions;          /* negotiated Sec-WebSocket-Extensions, NULL if none */
    uint32_t idle_extra;       /* seconds of the idle timeout still to chain */
    uint8_t state;
    uint8_t pmd;               /* permessage-deflate is on */
    uint8_t deflate;           /* ... and we may compress what we send */
    uint8_t deflate_reset;     /* our compressor forgets its window after each message */
    uint8_t inflate_shared;    /* the peer resets: the loop's shared inflater will do */
    uint8_t pinged;            /* the idle timeout sent a ping and waits for anything */
    uint8_t processing;        /* inside the frame loop */
    uint8_t ctrl_len;
    uint8_t ip_len;
    uint8_t ip[16];
    char ctrl[125];            /* a control frame's payload */
};

/* What the upgrade hands to the switch callback. */
typedef struct ws_pending_s {
    ws_route_t *route;
    void *user;
    pmd_agreement_t agreement;
    uint8_t ip_len;
    uint8_t ip[16];
    uint8_t ssl; /* the connection's kind */
} ws_pending_t;

/* Frames cached on a pub/sub message: built once, sent to every subscriber. */
typedef struct ws_framed_s {
    char *plain;
    size_t plain_len;
    char *z;                   /* compressed frame, or NULL */
    size_t z_len;
    uint8_t z_tried;
} ws_framed_t;

/* The binding's bracket (it takes the interpreter lock): callbacks run
 * inside it; a function that opened it closes it before returning. */
static int enter(ws_app_t *app) { return http_app_enter(app->http); }
static void leave(ws_app_t *app, int entered) {
    if (entered) http_app_leave(app->http);
}

static ws_conn_t *ws_of(int ssl, struct us_socket_t *s) { return (ws_conn_t *)us_socket_ext(ssl, s); }

int ws_is_open(const ws_conn_t *ws) { return ws && ws->state == WS_OPEN && !sw_closed(&ws->sw); }

/* ---- timeouts ------------------------------------------------------------------------ */

static unsigned ping_margin(unsigned idle) { return idle >= 32 ? 16 : (idle >= 16 ? 8 : 4); }

static void arm_timer(ws_conn_t *ws, uint32_t seconds) {
    uint32_t now = seconds > WS_MAX_TIMER_S ? WS_MAX_TIMER_S : seconds;
    ws->idle_extra = seconds - now;
    sw_timeout(&ws->sw, now);
}

/* Input arrived (or the queue drained): the idle clock starts again. */
static void arm_idle(ws_conn_t *ws) {
    const ws_settings_t *s = &ws->route->s;
    ws->pinged = 0;
    if (!s->idle_timeout) {
        sw_timeout(&ws->sw, 0);
        return;
    }
    arm_timer(ws, s->send_pings_automatically ? s->idle_timeout - ping_margin(s->idle_timeout) : s->idle_timeout);
}

/* ---- writing frames --------------------------------------------------------------------- */

static int write_frame(ws_conn_t *ws, int opcode, int fin, int rsv1, const char *payload, size_t len) {
    uint8_t hdr[WS_MAX_HEADER];
    size_t h = ws_frame_header(hdr, opcode, fin, rsv1, len);
    return sw_write2(&ws->sw, (const char *)hdr, h, payload, len, SIZE_MAX);
}

static int send_result(const ws_conn_t *ws) {
    if (sw_closed(&ws->sw)) return WS_SEND_CLOSED;
    return sw_buffered(&ws->sw) ? WS_SEND_BACKPRESSURE : WS_SEND_SUCCESS;
}

/* The loop's shared compressor (15-bit window, reset after every message), made on first use. */
static pmd_deflater_t *shared_deflater(ws_app_t *app) {
    if (!app->shared_deflater) app->shared_deflater = pmd_deflater_new(15, 8);
    return app->shared_deflater;
}

/* The compressor this connection uses, with whether to reset after each message. */
static pmd_deflater_t *deflater_for(ws_conn_t *ws, int *reset) {
    ws_app_t *app = ws->route->app;
    if (!ws->deflate) return NULL;
    if (ws->deflater) {
        *reset = ws->deflate_reset;
        return ws->deflater;
    }
    *reset = 1;
    return shared_deflater(app);
}

/* ---- closing ------------------------------------------------------------------------------ */

static void unsubscribe_all(ws_conn_t *ws) {
    ws_app_t *app = ws->route->app;
    if (!ws->sub) return;
    size_t n = tt_subscriber_topic_count(ws->sub);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *topic = tt_subscriber_topic(ws->sub, i, &len);
        long count = (long)tt_num_subscribers(app->topics, topic, len);
        if (app->cb.on_subscription) app->cb.on_subscription(app->user, ws, ws->user, topic, len, count - 1, count);
    }
    tt_subscriber_free(app->topics, ws->sub);
    ws->sub = NULL;
}

/* on_close, once: the connection is no longer open for the binding. */
static void report_close(ws_conn_t *ws, int code, const char *reason, size_t len) {
    ws_app_t *app = ws->route->app;
    int e = enter(app);
    unsubscribe_all(ws);
    void *user = ws->user;
    ws->user = NULL;
    app->cb.on_close(app->user, ws, user, code, reason, len);
    leave(app, e);
}

/* Send a close frame (code 0: none), tell the binding, and let the socket
 * go once the peer answers or the linger time passes. */
static void close_with(ws_conn_t *ws, int code, const char *reason, size_t len, int report_code,
                       const char *report_reason, size_t report_len, int wait_for_peer) {
    if (ws->state != WS_OPEN) return;
    char payload[125];
    size_t n = ws_close_payload(payload, (unsigned)code, reason, len);
    write_frame(ws, WS_OP_CLOSE, 1, 0, payload, n);
    ws->state = wait_for_peer ? WS_ENDING : WS_CLOSED;
    report_close(ws, report_code, report_reason, report_len);
    if (sw_closed(&ws->sw)) return;
    if (wait_for_peer) {
        ws->idle_extra = 0;
        sw_timeout(&ws->sw, WS_LINGER_S);
    } else {
        sw_shutdown(&ws->sw, WS_LINGER_S);
    }
}

/* A protocol violation: close with the RFC's code, report it, stop reading. */
static void fail(ws_conn_t *ws, int code, const char *reason) {
    close_with(ws, code, reason, strlen(reason), code, reason, strlen(reason), 0);
}

void ws_end(ws_conn_t *ws, int code, const char *reason, size_t len) {
    if (!ws_is_open(ws)) return;
    if (code != 0 && code != WS_CLOSE_NO_STATUS && code != WS_CLOSE_ABNORMAL && !ws_close_code_valid((unsigned)code))
        code = WS_CLOSE_NORMAL;
    int report_code = (code == 0) ? WS_CLOSE_NO_STATUS : code;
    int wire_code = (code == WS_CLOSE_NO_STATUS || code == WS_CLOSE_ABNORMAL) ? 0 : code;
    int corked = sw_cork(&ws->sw);
    close_with(ws, wire_code, reason, len, report_code, reason, len > 123 ? 123 : len, 1);
    if (corked) sw_uncork(&ws->sw);
}

void ws_close(ws_conn_t *ws) {
    if (!ws || ws->state != WS_OPEN || sw_closed(&ws->sw)) return;
    ws->state = WS_CLOSED;
    report_close(ws, WS_CLOSE_ABNORMAL, "", 0);
    sw_close(&ws->sw);
}

/* ---- receiving -------------------------------------------------------------------------------- */

static int msg_append(ws_conn_t *ws, const char *data, size_t len) {
    if (ws->msg_len + len > ws->msg_cap) {
        size_t n = ws->msg_cap ? ws->msg_cap : 1024;
        while (n < ws->msg_len + len) n *= 2;
        char *p = realloc(ws->msg, n);
        if (!p) return -1;
        ws->msg = p;
        ws->msg_cap = n;
    }
    memcpy(ws->msg + ws->msg_len, data, len);
    ws->msg_len += len;
    return 0;
}

static void msg_reset(ws_conn_t *ws) {
    ws->msg_len = 0;
    ws->direct = NULL;
    ws->direct_len = 0;
    if (ws->msg_cap > WS_MSG_KEEP) {
        free(ws->msg);
        ws->msg = NULL;
        ws->msg_cap = 0;
    }
}

static void deliver_message(ws_conn_t *ws) {
    ws_app_t *app = ws->route->app;
    const ws_settings_t *s = &ws->route->s;
    const char *data = ws->direct ? ws->direct : ws->msg;
    size_t len = ws->direct ? ws->direct_len : ws->msg_len;
    int opcode = ws->parser.message_opcode;
    if (ws->parser.message_rsv1) {
        pmd_inflater_t *inf = ws->inflater;
        int reset = 0;
        if (!inf) {
            if (!app->shared_inflater) app->shared_inflater = pmd_inflater_new(15);
            inf = app->shared_inflater;
            reset = 1;
        }
        int r = inf ? pmd_inflate(inf, data, len, (size_t)s->max_payload_length, reset, &app->ibuf) : PMD_NOMEM;
        if (r == PMD_TOO_BIG) {
            fail(ws, WS_CLOSE_TOO_BIG, "message too big after inflation");
            return;
        }
        if (r != PMD_OK) {
            fail(ws, r == PMD_NOMEM ? WS_CLOSE_INTERNAL_ERROR : WS_CLOSE_INVALID_DATA, "invalid compressed data");
            return;
        }
        data = app->ibuf.data;
        len = app->ibuf.len;
        if (opcode == WS_OP_TEXT && !utf8_valid(data, len)) {
            fail(ws, WS_CLOSE_INVALID_DATA, "invalid UTF-8");
            return;
        }
    } else if (opcode == WS_OP_TEXT && !utf8_stream_complete(&ws->utf8)) {
        fail(ws, WS_CLOSE_INVALID_DATA, "invalid UTF-8");
        return;
    }
    app->cb.on_message(app->user, ws, ws->user, data ? data : "", len, opcode);
}

static void on_control(ws_conn_t *ws) {
    ws_app_t *app = ws->route->app;
    int opcode = ws->parser.opcode;
    if (opcode == WS_OP_PING) {
        if (ws->state == WS_OPEN) write_frame(ws, WS_OP_PONG, 1, 0, ws->ctrl, ws->ctrl_len);
        if (ws->state == WS_OPEN && app->cb.on_ping)
            app->cb.on_ping(app->user, ws, ws->user, ws->ctrl, ws->ctrl_len);
    } else if (opcode == WS_OP_PONG) {
        if (ws->state == WS_OPEN && app->cb.on_pong)
            app->cb.on_pong(app->user, ws, ws->user, ws->ctrl, ws->ctrl_len);
    } else if (opcode == WS_OP_CLOSE) {
        if (ws->state == WS_ENDING) {
            /* The answer to our close: the handshake is complete. */
            ws->state = WS_CLOSED;
            sw_shutdown(&ws->sw, WS_LINGER_S);
            return;
        }
        if (ws->state != WS_OPEN) return;
        unsigned code;
        const char *reason;
        size_t reason_len;
        if (ws_close_parse(ws->ctrl, ws->ctrl_len, &code, &reason, &reason_len) != 0) {
            fail(ws, WS_CLOSE_PROTOCOL_ERROR, "invalid close payload");
            return;
        }
        /* Echo the peer's code (RFC 6455 5.5.1), then report it. */
        close_with(ws, code == WS_CLOSE_NO_STATUS ? 0 : (int)code, NULL, 0, (int)code, reason, reason_len, 0);
    }
}

/* Run the frame parser over data (modified: payloads are unmasked in place). */
static void process(ws_conn_t *ws, char *data, size_t len) {
    size_t off = 0;
    ws->processing = 1;
    for (;;) {
        if (sw_closed(&ws->sw) || ws->state == WS_CLOSED) break;
        size_t used = 0, out_len = 0;
        const char *out = NULL;
        int r = ws_parse(&ws->parser, data + off, len - off, &used, &out, &out_len);
        off += used;
        if (r == WS_PARSE_NEED_MORE) break;
        if (r == WS_PARSE_ERROR) {
            fail(ws, ws->parser.error_code ? ws->parser.error_code : WS_CLOSE_PROTOCOL_ERROR, "invalid frame");
            break;
        }
        int control = ws->parser.opcode >= 8;
        if (r == WS_PARSE_HEADER) {
            if (control) {
                ws->ctrl_len = 0;
            } else if (ws->parser.opcode != WS_OP_CONTINUATION) {
                msg_reset(ws);
                utf8_stream_init(&ws->utf8);
            }
        } else if (r == WS_PARSE_PAYLOAD) {
            if (control) {
                size_t room = sizeof(ws->ctrl) - ws->ctrl_len;
                size_t n = out_len < room ? out_len : room;
                memcpy(ws->ctrl + ws->ctrl_len, out, n);
                ws->ctrl_len = (uint8_t)(ws->ctrl_len + n);
                continue;
            }
            if (ws->state != WS_OPEN) continue; /* after our close frame: data is ignored */
            if (ws->parser.message_opcode == WS_OP_TEXT && !ws->parser.message_rsv1 &&
                utf8_stream_feed(&ws->utf8, out, out_len) != 0) {
                fail(ws, WS_CLOSE_INVALID_DATA, "invalid UTF-8");
                break;
            }
            if (ws->parser.fin && ws->parser.opcode != WS_OP_CONTINUATION && !ws->msg_len && !ws->direct &&
                out_len == ws->parser.length) {
                /* The whole message is in this buffer: no copy. */
                ws->direct = out;
                ws->direct_len = out_len;
            } else if (msg_append(ws, out, out_len) != 0) {
                goto nomem;
            }
        } else if (r == WS_PARSE_FRAME_END) {
            if (control) {
                on_control(ws);
            } else if (ws->parser.fin && ws->state == WS_OPEN) {
                deliver_message(ws);
                msg_reset(ws);
            }
        }
    }
    ws->processing = 0;
    return;
nomem:
    ws->processing = 0;
    fail(ws, WS_CLOSE_INTERNAL_ERROR, "out of memory");
}

/* ---- uSockets callbacks ------------------------------------------------------------------------ */

static struct us_socket_t *on_data(int ssl, struct us_socket_t *s, char *data, int length) {
    ws_conn_t *ws = ws_of(ssl, s);
    if (length <= 0 || ws->state == WS_CLOSED) return s;
    ws_app_t *app = ws->route->app;
    if (ws->state == WS_OPEN) arm_idle(ws);
    int e = enter(app);
    int corked = sw_cork(&ws->sw);
    process(ws, data, (size_t)length);
    leave(app, e);
    if (corked) sw_uncork(&ws->sw);
    return s;
}

static struct us_socket_t *on_writable(int ssl, struct us_socket_t *s) {
    ws_conn_t *ws = ws_of(ssl, s);
    ws_app_t *app = ws->route->app;
    int had = sw_buffered(&ws->sw) != 0;
    int empty = sw_drain(&ws->sw);
    if (sw_closed(&ws->sw)) return s;
    if (empty && had && ws->state == WS_OPEN && app->cb.on_drain) {
        int e = enter(app);
        int corked = sw_cork(&ws->sw);
        app->cb.on_drain(app->user, ws, ws->user);
        leave(app, e);
        if (corked) sw_uncork(&ws->sw);
    }
    return s;
}

static struct us_socket_t *on_end(int ssl, struct us_socket_t *s) {
    ws_conn_t *ws = ws_of(ssl, s);
    ws->sw.peer_ended = 1;
    if (ws->state == WS_OPEN) {
        ws->state = WS_CLOSED;
        static const char reason[] = "connection closed without a close frame";
        report_close(ws, WS_CLOSE_ABNORMAL, reason, sizeof(reason) - 1);
    }
    if (!sw_closed(&ws->sw)) {
        if (sw_buffered(&ws->sw) && !ws->sw.shut_down) sw_shutdown(&ws->sw, WS_LINGER_S);
        else sw_close(&ws->sw);
    }
    return s;
}

static struct us_socket_t *on_timeout(int ssl, struct us_socket_t *s) {
    ws_conn_t *ws = ws_of(ssl, s);
    if (ws->state != WS_OPEN || ws->sw.shut_down || sw_buffered(&ws->sw)) {
        /* The close handshake or our output made no progress in time. */
        return us_socket_close(ssl, s, 0, NULL);
    }
    if (ws->idle_extra) {
        arm_timer(ws, ws->idle_extra);
        return s;
    }
    const ws_settings_t *st = &ws->route->s;
    if (st->send_pings_automatically && !ws->pinged) {
        ws->pinged = 1;
        write_frame(ws, WS_OP_PING, 1, 0, NULL, 0);
        sw_timeout(&ws->sw, ping_margin(st->idle_timeout));
        return s;
    }
    ws->state = WS_CLOSED;
    static const char reason[] = "idle timeout";
    report_close(ws, WS_CLOSE_ABNORMAL, reason, sizeof(reason) - 1);
    return us_socket_close(ssl, s, 0, NULL);
}

static struct us_socket_t *on_long_timeout(int ssl, struct us_socket_t *s) {
    ws_conn_t *ws = ws_of(ssl, s);
    static const char reason[] = "please reconnect";
    if (ws->state == WS_OPEN) ws_end(ws, WS_CLOSE_NORMAL, reason, sizeof(reason) - 1);
    return s;
}

static struct us_socket_t *on_close(int ssl, struct us_socket_t *s, int code, void *reason) {
    (void)code;
    (void)reason;
    ws_conn_t *ws = ws_of(ssl, s);
    ws_app_t *app = ws->route->app;
    if (ws->state == WS_OPEN) {
        ws->state = WS_CLOSED;
        report_close(ws, WS_CLOSE_ABNORMAL, "", 0);
    }
    if (ws->sub) tt_subscriber_free(app->topics, ws->sub);
    ws->sub = NULL;
    sw_conn_release(&ws->sw);
    free(ws->msg);
    ws->msg = NULL;
    free(ws->extensions);
    ws->extensions = NULL;
    if (ws->deflater) pmd_deflater_free(ws->deflater);
    if (ws->inflater) pmd_inflater_free(ws->inflater);
    ws->deflater = NULL;
    ws->inflater = NULL;
    if (ws->prev) ws->prev->next = ws->next;
    else if (app->conns == ws) app->conns = ws->next;
    if (ws->next) ws->next->prev = ws->prev;
    ws->prev = ws->next = NULL;
    app->num_connections--;
    return s;
}

/* One set of trampolines per kind of context (socket_kinds.h), plus the lifetime limit. */
#define WS_SOCKET_CALLBACKS(KIND, SSL)                                                              \
    SOCKET_KIND_CALLBACKS(KIND, SSL)                                                              \
    static struct us_socket_t *on_long_timeout_##KIND(struct us_socket_t *s) {                    \
        return on_long_timeout(SSL, s);                                                           \
    }                                                                                             \
    static void register_##KIND(struct us_socket_context_t *ctx) {                                \
        register_common_##KIND(ctx);                                                              \
        us_socket_context_on_long_timeout(SSL, ctx, on_long_timeout_##KIND);                      \
    }

WS_SOCKET_CALLBACKS(tcp, 0)
WS_SOCKET_CALLBACKS(tls, 1)

/* ---- upgrade -------------------------------------------------------------------------------------- */

static void on_switched(void *arg, struct us_socket_t *s, char *leftover, size_t len) {
    ws_pending_t *pd = arg;
    ws_route_t *route = pd->route;
    ws_app_t *app = route->app;
    if (!s) {
        int e = enter(app);
        app->cb.on_close(app->user, NULL, pd->user, WS_CLOSE_ABNORMAL, "", 0);
        leave(app, e);
        free(pd);
        free(leftover);
        return;
    }
    int ssl = pd->ssl;
    ws_conn_t *ws = ws_of(ssl, s);
    memset((char *)ws + sizeof(sw_conn_t), 0, sizeof(*ws) - sizeof(sw_conn_t));
    ws->route = route;
    ws->user = pd->user;
    ws->ip_len = pd->ip_len;
    memcpy(ws->ip, pd->ip, sizeof(ws->ip));
    const ws_settings_t *st = &route->s;
    ws->sw.progress_timeout = st->idle_timeout ? (st->idle_timeout > WS_MAX_TIMER_S ? WS_MAX_TIMER_S : st->idle_timeout)
                                               : 30;
    ws->sw.linger_timeout = WS_LINGER_S;
    const pmd_agreement_t *ag = &pd->agreement;
    if (ag->enabled) {
        ws->pmd = 1;
        ws->extensions = strdup(ag->response);
        /* deflate_window: 0 = we never compress; PMD_SHARED_COMPRESSOR = the
         * loop's shared stream (15-bit window, reset every message); 9..15 =
         * a stream of this connection's own (reset every message when the
         * client asked for no context takeover). */
        ws->deflate = ag->deflate_window != 0;
        ws->deflate_reset = ag->deflate_shared;
        if (ag->deflate_window >= 9) {
            ws->deflater = pmd_deflater_new(ag->deflate_window, ag->deflate_mem_level ? ag->deflate_mem_level : 8);
            if (!ws->deflater) ws->deflate = 0; /* out of memory: send uncompressed */
        }
        ws->inflate_shared = ag->inflate_shared;
        if (!ag->inflate_shared) ws->inflater = pmd_inflater_new(15);
    }
    ws_parser_init(&ws->parser, st->max_payload_length, ws->pmd);
    ws->next = app->conns;
    if (app->conns) app->conns->prev = ws;
    app->conns = ws;
    app->num_connections++;
    arm_idle(ws);
    if (st->max_lifetime) us_socket_long_timeout(ssl, s, st->max_lifetime);
    void *user = pd->user;
    free(pd);
    app->cb.on_open(app->user, ws, user);
    if (leftover) {
        /* Frames the client sent right behind its upgrade request. */
        if (len && ws_is_open(ws)) process(ws, leftover, len);
        free(leftover);
    }
}

static size_t put(char *p, const char *s, size_t n) {
    memcpy(p, s, n);
    return n;
}

#define PUT_LITERAL(p, lit) put((p), (lit), sizeof(lit) - 1)

int ws_upgrade(ws_route_t *route, http_conn_t *conn, const char *key, size_t key_len, const char *protocol,
               size_t protocol_len, const char *extensions, size_t extensions_len, void *conn_user) {
    if (!ws_key_valid(key, key_len)) return WS_UPGRADE_BAD_KEY;
    ws_pending_t *pd = calloc(1, sizeof(*pd));
    if (!pd) return WS_UPGRADE_NOMEM;
    pd->route = route;
    pd->user = conn_user;
    pd->ip_len = (uint8_t)http_conn_ip(conn, pd->ip);
    if (route->s.compression && extensions && extensions_len)
        pmd_negotiate(extensions, extensions_len, route->s.compression, &pd->agreement);
    char accept[WS_ACCEPT_LEN];
    if (ws_accept_key(key, key_len, accept) != 0) {
        free(pd);
        return WS_UPGRADE_NOMEM;
    }
    const char *proto = NULL;
    size_t proto_len = 0;
    if (protocol && protocol_len) ws_first_protocol(protocol, protocol_len, &proto, &proto_len);
    if (proto_len > 256) proto_len = 0;
    char lines[640];
    char *p = lines;
    p += PUT_LITERAL(p, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    p += put(p, accept, WS_ACCEPT_LEN);
    p += PUT_LITERAL(p, "\r\n");
    if (proto_len) {
        p += PUT_LITERAL(p, "Sec-WebSocket-Protocol: ");
        p += put(p, proto, proto_len);
        p += PUT_LITERAL(p, "\r\n");
    }
    if (pd->agreement.enabled) {
        p += PUT_LITERAL(p, "Sec-WebSocket-Extensions: ");
        p += put(p, pd->agreement.response, pd->agreement.response_len);
        p += PUT_LITERAL(p, "\r\n");
    }
    pd->ssl = (uint8_t)http_conn_is_ssl(conn);
    int r = http_conn_switch(conn, lines, (size_t)(p - lines), pd->ssl || !route->ctx_plain ? route->ctx : route->ctx_plain,
                             (int)sizeof(ws_conn_t), on_switched, pd);
    if (r != 0) {
        free(pd);
        return WS_UPGRADE_NOT_PENDING;
    }
    return WS_UPGRADE_OK;
}

/* ---- sending ---------------------------------------------------------------------------------- */

/* The queue is over the limit: refuse this message (and maybe close). */
static int refuse(ws_conn_t *ws, const char *data, size_t len, int opcode) {
    ws_app_t *app = ws->route->app;
    int e = enter(app);
    if (app->cb.on_dropped) app->cb.on_dropped(app->user, ws, ws->user, data, len, opcode);
    if (ws->route->s.close_on_backpressure_limit && ws->state == WS_OPEN) {
        ws->state = WS_CLOSED;
        static const char reason[] = "backpressure limit";
        report_close(ws, WS_CLOSE_ABNORMAL, reason, sizeof(reason) - 1);
        sw_close(&ws->sw);
    }
    leave(app, e);
    return WS_SEND_DROPPED;
}

static int over_limit(const ws_conn_t *ws) {
    size_t limit = ws->route->s.max_backpressure;
    return limit && sw_buffered(&ws->sw) > limit;
}

int ws_send(ws_conn_t *ws, const char *data, size_t len, int opcode, int compress, int fin) {
    if (!ws_is_open(ws)) return WS_SEND_CLOSED;
    ws_app_t *app = ws->route->app;
    if (over_limit(ws)) return refuse(ws, data, len, opcode);
    /* Messages published to this socket earlier go first. */
    if (ws->sub && !app->draining) tt_drain_subscriber(app->topics, ws->sub);
    if (!ws_is_open(ws)) return WS_SEND_CLOSED;
    int rsv1 = 0;
    if (compress && ws->pmd && fin && len && (opcode == WS_OP_TEXT || opcode == WS_OP_BINARY)) {
        int reset;
        pmd_deflater_t *d = deflater_for(ws, &reset);
        if (d && pmd_deflate(d, data, len, reset, &app->zbuf) == PMD_OK) {
            data = app->zbuf.data;
            len = app->zbuf.len;
            rsv1 = 1;
        }
    }
    write_frame(ws, opcode, fin, rsv1, data, len);
    if (ws->route->s.reset_idle_timeout_on_send && ws_is_open(ws)) arm_idle(ws);
    return send_result(ws);
}

int ws_cork(ws_conn_t *ws) { return ws_is_open(ws) ? sw_cork(&ws->sw) : 0; }

void ws_uncork(ws_conn_t *ws) {
    if (ws) sw_uncork(&ws->sw);
}

size_t ws_buffered(const ws_conn_t *ws) { return ws ? sw_buffered(&ws->sw) : 0; }

int ws_ip(const ws_conn_t *ws, uint8_t *out) {
    memcpy(out, ws->ip, ws->ip_len);
    return ws->ip_len;
}

struct us_socket_t *ws_socket(ws_conn_t *ws) { return ws->sw.socket; }

const char *ws_extensions(const ws_conn_t *ws) { return ws->extensions ? ws->extensions : ""; }

/* ---- pub/sub ------------------------------------------------------------------------------------- */

int ws_subscribe(ws_conn_t *ws, const char *topic, size_t len) {
    if (!ws_is_open(ws)) return -1;
    ws_app_t *app = ws->route->app;
    if (!ws->sub && !(ws->sub = tt_subscriber_new(app->topics, ws))) return -1;
    long n = tt_subscribe(app->topics, ws->sub, topic, len);
    if (n < 0) return -1;
    if (n == 0) return 0;
    if (app->cb.on_subscription) app->cb.on_subscription(app->user, ws, ws->user, topic, len, n, n - 1);
    return 1;
}

int ws_unsubscribe(ws_conn_t *ws, const char *topic, size_t len) {
    if (!ws_is_open(ws) || !ws->sub) return 0;
    ws_app_t *app = ws->route->app;
    long n = tt_unsubscribe(app->topics, ws->sub, topic, len);
    if (n < 0) return 0;
    if (app->cb.on_subscription) app->cb.on_subscription(app->user, ws, ws->user, topic, len, n, n + 1);
    return 1;
}

int ws_is_subscribed(ws_conn_t *ws, const char *topic, size_t len) {
    return ws_is_open(ws) && ws->sub && tt_is_subscribed(ws->route->app->topics, ws->sub, topic, len);
}

size_t ws_topic_count(ws_conn_t *ws) { return ws_is_open(ws) && ws->sub ? tt_subscriber_topic_count(ws->sub) : 0; }

const char *ws_topic(ws_conn_t *ws, size_t i, size_t *len) { return tt_subscriber_topic(ws->sub, i, len); }

long ws_publish(ws_app_t *app, ws_conn_t *sender, const char *topic, size_t topic_len, const char *data,
                size_t len, int opcode, int compress) {
    if (!app) return 0;
    uint32_t flags = (uint32_t)(opcode & WS_PUB_OPCODE_MASK) | (compress ? WS_PUB_COMPRESS : 0);
    long n = tt_publish(app->topics, topic, topic_len, sender ? sender->sub : NULL, data, len, flags);
    if (n > 0 && !app->wakeup_pending && !sw_loop_of(app->loop)->in_iteration) {
        /* Delivery happens in the loop's post phase: from outside a pass
         * (a task), make sure one comes; inside one, its post phase will. */
        app->wakeup_pending = 1;
        us_wakeup_loop(app->loop);
    }
    return n;
}

size_t ws_num_subscribers(ws_app_t *app, const char *topic, size_t len) {
    return app ? tt_num_subscribers(app->topics, topic, len) : 0;
}

/* Frame a published message once per framing (plain, compressed). */
static const char *framed(ws_app_t *app, tt_message_t *m, int want_z, size_t *out_len) {
    ws_framed_t *f = m->cache;
    if (!f) {
        f = calloc(1, sizeof(*f));
        if (!f) return NULL;
        m->cache = f;
    }
    int opcode = (int)(m->flags & WS_PUB_OPCODE_MASK);
    if (want_z && !f->z_tried) {
        f->z_tried = 1;
        pmd_deflater_t *d = shared_deflater(app);
        if (d && m->len && pmd_deflate(d, m->data, m->len, 1, &app->zbuf) == PMD_OK) {
            f->z = malloc(WS_MAX_HEADER + app->zbuf.len);
            if (f->z) {
                size_t h = ws_frame_header((uint8_t *)f->z, opcode, 1, 1, app->zbuf.len);
                memcpy(f->z + h, app->zbuf.data, app->zbuf.len);
                f->z_len = h + app->zbuf.len;
            }
        }
    }
    if (want_z && f->z) {
        *out_len = f->z_len;
        return f->z;
    }
    if (!f->plain) {
        f->plain = malloc(WS_MAX_HEADER + m->len);
        if (!f->plain) return NULL;
        size_t h = ws_frame_header((uint8_t *)f->plain, opcode, 1, 0, m->len);
        if (m->len) memcpy(f->plain + h, m->data, m->len);
        f->plain_len = h + m->len;
    }
    *out_len = f->plain_len;
    return f->plain;
}

static void deliver(void *tree_user, tt_subscriber_t *s, void *sub_user, tt_message_t *const *msgs, size_t n) {
    (void)s;
    ws_app_t *app = tree_user;
    ws_conn_t *ws = sub_user;
    if (!ws_is_open(ws)) return;
    int corked = sw_cork(&ws->sw);
    for (size_t i = 0; i < n && ws_is_open(ws); i++) {
        tt_message_t *m = msgs[i];
        if (over_limit(ws)) {
            /* A slow subscriber loses what does not fit; the others go on. */
            refuse(ws, m->data, m->len, (int)(m->flags & WS_PUB_OPCODE_MASK));
            break;
        }
        int opcode = (int)(m->flags & WS_PUB_OPCODE_MASK);
        if ((m->flags & WS_PUB_COMPRESS) && ws->deflate && ws->deflater) {
            /* Its own compressor (context kept, or a small window): an
             * independently compressed frame would not fit its stream. */
            ws_send(ws, m->data, m->len, opcode, 1, 1);
            continue;
        }
        /* One compressed frame serves every subscriber on the shared
         * compressor (15-bit window, no context). */
        size_t flen = 0;
        const char *f = framed(app, m, (m->flags & WS_PUB_COMPRESS) && ws->deflate, &flen);
        if (!f) break;
        sw_write(&ws->sw, f, flen, SIZE_MAX);
    }
    if (corked) sw_uncork(&ws->sw);
}

static void free_framed(void *tree_user, void *cache) {
    (void)tree_user;
    ws_framed_t *f = cache;
    free(f->plain);
    free(f->z);
    free(f);
}

static void post_hook(void *arg) {
    ws_app_t *app = arg;
    app->wakeup_pending = 0;
    if (!tt_pending(app->topics)) return;
    app->draining = 1;
    tt_drain(app->topics);
    app->draining = 0;
}

/* ---- app ------------------------------------------------------------------------------------------ */

ws_app_t *ws_app_create(http_app_t *http, const ws_callbacks_t *callbacks, void *user) {
    ws_app_t *app = calloc(1, sizeof(*app));
    if (!app) return NULL;
    app->http = http;
    app->loop = http_app_loop(http);
    app->ssl = http_app_is_ssl(http);
    app->cb = *callbacks;
    app->user = user;
    app->topics = tt_create(deliver, free_framed, app);
    if (!app->topics) {
        free(app);
        return NULL;
    }
    http_app_set_post_hook(http, post_hook, app);
    return app;
}

void ws_app_going_away(ws_app_t *app) {
    if (!app) return;
    static const char reason[] = "server shutting down";
    ws_conn_t *ws = app->conns, *next;
    for (; ws; ws = next) {
        next = ws->next;
        ws_end(ws, WS_CLOSE_GOING_AWAY, reason, sizeof(reason) - 1);
    }
}

void ws_app_close_connections(ws_app_t *app) {
    if (!app) return;
    for (ws_route_t *r = app->routes; r; r = r->next) {
        us_socket_context_close(app->ssl, r->ctx);
        if (r->ctx_plain) us_socket_context_close(0, r->ctx_plain);
    }
}

void ws_app_free(ws_app_t *app) {
    if (!app) return;
    ws_app_close_connections(app);
    /* Closed sockets are freed at the end of a loop pass. */
    us_loop_run_once(app->loop, 0);
    http_app_set_post_hook(app->http, NULL, NULL);
    ws_route_t *r = app->routes, *next;
    for (; r; r = next) {
        next = r->next;
        us_socket_context_free(app->ssl, r->ctx);
        if (r->ctx_plain) us_socket_context_free(0, r->ctx_plain);
        free(r);
    }
    tt_free(app->topics);
    if (app->shared_deflater) pmd_deflater_free(app->shared_deflater);
    if (app->shared_inflater) pmd_inflater_free(app->shared_inflater);
    pmd_buf_free(&app->zbuf);
    pmd_buf_free(&app->ibuf);
    free(app);
}

int ws_settings_valid(const ws_settings_t *s, const char **why) {
    if (!pmd_options_valid(s->compression)) {
        *why = "compression is not a CompressOptions value";
        return 0;
    }
    if (s->idle_timeout >= 1 && s->idle_timeout <= 7) {
        *why = "idle_timeout must be 0 (none) or at least 8 seconds";
        return 0;
    }
    if (s->max_lifetime > 240) {
        *why = "max_lifetime is at most 240 minutes";
        return 0;
    }
    return 1;
}

ws_route_t *ws_route_add(ws_app_t *app, const ws_settings_t *settings) {
    const char *why;
    if (!ws_settings_valid(settings, &why)) {
        errno = EINVAL;
        return NULL;
    }
    ws_route_t *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->app = app;
    r->s = *settings;
    r->ctx = us_create_child_socket_context(app->ssl, http_app_context(app->http), sizeof(ws_route_t *));
    if (!r->ctx) {
        free(r);
        return NULL;
    }
    *(ws_route_t **)us_socket_context_ext(app->ssl, r->ctx) = r;
    if (app->ssl) register_tls(r->ctx);
    else register_tcp(r->ctx);
    struct us_socket_context_t *plain = http_app_plain_context(app->http);
    if (plain) {
        r->ctx_plain = us_create_child_socket_context(0, plain, sizeof(ws_route_t *));
        if (!r->ctx_plain) {
            us_socket_context_free(app->ssl, r->ctx);
            free(r);
            return NULL;
        }
        *(ws_route_t **)us_socket_context_ext(0, r->ctx_plain) = r;
        register_tcp(r->ctx_plain);
    }
    r->next = app->routes;
    app->routes = r;
    return r;
}

unsigned ws_app_num_connections(ws_app_t *app) { return app ? app->num_connections : 0; }
