/*
 * HTTP/1.x server engine on a uSockets context: connections, pipelining,
 * timeouts (http_server.c) and the response writer with the per-loop cork
 * buffer (http_response.c). No Python: the binding plugs in through
 * http_app_callbacks_t and owns whatever its void pointers point to.
 */
#ifndef SOCKETIFY_HTTP_SERVER_H
#define SOCKETIFY_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include "libusockets.h"
#include "http_parser.h"
#include "router.h"

#define HTTP_CORK_BUFFER_SIZE (16 * 1024)
#define HTTP_IDLE_TIMEOUT_S 10        /* keep-alive idle and head deadline */
#define HTTP_LINGER_TIMEOUT_S 4       /* after our FIN, wait this long for the peer's */
#define HTTP_BACKPRESSURE_PAUSE (1 << 20) /* stop reading while more is queued */

typedef struct http_app_s http_app_t;
typedef struct http_conn_s http_conn_t;

typedef struct http_app_callbacks_s {
    /* Bracket a batch of request callbacks (the binding takes its interpreter
     * lock once per batch, not per request). The engine calls leave before
     * any flush, so sends never run inside the bracket. */
    void (*enter)(http_app_t *app);
    void (*leave)(http_app_t *app);
    /* A request head is complete: route it. Always called inside enter/leave. Return 1 if a handler took it,
     * 0 if no route answered (the engine then sends the default 404). */
    int (*on_request)(void *user, http_conn_t *conn, http_request_t *req);
    /* The pending response bound to res_user can no longer be sent
     * (client gone, timeout, shutdown). Called once; release res_user. */
    void (*on_abort)(void *user, http_conn_t *conn, void *res_user);
    /* Body bytes of the pending request, for a response that asked for them. */
    void (*on_body)(void *user, http_conn_t *conn, void *res_user,
                    const char *data, size_t len, int is_last);
} http_app_callbacks_t;

/* Response progress bits (http_conn_t.res_flags). */
enum {
    HTTP_RES_PENDING = 1,      /* a handler owns a request that is not answered yet */
    HTTP_RES_HEAD_SENT = 2,    /* status line and headers left the staging area */
    HTTP_RES_CHUNKED = 4,      /* streaming with Transfer-Encoding: chunked */
    HTTP_RES_WANTS_BODY = 8    /* deliver request body to on_body */
};

struct http_conn_s {
    struct us_socket_t *socket;
    http_app_t *app;
    /* received bytes not processed yet: a partial head, or requests held
     * back while an earlier response is pending */
    char *in_buf;
    uint32_t in_len, in_cap;
    /* staged response head: status text and header lines */
    char *head_buf;
    uint32_t head_len, head_cap;
    /* bytes the kernel did not take yet */
    char *out_buf;
    uint32_t out_len, out_cap, out_off;
    uint64_t body_remaining;  /* request body bytes still to read (length mode) */
    uint64_t body_seen;       /* request body bytes read so far */
    uint64_t body_since_timer;/* body bytes since the timeout was last re-armed */
    uint64_t write_offset;    /* response body bytes written */
    http_chunked_t chunked;
    void *res_user;           /* binding's response object while pending */
    http_conn_t *resume_next;
    http_conn_t *prev, *next;  /* app's list of open connections */
    uint16_t status_len;      /* status text at the start of head_buf */
    uint8_t res_flags;
    uint8_t body_state;       /* 0 none, 1 length, 2 chunked */
    uint8_t keep_alive;       /* of the current request */
    uint8_t version_minor;
    uint8_t is_head;
    uint8_t close_after;      /* close once the current response is out */
    uint8_t closing;          /* FIN sent or about to be; ignore input */
    uint8_t paused;           /* reading stopped until the response is done */
    uint8_t peer_ended;       /* client sent FIN */
    uint8_t in_resume_list;
    uint8_t processing;       /* inside the parse loop for this connection */
    uint8_t ip_len;
    uint8_t ip[16];
};

struct http_app_s {
    struct us_loop_t *loop;
    struct us_socket_context_t *context;
    router_t *router;
    http_app_callbacks_t callbacks;
    void *user;
    size_t max_head_size;
    uint64_t max_body_size;   /* 0 = unlimited */
    http_conn_t *resume_head; /* connections with held requests to process */
    http_conn_t *corked;      /* at most one corked connection per loop */
    http_conn_t *conns;       /* open connections */
    uint8_t draining;         /* shutting down: no keep-alive, idle connections closed */
    uint32_t cork_len;
    uint32_t num_listen;
    uint32_t num_connections;
    int entered;              /* inside callbacks.enter/leave */
    int binding_state;        /* for the binding's enter/leave */
    struct us_listen_socket_t *listen_sockets[16];
    long long date_second;
    uint8_t in_iteration;     /* between the loop's pre and post callbacks */
    uint8_t date_fresh;       /* date_line checked during this iteration */
    char date_line[48];       /* "Date: <IMF-fixdate>\r\n" */
    uint32_t date_line_len;
    char cork_buf[HTTP_CORK_BUFFER_SIZE];
    http_request_t request;   /* the request being dispatched */
};

/* ---- app (http_server.c) --------------------------------------------------- */

/* Creates its own loop and TCP context. NULL on failure (errno set). */
http_app_t *http_app_create(const http_app_callbacks_t *callbacks, void *user);
/* Closes listeners and connections (pending responses are aborted), frees all. */
void http_app_free(http_app_t *app);
/* Listen on host:port (host NULL = all interfaces) or on a unix path.
 * Returns the bound port (>= 0; 0 for unix), or -1 with errno set. */
int http_app_listen(http_app_t *app, const char *host, int port, int options);
int http_app_listen_unix(http_app_t *app, const char *path, int options);
/* Stop accepting; existing connections continue. */
void http_app_close_listeners(http_app_t *app);
/* Close every connection now (pending responses abort). */
void http_app_close_connections(http_app_t *app);
/* Number of open HTTP connections. */
unsigned http_app_num_connections(http_app_t *app);
/* Graceful shutdown: stop accepting, close idle connections now, answer every
 * response from now on with Connection: close and close after it. */
void http_app_drain(http_app_t *app);
/* Connections that still owe the client something: a pending response or
 * queued output. Shutdown waits for this to reach 0. */
unsigned http_app_busy(http_app_t *app);

/* ---- connection / response (http_response.c) ------------------------------- */

/* Cork: writes collect in the loop's cork buffer until uncork sends them in one
 * syscall. Returns 1 if this call corked conn (the caller must uncork), 0 if
 * conn was already corked or another connection holds the cork. */
int http_conn_cork(http_conn_t *conn);
void http_conn_uncork(http_conn_t *conn);

/* Bind the binding's response object to the pending response. */
static inline void http_res_bind(http_conn_t *conn, void *res_user) { conn->res_user = res_user; }

/* All of these return 0 on success, -1 if no response is pending on conn. */
int http_res_write_status(http_conn_t *conn, const char *status, size_t len);
int http_res_write_status_code(http_conn_t *conn, int code);  /* -2: code out of range */
int http_res_write_header(http_conn_t *conn, const char *name, size_t name_len,
                          const char *value, size_t value_len);
/* Complete the response with body (Content-Length added; body omitted for HEAD). */
int http_res_end(http_conn_t *conn, const char *body, size_t len, int close_connection);
/* Complete without body; Content-Length: reported_length (use 0 for none). */
int http_res_end_without_body(http_conn_t *conn, uint64_t reported_length, int close_connection);
/* Stream a chunk (Transfer-Encoding: chunked); empty data is a no-op. */
int http_res_write(http_conn_t *conn, const char *data, size_t len);
/* Drop staged status and headers (nothing sent yet). Returns -1 if already sent. */
int http_res_reset(http_conn_t *conn);
/* Close the connection immediately (pending response aborts). */
void http_conn_close(http_conn_t *conn);
/* Ask for the request body via on_body. */
void http_res_want_body(http_conn_t *conn);

/* Standard reason phrase for a status code, or NULL. */
const char *http_status_reason(int code);
/* Peer address (4 or 16 raw bytes) as text into buf (>= 46 bytes); IPv4-mapped
 * IPv6 addresses print as IPv4. Returns the text length (0 for unix sockets). */
int http_format_ip(const uint8_t *ip, int ip_len, char *buf, size_t buf_len);
/* Copy the peer's raw address (up to 16 bytes) to out; returns its length. */
int http_conn_ip(const http_conn_t *conn, uint8_t *out);

/* Internal to the engine (used by http_server.c). */
void http_conn_write(http_conn_t *conn, const char *a, size_t alen, const char *b, size_t blen);
int http_conn_drain(http_conn_t *conn);
void http_conn_finish_close(http_conn_t *conn);
void http_send_error(http_conn_t *conn, int status);
void http_app_schedule_resume(http_conn_t *conn);
void http_conn_response_done(http_conn_t *conn);

#endif
