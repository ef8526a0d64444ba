/*
 * permessage-deflate (RFC 7692): negotiating the extension from a client's
 * Sec-WebSocket-Extensions offer, and the codec (raw DEFLATE via zlib, the
 * 00 00 ff ff tail removed on the way out and restored on the way in).
 *
 * Compression options use socketify's CompressOptions bit layout: the low
 * byte picks the compressor (0 none, 1 shared, otherwise windowBits << 4 |
 * memLevel code for a dedicated one), bits 8-11 the decompressor (0 none, 1
 * shared, otherwise windowBits of a dedicated one).
 *
 * "Shared" means one stream per loop, reset after every message (no context
 * takeover, no per-connection memory); "dedicated" a stream per connection
 * that keeps its window across messages.
 */
#ifndef SOCKETIFY_PERMESSAGE_DEFLATE_H
#define SOCKETIFY_PERMESSAGE_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

#define PMD_SHARED_COMPRESSOR 0x0001
#define PMD_SHARED_DECOMPRESSOR 0x0100
#define PMD_COMPRESSOR_MASK 0x00FF
#define PMD_DECOMPRESSOR_MASK 0x0F00

/* 1 if options is a value socketify's CompressOptions can make (a compressor
 * value | a decompressor value); 0 otherwise. */
int pmd_options_valid(unsigned options);

/* The outcome of negotiation for one connection. */
typedef struct pmd_agreement_s {
    uint8_t enabled;         /* the extension is on for this connection */
    /* our compressor: 0 = none (we never compress); PMD_SHARED = reset after
     * every message; 8..15 = dedicated with that window */
    uint8_t deflate_window;
    uint8_t deflate_mem_level;
    uint8_t deflate_shared;  /* no context takeover (we answered server_no_context_takeover) */
    /* our decompressor, the client's compressor: 8..15 = window the client
     * may use; inflate_shared = the client resets after every message */
    uint8_t inflate_window;
    uint8_t inflate_shared;
    char response[160];      /* Sec-WebSocket-Extensions value to answer with (NUL-terminated) */
    size_t response_len;
} pmd_agreement_t;

/* Pick the first acceptable permessage-deflate offer in a
 * Sec-WebSocket-Extensions value (several headers joined with ", "), as our
 * options allow. Offers with unknown or repeated parameters or bad values
 * are declined (RFC 7692 5.1). Returns 1 and fills *out if one was
 * accepted, 0 otherwise (out->enabled 0: no Sec-WebSocket-Extensions answer). */
int pmd_negotiate(const char *offer, size_t len, unsigned options, pmd_agreement_t *out);

/* A growable output buffer owned by the caller (free with pmd_buf_free). */
typedef struct pmd_buf_s {
    char *data;
    size_t len, cap;
} pmd_buf_t;
void pmd_buf_free(pmd_buf_t *b);

enum { PMD_OK = 0, PMD_TOO_BIG = -1, PMD_ERROR = -2, PMD_NOMEM = -3 };

typedef struct pmd_deflater_s pmd_deflater_t;
typedef struct pmd_inflater_s pmd_inflater_t;

/* window_bits 8..15 (8 is raised to 9, as zlib requires), mem_level 1..9. NULL on failure. */
pmd_deflater_t *pmd_deflater_new(int window_bits, int mem_level);
void pmd_deflater_free(pmd_deflater_t *d);
/* Compress one whole message into out (replacing its contents): the
 * payload to send with RSV1. reset: start the next message without context
 * (no context takeover). Returns PMD_OK or an error. */
int pmd_deflate(pmd_deflater_t *d, const char *in, size_t len, int reset, pmd_buf_t *out);

pmd_inflater_t *pmd_inflater_new(int window_bits);
void pmd_inflater_free(pmd_inflater_t *f);
/* Inflate one whole compressed message (its frames' payloads joined) into
 * out (replacing its contents). Output beyond max_out (0 = no limit) stops
 * the inflation with PMD_TOO_BIG before more is allocated; corrupt input
 * gives PMD_ERROR. reset: the peer does not keep context (forget the window
 * after this message). */
int pmd_inflate(pmd_inflater_t *f, const char *in, size_t len, size_t max_out, int reset, pmd_buf_t *out);

#endif
