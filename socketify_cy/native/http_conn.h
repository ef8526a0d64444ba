/*
 * Internal to the HTTP engine (http_server.c and http_response.c): the
 * connection and app structs and the few functions the two files share.
 * The binding never includes this header; it sees opaque types through
 * http_server.h and http_response.h.
 */
#ifndef SOCKETIFY_HTTP_CONN_H
#define SOCKETIFY_HTTP_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "http_parser.h"
#include "http_server.h"
#include "libusockets.h"
#include "router.h"
#include "socket_writer.h"

#define HTTP_LINGER_TIMEOUT_S 4           /* after our FIN, wait this long for the peer's */
#define HTTP_READ_PAUSE_BYTES (1 << 20)   /* stop reading requests while more is queued */

/* Response progress bits (http_conn_t.res_flags). */
enum {
    HTTP_RES_PENDING = 1 << 0,       /* a handler owns a request that is not answered yet */
    HTTP_RES_HEAD_SENT = 1 << 1,     /* status line and headers left the staging area */
    HTTP_RES_CHUNKED = 1 << 2,       /* streaming with Transfer-Encoding: chunked */
    HTTP_RES_WANTS_BODY = 1 << 3,    /* deliver the request body to on_body */
    HTTP_RES_HAS_LENGTH = 1 << 4,    /* the handler set Content-Length (res_length) */
    HTTP_RES_FORCE_CHUNKED = 1 << 5, /* the handler set Transfer-Encoding: chunked */
    HTTP_RES_USER_CLOSE = 1 << 6,    /* the handler set Connection: close */
    HTTP_RES_USER_DATE = 1 << 7,     /* the handler set Date: ours is not sent */
    HTTP_RES_WANTS_WRITABLE = 1 << 8,/* call on_writable when the queue empties */
    HTTP_RES_IDENTITY = 1 << 9,      /* streaming raw bytes framed by Content-Length */
    HTTP_RES_CLOSE_DELIMITED = 1 << 10, /* streaming to HTTP/1.0: the body ends at close */
    HTTP_RES_EXPECT = 1 << 11,       /* 100-continue owed when the body is first asked for */
    HTTP_RES_USER_PAUSED = 1 << 12   /* res.pause(): no reading, no timeout */
};

/* What is left of the request body (http_conn_t.body_state). */
enum http_body_state { HTTP_BODY_DONE = 0, HTTP_BODY_BY_LENGTH = 1, HTTP_BODY_BY_CHUNKS = 2 };

struct http_conn_s {
    sw_conn_t sw;             /* must be first: the socket writer's part of the ext */
    http_app_t *app;
    /* received bytes not processed yet: a partial head, or requests held
     * back while an earlier response is pending */
    char *in_buf;
    uint32_t in_len, in_cap;
    uint32_t head_checked;    /* in_buf[0, head_checked) holds no complete head */
    uint32_t head_parsed;     /* in_buf length at the last full parse of a partial head */
    /* staged response head: status text, then header lines */
    char *head_buf;
    uint32_t head_len, head_cap;
    uint32_t ctype_off, ctype_len; /* the staged Content-Type line (len 0: none) */
    uint16_t status_len;      /* status text at the start of head_buf */
    uint16_t status_code;     /* 200 until written */
    uint16_t res_flags;
    uint8_t body_state;       /* enum http_body_state */
    uint8_t keep_alive;       /* of the current request */
    uint64_t res_length;      /* Content-Length of the response, with HTTP_RES_HAS_LENGTH */
    uint64_t write_offset;    /* response body bytes accepted */
    uint64_t body_remaining;  /* request body bytes still to read (length mode) */
    uint64_t body_seen;       /* request body bytes read so far */
    uint64_t body_since_timer;/* body bytes since the timeout was last re-armed */
    http_chunked_t chunked;
    void *res_user;           /* binding's response object while pending */
    http_conn_t *resume_next;
    http_conn_t *prev, *next; /* the app's list of open connections */
    uint8_t version_minor;
    uint8_t is_head;
    uint8_t close_after;      /* close once the current response is out */
    uint8_t closing;          /* FIN sent or about to be; ignore input */
    uint8_t paused;           /* reading stopped by the engine */
    uint8_t in_resume_list;
    uint8_t processing;       /* inside the parse loop: in_buf is in use */
    uint8_t proxied;          /* a PROXY preamble was read */
    uint8_t deadline_set;     /* the handler set this request's timeout itself (try_end, pause) */
    uint8_t switching;        /* 101 sent: the socket moves to switch_ctx when the engine lets go */
    uint8_t ip_len, proxied_ip_len;
    uint8_t ip[16];
    uint8_t proxied_ip[16];
    uint16_t proxied_port;
    char *preamble_buf;        /* TLS + PROXY: a preamble split across reads */
    uint32_t preamble_len;
    struct us_socket_context_t *switch_ctx;
    int switch_ext_size;
    http_switch_fn switch_fn;
    void *switch_arg;
};

struct http_app_s {
    struct us_loop_t *loop;
    struct us_socket_context_t *context; /* TCP, or TLS when ssl */
    struct us_socket_context_t *plain_context; /* TLS apps: unix-socket listeners stay plain */
    int ssl;
    router_t *router;
    void (*on_server_name)(void *user, const char *hostname);
    http_app_callbacks_t callbacks;
    void *user;
    size_t max_head_size;
    uint64_t max_body_size;   /* 0 = unlimited */
    uint32_t idle_timeout;    /* s: keep-alive idle, head deadline, send progress */
    size_t backpressure;      /* queued bytes above which writes report backpressure */
    uint8_t proxy_protocol;   /* connections start with a PROXY preamble */
    uint8_t draining;         /* shutting down: no keep-alive, idle connections closed */
    uint8_t entered;          /* inside callbacks.enter/leave */
    uint8_t date_fresh;       /* date_line checked during this iteration */
    http_conn_t *resume_head; /* connections with held requests to process */
    http_conn_t *conns;       /* open connections */
    uint32_t num_listen;
    uint32_t num_connections;
    struct us_listen_socket_t *listen_sockets[16];
    long long date_second;
    char date_line[48];       /* "Date: <IMF-fixdate>\r\n" */
    uint32_t date_line_len;
    http_request_t request;   /* the request being dispatched */
    void (*post_hook)(void *arg);
    void *post_arg;
};

/* http_response.c: a response finished (complete, or the head of a bodiless
 * one): reset its state and let the connection go on. */
void http_conn_response_done(http_conn_t *conn);
/* http_server.c: the connection has held input to process in the post phase. */
void http_app_schedule_resume(http_conn_t *conn);
/* http_response.c: canned answer to a request we refuse; closes after it. */
void http_send_error(http_conn_t *conn, int status);
/* http_response.c: half-close after everything queued is out. */
void http_conn_finish_close(http_conn_t *conn);
/* http_response.c: "Date: ...\r\n" for the current second. */
void http_refresh_date(http_app_t *app);

/* A pending handler has asked for the request body (on_data). */
static inline int http_body_wanted(const http_conn_t *conn) {
    return conn->body_state && (conn->res_flags & HTTP_RES_PENDING) && (conn->res_flags & HTTP_RES_WANTS_BODY);
}

#endif
