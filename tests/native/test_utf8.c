/* sources: socketify_cy/native/utf8.c */
/*
 * Tests for the strict UTF-8 validator: tables of valid and invalid
 * strings, the streaming form at every split point, and the byte at which
 * the streaming form fails.
 */
#include "utf8.h"

#include <stdio.h>
#include <string.h>

#include "harness.h"

#define RUN(fn) run(#fn, fn)

struct sample {
    const char *s;
    size_t len;
    int valid;
    int fail_at; /* invalid: index of the byte whose feed fails (-1: only incomplete at the end) */
};

#define S(lit, v, at) {lit, sizeof(lit) - 1, v, at}

static const struct sample SAMPLES[] = {
    S("", 1, 0),
    S("hello, world", 1, 0),
    S("exactly 8", 1, 0),
    S("0123456789abcdef0123456789abcdefXYZ", 1, 0),
    S("\x00\x7f", 1, 0),
    /* every length's boundaries */
    S("\xc2\x80", 1, 0),             /* U+0080 */
    S("\xdf\xbf", 1, 0),             /* U+07FF */
    S("\xe0\xa0\x80", 1, 0),         /* U+0800 */
    S("\xed\x9f\xbf", 1, 0),         /* U+D7FF */
    S("\xee\x80\x80", 1, 0),         /* U+E000 */
    S("\xef\xbf\xbf", 1, 0),         /* U+FFFF */
    S("\xf0\x90\x80\x80", 1, 0),     /* U+10000 */
    S("\xf4\x8f\xbf\xbf", 1, 0),     /* U+10FFFF */
    S("\xf3\xbf\xbf\xbf", 1, 0),     /* U+FFFFF */
    S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 1, 0), /* kosme */
    S("ascii run first, then \xe2\x82\xac and more ascii after it ok", 1, 0),
    S("\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 1, 0),
    /* overlongs */
    S("\xc0\x80", 0, 0),
    S("\xc1\xbf", 0, 0),
    S("\xe0\x80\x80", 0, 1),
    S("\xe0\x9f\xbf", 0, 1),
    S("\xf0\x80\x80\x80", 0, 1),
    S("\xf0\x8f\xbf\xbf", 0, 1),
    /* surrogates */
    S("\xed\xa0\x80", 0, 1),
    S("\xed\xbf\xbf", 0, 1),
    S("\xed\xa0\x80\xed\xb0\x80", 0, 1),
    /* above U+10FFFF and never-valid bytes */
    S("\xf4\x90\x80\x80", 0, 1),
    S("\xf5\x80\x80\x80", 0, 0),
    S("\xf8\x88\x80\x80\x80", 0, 0),
    S("\xfe", 0, 0),
    S("\xff", 0, 0),
    S("abc\xff", 0, 3),
    S("0123456789\x80", 0, 10),
    /* stray or missing continuation bytes */
    S("\x80", 0, 0),
    S("\xbf", 0, 0),
    S("a\xc2z", 0, 2),
    S("\xe2\x82z", 0, 2),
    S("\xf0\x9f\x98z", 0, 3),
    S("\xc2\x80\x80", 0, 2),
    /* truncated at the end */
    S("\xc2", 0, -1),
    S("\xe2\x82", 0, -1),
    S("\xf0\x9f\x98", 0, -1),
    S("valid text then \xf4\x8f\xbf", 0, -1),
};

#define NSAMPLES (sizeof(SAMPLES) / sizeof(SAMPLES[0]))

static void test_one_shot(void)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        if (utf8_valid(SAMPLES[i].s, SAMPLES[i].len) != SAMPLES[i].valid) {
            fprintf(stderr, "sample %zu\n", i);
            CHECK(0);
        }
    }
}

/* For every split point (and every pair of split points), streaming agrees. */
static void test_streaming_every_split(void)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        const struct sample *sm = &SAMPLES[i];
        for (size_t a = 0; a <= sm->len; a++) {
            for (size_t b = a; b <= sm->len; b++) {
                utf8_stream_t st;
                int ok;
                utf8_stream_init(&st);
                ok = utf8_stream_feed(&st, sm->s, a) == 0;
                ok = utf8_stream_feed(&st, sm->s + a, b - a) == 0 && ok;
                ok = utf8_stream_feed(&st, sm->s + b, sm->len - b) == 0 && ok;
                if ((ok && utf8_stream_complete(&st)) != sm->valid) {
                    fprintf(stderr, "sample %zu split %zu/%zu\n", i, a, b);
                    CHECK(0);
                }
            }
        }
    }
}

/* Byte by byte: the first failing feed is the byte no valid text could hold. */
static void test_fail_fast(void)
{
    for (size_t i = 0; i < NSAMPLES; i++) {
        const struct sample *sm = &SAMPLES[i];
        utf8_stream_t st;
        int failed_at = -1;
        utf8_stream_init(&st);
        for (size_t k = 0; k < sm->len; k++) {
            if (utf8_stream_feed(&st, sm->s + k, 1) != 0) {
                failed_at = (int)k;
                break;
            }
        }
        if (sm->valid) {
            CHECK(failed_at == -1 && utf8_stream_complete(&st));
        } else if (failed_at != sm->fail_at) {
            fprintf(stderr, "sample %zu failed at %d, expected %d\n", i, failed_at, sm->fail_at);
            CHECK(0);
        }
        if (!sm->valid && sm->fail_at == -1)
            CHECK(!utf8_stream_complete(&st));
    }
}

/* Once failed, the stream stays failed, even fed valid text. */
static void test_sticky_failure(void)
{
    utf8_stream_t st;
    utf8_stream_init(&st);
    CHECK(utf8_stream_feed(&st, "\xc0", 1) == -1);
    CHECK(utf8_stream_feed(&st, "abc", 3) == -1);
    CHECK(utf8_stream_feed(&st, "", 0) == -1);
    CHECK(!utf8_stream_complete(&st));
}

/* Every code point encodes to bytes the validator accepts, and every
 * 1..4-byte string it accepts decodes to exactly one scalar value. */
static size_t encode(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static void test_every_code_point(void)
{
    int bad = 0;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char b[4];
        size_t n = encode(cp, b);
        int surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        if (utf8_valid(b, n) == surrogate)
            bad++;
        /* a truncated encoding is never complete */
        if (n > 1 && utf8_valid(b, n - 1))
            bad++;
    }
    CHECK(bad == 0);
}

/* All two-byte strings: valid exactly when ASCII pairs or a 2-byte character. */
static void test_all_two_byte_strings(void)
{
    int bad = 0;
    for (unsigned x = 0; x < 256; x++) {
        for (unsigned y = 0; y < 256; y++) {
            char b[2] = {(char)x, (char)y};
            int expect = (x < 0x80 && y < 0x80) || (x >= 0xC2 && x <= 0xDF && y >= 0x80 && y <= 0xBF);
            if (utf8_valid(b, 2) != expect)
                bad++;
        }
    }
    CHECK(bad == 0);
}

/* The 8-byte ASCII path: a non-ASCII byte at any position of a long run is seen. */
static void test_ascii_runs(void)
{
    char buf[64];
    for (size_t pos = 0; pos < sizeof(buf); pos++) {
        memset(buf, 'a', sizeof(buf));
        buf[pos] = (char)0x80;
        CHECK(!utf8_valid(buf, sizeof(buf)));
        if (pos + 2 <= sizeof(buf)) {
            buf[pos] = (char)0xC3;
            buf[pos + 1] = (char)0xA9;
            CHECK(utf8_valid(buf, sizeof(buf)));
        }
    }
}

int main(void)
{
    RUN(test_one_shot);
    RUN(test_streaming_every_split);
    RUN(test_fail_fast);
    RUN(test_sticky_failure);
    RUN(test_every_code_point);
    RUN(test_all_two_byte_strings);
    RUN(test_ascii_runs);
    return report();
}
