/*
 * Strict UTF-8 validation (RFC 3629, section 4's byte table).
 *
 * The stream state packs what the next byte must be: the number of
 * continuation bytes still owed (bits 0-7) and the inclusive range the very
 * next one must fall in (low bound bits 8-15, high bound bits 16-23). The
 * narrowed ranges after E0, ED, F0 and F4 are what reject overlongs,
 * surrogates and code points above U+10FFFF at the second byte, so a bad
 * stream fails at the first byte that no valid text could contain.
 */
#include "utf8.h"

#include <string.h>

#define UTF8_FAILED 0xFFFFFFFFu

static inline uint32_t pack(uint32_t owed, uint32_t lo, uint32_t hi)
{
    return owed | (lo << 8) | (hi << 16);
}

/* State after a lead byte c >= 0x80, or UTF8_FAILED if c cannot start a character. */
static inline uint32_t lead_state(uint8_t c)
{
    if (c < 0xC2)
        return UTF8_FAILED; /* a stray continuation byte, or C0/C1 (always overlong) */
    if (c < 0xE0)
        return pack(1, 0x80, 0xBF);
    if (c == 0xE0)
        return pack(2, 0xA0, 0xBF); /* below A0 would be overlong */
    if (c == 0xED)
        return pack(2, 0x80, 0x9F); /* A0 and up would be a surrogate */
    if (c < 0xF0)
        return pack(2, 0x80, 0xBF);
    if (c == 0xF0)
        return pack(3, 0x90, 0xBF); /* below 90 would be overlong */
    if (c < 0xF4)
        return pack(3, 0x80, 0xBF);
    if (c == 0xF4)
        return pack(3, 0x80, 0x8F); /* 90 and up would pass U+10FFFF */
    return UTF8_FAILED;             /* F5..FF */
}

int utf8_stream_feed(utf8_stream_t *st, const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    const uint8_t *end = p + len;
    uint32_t state = st->state;

    if (state == UTF8_FAILED)
        return -1;
    while (p < end) {
        if (state == 0) {
            /* ASCII runs, 8 bytes at a time */
            while (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                p += 8;
            }
            while (p < end && *p < 0x80)
                p++;
            if (p == end)
                break;
            state = lead_state(*p++);
            if (state == UTF8_FAILED)
                goto fail;
        } else {
            uint8_t c = *p++;
            uint32_t owed = state & 0xFF;
            if (c < ((state >> 8) & 0xFF) || c > ((state >> 16) & 0xFF))
                goto fail;
            state = owed == 1 ? 0 : pack(owed - 1, 0x80, 0xBF);
        }
    }
    st->state = state;
    return 0;
fail:
    st->state = UTF8_FAILED;
    return -1;
}

int utf8_valid(const char *s, size_t len)
{
    utf8_stream_t st;
    utf8_stream_init(&st);
    return utf8_stream_feed(&st, s, len) == 0 && utf8_stream_complete(&st);
}
