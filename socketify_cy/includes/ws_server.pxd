# C declarations of socketify_cy/native/ws_server.h (WebSocket engine) and the
# two handshake helpers the binding uses to check an upgrade request.

from libc.stdint cimport uint8_t, uint64_t
from socketify_cy.includes.usockets cimport us_socket_t
from socketify_cy.includes.http_server cimport http_app_t, http_conn_t

cdef extern from "ws_server.h" nogil:
    ctypedef struct ws_app_t:
        pass

    ctypedef struct ws_route_t:
        pass

    ctypedef struct ws_conn_t:
        pass

    ctypedef struct ws_settings_t:
        unsigned compression
        uint64_t max_payload_length
        unsigned idle_timeout
        size_t max_backpressure
        int close_on_backpressure_limit
        int reset_idle_timeout_on_send
        int send_pings_automatically
        unsigned max_lifetime

    enum:
        WS_SEND_BACKPRESSURE
        WS_SEND_SUCCESS
        WS_SEND_DROPPED
        WS_SEND_CLOSED

    enum:
        WS_UPGRADE_OK
        WS_UPGRADE_NOT_PENDING
        WS_UPGRADE_BAD_KEY
        WS_UPGRADE_NOMEM

# Every callback runs inside the engine's enter/leave bracket: the GIL is held.
cdef extern from "ws_server.h":
    ctypedef struct ws_callbacks_t:
        void (*on_open)(void *user, ws_conn_t *ws, void *conn_user) noexcept
        void (*on_message)(void *user, ws_conn_t *ws, void *conn_user, const char *data, size_t len,
                           int opcode) noexcept
        void (*on_ping)(void *user, ws_conn_t *ws, void *conn_user, const char *data, size_t len) noexcept
        void (*on_pong)(void *user, ws_conn_t *ws, void *conn_user, const char *data, size_t len) noexcept
        void (*on_drain)(void *user, ws_conn_t *ws, void *conn_user) noexcept
        void (*on_dropped)(void *user, ws_conn_t *ws, void *conn_user, const char *data, size_t len,
                           int opcode) noexcept
        void (*on_subscription)(void *user, ws_conn_t *ws, void *conn_user, const char *topic, size_t len,
                                long new_count, long old_count) noexcept
        void (*on_close)(void *user, ws_conn_t *ws, void *conn_user, int code, const char *reason,
                         size_t len) noexcept

    ws_app_t *ws_app_create(http_app_t *http, const ws_callbacks_t *callbacks, void *user)
    void ws_app_free(ws_app_t *app)
    ws_route_t *ws_route_add(ws_app_t *app, const ws_settings_t *settings)
    int ws_settings_valid(const ws_settings_t *settings, const char **why)
    int ws_upgrade(ws_route_t *route, http_conn_t *conn, const char *key, size_t key_len, const char *protocol,
                   size_t protocol_len, const char *extensions, size_t extensions_len, void *conn_user)
    int ws_send(ws_conn_t *ws, const char *data, size_t len, int opcode, int compress, int fin)
    void ws_end(ws_conn_t *ws, int code, const char *reason, size_t len)
    void ws_close(ws_conn_t *ws)
    int ws_is_open(const ws_conn_t *ws)
    int ws_cork(ws_conn_t *ws)
    void ws_uncork(ws_conn_t *ws)
    size_t ws_buffered(const ws_conn_t *ws)
    int ws_ip(const ws_conn_t *ws, uint8_t *out)
    us_socket_t *ws_socket(ws_conn_t *ws)
    const char *ws_extensions(const ws_conn_t *ws)
    int ws_subscribe(ws_conn_t *ws, const char *topic, size_t len)
    int ws_unsubscribe(ws_conn_t *ws, const char *topic, size_t len)
    int ws_is_subscribed(ws_conn_t *ws, const char *topic, size_t len)
    size_t ws_topic_count(ws_conn_t *ws)
    const char *ws_topic(ws_conn_t *ws, size_t i, size_t *len)
    long ws_publish(ws_app_t *app, ws_conn_t *sender, const char *topic, size_t topic_len, const char *data,
                    size_t len, int opcode, int compress)
    size_t ws_num_subscribers(ws_app_t *app, const char *topic, size_t len)
    unsigned ws_app_num_connections(ws_app_t *app)
    void ws_app_going_away(ws_app_t *app)
    void ws_app_close_connections(ws_app_t *app)

cdef extern from "ws_handshake.h" nogil:
    int ws_key_valid(const char *key, size_t len)
    int ws_list_has_token(const char *value, size_t len, const char *token)
