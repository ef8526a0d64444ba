/*
 * uSockets hands callbacks no ssl flag, yet every uSockets call needs one.
 * A protocol writes its handlers once, taking `int ssl` first (static
 * on_data, on_writable, on_end, on_timeout, on_close in its own file), and
 * SOCKET_KIND_CALLBACKS(KIND, SSL) makes the thin trampolines for one kind
 * of context (tcp 0, tls 1) plus register_common_<KIND>(ctx) that installs
 * them. Extra callbacks (on_open, on_long_timeout) the protocol adds itself.
 */
#ifndef SOCKETIFY_SOCKET_KINDS_H
#define SOCKETIFY_SOCKET_KINDS_H

#include "libusockets.h"

#define SOCKET_KIND_CALLBACKS(KIND, SSL)                                                            \
    static struct us_socket_t *on_data_##KIND(struct us_socket_t *s, char *d, int n) {            \
        return on_data(SSL, s, d, n);                                                             \
    }                                                                                             \
    static struct us_socket_t *on_writable_##KIND(struct us_socket_t *s) { return on_writable(SSL, s); } \
    static struct us_socket_t *on_end_##KIND(struct us_socket_t *s) { return on_end(SSL, s); }    \
    static struct us_socket_t *on_timeout_##KIND(struct us_socket_t *s) { return on_timeout(SSL, s); } \
    static struct us_socket_t *on_close_##KIND(struct us_socket_t *s, int code, void *reason) {   \
        return on_close(SSL, s, code, reason);                                                    \
    }                                                                                             \
    static void register_common_##KIND(struct us_socket_context_t *ctx) {                         \
        us_socket_context_on_data(SSL, ctx, on_data_##KIND);                                      \
        us_socket_context_on_writable(SSL, ctx, on_writable_##KIND);                              \
        us_socket_context_on_end(SSL, ctx, on_end_##KIND);                                        \
        us_socket_context_on_timeout(SSL, ctx, on_timeout_##KIND);                                \
        us_socket_context_on_close(SSL, ctx, on_close_##KIND);                                    \
    }

#endif
