/* sources: socketify_cy/native/permessage_deflate.c | libs: -lz */
/*
 * Standalone tests for permessage-deflate: negotiation answers for a table of
 * offers and options (exact response strings), the codec against RFC 7692's
 * examples, round trips with and without context takeover, the output cap
 * against a deflate bomb, corrupt and truncated input.
 */
#include "permessage_deflate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define RUN(fn) run(#fn, fn)

/* CompressOptions values (socketify names) */
#define SC 0x001   /* SHARED_COMPRESSOR */
#define SD 0x100   /* SHARED_DECOMPRESSOR */
#define DC 0x0F8   /* DEDICATED_COMPRESSOR (256KB: window 15, memLevel 8) */
#define DD 0xF00   /* DEDICATED_DECOMPRESSOR (32KB: window 15) */
#define DC3K 0x091 /* DEDICATED_COMPRESSOR_3KB: window 9, memLevel 1 */
#define DC8K 0x0A3 /* DEDICATED_COMPRESSOR_8KB: window 10, memLevel 3 */
#define DD512 0x900
#define DD1K 0xA00

/* ------------------------------------------------------------ options */

static void test_options_valid(void)
{
    static const unsigned good[] = {0,     SC,    SD,    SC | SD, DC | DD, 0x091, 0x092, 0x0A3, 0x0B4,
                                    0x0C5, 0x0D6, 0x0E7, 0x0F8,   0x900,   0xA00, 0xB00, 0xC00, 0xD00,
                                    0xE00, 0xF00, 0x991, 0x1F8,   0xF01};
    static const unsigned bad[] = {0x002, 0x010, 0x090, 0x093, 0x0A2, 0x0F7, 0x0F9, 0x081, 0x0FF,
                                   0x200, 0x800, 0x300, 0x1000, 0x10000, 0xF0F8, 0x8000000u};
    size_t i;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(pmd_options_valid(good[i]));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (pmd_options_valid(bad[i]))
            fprintf(stderr, "accepted 0x%x\n", bad[i]);
        CHECK(!pmd_options_valid(bad[i]));
    }
}

/* ------------------------------------------------------------ negotiation */

typedef struct neg_case_s {
    const char *offer;
    unsigned options;
    const char *response; /* NULL: declined */
    int deflate_window, deflate_shared, inflate_window, inflate_shared;
} neg_case_t;

#define CHROME "permessage-deflate; client_max_window_bits"
#define FIREFOX "permessage-deflate"
#define R "permessage-deflate"
#define SNCT "; server_no_context_takeover"
#define CNCT "; client_no_context_takeover"

static const neg_case_t NEG[] = {
    /* browsers' offers against the usual options */
    {CHROME, SC, R SNCT CNCT, 1, 1, 15, 1},
    {CHROME, SC | SD, R SNCT CNCT, 1, 1, 15, 1},
    {CHROME, DC | DD, R, 15, 0, 15, 0},
    {CHROME, DC | SD, R CNCT, 15, 0, 15, 1},
    {CHROME, DC3K | DD512, R "; server_max_window_bits=9; client_max_window_bits=9", 9, 0, 9, 0},
    {CHROME, DC8K | DD1K, R "; server_max_window_bits=10; client_max_window_bits=10", 10, 0, 10, 0},
    {FIREFOX, DC | DD, R, 15, 0, 15, 0},
    {FIREFOX, SC, R SNCT CNCT, 1, 1, 15, 1},
    /* no client_max_window_bits: a small dedicated decompressor cannot limit it */
    {FIREFOX, DC3K | DD512, R CNCT "; server_max_window_bits=9", 9, 0, 15, 1},
    /* decompressor only: we accept but never compress */
    {FIREFOX, DD, R, 0, 0, 15, 0},
    {FIREFOX, SD, R CNCT, 0, 0, 15, 1},
    {CHROME, DD1K, R "; client_max_window_bits=10", 0, 0, 10, 0},
    {R "; server_no_context_takeover; server_max_window_bits=10", DD,
     R SNCT "; server_max_window_bits=10", 0, 1, 15, 0},
    /* the client's wishes about our compressor */
    {R "; server_no_context_takeover", DC | DD, R SNCT, 15, 1, 15, 0},
    {R "; server_max_window_bits=10", DC | DD, R "; server_max_window_bits=10", 10, 0, 15, 0},
    {R "; server_max_window_bits=12", DC8K | DD, R "; server_max_window_bits=10", 10, 0, 15, 0},
    {R "; server_max_window_bits=15", DC | DD, R "; server_max_window_bits=15", 15, 0, 15, 0},
    {R "; server_max_window_bits=8", DC | DD, R "; server_max_window_bits=8", 0, 0, 15, 0},
    {R "; server_max_window_bits=10", SC | SD, R SNCT CNCT "; server_max_window_bits=10", 10, 1, 15, 1},
    {R "; server_max_window_bits=8", SC | SD, R SNCT CNCT "; server_max_window_bits=8", 0, 1, 15, 1},
    {R "; server_max_window_bits=15", SC, R SNCT CNCT "; server_max_window_bits=15", 1, 1, 15, 1},
    {R "; server_max_window_bits=\"10\"", DC | DD, R "; server_max_window_bits=10", 10, 0, 15, 0},
    {R "; server_max_window_bits=\"1\\0\"", DC | DD, R "; server_max_window_bits=10", 10, 0, 15, 0},
    /* the client's own compressor */
    {R "; client_max_window_bits=9", DC | DD, R "; client_max_window_bits=9", 15, 0, 9, 0},
    {R "; client_max_window_bits=\"12\"", DC | DD1K, R "; client_max_window_bits=10", 15, 0, 10, 0},
    {R "; client_max_window_bits=15", DC | DD, R, 15, 0, 15, 0},
    {R "; client_max_window_bits=8", DC | DD, R "; client_max_window_bits=8", 15, 0, 8, 0},
    {R "; client_no_context_takeover", DC | DD, R CNCT, 15, 0, 15, 1},
    {R "; client_no_context_takeover; client_max_window_bits", DC | DD512,
     R CNCT "; client_max_window_bits=9", 15, 0, 9, 1},
    {R "; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; "
       "client_max_window_bits=9",
     DC | DD, R SNCT CNCT "; server_max_window_bits=9; client_max_window_bits=9", 9, 1, 9, 1},
    /* grammar: OWS, case, empty elements, other extensions, later offers */
    {"  PerMessage-Deflate ;\tClient_Max_Window_Bits = 10 ,foo", DC | DD, R "; client_max_window_bits=10", 15, 0, 10,
     0},
    {", ,permessage-deflate,", DC | DD, R, 15, 0, 15, 0},
    {"x-webkit-deflate-frame, permessage-deflate", DC | DD, R, 15, 0, 15, 0},
    {"foo; a=\"b,c;d\", permessage-deflate", DC | DD, R, 15, 0, 15, 0},
    {R "; server_max_window_bits=16, " R "; client_max_window_bits", DC | DD, R, 15, 0, 15, 0},
    {R "; foo, " R "; server_no_context_takeover", DC | DD, R SNCT, 15, 1, 15, 0},
    {R "; server_max_window_bits=10, " R, DC | DD, R "; server_max_window_bits=10", 10, 0, 15, 0},
    /* declined */
    {"x-webkit-deflate-frame", DC | DD, NULL, 0, 0, 0, 0},
    {"x-webkit-deflate-frame; no_context_takeover", SC, NULL, 0, 0, 0, 0},
    {"", DC | DD, NULL, 0, 0, 0, 0},
    {" , ", DC | DD, NULL, 0, 0, 0, 0},
    {"permessage-deflatex", DC | DD, NULL, 0, 0, 0, 0},
    {FIREFOX, 0, NULL, 0, 0, 0, 0},
    {FIREFOX, 0x010, NULL, 0, 0, 0, 0},
    {FIREFOX, 0x2000 | DC, NULL, 0, 0, 0, 0},
    {R "; server_no_context_takeover; server_no_context_takeover", DC | DD, NULL, 0, 0, 0, 0},
    {R "; client_no_context_takeover; Client_No_Context_Takeover", DC | DD, NULL, 0, 0, 0, 0},
    {R "; client_max_window_bits; client_max_window_bits=10", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits=10; server_max_window_bits=10", DC | DD, NULL, 0, 0, 0, 0},
    {R "; foo", DC | DD, NULL, 0, 0, 0, 0},
    {R "; foo=1", SC, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits=7", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits=16", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits=010", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits=+9", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits=\"\"", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits=\"100000000000\"", DC | DD, NULL, 0, 0, 0, 0},
    {R "; client_max_window_bits=7", DC | DD, NULL, 0, 0, 0, 0},
    {R "; client_max_window_bits=abc", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_no_context_takeover=1", DC | DD, NULL, 0, 0, 0, 0},
    {R "; client_no_context_takeover=\"\"", DC | DD, NULL, 0, 0, 0, 0},
    {R "; server_max_window_bits=16, " R "; foo", DC | DD, NULL, 0, 0, 0, 0},
    /* broken grammar anywhere: declined as a whole */
    {R ";", DC | DD, NULL, 0, 0, 0, 0},
    {R "; =10", DC | DD, NULL, 0, 0, 0, 0},
    {R "; client_max_window_bits=", DC | DD, NULL, 0, 0, 0, 0},
    {R "; client_max_window_bits=\"10", DC | DD, NULL, 0, 0, 0, 0},
    {R " x", DC | DD, NULL, 0, 0, 0, 0},
    {R ", bad\"", DC | DD, NULL, 0, 0, 0, 0},
    {R "; a=\"\x01\"", DC | DD, NULL, 0, 0, 0, 0},
    {"; " R, DC | DD, NULL, 0, 0, 0, 0},
};

static void test_negotiate_table(void)
{
    size_t i;
    for (i = 0; i < sizeof(NEG) / sizeof(NEG[0]); i++) {
        const neg_case_t *c = &NEG[i];
        pmd_agreement_t a;
        int r;
        memset(&a, 0xAA, sizeof(a));
        r = pmd_negotiate(c->offer, strlen(c->offer), c->options, &a);
        if (!c->response) {
            if (r || a.enabled || a.response_len)
                fprintf(stderr, "case %zu [%s] 0x%x: accepted [%s]\n", i, c->offer, c->options, a.response);
            CHECK(r == 0 && a.enabled == 0 && a.response_len == 0);
            continue;
        }
        if (r != 1 || strcmp(a.response, c->response) != 0 || a.response_len != strlen(c->response) ||
            a.deflate_window != c->deflate_window || a.deflate_shared != c->deflate_shared ||
            a.inflate_window != c->inflate_window || a.inflate_shared != c->inflate_shared)
            fprintf(stderr, "case %zu [%s] 0x%x: r=%d [%s] dw=%d ds=%d iw=%d is=%d\n", i, c->offer, c->options, r,
                    a.response, a.deflate_window, a.deflate_shared, a.inflate_window, a.inflate_shared);
        CHECK(r == 1 && a.enabled == 1);
        CHECK(strcmp(a.response, c->response) == 0);
        CHECK(a.response_len == strlen(c->response));
        CHECK(a.deflate_window == c->deflate_window);
        CHECK(a.deflate_shared == c->deflate_shared);
        CHECK(a.inflate_window == c->inflate_window);
        CHECK(a.inflate_shared == c->inflate_shared);
    }
}

static void test_negotiate_mem_level(void)
{
    pmd_agreement_t a;
    CHECK(pmd_negotiate(FIREFOX, strlen(FIREFOX), DC3K, &a) == 1);
    CHECK(a.deflate_window == 9 && a.deflate_mem_level == 1);
    CHECK(pmd_negotiate(FIREFOX, strlen(FIREFOX), 0x092, &a) == 1);
    CHECK(a.deflate_window == 9 && a.deflate_mem_level == 2);
    CHECK(pmd_negotiate(FIREFOX, strlen(FIREFOX), 0x0E7, &a) == 1);
    CHECK(a.deflate_window == 14 && a.deflate_mem_level == 7);
    CHECK(pmd_negotiate(FIREFOX, strlen(FIREFOX), DC, &a) == 1);
    CHECK(a.deflate_window == 15 && a.deflate_mem_level == 8);
    CHECK(pmd_negotiate(FIREFOX, strlen(FIREFOX), SC, &a) == 1);
    CHECK(a.deflate_window == PMD_SHARED_COMPRESSOR && a.deflate_mem_level == 8);
}

/* The offer is read by length: no NUL needed, bytes past len ignored. */
static void test_negotiate_length_bound(void)
{
    const char buf[] = "permessage-deflate; server_max_window_bits=10; foo";
    pmd_agreement_t a;
    CHECK(pmd_negotiate(buf, 45, DC | DD, &a) == 1); /* "...bits=10" */
    CHECK(strcmp(a.response, R "; server_max_window_bits=10") == 0);
    CHECK(pmd_negotiate(buf, 44, DC | DD, &a) == 0); /* "...bits=1" */
    CHECK(pmd_negotiate(buf, 43, DC | DD, &a) == 0); /* "...bits=" */
    CHECK(pmd_negotiate(buf, sizeof(buf) - 1, DC | DD, &a) == 0);
    CHECK(pmd_negotiate("permessage-deflate\0", 19, DC | DD, &a) == 0);
}

/* ------------------------------------------------------------ codec helpers */

static int deflate_str(pmd_deflater_t *d, const char *s, size_t n, int reset, pmd_buf_t *out)
{
    return pmd_deflate(d, s, n, reset, out);
}

static int bytes_eq(const pmd_buf_t *b, const char *s, size_t n)
{
    return b->len == n && memcmp(b->data, s, n) == 0;
}

/* Deterministic text-like data with repetition (compresses, but not to nothing). */
static char *make_data(size_t n, unsigned seed)
{
    static const char *words[] = {"alpha ", "beta ", "gamma ", "delta ", "socket ", "frame ", "{\"k\":", "42}, "};
    char *p = malloc(n ? n : 1);
    size_t i = 0;
    unsigned x = seed * 2654435761u + 1;
    while (i < n) {
        const char *w;
        size_t wl;
        x = x * 1103515245u + 12345u;
        if ((x >> 16) % 5 == 0) {
            p[i++] = (char)(x >> 8);
            continue;
        }
        w = words[(x >> 20) % 8];
        wl = strlen(w);
        while (wl-- && i < n)
            p[i++] = *w++;
    }
    return p;
}

/* ------------------------------------------------------------ codec */

static void test_rfc_examples(void)
{
    pmd_inflater_t *f = pmd_inflater_new(15);
    pmd_deflater_t *d = pmd_deflater_new(15, 8);
    pmd_buf_t out = {0};
    /* 7.2.3.1: "Hello" in one message */
    CHECK(deflate_str(d, "Hello", 5, 0, &out) == PMD_OK);
    CHECK(bytes_eq(&out, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7));
    CHECK(pmd_inflate(f, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7, 0, 0, &out) == PMD_OK);
    CHECK(bytes_eq(&out, "Hello", 5));
    /* 7.2.3.2: the second "Hello" refers back into the shared window */
    CHECK(deflate_str(d, "Hello", 5, 0, &out) == PMD_OK);
    CHECK(bytes_eq(&out, "\xf2\x00\x11\x00\x00", 5));
    CHECK(pmd_inflate(f, "\xf2\x00\x11\x00\x00", 5, 0, 0, &out) == PMD_OK);
    CHECK(bytes_eq(&out, "Hello", 5));
    /* 7.2.3.3: a stored (uncompressed) block */
    CHECK(pmd_inflate(f, "\x00\x05\x00\xfa\xff\x48\x65\x6c\x6c\x6f\x00", 11, 0, 0, &out) == PMD_OK);
    CHECK(bytes_eq(&out, "Hello", 5));
    /* 7.2.3.5: a block with BFINAL set (the peer's stream ends; the window stays) */
    CHECK(pmd_inflate(f, "\xf3\x48\xcd\xc9\xc9\x07\x00\x00", 8, 0, 0, &out) == PMD_OK);
    CHECK(bytes_eq(&out, "Hello", 5));
    CHECK(pmd_inflate(f, "\xf2\x00\x11\x00\x00", 5, 0, 0, &out) == PMD_OK);
    CHECK(bytes_eq(&out, "Hello", 5));
    /* 7.2.3.6: an empty message */
    CHECK(pmd_inflate(f, "\x00", 1, 0, 0, &out) == PMD_OK);
    CHECK(out.len == 0);
    /* the brief's "c2 48 ..." is not a valid message: the RFC's is f2 */
    CHECK(pmd_inflate(f, "\xc2\x48\xcd\xc9\xc9\x07\x00", 7, 0, 1, &out) != PMD_OK);
    pmd_buf_free(&out);
    pmd_inflater_free(f);
    pmd_deflater_free(d);
}

static void test_empty_message(void)
{
    pmd_deflater_t *d = pmd_deflater_new(15, 8);
    pmd_inflater_t *f = pmd_inflater_new(15);
    pmd_buf_t c = {0}, p = {0};
    /* empty first, between messages with context, and after a reset */
    CHECK(pmd_deflate(d, "", 0, 0, &c) == PMD_OK);
    CHECK(bytes_eq(&c, "\x00", 1));
    CHECK(pmd_inflate(f, c.data, c.len, 0, 0, &p) == PMD_OK && p.len == 0);
    CHECK(pmd_deflate(d, "Hello", 5, 0, &c) == PMD_OK);
    CHECK(pmd_inflate(f, c.data, c.len, 0, 0, &p) == PMD_OK && bytes_eq(&p, "Hello", 5));
    CHECK(pmd_deflate(d, NULL, 0, 0, &c) == PMD_OK);
    CHECK(bytes_eq(&c, "\x00", 1));
    CHECK(pmd_inflate(f, c.data, c.len, 0, 0, &p) == PMD_OK && p.len == 0);
    CHECK(pmd_deflate(d, "Hello", 5, 0, &c) == PMD_OK);
    CHECK(bytes_eq(&c, "\xf2\x00\x11\x00\x00", 5)); /* the window survived */
    CHECK(pmd_inflate(f, c.data, c.len, 0, 0, &p) == PMD_OK && bytes_eq(&p, "Hello", 5));
    CHECK(pmd_deflate(d, "", 0, 1, &c) == PMD_OK);
    CHECK(pmd_deflate(d, "Hello", 5, 0, &c) == PMD_OK);
    CHECK(bytes_eq(&c, "\xf2\x48\xcd\xc9\xc9\x07\x00", 7)); /* reset forgot it */
    pmd_buf_free(&c);
    pmd_buf_free(&p);
    pmd_deflater_free(d);
    pmd_inflater_free(f);
}

/* Shared (reset per message): each message stands alone, any fresh inflater reads it. */
static void test_round_trip_shared(void)
{
    pmd_deflater_t *d = pmd_deflater_new(15, 8);
    pmd_inflater_t *f = pmd_inflater_new(15);
    pmd_buf_t c = {0}, p = {0};
    int i;
    for (i = 0; i < 8; i++) {
        size_t n = (size_t)1 << (i * 2);
        char *msg = make_data(n, 7); /* the same text each time */
        pmd_inflater_t *fresh = pmd_inflater_new(15);
        CHECK(pmd_deflate(d, msg, n, 1, &c) == PMD_OK);
        CHECK(pmd_inflate(fresh, c.data, c.len, 0, 1, &p) == PMD_OK);
        CHECK(bytes_eq(&p, msg, n));
        CHECK(pmd_inflate(f, c.data, c.len, 0, 1, &p) == PMD_OK);
        CHECK(bytes_eq(&p, msg, n));
        pmd_inflater_free(fresh);
        free(msg);
    }
    pmd_buf_free(&c);
    pmd_buf_free(&p);
    pmd_deflater_free(d);
    pmd_inflater_free(f);
}

/* Dedicated with context: repeats shrink and need the kept window. */
static void test_round_trip_context(void)
{
    static const int windows[] = {8, 9, 10, 12, 15};
    size_t w;
    for (w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
        int wb = windows[w];
        pmd_deflater_t *d = pmd_deflater_new(wb, wb == 8 ? 1 : wb - 7);
        pmd_inflater_t *f = pmd_inflater_new(wb);
        pmd_buf_t c = {0}, p = {0};
        size_t first_len = 0;
        int i;
        char *msg = make_data(200, 3);
        CHECK(d != NULL && f != NULL);
        for (i = 0; i < 4; i++) {
            CHECK(pmd_deflate(d, msg, 200, 0, &c) == PMD_OK);
            if (i == 0)
                first_len = c.len;
            else
                CHECK(c.len < first_len / 2);
            CHECK(pmd_inflate(f, c.data, c.len, 0, 0, &p) == PMD_OK);
            CHECK(bytes_eq(&p, msg, 200));
        }
        /* a message that leans on the window is unreadable without it */
        {
            pmd_inflater_t *fresh = pmd_inflater_new(15);
            int r = pmd_inflate(fresh, c.data, c.len, 0, 0, &p);
            CHECK(r != PMD_OK || !bytes_eq(&p, msg, 200));
            pmd_inflater_free(fresh);
        }
        /* after reset=1 on both sides the next message is self-contained */
        CHECK(pmd_deflate(d, msg, 200, 1, &c) == PMD_OK);
        CHECK(pmd_inflate(f, c.data, c.len, 0, 1, &p) == PMD_OK && bytes_eq(&p, msg, 200));
        CHECK(pmd_deflate(d, msg, 200, 0, &c) == PMD_OK);
        CHECK(c.len == first_len);
        {
            pmd_inflater_t *fresh = pmd_inflater_new(15);
            CHECK(pmd_inflate(fresh, c.data, c.len, 0, 0, &p) == PMD_OK && bytes_eq(&p, msg, 200));
            pmd_inflater_free(fresh);
        }
        free(msg);
        pmd_buf_free(&c);
        pmd_buf_free(&p);
        pmd_deflater_free(d);
        pmd_inflater_free(f);
    }
}

/* Big messages through every dedicated compressor setting; the window in use
 * never exceeds the negotiated one (an inflater of exactly that size reads it). */
static void test_round_trip_big(void)
{
    static const unsigned comps[] = {0x091, 0x092, 0x0A3, 0x0B4, 0x0C5, 0x0D6, 0x0E7, 0x0F8};
    size_t n = 300000, i;
    char *msg = make_data(n, 11);
    for (i = 0; i < sizeof(comps) / sizeof(comps[0]); i++) {
        int wb = (int)(comps[i] >> 4), ml = (int)(comps[i] & 0xF);
        pmd_deflater_t *d = pmd_deflater_new(wb, ml);
        pmd_inflater_t *f = pmd_inflater_new(wb);
        pmd_buf_t c = {0}, p = {0};
        int k;
        for (k = 0; k < 2; k++) {
            CHECK(pmd_deflate(d, msg + k * 1000, n - (size_t)k * 1000, 0, &c) == PMD_OK);
            CHECK(c.len > 0 && c.len < n / 2);
            CHECK(pmd_inflate(f, c.data, c.len, n, 0, &p) == PMD_OK);
            CHECK(bytes_eq(&p, msg + k * 1000, n - (size_t)k * 1000));
        }
        pmd_buf_free(&c);
        pmd_buf_free(&p);
        pmd_deflater_free(d);
        pmd_inflater_free(f);
    }
    free(msg);
}

static void test_bomb_capped(void)
{
    size_t n = 10u << 20, max_out = 16384;
    char *zeros = calloc(1, n);
    pmd_deflater_t *d = pmd_deflater_new(15, 8);
    pmd_inflater_t *f = pmd_inflater_new(15);
    pmd_buf_t c = {0}, p = {0};
    CHECK(pmd_deflate(d, zeros, n, 1, &c) == PMD_OK);
    CHECK(c.len < 20000); /* ~10 KiB of compressed zeros */
    CHECK(pmd_inflate(f, c.data, c.len, max_out, 1, &p) == PMD_TOO_BIG);
    CHECK(p.cap <= 2 * max_out);
    CHECK(p.len == 0);
    /* the inflater was reset and reads the next message */
    CHECK(pmd_deflate(d, "Hello", 5, 1, &c) == PMD_OK);
    CHECK(pmd_inflate(f, c.data, c.len, max_out, 1, &p) == PMD_OK && bytes_eq(&p, "Hello", 5));
    /* exactly max_out is fine, one more is not */
    CHECK(pmd_deflate(d, zeros, max_out, 1, &c) == PMD_OK);
    CHECK(pmd_inflate(f, c.data, c.len, max_out, 1, &p) == PMD_OK && p.len == max_out);
    CHECK(pmd_inflate(f, c.data, c.len, max_out - 1, 1, &p) == PMD_TOO_BIG);
    /* no limit: the whole 10 MiB */
    {
        pmd_buf_t big = {0};
        CHECK(pmd_deflate(d, zeros, n, 1, &c) == PMD_OK);
        CHECK(pmd_inflate(f, c.data, c.len, 0, 1, &big) == PMD_OK && big.len == n);
        CHECK(big.len == n && memcmp(big.data, zeros, n) == 0);
        pmd_buf_free(&big);
    }
    free(zeros);
    pmd_buf_free(&c);
    pmd_buf_free(&p);
    pmd_deflater_free(d);
    pmd_inflater_free(f);
}

static void test_corrupt(void)
{
    pmd_deflater_t *d = pmd_deflater_new(15, 8);
    pmd_inflater_t *f = pmd_inflater_new(15);
    pmd_buf_t c = {0}, p = {0};
    char *msg = make_data(5000, 5);
    size_t cut;
    /* reserved block type 11 */
    CHECK(pmd_inflate(f, "\xff\xff\xff\xff", 4, 0, 1, &p) == PMD_ERROR);
    CHECK(p.len == 0);
    /* a distance past the start of the window */
    CHECK(pmd_inflate(f, "\xf2\x00\x11\x00\x00", 5, 0, 1, &p) == PMD_ERROR);
    /* stored block whose NLEN does not match */
    CHECK(pmd_inflate(f, "\x00\x05\x00\xfb\xff\x48\x65\x6c\x6c\x6f\x00", 11, 0, 1, &p) == PMD_ERROR);
    /* a message cut short is refused, not half-delivered */
    CHECK(pmd_deflate(d, msg, 5000, 1, &c) == PMD_OK);
    for (cut = 1; cut < c.len; cut += 97)
        CHECK(pmd_inflate(f, c.data, cut, 0, 1, &p) != PMD_OK);
    /* the sender must drop 00 00 ff ff (7.2.1): kept, our own tail lands in
     * the middle of a stored block header and the message does not end */
    CHECK(pmd_inflate(f, "\xf2\x48\xcd\xc9\xc9\x07\x00\x00\x00\xff\xff", 11, 0, 1, &p) == PMD_ERROR);
    /* an extra empty stored block (with its header byte) is fine */
    CHECK(pmd_inflate(f, "\xf2\x48\xcd\xc9\xc9\x07\x00\x00\x00\xff\xff\x00", 12, 0, 1, &p) == PMD_OK);
    CHECK(bytes_eq(&p, "Hello", 5));
    /* usable after errors */
    CHECK(pmd_inflate(f, c.data, c.len, 0, 1, &p) == PMD_OK && bytes_eq(&p, msg, 5000));
    free(msg);
    pmd_buf_free(&c);
    pmd_buf_free(&p);
    pmd_deflater_free(d);
    pmd_inflater_free(f);
}

static void test_constructors(void)
{
    pmd_deflater_t *d;
    pmd_inflater_t *f;
    CHECK(pmd_deflater_new(7, 8) == NULL);
    CHECK(pmd_deflater_new(16, 8) == NULL);
    CHECK(pmd_deflater_new(15, 0) == NULL);
    CHECK(pmd_deflater_new(15, 10) == NULL);
    CHECK(pmd_inflater_new(7) == NULL);
    CHECK(pmd_inflater_new(16) == NULL);
    d = pmd_deflater_new(8, 9);
    f = pmd_inflater_new(8);
    CHECK(d != NULL && f != NULL);
    pmd_deflater_free(d);
    pmd_inflater_free(f);
    pmd_deflater_free(NULL);
    pmd_inflater_free(NULL);
}

int main(void)
{
    RUN(test_options_valid);
    RUN(test_negotiate_table);
    RUN(test_negotiate_mem_level);
    RUN(test_negotiate_length_bound);
    RUN(test_rfc_examples);
    RUN(test_empty_message);
    RUN(test_round_trip_shared);
    RUN(test_round_trip_context);
    RUN(test_round_trip_big);
    RUN(test_bomb_capped);
    RUN(test_corrupt);
    RUN(test_constructors);
    return report();
}
