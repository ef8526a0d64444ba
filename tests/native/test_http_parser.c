/* sources: socketify_cy/native/http_parser.c */
/*
 * Unit tests for the HTTP/1.x head parser and the chunked decoder.
 * Every input is copied into a heap buffer of exactly its length so that
 * AddressSanitizer catches any read past the end.
 */
#include "http_parser.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- helpers -------------------------------------------------------------- */

static char *g_buf; /* the buffer the last parse() looked at (views point here) */

static char *dup_exact(const char *s, size_t len)
{
    char *b = malloc(len ? len : 1);
    if (!b) {
        perror("malloc");
        exit(2);
    }
    memcpy(b, s, len);
    return b;
}

static int parse_n(const char *s, size_t len, size_t max, http_request_t *req, size_t *consumed)
{
    free(g_buf);
    g_buf = dup_exact(s, len);
    return http_parse_head(g_buf, len, max, req, consumed);
}

static int parse(const char *s, http_request_t *req, size_t *consumed)
{
    return parse_n(s, strlen(s), HTTP_DEFAULT_MAX_HEAD_SIZE, req, consumed);
}

static int view_eq(const char *p, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(p, lit, n) == 0;
}

static int header_is(const http_request_t *req, const char *name, const char *value)
{
    const http_header_t *h = http_find_header(req, name, strlen(name));
    return h && view_eq(h->value, h->value_len, value);
}

static http_request_t R; /* large; keep it off the stack */

/* One table row = one test: the head must give exactly `expect`. */
static void expect_status(const char *name, const char *head, int expect)
{
    size_t consumed = 12345;
    int r;
    begin(name);
    r = parse(head, &R, &consumed);
    if (r != expect)
        fprintf(stderr, "[%s] got %d, expected %d\n", name, r, expect);
    CHECK(r == expect);
    if (r != HTTP_PARSE_DONE)
        CHECK(consumed == 0);
    finish();
}

/* ---- head: accepted requests -------------------------------------------- */

static void t_simple_get(void)
{
    const char *s = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
    size_t consumed = 0;
    CHECK(parse(s, &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(consumed == strlen(s));
    CHECK(view_eq(R.method, R.method_len, "GET"));
    CHECK(view_eq(R.target, R.target_len, "/index.html"));
    CHECK(R.path_len == R.target_len);
    CHECK(R.version_minor == 1);
    CHECK(R.keep_alive == 1);
    CHECK(R.body_kind == HTTP_BODY_NONE);
    CHECK(R.content_length == 0);
    CHECK(R.expect_continue == 0);
    CHECK(R.is_head == 0);
    CHECK(R.num_headers == 2);
    CHECK(header_is(&R, "host", "example.com"));
    CHECK(header_is(&R, "accept", "*/*"));
    CHECK(R.method >= g_buf && R.target + R.target_len <= g_buf + consumed);
}

static void t_lowercase_names(void)
{
    const char *s = "GET / HTTP/1.1\r\nHOST: a\r\nX-Custom-HEADER: Value\r\nuser-agent: UA\r\n\r\n";
    size_t consumed;
    CHECK(parse(s, &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.headers[0].name, R.headers[0].name_len, "host"));
    CHECK(view_eq(R.headers[1].name, R.headers[1].name_len, "x-custom-header"));
    CHECK(header_is(&R, "x-custom-header", "Value")); /* values keep their case */
    CHECK(header_is(&R, "user-agent", "UA"));
    CHECK(http_find_header(&R, "X-Custom-HEADER", 15) == NULL); /* exact compare */
    CHECK(http_find_header(&R, "missing", 7) == NULL);
    CHECK(memcmp(g_buf + 16, "host", 4) == 0); /* lowered in the buffer itself */
}

static void t_value_trimming(void)
{
    const char *s = "GET / HTTP/1.1\r\nHost:a\r\nX-A: \t  hello  world \t \r\nX-E:   \r\nX-F:\r\n"
                    "X-G:\tin\tside\t\r\n\r\n";
    size_t consumed;
    CHECK(parse(s, &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(header_is(&R, "host", "a"));
    CHECK(header_is(&R, "x-a", "hello  world"));
    CHECK(header_is(&R, "x-e", ""));
    CHECK(header_is(&R, "x-f", ""));
    CHECK(header_is(&R, "x-g", "in\tside"));
}

static void t_utf8_value(void)
{
    /* bytes >= 0x80 at both edges of the value must not be trimmed */
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX-U: \xc3\xa9t\xc3\xa9 \r\nX-V: \xff\r\n\r\n";
    size_t consumed;
    CHECK(parse(s, &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(header_is(&R, "x-u", "\xc3\xa9t\xc3\xa9"));
    CHECK(header_is(&R, "x-v", "\xff"));
}

static void t_query_split(void)
{
    size_t consumed;
    CHECK(parse("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "/a/b?x=1&y=2"));
    CHECK(R.path_len == 4);
    CHECK(parse("GET /? HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.path_len == 1 && R.target_len == 2);
    CHECK(parse("GET /a?b?c HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.path_len == 2 && R.target_len == 6);
    CHECK(parse("GET /%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.target_len == 7 && R.path_len == 7);
    /* visible bytes RFC 3986 wants encoded are let through (see the decisions) */
    CHECK(parse("GET /a|b{c}\"d\\e^`<> HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "/a|b{c}\"d\\e^`<>"));
    CHECK(parse("GET /%zz?%1 HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.path_len == 4 && R.absolute_form == 0);
}

static void t_http10_keep_alive(void)
{
    size_t consumed;
    CHECK(parse("GET / HTTP/1.0\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.version_minor == 0 && R.keep_alive == 0 && R.num_headers == 0);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 1);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: Upgrade, Keep-Alive\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 1);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 0);
    CHECK(parse("GET / HTTP/1.0\r\nConnection: keep-alived\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 0);
    /* Host is optional in 1.0, and may be empty */
    CHECK(parse("GET / HTTP/1.0\r\nHost:\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.version_minor == 0);
}

static void t_connection_close(void)
{
    size_t consumed;
    CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 0);
    CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive ,\tCLOSE \r\n\r\n", &R, &consumed) ==
          HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 0);
    CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nConnection: close\r\n\r\n", &R,
                &consumed) == HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 0);
    /* a token merely containing "close", or of the same length, is not close */
    CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 1);
    CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: abcde\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.keep_alive == 1);
}

static void t_expect_and_head(void)
{
    size_t consumed;
    CHECK(parse("POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n", &R,
                &consumed) == HTTP_PARSE_DONE);
    CHECK(R.expect_continue == 1);
    CHECK(R.body_kind == HTTP_BODY_LENGTH && R.content_length == 3);
    CHECK(parse("POST /u HTTP/1.1\r\nHost: h\r\nExpect: 100-continuex\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.expect_continue == 0);
    CHECK(parse("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.is_head == 1 && R.expect_continue == 0);
    CHECK(parse("head / HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.is_head == 0 && view_eq(R.method, R.method_len, "head"));
    CHECK(parse("M-SEARCH~! / HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.method, R.method_len, "M-SEARCH~!"));
}

static void t_content_length_ok(void)
{
    size_t consumed;
    CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.body_kind == HTTP_BODY_LENGTH && R.content_length == 0);
    CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 999999999999999999\r\n\r\n", &R, &consumed) ==
          HTTP_PARSE_DONE);
    CHECK(R.content_length == 999999999999999999ULL);
    /* repeated, byte-identical: accepted */
    CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 42\r\ncontent-length:42 \r\n\r\n", &R, &consumed) ==
          HTTP_PARSE_DONE);
    CHECK(R.content_length == 42);
    CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.content_length == 7);
}

static void t_chunked_te_ok(void)
{
    size_t consumed;
    CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &R, &consumed) ==
          HTTP_PARSE_DONE);
    CHECK(R.body_kind == HTTP_BODY_CHUNKED);
    CHECK(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n", &R, &consumed) ==
          HTTP_PARSE_DONE);
    CHECK(R.body_kind == HTTP_BODY_CHUNKED);
}

static void t_leading_empty_lines(void)
{
    const char *s = "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t consumed;
    CHECK(parse(s, &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(consumed == strlen(s));
    CHECK(R.method == g_buf + 2);
    /* exactly one empty line is tolerated (RFC 9112 2.2) */
    CHECK(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("\r\n\r", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("\r\n\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) ==
          HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("\r\n", &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    CHECK(parse("\r", &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    CHECK(parse("\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("\rX", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
}

/* ---- head: limits --------------------------------------------------------- */

static char *make_head_of_size(size_t total)
{
    /* "GET /aaa...a HTTP/1.1\r\nHost: h\r\n\r\n" of exactly `total` bytes */
    const char *tail = " HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t fixed = 5 + strlen(tail);
    char *s = malloc(total + 1);
    if (!s || total < fixed)
        exit(2);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', total - fixed);
    memcpy(s + total - strlen(tail), tail, strlen(tail));
    s[total] = 0;
    return s;
}

static void t_head_limit(void)
{
    size_t consumed;
    char *s = make_head_of_size(200);
    /* complete, exactly at the limit: fine */
    CHECK(parse_n(s, 200, 200, &R, &consumed) == HTTP_PARSE_DONE && consumed == 200);
    /* complete, one byte over: 431 */
    CHECK(parse_n(s, 200, 199, &R, &consumed) == HTTP_PARSE_ERROR_HEAD_TOO_LARGE);
    /* incomplete, not over: wait */
    CHECK(parse_n(s, 150, 199, &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    CHECK(parse_n(s, 150, 150, &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    /* incomplete and already over, still in the request line: 414 */
    CHECK(parse_n(s, 151, 150, &R, &consumed) == HTTP_PARSE_ERROR_URI_TOO_LONG);
    /* over the limit in the fields: 431 (the line ends at 189) */
    CHECK(parse_n(s, 200, 190, &R, &consumed) == HTTP_PARSE_ERROR_HEAD_TOO_LARGE);
    CHECK(parse_n(s, 191, 190, &R, &consumed) == HTTP_PARSE_ERROR_HEAD_TOO_LARGE);
    /* junk inside the limit is still 400, not 431 */
    s[10] = '\x01';
    CHECK(parse_n(s, 200, 100, &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    free(s);
    /* a big head under the default limit, then over it */
    s = make_head_of_size(HTTP_DEFAULT_MAX_HEAD_SIZE);
    CHECK(parse_n(s, HTTP_DEFAULT_MAX_HEAD_SIZE, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed) == HTTP_PARSE_DONE);
    free(s);
    s = make_head_of_size(HTTP_DEFAULT_MAX_HEAD_SIZE + 1);
    CHECK(parse_n(s, HTTP_DEFAULT_MAX_HEAD_SIZE + 1, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed) ==
          HTTP_PARSE_ERROR_HEAD_TOO_LARGE);
    CHECK(parse_n(s, HTTP_DEFAULT_MAX_HEAD_SIZE - 10, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed) ==
          HTTP_PARSE_INCOMPLETE);
    free(s);
}

static char *make_many_headers(int count)
{
    char *s = malloc(64 + (size_t)count * 16);
    char *p = s;
    int i;
    if (!s)
        exit(2);
    p += sprintf(p, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (i = 1; i < count; i++)
        p += sprintf(p, "X-%d: v\r\n", i);
    sprintf(p, "\r\n");
    return s;
}

static void t_header_count(void)
{
    size_t consumed;
    char *s = make_many_headers(HTTP_MAX_HEADERS);
    CHECK(parse(s, &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.num_headers == HTTP_MAX_HEADERS);
    CHECK(header_is(&R, "x-99", "v"));
    free(s);
    s = make_many_headers(HTTP_MAX_HEADERS + 1);
    CHECK(parse(s, &R, &consumed) == HTTP_PARSE_ERROR_HEAD_TOO_LARGE);
    /* already decided before the head is complete */
    CHECK(parse_n(s, strlen(s) - 4, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed) == HTTP_PARSE_ERROR_HEAD_TOO_LARGE);
    free(s);
}

/* ---- head: incremental and pipelined ------------------------------------- */

static const char PIPELINED[] =
    "POST /submit?x=1 HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n"
    "Content-Length: 5\r\nX-Trim:  \t v \r\n\r\n"
    "hello"
    "GET /second HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n";

static void t_incremental_every_prefix(void)
{
    size_t total = sizeof(PIPELINED) - 1;
    size_t head_len = (size_t)(strstr(PIPELINED, "\r\n\r\n") - PIPELINED) + 4;
    size_t k, consumed;
    int bad = 0;
    for (k = 0; k <= total; k++) {
        int r = parse_n(PIPELINED, k, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed);
        if (k < head_len) {
            if (r != HTTP_PARSE_INCOMPLETE || consumed != 0)
                bad++;
        } else {
            if (r != HTTP_PARSE_DONE || consumed != head_len || R.content_length != 5 ||
                !header_is(&R, "x-trim", "v"))
                bad++;
        }
    }
    CHECK(bad == 0);
}

static void t_pipelined_two_heads(void)
{
    const char *s = "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: b\r\n\r\n";
    size_t len = strlen(s), c1, c2;
    char *buf = dup_exact(s, len);
    CHECK(http_parse_head(buf, len, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &c1) == HTTP_PARSE_DONE);
    CHECK(c1 == 30);
    CHECK(view_eq(R.target, R.target_len, "/one"));
    CHECK(memcmp(buf + c1, "GET /two", 8) == 0);
    CHECK(http_parse_head(buf + c1, len - c1, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &c2) == HTTP_PARSE_DONE);
    CHECK(c1 + c2 == len);
    CHECK(view_eq(R.target, R.target_len, "/two"));
    CHECK(header_is(&R, "host", "b"));
    free(buf);
}

static void t_early_reject(void)
{
    size_t consumed;
    /* invalid prefixes are refused without waiting for the rest */
    CHECK(parse("GE\x01", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("GET /a\x7f", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("GET / HTTX", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\nX-A: ab\x00", &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    CHECK(parse_n("GET / HTTP/1.1\r\nHost: h\r\nX-A: ab\x00", 33, 8192, &R, &consumed) ==
          HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("GET / HTTP/1.1\r\nX A", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("\x16\x03\x01", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST); /* TLS hello */
    CHECK(parse("PRI * HTTP/2.0\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    /* valid prefixes wait */
    CHECK(parse("GET / HTTP/9", &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    CHECK(parse("GET / HTTP/1.1\r\nHost: h\r\n\r", &R, &consumed) == HTTP_PARSE_INCOMPLETE);
}

/* ---- head: rejected requests (one test per row) --------------------------- */

struct bad_case {
    const char *name;
    const char *head;
    int expect;
};

#define BAD HTTP_PARSE_ERROR_BAD_REQUEST
#define H11 "POST / HTTP/1.1\r\nHost: h\r\n"

static const struct bad_case BAD_CASES[] = {
    /* request smuggling set */
    {"cl+te", H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", BAD},
    {"te+cl", H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", BAD},
    {"te gzip", H11 "Transfer-Encoding: gzip\r\n\r\n", HTTP_PARSE_ERROR_NOT_IMPLEMENTED},
    {"te identity", H11 "Transfer-Encoding: identity\r\n\r\n", HTTP_PARSE_ERROR_NOT_IMPLEMENTED},
    {"te gzip, chunked", H11 "Transfer-Encoding: gzip, chunked\r\n\r\n", HTTP_PARSE_ERROR_NOT_IMPLEMENTED},
    {"te chunked, gzip", H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", BAD},
    {"te chunked twice", H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", BAD},
    {"te empty", H11 "Transfer-Encoding: \r\n\r\n", BAD},
    {"te trailing comma", H11 "Transfer-Encoding: chunked,\r\n\r\n", BAD},
    {"te junk", H11 "Transfer-Encoding: \"chunked\"\r\n\r\n", BAD},
    {"te two fields", H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", BAD},
    {"te on 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", BAD},
    {"cl letters", H11 "Content-Length: abc\r\n\r\n", BAD},
    {"cl minus", H11 "Content-Length: -5\r\n\r\n", BAD},
    {"cl plus", H11 "Content-Length: +5\r\n\r\n", BAD},
    {"cl inner space", H11 "Content-Length: 1 0\r\n\r\n", BAD},
    {"cl hex", H11 "Content-Length: 0x10\r\n\r\n", BAD},
    {"cl empty", H11 "Content-Length:\r\n\r\n", BAD},
    {"cl 19 digits", H11 "Content-Length: 1000000000000000000\r\n\r\n", BAD},
    {"cl differing", H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", BAD},
    {"cl 05 vs 5", H11 "Content-Length: 5\r\nContent-Length: 05\r\n\r\n", BAD},
    {"cl list", H11 "Content-Length: 5, 5\r\n\r\n", BAD},
    /* Host */
    {"host missing", "GET / HTTP/1.1\r\nX: y\r\n\r\n", BAD},
    {"host twice", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", BAD},
    {"host empty", "GET / HTTP/1.1\r\nHost:  \r\n\r\n", BAD},
    /* field names */
    {"name brackets", H11 "X-Invalid[]: a\r\n\r\n", BAD},
    {"name space before colon", H11 "X-A : b\r\n\r\n", BAD},
    {"name inner space", H11 "X A: b\r\n\r\n", BAD},
    {"name empty", H11 ": b\r\n\r\n", BAD},
    {"name utf8", H11 "X-\xc3\xa9: b\r\n\r\n", BAD},
    {"no colon", H11 "X-A\r\n\r\n", BAD},
    {"obs-fold", H11 "X-A: b\r\n c\r\n\r\n", BAD},
    {"obs-fold tab", H11 "X-A: b\r\n\tc\r\n\r\n", BAD},
    /* field values */
    {"value BEL", H11 "X-A: a\ab\r\n\r\n", BAD},
    {"value DEL", H11 "X-A: a\x7f"
                      "b\r\n\r\n",
     BAD},
    {"value bare CR", H11 "X-A: a\rb\r\n\r\n", BAD},
    {"value bare LF", H11 "X-A: a\nX-B: b\r\n\r\n", BAD},
    {"value VT", H11 "X-A: a\vb\r\n\r\n", BAD},
    {"line ends LF", H11 "X-A: a\n\r\n", BAD},
    {"head ends CR junk", H11 "\r\rX", BAD},
    /* request line */
    {"absolute-form other host", "GET http://x/ HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"asterisk-form GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"authority-form", "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_PARSE_ERROR_NOT_IMPLEMENTED},
    {"lowercase http", "GET / http/1.1\r\nHost: h\r\n\r\n", BAD},
    {"double space after method", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"double space after target", "GET /  HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"trailing space", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", BAD},
    {"empty method", " / HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"method tab", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"method non-token", "GE(T / HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"missing version", "GET /\r\nHost: h\r\n\r\n", BAD},
    {"bare LF request line", "GET / HTTP/1.1\nHost: h\r\n\r\n", BAD},
    {"version 1.10", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", BAD},
    {"version HTTP/1", "GET / HTTP/1\r\nHost: h\r\n\r\n", BAD},
    {"target control", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", HTTP_PARSE_ERROR_BAD_VERSION},
    {"HTTP/9.9", "GET / HTTP/9.9\r\nHost: h\r\n\r\n", HTTP_PARSE_ERROR_BAD_VERSION},
    {"HTTP/3.0", "GET / HTTP/3.0\r\nHost: h\r\n\r\n", HTTP_PARSE_ERROR_BAD_VERSION},
    {"HTTP/0.0", "GET / HTTP/0.0\r\n\r\n", HTTP_PARSE_ERROR_BAD_VERSION},
    {"HTTP/1.1x", "GET / HTTP/1.1x\r\nHost: h\r\n\r\n", BAD},
    {"HTTP/01.1", "GET / HTTP/01.1\r\nHost: h\r\n\r\n", BAD},
    {"HTTPS/1.1", "GET / HTTPS/1.1\r\nHost: h\r\n\r\n", BAD},
    {"version tab", "GET / HTTP/1.1\t\r\nHost: h\r\n\r\n", BAD},
    {"HTTP/1.2 needs Host", "GET / HTTP/1.2\r\n\r\n", BAD},
    {"HTTP/1.9 empty Host", "GET / HTTP/1.9\r\nHost:\r\n\r\n", BAD},
    /* targets (see also t_target_bytes, t_absolute_form) */
    {"target fragment", "GET /p#f HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"target fragment only", "GET # HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"target utf8", "GET /p\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"target DEL", "GET /p\x7f HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"target tab", "GET /p\tq HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"target no slash", "GET p HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"target empty", "GET  HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"target quote first", "GET \"/ HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"asterisk extra", "OPTIONS *x HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"asterisk slash", "OPTIONS */ HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"asterisk lower-case method", "options * HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"asterisk HEAD", "HEAD * HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"authority-form GET", "GET h:443 HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"authority-form no port", "CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"authority-form empty port", "CONNECT h: HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"authority-form path", "CONNECT h:443/x HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"authority-form ipv6", "CONNECT [::1]:443 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_PARSE_ERROR_NOT_IMPLEMENTED},
    {"authority-form ipv4", "CONNECT 10.0.0.1:443 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_PARSE_ERROR_NOT_IMPLEMENTED},
    /* request line whitespace */
    {"leading space", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"leading tab", "\tGET / HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"space before CRLF after target", "GET / \r\nHost: h\r\n\r\n", BAD},
    {"request line bare CR", "GET / HTTP/1.1\rHost: h\r\n\r\n", BAD},
    {"request line CR CR LF", "GET / HTTP/1.1\r\r\nHost: h\r\n\r\n", BAD},
    {"method obs-text", "G\xc3\xa9T / HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    {"method DEL", "GE\x7fT / HTTP/1.1\r\nHost: h\r\n\r\n", BAD},
    /* fields, more */
    {"name tab before colon", H11 "X-A\t: b\r\n\r\n", BAD},
    {"name DEL", H11 "X\x7f" "A: b\r\n\r\n", BAD},
    {"name colon only", H11 ":\r\n\r\n", BAD},
    {"first field folded", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", BAD},
    {"value ESC", H11 "X-A: a\x1b" "b\r\n\r\n", BAD},
    {"head ends LF LF", "GET / HTTP/1.1\r\nHost: h\n\n", BAD},
    {"cl utf8 digit", H11 "Content-Length: \xd9\xa5\r\n\r\n", BAD},
    {"cl ows inside", H11 "Content-Length: 5 \t5\r\n\r\n", BAD},
    {"cl 2^64+5", H11 "Content-Length: 18446744073709551621\r\n\r\n", BAD},
    {"te param", H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", BAD},
    {"te leading comma", H11 "Transfer-Encoding: , chunked\r\n\r\n", BAD},
    {"te identity, chunked", H11 "Transfer-Encoding: identity, chunked\r\n\r\n", HTTP_PARSE_ERROR_NOT_IMPLEMENTED},
    {"te cl0", H11 "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", BAD},
    {"te on 1.0 with cl", "POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", BAD},
    {"HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", HTTP_PARSE_ERROR_BAD_VERSION},
};


/* ---- head: strictness added for RFC 9112 --------------------------------- */

/* Every byte value at every position of a target long enough for the
 * eight-byte scan: only 0x21-0x7E but '#' may pass (' ' ends the target,
 * so the rest becomes a bad version). */
static void t_target_bytes(void)
{
    static const char tmpl[] = "GET /abcdefghijklmnopqrs HTTP/1.1\r\nHost: h\r\n\r\n";
    char s[sizeof(tmpl)];
    size_t consumed;
    int b, i, bad = 0;
    for (b = 0; b < 256; b++) {
        for (i = 1; i < 20; i++) {
            int r, ok;
            memcpy(s, tmpl, sizeof(tmpl));
            s[4 + i] = (char)b;
            r = parse_n(s, sizeof(tmpl) - 1, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed);
            ok = b > 0x20 && b < 0x7f && b != '#';
            if (ok ? (r != HTTP_PARSE_DONE || R.target_len != 20) : r != HTTP_PARSE_ERROR_BAD_REQUEST) {
                fprintf(stderr, "[target bytes] byte 0x%02x at %d: got %d\n", b, i, r);
                bad++;
            }
            /* refused as soon as the byte arrives, not when the line ends */
            if (!ok && b != ' ') {
                r = parse_n(s, (size_t)(5 + i), HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed);
                if (r != HTTP_PARSE_ERROR_BAD_REQUEST)
                    bad++;
            }
        }
    }
    CHECK(bad == 0);
}

static char *make_line(const char *method, size_t target_len)
{
    /* "<method> /aaa...a HTTP/1.1\r\nHost: h\r\n\r\n" */
    size_t ml = strlen(method), total = ml + 1 + target_len + 22;
    char *s = malloc(total + 1);
    if (!s)
        exit(2);
    memcpy(s, method, ml);
    s[ml] = ' ';
    s[ml + 1] = '/';
    memset(s + ml + 2, 'a', target_len - 1);
    memcpy(s + ml + 1 + target_len, " HTTP/1.1\r\nHost: h\r\n\r\n", 23);
    return s;
}

static void t_uri_too_long(void)
{
    size_t consumed;
    char *s = make_line("GET", 9000);
    /* the limit falls inside the target, in any amount buffered over it */
    CHECK(parse_n(s, 8193, 8192, &R, &consumed) == HTTP_PARSE_ERROR_URI_TOO_LONG);
    CHECK(parse_n(s, strlen(s), 8192, &R, &consumed) == HTTP_PARSE_ERROR_URI_TOO_LONG);
    CHECK(parse_n(s, 8192, 8192, &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    CHECK(consumed == 0);
    /* a bad byte inside the limit is still 400 */
    s[100] = '\x7f';
    CHECK(parse_n(s, strlen(s), 8192, &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    free(s);
    /* the limit falls inside the version: the line is too long, 414 */
    s = make_line("GET", 100);
    CHECK(parse_n(s, strlen(s), 4 + 100 + 5, &R, &consumed) == HTTP_PARSE_ERROR_URI_TOO_LONG);
    CHECK(parse_n(s, strlen(s), 4 + 100 + 10, &R, &consumed) == HTTP_PARSE_ERROR_URI_TOO_LONG);
    /* line done at 115 bytes, the limit inside the fields: 431 */
    CHECK(parse_n(s, strlen(s), 4 + 100 + 11, &R, &consumed) == HTTP_PARSE_ERROR_HEAD_TOO_LARGE);
    CHECK(parse_n(s, strlen(s), strlen(s), &R, &consumed) == HTTP_PARSE_DONE);
    free(s);
    /* a method still going at the limit: 501 */
    s = malloc(200);
    if (!s)
        exit(2);
    memset(s, 'X', 200);
    CHECK(parse_n(s, 200, 100, &R, &consumed) == HTTP_PARSE_ERROR_NOT_IMPLEMENTED);
    CHECK(parse_n(s, 100, 100, &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    free(s);
    /* an absolute-form target over the limit: 414 too */
    CHECK(parse_n("GET http://h/aaaaaaaaaaaaaaaaaaaaaaaa", 37, 30, &R, &consumed) == HTTP_PARSE_ERROR_URI_TOO_LONG);
    CHECK(parse_n("GET http://h/aaaaaaaaaaaaaaaaaaaaaaaa", 30, 30, &R, &consumed) == HTTP_PARSE_INCOMPLETE);
}

static int host_result(const char *version, const char *host)
{
    char s[512];
    size_t consumed;
    snprintf(s, sizeof(s), "GET / HTTP/%s\r\nHost: %s\r\n\r\n", version, host);
    return parse(s, &R, &consumed);
}

static void t_host_values(void)
{
    static const char *const good[] = {
        "h", "example.com", "EXAMPLE.com", "a_b-c.d~e", "a!$&'()*+;=b", "a%2Db", "%41", "127.0.0.1",
        "999.1.1.1", "h:0", "h:1", "h:80", "h:65535", "h:00080", "[::]", "[::1]", "[::1]:8080",
        "[1:2:3:4:5:6:7:8]", "[1::8]", "[1:2:3:4:5:6:7::]", "[::2:3:4:5:6:7:8]", "[fe80::1:2]",
        "[::ffff:1.2.3.4]", "[1:2:3:4:5:6:1.2.3.4]", "[::1.2.3.4]", "[ABCD:ef01::]", "[v1.a]",
        "[V7f.a:b!$]:1", "xn--bcher-kva.example",
    };
    static const char *const bad[] = {
        "a b", "a\tb", "user@h", "a/b", "a?b", "a#b", "a,b", "a, b", "a\"b", "<h>", "a\\b", "a[b", "a]b",
        "a{b", "a|b", "a^b", "a`b", "\xc3\xa9.com", "a%", "a%2", "a%zz", "a%2g", ":80", ":", "h:", "h:abc",
        "h:-1", "h:+1", "h:65536", "h:123456", "h:1:2", "h::1", "h: 1", "[::1", "::1", "[::1]x", "[::1]:",
        "[::1]:x", "[]", "[1:2:3]", "[1:2:3:4:5:6:7:8:9]", "[1::2::3]", "[:1::2]", "[1::2:]", "[12345::]",
        "[::g]", "[1:2:3:4:5:6:7:1.2.3.4]", "[::1.2.3]", "[::1.2.3.256]", "[::1.2.3.04]", "[::1.2.3.4.5]",
        "[::1.2.3.4:5]", "[1:2:3:4:5:6:7::8]", "[v.a]", "[v1a]", "[v1.]", "[vg.a]", "[v1.a/b]", "[v1.a%20]",
        "[::1%25eth0]", "[::1]]", "[[::1]]",
    };
    size_t i;
    int nbad = 0;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int r1 = host_result("1.1", good[i]), r0 = host_result("1.0", good[i]);
        if (r1 != HTTP_PARSE_DONE || r0 != HTTP_PARSE_DONE) {
            fprintf(stderr, "[host values] good host %s: %d / %d\n", good[i], r1, r0);
            nbad++;
        }
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r1 = host_result("1.1", bad[i]), r0 = host_result("1.0", bad[i]);
        if (r1 != HTTP_PARSE_ERROR_BAD_REQUEST || r0 != HTTP_PARSE_ERROR_BAD_REQUEST) {
            fprintf(stderr, "[host values] bad host %s: %d / %d\n", bad[i], r1, r0);
            nbad++;
        }
    }
    CHECK(nbad == 0);
    /* the authority of an origin-form request is the Host value */
    CHECK(host_result("1.1", "[::1]:8080") == HTTP_PARSE_DONE);
    CHECK(view_eq(R.authority, R.authority_len, "[::1]:8080") && R.absolute_form == 0);
    CHECK(parse("GET / HTTP/1.0\r\n\r\n", &R, &(size_t){0}) == HTTP_PARSE_DONE);
    CHECK(R.authority == NULL && R.authority_len == 0);
}

static void t_absolute_form(void)
{
    size_t consumed;
    const char *s = "GET http://Example.COM:8080/a/b?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n";
    CHECK(parse(s, &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(consumed == strlen(s));
    CHECK(R.absolute_form == 1);
    CHECK(view_eq(R.target, R.target_len, "/a/b?x=1") && R.path_len == 4);
    CHECK(view_eq(R.authority, R.authority_len, "Example.COM:8080"));
    CHECK(R.target == g_buf + 27 && R.authority == g_buf + 11);
    CHECK(view_eq(R.method, R.method_len, "GET") && R.version_minor == 1 && R.keep_alive == 1);

    /* scheme in any case; https; the default port on either side */
    CHECK(parse("GET HtTpS://h/p HTTP/1.1\r\nHost: h:443\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "/p") && view_eq(R.authority, R.authority_len, "h"));
    CHECK(parse("GET https://h:443/p HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(parse("GET http://h:80/p HTTP/1.1\r\nHost: H\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(parse("GET http://h:0080/p HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(parse("GET http://h/p HTTP/1.1\r\nHost: h:443\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("GET https://h/p HTTP/1.1\r\nHost: h:80\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);

    /* empty path: "/", a view of the second slash of "//" */
    CHECK(parse("GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "/") && R.path_len == 1 && R.target == g_buf + 10);
    CHECK(view_eq(R.authority, R.authority_len, "h"));
    CHECK(parse("GET http://h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "/") && view_eq(R.authority, R.authority_len, "h:1"));
    CHECK(parse("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "/"));
    CHECK(parse("GET http://h/? HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "/?") && R.path_len == 1);
    CHECK(parse("GET http://h//x HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "//x"));

    /* IP literals, percent-encoded reg-name compared as bytes */
    CHECK(parse("GET http://[::1]:81/q HTTP/1.1\r\nHost: [::1]:81\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.authority, R.authority_len, "[::1]:81") && view_eq(R.target, R.target_len, "/q"));
    CHECK(parse("GET http://[::A]/q HTTP/1.1\r\nHost: [::a]\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(parse("GET http://[::1]/q HTTP/1.1\r\nHost: [::0:1]\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("GET http://a%41/q HTTP/1.1\r\nHost: a%41\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(parse("GET http://a%41/q HTTP/1.1\r\nHost: aA\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);

    /* HTTP/1.0: Host optional; when there, it must match */
    CHECK(parse("GET http://h/p HTTP/1.0\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(R.absolute_form == 1 && R.version_minor == 0 && view_eq(R.authority, R.authority_len, "h"));
    CHECK(parse("GET http://h/p HTTP/1.0\r\nHost: x\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("GET http://h/p HTTP/1.0\r\nHost:\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);

    /* refused */
    {
        static const char *const bad[] = {
            "GET http://h/p HTTP/1.1\r\n\r\n",                  /* 1.1 without Host */
            "GET http://h/p HTTP/1.1\r\nHost: x\r\n\r\n",       /* another host */
            "GET http://h/p HTTP/1.1\r\nHost: hh\r\n\r\n",
            "GET http://hh/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http://h:81/p HTTP/1.1\r\nHost: h:82\r\n\r\n", /* another port */
            "GET http://h:81/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http://h/p HTTP/1.1\r\nHost: h\r\nHost: h\r\n\r\n",
            "GET http://u@h/p HTTP/1.1\r\nHost: h\r\n\r\n",     /* userinfo */
            "GET http://u:pw@h/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http:///p HTTP/1.1\r\nHost: h\r\n\r\n",        /* empty host */
            "GET http://:80/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http:// HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http://h:/p HTTP/1.1\r\nHost: h\r\n\r\n",      /* empty port */
            "GET http://h:x/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http://h,h/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n",       /* empty path with a query */
            "GET http://h/p#f HTTP/1.1\r\nHost: h\r\n\r\n",     /* fragment */
            "GET http://h#f HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET ftp://h/p HTTP/1.1\r\nHost: h\r\n\r\n",        /* other schemes */
            "GET httpx://h/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET ws://h/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http:/h/p HTTP/1.1\r\nHost: h\r\n\r\n",        /* shape */
            "GET http:h/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http: HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http:/ HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET //h/p HTTP/1.1\r\nHost: h\r\n\r\n#",           /* network-path: origin-form path "//h/p" */
            "GET http://[::1/p HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET http://h/\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
        };
        size_t i;
        int nbad = 0;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            int r = parse(bad[i], &R, &consumed);
            int want = i == 26 ? HTTP_PARSE_DONE : HTTP_PARSE_ERROR_BAD_REQUEST;
            if (r != want) {
                fprintf(stderr, "[absolute-form] case %zu: got %d\n", i, r);
                nbad++;
            }
        }
        CHECK(nbad == 0);
    }
    /* every prefix of an absolute-form head waits, then the same answer */
    {
        const char *t = "GET http://h:1/x?y HTTP/1.1\r\nHost: h:1\r\n\r\n";
        size_t k, n = strlen(t);
        int bad = 0;
        for (k = 0; k < n; k++)
            if (parse_n(t, k, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed) != HTTP_PARSE_INCOMPLETE)
                bad++;
        CHECK(bad == 0);
        CHECK(parse(t, &R, &consumed) == HTTP_PARSE_DONE && consumed == n);
    }
}

static void t_asterisk_form(void)
{
    size_t consumed;
    CHECK(parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "*") && R.path_len == 1 && R.absolute_form == 0);
    CHECK(view_eq(R.authority, R.authority_len, "h"));
    CHECK(parse("OPTIONS * HTTP/1.0\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "*"));
    /* refused as soon as the '*' follows another method */
    CHECK(parse("GET *", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("OPTIONS *", &R, &consumed) == HTTP_PARSE_INCOMPLETE);
    CHECK(parse("OPTIONSX * HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    CHECK(parse("OPTIONS * HTTP/1.1\r\n\r\n", &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
    /* OPTIONS with a path is the usual origin-form */
    CHECK(parse("OPTIONS /x HTTP/1.1\r\nHost: h\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE);
    CHECK(view_eq(R.target, R.target_len, "/x"));
}

static void t_minor_versions(void)
{
    size_t consumed;
    char s[128];
    int m, bad = 0;
    for (m = 2; m <= 9; m++) {
        snprintf(s, sizeof(s), "POST /x HTTP/1.%d\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", m);
        if (parse(s, &R, &consumed) != HTTP_PARSE_DONE || R.version_minor != 1 || R.keep_alive != 1 ||
            R.body_kind != HTTP_BODY_CHUNKED || consumed != strlen(s))
            bad++;
        snprintf(s, sizeof(s), "GET /x HTTP/1.%d\r\nHost: h\r\nConnection: close\r\n\r\n", m);
        if (parse(s, &R, &consumed) != HTTP_PARSE_DONE || R.version_minor != 1 || R.keep_alive != 0)
            bad++;
    }
    CHECK(bad == 0);
    CHECK(parse("GET / HTTP/1.0\r\n\r\n", &R, &consumed) == HTTP_PARSE_DONE && R.version_minor == 0);
    for (m = 0; m <= 9; m++) {
        int major;
        for (major = 0; major <= 9; major++) {
            int r;
            snprintf(s, sizeof(s), "GET / HTTP/%d.%d\r\nHost: h\r\n\r\n", major, m);
            r = parse(s, &R, &consumed);
            if (major == 1 ? r != HTTP_PARSE_DONE : r != HTTP_PARSE_ERROR_BAD_VERSION)
                bad++;
        }
    }
    CHECK(bad == 0);
}

/* a NUL cannot go through the strlen-based table */
static void t_value_nul(void)
{
    static const char s[] = "POST / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n";
    size_t consumed;
    CHECK(parse_n(s, sizeof(s) - 1, HTTP_DEFAULT_MAX_HEAD_SIZE, &R, &consumed) == HTTP_PARSE_ERROR_BAD_REQUEST);
}

/* ---- chunked --------------------------------------------------------------- */

struct dec_result {
    int status;      /* last status: DONE, ERROR or NEED_MORE */
    size_t consumed; /* total bytes used over all pieces */
    char out[4096];
    size_t out_len;
};

/* Feed `in` to a fresh decoder in pieces cut at the given offsets. */
static void decode_pieces(const char *in, size_t len, const size_t *cuts, size_t ncuts, struct dec_result *res)
{
    http_chunked_t c;
    size_t piece_start = 0, i;
    http_chunked_init(&c);
    res->status = HTTP_CHUNKED_NEED_MORE;
    res->consumed = 0;
    res->out_len = 0;
    for (i = 0; i <= ncuts; i++) {
        size_t piece_end = i < ncuts ? cuts[i] : len;
        size_t plen = piece_end - piece_start, off = 0;
        char *buf = dup_exact(in + piece_start, plen);
        for (;;) {
            const char *out;
            size_t out_len, used;
            int r = http_chunked_decode(&c, buf + off, plen - off, &used, &out, &out_len);
            if (used > plen - off) {
                res->status = -99;
                free(buf);
                return;
            }
            off += used;
            res->consumed += used;
            res->status = r;
            if (r == HTTP_CHUNKED_DATA) {
                if (out < buf || out + out_len > buf + plen || res->out_len + out_len > sizeof(res->out)) {
                    res->status = -98;
                    free(buf);
                    return;
                }
                memcpy(res->out + res->out_len, out, out_len);
                res->out_len += out_len;
                continue;
            }
            if (r == HTTP_CHUNKED_NEED_MORE && off != plen)
                res->status = -97;
            break;
        }
        free(buf);
        if (res->status != HTTP_CHUNKED_NEED_MORE)
            return;
        piece_start = piece_end;
    }
}

static void decode_whole(const char *in, size_t len, struct dec_result *res)
{
    decode_pieces(in, len, NULL, 0, res);
}

static int dec_out_is(const struct dec_result *r, const char *lit)
{
    return view_eq(r->out, r->out_len, lit);
}

static const char CHUNKED_BODY[] = "5\r\nhello\r\n6;name=value\r\n world\r\nA\r\n0123456789\r\n"
                                   "1b\r\n, and twenty-seven bytes!!!\r\n0\r\nX-Checksum: abc\r\n\r\n";
static const char CHUNKED_OUT[] = "hello world0123456789, and twenty-seven bytes!!!";

static void t_chunked_simple(void)
{
    static struct dec_result r;
    const char *s = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next";
    decode_whole(s, strlen(s), &r);
    CHECK(r.status == HTTP_CHUNKED_DONE);
    CHECK(dec_out_is(&r, "hello world"));
    CHECK(r.consumed == strlen(s) - 9); /* stops before the next request */
}

static void t_chunked_every_split(void)
{
    static struct dec_result whole, r;
    size_t len = sizeof(CHUNKED_BODY) - 1, k;
    int bad = 0;
    decode_whole(CHUNKED_BODY, len, &whole);
    CHECK(whole.status == HTTP_CHUNKED_DONE && whole.consumed == len);
    CHECK(dec_out_is(&whole, CHUNKED_OUT));
    /* one cut at every offset */
    for (k = 0; k <= len; k++) {
        decode_pieces(CHUNKED_BODY, len, &k, 1, &r);
        if (r.status != HTTP_CHUNKED_DONE || r.consumed != len || !dec_out_is(&r, CHUNKED_OUT))
            bad++;
    }
    CHECK(bad == 0);
}

static void t_chunked_byte_by_byte(void)
{
    static struct dec_result r;
    size_t len = sizeof(CHUNKED_BODY) - 1, k;
    size_t *cuts = malloc(len * sizeof(size_t));
    if (!cuts)
        exit(2);
    for (k = 0; k < len; k++)
        cuts[k] = k + 1;
    decode_pieces(CHUNKED_BODY, len, cuts, len - 1, &r);
    CHECK(r.status == HTTP_CHUNKED_DONE && r.consumed == len);
    CHECK(dec_out_is(&r, CHUNKED_OUT));
    free(cuts);
}

static void t_chunked_extensions(void)
{
    static struct dec_result r;
    const char *s = "5;a=b;c\r\nhello\r\n3 ; q=\"x y;z\"\r\nabc\r\n1;\t\xc3\xa9\r\n!\r\n0;last=1\r\n\r\n";
    decode_whole(s, strlen(s), &r);
    CHECK(r.status == HTTP_CHUNKED_DONE && r.consumed == strlen(s));
    CHECK(dec_out_is(&r, "helloabc!"));
    /* hex digits in either case, leading zeros */
    s = "0000a\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n";
    decode_whole(s, strlen(s), &r);
    CHECK(r.status == HTTP_CHUNKED_DONE && r.out_len == 25);
}

static void t_chunked_trailers(void)
{
    static struct dec_result r;
    const char *s = "3\r\nabc\r\n0\r\nX-Trailer: one\r\nOther:\r\nEmpty-Ok:  two \t\r\n\r\nrest";
    size_t len = strlen(s), k;
    int bad = 0;
    decode_whole(s, len, &r);
    CHECK(r.status == HTTP_CHUNKED_DONE && r.consumed == len - 4);
    CHECK(dec_out_is(&r, "abc"));
    for (k = 0; k <= len; k++) {
        decode_pieces(s, len, &k, 1, &r);
        if (r.status != HTTP_CHUNKED_DONE || r.consumed != len - 4 || !dec_out_is(&r, "abc"))
            bad++;
    }
    CHECK(bad == 0);
}

static void t_chunked_sticky_states(void)
{
    http_chunked_t c;
    const char *out;
    size_t out_len, used;
    http_chunked_init(&c);
    CHECK(http_chunked_decode(&c, "0\r\n\r\nXY", 7, &used, &out, &out_len) == HTTP_CHUNKED_DONE && used == 5);
    CHECK(http_chunked_decode(&c, "XY", 2, &used, &out, &out_len) == HTTP_CHUNKED_DONE && used == 0);
    http_chunked_init(&c);
    CHECK(http_chunked_decode(&c, "Z", 1, &used, &out, &out_len) == HTTP_CHUNKED_ERROR && used == 0);
    CHECK(http_chunked_decode(&c, "0\r\n\r\n", 5, &used, &out, &out_len) == HTTP_CHUNKED_ERROR);
    http_chunked_init(&c);
    CHECK(http_chunked_decode(&c, "", 0, &used, &out, &out_len) == HTTP_CHUNKED_NEED_MORE && used == 0);
    /* a data piece is handed out as soon as it arrives */
    CHECK(http_chunked_decode(&c, "10\r\nab", 6, &used, &out, &out_len) == HTTP_CHUNKED_DATA);
    CHECK(used == 6 && out_len == 2 && memcmp(out, "ab", 2) == 0 && c.remaining == 14);
    /* the largest size accepted: 2^60 - 1 */
    http_chunked_init(&c);
    CHECK(http_chunked_decode(&c, "FFFFFFFFFFFFFFF\r\n", 17, &used, &out, &out_len) == HTTP_CHUNKED_NEED_MORE);
    CHECK(c.remaining == (((uint64_t)1 << 60) - 1));
}

static void expect_chunked_error(const char *name, const char *s)
{
    static struct dec_result r;
    size_t len = strlen(s), k;
    int bad = 0;
    begin(name);
    decode_whole(s, len, &r);
    CHECK(r.status == HTTP_CHUNKED_ERROR);
    /* same verdict however the input is split */
    for (k = 0; k <= len; k++) {
        decode_pieces(s, len, &k, 1, &r);
        if (r.status != HTTP_CHUNKED_ERROR)
            bad++;
    }
    CHECK(bad == 0);
    finish();
}

static const struct {
    const char *name;
    const char *body;
} CHUNKED_ERRORS[] = {
    {"chunked no CRLF after data", "5\r\nhelloX\r\n0\r\n\r\n"},
    {"chunked LF only after data", "5\r\nhello\n0\r\n\r\n"},
    {"chunked CR junk after data", "5\r\nhello\rX0\r\n\r\n"},
    {"chunked bad hex", "g\r\nhello\r\n"},
    {"chunked hex then junk", "5x\r\nhello\r\n"},
    {"chunked empty size", "\r\nhello\r\n"},
    {"chunked 0x prefix", "0x5\r\nhello\r\n"},
    {"chunked negative", "-5\r\nhello\r\n"},
    {"chunked overflow 2^60", "1000000000000000\r\n"},
    {"chunked overflow 2^64", "10000000000000000\r\n"},
    {"chunked bare LF size", "5\nhello\r\n0\r\n\r\n"},
    {"chunked bare LF last", "0\n\r\n"},
    {"chunked space no ext", "5 \r\nhello\r\n"},
    {"chunked control in ext", "5;a\x01\r\nhello\r\n"},
    {"chunked LF in ext", "5;a\nb\r\nhello\r\n"},
    {"chunked trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n"},
    {"chunked trailer bad name", "0\r\nX Y: a\r\n\r\n"},
    {"chunked trailer no colon", "0\r\nX\r\n\r\n"},
    {"chunked trailer control", "0\r\nX: a\x01\r\n\r\n"},
    {"chunked trailer bare LF", "0\r\nX: a\n\r\n"},
    {"chunked final CR junk", "0\r\n\r\r"},
    {"chunked final bare LF", "0\r\n\n"},
    {"chunked trailer sp before colon", "0\r\nX-T : v\r\n\r\n"},
    {"chunked trailer empty name", "0\r\n: v\r\n\r\n"},
    {"chunked trailer forbidden after good", "1\r\na\r\n0\r\nX-Ok: 1\r\nContent-Length: 5\r\n\r\n"},
    {"chunked trailer forbidden upper case", "0\r\nTRANSFER-ENCODING: chunked\r\n\r\n"},
    {"chunked trailer forbidden mixed case", "0\r\nHoSt: evil\r\n\r\n"},
    {"chunked trailer forbidden empty value", "0\r\nCookie:\r\n\r\n"},
};

/* every forbidden trailer name is refused, whatever the split */
static void t_chunked_forbidden_trailers(void)
{
    static const char *const names[] = {
        "Content-Length", "Transfer-Encoding", "Trailer", "TE", "Connection", "Keep-Alive",
        "Proxy-Connection", "Upgrade", "HTTP2-Settings", "Host", "Max-Forwards", "Authorization",
        "Proxy-Authorization", "Cookie", "Set-Cookie", "WWW-Authenticate", "Proxy-Authenticate",
        "Expect", "Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
        "If-Range", "Cache-Control", "Pragma", "Content-Type", "Content-Encoding", "Content-Range",
    };
    static struct dec_result r;
    char body[128];
    size_t i, k;
    int bad = 0;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len = (size_t)snprintf(body, sizeof(body), "2\r\nab\r\n0\r\nX-A: 1\r\n%s: v\r\n\r\n", names[i]);
        for (k = 0; k <= len; k++) {
            decode_pieces(body, len, &k, 1, &r);
            if (r.status != HTTP_CHUNKED_ERROR) {
                fprintf(stderr, "[forbidden trailers] %s accepted (cut %zu)\n", names[i], k);
                bad++;
                break;
            }
        }
    }
    CHECK(bad == 0);
}

/* names that only share a prefix with, or contain, a forbidden one are fine */
static void t_chunked_allowed_trailers(void)
{
    static const char *const names[] = {
        "T", "Te2", "Tes", "Hos", "Hosts", "X-Host", "Content-Lengthy", "Content-Lengt", "Content-MD5",
        "Content-Language", "Range-X", "Cookies", "Set-Cookie2", "Trailers", "Transfer-Encodin", "Date",
        "ETag", "Server-Timing", "Digest", "x",
    };
    static struct dec_result r;
    char body[128];
    size_t i, k;
    int bad = 0;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len = (size_t)snprintf(body, sizeof(body), "2\r\nab\r\n0\r\n%s: v\r\nX-B: 2\r\n\r\n", names[i]);
        for (k = 0; k <= len; k++) {
            decode_pieces(body, len, &k, 1, &r);
            if (r.status != HTTP_CHUNKED_DONE || r.consumed != len || !dec_out_is(&r, "ab")) {
                fprintf(stderr, "[allowed trailers] %s refused (cut %zu)\n", names[i], k);
                bad++;
                break;
            }
        }
    }
    CHECK(bad == 0);
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
    size_t i;

    run("simple GET", t_simple_get);
    run("names lower-cased", t_lowercase_names);
    run("value trimming", t_value_trimming);
    run("UTF-8 value preserved", t_utf8_value);
    run("query/path split", t_query_split);
    run("HTTP/1.0 keep-alive", t_http10_keep_alive);
    run("Connection: close", t_connection_close);
    run("Expect and HEAD", t_expect_and_head);
    run("Content-Length accepted", t_content_length_ok);
    run("chunked TE accepted", t_chunked_te_ok);
    run("leading empty lines", t_leading_empty_lines);
    run("head size limit", t_head_limit);
    run("header count limit", t_header_count);
    run("incremental every prefix", t_incremental_every_prefix);
    run("pipelined heads", t_pipelined_two_heads);
    run("early reject", t_early_reject);
    run("value NUL", t_value_nul);
    run("target bytes", t_target_bytes);
    run("414 / 501 / 431 by position", t_uri_too_long);
    run("Host values", t_host_values);
    run("absolute-form", t_absolute_form);
    run("asterisk-form", t_asterisk_form);
    run("HTTP/1.x minor versions", t_minor_versions);
    for (i = 0; i < sizeof(BAD_CASES) / sizeof(BAD_CASES[0]); i++) {
        expect_status(BAD_CASES[i].name, BAD_CASES[i].head, BAD_CASES[i].expect);
    }

    run("chunked simple", t_chunked_simple);
    run("chunked every split", t_chunked_every_split);
    run("chunked byte by byte", t_chunked_byte_by_byte);
    run("chunked extensions", t_chunked_extensions);
    run("chunked trailers", t_chunked_trailers);
    run("chunked sticky states", t_chunked_sticky_states);
    run("chunked forbidden trailers", t_chunked_forbidden_trailers);
    run("chunked allowed trailers", t_chunked_allowed_trailers);
    for (i = 0; i < sizeof(CHUNKED_ERRORS) / sizeof(CHUNKED_ERRORS[0]); i++)
        expect_chunked_error(CHUNKED_ERRORS[i].name, CHUNKED_ERRORS[i].body);

    free(g_buf);
    return report();
}
