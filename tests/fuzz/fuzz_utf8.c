/*
 * libFuzzer target for socketify_cy/native/utf8.c.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isocketify_cy/native \
 *       socketify_cy/native/utf8.c tests/fuzz/fuzz_utf8.c -o /tmp/fuzz_utf8
 * Build without libFuzzer (runs the files named on the command line):
 *   gcc -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE -Isocketify_cy/native \
 *       socketify_cy/native/utf8.c tests/fuzz/fuzz_utf8.c -o /tmp/fuzz_utf8
 *
 * Input layout: the low 3 bits of byte 0 say how many piece-size bytes
 * follow (0-7); the rest is the text. A slow reference, written from the
 * code-point arithmetic rather than byte ranges, says whether the text is
 * valid and at which byte it first becomes impossible to complete; the
 * one-shot validator, the stream fed in the fuzz-chosen pieces and the
 * stream fed byte by byte must all agree with it.
 */
#include "utf8.h"
#include "fuzz_common.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sequence length announced by a lead byte, 0 if it is not a lead byte. */
static int ref_seq_len(uint8_t c)
{
    if ((c & 0x80) == 0)
        return 1;
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 0;
}

static uint32_t ref_decode(const uint8_t *s, int n)
{
    static const uint8_t lead_bits[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    uint32_t cp = s[0] & lead_bits[n];
    for (int i = 1; i < n; i++)
        cp = cp << 6 | (s[i] & 0x3F);
    return cp;
}

/* Whether some scalar value that needs exactly n bytes lies in [lo, hi]. */
static int ref_range_has_scalar(uint32_t lo, uint32_t hi, int n)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    static const uint32_t max_cp[5] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
    if (lo < min_cp[n])
        lo = min_cp[n];
    if (hi > max_cp[n])
        hi = max_cp[n];
    if (lo > hi)
        return 0;
    /* all of it surrogates? */
    return !(lo >= 0xD800 && hi <= 0xDFFF);
}

/*
 * Index of the first byte after which s can no longer be the beginning of
 * valid UTF-8, or -1. *complete: the whole text is valid.
 */
static long ref_first_bad(const uint8_t *s, size_t len, int *complete)
{
    size_t i = 0;
    while (i < len) {
        int n = ref_seq_len(s[i]);
        size_t have, k;
        uint8_t lo_b[4], hi_b[4];
        if (n == 0)
            return (long)i;
        have = len - i < (size_t)n ? len - i : (size_t)n;
        /* each byte of the sequence so far must keep some completion possible */
        for (k = 1; k <= have; k++) {
            size_t j;
            if (k > 1 && (s[i + k - 1] & 0xC0) != 0x80)
                return (long)(i + k - 1);
            for (j = 0; j < (size_t)n; j++) {
                lo_b[j] = j < k ? s[i + j] : 0x80;
                hi_b[j] = j < k ? s[i + j] : 0xBF;
            }
            if (!ref_range_has_scalar(ref_decode(lo_b, n), ref_decode(hi_b, n), n))
                return (long)(i + k - 1);
        }
        if (have < (size_t)n) {
            *complete = 0;
            return -1;
        }
        i += (size_t)n;
    }
    *complete = 1;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nsizes, si = 0, pos = 0;
    const uint8_t *sizes;
    int complete = 0, ref_valid, valid;
    long bad;
    utf8_stream_t st;
    long stream_fail_piece_end = -1;
    char *buf;

    if (size < 1)
        return 0;
    nsizes = data[0] & 7;
    if (size < 1 + nsizes)
        return 0;
    sizes = data + 1;
    data += 1 + nsizes;
    size -= 1 + nsizes;

    bad = ref_first_bad(data, size, &complete);
    ref_valid = bad < 0 && complete;

    buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    valid = utf8_valid(buf, size);
    FUZZ_CHECK(valid == ref_valid);

    /* fuzz-chosen pieces: the first failing piece is the one holding the bad byte */
    utf8_stream_init(&st);
    while (pos < size || si == 0) {
        size_t n = size - pos;
        char *piece;
        int r;
        if (nsizes) {
            size_t want = sizes[si % nsizes];
            if (want < n)
                n = want;
        }
        si++;
        if (si > size + 8 && n == 0)
            n = size - pos; /* all sizes zero: finish in one piece */
        piece = malloc(n ? n : 1);
        if (!piece)
            abort();
        memcpy(piece, data + pos, n);
        r = utf8_stream_feed(&st, piece, n);
        free(piece);
        FUZZ_CHECK(r == 0 || r == -1);
        if (r == -1 && stream_fail_piece_end < 0) {
            stream_fail_piece_end = (long)(pos + n);
            FUZZ_CHECK(bad >= (long)pos && bad < (long)(pos + n));
        }
        if (r == 0)
            FUZZ_CHECK(stream_fail_piece_end < 0);
        pos += n;
        if (pos == size && si > 0)
            break;
    }
    FUZZ_CHECK((stream_fail_piece_end >= 0) == (bad >= 0));
    FUZZ_CHECK((stream_fail_piece_end < 0 && utf8_stream_complete(&st)) == ref_valid);

    /* byte by byte: fails exactly at the bad byte */
    utf8_stream_init(&st);
    for (pos = 0; pos < size; pos++) {
        int r = utf8_stream_feed(&st, buf + pos, 1);
        if (r != 0) {
            FUZZ_CHECK((long)pos == bad);
            break;
        }
    }
    if (pos == size)
        FUZZ_CHECK(bad < 0 && utf8_stream_complete(&st) == complete);
    free(buf);
    return 0;
}
