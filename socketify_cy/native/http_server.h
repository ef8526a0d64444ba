/*
 * HTTP/1.x server engine on a uSockets context: the app (listen sockets,
 * limits, shutdown) and the connection state machine (head, body, held
 * pipelined input, keep-alive, slow-client timeouts). No Python: the binding
 * plugs in through http_app_callbacks_t, every callback gets the binding's
 * `user` pointer, and the binding owns whatever res_user points to.
 *
 * The structs are opaque here; the engine's own files share them through
 * http_conn.h. The response side of a connection is in http_response.h.
 */
#ifndef SOCKETIFY_HTTP_SERVER_H
#define SOCKETIFY_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "http_parser.h"
#include "libusockets.h"
#include "router.h"

#define HTTP_DEFAULT_IDLE_TIMEOUT_S 10       /* keep-alive idle, head deadline, send progress */
#define HTTP_DEFAULT_BACKPRESSURE (64 * 1024) /* queued bytes before writes report backpressure */

typedef struct http_app_s http_app_t;
typedef struct http_conn_s http_conn_t;

typedef struct http_app_callbacks_s {
    /* Bracket a batch of request callbacks (the binding takes its interpreter
     * lock once per batch, not per request). The engine calls leave before
     * any flush, so sends never run inside the bracket. */
    void (*enter)(void *user);
    void (*leave)(void *user);
    /* A request head is complete: route it. Always called inside enter/leave.
     * Return 1 if a handler took it, 0 if no route answered (the engine then
     * sends the default 404). */
    int (*on_request)(void *user, http_conn_t *conn, http_request_t *req);
    /* The pending response bound to res_user can no longer be sent (client
     * gone, timeout, shutdown). Called once, outside enter/leave; release res_user. */
    void (*on_abort)(void *user, http_conn_t *conn, void *res_user);
    /* Body bytes of the pending request, for a response that asked for them. */
    void (*on_body)(void *user, http_conn_t *conn, void *res_user,
                    const char *data, size_t len, int is_last);
    /* The output queue of a response that asked for it (http_res_on_writable)
     * has emptied; offset is its write offset. Returns what the binding's
     * handler returned (1 = done for now). Outside enter/leave. */
    int (*on_writable)(void *user, http_conn_t *conn, void *res_user, uint64_t offset);
    /* Optional. A write was made outside the loop's passes (from a task after
     * an await): it is held with the socket's queue; the binding must call
     * http_app_flush soon (before its event loop next waits). Called once
     * per batch, without the binding's lock. NULL: such writes go out at once. */
    void (*need_flush)(void *user);
} http_app_callbacks_t;

typedef struct http_app_limits_s {
    size_t max_head_size;      /* request line + fields; 0 = default */
    uint64_t max_body_size;    /* 0 = unlimited */
    unsigned idle_timeout;     /* seconds (>= 1); 0 = default */
    size_t backpressure;       /* bytes; 0 = default */
    int proxy_protocol;        /* 1: every connection starts with a PROXY v1/v2 preamble */
} http_app_limits_t;

/* ---- app ------------------------------------------------------------------- */

/* Creates its own loop and a context: TCP when tls is NULL, else TLS with
 * those options (plus a plain context for unix-socket listeners). NULL on
 * failure, errno set; for TLS, us_socket_context_ssl_error() says why. */
http_app_t *http_app_create(const struct us_socket_context_options_t *tls, const http_app_callbacks_t *callbacks,
                            void *user);
/* Closes listeners and connections (pending responses are aborted), frees all. */
void http_app_free(http_app_t *app);
void http_app_set_limits(http_app_t *app, const http_app_limits_t *limits);
struct us_loop_t *http_app_loop(http_app_t *app);
router_t *http_app_router(http_app_t *app);
/* Listen on host:port (host NULL = all interfaces) or on a unix path.
 * Returns the bound port (>= 0; 0 for unix), or -1 with errno set. */
int http_app_listen(http_app_t *app, const char *host, int port, int options);
int http_app_listen_unix(http_app_t *app, const char *path, int options);
/* Stop accepting; existing connections continue. */
void http_app_close_listeners(http_app_t *app);
/* Close every connection now (pending responses abort). */
void http_app_close_connections(http_app_t *app);
/* Send everything written outside the loop's passes since the last flush:
 * one syscall per socket. */
void http_app_flush(http_app_t *app);
/* Number of open HTTP connections. */
unsigned http_app_num_connections(http_app_t *app);
/* Graceful shutdown: stop accepting, close idle connections now, answer every
 * response from now on with Connection: close and close after it. */
void http_app_drain(http_app_t *app);
/* Connections that still owe the client something: a pending response or
 * queued output. Shutdown waits for this to reach 0. */
unsigned http_app_busy(http_app_t *app);

/* ---- connection ---------------------------------------------------------------- */

/* Bind the binding's response object to the pending response (NULL unbinds). */
void http_res_bind(http_conn_t *conn, void *res_user);
/* 1 while request body bytes are still to come for the current request. */
int http_conn_body_pending(const http_conn_t *conn);
/* Peer address (4 or 16 raw bytes, 0 for unix sockets) into out; returns its length. */
int http_conn_ip(const http_conn_t *conn, uint8_t *out);
/* Address and port a PROXY preamble gave (length 0 when there was none). */
int http_conn_proxied_ip(const http_conn_t *conn, uint8_t *out, int *port);
/* Peer address as text into buf (>= 46 bytes); IPv4-mapped IPv6 addresses
 * print as IPv4. Returns the text length (0 for none). */
int http_format_ip(const uint8_t *ip, int ip_len, char *buf, size_t buf_len);
/* Close the connection now (a pending response aborts). */
void http_conn_close(http_conn_t *conn);
/* Cork: writes collect in the loop's cork buffer until uncork sends them in
 * one syscall. Returns 1 if this call corked conn (the caller must uncork). */
int http_conn_cork(http_conn_t *conn);
void http_conn_uncork(http_conn_t *conn);
/* The uSockets socket (for get_native_handle). */
struct us_socket_t *http_conn_socket(http_conn_t *conn);

/* ---- handing a connection to another protocol (WebSocket) ------------------------ */

/* Called once the socket has moved into the new context: s is the socket
 * (its ext starts with the sw_conn_t the HTTP side used, queue and cork
 * intact), leftover the bytes that followed the request (owned by the
 * callee: free() it). The engine's enter bracket is held. If the connection
 * closed before it could move, fn gets s NULL (release arg, nothing else). */
typedef void (*http_switch_fn)(void *arg, struct us_socket_t *s, char *leftover, size_t len);
/* Answer the pending request with "101 Switching Protocols", the handler's
 * staged headers and head_lines (complete "Name: value\r\n" lines), then
 * move the socket into ctx with an ext of ext_size bytes and call fn: now if
 * the engine is not inside this connection's callbacks, else as soon as the
 * request's callback returns. Returns 0, or HTTP_RES_NOT_PENDING (-1). */
int http_conn_switch(http_conn_t *conn, const char *head_lines, size_t len, struct us_socket_context_t *ctx,
                     int ext_size, http_switch_fn fn, void *arg);
/* The binding's enter/leave bracket, for protocols that call it too. enter
 * returns 1 if this call opened the bracket (the caller then leaves it). */
int http_app_enter(http_app_t *app);
void http_app_leave(http_app_t *app);
/* Run fn(arg) in every loop iteration's post phase (after held requests). */
void http_app_set_post_hook(http_app_t *app, void (*fn)(void *arg), void *arg);
struct us_socket_context_t *http_app_context(http_app_t *app);
/* TLS apps only: the plain context of unix-socket listeners (NULL otherwise). */
struct us_socket_context_t *http_app_plain_context(http_app_t *app);
int http_app_is_ssl(http_app_t *app);

/* ---- TLS server names ------------------------------------------------------- */
/* Serve hostname_pattern with the certificate in tls (NULL: the app's own)
 * and, if router is not NULL, answer its connections from that router alone.
 * On a pattern added before, a given certificate or router replaces its own.
 * 0 added, 1 updated, -1 failed (us_socket_context_ssl_error says why). */
int http_app_add_server_name(http_app_t *app, const char *hostname_pattern,
                             const struct us_socket_context_options_t *tls, router_t *router);
void http_app_remove_server_name(http_app_t *app, const char *hostname_pattern);
/* The pattern's router (NULL: not added, or added without one). */
router_t *http_app_server_name_router(http_app_t *app, const char *hostname_pattern);
/* Called during a handshake whose server name matches no pattern; it may add one. */
void http_app_on_server_name(http_app_t *app, void (*fn)(void *user, const char *hostname));
int http_conn_is_ssl(const http_conn_t *conn);
/* The router for this connection's requests: its server name's, or the app's. */
router_t *http_conn_router(http_conn_t *conn);

#endif
