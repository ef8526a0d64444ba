/*
 * The HTTP side of the WebSocket opening handshake (RFC 6455 section 4.2):
 * checking the client's key and computing Sec-WebSocket-Accept, and picking
 * the subprotocol. Header lookup stays with the caller.
 */
#ifndef SOCKETIFY_WS_HANDSHAKE_H
#define SOCKETIFY_WS_HANDSHAKE_H

#include <stddef.h>

#define WS_ACCEPT_LEN 28

/* 1 if key is a valid Sec-WebSocket-Key: base64 of exactly 16 bytes (24 chars, "==" padding). */
int ws_key_valid(const char *key, size_t len);
/* base64(SHA-1(key + the RFC's GUID)) into out (28 chars, no NUL). Returns 0, -1 on failure. */
int ws_accept_key(const char *key, size_t len, char out[WS_ACCEPT_LEN]);
/* 1 if a comma-separated header value (Connection, Upgrade) lists token,
 * compared case-insensitively, ignoring whitespace around list items. */
int ws_list_has_token(const char *value, size_t len, const char *token);
/* First protocol of a Sec-WebSocket-Protocol list (trimmed): *out, *out_len; 0 if none. */
int ws_first_protocol(const char *value, size_t len, const char **out, size_t *out_len);

#endif
