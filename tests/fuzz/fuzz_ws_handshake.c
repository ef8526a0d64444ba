/*
 * libFuzzer target for socketify_cy/native/ws_handshake.c.
 *
 * Build (clang):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isocketify_cy/native \
 *       socketify_cy/native/ws_handshake.c tests/fuzz/fuzz_ws_handshake.c -o /tmp/fuzz_wsh -lcrypto
 * Build without libFuzzer (runs the files named on the command line):
 *   gcc -g -O1 -fsanitize=address,undefined -DFUZZ_STANDALONE -Isocketify_cy/native \
 *       socketify_cy/native/ws_handshake.c tests/fuzz/fuzz_ws_handshake.c -o /tmp/fuzz_wsh -lcrypto
 *
 * Input layout: the low 3 bits of byte 0 say how many piece-size bytes
 * follow (0-7); the first size is where the token ends and the header
 * value begins (the rest of the input). The whole input is also tried as a
 * key, and its first 16 bytes are encoded into a key that must be valid.
 * Key validity is compared with a reference; accept keys with one computed
 * from OpenSSL's one-shot digest and base64 (EVP_Digest, EVP_EncodeBlock);
 * token lists with a reference splitter.
 */
#include "ws_handshake.h"
#include "fuzz_common.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int ref_b64_index(char c)
{
    const char *p = c ? strchr(ALPHA, c) : NULL;
    return p ? (int)(p - ALPHA) : -1;
}

/* 22 alphabet characters, the 22nd with its low 4 bits zero, then "==". */
static int ref_key_valid(const char *k, size_t len)
{
    if (len != 24 || k[22] != '=' || k[23] != '=')
        return 0;
    for (size_t i = 0; i < 22; i++)
        if (ref_b64_index(k[i]) < 0)
            return 0;
    return (ref_b64_index(k[21]) & 0x0F) == 0;
}

static void ref_accept(const char *k, size_t len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char *b = malloc(len + sizeof(guid));
    if (!b)
        abort();
    memcpy(b, k, len);
    memcpy(b + len, guid, sizeof(guid) - 1);
    FUZZ_CHECK(EVP_Digest(b, len + sizeof(guid) - 1, md, &md_len, EVP_sha1(), NULL) == 1 && md_len == 20);
    FUZZ_CHECK(EVP_EncodeBlock((unsigned char *)out, md, 20) == 28);
    free(b);
}

static void check_accept(const char *k, size_t len)
{
    char out[WS_ACCEPT_LEN + 1], ref[29];
    out[WS_ACCEPT_LEN] = 'Z';
    FUZZ_CHECK(ws_accept_key(k, len, out) == 0);
    FUZZ_CHECK(out[WS_ACCEPT_LEN] == 'Z');
    for (int i = 0; i < 27; i++)
        FUZZ_CHECK(ref_b64_index(out[i]) >= 0);
    FUZZ_CHECK(out[27] == '=');
    ref_accept(k, len, ref);
    FUZZ_CHECK(memcmp(out, ref, WS_ACCEPT_LEN) == 0);
}

static int ows(char c) { return c == ' ' || c == '\t'; }

static int ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return 0;
    }
    return 1;
}

/* Reference: split at every comma, trim, compare. */
static int ref_has_token(const char *v, size_t len, const char *tok)
{
    size_t tl = strlen(tok), start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || v[i] == ',') {
            size_t a = start, b = i;
            while (a < b && ows(v[a]))
                a++;
            while (b > a && ows(v[b - 1]))
                b--;
            if (b > a && b - a == tl && ieq(v + a, tok, tl))
                return 1;
            start = i + 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t nsizes, cut;
    char *all, *tok, *val;

    if (size < 1)
        return 0;
    nsizes = data[0] & 7;
    if (size < 1 + nsizes)
        return 0;
    cut = nsizes ? data[1] : 0;
    data += 1 + nsizes;
    size -= 1 + nsizes;
    if (cut > size)
        cut = size;

    all = malloc(size ? size : 1);
    if (!all)
        abort();
    memcpy(all, data, size);

    /* the whole input as a key */
    FUZZ_CHECK(ws_key_valid(all, size) == ref_key_valid(all, size));
    check_accept(all, size);
    if (size >= 24)
        FUZZ_CHECK(ws_key_valid(all, 24) == ref_key_valid(all, 24));

    /* a key encoded from 16 fuzz bytes is always valid */
    if (size >= 16) {
        char key[25 + 8];
        FUZZ_CHECK(EVP_EncodeBlock((unsigned char *)key, data, 16) == 24);
        FUZZ_CHECK(ws_key_valid(key, 24));
        check_accept(key, 24);
        /* changing any one character to a non-alphabet byte breaks it */
        key[data[0] % 24] = (char)(data[1] | 0x80);
        FUZZ_CHECK(!ws_key_valid(key, 24));
    }

    /* token lists: token = the first cut bytes (up to a NUL), value = the rest */
    tok = malloc(cut + 1);
    val = malloc(size - cut ? size - cut : 1);
    if (!tok || !val)
        abort();
    memcpy(tok, data, cut);
    tok[cut] = '\0';
    memcpy(val, data + cut, size - cut);
    {
        size_t vlen = size - cut;
        const char *fp = NULL;
        size_t fl = 0;
        int has = ws_list_has_token(val, vlen, tok);
        FUZZ_CHECK(has == ref_has_token(val, vlen, tok));
        if (ws_first_protocol(val, vlen, &fp, &fl)) {
            char *first;
            FUZZ_CHECK(fl > 0 && fp >= val && fp + fl <= val + vlen);
            FUZZ_CHECK(!ows(fp[0]) && !ows(fp[fl - 1]) && memchr(fp, ',', fl) == NULL);
            for (const char *q = val; q < fp; q++)
                FUZZ_CHECK(ows(*q) || *q == ',');
            FUZZ_CHECK(fp + fl == val + vlen || ows(fp[fl]) || fp[fl] == ',');
            first = malloc(fl + 1);
            if (!first)
                abort();
            memcpy(first, fp, fl);
            first[fl] = '\0';
            if (strlen(first) == fl)
                FUZZ_CHECK(ws_list_has_token(val, vlen, first));
            free(first);
        } else {
            for (size_t i = 0; i < vlen; i++)
                FUZZ_CHECK(ows(val[i]) || val[i] == ',');
        }
        /* an empty token is never listed */
        if (has)
            FUZZ_CHECK(tok[0] != '\0');
    }
    free(tok);
    free(val);
    free(all);
    return 0;
}
