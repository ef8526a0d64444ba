/*
 * TLS on top of the plain socket layer, with OpenSSL. The only file that
 * includes OpenSSL headers; eventing (loop.c, socket.c, context.c) calls in
 * through the us_internal_ssl_* functions and the wrapped callbacks.
 *
 * How bytes move:
 *  - One BIO per loop, shared by every TLS socket. Before each OpenSSL call
 *    we note which SSL and socket it is for (tls_enter). The BIO's read side
 *    serves the ciphertext currently being processed (the loop's receive
 *    buffer, no copy) and only to the SSL it arrived for; its write side
 *    sends straight to the socket.
 *  - Ciphertext the kernel refuses is kept in the socket's tail (at most
 *    about one record, since application writes go one record at a time) and
 *    sent before anything else. So OpenSSL never sees a failed write and the
 *    plaintext it did not consume is simply "not accepted", as with TCP: the
 *    caller may retry with any bytes, or none.
 *  - Bytes OpenSSL writes while reading (handshake flights, session tickets,
 *    alerts) are staged per loop and leave in one send per flight.
 *  - Decrypted data goes to a per-loop plaintext buffer with the same padding
 *    as the receive buffer, and to the protocol's on_data in as few calls as
 *    possible.
 * Handshakes are driven by the reads; sockets still handshaking are low
 * priority (loop.c) so a flood of them cannot starve established ones.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "internal.h"
#include "sni_tree.h"

#define TLS_PLAIN_LENGTH LIBUS_RECV_BUFFER_LENGTH
#define TLS_STAGE_LENGTH (32 * 1024)
/* Strong suites only for TLS 1.2; AES-128-GCM first, in both versions: with
 * OpenSSL 3.0 the cost per small record is mostly fixed overhead, and the
 * shorter key schedule is what is left to save (ChaCha20 still wins for a
 * client that lists it first: SSL_OP_PRIORITIZE_CHACHA). */
#define TLS_DEFAULT_CIPHERS \
    "ECDHE+AES128GCM:ECDHE+AES256GCM:ECDHE+CHACHA20:DHE+AES128GCM:DHE+AES256GCM:DHE+CHACHA20:!aNULL:!eNULL:!SHA1"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_SESSION_ID_CONTEXT "socketify_cy"

struct tls_loop {
    BIO *bio;
    BIO_METHOD *method;
    SSL *cur_ssl;                  /* the SSL inside the current OpenSSL call */
    struct us_socket_t *cur_socket;
    const char *in;                /* ciphertext being consumed, for in_ssl only */
    int in_len;
    SSL *in_ssl;
    int msg_more;                  /* the next direct send may be coalesced */
    int staging;                   /* writes go to stage (inside a read) */
    int stage_len;
    char stage[TLS_STAGE_LENGTH];
    char *plain;                   /* TLS_PLAIN_LENGTH + 2 * padding */
};

struct sni_entry {
    SSL_CTX *ssl_ctx;
    void *user;
};

typedef struct us_internal_ssl_socket_t tls_socket;
typedef struct us_internal_ssl_socket_context_t tls_context;

static _Thread_local char error_text[512];

const char *us_socket_context_ssl_error(void) { return error_text; }

/* ---- errors -------------------------------------------------------------------- */

/* "what: the OpenSSL reason" into error_text; clears OpenSSL's queue. */
static void set_error(const char *fmt, ...) {
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    unsigned long e = ERR_peek_last_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    if (reason) {
        snprintf(error_text, sizeof(error_text), "%s: %s", what, reason);
    } else {
        snprintf(error_text, sizeof(error_text), "%s", what);
    }
    ERR_clear_error();
}

/* ---- per-loop state and the shared BIO -------------------------------------------- */

static inline struct tls_loop *tls_of(struct us_loop_t *loop) { return loop->ssl_data; }

static inline void tls_enter(struct tls_loop *t, tls_socket *ts) {
    t->cur_ssl = ts->ssl;
    t->cur_socket = &ts->s;
}

static int tail_append(tls_socket *ts, const char *data, int len) {
    unsigned int need = ts->tail_len + (unsigned int)len;
    if (need > ts->tail_cap) {
        if (ts->tail_off) { /* reclaim what went out */
            memmove(ts->tail, ts->tail + ts->tail_off, ts->tail_len - ts->tail_off);
            ts->tail_len -= ts->tail_off;
            ts->tail_off = 0;
            need = ts->tail_len + (unsigned int)len;
        }
        if (need > ts->tail_cap) {
            unsigned int cap = ts->tail_cap ? ts->tail_cap : 4096;
            while (cap < need) cap *= 2;
            char *p = realloc(ts->tail, cap);
            if (!p) {
                return -1;
            }
            ts->tail = p;
            ts->tail_cap = cap;
        }
    }
    memcpy(ts->tail + ts->tail_len, data, (size_t)len);
    ts->tail_len += (unsigned int)len;
    return 0;
}

static inline int tail_pending(const tls_socket *ts) { return ts->tail_len > ts->tail_off; }

/* Send ciphertext now, keeping what the kernel refuses; -1 only without memory. */
static int send_or_keep(tls_socket *ts, const char *data, int len, int msg_more) {
    if (tail_pending(ts)) {
        return tail_append(ts, data, len); /* order: after what is waiting */
    }
    int n = us_internal_socket_send(&ts->s, data, len, msg_more);
    return n < len ? tail_append(ts, data + n, len - n) : 0;
}

static void finish_fin(tls_socket *ts) {
    if (ts->s.state & US_SOCKET_FIN_OWED) {
        ts->s.state &= (unsigned char)~US_SOCKET_FIN_OWED;
        shutdown(ts->s.p.fd, SHUT_WR);
    }
}

/* Send the tail; 1 once it is empty. */
static int flush_tail(tls_socket *ts) {
    while (tail_pending(ts)) {
        int left = (int)(ts->tail_len - ts->tail_off);
        int n = us_internal_socket_send(&ts->s, ts->tail + ts->tail_off, left, 0);
        if (n <= 0) {
            return 0;
        }
        ts->tail_off += (unsigned int)n;
        if (n < left) {
            return 0;
        }
    }
    free(ts->tail);
    ts->tail = NULL;
    ts->tail_len = ts->tail_off = ts->tail_cap = 0;
    finish_fin(ts);
    return 1;
}

static void stage_flush(struct tls_loop *t) {
    if (t->stage_len && t->cur_socket && !(t->cur_socket->state & US_SOCKET_CLOSED)) {
        send_or_keep((tls_socket *)t->cur_socket, t->stage, t->stage_len, 0);
    }
    t->stage_len = 0;
}

static int bio_write(BIO *b, const char *data, int len) {
    struct tls_loop *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    tls_socket *ts = (tls_socket *)t->cur_socket;
    if (!ts || (ts->s.state & US_SOCKET_CLOSED) || len < 0) {
        return -1;
    }
    if (t->staging) {
        if (t->stage_len + len > TLS_STAGE_LENGTH) {
            stage_flush(t);
        }
        if (len <= TLS_STAGE_LENGTH) {
            memcpy(t->stage + t->stage_len, data, (size_t)len);
            t->stage_len += len;
            return len;
        }
    }
    return send_or_keep(ts, data, len, t->msg_more) == 0 ? len : -1;
}

static int bio_read(BIO *b, char *out, int len) {
    struct tls_loop *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (t->in_ssl != t->cur_ssl || t->in_len == 0) {
        BIO_set_retry_read(b); /* nothing more for this SSL right now */
        return -1;
    }
    int n = len < t->in_len ? len : t->in_len;
    memcpy(out, t->in, (size_t)n);
    t->in += n;
    t->in_len -= n;
    return n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
    BIO_set_init(b, 1);
    return 1;
}

static struct tls_loop *tls_loop_get(struct us_loop_t *loop) {
    if (loop->ssl_data) {
        return loop->ssl_data;
    }
    struct tls_loop *t = calloc(1, sizeof(*t));
    if (!t) {
        return NULL;
    }
    t->plain = malloc(TLS_PLAIN_LENGTH + 2 * LIBUS_RECV_BUFFER_PADDING);
    t->method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "us_socket");
    if (t->plain && t->method && BIO_meth_set_write(t->method, bio_write) &&
        BIO_meth_set_read(t->method, bio_read) && BIO_meth_set_ctrl(t->method, bio_ctrl) &&
        BIO_meth_set_create(t->method, bio_create)) {
        t->bio = BIO_new(t->method);
    }
    if (!t->bio) {
        set_error("cannot set up TLS for the loop");
        BIO_meth_free(t->method);
        free(t->plain);
        free(t);
        return NULL;
    }
    BIO_set_data(t->bio, t);
    loop->ssl_data = t;
    return t;
}

void us_internal_ssl_loop_free(struct us_loop_t *loop) {
    struct tls_loop *t = loop->ssl_data;
    if (!t) {
        return;
    }
    BIO_free(t->bio);
    BIO_meth_free(t->method);
    free(t->plain);
    free(t);
    loop->ssl_data = NULL;
}

/* ---- SSL_CTX from options ------------------------------------------------------------- */

struct passphrase {
    const char *text;
};

static int passphrase_cb(char *buf, int size, int rwflag, void *user) {
    (void)rwflag;
    const struct passphrase *p = user;
    if (!p || !p->text) {
        return 0;
    }
    int n = (int)strlen(p->text);
    if (n > size) {
        n = size;
    }
    memcpy(buf, p->text, (size_t)n);
    return n;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    static const unsigned char ours[] = "\x08http/1.1";
    unsigned char *chosen;
    if (SSL_select_next_proto(&chosen, outlen, ours, sizeof(ours) - 1, in, inlen) == OPENSSL_NPN_NEGOTIATED) {
        *out = chosen;
        return SSL_TLSEXT_ERR_OK;
    }
    return SSL_TLSEXT_ERR_NOACK; /* no common protocol: go on without ALPN */
}

static int load_dh_params(SSL_CTX *c, const char *file) {
    BIO *in = BIO_new_file(file, "r");
    EVP_PKEY *dh = in ? PEM_read_bio_Parameters(in, NULL) : NULL;
    BIO_free(in);
    if (!dh || !SSL_CTX_set0_tmp_dh_pkey(c, dh)) {
        EVP_PKEY_free(dh);
        return 0;
    }
    return 1;
}

static SSL_CTX *create_ssl_ctx(struct us_socket_context_options_t o) {
    if (!o.cert_file_name || !o.key_file_name) {
        snprintf(error_text, sizeof(error_text), "a TLS context needs cert_file_name and key_file_name");
        return NULL;
    }
    ERR_clear_error();
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    if (!c) {
        set_error("cannot create an SSL_CTX");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_PRIORITIZE_CHACHA |
                               SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_ciphersuites(c, TLS13_SUITES);
    /* One record per SSL_write call (see us_internal_ssl_write) and retries
     * from a queue that may have moved. */
    long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
    if (o.ssl_prefer_low_memory_usage) {
        mode |= SSL_MODE_RELEASE_BUFFERS;
    }
    SSL_CTX_set_mode(c, mode);
    SSL_CTX_set_read_ahead(c, 1);
    /* Stateless tickets carry resumption; no server-side cache to grow. */
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(c, 1);
    SSL_CTX_set_session_id_context(c, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
                                   sizeof(TLS_SESSION_ID_CONTEXT) - 1);
    SSL_CTX_set_alpn_select_cb(c, alpn_select, NULL);
    SSL_CTX_set_dh_auto(c, 1);

    const char *ciphers = o.ssl_ciphers ? o.ssl_ciphers : TLS_DEFAULT_CIPHERS;
    if (!SSL_CTX_set_cipher_list(c, ciphers)) {
        set_error("ssl_ciphers '%s' selects no usable cipher", ciphers);
        goto fail;
    }
    struct passphrase pass = {o.passphrase};
    SSL_CTX_set_default_passwd_cb(c, passphrase_cb);
    SSL_CTX_set_default_passwd_cb_userdata(c, &pass);
    if (SSL_CTX_use_certificate_chain_file(c, o.cert_file_name) != 1) {
        set_error("cert_file_name %s: not a usable PEM certificate chain", o.cert_file_name);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c, o.key_file_name, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            /* OpenSSL 3 checks the pair while loading the key. */
            set_error("key_file_name %s does not match the certificate in cert_file_name %s", o.key_file_name,
                      o.cert_file_name);
            goto fail;
        }
        set_error("key_file_name %s: not a usable PEM private key%s", o.key_file_name,
                  o.passphrase ? " (wrong passphrase?)" : " (encrypted? give the passphrase)");
        goto fail;
    }
    if (SSL_CTX_check_private_key(c) != 1) {
        set_error("key_file_name %s does not match the certificate in cert_file_name %s", o.key_file_name,
                  o.cert_file_name);
        goto fail;
    }
    SSL_CTX_set_default_passwd_cb(c, NULL); /* pass lives on this stack only */
    SSL_CTX_set_default_passwd_cb_userdata(c, NULL);
    if (o.ca_file_name) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(o.ca_file_name);
        if (!names || SSL_CTX_load_verify_locations(c, o.ca_file_name, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            set_error("ca_file_name %s: not a usable PEM CA certificate", o.ca_file_name);
            goto fail;
        }
        SSL_CTX_set_client_CA_list(c, names);
        /* Client certificates are required, not just welcome. */
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    if (o.dh_params_file_name && !load_dh_params(c, o.dh_params_file_name)) {
        set_error("dh_params_file_name %s: not usable PEM DH parameters", o.dh_params_file_name);
        goto fail;
    }
    return c;
fail:
    SSL_CTX_set_default_passwd_cb(c, NULL);
    SSL_CTX_set_default_passwd_cb_userdata(c, NULL);
    SSL_CTX_free(c);
    return NULL;
}

/* ---- server names (SNI) ---------------------------------------------------------------- */

static int on_client_hello_name(SSL *ssl, int *alert, void *arg) {
    (void)alert;
    tls_context *ctx = arg;
    struct tls_loop *t = tls_of(ctx->sc.loop);
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name || (!ctx->sni && !ctx->on_server_name)) {
        return SSL_TLSEXT_ERR_OK; /* the default certificate */
    }
    struct sni_entry *e = ctx->sni ? us_sni_tree_match(ctx->sni, name) : NULL;
    if (!e && ctx->on_server_name) {
        /* The protocol may add the name now; the handshake goes on with it. */
        SSL *saved_ssl = t->cur_ssl;
        struct us_socket_t *saved_socket = t->cur_socket;
        int saved_staging = t->staging;
        stage_flush(t); /* the callback may write to other sockets */
        t->staging = 0;
        ctx->on_server_name(&ctx->sc, name);
        t->cur_ssl = saved_ssl;
        t->cur_socket = saved_socket;
        t->staging = saved_staging;
        e = ctx->sni ? us_sni_tree_match(ctx->sni, name) : NULL;
    }
    if (!e) {
        return SSL_TLSEXT_ERR_OK;
    }
    if (e->ssl_ctx != SSL_get_SSL_CTX(ssl)) {
        SSL_set_SSL_CTX(ssl, e->ssl_ctx);
        /* SSL_set_SSL_CTX takes the certificate; verification is per SSL. */
        SSL_set_verify(ssl, SSL_CTX_get_verify_mode(e->ssl_ctx), NULL);
        STACK_OF(X509_NAME) *cas = SSL_CTX_get_client_CA_list(e->ssl_ctx);
        if (cas) {
            SSL_set_client_CA_list(ssl, SSL_dup_CA_list(cas));
        }
    }
    if (t->cur_socket && t->cur_ssl == ssl) {
        ((tls_socket *)t->cur_socket)->sni_user = e->user;
    }
    return SSL_TLSEXT_ERR_OK;
}

static void free_sni_entry(void *value) {
    struct sni_entry *e = value;
    SSL_CTX_free(e->ssl_ctx);
    free(e);
}

/* ---- the wrapped socket callbacks -------------------------------------------------------- */

static int is_handshaking(struct us_socket_t *s) { return !((tls_socket *)s)->handshake_done; }

static struct us_socket_t *tls_on_open(struct us_socket_t *s, int is_client, char *ip, int ip_length) {
    tls_context *ctx = (tls_context *)s->context;
    tls_socket *ts = (tls_socket *)s;
    struct tls_loop *t = tls_of(s->context->loop);
    ts->ssl = SSL_new(ctx->ssl_context);
    if (!ts->ssl) {
        ERR_clear_error();
        return us_socket_close(0, s, LIBUS_SOCKET_CLOSE_CODE_CONNECTION_RESET, NULL);
    }
    ts->preamble = ctx->on_preamble != NULL;
    BIO_up_ref(t->bio); /* SSL_set_bio takes one reference when both sides are the same BIO */
    SSL_set_bio(ts->ssl, t->bio, t->bio);
    SSL_set_accept_state(ts->ssl);
    ts->opened = 1;
    return ctx->on_open ? ctx->on_open(s, is_client, ip, ip_length) : s;
}

static struct us_socket_t *tls_on_close(struct us_socket_t *s, int code, void *reason) {
    tls_context *ctx = (tls_context *)s->context;
    tls_socket *ts = (tls_socket *)s;
    struct tls_loop *t = tls_of(s->context->loop);
    struct us_socket_t *r = s;
    if (ts->opened && ctx->on_close) {
        r = ctx->on_close(s, code, reason);
    }
    if (ts->ssl) {
        if (t->cur_ssl == ts->ssl) {
            t->cur_ssl = NULL;
            t->cur_socket = NULL;
        }
        if (t->in_ssl == ts->ssl) {
            t->in_ssl = NULL;
        }
        SSL_free(ts->ssl);
        ts->ssl = NULL;
    }
    free(ts->tail);
    ts->tail = NULL;
    ts->tail_len = ts->tail_off = ts->tail_cap = 0;
    return r;
}

/* A plain HTTP request on the TLS port gets a plain answer, then our FIN. */
static void answer_plain_http(tls_socket *ts) {
    static const char answer[] =
        "HTTP/1.1 400 Bad Request\r\n"
        "Connection: close\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 48\r\n"
        "\r\n"
        "This port speaks HTTPS: use an https:// URL.\r\n\r\n";
    us_internal_socket_send(&ts->s, answer, (int)sizeof(answer) - 1, 0);
    shutdown(ts->s.p.fd, SHUT_WR);
    ts->s.state |= US_SOCKET_SHUT_DOWN;
}

/* After a fatal error: nothing more is read; the connection closes at once,
 * or, for plain HTTP, once the peer has read our answer (or times out). */
static struct us_socket_t *fail(tls_socket *ts, int plain_http) {
    ts->failed = 1;
    ERR_clear_error();
    if (plain_http) {
        answer_plain_http(ts);
        return &ts->s;
    }
    return us_socket_close(0, &ts->s, 0, NULL);
}

static struct us_socket_t *deliver(struct us_socket_t *s, char *data, int len) {
    tls_context *ctx = (tls_context *)s->context; /* re-read: the protocol may move s */
    return ctx->on_data ? ctx->on_data(s, data, len) : s;
}

static struct us_socket_t *tls_on_data(struct us_socket_t *s, char *data, int length) {
    struct tls_loop *t = tls_of(s->context->loop);
    tls_socket *ts = (tls_socket *)s;
    if (ts->failed) {
        return s;
    }
    if (US_UNLIKELY(ts->preamble)) {
        /* Plaintext before the handshake (a PROXY header): the protocol takes
         * it, and says where TLS begins once it has all of it. */
        int used = ((tls_context *)s->context)->on_preamble(s, data, length);
        if (used < 0 || us_socket_is_closed(0, s)) {
            return s;
        }
        ts->preamble = 0;
        data += used;
        length -= used;
        if (length <= 0) {
            return s;
        }
    }
    SSL *ssl = ts->ssl;
    t->in = data;
    t->in_len = length;
    t->in_ssl = ssl;
    char *buf = t->plain + LIBUS_RECV_BUFFER_PADDING;
    int got = 0;
    for (;;) {
        tls_enter(t, ts);
        t->staging = 1;
        int n = SSL_read(ssl, buf + got, TLS_PLAIN_LENGTH - got);
        t->staging = 0;
        stage_flush(t);
        if (US_UNLIKELY(!ts->handshake_done) && SSL_is_init_finished(ssl)) {
            ts->handshake_done = 1;
        }
        if (n > 0) {
            if (ts->close_notify_sent) {
                continue; /* we said goodbye: the rest is not read */
            }
            got += n;
            if (got == TLS_PLAIN_LENGTH) {
                s = deliver(s, buf, got);
                got = 0;
                if (us_socket_is_closed(0, s)) {
                    break;
                }
                ts = (tls_socket *)s;
            }
            if (t->in_len == 0 && !SSL_has_pending(ssl)) {
                break; /* all consumed: spare the call that would say WANT_READ */
            }
            continue;
        }
        int err = SSL_get_error(ssl, n);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            break; /* all input consumed */
        }
        if (got) {
            s = deliver(s, buf, got);
            got = 0;
            if (us_socket_is_closed(0, s)) {
                break;
            }
            ts = (tls_socket *)s;
        }
        if (err == SSL_ERROR_ZERO_RETURN) {
            ERR_clear_error();
            return us_socket_close(0, s, 0, NULL); /* the peer's close_notify */
        }
        unsigned long e = ERR_peek_error();
        int plain = !ts->handshake_done && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST;
        return fail(ts, plain);
    }
    t->in_len = 0;
    t->in_ssl = NULL;
    if (got && !us_socket_is_closed(0, s)) {
        s = deliver(s, buf, got);
        ts = (tls_socket *)s;
    }
    if (!us_socket_is_closed(0, s) && ts->write_wants_read && ts->handshake_done) {
        /* A write waited for the handshake: now it can go. */
        ts->write_wants_read = 0;
        tls_context *ctx = (tls_context *)s->context;
        if (ctx->on_writable) {
            s = ctx->on_writable(s);
        }
    }
    return s;
}

static struct us_socket_t *tls_on_writable(struct us_socket_t *s) {
    tls_socket *ts = (tls_socket *)s;
    if (tail_pending(ts) && !flush_tail(ts)) {
        return s; /* still blocked; writable stays watched */
    }
    if (ts->failed) {
        return s;
    }
    tls_context *ctx = (tls_context *)s->context;
    return ctx->on_writable ? ctx->on_writable(s) : s;
}

/* ---- contexts ------------------------------------------------------------------------- */

static tls_context *new_tls_context(struct us_loop_t *loop, int ext_size, SSL_CTX *ssl_ctx) {
    tls_context *ctx = calloc(1, sizeof(*ctx) + (size_t)ext_size);
    if (!ctx) {
        snprintf(error_text, sizeof(error_text), "out of memory");
        return NULL;
    }
    us_internal_context_init(&ctx->sc, loop);
    ctx->sc.is_ssl = 1;
    ctx->sc.is_low_prio = is_handshaking;
    ctx->sc.on_open = tls_on_open;
    ctx->sc.on_data = tls_on_data;
    ctx->sc.on_writable = tls_on_writable;
    ctx->sc.on_close = tls_on_close;
    ctx->ssl_context = ssl_ctx;
    return ctx;
}

struct us_socket_context_t *us_internal_ssl_context_create(struct us_loop_t *loop, int ext_size,
                                                           struct us_socket_context_options_t options) {
    error_text[0] = '\0';
    if (!tls_loop_get(loop)) {
        errno = ENOMEM;
        return NULL;
    }
    SSL_CTX *c = create_ssl_ctx(options);
    if (!c) {
        errno = EINVAL;
        return NULL;
    }
    tls_context *ctx = new_tls_context(loop, ext_size, c);
    if (!ctx) {
        SSL_CTX_free(c);
        errno = ENOMEM;
        return NULL;
    }
    SSL_CTX_set_tlsext_servername_callback(c, on_client_hello_name);
    SSL_CTX_set_tlsext_servername_arg(c, ctx);
    return &ctx->sc;
}

struct us_socket_context_t *us_internal_ssl_child_context_create(struct us_socket_context_t *parent,
                                                                 int ext_size) {
    tls_context *p = (tls_context *)parent;
    SSL_CTX_up_ref(p->ssl_context);
    tls_context *ctx = new_tls_context(parent->loop, ext_size, p->ssl_context);
    if (!ctx) {
        SSL_CTX_free(p->ssl_context);
        errno = ENOMEM;
        return NULL;
    }
    return &ctx->sc;
}

void us_internal_ssl_context_release(struct us_socket_context_t *sc) {
    tls_context *ctx = (tls_context *)sc;
    us_sni_tree_free(ctx->sni, free_sni_entry);
    ctx->sni = NULL;
    SSL_CTX_free(ctx->ssl_context);
    ctx->ssl_context = NULL;
}

/* ---- writing and shutting down ----------------------------------------------------------- */

int us_internal_ssl_write(struct us_socket_t *s, const char *data, int length, int msg_more) {
    tls_socket *ts = (tls_socket *)s;
    if (US_UNLIKELY((s->state & (US_SOCKET_CLOSED | US_SOCKET_SHUT_DOWN)) || length <= 0 || ts->failed)) {
        return 0;
    }
    if (US_UNLIKELY(tail_pending(ts)) && !flush_tail(ts)) {
        return 0;
    }
    if (US_UNLIKELY(!ts->handshake_done)) {
        ts->write_wants_read = 1; /* on_writable once the handshake is done */
        return 0;
    }
    struct tls_loop *t = tls_of(s->context->loop);
    int done = 0;
    /* One record per call (partial-write mode): stop as soon as the kernel
     * refuses, so at most one record of ciphertext is ever kept. */
    while (done < length) {
        t->msg_more = msg_more || length - done > SSL3_RT_MAX_PLAIN_LENGTH;
        tls_enter(t, ts);
        int n = SSL_write(ts->ssl, data + done, length - done);
        t->msg_more = 0;
        if (n > 0) {
            done += n;
            if (tail_pending(ts)) {
                break;
            }
            continue;
        }
        int err = SSL_get_error(ts->ssl, n);
        if (err == SSL_ERROR_WANT_READ) {
            ts->write_wants_read = 1;
        } else if (err != SSL_ERROR_WANT_WRITE) {
            /* Fatal: stop reading too; the EOF that follows closes the socket. */
            ts->failed = 1;
            ERR_clear_error();
            shutdown(s->p.fd, SHUT_RD);
        }
        break;
    }
    return done;
}

void us_internal_ssl_shutdown(struct us_socket_t *s) {
    tls_socket *ts = (tls_socket *)s;
    if (ts->handshake_done && !ts->failed && !ts->close_notify_sent) {
        struct tls_loop *t = tls_of(s->context->loop);
        tls_enter(t, ts);
        SSL_shutdown(ts->ssl); /* queues our close_notify; we do not wait for theirs */
        ERR_clear_error();
        ts->close_notify_sent = 1;
    }
    s->state |= US_SOCKET_SHUT_DOWN;
    if (tail_pending(ts)) {
        s->state |= US_SOCKET_FIN_OWED; /* the FIN follows the tail (flush_tail) */
    } else {
        shutdown(s->p.fd, SHUT_WR);
    }
    us_poll_change(&s->p, s->context->loop,
                   tail_pending(ts) ? s->p.events : (s->p.events & ~LIBUS_SOCKET_WRITABLE));
}

/* ---- public TLS-only API ------------------------------------------------------------------ */

int us_socket_context_add_server_name(int ssl, struct us_socket_context_t *sc, const char *hostname_pattern,
                                      struct us_socket_context_options_t options, void *user) {
    if (!ssl || !sc->is_ssl) {
        return -1;
    }
    tls_context *ctx = (tls_context *)sc;
    error_text[0] = '\0';
    if (!ctx->sni && !(ctx->sni = us_sni_tree_create())) {
        snprintf(error_text, sizeof(error_text), "out of memory");
        return -1;
    }
    int with_cert = options.cert_file_name || options.key_file_name;
    SSL_CTX *c = NULL;
    if (with_cert && !(c = create_ssl_ctx(options))) {
        return -1;
    }
    struct sni_entry *e = us_sni_tree_find(ctx->sni, hostname_pattern);
    if (e) {
        /* EXTENSION: upstream ignores a second add; here it updates what it
         * names (a certificate, a user value) and keeps the rest. */
        if (c) {
            SSL_CTX_free(e->ssl_ctx);
            e->ssl_ctx = c;
        }
        if (user) {
            e->user = user;
        }
        return 1;
    }
    if (!c) {
        c = ctx->ssl_context; /* no certificate given: the context's own */
        SSL_CTX_up_ref(c);
    }
    if (!(e = malloc(sizeof(*e)))) {
        SSL_CTX_free(c);
        snprintf(error_text, sizeof(error_text), "out of memory");
        return -1;
    }
    e->ssl_ctx = c;
    e->user = user;
    if (us_sni_tree_add(ctx->sni, hostname_pattern, e) != 0) {
        free_sni_entry(e);
        snprintf(error_text, sizeof(error_text), "'%s' is not a valid server name pattern", hostname_pattern);
        return -1;
    }
    return 0;
}

void us_socket_context_remove_server_name(int ssl, struct us_socket_context_t *sc, const char *hostname_pattern) {
    if (!ssl || !sc->is_ssl) {
        return;
    }
    tls_context *ctx = (tls_context *)sc;
    struct sni_entry *e = ctx->sni ? us_sni_tree_remove(ctx->sni, hostname_pattern) : NULL;
    if (e) {
        free_sni_entry(e); /* connections using it hold their own reference */
    }
}

void us_socket_context_on_server_name(int ssl, struct us_socket_context_t *sc,
                                      void (*cb)(struct us_socket_context_t *, const char *hostname)) {
    if (ssl && sc->is_ssl) {
        ((tls_context *)sc)->on_server_name = cb;
    }
}

void us_socket_context_on_preamble(int ssl, struct us_socket_context_t *sc,
                                   int (*cb)(struct us_socket_t *s, char *data, int length)) {
    if (ssl && sc->is_ssl) {
        ((tls_context *)sc)->on_preamble = cb;
    }
}

void *us_socket_server_name_userdata(int ssl, struct us_socket_t *s) {
    return ssl ? ((tls_socket *)s)->sni_user : NULL;
}

void *us_socket_context_find_server_name_userdata(int ssl, struct us_socket_context_t *sc,
                                                  const char *hostname_pattern) {
    if (!ssl || !sc->is_ssl || !((tls_context *)sc)->sni) {
        return NULL;
    }
    struct sni_entry *e = us_sni_tree_find(((tls_context *)sc)->sni, hostname_pattern);
    return e ? e->user : NULL;
}

void *us_socket_context_get_native_handle(int ssl, struct us_socket_context_t *sc) {
    return ssl && sc->is_ssl ? ((tls_context *)sc)->ssl_context : NULL;
}

int us_socket_is_tls_established(int ssl, struct us_socket_t *s) {
    return ssl ? ((tls_socket *)s)->handshake_done : 1;
}
