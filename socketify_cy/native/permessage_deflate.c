/*
 * permessage-deflate (RFC 7692). See permessage_deflate.h for the contract.
 *
 * Negotiation decisions (where RFC 7692 leaves us a choice):
 *  - A Sec-WebSocket-Extensions value that breaks the RFC 6455 9.1 grammar
 *    anywhere is declined as a whole: a client that sends garbage gets no
 *    compression rather than a guess.
 *  - Extension and parameter names compare case-insensitively; values of the
 *    window parameters are "8".."15" exactly (no leading zero), as a token or
 *    a quoted-string (unescaped first).
 *  - Only "permessage-deflate" is considered (x-webkit-deflate-frame and any
 *    other extension are skipped).
 *  - Our compressor (server -> client):
 *      none: we never compress, but echo what accepting an offer requires
 *        (server_no_context_takeover, server_max_window_bits=N);
 *      shared: always server_no_context_takeover; if the client limits our
 *        window to N below 15 the loop-wide 15-bit stream cannot be used:
 *        N >= 9 gives a small per-connection stream (window N, reset after
 *        every message, deflate_window N with deflate_shared), N = 8
 *        compresses nothing (deflate_window 0); the limit is echoed;
 *      dedicated W: an offered server_no_context_takeover is echoed and the
 *        stream reset after each message; server_max_window_bits=N gives
 *        min(N, W), echoed; N = 8 cannot be produced by zlib's raw deflate,
 *        so we echo 8 and compress nothing; W < 15 unasked is announced
 *        with server_max_window_bits=W.
 *  - Our decompressor (client -> server): inflate_window is the window to
 *    inflate with (at least the client's); inflate_shared means the client
 *    promised to reset after every message:
 *      an offered client_no_context_takeover is always echoed (shared);
 *      none or shared: client_no_context_takeover, window 15;
 *      dedicated W with client_max_window_bits offered: min(W, N or 15),
 *        answered as client_max_window_bits=that when below 15;
 *      dedicated W < 15 without client_max_window_bits: we may not limit the
 *        client's window, so we answer client_no_context_takeover and
 *        inflate with 15 (shared: no per-connection window is kept).
 */
#include "permessage_deflate.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* ---- options -------------------------------------------------------------- */

int pmd_options_valid(unsigned options)
{
    unsigned c = options & PMD_COMPRESSOR_MASK, d = (options & PMD_DECOMPRESSOR_MASK) >> 8;
    if (options & ~(unsigned)(PMD_COMPRESSOR_MASK | PMD_DECOMPRESSOR_MASK))
        return 0;
    /* dedicated compressors pair windowBits 9..15 with one memLevel code each */
    if (c > 1 && c != (9u << 4 | 1) && !((c >> 4) >= 9 && (c & 0xF) == (c >> 4) - 7))
        return 0;
    return d == 0 || d == 1 || (d >= 9 && d <= 15);
}

/* ---- Sec-WebSocket-Extensions parsing (RFC 6455 9.1) ---------------------- */

typedef struct cursor_s {
    const char *p, *end;
} cursor_t;

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void skip_ows(cursor_t *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

static int take_token(cursor_t *c, const char **s, size_t *n)
{
    const char *start = c->p;
    while (c->p < c->end && is_tchar((unsigned char)*c->p))
        c->p++;
    *s = start;
    *n = (size_t)(c->p - start);
    return *n > 0;
}

#define VALUE_CAP 8 /* longer values are kept as "too long": none of ours is */

/* A quoted-string, unescaped into val (up to VALUE_CAP bytes; *n counts all). */
static int take_quoted(cursor_t *c, char *val, size_t *n)
{
    *n = 0;
    c->p++; /* the opening DQUOTE */
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"')
            return 1;
        if (ch == '\\') {
            if (c->p >= c->end)
                return 0;
            ch = (unsigned char)*c->p++;
            if (ch != '\t' && (ch < 0x20 || ch == 0x7F))
                return 0;
        } else if (ch != '\t' && (ch < 0x20 || ch == 0x7F)) {
            return 0;
        }
        if (*n < VALUE_CAP)
            val[*n] = (char)ch;
        (*n)++;
    }
    return 0; /* no closing DQUOTE */
}

static int ieq(const char *s, size_t n, const char *lit)
{
    size_t i;
    if (strlen(lit) != n)
        return 0;
    for (i = 0; i < n; i++) {
        char ch = s[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch | 0x20);
        if (ch != lit[i])
            return 0;
    }
    return 1;
}

/* "8".."15", no leading zero (RFC 7692 7.1.2.1); 0 if not. */
static int window_value(const char *v, size_t n)
{
    if (n == 1 && (v[0] == '8' || v[0] == '9'))
        return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + (v[1] - '0');
    return 0;
}

/* What one permessage-deflate offer asked for. */
typedef struct offer_s {
    int valid;
    int snct, cnct;   /* server_/client_no_context_takeover present */
    int smwb;         /* server_max_window_bits value, 0 = absent */
    int cmwb_present; /* client_max_window_bits present */
    int cmwb;         /* its value, 0 = no value */
} offer_t;

static void offer_param(offer_t *o, const char *name, size_t nlen, int has_value, const char *val, size_t vlen)
{
    int w = has_value ? window_value(val, vlen) : 0;
    if (ieq(name, nlen, "server_no_context_takeover")) {
        if (has_value || o->snct)
            o->valid = 0;
        o->snct = 1;
    } else if (ieq(name, nlen, "client_no_context_takeover")) {
        if (has_value || o->cnct)
            o->valid = 0;
        o->cnct = 1;
    } else if (ieq(name, nlen, "server_max_window_bits")) {
        if (!has_value || !w || o->smwb)
            o->valid = 0;
        o->smwb = w ? w : -1; /* -1 marks "seen" for the repeat check */
    } else if (ieq(name, nlen, "client_max_window_bits")) {
        if (o->cmwb_present || (has_value && !w))
            o->valid = 0;
        o->cmwb_present = 1;
        o->cmwb = w;
    } else {
        o->valid = 0; /* unknown parameter: decline this offer */
    }
}

/* Finds the first valid permessage-deflate offer; 0 if none, -1 on bad syntax. */
static int find_offer(const char *s, size_t len, offer_t *chosen)
{
    cursor_t c = {s, s + len};
    int found = 0;
    for (;;) {
        const char *name;
        size_t nlen;
        offer_t o;
        int is_pmd;
        skip_ows(&c);
        if (c.p == c.end)
            break;
        if (*c.p == ',') { /* empty list element (RFC 7230 7) */
            c.p++;
            continue;
        }
        if (!take_token(&c, &name, &nlen))
            return -1;
        is_pmd = ieq(name, nlen, "permessage-deflate");
        memset(&o, 0, sizeof(o));
        o.valid = 1;
        skip_ows(&c);
        while (c.p < c.end && *c.p == ';') {
            const char *pname, *val = NULL;
            char qval[VALUE_CAP];
            size_t plen, vlen = 0;
            int has_value = 0;
            c.p++;
            skip_ows(&c);
            if (!take_token(&c, &pname, &plen))
                return -1;
            skip_ows(&c);
            if (c.p < c.end && *c.p == '=') {
                c.p++;
                skip_ows(&c);
                if (c.p < c.end && *c.p == '"') {
                    if (!take_quoted(&c, qval, &vlen))
                        return -1;
                    val = qval; /* holds VALUE_CAP bytes; window values are shorter */
                } else if (!take_token(&c, &val, &vlen)) {
                    return -1;
                }
                has_value = 1;
                skip_ows(&c);
            }
            if (is_pmd)
                offer_param(&o, pname, plen, has_value, val, vlen);
        }
        if (c.p < c.end && *c.p != ',')
            return -1;
        if (is_pmd && o.valid && !found) {
            *chosen = o;
            found = 1;
        }
    }
    return found;
}

/* ---- negotiation ---------------------------------------------------------- */

static void add_param(pmd_agreement_t *out, const char *name, int value)
{
    char *p = out->response + out->response_len;
    size_t room = sizeof(out->response) - out->response_len;
    int n = value ? snprintf(p, room, "; %s=%d", name, value) : snprintf(p, room, "; %s", name);
    if (n > 0 && (size_t)n < room)
        out->response_len += (size_t)n;
}

int pmd_negotiate(const char *offer, size_t len, unsigned options, pmd_agreement_t *out)
{
    unsigned comp = options & PMD_COMPRESSOR_MASK, decomp = (options & PMD_DECOMPRESSOR_MASK) >> 8;
    int smwb_answer = 0, cmwb_answer = 0, snct_answer = 0, cnct_answer = 0;
    offer_t o;

    memset(&o, 0, sizeof(o)); /* gcc -O3 cannot see find_offer fill it */

    memset(out, 0, sizeof(*out));
    if (!offer || options == 0 || !pmd_options_valid(options))
        return 0;
    if (find_offer(offer, len, &o) != 1)
        return 0;

    /* our compressor */
    if (o.snct)
        snct_answer = 1; /* accepting the offer means echoing it (7.1.1.1) */
    if (o.smwb)
        smwb_answer = o.smwb; /* likewise: the same or a smaller value (7.1.2.1) */
    if (comp == PMD_SHARED_COMPRESSOR) {
        snct_answer = 1;
        if (!o.smwb || o.smwb == 15) {
            out->deflate_window = PMD_SHARED_COMPRESSOR;
            out->deflate_mem_level = 8;
        } else if (o.smwb >= 9) {
            /* A smaller window than the loop-wide stream's: a small stream
             * of the connection's own, still reset after every message. */
            out->deflate_window = (uint8_t)o.smwb;
            out->deflate_mem_level = (uint8_t)(o.smwb - 8);
        }
    } else if (comp) {
        int w = (int)(comp >> 4);
        if (o.smwb && o.smwb < w)
            w = o.smwb;
        if (w >= 9) {
            out->deflate_window = (uint8_t)w;
            out->deflate_mem_level = (uint8_t)(comp & 0xF);
        }
        if (w < 15)
            smwb_answer = w;
    }
    out->deflate_shared = (uint8_t)snct_answer;

    /* our decompressor: the window the client may use */
    if (o.cnct)
        cnct_answer = 1; /* the client resets anyway; saying so costs nothing */
    if (decomp >= 9) {
        if (o.cmwb_present) {
            int w = o.cmwb ? o.cmwb : 15;
            if ((int)decomp < w)
                w = (int)decomp;
            if (w < 15)
                cmwb_answer = w;
            out->inflate_window = (uint8_t)w;
        } else {
            if (decomp < 15)
                cnct_answer = 1; /* we cannot limit its window: no context then */
            out->inflate_window = 15;
        }
    } else {
        /* no or a shared decompressor: the client must not keep context */
        cnct_answer = 1;
        out->inflate_window = 15;
    }
    out->inflate_shared = (uint8_t)cnct_answer;

    out->enabled = 1;
    memcpy(out->response, "permessage-deflate", 18);
    out->response_len = 18;
    if (snct_answer)
        add_param(out, "server_no_context_takeover", 0);
    if (cnct_answer)
        add_param(out, "client_no_context_takeover", 0);
    if (smwb_answer)
        add_param(out, "server_max_window_bits", smwb_answer);
    if (cmwb_answer)
        add_param(out, "client_max_window_bits", cmwb_answer);
    out->response[out->response_len] = '\0';
    return 1;
}

/* ---- buffers -------------------------------------------------------------- */

void pmd_buf_free(pmd_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Make the capacity at least want bytes. */
static int buf_reserve(pmd_buf_t *b, size_t want)
{
    char *n;
    if (b->cap >= want)
        return 1;
    n = realloc(b->data, want);
    if (!n)
        return 0;
    b->data = n;
    b->cap = want;
    return 1;
}

static uInt chunk(size_t n)
{
    return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

/* ---- deflate -------------------------------------------------------------- */

struct pmd_deflater_s {
    z_stream z;
};

pmd_deflater_t *pmd_deflater_new(int window_bits, int mem_level)
{
    pmd_deflater_t *d;
    if (window_bits < 8 || window_bits > 15 || mem_level < 1 || mem_level > 9)
        return NULL;
    if (window_bits == 8)
        window_bits = 9; /* zlib refuses an 8-bit raw deflate window */
    d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    if (deflateInit2(&d->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY) != Z_OK) {
        free(d);
        return NULL;
    }
    return d;
}

void pmd_deflater_free(pmd_deflater_t *d)
{
    if (!d)
        return;
    deflateEnd(&d->z);
    free(d);
}

int pmd_deflate(pmd_deflater_t *d, const char *in, size_t len, int reset, pmd_buf_t *out)
{
    z_stream *z = &d->z;
    size_t want = deflateBound(z, (uLong)len) + 16; /* + the sync flush's empty block */
    size_t fed = 0; /* input bytes handed to zlib so far */
    int r, status = PMD_OK;

    out->len = 0;
    if (!buf_reserve(out, want))
        return PMD_NOMEM;
    if (len == 0) {
        /* zlib will not flush twice in a row with nothing new; an empty
         * message is the single byte 0x00 (7.2.3.6), which leaves the
         * peer's window as it was, so our stream needs no call */
        out->data[0] = 0;
        out->len = 1;
        if (reset)
            deflateReset(z);
        return PMD_OK;
    }
    /* zlib counts input in uInt: a huge message goes in slices */
    for (;;) {
        int flush;
        if (z->avail_in == 0 && fed < len) {
            z->next_in = (Bytef *)(uintptr_t)(in + fed);
            z->avail_in = chunk(len - fed);
            fed += z->avail_in;
        }
        flush = fed < len ? Z_NO_FLUSH : Z_SYNC_FLUSH;
        if (out->len == out->cap && !buf_reserve(out, out->cap * 2)) {
            status = PMD_NOMEM;
            break;
        }
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = chunk(out->cap - out->len);
        r = deflate(z, flush);
        out->len = (size_t)((char *)z->next_out - out->data);
        if (r != Z_OK && r != Z_BUF_ERROR) {
            status = PMD_ERROR;
            break;
        }
        /* done: everything in and the flush fully written out */
        if (flush == Z_SYNC_FLUSH && z->avail_in == 0 && z->avail_out > 0)
            break;
        if (r == Z_BUF_ERROR && z->avail_out > 0) {
            status = PMD_ERROR; /* no progress with room to spare */
            break;
        }
    }
    z->next_in = NULL;
    z->avail_in = 0;
    if (status == PMD_OK) {
        /* a sync flush ends with an empty stored block: 00 00 ff ff goes (7.2.1) */
        if (out->len < 4 || memcmp(out->data + out->len - 4, "\0\0\xff\xff", 4) != 0)
            status = PMD_ERROR;
        else
            out->len -= 4;
    }
    if (reset || status != PMD_OK)
        deflateReset(z);
    if (status != PMD_OK)
        out->len = 0;
    return status;
}

/* ---- inflate -------------------------------------------------------------- */

struct pmd_inflater_s {
    z_stream z;
};

pmd_inflater_t *pmd_inflater_new(int window_bits)
{
    pmd_inflater_t *f;
    if (window_bits < 8 || window_bits > 15)
        return NULL;
    /* a zlib-based peer told "8" quietly uses 9; a larger window is always safe */
    if (window_bits == 8)
        window_bits = 9;
    f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    if (inflateInit2(&f->z, -window_bits) != Z_OK) {
        free(f);
        return NULL;
    }
    return f;
}

void pmd_inflater_free(pmd_inflater_t *f)
{
    if (!f)
        return;
    inflateEnd(&f->z);
    free(f);
}

/* A final block (BFINAL=1, RFC 7692 7.2.3.5) ended the deflate stream: start
 * a new one for the next message, keeping the window unless we reset. */
static int restart_after_final(z_stream *z, int reset)
{
    Bytef dict[32768];
    uInt n = 0;
    if (!reset && inflateGetDictionary(z, dict, &n) != Z_OK)
        return 0;
    if (inflateReset(z) != Z_OK)
        return 0;
    return reset || n == 0 || inflateSetDictionary(z, dict, n) == Z_OK;
}

int pmd_inflate(pmd_inflater_t *f, const char *in, size_t len, size_t max_out, int reset, pmd_buf_t *out)
{
    static const char tail[4] = {0, 0, (char)0xff, (char)0xff};
    z_stream *z = &f->z;
    /* one byte past the limit tells "too big" from "exactly max_out" */
    size_t limit = max_out ? max_out + 1 : SIZE_MAX;
    size_t pos = 0; /* input bytes of the message handed to zlib so far */
    int in_tail = 0, r, status = PMD_OK;

    out->len = 0;
    {
        /* a guess that suits typical ratios; grown by doubling, never past limit */
        size_t first = len < SIZE_MAX / 4 ? len * 4 + 64 : SIZE_MAX;
        if (first < 1024)
            first = 1024;
        if (first > limit)
            first = limit;
        if (!buf_reserve(out, first))
            return PMD_NOMEM;
    }
    z->avail_in = 0;
    for (;;) {
        if (z->avail_in == 0) {
            if (pos < len) {
                z->next_in = (Bytef *)(uintptr_t)(in + pos);
                z->avail_in = chunk(len - pos);
                pos += z->avail_in;
            } else if (!in_tail) {
                /* restore what the sender removed (7.2.2) */
                z->next_in = (Bytef *)(uintptr_t)tail;
                z->avail_in = 4;
                in_tail = 1;
            }
        }
        if (out->len >= limit) {
            status = PMD_TOO_BIG;
            break;
        }
        if (out->len == out->cap) {
            size_t grow = out->cap <= limit / 2 ? out->cap * 2 : limit;
            if (!buf_reserve(out, grow)) {
                status = PMD_NOMEM;
                break;
            }
        }
        z->next_out = (Bytef *)out->data + out->len;
        z->avail_out = chunk((out->cap < limit ? out->cap : limit) - out->len);
        r = inflate(z, Z_SYNC_FLUSH);
        out->len = (size_t)((char *)z->next_out - out->data);
        if (r == Z_STREAM_END) {
            /* the rest of the message is the empty block a BFINAL sender
             * appends (7.2.1); there is nothing more to inflate */
            if (!restart_after_final(z, reset))
                status = PMD_ERROR;
            else if (out->len > max_out && max_out)
                status = PMD_TOO_BIG;
            break;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            status = PMD_ERROR; /* corrupt data, or a dictionary request */
            break;
        }
        if (max_out && out->len > max_out) {
            status = PMD_TOO_BIG;
            break;
        }
        /* all of it (the tail too) consumed and no output held back; a
         * whole message leaves zlib between blocks (data_type bit 7),
         * anything else was cut short */
        if (in_tail && z->avail_in == 0 && z->avail_out > 0) {
            if (!(z->data_type & 128))
                status = PMD_ERROR;
            break;
        }
        if (r == Z_BUF_ERROR && z->avail_out > 0 && z->avail_in > 0) {
            status = PMD_ERROR;
            break;
        }
    }
    z->next_in = NULL;
    z->avail_in = 0;
    /* after a failure the window is unreliable: start clean (the caller
     * should close the connection anyway) */
    if (status != PMD_OK || reset)
        inflateReset(z);
    if (status != PMD_OK)
        out->len = 0;
    return status;
}
