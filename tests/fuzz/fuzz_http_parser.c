/*
 * libFuzzer target for socketify_cy/native/http_parser.c.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isocketify_cy/native \
 *       socketify_cy/native/http_parser.c tests/fuzz/fuzz_http_parser.c -o /tmp/fuzz_http
 * Build without libFuzzer (runs the files named on the command line):
 *   gcc -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE -Isocketify_cy/native \
 *       socketify_cy/native/http_parser.c tests/fuzz/fuzz_http_parser.c -o /tmp/fuzz_http
 *
 * Input layout: byte 0 picks the head size limit, whether the rest is fed
 * straight to the chunked decoder, and a seed for piece sizes; the rest is
 * the stream. Heads are parsed one after another (pipelining); bodies are
 * skipped (Content-Length) or decoded (chunked) both in one call and in
 * pieces whose sizes come from the input, and the two runs must agree.
 * Every head is also parsed the way the server meets it: a buffer that grows
 * by pieces whose sizes come from the input, re-parsed after each piece; the
 * answer must stay INCOMPLETE until it equals the one-shot parse, field for
 * field. The first head is in addition parsed at (nearly) every prefix.
 */
#include "http_parser.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_value_byte(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7F); }

static int in_range(const char *p, size_t n, const char *lo, const char *hi)
{
    return p >= lo && p <= hi && (size_t)(hi - p) >= n;
}

/* reg-name / IP-literal / port bytes a valid Host or authority may hold */
static int is_authority_byte(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("-._~!$&'()*+;=%:[]", c) != NULL;
}

static int ascii_ieq_n(const char *a, const char *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        uint8_t x = (uint8_t)a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z')
            x |= 0x20;
        if (y >= 'A' && y <= 'Z')
            y |= 0x20;
        if (x != y)
            return 0;
    }
    return 1;
}

static int known_head_result(int r)
{
    return r == HTTP_PARSE_DONE || r == HTTP_PARSE_INCOMPLETE || r == HTTP_PARSE_ERROR_BAD_REQUEST ||
           r == HTTP_PARSE_ERROR_URI_TOO_LONG || r == HTTP_PARSE_ERROR_HEAD_TOO_LARGE ||
           r == HTTP_PARSE_ERROR_BAD_VERSION || r == HTTP_PARSE_ERROR_NOT_IMPLEMENTED;
}

/* Everything a DONE result promises about the request and its views. */
static void check_request(const http_request_t *req, const char *head, size_t consumed)
{
    const char *hend = head + consumed;
    uint32_t i;

    FUZZ_CHECK(consumed >= 16); /* shortest: "X / HTTP/1.0\r\n\r\n" */
    FUZZ_CHECK(memcmp(hend - 4, "\r\n\r\n", 4) == 0);
    FUZZ_CHECK(req->version_minor <= 1);
    FUZZ_CHECK(req->keep_alive <= 1 && req->expect_continue <= 1 && req->is_head <= 1);
    FUZZ_CHECK(req->body_kind <= HTTP_BODY_CHUNKED);
    FUZZ_CHECK(req->body_kind == HTTP_BODY_LENGTH || req->content_length == 0);
    FUZZ_CHECK(req->content_length <= UINT64_C(999999999999999999));
    FUZZ_CHECK(req->body_kind != HTTP_BODY_CHUNKED || req->version_minor == 1);

    FUZZ_CHECK(req->method_len > 0 && in_range(req->method, req->method_len, head, hend));
    for (i = 0; i < req->method_len; i++)
        FUZZ_CHECK(is_tchar((uint8_t)req->method[i]));
    FUZZ_CHECK(req->method[req->method_len] == ' ');
    FUZZ_CHECK(req->is_head == (req->method_len == 4 && memcmp(req->method, "HEAD", 4) == 0));

    FUZZ_CHECK(req->target_len > 0 && in_range(req->target, req->target_len, head, hend));
    FUZZ_CHECK(req->absolute_form <= 1);
    if (req->absolute_form) {
        /* METHOD SP http[s]://authority[path] SP: the authority and then the
         * target (or, for an empty path, the '/' just before the authority) */
        const char *line_end = memchr(req->method, '\r', (size_t)(hend - req->method));
        FUZZ_CHECK(line_end != NULL);
        FUZZ_CHECK(req->authority_len > 0 && in_range(req->authority, req->authority_len, head, line_end));
        FUZZ_CHECK(req->authority >= req->method + req->method_len + 8);
        FUZZ_CHECK(ascii_ieq_n(req->method + req->method_len + 1, "http", 4));
        FUZZ_CHECK(memcmp(req->authority - 3, "://", 3) == 0);
        if (req->target == req->authority - 1) {
            FUZZ_CHECK(req->target_len == 1 && req->authority[req->authority_len] == ' ');
        } else {
            FUZZ_CHECK(req->target == req->authority + req->authority_len);
            FUZZ_CHECK(req->target + req->target_len < line_end && req->target[req->target_len] == ' ');
        }
        for (i = 0; i < req->authority_len; i++)
            FUZZ_CHECK(is_authority_byte((uint8_t)req->authority[i]));
    } else {
        FUZZ_CHECK(req->target == req->method + req->method_len + 1);
        FUZZ_CHECK(req->target[req->target_len] == ' ');
    }
    if (req->target[0] == '*') {
        FUZZ_CHECK(req->target_len == 1 && req->path_len == 1 && !req->absolute_form);
        FUZZ_CHECK(req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0);
    } else {
        FUZZ_CHECK(req->target[0] == '/');
    }
    for (i = 0; i < req->target_len; i++) {
        uint8_t c = (uint8_t)req->target[i];
        FUZZ_CHECK(c > 0x20 && c < 0x7F && c != '#');
        if (i < req->path_len)
            FUZZ_CHECK(c != '?');
    }
    FUZZ_CHECK(req->path_len <= req->target_len);
    FUZZ_CHECK(req->path_len == req->target_len || req->target[req->path_len] == '?');

    FUZZ_CHECK(req->num_headers <= HTTP_MAX_HEADERS);
    for (i = 0; i < req->num_headers; i++) {
        const http_header_t *h = &req->headers[i];
        uint32_t j;
        FUZZ_CHECK(h->name_len > 0 && in_range(h->name, h->name_len, head, hend));
        FUZZ_CHECK(in_range(h->value, h->value_len, head, hend));
        FUZZ_CHECK(h->name[h->name_len] == ':');
        for (j = 0; j < h->name_len; j++) {
            uint8_t c = (uint8_t)h->name[j];
            FUZZ_CHECK(is_tchar(c) && !(c >= 'A' && c <= 'Z'));
        }
        for (j = 0; j < h->value_len; j++)
            FUZZ_CHECK(is_value_byte((uint8_t)h->value[j]));
        if (h->value_len) {
            FUZZ_CHECK(h->value[0] != ' ' && h->value[0] != '\t');
            FUZZ_CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
        }
        FUZZ_CHECK(http_find_header(req, h->name, h->name_len) <= h);
    }
    {
        const http_header_t *host = http_find_header(req, "host", 4);
        if (req->version_minor == 1)
            FUZZ_CHECK(host && host->value_len > 0);
        if (host) {
            for (i = 0; i < host->value_len; i++)
                FUZZ_CHECK(is_authority_byte((uint8_t)host->value[i]));
            if (req->absolute_form) {
                /* same host (the port may differ in spelling: "h" vs "h:80") */
                const char *hc = memchr(host->value, ']', host->value_len);
                size_t hl = hc ? (size_t)(hc - host->value) + 1 : host->value_len;
                if (!hc && memchr(host->value, ':', host->value_len))
                    hl = (size_t)((const char *)memchr(host->value, ':', host->value_len) - host->value);
                FUZZ_CHECK(hl <= req->authority_len && ascii_ieq_n(host->value, req->authority, hl));
                FUZZ_CHECK(hl == req->authority_len || req->authority[hl] == ':');
            } else {
                FUZZ_CHECK(req->authority == host->value && req->authority_len == host->value_len);
            }
        } else if (!req->absolute_form) {
            FUZZ_CHECK(req->authority == NULL && req->authority_len == 0);
        }
    }
}

/* The views of two DONE parses of the same bytes at bases a and b agree. */
static void check_same_request(const http_request_t *x, const char *a, const http_request_t *y, const char *b)
{
    uint32_t i;
#define SAME_VIEW(f) FUZZ_CHECK((x->f == NULL) == (y->f == NULL) && (x->f == NULL || x->f - a == y->f - b))
    SAME_VIEW(method);
    SAME_VIEW(target);
    SAME_VIEW(authority);
    FUZZ_CHECK(x->method_len == y->method_len && x->target_len == y->target_len && x->path_len == y->path_len);
    FUZZ_CHECK(x->authority_len == y->authority_len && x->absolute_form == y->absolute_form);
    FUZZ_CHECK(x->version_minor == y->version_minor && x->keep_alive == y->keep_alive);
    FUZZ_CHECK(x->body_kind == y->body_kind && x->content_length == y->content_length);
    FUZZ_CHECK(x->expect_continue == y->expect_continue && x->is_head == y->is_head);
    FUZZ_CHECK(x->num_headers == y->num_headers);
    for (i = 0; i < x->num_headers && i < y->num_headers; i++) {
        SAME_VIEW(headers[i].name);
        SAME_VIEW(headers[i].value);
        FUZZ_CHECK(x->headers[i].name_len == y->headers[i].name_len);
        FUZZ_CHECK(x->headers[i].value_len == y->headers[i].value_len);
    }
#undef SAME_VIEW
}

/* Parse a copy of data[0..len) in a buffer of exactly that size. */
static int parse_copy(const char *data, size_t len, size_t max_head, http_request_t *req, size_t *consumed)
{
    char *b = malloc(len ? len : 1);
    int r;
    if (!b)
        abort();
    memcpy(b, data, len);
    r = http_parse_head(b, len, max_head, req, consumed);
    free(b);
    return r;
}

/* Every prefix must be INCOMPLETE or already give the same answer as the
 * whole input, and never a different error, nor DONE before the end. */
static void check_prefixes(const char *data, size_t len, size_t max_head, int full_result, size_t full_consumed,
                           uint32_t seed)
{
    static http_request_t preq;
    size_t limit = len, k, step = 1, consumed;
    if (full_result == HTTP_PARSE_DONE)
        limit = full_consumed;
    if (limit > max_head + 1)
        limit = max_head + 1;
    if (limit > 256)
        step = 1 + (seed % 61); /* keep the cost bounded on long inputs */
    for (k = 0; k < limit; k += step) {
        int r = parse_copy(data, k, max_head, &preq, &consumed);
        FUZZ_CHECK(r == HTTP_PARSE_INCOMPLETE || r == full_result);
        FUZZ_CHECK(r != HTTP_PARSE_DONE || full_consumed <= k);
    }
}

/*
 * Feed data[0..len) the way a connection receives it: a buffer grows by
 * pieces whose sizes come from `sizes` (cycled; 1 to 64 bytes, or 1 to 4096
 * when the size byte's high bit is set) and the parser sees the whole
 * buffered prefix after each piece, each time in a copy of exactly that size.
 * Until the answer is final it must be INCOMPLETE; the final answer and, on
 * DONE, every field must equal the one-shot parse (full_req, whose views
 * point into full_base).
 */
static void check_streamed(const char *data, size_t len, size_t max_head, int full_result, size_t full_consumed,
                           const http_request_t *full_req, const char *full_base, const uint8_t *sizes,
                           size_t nsizes)
{
    static http_request_t sreq;
    size_t have = 0, si = 0, consumed;
    int r = HTTP_PARSE_INCOMPLETE;
    while (have < len) {
        char *b;
        size_t step = 1;
        if (nsizes) {
            uint8_t z = sizes[si++ % nsizes];
            step = (z & 0x80) ? 1 + (size_t)(z & 0x7F) * 32 : 1 + (size_t)(z & 0x3F);
        }
        have = step < len - have ? have + step : len;
        b = malloc(have);
        if (!b)
            abort();
        memcpy(b, data, have);
        r = http_parse_head(b, have, max_head, &sreq, &consumed);
        if (r == HTTP_PARSE_DONE) {
            FUZZ_CHECK(full_result == HTTP_PARSE_DONE && consumed == full_consumed);
            check_same_request(full_req, full_base, &sreq, b);
        }
        free(b);
        if (r != HTTP_PARSE_INCOMPLETE)
            break;
    }
    FUZZ_CHECK(r == full_result);
}

struct chunk_run {
    int status;
    size_t consumed;
    size_t out_len;
};

/* Decode data[0..len) in pieces; piece sizes come from `sizes` (cycled),
 * or one piece when nsizes is 0. Output goes to out (at least len bytes). */
static void chunked_run(const char *data, size_t len, const uint8_t *sizes, size_t nsizes, char *out,
                        struct chunk_run *res)
{
    http_chunked_t c;
    size_t pos = 0, si = 0;
    int zero_pieces = 0;
    http_chunked_init(&c);
    res->status = HTTP_CHUNKED_NEED_MORE;
    res->consumed = 0;
    res->out_len = 0;
    for (;;) {
        size_t plen = len - pos, off = 0;
        char *piece;
        if (nsizes) {
            /* empty pieces are allowed, but never two in a row */
            size_t want = (size_t)(sizes[si++ % nsizes] % 23);
            if (want == 0 && zero_pieces++)
                want = 1;
            if (want)
                zero_pieces = 0;
            if (want < plen)
                plen = want;
        }
        piece = malloc(plen ? plen : 1);
        if (!piece)
            abort();
        memcpy(piece, data + pos, plen);
        for (;;) {
            const char *o = (const char *)1;
            size_t olen = 12345, used = 12345;
            int r = http_chunked_decode(&c, piece + off, plen - off, &used, &o, &olen);
            FUZZ_CHECK(r == HTTP_CHUNKED_DATA || r == HTTP_CHUNKED_NEED_MORE || r == HTTP_CHUNKED_DONE ||
                       r == HTTP_CHUNKED_ERROR);
            FUZZ_CHECK(used <= plen - off);
            if (r == HTTP_CHUNKED_DATA) {
                FUZZ_CHECK(olen > 0);
                FUZZ_CHECK(in_range(o, olen, piece + off, piece + off + used));
                FUZZ_CHECK(res->out_len + olen <= len);
                memcpy(out + res->out_len, o, olen);
                res->out_len += olen;
            } else {
                FUZZ_CHECK(olen == 0);
            }
            if (r == HTTP_CHUNKED_NEED_MORE)
                FUZZ_CHECK(used == plen - off);
            off += used;
            res->consumed += used;
            res->status = r;
            if (r != HTTP_CHUNKED_DATA)
                break;
        }
        free(piece);
        pos += plen;
        if (res->status == HTTP_CHUNKED_DONE || res->status == HTTP_CHUNKED_ERROR || pos == len)
            break;
    }
    /* the end states are sticky */
    if (res->status == HTTP_CHUNKED_DONE || res->status == HTTP_CHUNKED_ERROR) {
        const char *o;
        size_t olen, used;
        FUZZ_CHECK(http_chunked_decode(&c, "0\r\n\r\n", 5, &used, &o, &olen) == res->status && used == 0);
    }
}

/* One-shot and piecewise decoding must agree; returns bytes used (or 0 on error). */
static size_t check_chunked(const char *data, size_t len, const uint8_t *sizes, size_t nsizes, int *done)
{
    struct chunk_run whole, split;
    char *out1 = malloc(len ? len : 1), *out2 = malloc(len ? len : 1);
    if (!out1 || !out2)
        abort();
    chunked_run(data, len, NULL, 0, out1, &whole);
    chunked_run(data, len, sizes, nsizes, out2, &split);
    FUZZ_CHECK(whole.status == split.status);
    FUZZ_CHECK(whole.consumed == split.consumed);
    FUZZ_CHECK(whole.out_len == split.out_len);
    FUZZ_CHECK(memcmp(out1, out2, whole.out_len) == 0);
    FUZZ_CHECK(whole.consumed <= len);
    if (whole.status == HTTP_CHUNKED_DONE)
        FUZZ_CHECK(whole.consumed >= 5 && memcmp(data + whole.consumed - 2, "\r\n", 2) == 0);
    free(out1);
    free(out2);
    *done = whole.status == HTTP_CHUNKED_DONE;
    return whole.consumed;
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    static http_request_t req;
    static const size_t limits[4] = {64, 300, 1024, HTTP_DEFAULT_MAX_HEAD_SIZE};
    uint8_t cfg;
    size_t max_head, off = 0, len;
    char *buf;
    int rounds;

    if (size < 1)
        return 0;
    cfg = input[0];
    input++;
    size--;
    max_head = limits[cfg & 3];
    len = size;

    buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    memcpy(buf, input, len);

    if (cfg & 0x80) {
        /* the whole stream is a chunked body */
        int done;
        check_chunked(buf, len, input, len, &done);
        free(buf);
        return 0;
    }

    for (rounds = 0; rounds < 32 && off < len; rounds++) {
        size_t consumed = 777, again_consumed = 0;
        int r = http_parse_head(buf + off, len - off, max_head, &req, &consumed);
        FUZZ_CHECK(known_head_result(r));
        /* streamed from the original bytes: no earlier parse touched them */
        check_streamed((const char *)input + off, len - off, max_head, r, r == HTTP_PARSE_DONE ? consumed : 0,
                       &req, buf + off, input + (cfg % 5) + rounds,
                       size > 5 + (size_t)rounds ? size - 5 - (size_t)rounds : 0);
        if (rounds == 0)
            check_prefixes(buf + off, len - off, max_head, r, r == HTTP_PARSE_DONE ? consumed : 0,
                           (uint32_t)cfg * 2654435761u);
        if (r != HTTP_PARSE_DONE) {
            FUZZ_CHECK(consumed == 0);
            if (r == HTTP_PARSE_INCOMPLETE)
                FUZZ_CHECK(len - off <= max_head);
            break;
        }
        FUZZ_CHECK(consumed > 0 && consumed <= len - off && consumed <= max_head);
        check_request(&req, buf + off, consumed);
        /* parsing the (now lower-cased) head again gives the same answer */
        FUZZ_CHECK(http_parse_head(buf + off, len - off, max_head, &req, &again_consumed) == HTTP_PARSE_DONE);
        FUZZ_CHECK(again_consumed == consumed);
        off += consumed;

        if (req.body_kind == HTTP_BODY_LENGTH) {
            if (req.content_length > len - off)
                break;
            off += (size_t)req.content_length;
        } else if (req.body_kind == HTTP_BODY_CHUNKED) {
            int done;
            size_t used = check_chunked(buf + off, len - off, input + (cfg % 7), size > 7 ? size - 7 : 0, &done);
            if (!done)
                break;
            off += used;
        }
    }
    free(buf);
    return 0;
}

