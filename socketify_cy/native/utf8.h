/*
 * Strict UTF-8 validation (RFC 3629): no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence at the end.
 * The streaming form validates a message as its fragments arrive, so a bad
 * byte fails the connection at once instead of after the whole message.
 */
#ifndef SOCKETIFY_UTF8_H
#define SOCKETIFY_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* 1 if s[0, len) is complete, valid UTF-8. */
int utf8_valid(const char *s, size_t len);

typedef struct utf8_stream_s {
    uint32_t state; /* 0: at a character boundary; otherwise mid-sequence (opaque) */
} utf8_stream_t;

static inline void utf8_stream_init(utf8_stream_t *st) { st->state = 0; }
/* Feed the next piece. 0: valid so far (possibly mid-character); -1: invalid
 * (the stream stays invalid). */
int utf8_stream_feed(utf8_stream_t *st, const char *s, size_t len);
/* 1 if everything fed so far is valid and ends on a character boundary. */
static inline int utf8_stream_complete(const utf8_stream_t *st) { return st->state == 0; }

#endif
