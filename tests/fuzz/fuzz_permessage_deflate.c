/*
 * libFuzzer target for socketify_cy/native/permessage_deflate.c.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isocketify_cy/native \
 *       socketify_cy/native/permessage_deflate.c tests/fuzz/fuzz_permessage_deflate.c \
 *       -o /tmp/fuzz_pmd -lz
 * Build without libFuzzer (runs the files named on the command line):
 *   gcc -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE -Isocketify_cy/native \
 *       socketify_cy/native/permessage_deflate.c tests/fuzz/fuzz_permessage_deflate.c \
 *       -o /tmp/fuzz_pmd -lz
 *
 * Input layout: 7 header bytes, then the body. Byte 0 picks the mode:
 *  0 negotiate: bytes 1-2 pick the options (a valid pair, or raw bits when
 *    byte 1 has its high bit), byte 3 a cut point; the body is an offer,
 *    negotiated whole and cut (each in a buffer of exactly its size). The
 *    answer must be well formed, within the options, and itself an
 *    acceptable offer.
 *  1 round trip: byte 1 picks the compressor, byte 2 the reset policy and a
 *    size scale, bytes 3-6 message sizes (cycled); the body is cut into
 *    messages, each deflated and inflated back to itself.
 *  2 raw inflate: byte 1 picks the window and the output cap, byte 2 the
 *    reset policy, bytes 3-6 message sizes; the body is cut into "compressed"
 *    messages; output never exceeds the cap, nor does the buffer.
 */
#include "permessage_deflate.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned COMPS[10] = {0, 0x001, 0x091, 0x092, 0x0A3, 0x0B4, 0x0C5, 0x0D6, 0x0E7, 0x0F8};
static const unsigned DECOMPS[9] = {0, 0x100, 0x900, 0xA00, 0xB00, 0xC00, 0xD00, 0xE00, 0xF00};

static char *copy_exact(const uint8_t *p, size_t n)
{
    char *b = malloc(n ? n : 1);
    if (!b)
        abort();
    if (n)
        memcpy(b, p, n);
    return b;
}

/* The value of "; name=N" in a response, 0 if absent. */
static int param_value(const char *resp, const char *name)
{
    const char *p = strstr(resp, name);
    if (!p)
        return 0;
    p += strlen(name);
    if (*p != '=')
        return -1;
    return atoi(p + 1);
}

static void check_agreement(unsigned options, int r, const pmd_agreement_t *a)
{
    unsigned comp = options & PMD_COMPRESSOR_MASK, decomp = (options & PMD_DECOMPRESSOR_MASK) >> 8;
    int smwb, cmwb, snct, cnct;
    pmd_agreement_t back;

    FUZZ_CHECK(r == 0 || r == 1);
    FUZZ_CHECK(a->enabled == r);
    if (!r) {
        FUZZ_CHECK(a->response_len == 0);
        return;
    }
    FUZZ_CHECK(options != 0 && pmd_options_valid(options));
    FUZZ_CHECK(a->response_len < sizeof(a->response));
    FUZZ_CHECK(a->response[a->response_len] == '\0' && strlen(a->response) == a->response_len);
    FUZZ_CHECK(strncmp(a->response, "permessage-deflate", 18) == 0);

    /* our compressor stays within the options */
    if (comp == 0)
        FUZZ_CHECK(a->deflate_window == 0);
    else if (comp == PMD_SHARED_COMPRESSOR)
        /* the loop's stream, none, or (the client limits the window to
         * 9-14 bits) a small own stream; always without context */
        FUZZ_CHECK((a->deflate_window == 0 || a->deflate_window == PMD_SHARED_COMPRESSOR ||
                    (a->deflate_window >= 9 && a->deflate_window <= 14 &&
                     a->deflate_mem_level == a->deflate_window - 8)) && a->deflate_shared);
    else
        FUZZ_CHECK(a->deflate_window == 0 || (a->deflate_window >= 9 && a->deflate_window <= (comp >> 4) &&
                                              a->deflate_mem_level == (comp & 0xF)));
    FUZZ_CHECK(a->deflate_shared <= 1 && a->inflate_shared <= 1);
    FUZZ_CHECK(a->inflate_window >= 8 && a->inflate_window <= 15);
    if (decomp < 9)
        FUZZ_CHECK(a->inflate_shared && a->inflate_window == 15);
    else if (!a->inflate_shared)
        FUZZ_CHECK(a->inflate_window <= decomp);

    /* the answer says what the agreement holds */
    snct = strstr(a->response, "server_no_context_takeover") != NULL;
    cnct = strstr(a->response, "client_no_context_takeover") != NULL;
    smwb = param_value(a->response, "server_max_window_bits");
    cmwb = param_value(a->response, "client_max_window_bits");
    FUZZ_CHECK(snct == a->deflate_shared && cnct == a->inflate_shared);
    FUZZ_CHECK(smwb == 0 || (smwb >= 8 && smwb <= 15));
    FUZZ_CHECK(cmwb == 0 || (cmwb >= 8 && cmwb <= 15));
    if (a->deflate_window >= 8)
        FUZZ_CHECK(smwb == 0 ? a->deflate_window == 15 : a->deflate_window <= smwb);
    if (a->deflate_window == PMD_SHARED_COMPRESSOR)
        FUZZ_CHECK(smwb == 0 || smwb == 15);
    FUZZ_CHECK(cmwb ? a->inflate_window == cmwb : a->inflate_window == 15);

    /* a well-formed answer is itself an acceptable offer */
    FUZZ_CHECK(pmd_negotiate(a->response, a->response_len, 0xFF8, &back) == 1);
}

static void fuzz_negotiate(const uint8_t *h, const uint8_t *body, size_t n)
{
    unsigned options;
    pmd_agreement_t a, again;
    size_t cut = n * h[3] / 255;
    char *offer;
    int r;

    if (h[1] & 0x80)
        options = (unsigned)(h[1] & 0x7F) | (unsigned)h[2] << 8 | (unsigned)(h[2] & 0xF0) << 12;
    else
        options = COMPS[h[1] % 10] | DECOMPS[h[2] % 9];

    offer = copy_exact(body, n);
    r = pmd_negotiate(offer, n, options, &a);
    check_agreement(options, r, &a);
    FUZZ_CHECK(pmd_negotiate(offer, n, options, &again) == r);
    FUZZ_CHECK(!r || strcmp(a.response, again.response) == 0);
    free(offer);

    offer = copy_exact(body, cut);
    r = pmd_negotiate(offer, cut, options, &a);
    check_agreement(options, r, &a);
    free(offer);
}

/* Next message length from the cycled size bytes. */
static size_t next_size(const uint8_t *sizes, size_t i, unsigned shift)
{
    return (size_t)sizes[i % 4] << shift;
}

static void fuzz_round_trip(const uint8_t *h, const uint8_t *body, size_t n)
{
    unsigned comp = COMPS[1 + h[1] % 9];
    int wb = comp == PMD_SHARED_COMPRESSOR ? 15 : (int)(comp >> 4);
    int ml = comp == PMD_SHARED_COMPRESSOR ? 8 : (int)(comp & 0xF);
    unsigned policy = h[2] & 3, shift = (h[2] >> 2) & 7;
    pmd_deflater_t *d = pmd_deflater_new(wb, ml);
    /* the inflater may be bigger than the sender's window, never smaller */
    pmd_inflater_t *f = pmd_inflater_new(wb + (int)((h[1] >> 4) % (unsigned)(16 - wb)));
    pmd_buf_t c = {0}, p = {0}, q = {0};
    size_t off = 0, i;
    int fresh = 1; /* no context from an earlier message */

    FUZZ_CHECK(d && f);
    for (i = 0; off <= n && i < 64; i++) {
        size_t len = next_size(h + 3, i, shift);
        int reset = policy == 0 ? 1 : policy == 1 ? 0 : (h[3 + i % 4] & 1);
        char *msg;
        if (len > n - off)
            len = n - off;
        msg = copy_exact(body + off, len);
        FUZZ_CHECK(pmd_deflate(d, msg, len, reset, &c) == PMD_OK);
        FUZZ_CHECK(c.len > 0);
        FUZZ_CHECK(pmd_inflate(f, c.data, c.len, len ? len : 1, reset, &p) == PMD_OK);
        FUZZ_CHECK(p.len == len && (len == 0 || memcmp(p.data, msg, len) == 0));
        if (fresh && len >= 2) {
            /* self-contained (the message before it reset the stream): a
             * fresh inflater reads it, and a cap one byte short stops it */
            pmd_inflater_t *g = pmd_inflater_new(15);
            FUZZ_CHECK(g);
            pmd_buf_free(&q); /* so its capacity is this call's alone */
            FUZZ_CHECK(pmd_inflate(g, c.data, c.len, len - 1, 1, &q) == PMD_TOO_BIG && q.len == 0);
            FUZZ_CHECK(q.cap <= len);
            FUZZ_CHECK(pmd_inflate(g, c.data, c.len, 0, 1, &q) == PMD_OK && q.len == len);
            FUZZ_CHECK(memcmp(q.data, msg, len) == 0);
            pmd_inflater_free(g);
        }
        free(msg);
        fresh = reset;
        off += len;
        if (off == n && len == 0)
            break;
    }
    pmd_buf_free(&c);
    pmd_buf_free(&p);
    pmd_buf_free(&q);
    pmd_deflater_free(d);
    pmd_inflater_free(f);
}

static void fuzz_raw_inflate(const uint8_t *h, const uint8_t *body, size_t n)
{
    static const size_t caps[4] = {1, 100, 4096, 65536};
    int wb = 8 + (h[1] & 7);
    size_t max_out = caps[(h[1] >> 3) & 3];
    unsigned policy = h[2] & 3;
    pmd_inflater_t *f = pmd_inflater_new(wb);
    pmd_deflater_t *d = NULL;
    pmd_buf_t p = {0}, c = {0}, q = {0};
    size_t off = 0, i;

    FUZZ_CHECK(f);
    for (i = 0; off < n && i < 64; i++) {
        size_t len = next_size(h + 3, i, (h[2] >> 2) & 3);
        int reset = policy == 0 ? 1 : policy == 1 ? 0 : (h[3 + i % 4] & 1);
        char *msg;
        int r;
        if (len == 0 || len > n - off)
            len = n - off;
        msg = copy_exact(body + off, len);
        r = pmd_inflate(f, msg, len, max_out, reset, &p);
        FUZZ_CHECK(r == PMD_OK || r == PMD_TOO_BIG || r == PMD_ERROR);
        FUZZ_CHECK(p.len <= max_out && p.cap <= max_out + 1);
        if (r != PMD_OK) {
            FUZZ_CHECK(p.len == 0);
        } else if (p.len) {
            /* whatever came out goes back through our own codec unchanged */
            if (!d)
                d = pmd_deflater_new(15, 8);
            FUZZ_CHECK(d);
            FUZZ_CHECK(pmd_deflate(d, p.data, p.len, 1, &c) == PMD_OK);
            {
                pmd_inflater_t *g = pmd_inflater_new(15);
                FUZZ_CHECK(g);
                FUZZ_CHECK(pmd_inflate(g, c.data, c.len, p.len, 1, &q) == PMD_OK);
                FUZZ_CHECK(q.len == p.len && memcmp(q.data, p.data, p.len) == 0);
                pmd_inflater_free(g);
            }
        }
        free(msg);
        off += len;
    }
    pmd_buf_free(&p);
    pmd_buf_free(&c);
    pmd_buf_free(&q);
    pmd_inflater_free(f);
    pmd_deflater_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 7)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_negotiate(data, data + 7, size - 7);
        break;
    case 1:
        fuzz_round_trip(data, data + 7, size - 7);
        break;
    default:
        fuzz_raw_inflate(data, data + 7, size - 7);
        break;
    }
    return 0;
}
