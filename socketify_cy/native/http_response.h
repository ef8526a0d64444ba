/*
 * The response of a connection's pending request: status and headers are
 * staged, then the whole head leaves with the first body bytes in one write.
 * Framing is the engine's: a Content-Length, Transfer-Encoding or Connection
 * header from the handler is reconciled with it, never sent twice.
 *
 * Results: 0 success; HTTP_RES_NOT_PENDING when no response is pending (ended,
 * aborted, closed); the other negative values are the caller's mistakes.
 */
#ifndef SOCKETIFY_HTTP_RESPONSE_H
#define SOCKETIFY_HTTP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include "http_server.h"

enum http_res_result {
    HTTP_RES_OK = 0,
    HTTP_RES_BACKPRESSURE = 1,      /* accepted and queued; the queue is over the limit */
    HTTP_RES_NOT_PENDING = -1,
    HTTP_RES_BAD_STATUS = -2,       /* not a final status 200-599 (1xx are not final) */
    HTTP_RES_BAD_LENGTH = -3,       /* body does not match the Content-Length */
    HTTP_RES_BAD_FRAMING = -4,      /* a Content-Length or Transfer-Encoding value we cannot honour */
    HTTP_RES_TOO_LATE = -5          /* the head is on the wire already */
};

/* try_end result bits. */
enum { HTTP_TRY_OK = 1, HTTP_TRY_DONE = 2 };

int http_res_write_status(http_conn_t *conn, const char *status, size_t len);
int http_res_write_status_code(http_conn_t *conn, int code);
int http_res_write_header(http_conn_t *conn, const char *name, size_t name_len,
                          const char *value, size_t value_len);
/* 1 if a Content-Type header is staged. */
int http_res_has_content_type(const http_conn_t *conn);
/* Complete the response with body. */
int http_res_end(http_conn_t *conn, const char *body, size_t len, int close_connection);
/* Complete without body (Content-Length: 0, or the handler's Content-Length for HEAD). */
int http_res_end_without_body(http_conn_t *conn, int close_connection);
/* Stream a piece: chunked, or raw bytes under the handler's Content-Length, or
 * close-delimited for HTTP/1.0. HTTP_RES_BACKPRESSURE once the queue is over the limit. */
int http_res_write(http_conn_t *conn, const char *data, size_t len);
/* Offer data of a response of total_size bytes: only what the socket takes now
 * is accepted (*accepted, also added to the write offset). Returns HTTP_TRY_*
 * bits, or a negative result. */
int http_res_try_end(http_conn_t *conn, const char *data, size_t len, uint64_t total_size,
                     int close_connection, size_t *accepted);
/* "100 Continue" now (the engine also sends it when the body is first asked for). */
int http_res_write_continue(http_conn_t *conn);
/* Call the binding's on_writable when the queue empties (on != 0). */
int http_res_on_writable(http_conn_t *conn, int on);
/* Stop reading and timeouts for this connection / start again. */
int http_res_pause(http_conn_t *conn);
int http_res_resume(http_conn_t *conn);
/* Deliver the request body via on_body. */
void http_res_want_body(http_conn_t *conn);
/* Drop staged status and headers (nothing sent yet). */
int http_res_reset(http_conn_t *conn);
uint64_t http_res_write_offset(const http_conn_t *conn);
void http_res_set_write_offset(http_conn_t *conn, uint64_t offset);
/* Bytes queued for the socket (not counting the cork). */
size_t http_res_buffered(const http_conn_t *conn);

/* Standard reason phrase for a status code, or NULL. */
const char *http_status_reason(int code);

#endif
