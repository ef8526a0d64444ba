/* sources: socketify_cy/native/proxy_protocol.c */
/*
 * Unit tests for the PROXY protocol preamble parser (v1 text, v2 binary).
 * Every input is copied into a heap buffer of exactly its length so that
 * AddressSanitizer catches any read past the end; every accepted preamble
 * is also fed byte by byte and at every split.
 */
#include "proxy_protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- helpers -------------------------------------------------------------- */

static int parse_n(const char *s, size_t len, size_t *consumed, proxy_addr_t *out)
{
    char *b = malloc(len ? len : 1);
    int r;
    if (!b) {
        perror("malloc");
        exit(2);
    }
    memcpy(b, s, len);
    r = proxy_parse(b, len, consumed, out);
    free(b);
    return r;
}

static const proxy_addr_t POISON = {0xAB, {0xAB}, {0xAB}, 0xABAB, 0xABAB};

/* The parse of s[0..len) must give `expect`; a non-DONE answer leaves
 * *out alone and *consumed at 0. */
static int parse_expect(const char *s, size_t len, int expect, size_t *consumed, proxy_addr_t *out)
{
    int r;
    memcpy(out, &POISON, sizeof(POISON));
    *consumed = 999;
    r = parse_n(s, len, consumed, out);
    if (r != expect)
        fprintf(stderr, "[%s] len %zu: got %d, expected %d\n", g_test, len, r, expect);
    CHECK(r == expect);
    if (r != PROXY_DONE) {
        CHECK(*consumed == 0);
        CHECK(memcmp(out, &POISON, sizeof(POISON)) == 0);
    }
    return r;
}

/* A valid preamble: every proper prefix is INCOMPLETE, the whole is DONE
 * with consumed == plen, and trailing bytes do not change the answer.
 * Also fed the way a connection would: one byte more per call. */
static void expect_done(const char *s, size_t plen, proxy_addr_t *out)
{
    char *withtail;
    size_t k, consumed;
    proxy_addr_t a;
    for (k = 0; k < plen; k++)
        parse_expect(s, k, PROXY_INCOMPLETE, &consumed, &a);
    parse_expect(s, plen, PROXY_DONE, &consumed, out);
    CHECK(consumed == plen);
    withtail = malloc(plen + 20);
    if (!withtail)
        exit(2);
    memcpy(withtail, s, plen);
    memcpy(withtail + plen, "GET / HTTP/1.1\r\n\r\n\0X", 20);
    parse_expect(withtail, plen + 20, PROXY_DONE, &consumed, &a);
    CHECK(consumed == plen);
    CHECK(memcmp(&a, out, sizeof(a)) == 0);
    free(withtail);
}

static void expect_done_str(const char *s, proxy_addr_t *out) { expect_done(s, strlen(s), out); }

/* An invalid preamble: ERROR for the whole input; every prefix is
 * INCOMPLETE up to the first byte that proves it wrong (bad_at, the
 * length of the shortest failing prefix), ERROR from there on. */
static void expect_error_at(const char *s, size_t len, size_t bad_at)
{
    size_t k, consumed;
    proxy_addr_t a;
    for (k = 0; k <= len; k++)
        parse_expect(s, k, k < bad_at ? PROXY_INCOMPLETE : PROXY_ERROR, &consumed, &a);
}

static const uint8_t V4_LOOP[4] = {127, 0, 0, 1};

/* family 0: every field zero */
static int is_zero_addr(const proxy_addr_t *a)
{
    static const uint8_t z[16];
    return a->family == 0 && memcmp(a->src_ip, z, 16) == 0 && memcmp(a->dst_ip, z, 16) == 0 && a->src_port == 0 &&
           a->dst_port == 0;
}

/* ---- v1: accepted --------------------------------------------------------- */

static void t_v1_tcp4(void)
{
    proxy_addr_t a;
    const uint8_t src[4] = {192, 168, 0, 1}, dst[4] = {10, 0, 0, 254};
    expect_done_str("PROXY TCP4 192.168.0.1 10.0.0.254 56324 443\r\n", &a);
    CHECK(a.family == 4);
    CHECK(memcmp(a.src_ip, src, 4) == 0 && memcmp(a.dst_ip, dst, 4) == 0);
    CHECK(a.src_port == 56324 && a.dst_port == 443);
    CHECK(a.src_ip[4] == 0 && a.dst_ip[15] == 0);
}

static void t_v1_tcp4_edges(void)
{
    proxy_addr_t a;
    const uint8_t all[4] = {255, 255, 255, 255}, zero[4] = {0, 0, 0, 0};
    expect_done_str("PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n", &a);
    CHECK(a.family == 4 && memcmp(a.src_ip, all, 4) == 0 && memcmp(a.dst_ip, zero, 4) == 0);
    CHECK(a.src_port == 65535 && a.dst_port == 0);
    expect_done_str("PROXY TCP4 127.0.0.1 127.0.0.1 10 9\r\n", &a);
    CHECK(memcmp(a.src_ip, V4_LOOP, 4) == 0 && a.src_port == 10 && a.dst_port == 9);
}

static void t_v1_tcp6(void)
{
    proxy_addr_t a;
    const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t dst[16] = {0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0};
    expect_done_str("PROXY TCP6 2001:db8::1 fe80::1234:5678:9ABC:def0 1 65535\r\n", &a);
    CHECK(a.family == 6);
    CHECK(memcmp(a.src_ip, src, 16) == 0 && memcmp(a.dst_ip, dst, 16) == 0);
    CHECK(a.src_port == 1 && a.dst_port == 65535);
}

static void t_v1_tcp6_forms(void)
{
    proxy_addr_t a;
    const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4};
    const uint8_t any[16] = {0};
    expect_done_str("PROXY TCP6 ::ffff:1.2.3.4 :: 80 8080\r\n", &a);
    CHECK(a.family == 6 && memcmp(a.src_ip, mapped, 16) == 0 && memcmp(a.dst_ip, any, 16) == 0);
    expect_done_str("PROXY TCP6 0001:0002:0003:0004:0005:0006:0007:0008 1:2:3:4:5:6:7:: 80 80\r\n", &a);
    CHECK(a.src_ip[1] == 1 && a.src_ip[15] == 8 && a.dst_ip[13] == 7 && a.dst_ip[15] == 0);
    /* the longest addresses the spec's bound still allows */
    expect_done_str("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                    "65535 65535\r\n",
                    &a);
    CHECK(a.src_ip[0] == 0xff && a.dst_ip[15] == 0xff);
}

static void t_v1_unknown(void)
{
    proxy_addr_t a;
    expect_done_str("PROXY UNKNOWN\r\n", &a);
    CHECK(is_zero_addr(&a));
    expect_done_str("PROXY UNKNOWN ffff:f::1 whatever you like 1 2\r\n", &a);
    CHECK(is_zero_addr(&a));
    expect_done_str("PROXY UNKNOWN \r\n", &a);
    CHECK(a.family == 0);
}

static void t_v1_max_line(void)
{
    /* the spec's worst case is exactly 107 bytes; one more is refused */
    const char *s = "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                    "65535 65535\r\n";
    char long_line[140];
    proxy_addr_t a;
    size_t consumed;
    CHECK(strlen(s) == PROXY_V1_MAX_LINE);
    expect_done_str(s, &a);
    CHECK(a.family == 0);
    memset(long_line, 'x', sizeof(long_line));
    memcpy(long_line, "PROXY UNKNOWN ", 14);
    memcpy(long_line + 106, "\r\n", 2); /* a 108-byte line */
    expect_error_at(long_line, 108, 106);
    /* no CR in the first 106 bytes: CRLF can no longer fit */
    parse_expect(long_line, 106, PROXY_ERROR, &consumed, &a);
    parse_expect(long_line, 105, PROXY_INCOMPLETE, &consumed, &a);
}

/* ---- v1: refused ---------------------------------------------------------- */

struct bad_case {
    const char *name;
    const char *s;
    size_t bad_at; /* length of the shortest prefix that is already refused */
};

static const struct bad_case V1_BAD[] = {
    {"not a preamble", "GET / HTTP/1.1\r\n\r\n", 1},
    {"POST", "POST / HTTP/1.1\r\n\r\n", 2},
    {"lower case", "proxy TCP4 1.2.3.4 1.2.3.4 1 2\r\n", 1},
    {"HTTP method PROXY", "PROXY / HTTP/1.1\r\n\r\n", 7},
    {"no space after PROXY", "PROXYTCP4 1.2.3.4 1.2.3.4 1 2\r\n", 6},
    {"two spaces after PROXY", "PROXY  TCP4 1.2.3.4 1.2.3.4 1 2\r\n", 7},
    {"unknown protocol", "PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n", 10},
    {"lower-case protocol", "PROXY tcp4 1.2.3.4 1.2.3.4 1 2\r\n", 7},
    {"UDP4", "PROXY UDP4 1.2.3.4 1.2.3.4 1 2\r\n", 8},
    {"UNKNOWN glued", "PROXY UNKNOWNX\r\n", 14},
    {"UNKNOWN control byte", "PROXY UNKNOWN a\tb\r\n", 16},
    {"UNKNOWN high byte", "PROXY UNKNOWN a\xc3\xa9\r\n", 16},
    {"bare protocol", "PROXY TCP4\r\n", 11},
    {"two spaces between fields", "PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n", 20},
    {"tab separator", "PROXY TCP4\t1.2.3.4 1.2.3.4 1 2\r\n", 11},
    {"trailing space", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 \r\n", 31},
    {"fifth field", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2 3\r\n", 31},
    {"missing port", "PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n", 29},
    {"missing dst", "PROXY TCP4 1.2.3.4 1 2\r\n", 21},
    {"octet 256", "PROXY TCP4 1.2.3.256 1.2.3.4 1 2\r\n", 20},
    {"octet leading zero", "PROXY TCP4 1.2.03.4 1.2.3.4 1 2\r\n", 17},
    {"octet 00", "PROXY TCP4 00.2.3.4 1.2.3.4 1 2\r\n", 13},
    {"three octets", "PROXY TCP4 1.2.3 1.2.3.4 1 2\r\n", 17},
    {"five octets", "PROXY TCP4 1.2.3.4.5 1.2.3.4 1 2\r\n", 19},
    {"empty octet", "PROXY TCP4 1..3.4 1.2.3.4 1 2\r\n", 14},
    {"four-digit octet", "PROXY TCP4 1.2.3.1000 1.2.3.4 1 2\r\n", 21},
    {"IPv4 field longer than any address", "PROXY TCP4 1.2.3.45678901234567 1.2.3.4 1 2\r\n", 20},
    {"IPv6 field longer than any address", "PROXY TCP6 1:2:3:4:5:6:7:8000000000000000000000000000000000000 ::1 1 2\r\n", 30},
    {"IPv6 in TCP4", "PROXY TCP4 ::1 1.2.3.4 1 2\r\n", 12},
    {"IPv4 in TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", 13},
    {"IPv6 too many groups", "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", 27},
    {"IPv6 two double colons", "PROXY TCP6 1::2::3 ::1 1 2\r\n", 17},
    {"IPv6 five hex digits", "PROXY TCP6 12345:: ::1 1 2\r\n", 16},
    {"IPv6 zone id", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", 19},
    {"IPv6 bad v4 tail", "PROXY TCP6 ::ffff:1.2.3.256 ::1 1 2\r\n", 27},
    {"port 65536", "PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n", 32},
    {"port six digits", "PROXY TCP4 1.2.3.4 1.2.3.4 1 100000\r\n", 35},
    {"port leading zero", "PROXY TCP4 1.2.3.4 1.2.3.4 080 2\r\n", 29},
    {"port plus sign", "PROXY TCP4 1.2.3.4 1.2.3.4 +80 2\r\n", 28},
    {"port minus sign", "PROXY TCP4 1.2.3.4 1.2.3.4 -1 2\r\n", 28},
    {"port hex", "PROXY TCP4 1.2.3.4 1.2.3.4 0x50 2\r\n", 29},
    {"LF only", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\n", 31},
    {"CR without LF", "PROXY TCP4 1.2.3.4 1.2.3.4 1 2\rX", 32},
    {"CR inside", "PROXY TCP4 1.2.3.4\r\n 1.2.3.4 1 2\r\n", 19},
    {"CRLF CRLF", "PROXY UNKNOWN\r\r\n", 15},
    {"v2 signature cut", "\r\n\r\n\0\r\nQUIX", 11},
};

static void t_v1_bad_table(void)
{
    size_t i;
    for (i = 0; i < sizeof(V1_BAD) / sizeof(V1_BAD[0]); i++) {
        const char *s = V1_BAD[i].s;
        size_t len = strlen(s);
        if (s[0] == '\r')
            len = 12; /* the v2 row holds a NUL */
        begin(V1_BAD[i].name);
        expect_error_at(s, len, V1_BAD[i].bad_at);
        finish();
    }
}

static void t_v1_nul_in_field(void)
{
    static const char s[] = "PROXY TCP6 ::1\0 ::1 1 2\r\n";
    static const char t[] = "PROXY UNKNOWN \0\r\n";
    expect_error_at(s, sizeof(s) - 1, 15);
    expect_error_at(t, sizeof(t) - 1, 15);
}

static void t_v1_length_bound(void)
{
    /* Two long IPv4-mapped IPv6 addresses are each valid, but the line
     * cannot end within 107 bytes: refused before the CRLF arrives. */
    const char *s = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
                    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 1 1\r\n";
    size_t consumed;
    proxy_addr_t a;
    /* "PROXY TCP6 " 11 + 45 + 1 + 45 = 102; then " 0 0\r\n" needs 6 more */
    parse_expect(s, 101, PROXY_INCOMPLETE, &consumed, &a); /* dst could still end shorter */
    parse_expect(s, 102, PROXY_ERROR, &consumed, &a);
    parse_expect(s, strlen(s), PROXY_ERROR, &consumed, &a);
    /* a 45-character src still leaves room */
    expect_done_str("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 ::1 1 1\r\n", &a);
    CHECK(a.src_ip[12] == 255 && a.dst_ip[15] == 1);
}

static void t_v1_prefix_viability(void)
{
    /* prefixes that can still become valid stay INCOMPLETE */
    static const char *const ok[] = {
        "P", "PROXY", "PROXY ", "PROXY T", "PROXY TCP", "PROXY U", "PROXY UNKNOWN", "PROXY TCP4 ",
        "PROXY TCP4 1", "PROXY TCP4 1.", "PROXY TCP4 255.255.255.25", "PROXY TCP4 1.2.3.4 0",
        "PROXY TCP4 1.2.3.4 5.6.7.8 0", "PROXY TCP4 1.2.3.4 5.6.7.8 0 6553", "PROXY TCP6 :",
        "PROXY TCP6 1:2:3:4:5:6:", "PROXY TCP6 1:2:3:4:5:6:7", "PROXY TCP6 ::ffff:1.", "PROXY TCP6 ::ffff:1.2.3",
        "PROXY TCP6 1::2:3:4:5:6:", "PROXY TCP4 1.2.3.4 5.6.7.8 0 0\r", "PROXY UNKNOWN\r",
    };
    /* prefixes that already cannot */
    static const char *const bad[] = {
        "PROXY TCP4 1.2.3.4 5.6.7.8 0 0 ", "PROXY TCP6 1::2:3:4:5:6:7:", "PROXY TCP6 1:2:3:4:5:6:7:8:",
        "PROXY TCP6 :::", "PROXY TCP4 1.2.3.4.", "PROXY TCP4 1.2.3.4 5.6.7.8 0\r", "PROXY TCP6 ::ffff:256.",
    };
    size_t i, consumed;
    proxy_addr_t a;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (parse_expect(ok[i], strlen(ok[i]), PROXY_INCOMPLETE, &consumed, &a) != PROXY_INCOMPLETE)
            fprintf(stderr, "  prefix: %s\n", ok[i]);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse_expect(bad[i], strlen(bad[i]), PROXY_ERROR, &consumed, &a) != PROXY_ERROR)
            fprintf(stderr, "  prefix: %s\n", bad[i]);
    }
}

/* ---- v2 ------------------------------------------------------------------- */

static const char SIG[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

/* Build a v2 preamble: header, then `block` bytes given by body. */
static size_t v2(char *out, uint8_t ver_cmd, uint8_t fam, size_t block_len, const void *body, size_t body_len)
{
    memcpy(out, SIG, 12);
    out[12] = (char)ver_cmd;
    out[13] = (char)fam;
    out[14] = (char)(block_len >> 8);
    out[15] = (char)(block_len & 0xFF);
    memcpy(out + 16, body, body_len);
    return 16 + body_len;
}

static const uint8_t V4_BLOCK[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0xC0, 0x01, 0x01, 0xBB};

static uint8_t V6_BLOCK[36];
static uint8_t UNIX_BLOCK[216];
static char BUF[8192];

static void init_blocks(void)
{
    size_t i;
    for (i = 0; i < 16; i++) {
        V6_BLOCK[i] = (uint8_t)(0x20 + i);
        V6_BLOCK[16 + i] = (uint8_t)(0xF0 - i);
    }
    V6_BLOCK[32] = 0x00;
    V6_BLOCK[33] = 0x50;
    V6_BLOCK[34] = 0xFF;
    V6_BLOCK[35] = 0xFE;
    memcpy(UNIX_BLOCK, "/run/client.sock", 16);
    memcpy(UNIX_BLOCK + 108, "/run/server.sock", 16);
}

static void t_v2_proxy_v4(void)
{
    proxy_addr_t a;
    size_t n = v2(BUF, 0x21, 0x11, 12, V4_BLOCK, 12);
    expect_done(BUF, n, &a);
    CHECK(a.family == 4);
    CHECK(memcmp(a.src_ip, V4_BLOCK, 4) == 0 && memcmp(a.dst_ip, V4_BLOCK + 4, 4) == 0);
    CHECK(a.src_port == 0xC001 && a.dst_port == 443);
    CHECK(a.src_ip[4] == 0 && a.dst_ip[15] == 0);
}

static void t_v2_proxy_v6(void)
{
    proxy_addr_t a;
    size_t n = v2(BUF, 0x21, 0x21, 36, V6_BLOCK, 36);
    expect_done(BUF, n, &a);
    CHECK(a.family == 6);
    CHECK(memcmp(a.src_ip, V6_BLOCK, 16) == 0 && memcmp(a.dst_ip, V6_BLOCK + 16, 16) == 0);
    CHECK(a.src_port == 80 && a.dst_port == 0xFFFE);
}

static void t_v2_tlvs(void)
{
    /* ALPN "h2", a NOOP with an empty value, an AUTHORITY TLV */
    uint8_t body[12 + 5 + 3 + 14];
    proxy_addr_t a;
    size_t n;
    memcpy(body, V4_BLOCK, 12);
    memcpy(body + 12, "\x01\x00\x02h2", 5);
    memcpy(body + 17, "\x04\x00\x00", 3);
    memcpy(body + 20, "\x02\x00\x0b" "example.com", 14);
    n = v2(BUF, 0x21, 0x11, sizeof(body), body, sizeof(body));
    expect_done(BUF, n, &a);
    CHECK(a.family == 4 && a.dst_port == 443);

    /* v6 with one TLV */
    {
        uint8_t b6[36 + 7];
        memcpy(b6, V6_BLOCK, 36);
        memcpy(b6 + 36, "\xEE\x00\x04" "abcd", 7);
        n = v2(BUF, 0x21, 0x21, sizeof(b6), b6, sizeof(b6));
        expect_done(BUF, n, &a);
        CHECK(a.family == 6 && a.src_port == 80);
    }
}

static void t_v2_local(void)
{
    proxy_addr_t a;
    size_t n = v2(BUF, 0x20, 0x00, 0, "", 0);
    expect_done(BUF, n, &a);
    CHECK(is_zero_addr(&a));
    /* LOCAL ignores the family byte and the block, whatever they are */
    n = v2(BUF, 0x20, 0x11, 12, V4_BLOCK, 12);
    expect_done(BUF, n, &a);
    CHECK(is_zero_addr(&a));
    n = v2(BUF, 0x20, 0x12, 3, "\xFF\xFF\xFF", 3); /* DGRAM, odd block: ignored */
    expect_done(BUF, n, &a);
    CHECK(a.family == 0);
    n = v2(BUF, 0x20, 0xFF, 0, "", 0);
    expect_done(BUF, n, &a);
    CHECK(a.family == 0);
}

static void t_v2_unix_unspec(void)
{
    proxy_addr_t a;
    uint8_t body[216 + 5];
    size_t n = v2(BUF, 0x21, 0x31, 216, UNIX_BLOCK, 216);
    expect_done(BUF, n, &a);
    CHECK(a.family == 0 && a.src_port == 0 && a.src_ip[0] == 0);
    memcpy(body, UNIX_BLOCK, 216);
    memcpy(body + 216, "\x03\x00\x02zz", 5);
    n = v2(BUF, 0x21, 0x31, sizeof(body), body, sizeof(body));
    expect_done(BUF, n, &a);
    CHECK(a.family == 0);
    /* UNSPEC: block skipped without looking */
    n = v2(BUF, 0x21, 0x00, 0, "", 0);
    expect_done(BUF, n, &a);
    CHECK(a.family == 0);
    n = v2(BUF, 0x21, 0x00, 3, "\xFF\xFF\xFF", 3);
    expect_done(BUF, n, &a);
    CHECK(a.family == 0);
}

static void t_v2_max_size(void)
{
    static uint8_t body[PROXY_MAX_PREAMBLE];
    proxy_addr_t a;
    size_t n, consumed, block = PROXY_MAX_PREAMBLE - 16;
    /* one TLV filling the block up to the limit */
    memset(body, 'v', sizeof(body));
    memcpy(body, V4_BLOCK, 12);
    body[12] = 0x05;
    body[13] = (uint8_t)((block - 15) >> 8);
    body[14] = (uint8_t)((block - 15) & 0xFF);
    n = v2(BUF, 0x21, 0x11, block, body, block);
    CHECK(n == PROXY_MAX_PREAMBLE);
    parse_expect(BUF, n - 1, PROXY_INCOMPLETE, &consumed, &a);
    parse_expect(BUF, n, PROXY_DONE, &consumed, &a);
    CHECK(consumed == PROXY_MAX_PREAMBLE && a.family == 4);
    /* one byte more is refused as soon as the length field is read */
    v2(BUF, 0x21, 0x11, block + 1, body, block);
    expect_error_at(BUF, 16, 16);
    v2(BUF, 0x20, 0x00, 0xFFFF, "", 0);
    expect_error_at(BUF, 16, 16);
}

struct v2_bad {
    const char *name;
    uint8_t ver_cmd, fam;
    size_t block_len;
    const char *body;
    size_t body_len;
    size_t bad_at;
};

static const struct v2_bad V2_BAD[] = {
    {"version 1", 0x11, 0x11, 12, "", 0, 13},
    {"version 3", 0x31, 0x11, 12, "", 0, 13},
    {"version 0", 0x01, 0x11, 12, "", 0, 13},
    {"command 2", 0x22, 0x11, 12, "", 0, 13},
    {"command F", 0x2F, 0x11, 12, "", 0, 13},
    {"TCP4 DGRAM", 0x21, 0x12, 12, "", 0, 14},
    {"TCP6 DGRAM", 0x21, 0x22, 36, "", 0, 14},
    {"UNIX DGRAM", 0x21, 0x32, 216, "", 0, 14},
    {"family 4", 0x21, 0x41, 12, "", 0, 14},
    {"transport 3", 0x21, 0x13, 12, "", 0, 14},
    {"INET UNSPEC transport", 0x21, 0x10, 12, "", 0, 14},
    {"UNSPEC STREAM", 0x21, 0x01, 0, "", 0, 14},
    {"v4 block short", 0x21, 0x11, 11, "", 0, 16},
    {"v4 block zero", 0x21, 0x11, 0, "", 0, 16},
    {"v6 block short", 0x21, 0x21, 35, "", 0, 16},
    {"unix block short", 0x21, 0x31, 215, "", 0, 16},
    {"TLV header cut by block end", 0x21, 0x11, 14, "123456789012\x01\x00", 14, 16},
    {"one stray byte after address", 0x21, 0x11, 13, "123456789012\x01", 13, 16},
    {"TLV value overruns block", 0x21, 0x11, 17, "123456789012\x01\x00\x03zz", 17, 31},
    {"second TLV overruns", 0x21, 0x11, 20, "123456789012\x01\x00\x00\x02\x00\x09zz", 20, 34},
};

static void t_v2_bad_table(void)
{
    size_t i;
    for (i = 0; i < sizeof(V2_BAD) / sizeof(V2_BAD[0]); i++) {
        const struct v2_bad *c = &V2_BAD[i];
        size_t n = v2(BUF, c->ver_cmd, c->fam, c->block_len, c->body, c->body_len);
        begin(c->name);
        expect_error_at(BUF, n, c->bad_at);
        finish();
    }
}

static void t_v2_incomplete_block(void)
{
    /* a promised block that never comes stays INCOMPLETE (the caller's
     * timeout ends it), and so does a TLV whose value is still arriving */
    size_t n = v2(BUF, 0x21, 0x11, 12 + 3 + 100, V4_BLOCK, 12), k, consumed;
    proxy_addr_t a;
    memcpy(BUF + n, "\x07\x00\x64", 3);
    n += 3;
    for (k = 0; k <= n; k++)
        parse_expect(BUF, k, PROXY_INCOMPLETE, &consumed, &a);
}

/* ---- feeding at every split --------------------------------------------- */

/* The way a connection feeds it: the buffer grows by pieces; the first
 * answer that is not INCOMPLETE must equal the one-shot answer. */
static void t_every_split(void)
{
    const char *v1 = "PROXY TCP6 2001:db8::1 ::ffff:10.0.0.1 1234 80\r\nGET";
    size_t n2, len, cut1, cut2, consumed, c2;
    proxy_addr_t whole, a;
    uint8_t body[12 + 5];
    const char *inputs[2];
    size_t lens[2];
    int i;
    memcpy(body, V4_BLOCK, 12);
    memcpy(body + 12, "\x01\x00\x02h2", 5);
    n2 = v2(BUF, 0x21, 0x11, sizeof(body), body, sizeof(body));
    memcpy(BUF + n2, "GET", 3);
    inputs[0] = v1;
    lens[0] = strlen(v1);
    inputs[1] = BUF;
    lens[1] = n2 + 3;
    for (i = 0; i < 2; i++) {
        len = lens[i];
        CHECK(parse_n(inputs[i], len, &consumed, &whole) == PROXY_DONE);
        for (cut1 = 0; cut1 <= len; cut1++) {
            for (cut2 = cut1; cut2 <= len; cut2++) {
                const size_t ends[3] = {cut1, cut2, len};
                int r = PROXY_INCOMPLETE, j;
                for (j = 0; j < 3 && r == PROXY_INCOMPLETE; j++)
                    r = parse_n(inputs[i], ends[j], &c2, &a);
                CHECK(r == PROXY_DONE && c2 == consumed && memcmp(&a, &whole, sizeof(a)) == 0);
            }
        }
    }
}

/* ---- proxy_looks_like_preamble -------------------------------------------- */

static void t_looks_like(void)
{
    char v2buf[16];
    CHECK(proxy_looks_like_preamble("PROXY TCP4 1.2.3.4 1.2.3.4 1 2\r\n", 32) == 1);
    CHECK(proxy_looks_like_preamble("PROXY TCP6 ::1", 14) == 1);
    CHECK(proxy_looks_like_preamble("PROXY UNKNOWN\r\n", 15) == 1);
    CHECK(proxy_looks_like_preamble("PROXY TCP", 9) == 1);
    CHECK(proxy_looks_like_preamble("P", 1) == 1); /* could be, could be POST: caller waits */
    CHECK(proxy_looks_like_preamble("", 0) == 0);
    CHECK(proxy_looks_like_preamble("PROXY / HTTP/1.1\r\n", 18) == 0);
    CHECK(proxy_looks_like_preamble("POST / HTTP/1.1\r\n", 17) == 0);
    CHECK(proxy_looks_like_preamble("GET / HTTP/1.1\r\n", 16) == 0);
    CHECK(proxy_looks_like_preamble("PROXY TCP5 ", 11) == 0);
    CHECK(proxy_looks_like_preamble("PROXY TCP4\t", 11) == 0);
    v2(v2buf, 0x21, 0x11, 12, "", 0);
    CHECK(proxy_looks_like_preamble(v2buf, 16) == 1);
    CHECK(proxy_looks_like_preamble(v2buf, 12) == 1);
    CHECK(proxy_looks_like_preamble(v2buf, 5) == 1);
    CHECK(proxy_looks_like_preamble("\r\n\r\nGET", 7) == 0);
    CHECK(proxy_looks_like_preamble("\r\nGET / HTTP/1.1", 16) == 0);
}

/* ---- main ------------------------------------------------------------------ */

int main(void)
{
    init_blocks();
    run("v1 TCP4", t_v1_tcp4);
    run("v1 TCP4 edges", t_v1_tcp4_edges);
    run("v1 TCP6", t_v1_tcp6);
    run("v1 TCP6 forms", t_v1_tcp6_forms);
    run("v1 UNKNOWN", t_v1_unknown);
    run("v1 max line", t_v1_max_line);
    t_v1_bad_table();
    run("v1 NUL in field", t_v1_nul_in_field);
    run("v1 length bound", t_v1_length_bound);
    run("v1 prefix viability", t_v1_prefix_viability);
    run("v2 PROXY v4", t_v2_proxy_v4);
    run("v2 PROXY v6", t_v2_proxy_v6);
    run("v2 TLVs", t_v2_tlvs);
    run("v2 LOCAL", t_v2_local);
    run("v2 UNIX and UNSPEC", t_v2_unix_unspec);
    run("v2 max size", t_v2_max_size);
    t_v2_bad_table();
    run("v2 incomplete block", t_v2_incomplete_block);
    run("every split", t_every_split);
    run("looks like preamble", t_looks_like);
    return report();
}
