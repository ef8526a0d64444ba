/*
 * HTTP/1.x request-head parser and chunked body decoder.
 *
 * Parses in place: every view points into the caller's buffer, and header
 * names are lower-cased in that buffer. No allocation, no Python.
 * Every byte of a request head is validated here and nowhere else.
 */
#ifndef SOCKETIFY_HTTP_PARSER_H
#define SOCKETIFY_HTTP_PARSER_H

#include <stddef.h>
#include <stdint.h>

/* At most this many header fields per request; more is 431. */
#define HTTP_MAX_HEADERS 100
/* Default limit of a request head (request line + fields + blank line). */
#define HTTP_DEFAULT_MAX_HEAD_SIZE 8192

typedef struct http_header_s {
    const char *name;   /* lower-cased in place */
    const char *value;  /* leading/trailing SP and HTAB trimmed */
    uint32_t name_len;
    uint32_t value_len;
} http_header_t;

enum http_body_kind {
    HTTP_BODY_NONE = 0,    /* no Content-Length, no Transfer-Encoding: empty body */
    HTTP_BODY_LENGTH = 1,  /* Content-Length: content_length bytes follow */
    HTTP_BODY_CHUNKED = 2  /* Transfer-Encoding: chunked */
};

typedef struct http_request_s {
    const char *method;     /* case preserved, token characters only */
    const char *target;     /* origin-form part of the request target ("full url"):
                             * path and query; for an absolute-form target only its
                             * path+query ("/" when the path is empty); "*" for
                             * OPTIONS *. Always a view into the parsed buffer. */
    const char *authority;  /* absolute-form: the target's host[:port]; otherwise
                             * the Host field value; NULL when neither exists */
    uint32_t method_len;
    uint32_t target_len;
    uint32_t path_len;      /* bytes of target before the first '?' */
    uint32_t authority_len;
    uint8_t version_minor;  /* 0 for HTTP/1.0, 1 for HTTP/1.1 (and HTTP/1.2-1.9) */
    uint8_t keep_alive;     /* per version and the Connection header */
    uint8_t body_kind;      /* enum http_body_kind */
    uint8_t expect_continue;/* "Expect: 100-continue" present */
    uint8_t is_head;        /* method is exactly "HEAD" */
    uint8_t absolute_form;  /* the request target was absolute-form */
    uint64_t content_length;/* valid when body_kind == HTTP_BODY_LENGTH */
    uint32_t num_headers;
    http_header_t headers[HTTP_MAX_HEADERS];
} http_request_t;

/* Results of http_parse_head. Errors are negative and name the status to send. */
enum http_parse_result {
    HTTP_PARSE_DONE = 1,             /* a complete head was parsed; *consumed set */
    HTTP_PARSE_INCOMPLETE = 0,       /* need more bytes (and under the size limit) */
    HTTP_PARSE_ERROR_BAD_REQUEST = -400,
    HTTP_PARSE_ERROR_URI_TOO_LONG = -414,   /* request line does not end within max_head_size */
    HTTP_PARSE_ERROR_HEAD_TOO_LARGE = -431, /* head over max_head_size or too many fields */
    HTTP_PARSE_ERROR_BAD_VERSION = -505,    /* well-formed line, HTTP major version not 1 */
    HTTP_PARSE_ERROR_NOT_IMPLEMENTED = -501 /* Transfer-Encoding other than chunked, CONNECT
                                             * (authority-form), a method longer than the limit */
};

/*
 * Parse one request head from data[0..len). data must be writable (names are
 * lower-cased in place). On HTTP_PARSE_DONE, *consumed is the head length
 * including the terminating blank line and req describes it; views point into
 * data. A head that is still incomplete but already longer than max_head_size
 * gives HTTP_PARSE_ERROR_HEAD_TOO_LARGE; so does a complete one over the limit.
 */
int http_parse_head(char *data, size_t len, size_t max_head_size, http_request_t *req, size_t *consumed);

/* First header with this lower-case name, or NULL. */
const http_header_t *http_find_header(const http_request_t *req, const char *lower_name, size_t name_len);

/* ---- chunked transfer coding ------------------------------------------------ */

typedef struct http_chunked_s {
    uint64_t remaining;  /* data bytes left in the current chunk */
    uint32_t state;      /* decoder state, 0 = start of a chunk-size line */
    uint32_t aux;        /* digits seen / trailer bookkeeping */
    uint32_t name_pos;   /* bytes of the current trailer field name seen */
    uint32_t name_match; /* forbidden trailer names still matching that prefix */
} http_chunked_t;

enum http_chunked_result {
    HTTP_CHUNKED_DATA = 1,      /* *out, *out_len: a piece of body data */
    HTTP_CHUNKED_NEED_MORE = 0, /* all input consumed, no data produced */
    HTTP_CHUNKED_DONE = 2,      /* last chunk and trailer section consumed */
    HTTP_CHUNKED_ERROR = -1     /* malformed, or a forbidden trailer field: answer 400 and close */
};

static inline void http_chunked_init(http_chunked_t *c)
{
    c->remaining = 0;
    c->state = 0;
    c->aux = 0;
    c->name_pos = 0;
    c->name_match = 0;
}

/*
 * Decode from data[0..len). Returns after producing one data piece, after the
 * end of the body, when the input is exhausted, or on error. *consumed is
 * always set to the bytes used from data. Call again with the rest.
 */
int http_chunked_decode(http_chunked_t *c, const char *data, size_t len, size_t *consumed,
                        const char **out, size_t *out_len);

#endif
