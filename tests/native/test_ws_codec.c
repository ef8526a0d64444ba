/* sources: socketify_cy/native/ws_codec.c socketify_cy/native/utf8.c */
/*
 * Tests for the WebSocket frame codec. A recorder feeds a stream to the
 * parser in pieces and logs every event ("H<op>f<fin>r<rsv1>l<len>" for a
 * header, "E" for a frame end, "X<code>" for an error) plus the payload
 * bytes in order; a parse split anywhere must give the same log and
 * payload as the unsplit parse.
 */
#include "ws_codec.h"
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define RUN(fn) run(#fn, fn)

/* ------------------------------------------------------------ frames */

static const uint8_t MASK_A[4] = {0x37, 0xfa, 0x21, 0x3d};

/* A client frame into out (masked unless mask is NULL); len_bytes forces the
 * length encoding (0: minimal, 2: 16-bit, 8: 64-bit). Returns its size. */
static size_t mkframe_enc(uint8_t *out, int b0, const uint8_t *mask, const void *payload, size_t len, int len_bytes)
{
    size_t n = 0;
    out[n++] = (uint8_t)b0;
    if (len_bytes == 0)
        len_bytes = len <= 125 ? 0 : len <= 0xFFFF ? 2 : 8;
    if (len_bytes == 0) {
        out[n++] = (uint8_t)len;
    } else if (len_bytes == 2) {
        out[n++] = 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = 127;
        for (int i = 0; i < 8; i++)
            out[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }
    for (size_t i = 0; i < len; i++)
        out[n + i] = (uint8_t)(((const uint8_t *)payload)[i] ^ (mask ? mask[i & 3] : 0));
    return n + len;
}

static size_t mkframe(uint8_t *out, int b0, const void *payload, size_t len)
{
    return mkframe_enc(out, b0, MASK_A, payload, len, 0);
}

/* ------------------------------------------------------------ recorder */

typedef struct rec_s {
    char log[8192];
    uint8_t *pay;
    size_t pay_len, pay_cap;
    int error;            /* error code seen, 0 if none */
    int payload_overrun;  /* a frame reported more payload than its length */
    uint64_t frame_seen;
    uint8_t in_msg_at_header[64]; /* p->in_message after each header */
    uint8_t msg_op_at_header[64];
    int nheaders;
} rec_t;

static void rec_init(rec_t *r)
{
    memset(r, 0, sizeof(*r));
}

static void rec_free(rec_t *r)
{
    free(r->pay);
}

static void logf_(rec_t *r, const char *fmt, unsigned a, unsigned b, unsigned c, unsigned long long d)
{
    size_t n = strlen(r->log);
    snprintf(r->log + n, sizeof(r->log) - n, fmt, a, b, c, d);
}

static void pay_add(rec_t *r, const char *p, size_t n)
{
    if (r->pay_len + n > r->pay_cap) {
        r->pay_cap = (r->pay_len + n) * 2 + 64;
        r->pay = realloc(r->pay, r->pay_cap);
        if (!r->pay)
            abort();
    }
    memcpy(r->pay + r->pay_len, p, n);
    r->pay_len += n;
}

/* Feed one piece (copied into a buffer of exactly its size) until NEED_MORE or ERROR. */
static void feed(ws_parser_t *p, rec_t *r, const uint8_t *data, size_t len)
{
    char *b = malloc(len ? len : 1);
    size_t off = 0;
    if (!b)
        abort();
    memcpy(b, data, len);
    for (;;) {
        const char *out = (const char *)1;
        size_t out_len = 99, used = 99;
        int ev = ws_parse(p, b + off, len - off, &used, &out, &out_len);
        CHECK(used <= len - off);
        off += used;
        if (ev == WS_PARSE_NEED_MORE) {
            CHECK(off == len);
            break;
        }
        if (ev == WS_PARSE_ERROR) {
            if (!r->error)
                logf_(r, "X%u|", p->error_code, 0, 0, 0);
            r->error = p->error_code;
            break;
        }
        if (ev == WS_PARSE_HEADER) {
            logf_(r, "H%uf%ur%ul%llu|", p->opcode, p->fin, p->rsv1, (unsigned long long)p->length);
            r->frame_seen = 0;
            if (r->nheaders < 64) {
                r->in_msg_at_header[r->nheaders] = p->in_message;
                r->msg_op_at_header[r->nheaders] = p->message_opcode;
            }
            r->nheaders++;
        } else if (ev == WS_PARSE_PAYLOAD) {
            CHECK(out_len > 0 && out >= b && out + out_len <= b + off);
            r->frame_seen += out_len;
            if (r->frame_seen > p->length)
                r->payload_overrun = 1;
            pay_add(r, out, out_len);
        } else if (ev == WS_PARSE_FRAME_END) {
            CHECK(r->frame_seen == p->length);
            logf_(r, "E|", 0, 0, 0, 0);
        } else {
            CHECK(0);
            break;
        }
    }
    free(b);
}

/* Parse stream split at the sorted offsets cuts[0..ncuts). */
static void parse_split(const uint8_t *s, size_t len, const size_t *cuts, size_t ncuts, uint64_t max_message,
                        int allow_rsv1, rec_t *r)
{
    ws_parser_t p;
    size_t prev = 0;
    ws_parser_init(&p, max_message, allow_rsv1);
    rec_init(r);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t at = i < ncuts ? cuts[i] : len;
        feed(&p, r, s + prev, at - prev);
        prev = at;
    }
    /* an empty piece changes nothing */
    feed(&p, r, s, 0);
}

static void parse_all(const uint8_t *s, size_t len, uint64_t max_message, int allow_rsv1, rec_t *r)
{
    parse_split(s, len, NULL, 0, max_message, allow_rsv1, r);
}

static int same(const rec_t *a, const rec_t *b)
{
    return strcmp(a->log, b->log) == 0 && a->pay_len == b->pay_len &&
           (a->pay_len == 0 || memcmp(a->pay, b->pay, a->pay_len) == 0) && a->error == b->error;
}

/* Every single split point (and every pair when short; one byte at a time
 * always) gives the unsplit parse's events and payload. Returns the mismatches. */
static int check_splits(const uint8_t *s, size_t len, uint64_t max_message, int allow_rsv1)
{
    rec_t whole, part;
    int bad = 0;
    size_t step = len > 4096 ? 997 : 1;
    parse_all(s, len, max_message, allow_rsv1, &whole);
    CHECK(!whole.payload_overrun);
    for (size_t a = 0; a <= len; a += (a < 32 || a + 32 > len) ? 1 : step) {
        size_t cuts[1] = {a};
        parse_split(s, len, cuts, 1, max_message, allow_rsv1, &part);
        if (!same(&whole, &part)) {
            if (!bad)
                fprintf(stderr, "split at %zu: %s vs %s\n", a, part.log, whole.log);
            bad++;
        }
        rec_free(&part);
        if (len <= 40) {
            for (size_t b = a; b <= len; b++) {
                size_t cuts2[2] = {a, b};
                parse_split(s, len, cuts2, 2, max_message, allow_rsv1, &part);
                bad += !same(&whole, &part);
                rec_free(&part);
            }
        }
    }
    {
        /* one byte at a time */
        size_t *cuts = malloc((len + 1) * sizeof(size_t));
        if (!cuts)
            abort();
        for (size_t i = 0; i < len; i++)
            cuts[i] = i;
        parse_split(s, len, cuts, len, max_message, allow_rsv1, &part);
        if (!same(&whole, &part)) {
            fprintf(stderr, "bytewise: %s vs %s\n", part.log, whole.log);
            bad++;
        }
        rec_free(&part);
        free(cuts);
    }
    rec_free(&whole);
    return bad;
}

/* ------------------------------------------------------------ tests */

static void test_rfc_examples(void)
{
    /* 5.7: a single-frame masked text message */
    static const uint8_t hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    /* 5.7: a masked Pong whose body is "Hello" */
    static const uint8_t pong_masked[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    /* 5.7: the unmasked forms: a server never accepts them from a client */
    static const uint8_t hello_unmasked[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t ping_unmasked[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t frag_unmasked[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
    rec_t r;

    parse_all(hello_masked, sizeof(hello_masked), 0, 0, &r);
    CHECK(strcmp(r.log, "H1f1r0l5|E|") == 0);
    CHECK(r.pay_len == 5 && memcmp(r.pay, "Hello", 5) == 0);
    rec_free(&r);
    CHECK(check_splits(hello_masked, sizeof(hello_masked), 0, 0) == 0);

    parse_all(pong_masked, sizeof(pong_masked), 0, 0, &r);
    CHECK(strcmp(r.log, "H10f1r0l5|E|") == 0);
    CHECK(r.pay_len == 5 && memcmp(r.pay, "Hello", 5) == 0);
    rec_free(&r);

    parse_all(hello_unmasked, sizeof(hello_unmasked), 0, 0, &r);
    CHECK(strcmp(r.log, "X1002|") == 0 && r.pay_len == 0);
    rec_free(&r);
    parse_all(ping_unmasked, sizeof(ping_unmasked), 0, 0, &r);
    CHECK(strcmp(r.log, "X1002|") == 0);
    rec_free(&r);
    parse_all(frag_unmasked, sizeof(frag_unmasked), 0, 0, &r);
    CHECK(strcmp(r.log, "X1002|") == 0);
    rec_free(&r);

    /* 5.7's fragmented "Hello", masked as a client sends it */
    {
        uint8_t s[64];
        size_t n = mkframe(s, 0x01, "Hel", 3);
        n += mkframe(s + n, 0x80, "lo", 2);
        parse_all(s, n, 0, 0, &r);
        CHECK(strcmp(r.log, "H1f0r0l3|E|H0f1r0l2|E|") == 0);
        CHECK(r.pay_len == 5 && memcmp(r.pay, "Hello", 5) == 0);
        rec_free(&r);
        CHECK(check_splits(s, n, 0, 0) == 0);
    }
}

/* The payload is unmasked in place: the input buffer holds the plain bytes afterwards. */
static void test_unmask_in_place(void)
{
    uint8_t s[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_parser_t p;
    const char *out;
    size_t used, out_len, off = 0;
    ws_parser_init(&p, 0, 0);
    CHECK(ws_parse(&p, (char *)s, 8, &used, &out, &out_len) == WS_PARSE_HEADER && used == 6);
    off = used;
    CHECK(ws_parse(&p, (char *)s + off, 8 - off, &used, &out, &out_len) == WS_PARSE_PAYLOAD);
    CHECK(used == 2 && out_len == 2 && out == (char *)s + 6 && memcmp(out, "He", 2) == 0);
    off += used;
    CHECK(ws_parse(&p, (char *)s + off, 0, &used, &out, &out_len) == WS_PARSE_NEED_MORE && used == 0);
    /* the mask position carries over to the next piece */
    CHECK(ws_parse(&p, (char *)s + off, sizeof(s) - off, &used, &out, &out_len) == WS_PARSE_PAYLOAD);
    CHECK(used == 3 && out_len == 3 && memcmp(out, "llo", 3) == 0);
    CHECK(memcmp(s + 6, "Hello", 5) == 0);
    CHECK(ws_parse(&p, (char *)s + sizeof(s), 0, &used, &out, &out_len) == WS_PARSE_FRAME_END && used == 0);
    CHECK(ws_parse(&p, (char *)s + sizeof(s), 0, &used, &out, &out_len) == WS_PARSE_NEED_MORE);
}

static void test_every_length_encoding(void)
{
    static const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70001};
    size_t cap = 70001 + 14;
    uint8_t *payload = malloc(70001), *s = malloc(cap);
    if (!payload || !s)
        abort();
    for (size_t i = 0; i < 70001; i++)
        payload[i] = (uint8_t)(i * 131 + 7);
    for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
        static const uint8_t masks[3][4] = {{0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {1, 2, 3, 4}};
        for (int m = 0; m < 3; m++) {
            size_t n = mkframe_enc(s, 0x82, masks[m], payload, lens[k], 0);
            char expect[64];
            rec_t r;
            size_t hdr = lens[k] <= 125 ? 6 : lens[k] <= 0xFFFF ? 8 : 14;
            CHECK(n == hdr + lens[k]);
            parse_all(s, n, 0, 0, &r);
            snprintf(expect, sizeof(expect), "H2f1r0l%zu|E|", lens[k]);
            CHECK(strcmp(r.log, expect) == 0);
            CHECK(r.pay_len == lens[k] && (lens[k] == 0 || memcmp(r.pay, payload, lens[k]) == 0));
            rec_free(&r);
            CHECK(check_splits(s, n, 0, 0) == 0);
        }
    }
    /* a non-minimal length encoding is accepted (only senders are bound to the minimal form) */
    {
        size_t n = mkframe_enc(s, 0x82, MASK_A, payload, 5, 8);
        rec_t r;
        parse_all(s, n, 0, 0, &r);
        CHECK(strcmp(r.log, "H2f1r0l5|E|") == 0);
        rec_free(&r);
        n = mkframe_enc(s, 0x82, MASK_A, payload, 100, 2);
        parse_all(s, n, 0, 0, &r);
        CHECK(strcmp(r.log, "H2f1r0l100|E|") == 0);
        rec_free(&r);
    }
    free(payload);
    free(s);
}

/* Several frames back to back, including empty ones, split everywhere. */
static void test_stream_of_frames(void)
{
    uint8_t s[512];
    size_t n = 0;
    rec_t r;
    n += mkframe(s + n, 0x81, "", 0);
    n += mkframe(s + n, 0x89, "ping", 4);
    n += mkframe(s + n, 0x02, "abc", 3);
    n += mkframe(s + n, 0x00, "", 0);
    n += mkframe(s + n, 0x8A, "", 0);
    n += mkframe(s + n, 0x80, "defgh", 5);
    n += mkframe(s + n, 0x88, "\x03\xe8", 2);
    parse_all(s, n, 0, 0, &r);
    CHECK(strcmp(r.log, "H1f1r0l0|E|H9f1r0l4|E|H2f0r0l3|E|H0f0r0l0|E|H10f1r0l0|E|H0f1r0l5|E|H8f1r0l2|E|") == 0);
    CHECK(r.pay_len == 14 && memcmp(r.pay, "pingabcdefgh\x03\xe8", 14) == 0);
    rec_free(&r);
    CHECK(check_splits(s, n, 0, 0) == 0);
}

struct violation {
    const char *name;
    uint8_t bytes[32];
    size_t len;
    int allow_rsv1;
    uint64_t max_message;
    const char *log; /* expected log */
};

static void test_violations(void)
{
    /* each: a masked client stream (mask 0 so payload bytes are plain) */
#define M 0, 0, 0, 0
    static const struct violation V[] = {
        {"rsv2", {0xA1, 0x80, M}, 6, 1, 0, "X1002|"},
        {"rsv3", {0x91, 0x80, M}, 6, 1, 0, "X1002|"},
        {"rsv1 not negotiated", {0xC1, 0x80, M}, 6, 0, 0, "X1002|"},
        {"rsv1 negotiated", {0xC1, 0x80, M}, 6, 1, 0, "H1f1r1l0|E|"},
        {"rsv1 on continuation", {0x41, 0x80, M, 0xC0, 0x80, M}, 12, 1, 0, "H1f0r1l0|E|X1002|"},
        {"rsv1 on ping", {0xC9, 0x80, M}, 6, 1, 0, "X1002|"},
        {"opcode 3", {0x83, 0x80, M}, 6, 0, 0, "X1002|"},
        {"opcode 7", {0x87, 0x80, M}, 6, 0, 0, "X1002|"},
        {"opcode 11", {0x8B, 0x80, M}, 6, 0, 0, "X1002|"},
        {"opcode 15", {0x8F, 0x80, M}, 6, 0, 0, "X1002|"},
        {"ping without fin", {0x09, 0x80, M}, 6, 0, 0, "X1002|"},
        {"close without fin", {0x08, 0x80, M}, 6, 0, 0, "X1002|"},
        {"ping of 126", {0x89, 0xFE, 0x00, 0x7E, M}, 8, 0, 0, "X1002|"},
        {"ping of 126 (64-bit)", {0x89, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0x7E, M}, 14, 0, 0, "X1002|"},
        {"continuation first", {0x80, 0x80, M}, 6, 0, 0, "X1002|"},
        {"text inside a message", {0x01, 0x80, M, 0x81, 0x80, M}, 12, 0, 0, "H1f0r0l0|E|X1002|"},
        {"binary inside a message", {0x01, 0x80, M, 0x02, 0x80, M}, 12, 0, 0, "H1f0r0l0|E|X1002|"},
        {"continuation after the end", {0x01, 0x80, M, 0x80, 0x80, M, 0x80, 0x80, M}, 18, 0, 0,
         "H1f0r0l0|E|H0f1r0l0|E|X1002|"},
        {"unmasked", {0x82, 0x00}, 2, 0, 0, "X1002|"},
        {"unmasked continuation", {0x02, 0x80, M, 0x80, 0x00}, 8, 0, 0, "H2f0r0l0|E|X1002|"},
        {"64-bit length top bit", {0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, M}, 14, 0, 0, "X1002|"},
        {"64-bit length all ones", {0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, M}, 14, 0, 0,
         "X1002|"},
        {"64-bit length 2^63-1, no limit", {0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, M}, 14, 0, 0,
         "H2f1r0l9223372036854775807|"},
        {"frame over the limit", {0x82, 0x8B, M}, 6, 0, 10, "X1009|"},
        {"frame at the limit", {0x82, 0x8A, M, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 16, 0, 10, "H2f1r0l10|E|"},
        {"huge frame over the limit", {0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, M}, 14, 0, 1000,
         "X1009|"},
        {"ping not counted by the limit", {0x89, 0x8B, M, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 17, 0, 10,
         "H9f1r0l11|E|"},
        {"fragmented over the limit", {0x01, 0x86, M, 1, 2, 3, 4, 5, 6, 0x80, 0x85, M}, 18, 0, 10,
         "H1f0r0l6|E|X1009|"},
    };
#undef M
    for (size_t i = 0; i < sizeof(V) / sizeof(V[0]); i++) {
        rec_t r;
        parse_all(V[i].bytes, V[i].len, V[i].max_message, V[i].allow_rsv1, &r);
        if (strcmp(r.log, V[i].log) != 0) {
            fprintf(stderr, "%s: %s, expected %s\n", V[i].name, r.log, V[i].log);
            CHECK(0);
        }
        rec_free(&r);
        if (check_splits(V[i].bytes, V[i].len, V[i].max_message, V[i].allow_rsv1)) {
            fprintf(stderr, "%s: splits differ\n", V[i].name);
            CHECK(0);
        }
    }
}

/* Errors are found at the second byte, before the rest of the header. */
static void test_fail_fast(void)
{
    static const uint8_t bad[][2] = {{0xA1, 0x80}, {0x83, 0x80}, {0x09, 0x80}, {0x89, 0xFE}, {0x80, 0x80}, {0x81, 0x05}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ws_parser_t p;
        const char *out;
        size_t used, out_len;
        char b[2];
        memcpy(b, bad[i], 2);
        ws_parser_init(&p, 0, 0);
        CHECK(ws_parse(&p, b, 1, &used, &out, &out_len) == WS_PARSE_NEED_MORE && used == 1);
        CHECK(ws_parse(&p, b + 1, 1, &used, &out, &out_len) == WS_PARSE_ERROR && p.error_code == 1002);
    }
}

/* After an error the parser stays failed, whatever it is fed. */
static void test_error_is_sticky(void)
{
    ws_parser_t p;
    const char *out;
    size_t used, out_len;
    char bad[2] = {(char)0x83, (char)0x80};
    uint8_t good[16];
    size_t n = mkframe(good, 0x81, "hi", 2);
    ws_parser_init(&p, 0, 0);
    CHECK(ws_parse(&p, bad, 2, &used, &out, &out_len) == WS_PARSE_ERROR);
    CHECK(ws_parse(&p, (char *)good, n, &used, &out, &out_len) == WS_PARSE_ERROR && used == 0);
    CHECK(ws_parse(&p, (char *)good, 0, &used, &out, &out_len) == WS_PARSE_ERROR);
    CHECK(p.error_code == 1002);
}

/* Control frames between fragments leave the message state alone. */
static void test_control_between_fragments(void)
{
    uint8_t s[256];
    size_t n = 0;
    rec_t r;
    n += mkframe(s + n, 0x01, "He", 2);
    n += mkframe(s + n, 0x89, "p1", 2);
    n += mkframe(s + n, 0x00, "l", 1);
    n += mkframe(s + n, 0x8A, "", 0);
    n += mkframe(s + n, 0x89, "p2", 2);
    n += mkframe(s + n, 0x80, "lo", 2);
    n += mkframe(s + n, 0x88, "\x03\xe8", 2);
    parse_all(s, n, 5, 0, &r);
    CHECK(strcmp(r.log, "H1f0r0l2|E|H9f1r0l2|E|H0f0r0l1|E|H10f1r0l0|E|H9f1r0l2|E|H0f1r0l2|E|H8f1r0l2|E|") == 0);
    CHECK(r.pay_len == 11 && memcmp(r.pay, "Hep1lp2lo\x03\xe8", 11) == 0);
    /* during the message every header sees it in progress, as TEXT */
    CHECK(r.nheaders == 7);
    CHECK(r.in_msg_at_header[0] == 1 && r.in_msg_at_header[1] == 1 && r.in_msg_at_header[2] == 1);
    CHECK(r.in_msg_at_header[3] == 1 && r.in_msg_at_header[4] == 1);
    CHECK(r.in_msg_at_header[5] == 0 && r.in_msg_at_header[6] == 0);
    for (int i = 0; i < 7; i++)
        CHECK(r.msg_op_at_header[i] == WS_OP_TEXT);
    rec_free(&r);
    CHECK(check_splits(s, n, 5, 0) == 0);

    /* max_message counts data frames only: with a limit of 4 the last fragment fails */
    parse_all(s, n, 4, 0, &r);
    CHECK(strcmp(r.log, "H1f0r0l2|E|H9f1r0l2|E|H0f0r0l1|E|H10f1r0l0|E|H9f1r0l2|E|X1009|") == 0);
    rec_free(&r);

    /* a new message after the fragmented one starts its size from zero */
    {
        uint8_t t[64];
        size_t m = 0;
        m += mkframe(t + m, 0x02, "abc", 3);
        m += mkframe(t + m, 0x80, "d", 1);
        m += mkframe(t + m, 0x82, "efgh", 4);
        parse_all(t, m, 4, 0, &r);
        CHECK(strcmp(r.log, "H2f0r0l3|E|H0f1r0l1|E|H2f1r0l4|E|") == 0);
        rec_free(&r);
    }
}

/* message_rsv1 and message_opcode follow the first frame of a compressed message. */
static void test_compressed_message_state(void)
{
    uint8_t s[64];
    size_t n = 0;
    ws_parser_t p;
    const char *out;
    size_t used, out_len, off = 0;
    int ev, headers = 0;
    n += mkframe(s + n, 0x42, "ab", 2);
    n += mkframe(s + n, 0x89, "", 0);
    n += mkframe(s + n, 0x80, "c", 1);
    ws_parser_init(&p, 0, 1);
    while ((ev = ws_parse(&p, (char *)s + off, n - off, &used, &out, &out_len)) != WS_PARSE_NEED_MORE) {
        off += used;
        CHECK(ev != WS_PARSE_ERROR);
        if (ev == WS_PARSE_ERROR)
            break;
        if (ev == WS_PARSE_HEADER) {
            CHECK(p.message_rsv1 == 1 && p.message_opcode == WS_OP_BINARY);
            if (headers == 0)
                CHECK(p.rsv1 == 1 && p.in_message == 1 && p.message_size == 2);
            if (headers == 2)
                CHECK(p.rsv1 == 0 && p.in_message == 0 && p.message_size == 3);
            headers++;
        }
    }
    CHECK(headers == 3);
}

static void test_frame_header_writer(void)
{
    static const uint64_t lens[] = {0, 125, 126, 65535, 65536, UINT64_C(0x7FFFFFFFFFFFFFFF)};
    uint8_t h[WS_MAX_HEADER];
    CHECK(ws_frame_header(h, WS_OP_TEXT, 1, 0, 5) == 2 && h[0] == 0x81 && h[1] == 0x05);
    CHECK(ws_frame_header(h, WS_OP_BINARY, 0, 1, 0) == 2 && h[0] == 0x42 && h[1] == 0x00);
    CHECK(ws_frame_header(h, WS_OP_CLOSE, 1, 0, 2) == 2 && h[0] == 0x88);
    CHECK(ws_frame_header(h, WS_OP_CONTINUATION, 1, 0, 125) == 2 && h[0] == 0x80 && h[1] == 125);
    CHECK(ws_frame_header(h, WS_OP_BINARY, 1, 0, 126) == 4 && h[1] == 126 && h[2] == 0 && h[3] == 126);
    CHECK(ws_frame_header(h, WS_OP_BINARY, 1, 0, 65535) == 4 && h[1] == 126 && h[2] == 0xFF && h[3] == 0xFF);
    CHECK(ws_frame_header(h, WS_OP_BINARY, 1, 0, 65536) == 10 && h[1] == 127);
    CHECK(h[2] == 0 && h[3] == 0 && h[4] == 0 && h[5] == 0 && h[6] == 0 && h[7] == 1 && h[8] == 0 && h[9] == 0);
    /* what the writer produces, masked as a client would, parses back */
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t f[WS_MAX_HEADER + 4];
        size_t n = ws_frame_header(f, WS_OP_BINARY, 1, 1, lens[i]);
        ws_parser_t p;
        const char *out;
        size_t used, out_len;
        f[1] |= 0x80;
        memset(f + n, 0, 4);
        ws_parser_init(&p, 0, 1);
        CHECK(ws_parse(&p, (char *)f, n + 4, &used, &out, &out_len) == WS_PARSE_HEADER);
        CHECK(used == n + 4 && p.length == lens[i] && p.opcode == WS_OP_BINARY && p.fin == 1 && p.rsv1 == 1);
    }
}

static void test_close_codes(void)
{
    static const unsigned ok[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999};
    static const unsigned bad[] = {0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        CHECK(ws_close_code_valid(ok[i]));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!ws_close_code_valid(bad[i]));
}

static void test_close_parse(void)
{
    unsigned code = 7;
    const char *reason = (const char *)1;
    size_t rlen = 9;
    CHECK(ws_close_parse("", 0, &code, &reason, &rlen) == 0 && code == 1005 && rlen == 0);
    CHECK(ws_close_parse("\x03", 1, &code, &reason, &rlen) == -1);
    CHECK(ws_close_parse("\x03\xe8", 2, &code, &reason, &rlen) == 0 && code == 1000 && rlen == 0);
    CHECK(ws_close_parse("\x03\xe9" "bye", 5, &code, &reason, &rlen) == 0 && code == 1001 && rlen == 3);
    CHECK(memcmp(reason, "bye", 3) == 0);
    CHECK(ws_close_parse("\x0f\x9f" "\xce\xba\xe1\xbd\xb9", 7, &code, &reason, &rlen) == 0 && code == 3999);
    CHECK(ws_close_parse("\x03\xed", 2, &code, &reason, &rlen) == -1);          /* 1005 */
    CHECK(ws_close_parse("\x03\xee", 2, &code, &reason, &rlen) == -1);          /* 1006 */
    CHECK(ws_close_parse("\x03\xe7", 2, &code, &reason, &rlen) == -1);          /* 999 */
    CHECK(ws_close_parse("\x13\x88", 2, &code, &reason, &rlen) == -1);          /* 5000 */
    CHECK(ws_close_parse("\x03\xe8" "\xed\xa0\x80", 5, &code, &reason, &rlen) == -1); /* surrogate */
    CHECK(ws_close_parse("\x03\xe8" "ab\xc3", 5, &code, &reason, &rlen) == -1);       /* truncated */
    CHECK(ws_close_parse("\x03\xe8" "\xff", 3, &code, &reason, &rlen) == -1);
}

static void test_close_payload(void)
{
    char out[125], reason[400];
    unsigned code;
    const char *r;
    size_t rlen, n;

    CHECK(ws_close_payload(out, 0, "x", 1) == 0);
    CHECK(ws_close_payload(out, 1005, "x", 1) == 0);
    CHECK(ws_close_payload(out, 1006, "x", 1) == 0);
    n = ws_close_payload(out, 1000, "", 0);
    CHECK(n == 2 && (uint8_t)out[0] == 0x03 && (uint8_t)out[1] == 0xe8);
    n = ws_close_payload(out, 4001, "going", 5);
    CHECK(n == 7 && (uint8_t)out[0] == 0x0f && (uint8_t)out[1] == 0xa1 && memcmp(out + 2, "going", 5) == 0);
    CHECK(ws_close_parse(out, n, &code, &r, &rlen) == 0 && code == 4001 && rlen == 5);

    /* ASCII: cut at exactly 123 */
    memset(reason, 'a', 200);
    n = ws_close_payload(out, 1000, reason, 200);
    CHECK(n == 125);
    n = ws_close_payload(out, 1000, reason, 123);
    CHECK(n == 125);
    n = ws_close_payload(out, 1000, reason, 122);
    CHECK(n == 124);

    /* two-byte characters: 123 would split one, so 122 */
    for (int i = 0; i < 100; i++)
        memcpy(reason + 2 * i, "\xc3\xa9", 2);
    n = ws_close_payload(out, 1000, reason, 200);
    CHECK(n == 2 + 122 && utf8_valid(out + 2, n - 2));
    CHECK(ws_close_parse(out, n, &code, &r, &rlen) == 0 && rlen == 122);

    /* three-byte characters: 123 = 41 whole ones */
    for (int i = 0; i < 100; i++)
        memcpy(reason + 3 * i, "\xe2\x82\xac", 3);
    n = ws_close_payload(out, 1000, reason, 300);
    CHECK(n == 125 && utf8_valid(out + 2, 123));

    /* four-byte characters: 30 whole ones, 120 bytes */
    for (int i = 0; i < 100; i++)
        memcpy(reason + 4 * i, "\xf0\x9f\x98\x80", 4);
    n = ws_close_payload(out, 1000, reason, 400);
    CHECK(n == 2 + 120 && utf8_valid(out + 2, 120));

    /* one ASCII byte in front shifts every boundary */
    reason[0] = 'x';
    for (int i = 0; i < 99; i++)
        memcpy(reason + 1 + 4 * i, "\xf0\x9f\x98\x80", 4);
    n = ws_close_payload(out, 1000, reason, 397);
    CHECK(n == 2 + 121 && utf8_valid(out + 2, 121));
}

int main(void)
{
    RUN(test_rfc_examples);
    RUN(test_unmask_in_place);
    RUN(test_every_length_encoding);
    RUN(test_stream_of_frames);
    RUN(test_violations);
    RUN(test_fail_fast);
    RUN(test_error_is_sticky);
    RUN(test_control_between_fragments);
    RUN(test_compressed_message_state);
    RUN(test_frame_header_writer);
    RUN(test_close_codes);
    RUN(test_close_parse);
    RUN(test_close_payload);
    return report();
}
