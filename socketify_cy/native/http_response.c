/*
 * Response writer: status and header staging, framing, and every byte of a
 * response. The head is assembled whole and handed to the socket writer with
 * the first body bytes, so status, headers and body never leave in separate
 * syscalls. Framing headers from the handler (Content-Length,
 * Transfer-Encoding, Connection, Date, Content-Type) are reconciled here with
 * the engine's own, so none is ever sent twice or contradicted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>

#include "http_conn.h"
#include "http_response.h"

/* How the body of a response is delimited. */
enum framing {
    FRAME_LENGTH,   /* Content-Length */
    FRAME_CHUNKED,  /* Transfer-Encoding: chunked */
    FRAME_CLOSE,    /* the body ends when the connection closes (HTTP/1.0 streaming) */
    FRAME_NONE      /* 204 / 304: no body, no framing header */
};

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
void http_refresh_date(http_app_t *app) {
    /* One clock read per loop iteration is enough; outside an iteration (a
     * handler answering after an await) read it every time. */
    if (sw_loop_of(app->loop)->in_iteration) {
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

/* A reason for codes without one of their own: the class name (RFC 9110 §15). */
static const char *class_reason(int code) {
    switch (code / 100) {
    case 2: return "Success";
    case 3: return "Redirection";
    case 4: return "Client Error";
    default: return "Server Error";
    }
}

/* ---- response head ------------------------------------------------------------------ */

static int pending(const http_conn_t *conn) {
    return (conn->res_flags & HTTP_RES_PENDING) && !sw_closed(&conn->sw);
}

static int staging_open(const http_conn_t *conn) {
    if (!pending(conn)) return HTTP_RES_NOT_PENDING;
    return (conn->res_flags & HTTP_RES_HEAD_SENT) ? HTTP_RES_TOO_LATE : HTTP_RES_OK;
}

static int bodiless(const http_conn_t *conn) { return conn->status_code == 204 || conn->status_code == 304; }

/* Status text at the front of head_buf; header lines follow it. */
static int set_status_text(http_conn_t *conn, const char *text, size_t len) {
    size_t headers = conn->head_len - conn->status_len;
    if (grow(&conn->head_buf, &conn->head_cap, len + headers) != 0) return HTTP_RES_NOT_PENDING;
    if (headers) memmove(conn->head_buf + len, conn->head_buf + conn->status_len, headers);
    memcpy(conn->head_buf, text, len);
    if (conn->ctype_len) conn->ctype_off = (uint32_t)(conn->ctype_off + len - conn->status_len);
    conn->status_len = (uint16_t)len;
    conn->head_len = (uint32_t)(len + headers);
    return HTTP_RES_OK;
}

int http_res_write_status_code(http_conn_t *conn, int code) {
    /* 1xx are interim (write_continue, upgrades), never a final status. */
    if (code < 200 || code > 599) return HTTP_RES_BAD_STATUS;
    int r = staging_open(conn);
    if (r) return r;
    const char *reason = http_status_reason(code);
    char tmp[64];
    int n = snprintf(tmp, sizeof(tmp), "%d %s", code, reason ? reason : class_reason(code));
    conn->status_code = (uint16_t)code;
    return set_status_text(conn, tmp, (size_t)n);
}

int http_res_write_status(http_conn_t *conn, const char *status, size_t len) {
    /* "404", "404 Not Found", "299 Weird": three digits, then SP and a reason. */
    if (len < 3 || len > 256) return HTTP_RES_BAD_STATUS;
    for (int i = 0; i < 3; i++)
        if (status[i] < '0' || status[i] > '9') return HTTP_RES_BAD_STATUS;
    int code = (status[0] - '0') * 100 + (status[1] - '0') * 10 + (status[2] - '0');
    if (len == 3 || (len == 4 && status[3] == ' ')) return http_res_write_status_code(conn, code);
    if (status[3] != ' ') return HTTP_RES_BAD_STATUS;
    for (size_t i = 4; i < len; i++) {
        unsigned char c = (unsigned char)status[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return HTTP_RES_BAD_STATUS;
    }
    if (code < 200 || code > 599) return HTTP_RES_BAD_STATUS;
    int r = staging_open(conn);
    if (r) return r;
    conn->status_code = (uint16_t)code;
    return set_status_text(conn, status, len);
}

static int name_is(const char *name, size_t len, const char *lower) {
    size_t n = strlen(lower);
    return len == n && strncasecmp(name, lower, n) == 0;
}

/* The value is a comma-separated list containing token (case-insensitive). */
static int list_has(const char *v, size_t len, const char *token) {
    size_t tl = strlen(token), i = 0;
    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t start = i;
        while (i < len && v[i] != ',') i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        if (end - start == tl && strncasecmp(v + start, token, tl) == 0) return 1;
    }
    return 0;
}

static int parse_length(const char *v, size_t len, uint64_t *out) {
    while (len && (*v == ' ' || *v == '\t')) { v++; len--; }
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
    if (!len || len > 19) return -1;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') return -1;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    *out = n;
    return 0;
}

static int append_header(http_conn_t *conn, const char *name, size_t name_len, const char *value,
                         size_t value_len) {
    size_t need = conn->head_len + name_len + value_len + 4;
    if (grow(&conn->head_buf, &conn->head_cap, need) != 0) return HTTP_RES_NOT_PENDING;
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
    return HTTP_RES_OK;
}

int http_res_write_header(http_conn_t *conn, const char *name, size_t name_len,
                          const char *value, size_t value_len) {
    int r = staging_open(conn);
    if (r) return r;
    if (name_is(name, name_len, "content-length")) {
        /* Honoured as the body length and checked against the body. */
        uint64_t n;
        if (parse_length(value, value_len, &n) != 0) return HTTP_RES_BAD_FRAMING;
        conn->res_length = n;
        conn->res_flags |= HTTP_RES_HAS_LENGTH;
        return HTTP_RES_OK;
    }
    if (name_is(name, name_len, "transfer-encoding")) {
        /* We can frame with chunked; any other coding would need us to apply it. */
        if (!list_has(value, value_len, "chunked") || value_len > 32) return HTTP_RES_BAD_FRAMING;
        size_t i = 0;
        while (i < value_len && (value[i] == ' ' || value[i] == '\t')) i++;
        if (strncasecmp(value + i, "chunked", 7) != 0) return HTTP_RES_BAD_FRAMING;
        conn->res_flags |= HTTP_RES_FORCE_CHUNKED;
        return HTTP_RES_OK;
    }
    if (name_is(name, name_len, "connection")) {
        /* Keep-alive is the engine's to decide; "close" is a request to end it. */
        if (list_has(value, value_len, "close")) conn->res_flags |= HTTP_RES_USER_CLOSE;
        return HTTP_RES_OK;
    }
    if (name_is(name, name_len, "content-type")) {
        /* A later Content-Type replaces the earlier one. */
        if (conn->ctype_len) {
            memmove(conn->head_buf + conn->ctype_off, conn->head_buf + conn->ctype_off + conn->ctype_len,
                    conn->head_len - conn->ctype_off - conn->ctype_len);
            conn->head_len -= conn->ctype_len;
            conn->ctype_len = 0;
        }
        uint32_t at = conn->head_len;
        r = append_header(conn, name, name_len, value, value_len);
        if (r == HTTP_RES_OK) {
            conn->ctype_off = at;
            conn->ctype_len = conn->head_len - at;
        }
        return r;
    }
    if (name_is(name, name_len, "date")) conn->res_flags |= HTTP_RES_USER_DATE;
    return append_header(conn, name, name_len, value, value_len);
}

int http_res_has_content_type(const http_conn_t *conn) { return conn->ctype_len != 0; }

int http_res_reset(http_conn_t *conn) {
    int r = staging_open(conn);
    if (r) return r;
    conn->head_len = 0;
    conn->status_len = 0;
    conn->ctype_len = 0;
    conn->status_code = 200;
    conn->res_length = 0;
    conn->res_flags &= (uint16_t)~(HTTP_RES_HAS_LENGTH | HTTP_RES_FORCE_CHUNKED | HTTP_RES_USER_CLOSE |
                                   HTTP_RES_USER_DATE);
    return HTTP_RES_OK;
}

/* Builds the whole head into out (head_bound bytes). */
static size_t build_head(http_conn_t *conn, char *out, enum framing framing, uint64_t length, int close) {
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
    if (!(conn->res_flags & HTTP_RES_USER_DATE)) {
        http_refresh_date(app);
        memcpy(p, app->date_line, app->date_line_len);
        p += app->date_line_len;
    }
    if (framing == FRAME_LENGTH) {
        memcpy(p, "Content-Length: ", 16);
        p += 16;
        p += put_u64(p, length);
        *p++ = '\r';
        *p++ = '\n';
    } else if (framing == FRAME_CHUNKED) {
        memcpy(p, "Transfer-Encoding: chunked\r\n", 28);
        p += 28;
    } else if (framing == FRAME_CLOSE) {
        close = 1;
    }
    if (close || !conn->keep_alive || conn->close_after || app->draining ||
        (conn->res_flags & HTTP_RES_USER_CLOSE)) {
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

static size_t head_bound(const http_conn_t *conn) {
    return 9 + (conn->status_len ? conn->status_len : 6) + 2 + (conn->head_len - conn->status_len) +
           sizeof(conn->app->date_line) + 48 + 28 + 26 + 2;
}

/* Assemble the head (on the stack when small) and write it with the body. */
static int write_head_and(http_conn_t *conn, enum framing framing, uint64_t length, int close,
                          const char *body, size_t body_len) {
    char stack[2048];
    size_t bound = head_bound(conn);
    char *head = bound <= sizeof(stack) ? stack : malloc(bound);
    if (!head) {
        http_conn_close(conn);
        return SW_CLOSED;
    }
    size_t n = build_head(conn, head, framing, length, close);
    int r = sw_write2(&conn->sw, head, n, body, body_len, conn->app->backpressure);
    if (head != stack) free(head);
    conn->head_len = 0;
    conn->status_len = 0;
    conn->ctype_len = 0;
    return r;
}

/* One piece of a streamed body, framed as the head said. */
static int write_body_piece(http_conn_t *conn, const char *data, size_t len) {
    if (!len || conn->is_head || bodiless(conn)) return sw_closed(&conn->sw) ? SW_CLOSED : SW_OK;
    size_t limit = conn->app->backpressure;
    conn->write_offset += len;
    if (!(conn->res_flags & HTTP_RES_CHUNKED)) return sw_write(&conn->sw, data, len, limit);
    char pre[32];
    size_t pn = put_hex(pre, len);
    pre[pn++] = '\r';
    pre[pn++] = '\n';
    int r = sw_write2(&conn->sw, pre, pn, data, len, limit);
    if (r == SW_CLOSED) return r;
    return sw_write(&conn->sw, "\r\n", 2, limit);
}

/* Choose the framing of a streamed response at its first piece. */
static int start_stream(http_conn_t *conn, int close) {
    enum framing framing;
    if (bodiless(conn)) {
        framing = FRAME_NONE;
    } else if (conn->res_flags & HTTP_RES_HAS_LENGTH) {
        framing = FRAME_LENGTH;
        conn->res_flags |= HTTP_RES_IDENTITY;
    } else if (conn->version_minor == 0) {
        framing = FRAME_CLOSE;
        conn->res_flags |= HTTP_RES_CLOSE_DELIMITED;
    } else {
        framing = FRAME_CHUNKED;
        conn->res_flags |= HTTP_RES_CHUNKED;
    }
    return write_head_and(conn, framing, conn->res_length, close, NULL, 0);
}

static int finish(http_conn_t *conn, int r) {
    if (r == SW_CLOSED || sw_closed(&conn->sw)) return HTTP_RES_NOT_PENDING;
    http_conn_response_done(conn);
    return HTTP_RES_OK;
}

int http_res_end(http_conn_t *conn, const char *body, size_t len, int close) {
    if (!pending(conn)) return HTTP_RES_NOT_PENDING;
    if (bodiless(conn)) len = 0; /* 204 and 304 carry no content (RFC 9110 §15.3.5, §15.4.5) */
    if (conn->res_flags & HTTP_RES_HEAD_SENT) {
        if ((conn->res_flags & HTTP_RES_IDENTITY) && !conn->is_head &&
            conn->write_offset + len != conn->res_length)
            return HTTP_RES_BAD_LENGTH;
        if (close) conn->close_after = 1;
        /* Last piece and the terminating zero chunk leave in one send. */
        int corked = sw_cork(&conn->sw);
        int r = write_body_piece(conn, body, len);
        if (r != SW_CLOSED && (conn->res_flags & HTTP_RES_CHUNKED) && !conn->is_head)
            r = sw_write(&conn->sw, "0\r\n\r\n", 5, conn->app->backpressure);
        if (conn->res_flags & HTTP_RES_CLOSE_DELIMITED) conn->close_after = 1;
        r = finish(conn, r);
        if (corked) http_conn_uncork(conn);
        return r;
    }
    if ((conn->res_flags & HTTP_RES_FORCE_CHUNKED) && conn->version_minor == 1 && !bodiless(conn)) {
        int corked = sw_cork(&conn->sw);
        int r = start_stream(conn, close);
        if (r != SW_CLOSED) r = write_body_piece(conn, body, len);
        if (r != SW_CLOSED && !conn->is_head) r = sw_write(&conn->sw, "0\r\n\r\n", 5, conn->app->backpressure);
        r = finish(conn, r);
        if (corked) http_conn_uncork(conn);
        return r;
    }
    uint64_t length = len;
    if (conn->res_flags & HTTP_RES_HAS_LENGTH) {
        /* HEAD reports the length of what GET would send; otherwise they must agree. */
        if (!conn->is_head && !bodiless(conn) && conn->res_length != len) return HTTP_RES_BAD_LENGTH;
        length = conn->res_length;
    }
    enum framing framing = FRAME_LENGTH;
    if (bodiless(conn)) framing = (conn->status_code == 304 && (conn->res_flags & HTTP_RES_HAS_LENGTH))
                                      ? FRAME_LENGTH : FRAME_NONE;
    int send_body = !conn->is_head && !bodiless(conn);
    int r = write_head_and(conn, framing, length, close, send_body ? body : NULL, send_body ? len : 0);
    conn->write_offset += len;
    return finish(conn, r);
}

int http_res_end_without_body(http_conn_t *conn, int close) {
    if (!pending(conn)) return HTTP_RES_NOT_PENDING;
    if (conn->res_flags & HTTP_RES_HEAD_SENT) return http_res_end(conn, NULL, 0, close);
    if ((conn->res_flags & HTTP_RES_HAS_LENGTH) && conn->res_length && !conn->is_head && !bodiless(conn))
        return HTTP_RES_BAD_LENGTH;
    return http_res_end(conn, NULL, 0, close);
}

int http_res_write(http_conn_t *conn, const char *data, size_t len) {
    if (!pending(conn)) return HTTP_RES_NOT_PENDING;
    if ((conn->res_flags & HTTP_RES_IDENTITY) && conn->write_offset + len > conn->res_length)
        return HTTP_RES_BAD_LENGTH;
    if (!(conn->res_flags & HTTP_RES_HEAD_SENT) && (conn->res_flags & HTTP_RES_HAS_LENGTH) &&
        len > conn->res_length)
        return HTTP_RES_BAD_LENGTH;
    /* Head (first time) and the piece leave in one send. */
    int corked = sw_cork(&conn->sw);
    int r = SW_OK;
    if (!(conn->res_flags & HTTP_RES_HEAD_SENT)) r = start_stream(conn, 0);
    if (r != SW_CLOSED) r = write_body_piece(conn, data, len);
    if (corked) http_conn_uncork(conn);
    if (r == SW_CLOSED || sw_closed(&conn->sw)) return HTTP_RES_NOT_PENDING;
    if (sw_buffered(&conn->sw) > conn->app->backpressure) {
        /* The client is slow: it gets the progress deadline, not forever. */
        return HTTP_RES_BACKPRESSURE;
    }
    return HTTP_RES_OK;
}

int http_res_try_end(http_conn_t *conn, const char *data, size_t len, uint64_t total_size, int close,
                     size_t *accepted) {
    *accepted = 0;
    if (!pending(conn)) return HTTP_RES_NOT_PENDING;
    if (conn->res_flags & (HTTP_RES_CHUNKED | HTTP_RES_CLOSE_DELIMITED)) {
        /* Already streaming without a length: this is the last piece. */
        int r = http_res_end(conn, data, len, close);
        if (r < 0) return r;
        *accepted = len;
        return HTTP_TRY_OK | HTTP_TRY_DONE;
    }
    if (!(conn->res_flags & HTTP_RES_HEAD_SENT)) {
        if (!total_size) total_size = len;
        if ((conn->res_flags & HTTP_RES_HAS_LENGTH) && conn->res_length != total_size) return HTTP_RES_BAD_LENGTH;
        if (len > total_size) return HTTP_RES_BAD_LENGTH;
        conn->res_length = total_size;
        conn->res_flags |= HTTP_RES_HAS_LENGTH;
        if (close) conn->res_flags |= HTTP_RES_USER_CLOSE;
        /* The head is always taken (corked or queued); the body only as far as
         * the socket takes it now. */
        int corked = sw_cork(&conn->sw);
        int r = start_stream(conn, close);
        if (r == SW_CLOSED) {
            if (corked) http_conn_uncork(conn);
            return HTTP_RES_NOT_PENDING;
        }
        size_t n = (conn->is_head || bodiless(conn)) ? len : sw_write_optional(&conn->sw, data, len);
        if (corked) http_conn_uncork(conn);
        *accepted = n;
    } else {
        if (conn->write_offset + len > conn->res_length) return HTTP_RES_BAD_LENGTH;
        *accepted = (conn->is_head || bodiless(conn)) ? len : sw_write_optional(&conn->sw, data, len);
    }
    if (sw_closed(&conn->sw)) return HTTP_RES_NOT_PENDING;
    conn->write_offset += *accepted;
    int bits = *accepted == len ? HTTP_TRY_OK : 0;
    if (conn->write_offset >= conn->res_length) {
        if (close) conn->close_after = 1;
        http_conn_response_done(conn);
        return bits | HTTP_TRY_DONE;
    }
    /* Until the client takes more, the idle timeout runs. */
    sw_timeout(&conn->sw, bits ? 0 : conn->app->idle_timeout);
    conn->deadline_set = 1;
    return bits;
}

int http_res_write_continue(http_conn_t *conn) {
    int r = staging_open(conn);
    if (r) return r;
    conn->res_flags &= (uint16_t)~HTTP_RES_EXPECT;
    if (conn->version_minor == 0) return HTTP_RES_OK; /* HTTP/1.0 has no interim responses */
    r = sw_write(&conn->sw, "HTTP/1.1 100 Continue\r\n\r\n", 25, conn->app->backpressure);
    return r == SW_CLOSED ? HTTP_RES_NOT_PENDING : HTTP_RES_OK;
}

int http_res_on_writable(http_conn_t *conn, int on) {
    if (!pending(conn)) return HTTP_RES_NOT_PENDING;
    if (on) conn->res_flags |= HTTP_RES_WANTS_WRITABLE;
    else conn->res_flags &= (uint16_t)~HTTP_RES_WANTS_WRITABLE;
    return HTTP_RES_OK;
}

void http_res_want_body(http_conn_t *conn) {
    if (!pending(conn) || (conn->res_flags & HTTP_RES_WANTS_BODY)) return;
    conn->res_flags |= HTTP_RES_WANTS_BODY;
    /* The client waits for our go-ahead before it sends the body. */
    if ((conn->res_flags & HTTP_RES_EXPECT) && !(conn->res_flags & HTTP_RES_HEAD_SENT)) http_res_write_continue(conn);
    /* Body bytes held while nobody asked for them are delivered now, and
     * reading resumes; the body must then keep coming. */
    if (conn->body_state && !conn->closing) sw_timeout(&conn->sw, conn->app->idle_timeout);
    if (conn->in_len || conn->paused) http_app_schedule_resume(conn);
}

uint64_t http_res_write_offset(const http_conn_t *conn) { return conn->write_offset; }

void http_res_set_write_offset(http_conn_t *conn, uint64_t offset) { conn->write_offset = offset; }

size_t http_res_buffered(const http_conn_t *conn) { return sw_buffered(&conn->sw); }

/* ---- closing ------------------------------------------------------------------------ */

/* Half-close once everything queued is out; the socket is closed when the
 * peer answers with FIN or after the linger timeout. */
void http_conn_finish_close(http_conn_t *conn) {
    conn->closing = 1;
    if (sw_closed(&conn->sw)) return;
    sw_shutdown(&conn->sw, HTTP_LINGER_TIMEOUT_S);
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
    if (n > 0) sw_write(&conn->sw, buf, (size_t)n, SIZE_MAX);
    conn->close_after = 1;
    http_conn_finish_close(conn);
}
