# C declarations of the protocol engine in socketify_cy/native.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from socketify_cy.includes.usockets cimport us_loop_t

cdef extern from "http_parser.h" nogil:
    ctypedef struct http_header_t:
        const char *name
        const char *value
        uint32_t name_len
        uint32_t value_len

    ctypedef struct http_request_t:
        const char *method
        const char *target
        uint32_t method_len
        uint32_t target_len
        uint32_t path_len
        uint8_t version_minor
        uint8_t keep_alive
        uint8_t body_kind
        uint8_t expect_continue
        uint8_t is_head
        uint64_t content_length
        uint32_t num_headers
        http_header_t headers[1]

    const http_header_t *http_find_header(const http_request_t *req, const char *lower_name,
                                          size_t name_len)

cdef extern from "router.h" nogil:
    ctypedef struct router_t:
        pass

    ctypedef struct router_param_t:
        const char *data
        uint32_t len

    ctypedef struct router_match_t:
        router_param_t params[1]
        uint32_t num_params
        const char *const *param_names
        const uint32_t *param_name_lens

    int ROUTER_SKIP_METHOD
    int ROUTER_SKIP_ANY

    int router_add(router_t *r, const char *method, size_t method_len,
                   const char *pattern, size_t pattern_len, void *handler)

# Visitors run Python handlers, so this part is declared with the GIL held.
cdef extern from "router.h":
    ctypedef int (*router_visit_fn)(void *handler, const router_match_t *match, void *user) noexcept

    int router_dispatch(router_t *r, const char *method, size_t method_len,
                        const char *path, size_t path_len, int flags,
                        router_visit_fn visit, void *user)

cdef extern from "http_server.h":
    # Callbacks take the GIL themselves (they are declared "with gil").
    ctypedef struct http_app_t

    ctypedef struct http_app_callbacks_t:
        void (*enter)(http_app_t *app) noexcept nogil
        void (*leave)(http_app_t *app) noexcept nogil
        # Called between enter and leave: the GIL is already held.
        int (*on_request)(void *user, http_conn_t *conn, http_request_t *req) noexcept
        void (*on_abort)(void *user, http_conn_t *conn, void *res_user) noexcept with gil
        void (*on_body)(void *user, http_conn_t *conn, void *res_user,
                        const char *data, size_t len, int is_last) noexcept with gil

cdef extern from "http_server.h" nogil:
    ctypedef struct http_conn_t:
        uint8_t res_flags
        uint8_t body_state
        void *res_user
        uint64_t write_offset

    ctypedef struct http_app_t:
        int binding_state
        us_loop_t *loop
        router_t *router
        uint64_t max_body_size

    http_app_t *http_app_create(const http_app_callbacks_t *callbacks, void *user)
    void http_app_free(http_app_t *app)
    int http_app_listen(http_app_t *app, const char *host, int port, int options)
    int http_app_listen_unix(http_app_t *app, const char *path, int options)
    void http_app_close_listeners(http_app_t *app)
    void http_app_close_connections(http_app_t *app)
    unsigned http_app_num_connections(http_app_t *app)

    int http_conn_cork(http_conn_t *conn)
    void http_conn_uncork(http_conn_t *conn)
    void http_res_bind(http_conn_t *conn, void *res_user)
    int http_res_write_status(http_conn_t *conn, const char *status, size_t len)
    int http_res_write_status_code(http_conn_t *conn, int code)
    int http_res_write_header(http_conn_t *conn, const char *name, size_t name_len,
                              const char *value, size_t value_len)
    int http_res_end(http_conn_t *conn, const char *body, size_t len, int close_connection)
    int http_res_end_without_body(http_conn_t *conn, uint64_t reported_length, int close_connection)
    int http_res_write(http_conn_t *conn, const char *data, size_t len)
    int http_res_reset(http_conn_t *conn)
    void http_conn_close(http_conn_t *conn)
    void http_res_want_body(http_conn_t *conn)
    int http_format_ip(const uint8_t *ip, int ip_len, char *buf, size_t buf_len)
    int http_conn_ip(const http_conn_t *conn, uint8_t *out)
    void http_app_drain(http_app_t *app)
    unsigned http_app_busy(http_app_t *app)
