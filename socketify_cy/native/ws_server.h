/*
 * WebSocket server engine: the upgrade from an HTTP connection, frames to
 * events (messages, pings, pongs, close), sending with permessage-deflate,
 * idle timeouts with automatic pings, backpressure, and pub/sub delivery.
 * No Python: the binding plugs in through ws_callbacks_t; every callback gets
 * the binding's `user` and the connection's own conn_user (the binding's
 * WebSocket object), which the binding may release after on_close.
 *
 * Bytes leave through the socket writer (socket_writer.h), framing is
 * ws_codec.c's, compression permessage_deflate.c's, topics topic_tree.c's.
 */
#ifndef SOCKETIFY_WS_SERVER_H
#define SOCKETIFY_WS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "http_server.h"

typedef struct ws_app_s ws_app_t;
typedef struct ws_route_s ws_route_t;
typedef struct ws_conn_s ws_conn_t;

typedef struct ws_callbacks_s {
    /* The connection is open (the 101 is written); conn_user is what the
     * binding gave ws_upgrade. */
    void (*on_open)(void *user, ws_conn_t *ws, void *conn_user);
    /* A whole message (inflated, TEXT checked as UTF-8). */
    void (*on_message)(void *user, ws_conn_t *ws, void *conn_user, const char *data, size_t len, int opcode);
    void (*on_ping)(void *user, ws_conn_t *ws, void *conn_user, const char *data, size_t len);
    void (*on_pong)(void *user, ws_conn_t *ws, void *conn_user, const char *data, size_t len);
    /* The output queue emptied after backpressure. */
    void (*on_drain)(void *user, ws_conn_t *ws, void *conn_user);
    /* A send was refused because the queue is over max_backpressure. */
    void (*on_dropped)(void *user, ws_conn_t *ws, void *conn_user, const char *data, size_t len, int opcode);
    void (*on_subscription)(void *user, ws_conn_t *ws, void *conn_user, const char *topic, size_t len,
                            long new_count, long old_count);
    /* Exactly once per on_open: the peer's close code and reason (1006 and
     * the engine's reason when the connection died without a close frame).
     * After it, ws is closed: every call on it is a no-op. With ws NULL: the
     * upgrade never completed (the client left first); only release conn_user. */
    void (*on_close)(void *user, ws_conn_t *ws, void *conn_user, int code, const char *reason, size_t len);
} ws_callbacks_t;

typedef struct ws_settings_s {
    unsigned compression;         /* CompressOptions */
    uint64_t max_payload_length;  /* bytes per message, on the wire and inflated; 0 = no limit */
    unsigned idle_timeout;        /* seconds; 0 = none; 1..7 invalid */
    size_t max_backpressure;      /* bytes; 0 = no limit */
    int close_on_backpressure_limit;
    int reset_idle_timeout_on_send;
    int send_pings_automatically;
    unsigned max_lifetime;        /* minutes; 0 = none; <= 240 */
} ws_settings_t;

/* Send results, as socketify's SendStatus. */
enum { WS_SEND_BACKPRESSURE = 0, WS_SEND_SUCCESS = 1, WS_SEND_DROPPED = 2, WS_SEND_CLOSED = -1 };

/* ws_upgrade results. */
enum { WS_UPGRADE_OK = 0, WS_UPGRADE_NOT_PENDING = -1, WS_UPGRADE_BAD_KEY = -2, WS_UPGRADE_NOMEM = -3 };

/* One per HTTP app; made when the first route is added. NULL out of memory. */
ws_app_t *ws_app_create(http_app_t *http, const ws_callbacks_t *callbacks, void *user);
/* Closes every WebSocket (on_close 1006) and frees. */
void ws_app_free(ws_app_t *app);
/* NULL if settings are invalid (errno EINVAL) or out of memory. */
ws_route_t *ws_route_add(ws_app_t *app, const ws_settings_t *settings);
/* 1 if settings are acceptable; else 0 and *why names the bad one. */
int ws_settings_valid(const ws_settings_t *settings, const char **why);

/* Answer the pending request of conn with 101 and make it a WebSocket of
 * route: protocol is the client's Sec-WebSocket-Protocol value (its first
 * item is chosen; NULL/0 none), extensions the client's offer (negotiated
 * against the route's compression). conn_user is handed back in every
 * callback. on_open runs before this returns when called outside the
 * engine's callbacks, else when the request's callback returns. */
int ws_upgrade(ws_route_t *route, http_conn_t *conn, const char *key, size_t key_len, const char *protocol,
               size_t protocol_len, const char *extensions, size_t extensions_len, void *conn_user);

int ws_send(ws_conn_t *ws, const char *data, size_t len, int opcode, int compress, int fin);
/* Close handshake: close frame with code (0: none) and reason; on_close runs now. */
void ws_end(ws_conn_t *ws, int code, const char *reason, size_t len);
/* Close the TCP connection now, no close frame: on_close(1006). */
void ws_close(ws_conn_t *ws);
int ws_is_open(const ws_conn_t *ws);
int ws_cork(ws_conn_t *ws);
void ws_uncork(ws_conn_t *ws);
size_t ws_buffered(const ws_conn_t *ws);
int ws_ip(const ws_conn_t *ws, uint8_t *out);
struct us_socket_t *ws_socket(ws_conn_t *ws);
/* The negotiated Sec-WebSocket-Extensions value (empty if none). */
const char *ws_extensions(const ws_conn_t *ws);

/* Pub/sub. subscribe: 1 newly subscribed, 0 already, -1 error. unsubscribe: 1/0. */
int ws_subscribe(ws_conn_t *ws, const char *topic, size_t len);
int ws_unsubscribe(ws_conn_t *ws, const char *topic, size_t len);
int ws_is_subscribed(ws_conn_t *ws, const char *topic, size_t len);
size_t ws_topic_count(ws_conn_t *ws);
const char *ws_topic(ws_conn_t *ws, size_t i, size_t *len);
/* Queue message for every subscriber of topic except sender (NULL: all).
 * Delivered, in publish order per subscriber, before the loop next waits.
 * Returns the number of recipients, -1 on error. */
long ws_publish(ws_app_t *app, ws_conn_t *sender, const char *topic, size_t topic_len, const char *data,
                size_t len, int opcode, int compress);
size_t ws_num_subscribers(ws_app_t *app, const char *topic, size_t len);
unsigned ws_app_num_connections(ws_app_t *app);
/* Graceful shutdown: every open WebSocket gets a close frame (1001). */
void ws_app_going_away(ws_app_t *app);
/* Close every WebSocket connection now (on_close 1006 for the open ones). */
void ws_app_close_connections(ws_app_t *app);

#endif
