# C declarations of socketify_cy/native/http_server.h: the app and its connections.
# The structs are opaque; the binding goes through these functions only.

from libc.stdint cimport uint8_t, uint64_t
from socketify_cy.includes.usockets cimport us_loop_t, us_socket_context_options_t
from socketify_cy.includes.http_parser cimport http_request_t
from socketify_cy.includes.router cimport router_t

cdef extern from "http_server.h" nogil:
    ctypedef struct http_app_t:
        pass

    ctypedef struct http_conn_t:
        pass

    ctypedef struct http_app_limits_t:
        size_t max_head_size
        uint64_t max_body_size
        unsigned idle_timeout
        size_t backpressure
        int proxy_protocol

    int HTTP_DEFAULT_IDLE_TIMEOUT_S
    int HTTP_DEFAULT_BACKPRESSURE

# Callbacks: enter/leave run without the GIL (they take it); on_request runs
# inside enter/leave, so with the GIL held; the others take it themselves.
cdef extern from "http_server.h":
    ctypedef struct http_app_callbacks_t:
        void (*enter)(void *user) noexcept nogil
        void (*leave)(void *user) noexcept nogil
        int (*on_request)(void *user, http_conn_t *conn, http_request_t *req) noexcept
        void (*on_abort)(void *user, http_conn_t *conn, void *res_user) noexcept with gil
        void (*on_body)(void *user, http_conn_t *conn, void *res_user,
                        const char *data, size_t len, int is_last) noexcept with gil
        int (*on_writable)(void *user, http_conn_t *conn, void *res_user, uint64_t offset) noexcept with gil
        void (*need_flush)(void *user) noexcept with gil

    void http_app_on_server_name(http_app_t *app, void (*fn)(void *user, const char *hostname) noexcept with gil)

cdef extern from "http_server.h" nogil:
    http_app_t *http_app_create(const us_socket_context_options_t *tls, const http_app_callbacks_t *callbacks,
                                void *user)
    int http_app_is_ssl(http_app_t *app)
    int http_app_add_server_name(http_app_t *app, const char *hostname_pattern,
                                 const us_socket_context_options_t *tls, router_t *router)
    void http_app_remove_server_name(http_app_t *app, const char *hostname_pattern)
    router_t *http_app_server_name_router(http_app_t *app, const char *hostname_pattern)
    router_t *http_conn_router(http_conn_t *conn)
    void http_app_free(http_app_t *app)
    void http_app_flush(http_app_t *app)
    void http_app_set_limits(http_app_t *app, const http_app_limits_t *limits)
    us_loop_t *http_app_loop(http_app_t *app)
    router_t *http_app_router(http_app_t *app)
    int http_app_listen(http_app_t *app, const char *host, int port, int options)
    int http_app_listen_unix(http_app_t *app, const char *path, int options)
    void http_app_close_listeners(http_app_t *app)
    void http_app_close_connections(http_app_t *app)
    unsigned http_app_num_connections(http_app_t *app)
    void http_app_drain(http_app_t *app)
    unsigned http_app_busy(http_app_t *app)

    void http_res_bind(http_conn_t *conn, void *res_user)
    int http_conn_body_pending(const http_conn_t *conn)
    int http_conn_ip(const http_conn_t *conn, uint8_t *out)
    int http_conn_proxied_ip(const http_conn_t *conn, uint8_t *out, int *port)
    int http_format_ip(const uint8_t *ip, int ip_len, char *buf, size_t buf_len)
    void http_conn_close(http_conn_t *conn)
    int http_conn_cork(http_conn_t *conn)
    void http_conn_uncork(http_conn_t *conn)
    void *http_conn_socket(http_conn_t *conn)
