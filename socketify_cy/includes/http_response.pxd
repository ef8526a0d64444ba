# C declarations of socketify_cy/native/http_response.h: the pending response of a connection.

from libc.stdint cimport uint64_t
from socketify_cy.includes.http_server cimport http_conn_t

cdef extern from "http_response.h" nogil:
    enum:
        HTTP_RES_OK
        HTTP_RES_BACKPRESSURE
        HTTP_RES_NOT_PENDING
        HTTP_RES_BAD_STATUS
        HTTP_RES_BAD_LENGTH
        HTTP_RES_BAD_FRAMING
        HTTP_RES_TOO_LATE
        HTTP_TRY_OK
        HTTP_TRY_DONE

    int http_res_write_status(http_conn_t *conn, const char *status, size_t len)
    int http_res_write_status_code(http_conn_t *conn, int code)
    int http_res_write_header(http_conn_t *conn, const char *name, size_t name_len,
                              const char *value, size_t value_len)
    int http_res_has_content_type(const http_conn_t *conn)
    int http_res_end(http_conn_t *conn, const char *body, size_t len, int close_connection)
    int http_res_end_without_body(http_conn_t *conn, int close_connection)
    int http_res_write(http_conn_t *conn, const char *data, size_t len)
    int http_res_try_end(http_conn_t *conn, const char *data, size_t len, uint64_t total_size,
                         int close_connection, size_t *accepted)
    int http_res_write_continue(http_conn_t *conn)
    int http_res_on_writable(http_conn_t *conn, int on)
    int http_res_pause(http_conn_t *conn)
    int http_res_resume(http_conn_t *conn)
    void http_res_want_body(http_conn_t *conn)
    int http_res_reset(http_conn_t *conn)
    uint64_t http_res_write_offset(const http_conn_t *conn)
    void http_res_set_write_offset(http_conn_t *conn, uint64_t offset)
    size_t http_res_buffered(const http_conn_t *conn)
    const char *http_status_reason(int code)
