/* sources: socketify_cy/native/ws_handshake.c | libs: -lcrypto */
/*
 * Tests for the handshake helpers: the RFC 6455 accept-key example, key
 * validation, token lists and the first subprotocol.
 */
#include "ws_handshake.h"

#include <stdio.h>
#include <string.h>

#include "harness.h"

#define RUN(fn) run(#fn, fn)

#define KEY_OK(s) ws_key_valid(s, sizeof(s) - 1)
#define HAS(v, t) ws_list_has_token(v, sizeof(v) - 1, t)

static void test_accept_key_rfc_example(void)
{
    char out[WS_ACCEPT_LEN + 1];
    memset(out, 0, sizeof(out));
    /* RFC 6455 section 1.3 */
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, out) == 0);
    CHECK(memcmp(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WS_ACCEPT_LEN) == 0);
    CHECK(out[WS_ACCEPT_LEN] == '\0'); /* writes exactly 28 bytes */
    /* another key gives another answer (checked with an independent SHA-1) */
    CHECK(ws_accept_key("x3JJHMbDL1EzLkh9GBhXDw==", 24, out) == 0);
    CHECK(memcmp(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=", WS_ACCEPT_LEN) == 0);
}

static void test_key_valid(void)
{
    CHECK(KEY_OK("dGhlIHNhbXBsZSBub25jZQ=="));
    CHECK(KEY_OK("AAAAAAAAAAAAAAAAAAAAAA=="));
    CHECK(KEY_OK("/////////////////////w=="));
    CHECK(KEY_OK("+++++++++++++++++++++w=="));
    /* wrong lengths */
    CHECK(!KEY_OK(""));
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZQ="));   /* 23 */
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZQ==="));  /* 25 */
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZQ"));     /* unpadded */
    /* bad characters */
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZ-=="));
    CHECK(!KEY_OK("dGhlIHNhbXBs ZSBub25jZ=="));
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZ_=="));
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25j\x80Q=="));
    /* bad padding, or decoding to a length other than 16 */
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZQ=A"));
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZ=Q="));
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZQ0="));   /* 17 bytes */
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZQ00"));   /* 18 bytes */
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25j===="));
    CHECK(!KEY_OK("========================"));
    CHECK(!KEY_OK("dGhlIHNhbXBsZSBub25jZR=="));   /* non-zero bits under the padding */
    {
        /* a NUL inside is not base64 */
        char k[24];
        memcpy(k, "dGhlIHNhbXBsZSBub25jZQ==", 24);
        k[5] = '\0';
        CHECK(!ws_key_valid(k, 24));
    }
}

static void test_list_has_token(void)
{
    CHECK(HAS("keep-alive, Upgrade", "upgrade"));
    CHECK(HAS("upgrade", "upgrade"));
    CHECK(HAS("UPGRADE", "Upgrade"));
    CHECK(HAS(" websocket ", "websocket"));
    CHECK(HAS("\twebsocket\t,", "websocket"));
    CHECK(HAS(",,Upgrade,,", "upgrade"));
    CHECK(HAS("a,b ,  c", "c"));
    CHECK(HAS("a,b ,  c", "b"));
    CHECK(!HAS("websocketx", "websocket"));
    CHECK(!HAS("xwebsocket", "websocket"));
    CHECK(!HAS("web socket", "websocket"));
    CHECK(!HAS("keep-alive", "upgrade"));
    CHECK(!HAS("", "upgrade"));
    CHECK(!HAS(" , ", "upgrade"));
    CHECK(!HAS("upgrad", "upgrade"));
    CHECK(!HAS("keep-alive;upgrade", "upgrade"));
    /* the length bounds the value: a token past it is not seen */
    CHECK(!ws_list_has_token("keep-alive, upgrade", 12, "upgrade"));
}

static void test_first_protocol(void)
{
    const char *p = NULL;
    size_t n = 99;
    CHECK(ws_first_protocol("chat, superchat", 15, &p, &n) == 1 && n == 4 && memcmp(p, "chat", 4) == 0);
    CHECK(ws_first_protocol("  chat  ", 8, &p, &n) == 1 && n == 4 && memcmp(p, "chat", 4) == 0);
    CHECK(ws_first_protocol("chat", 4, &p, &n) == 1 && n == 4 && memcmp(p, "chat", 4) == 0);
    CHECK(ws_first_protocol(" , mqtt ,x", 10, &p, &n) == 1 && n == 4 && memcmp(p, "mqtt", 4) == 0);
    CHECK(ws_first_protocol("v1.proto\t,v2", 12, &p, &n) == 1 && n == 8 && memcmp(p, "v1.proto", 8) == 0);
    CHECK(ws_first_protocol("", 0, &p, &n) == 0);
    CHECK(ws_first_protocol(" \t ", 3, &p, &n) == 0);
    CHECK(ws_first_protocol(",,", 2, &p, &n) == 0);
}

int main(void)
{
    RUN(test_accept_key_rfc_example);
    RUN(test_key_valid);
    RUN(test_list_has_token);
    RUN(test_first_protocol);
    return report();
}
