/*
 * Response writer: staging of status and headers, the per-loop cork buffer,
 * and every byte a response puts on the wire. A response head is always
 * assembled whole and handed to the socket in one write, so status, headers
 * and body never leave in separate syscalls.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "http_server.h"

/* ---- small helpers ------------------------------------------------------------- */

static int grow(char **buf, uint32_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    if (n > 0xFFFFFFFFu) return -1;
    char *p = realloc(*buf, n);
    if (!p) return -1;
    *buf = p;
    *cap = (uint32_t)n;
    return 0;
}

static size_t put_u64(char *dst, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    for (size_t i = 0; i < n; i++) dst[i] = tmp[n - 1 - i];
    return n;
}

static size_t put_hex(char *dst, uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    char tmp[20];
    size_t n = 0;
    do { tmp[n++] = digits[v & 15]; v >>= 4; } while (v);
    for (size_t i = 0; i < n; i++) dst[i] = tmp[n - 1 - i];
    return n;
}

/* The Date line is rebuilt only when the wall-clock second changes: no timer,
 * so an idle server never wakes up for it. */
static void refresh_date(http_app_t *app) {
    /* One clock read per loop iteration is enough; outside an iteration (a
     * handler answering after an await) read it every time. */
    if (app->in_iteration) {
        if (app->date_fresh) return;
        app->date_fresh = 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec == app->date_second) return;
    app->date_second = ts.tv_sec;
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    time_t t = ts.tv_sec;
    gmtime_r(&t, &tm);
    int n = snprintf(app->date_line, sizeof(app->date_line),
                     "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[tm.tm_wday], tm.tm_mday,
                     months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    app->date_line_len = (n > 0 && (size_t)n < sizeof(app->date_line)) ? (uint32_t)n : 0;
}

const char *http_status_reason(int code) {
    switch (code) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return NULL;
    }
}

int http_format_ip(const uint8_t *ip, int ip_len, char *buf, size_t buf_len) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!buf_len) return 0;
    buf[0] = 0;
    const char *ok = NULL;
    if (ip_len == 4)
        ok = inet_ntop(AF_INET, ip, buf, (socklen_t)buf_len);
    else if (ip_len == 16 && memcmp(ip, mapped, 12) == 0)
        /* Dual-stack listeners see IPv4 peers as ::ffff:a.b.c.d; show a.b.c.d. */
        ok = inet_ntop(AF_INET, ip + 12, buf, (socklen_t)buf_len);
    else if (ip_len == 16)
        ok = inet_ntop(AF_INET6, ip, buf, (socklen_t)buf_len);
    return ok ? (int)strlen(buf) : 0;
}

int http_conn_ip(const http_conn_t *conn, uint8_t *out) {
    memcpy(out, conn->ip, conn->ip_len);
    return conn->ip_len;
}

/* ---- the write path ---------------------------------------------------------------- */

static void queue_out(http_conn_t *conn, const char *data, size_t len) {
    if (!len) return;
    if (conn->out_off && conn->out_off == conn->out_len) conn->out_off = conn->out_len = 0;
    if (grow(&conn->out_buf, &conn->out_cap, (size_t)conn->out_len + len) != 0) {
        /* Out of memory: the response cannot be delivered intact; drop the link. */
        conn->closing = 1;
        us_socket_close(0, conn->socket, 0, NULL);
        return;
    }
    memcpy(conn->out_buf + conn->out_len, data, len);
    conn->out_len += (uint32_t)len;
}

/* Send as much queued output as the kernel takes. Returns 1 when empty. */
int http_conn_drain(http_conn_t *conn) {
    while (conn->out_off < conn->out_len) {
        if (us_socket_is_closed(0, conn->socket)) return 0;
        int n = us_socket_write(0, conn->socket, conn->out_buf + conn->out_off,
                                (int)(conn->out_len - conn->out_off), 0);
        if (n <= 0) return 0;
        conn->out_off += (uint32_t)n;
    }
    conn->out_off = conn->out_len = 0;
    /* Compact large idle buffers so a burst does not pin memory forever. */
    if (conn->out_cap > 64 * 1024) {
        free(conn->out_buf);
        conn->out_buf = NULL;
        conn->out_cap = 0;
    }
    return 1;
}

/* Write a then b to the socket, in one syscall where possible; what the kernel
 * does not take is queued and sent when the socket becomes writable. */
static void send_now(http_conn_t *conn, const char *a, size_t alen, const char *b, size_t blen) {
    if (conn->out_len > conn->out_off) {
        /* Earlier bytes are still queued: keep order. */
        queue_out(conn, a, alen);
        queue_out(conn, b, blen);
        http_conn_drain(conn);
        return;
    }
    size_t total = alen + blen;
    size_t sent;
    if (!blen || !alen) {
        const char *p = alen ? a : b;
        int n = us_socket_write(0, conn->socket, p, (int)total, 0);
        sent = n > 0 ? (size_t)n : 0;
    } else {
        int n = us_socket_write2(0, conn->socket, a, (int)alen, b, (int)blen);
        sent = n > 0 ? (size_t)n : 0;
    }
    if (sent >= total) return;
    if (us_socket_is_closed(0, conn->socket)) return;
    if (sent < alen) {
        queue_out(conn, a + sent, alen - sent);
        queue_out(conn, b, blen);
    } else {
        queue_out(conn, b + (sent - alen), blen - (sent - alen));
    }
}

void http_conn_write(http_conn_t *conn, const char *a, size_t alen, const char *b, size_t blen) {
    http_app_t *app = conn->app;
    if (us_socket_is_closed(0, conn->socket) || us_socket_is_shut_down(0, conn->socket)) return;
    if (app->corked == conn) {
        size_t room = HTTP_CORK_BUFFER_SIZE - app->cork_len;
        if (alen + blen <= room) {
            memcpy(app->cork_buf + app->cork_len, a, alen);
            if (blen) memcpy(app->cork_buf + app->cork_len + alen, b, blen);
            app->cork_len += (uint32_t)(alen + blen);
            return;
        }
        /* Does not fit: flush what is corked together with the new bytes. */
        if (alen <= room) {
            memcpy(app->cork_buf + app->cork_len, a, alen);
            app->cork_len += (uint32_t)alen;
            uint32_t n = app->cork_len;
            app->cork_len = 0;
            send_now(conn, app->cork_buf, n, b, blen);
        } else {
            uint32_t n = app->cork_len;
            app->cork_len = 0;
            send_now(conn, app->cork_buf, n, a, alen);
            send_now(conn, b, blen, NULL, 0);
        }
        return;
    }
    if (app->corked == NULL && alen + blen <= HTTP_CORK_BUFFER_SIZE && alen && blen) {
        /* Nobody is corked: join the pieces in the idle cork buffer, one send. */
        memcpy(app->cork_buf, a, alen);
        memcpy(app->cork_buf + alen, b, blen);
        send_now(conn, app->cork_buf, alen + blen, NULL, 0);
        return;
    }
    send_now(conn, a, alen, b, blen);
}

int http_conn_cork(http_conn_t *conn) {
    http_app_t *app = conn->app;
    if (app->corked == conn) return 0;
    if (app->corked != NULL) {
        /* Another connection holds the cork; an empty cork can be taken over. */
        if (app->cork_len) return 0;
    }
    app->corked = conn;
    app->cork_len = 0;
    return 1;
}

void http_conn_uncork(http_conn_t *conn) {
    http_app_t *app = conn->app;
    if (app->corked != conn) return;
    app->corked = NULL;
    uint32_t n = app->cork_len;
    app->cork_len = 0;
    if (n && !us_socket_is_closed(0, conn->socket)) send_now(conn, app->cork_buf, n, NULL, 0);
    if (conn->closing && !(conn->res_flags & HTTP_RES_PENDING)) http_conn_finish_close(conn);
}

/* Half-close once everything queued is out; the socket is closed when the
 * peer answers with FIN or after the linger timeout. */
void http_conn_finish_close(http_conn_t *conn) {
    conn->closing = 1;
    if (us_socket_is_closed(0, conn->socket)) return;
    if (conn->app->corked == conn) return;            /* uncork will come back here */
    if (conn->out_len > conn->out_off) return;        /* on_writable will come back */
    if (!us_socket_is_shut_down(0, conn->socket)) {
        us_socket_shutdown(0, conn->socket);
        us_socket_timeout(0, conn->socket, HTTP_LINGER_TIMEOUT_S);
    }
    if (conn->peer_ended) us_socket_close(0, conn->socket, 0, NULL);
}

/* ---- response head ------------------------------------------------------------------ */

static int pending(http_conn_t *conn) {
    return (conn->res_flags & HTTP_RES_PENDING) && !us_socket_is_closed(0, conn->socket);
}

int http_res_write_status(http_conn_t *conn, const char *status, size_t len) {
    if (!pending(conn) || (conn->res_flags & HTTP_RES_HEAD_SENT)) return -1;
    if (len > 512) len = 512;
    /* The status text lives at the front of head_buf, headers after it. */
    size_t headers = conn->head_len - conn->status_len;
    if (grow(&conn->head_buf, &conn->head_cap, len + headers) != 0) return -1;
    if (headers) memmove(conn->head_buf + len, conn->head_buf + conn->status_len, headers);
    if (len) memcpy(conn->head_buf, status, len);
    conn->status_len = (uint16_t)len;
    conn->head_len = (uint32_t)(len + headers);
    return 0;
}

int http_res_write_status_code(http_conn_t *conn, int code) {
    if (code < 100 || code > 999) return -2;
    char tmp[64];
    const char *reason = http_status_reason(code);
    int n = snprintf(tmp, sizeof(tmp), "%d %s", code, reason ? reason : "");
    if (!reason) n--; /* no trailing space when there is no reason phrase */
    return http_res_write_status(conn, tmp, (size_t)n);
}

int http_res_write_header(http_conn_t *conn, const char *name, size_t name_len,
                          const char *value, size_t value_len) {
    if (!pending(conn)) return -1;
    if (conn->res_flags & HTTP_RES_HEAD_SENT) return -1;
    size_t need = conn->head_len + name_len + value_len + 4;
    if (grow(&conn->head_buf, &conn->head_cap, need) != 0) return -1;
    char *p = conn->head_buf + conn->head_len;
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, value_len);
    p += value_len;
    *p++ = '\r';
    *p++ = '\n';
    conn->head_len = (uint32_t)need;
    return 0;
}

int http_res_reset(http_conn_t *conn) {
    if (!pending(conn) || (conn->res_flags & HTTP_RES_HEAD_SENT)) return -1;
    conn->head_len = 0;
    conn->status_len = 0;
    return 0;
}

/* Framing decided by the caller: kind 0 = Content-Length: length,
 * 1 = Transfer-Encoding: chunked, 2 = body ends when the connection closes
 * (streaming to an HTTP/1.0 client). Builds the whole head into out. */
static size_t build_head(http_conn_t *conn, char *out, int kind, uint64_t length, int close_connection) {
    http_app_t *app = conn->app;
    char *p = out;
    memcpy(p, "HTTP/1.1 ", 9);
    p += 9;
    if (conn->status_len) {
        memcpy(p, conn->head_buf, conn->status_len);
        p += conn->status_len;
    } else {
        memcpy(p, "200 OK", 6);
        p += 6;
    }
    *p++ = '\r';
    *p++ = '\n';
    size_t hl = conn->head_len - conn->status_len;
    if (hl) { /* head_buf is NULL until a header was staged */
        memcpy(p, conn->head_buf + conn->status_len, hl);
        p += hl;
    }
    refresh_date(app);
    memcpy(p, app->date_line, app->date_line_len);
    p += app->date_line_len;
    if (kind == 0) {
        memcpy(p, "Content-Length: ", 16);
        p += 16;
        p += put_u64(p, length);
        *p++ = '\r';
        *p++ = '\n';
    } else if (kind == 1) {
        memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
        p += 28;
    } else {
        close_connection = 1;
    }
    if (close_connection || !conn->keep_alive || conn->close_after) {
        memcpy(p, "Connection: close\r\n", 19);
        p += 19;
        conn->close_after = 1;
    } else if (conn->version_minor == 0) {
        memcpy(p, "Connection: keep-alive\r\n", 24);
        p += 24;
    }
    *p++ = '\r';
    *p++ = '\n';
    conn->res_flags |= HTTP_RES_HEAD_SENT;
    return (size_t)(p - out);
}

static size_t head_bound(http_conn_t *conn) {
    return 9 + (conn->status_len ? conn->status_len : 6) + 2 + (conn->head_len - conn->status_len) +
           sizeof(conn->app->date_line) + 48 + 28 + 26 + 2;
}

/* Assemble the head (on the stack when small) and write it with the body. */
static void write_head_and(http_conn_t *conn, int kind, uint64_t length, int close_connection,
                           const char *body, size_t body_len) {
    char stack[2048];
    size_t bound = head_bound(conn);
    char *head = bound <= sizeof(stack) ? stack : malloc(bound);
    if (!head) {
        http_conn_close(conn);
        return;
    }
    size_t n = build_head(conn, head, kind, length, close_connection);
    http_conn_write(conn, head, n, body, body_len);
    if (head != stack) free(head);
    conn->head_len = 0;
    conn->status_len = 0;
}

/* One piece of a streamed body: a chunk for HTTP/1.1, raw bytes for HTTP/1.0
 * (whose body ends when the connection closes). Caller holds the cork. */
static void write_body_piece(http_conn_t *conn, const char *data, size_t len) {
    if (!len || conn->is_head) return;
    if (conn->version_minor == 0) {
        http_conn_write(conn, data, len, NULL, 0);
    } else {
        char pre[32];
        size_t pn = put_hex(pre, len);
        pre[pn++] = '\r';
        pre[pn++] = '\n';
        http_conn_write(conn, pre, pn, data, len);
        http_conn_write(conn, "\r\n", 2, NULL, 0);
    }
    conn->write_offset += len;
}

int http_res_end(http_conn_t *conn, const char *body, size_t len, int close_connection) {
    if (!pending(conn)) return -1;
    if (conn->res_flags & HTTP_RES_CHUNKED) {
        /* Last piece and the terminating zero chunk leave in one send. */
        int corked = http_conn_cork(conn);
        write_body_piece(conn, body, len);
        if (conn->version_minor == 0)
            conn->close_after = 1;
        else if (!conn->is_head)
            http_conn_write(conn, "0\r\n\r\n", 5, NULL, 0);
        if (close_connection) conn->close_after = 1;
        http_conn_response_done(conn);
        if (corked) http_conn_uncork(conn);
        return 0;
    }
    write_head_and(conn, 0, len, close_connection, conn->is_head ? NULL : body, conn->is_head ? 0 : len);
    conn->write_offset += len;
    http_conn_response_done(conn);
    return 0;
}

int http_res_end_without_body(http_conn_t *conn, uint64_t reported_length, int close_connection) {
    if (!pending(conn)) return -1;
    if (conn->res_flags & HTTP_RES_CHUNKED) return http_res_end(conn, NULL, 0, close_connection);
    write_head_and(conn, 0, reported_length, close_connection, NULL, 0);
    http_conn_response_done(conn);
    return 0;
}

int http_res_write(http_conn_t *conn, const char *data, size_t len) {
    if (!pending(conn)) return -1;
    /* Head (first time) and the piece leave in one send. */
    int corked = http_conn_cork(conn);
    if (!(conn->res_flags & HTTP_RES_HEAD_SENT)) {
        conn->res_flags |= HTTP_RES_CHUNKED;
        write_head_and(conn, conn->version_minor == 0 ? 2 : 1, 0, 0, NULL, 0);
    }
    write_body_piece(conn, data, len);
    if (corked) http_conn_uncork(conn);
    return 0;
}

void http_res_want_body(http_conn_t *conn) {
    if (!pending(conn) || (conn->res_flags & HTTP_RES_WANTS_BODY)) return;
    conn->res_flags |= HTTP_RES_WANTS_BODY;
    /* Body bytes held while nobody asked for them are delivered now, and
     * reading resumes; the body must then keep coming. */
    if (conn->body_state && !conn->closing) us_socket_timeout(0, conn->socket, HTTP_IDLE_TIMEOUT_S);
    if (conn->in_len || conn->paused) http_app_schedule_resume(conn);
}

void http_conn_close(http_conn_t *conn) {
    if (!us_socket_is_closed(0, conn->socket)) us_socket_close(0, conn->socket, 0, NULL);
}

/* Canned answer to a request we refuse to process; the connection closes after it. */
void http_send_error(http_conn_t *conn, int status) {
    char buf[256];
    const char *reason = http_status_reason(status);
    if (!reason) reason = "Error";
    size_t rl = strlen(reason);
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     status, reason, rl, reason);
    if (n > 0) http_conn_write(conn, buf, (size_t)n, NULL, 0);
    conn->close_after = 1;
    http_conn_finish_close(conn);
}
