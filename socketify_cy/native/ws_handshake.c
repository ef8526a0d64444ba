/*
 * The HTTP side of the WebSocket opening handshake (RFC 6455 section 4.2).
 * SHA-1 comes from libcrypto's EVP interface; base64 is small enough to
 * write here, and strict decoding is what key validation needs anyway.
 */
#include "ws_handshake.h"

#include <openssl/evp.h>
#include <string.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* The 6-bit value of a base64 character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Decoded length of canonical, padded base64 (RFC 4648 section 4), or -1:
 * the length must be a multiple of 4, '=' only as the last one or two
 * characters, and the bits the padding drops must be zero.
 */
static long b64_decoded_len(const char *s, size_t len)
{
    size_t i, pad = 0;
    if (len % 4)
        return -1;
    if (len && s[len - 1] == '=')
        pad = (len >= 2 && s[len - 2] == '=') ? 2 : 1;
    for (i = 0; i < len - pad; i++)
        if (b64_value((unsigned char)s[i]) < 0)
            return -1;
    if (pad) {
        /* the last data character carries 4 (pad 2) or 2 (pad 1) unused bits */
        int last = b64_value((unsigned char)s[len - pad - 1]);
        if (last & (pad == 2 ? 0x0F : 0x03))
            return -1;
    }
    return (long)(len / 4 * 3 - pad);
}

static void b64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i, o = 0;
    for (i = 0; i + 3 <= len; i += 3) {
        unsigned v = ((unsigned)in[i] << 16) | ((unsigned)in[i + 1] << 8) | in[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = B64[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (len - i == 2) {
        unsigned v = ((unsigned)in[i] << 16) | ((unsigned)in[i + 1] << 8);
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = B64[(v >> 6) & 63];
        out[o++] = '=';
    }
}

int ws_key_valid(const char *key, size_t len)
{
    return len == 24 && b64_decoded_len(key, len) == 16;
}

int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    int ok;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return -1;
    ok = EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) == 1 && EVP_DigestUpdate(ctx, key, len) == 1 &&
         EVP_DigestUpdate(ctx, WS_GUID, sizeof(WS_GUID) - 1) == 1 && EVP_DigestFinal_ex(ctx, md, &md_len) == 1 &&
         md_len == 20;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -1;
    b64_encode(md, 20, out); /* 20 bytes -> 28 characters */
    return 0;
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Calls back for each comma-separated item of value, trimmed of OWS; empty items skipped.
 * Stops when fn returns non-zero and returns that. */
static int each_item(const char *value, size_t len, int (*fn)(const char *, size_t, void *), void *arg)
{
    size_t i = 0;
    while (i < len) {
        size_t start, end;
        while (i < len && (is_ows(value[i]) || value[i] == ','))
            i++;
        start = i;
        while (i < len && value[i] != ',')
            i++;
        end = i;
        while (end > start && is_ows(value[end - 1]))
            end--;
        if (end > start) {
            int r = fn(value + start, end - start, arg);
            if (r)
                return r;
        }
    }
    return 0;
}

static int item_is_token(const char *item, size_t n, void *arg)
{
    const char *token = arg;
    size_t i;
    if (strlen(token) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (lower((unsigned char)item[i]) != lower((unsigned char)token[i]))
            return 0;
    return 1;
}

int ws_list_has_token(const char *value, size_t len, const char *token)
{
    return each_item(value, len, item_is_token, (void *)token);
}

struct first_item {
    const char *p;
    size_t n;
};

static int take_first(const char *item, size_t n, void *arg)
{
    struct first_item *f = arg;
    f->p = item;
    f->n = n;
    return 1;
}

int ws_first_protocol(const char *value, size_t len, const char **out, size_t *out_len)
{
    struct first_item f = {NULL, 0};
    if (!each_item(value, len, take_first, &f))
        return 0;
    *out = f.p;
    *out_len = f.n;
    return 1;
}
