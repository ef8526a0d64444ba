/*
 * libFuzzer target for socketify_cy/native/ws_codec.c.
 * (ws_close_parse needs the UTF-8 validator:)
 */
/* extra: utf8.c */
/*
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isocketify_cy/native \
 *       socketify_cy/native/ws_codec.c socketify_cy/native/utf8.c tests/fuzz/fuzz_ws_codec.c -o /tmp/fuzz_ws
 * Build without libFuzzer (runs the files named on the command line):
 *   gcc -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE -Isocketify_cy/native \
 *       socketify_cy/native/ws_codec.c socketify_cy/native/utf8.c tests/fuzz/fuzz_ws_codec.c -o /tmp/fuzz_ws
 *
 * Input layout: byte 0 picks allow_rsv1 (bit 7) and max_message (bits 0-2);
 * the low 3 bits of byte 1 say how many piece-size bytes follow (0-7); the
 * rest is the client's stream. The stream is parsed in one piece and in
 * pieces of the fuzz-chosen sizes (each piece in a buffer of exactly its
 * size); both must give the same events, frame fields, payload and error.
 * Every header is checked against a direct decoding of the original bytes,
 * and every payload byte against the original byte XOR the frame's mask.
 * After ERROR the parser answers ERROR, consuming nothing.
 */
#include "ws_codec.h"
#include "utf8.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct event {
    int type;
    uint8_t opcode, fin, rsv1, in_message, message_opcode, message_rsv1;
    uint64_t length, message_size;
    uint16_t error;
    size_t pos;       /* stream offset after the event */
    size_t pay_end;   /* payload bytes seen so far, at FRAME_END */
};

struct run {
    struct event *ev;
    size_t nev, cap;
    uint8_t *pay;
    size_t pay_len;
};

static const uint64_t LIMITS[8] = {0, 1, 2, 125, 126, 1000, 65536, UINT64_C(1) << 40};

static void push(struct run *r, const struct event *e)
{
    if (r->nev == r->cap) {
        r->cap = r->cap * 2 + 16;
        r->ev = realloc(r->ev, r->cap * sizeof(*r->ev));
        if (!r->ev)
            abort();
    }
    r->ev[r->nev++] = *e;
}

/* Decode the header starting at s[0] (bytes known to be complete). */
static void decode_header(const uint8_t *s, uint8_t *op, uint8_t *fin, uint8_t *rsv1, uint64_t *len, const uint8_t **mask)
{
    uint8_t l7 = s[1] & 0x7F;
    size_t n = 2;
    *op = s[0] & 0x0F;
    *fin = s[0] >> 7;
    *rsv1 = (s[0] >> 6) & 1;
    *len = l7;
    if (l7 == 126) {
        *len = (uint64_t)s[2] << 8 | s[3];
        n = 4;
    } else if (l7 == 127) {
        *len = 0;
        for (int i = 0; i < 8; i++)
            *len = *len << 8 | s[2 + i];
        n = 10;
    }
    *mask = s + n;
}

/*
 * Parse orig[0, len) in pieces of the given sizes (cycled; nsizes 0: one
 * piece). Records every event but PAYLOAD, whose bytes go to r->pay.
 */
static void parse_run(const uint8_t *orig, size_t len, const uint8_t *sizes, size_t nsizes, uint64_t max_message,
                      int allow_rsv1, struct run *r)
{
    ws_parser_t p;
    size_t pos = 0, si = 0, frame_start = 0, frame_seen = 0;
    const uint8_t *mask = NULL;
    int failed = 0, zero_run = 0;

    memset(r, 0, sizeof(*r));
    r->pay = malloc(len ? len : 1);
    if (!r->pay)
        abort();
    ws_parser_init(&p, max_message, allow_rsv1);
    while (!failed) {
        size_t plen = len - pos, off = 0;
        char *piece;
        if (nsizes) {
            size_t want = sizes[si++ % nsizes];
            if (want == 0 && zero_run++)
                want = 1; /* never two empty pieces in a row */
            if (want)
                zero_run = 0;
            if (want < plen)
                plen = want;
        }
        piece = malloc(plen ? plen : 1);
        if (!piece)
            abort();
        memcpy(piece, orig + pos, plen);
        for (;;) {
            const char *out = (const char *)1;
            size_t out_len = 777, used = 777;
            int t = ws_parse(&p, piece + off, plen - off, &used, &out, &out_len);
            struct event e;
            FUZZ_CHECK(used <= plen - off);
            if (t == WS_PARSE_PAYLOAD) {
                FUZZ_CHECK(out == piece + off && out_len == used && out_len > 0);
                FUZZ_CHECK(mask != NULL);
                frame_seen += out_len;
                FUZZ_CHECK(frame_seen <= p.length);
                /* unmasked in place: original byte XOR the mask at its frame position */
                for (size_t i = 0; i < out_len; i++) {
                    size_t k = pos + off + i - (frame_start);
                    FUZZ_CHECK((uint8_t)out[i] == (orig[pos + off + i] ^ mask[k & 3]));
                }
                memcpy(r->pay + r->pay_len, out, out_len);
                r->pay_len += out_len;
                off += used;
                continue;
            }
            FUZZ_CHECK(out == NULL && out_len == 0);
            off += used;
            if (t == WS_PARSE_NEED_MORE) {
                FUZZ_CHECK(off == plen);
                break;
            }
            memset(&e, 0, sizeof(e));
            e.type = t;
            e.pos = pos + off;
            if (t == WS_PARSE_ERROR) {
                const char *o;
                size_t u = 1, ol;
                e.error = p.error_code;
                FUZZ_CHECK(e.error == WS_CLOSE_PROTOCOL_ERROR || e.error == WS_CLOSE_TOO_BIG);
                push(r, &e);
                /* sticky */
                FUZZ_CHECK(ws_parse(&p, piece + off, plen - off, &u, &o, &ol) == WS_PARSE_ERROR && u == 0);
                FUZZ_CHECK(ws_parse(&p, piece, 0, &u, &o, &ol) == WS_PARSE_ERROR && u == 0);
                FUZZ_CHECK(p.error_code == e.error);
                failed = 1;
                break;
            }
            if (t == WS_PARSE_HEADER) {
                uint8_t op, fin, rsv1;
                uint64_t flen;
                decode_header(orig + frame_start, &op, &fin, &rsv1, &flen, &mask);
                FUZZ_CHECK(mask + 4 == orig + e.pos); /* the header ends with the mask */
                FUZZ_CHECK(orig[frame_start + 1] & 0x80);
                FUZZ_CHECK(op == p.opcode && fin == p.fin && rsv1 == p.rsv1 && flen == p.length);
                FUZZ_CHECK((orig[frame_start] & 0x30) == 0);
                FUZZ_CHECK(op <= 2 || (op >= 8 && op <= 10));
                if (op >= 8)
                    FUZZ_CHECK(fin && flen <= 125 && !rsv1);
                if (rsv1)
                    FUZZ_CHECK(allow_rsv1 && op != 0);
                if (op < 8) {
                    FUZZ_CHECK(p.in_message == !fin);
                    FUZZ_CHECK(p.message_opcode == 1 || p.message_opcode == 2);
                    FUZZ_CHECK(!max_message || p.message_size <= max_message);
                    FUZZ_CHECK(p.message_size >= flen);
                    if (op != 0)
                        FUZZ_CHECK(p.message_size == flen && p.message_opcode == op);
                }
                e.opcode = p.opcode;
                e.fin = p.fin;
                e.rsv1 = p.rsv1;
                e.length = p.length;
                e.in_message = p.in_message;
                e.message_opcode = p.message_opcode;
                e.message_rsv1 = p.message_rsv1;
                e.message_size = p.message_size;
                frame_start = e.pos;
                frame_seen = 0;
            } else {
                FUZZ_CHECK(t == WS_PARSE_FRAME_END);
                FUZZ_CHECK(used == 0 && frame_seen == p.length);
                FUZZ_CHECK(e.pos == frame_start + p.length);
                e.pay_end = r->pay_len;
                frame_start = e.pos;
                mask = NULL;
            }
            push(r, &e);
        }
        free(piece);
        pos += plen;
        if (pos == len && (!nsizes || si > 0))
            break;
    }
}

static void same_runs(const struct run *a, const struct run *b)
{
    FUZZ_CHECK(a->nev == b->nev);
    for (size_t i = 0; i < a->nev; i++) {
        const struct event *x = &a->ev[i], *y = &b->ev[i];
        FUZZ_CHECK(x->type == y->type && x->opcode == y->opcode && x->fin == y->fin && x->rsv1 == y->rsv1);
        FUZZ_CHECK(x->length == y->length && x->in_message == y->in_message);
        FUZZ_CHECK(x->message_opcode == y->message_opcode && x->message_rsv1 == y->message_rsv1);
        FUZZ_CHECK(x->message_size == y->message_size && x->error == y->error && x->pay_end == y->pay_end);
        if (x->type != WS_PARSE_ERROR)
            FUZZ_CHECK(x->pos == y->pos);
    }
    FUZZ_CHECK(a->pay_len == b->pay_len);
    FUZZ_CHECK(a->pay_len == 0 || memcmp(a->pay, b->pay, a->pay_len) == 0);
}

static void free_run(struct run *r)
{
    free(r->ev);
    free(r->pay);
}

/* Close payloads: whatever parses rebuilds to the same bytes. */
static void check_close(const uint8_t *s, size_t len)
{
    unsigned code;
    const char *reason;
    size_t rlen;
    char out[125];
    if (len > 125)
        len = 125;
    if (ws_close_parse((const char *)s, len, &code, &reason, &rlen) == 0) {
        size_t n;
        if (len == 0) {
            FUZZ_CHECK(code == WS_CLOSE_NO_STATUS && rlen == 0);
            return;
        }
        FUZZ_CHECK(ws_close_code_valid(code) && rlen == len - 2 && utf8_valid(reason, rlen));
        n = ws_close_payload(out, code, reason, rlen);
        FUZZ_CHECK(n == len && memcmp(out, s, len) == 0);
    } else {
        FUZZ_CHECK(len == 1 || !ws_close_code_valid((unsigned)s[0] << 8 | s[1]) ||
                   !utf8_valid((const char *)s + 2, len - 2));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run whole, split;
    uint8_t cfg;
    size_t nsizes;
    const uint8_t *sizes;
    uint64_t max_message;
    int allow_rsv1;

    if (size < 2)
        return 0;
    cfg = data[0];
    nsizes = data[1] & 7;
    if (size < 2 + nsizes)
        return 0;
    sizes = data + 2;
    data += 2 + nsizes;
    size -= 2 + nsizes;
    max_message = LIMITS[cfg & 7];
    allow_rsv1 = cfg >> 7;

    parse_run(data, size, NULL, 0, max_message, allow_rsv1, &whole);
    parse_run(data, size, sizes, nsizes ? nsizes : 0, max_message, allow_rsv1, &split);
    same_runs(&whole, &split);
    if (nsizes == 0) {
        /* no sizes given: one byte at a time */
        static const uint8_t one = 1;
        free_run(&split);
        parse_run(data, size, &one, 1, max_message, allow_rsv1, &split);
        same_runs(&whole, &split);
    }
    free_run(&whole);
    free_run(&split);

    if (cfg & 0x40)
        check_close(data, size);
    {
        /* the writer's header round-trips through the parser (masked like a client) */
        uint8_t h[WS_MAX_HEADER + 4];
        uint64_t plen = 0;
        ws_parser_t p;
        const char *o;
        size_t used, ol, n;
        for (size_t i = 0; i < 8 && i < size; i++)
            plen = plen << 8 | data[i];
        plen &= UINT64_C(0x7FFFFFFFFFFFFFFF);
        if (cfg & 0x20)
            plen &= 0xFFFF;
        n = ws_frame_header(h, WS_OP_BINARY, cfg & 1, (cfg >> 1) & 1, plen);
        FUZZ_CHECK(n == (plen <= 125 ? 2u : plen <= 0xFFFF ? 4u : 10u));
        h[1] |= 0x80;
        memset(h + n, 0xA5, 4);
        ws_parser_init(&p, 0, 1);
        FUZZ_CHECK(ws_parse(&p, (char *)h, n + 4, &used, &o, &ol) == WS_PARSE_HEADER);
        FUZZ_CHECK(used == n + 4 && p.length == plen && p.fin == (cfg & 1) && p.rsv1 == ((cfg >> 1) & 1));
    }
    return 0;
}
