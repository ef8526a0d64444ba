/*
 * libFuzzer target for socketify_cy/native/proxy_protocol.c.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isocketify_cy/native \
 *       socketify_cy/native/proxy_protocol.c tests/fuzz/fuzz_proxy_protocol.c -o /tmp/fuzz_proxy
 *   /tmp/fuzz_proxy -max_len=4200 /tmp/corpus_proxy tests/fuzz/corpus_proxy
 * Build without libFuzzer (runs the files named on the command line):
 *   gcc -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE -Isocketify_cy/native \
 *       socketify_cy/native/proxy_protocol.c tests/fuzz/fuzz_proxy_protocol.c -o /tmp/fuzz_proxy
 *
 * Input layout: the low 3 bits of byte 0 say how many piece-size bytes
 * follow (0-7); the rest is the stream. The stream is parsed in one call,
 * at (nearly) every prefix, and fed the way a connection would feed it,
 * the buffer growing by the fuzz-chosen piece sizes; all must agree.
 */
#include "proxy_protocol.h"
#include "fuzz_common.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static const char SIG[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};
static const uint8_t ZERO[16];

struct result {
    int r;
    size_t consumed;
    proxy_addr_t out;
};

/* Parse a copy of data[0..len) in a buffer of exactly that size; a
 * non-DONE answer must leave consumed at 0 and out untouched. */
static void parse_copy(const uint8_t *data, size_t len, struct result *res)
{
    char *b = malloc(len ? len : 1);
    proxy_addr_t poison;
    if (!b)
        abort();
    memcpy(b, data, len);
    memset(&poison, 0xA5, sizeof(poison));
    memcpy(&res->out, &poison, sizeof(poison));
    res->consumed = 4242;
    res->r = proxy_parse(b, len, &res->consumed, &res->out);
    FUZZ_CHECK(res->r == PROXY_DONE || res->r == PROXY_INCOMPLETE || res->r == PROXY_ERROR);
    if (res->r != PROXY_DONE) {
        FUZZ_CHECK(res->consumed == 0);
        FUZZ_CHECK(memcmp(&res->out, &poison, sizeof(poison)) == 0);
    }
    if (res->r != PROXY_ERROR && len > 0)
        FUZZ_CHECK(proxy_looks_like_preamble(b, len) == 1);
    free(b);
}

static int same(const struct result *a, const struct result *b)
{
    return a->r == b->r && a->consumed == b->consumed &&
           (a->r != PROXY_DONE || memcmp(&a->out, &b->out, sizeof(a->out)) == 0);
}

static size_t be16(const uint8_t *p) { return ((size_t)p[0] << 8) | p[1]; }

/* A v1 result, written back in canonical text, must parse to the same. */
static void check_v1_roundtrip(const proxy_addr_t *a)
{
    char line[256], s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    int af = a->family == 4 ? AF_INET : AF_INET6, n;
    struct result again;
    FUZZ_CHECK(inet_ntop(af, a->src_ip, s, sizeof(s)) && inet_ntop(af, a->dst_ip, d, sizeof(d)));
    n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n", a->family == 4 ? '4' : '6', s, d,
                 (unsigned)a->src_port, (unsigned)a->dst_port);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof(line));
    parse_copy((const uint8_t *)line, (size_t)n, &again);
    if (n > PROXY_V1_MAX_LINE) {
        FUZZ_CHECK(again.r == PROXY_ERROR); /* canonical form can be longer (::ffff:a.b.c.d) */
        return;
    }
    FUZZ_CHECK(again.r == PROXY_DONE && again.consumed == (size_t)n);
    FUZZ_CHECK(memcmp(&again.out, a, sizeof(*a)) == 0);
}

/* Everything a DONE answer promises. */
static void check_done(const uint8_t *buf, size_t len, const struct result *res)
{
    const proxy_addr_t *a = &res->out;
    size_t i;
    FUZZ_CHECK(res->consumed > 0 && res->consumed <= len && res->consumed <= PROXY_MAX_PREAMBLE);
    FUZZ_CHECK(a->family == 0 || a->family == 4 || a->family == 6);
    if (a->family == 0)
        FUZZ_CHECK(memcmp(a->src_ip, ZERO, 16) == 0 && memcmp(a->dst_ip, ZERO, 16) == 0 && a->src_port == 0 &&
                   a->dst_port == 0);
    if (a->family == 4)
        FUZZ_CHECK(memcmp(a->src_ip + 4, ZERO, 12) == 0 && memcmp(a->dst_ip + 4, ZERO, 12) == 0);

    if (buf[0] == 'P') {
        FUZZ_CHECK(res->consumed >= 15 && res->consumed <= PROXY_V1_MAX_LINE); /* "PROXY UNKNOWN\r\n" */
        FUZZ_CHECK(memcmp(buf, "PROXY ", 6) == 0);
        FUZZ_CHECK(memcmp(buf + res->consumed - 2, "\r\n", 2) == 0);
        for (i = 0; i < res->consumed - 2; i++)
            FUZZ_CHECK(buf[i] >= 0x20 && buf[i] <= 0x7E);
        if (memcmp(buf + 6, "UNKNOWN", 7) == 0) {
            FUZZ_CHECK(a->family == 0);
        } else {
            FUZZ_CHECK(memcmp(buf + 6, "TCP", 3) == 0 && buf[10] == ' ');
            FUZZ_CHECK(a->family == (buf[9] == '4' ? 4 : 6) && (buf[9] == '4' || buf[9] == '6'));
            check_v1_roundtrip(a);
        }
    } else {
        FUZZ_CHECK(memcmp(buf, SIG, 12) == 0);
        FUZZ_CHECK(res->consumed == 16 + be16(buf + 14));
        FUZZ_CHECK((buf[12] & 0xF0) == 0x20 && (buf[12] & 0x0F) <= 1);
        if ((buf[12] & 0x0F) == 0) {
            FUZZ_CHECK(a->family == 0);
        } else if (buf[13] == 0x11) {
            FUZZ_CHECK(a->family == 4 && res->consumed >= 28);
            FUZZ_CHECK(memcmp(a->src_ip, buf + 16, 4) == 0 && memcmp(a->dst_ip, buf + 20, 4) == 0);
            FUZZ_CHECK(a->src_port == be16(buf + 24) && a->dst_port == be16(buf + 26));
        } else if (buf[13] == 0x21) {
            FUZZ_CHECK(a->family == 6 && res->consumed >= 52);
            FUZZ_CHECK(memcmp(a->src_ip, buf + 16, 16) == 0 && memcmp(a->dst_ip, buf + 32, 16) == 0);
            FUZZ_CHECK(a->src_port == be16(buf + 48) && a->dst_port == be16(buf + 50));
        } else {
            FUZZ_CHECK(a->family == 0 && (buf[13] == 0x31 || buf[13] == 0x00));
            FUZZ_CHECK(buf[13] == 0x00 || res->consumed >= 16 + 216);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size)
{
    const uint8_t *sizes, *stream;
    size_t nsizes, len, k, step, limit, fed, si;
    struct result whole, part;

    if (size < 1)
        return 0;
    nsizes = input[0] & 7;
    if (size < 1 + nsizes)
        return 0;
    sizes = input + 1;
    stream = input + 1 + nsizes;
    len = size - 1 - nsizes;

    parse_copy(stream, len, &whole);
    if (whole.r == PROXY_DONE)
        check_done(stream, len, &whole);
    if (whole.r == PROXY_INCOMPLETE) {
        /* more bytes can only be needed below the size bounds */
        FUZZ_CHECK(len < PROXY_MAX_PREAMBLE);
        if (len > 0 && stream[0] == 'P')
            FUZZ_CHECK(len < PROXY_V1_MAX_LINE);
        if (len >= 16 && stream[0] == '\r')
            FUZZ_CHECK(len < 16 + be16(stream + 14));
    }

    /* every prefix: INCOMPLETE, or already the final answer */
    limit = whole.r == PROXY_DONE ? whole.consumed + 1 : len + 1;
    if (limit > len + 1)
        limit = len + 1;
    step = limit > 300 ? 1 + (size % 53) : 1; /* bounded cost on long inputs */
    for (k = 0; k < limit; k += step) {
        parse_copy(stream, k, &part);
        if (whole.r == PROXY_DONE && k < whole.consumed)
            FUZZ_CHECK(part.r == PROXY_INCOMPLETE);
        else
            FUZZ_CHECK(part.r == PROXY_INCOMPLETE || same(&part, &whole));
    }

    /* fed in fuzz-chosen pieces: the first decisive answer is the one-shot one */
    fed = 0;
    si = 0;
    part.r = PROXY_INCOMPLETE;
    while (fed < len && part.r == PROXY_INCOMPLETE) {
        size_t piece = nsizes ? (size_t)sizes[si++ % nsizes] : len;
        if (piece == 0)
            piece = 1;
        if (piece > len - fed)
            piece = len - fed;
        fed += piece;
        parse_copy(stream, fed, &part);
    }
    if (len == 0)
        parse_copy(stream, 0, &part);
    FUZZ_CHECK(same(&part, &whole));
    return 0;
}

