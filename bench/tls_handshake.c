/* tls_handshake: new TLS 1.3 connections per second, for bench/run.py --tls.
 *
 * One thread, epoll, non-blocking sockets, OpenSSL.  It keeps --conns
 * connections in progress; each one connects to 127.0.0.1:PORT, completes a
 * TLS 1.3 handshake, sends
 *
 *     GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n
 *
 * reads the response until the server closes (close_notify or EOF), checks it
 * is a 200 with the body "Hello, World!", and starts over with a new
 * connection.
 *
 *   --resume  each slot keeps the session of its previous connection
 *             (SSL_get1_session after the response was read: TLS 1.3 tickets
 *             arrive after the handshake) and offers it with SSL_set_session;
 *             SSL_session_reused() counts the handshakes the server resumed.
 *             Without it every handshake is a full one (no session offered).
 *   --plain   no TLS at all: a new TCP connection per request (the same
 *             request and response check), the plain-TCP reference.
 *
 * Timeline: start --conns connections, keep starting new ones for --duration
 * seconds, then let the ones in progress finish (at most --timeout s) and
 * stop.  Every connection that was started is counted (completed or as an
 * error), and `seconds` runs until the last one ended, so the count matches
 * the server work done while the harness measured the server's CPU.
 * One JSON line on stdout.
 *
 *   cc -O2 -o bench/.tls_handshake bench/tls_handshake.c -lssl -lcrypto
 *   bench/.tls_handshake --port 18080 --duration 10 --conns 64 [--resume]
 *                        [--cafile ca.pem] [--plain] [--timeout 5]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define HOST "127.0.0.1"
#define REQUEST "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
#define EXPECTED_STATUS "HTTP/1.1 200"
#define EXPECTED_BODY "\r\n\r\nHello, World!"
#define KEEP_MAX 2048          /* response bytes kept for the check */
#define MAX_CONNS 4096

enum state { ST_FREE, ST_CONNECTING, ST_HANDSHAKE, ST_WRITING, ST_READING };

struct slot {
    int fd;
    enum state state;
    SSL *ssl;
    SSL_SESSION *session;      /* --resume: offered on the next connection */
    size_t sent;               /* --plain: request bytes written */
    double started;
    char keep[KEEP_MAX + 1];
    size_t keep_len;
};

static struct {
    int port, conns, resume, plain;
    double duration, timeout;
    const char *cafile;
} opt = {0, 64, 0, 0, 10.0, 5.0, NULL};

static struct {
    unsigned long long started, completed, full, resumed, offered;
    unsigned long long err_connect, err_handshake, err_io, err_response, err_timeout;
    unsigned long long eaddrnotavail;
    double latency_sum, latency_max;   /* start of connect to end, completed ones */
} st;

static SSL_CTX *ctx;
static int ep;
static double last_end;        /* when the last connection ended */
static struct slot *slots;
static char first_version[32], first_cipher[64], first_group[32], first_key[48];
static char first_error[256];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void note_error(const char *what)
{
    if (first_error[0])
        return;
    unsigned long e = ERR_peek_last_error();
    if (e) {
        char buf[160];
        ERR_error_string_n(e, buf, sizeof buf);
        snprintf(first_error, sizeof first_error, "%s: %s", what, buf);
    } else {
        snprintf(first_error, sizeof first_error, "%s: %s", what,
                 errno ? strerror(errno) : "unexpected close");
    }
}

static void release(struct slot *s)
{
    if (s->ssl) {
        /* Mark the shutdown as done, without sending anything: otherwise
         * SSL_free() would flag the session as not resumable (a connection
         * freed without a shutdown is treated as "bad"). */
        SSL_set_shutdown(s->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        close(s->fd);    /* also removes it from the epoll set */
        s->fd = -1;
    }
    s->state = ST_FREE;
    last_end = now();
}

static void fail(struct slot *s, unsigned long long *counter, const char *what)
{
    (*counter)++;
    note_error(what);
    ERR_clear_error();
    /* a session that led to an error is not offered again */
    if (s->session) {
        SSL_SESSION_free(s->session);
        s->session = NULL;
    }
    release(s);
}

static void start(struct slot *s)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(opt.port);
    inet_pton(AF_INET, HOST, &sa.sin_addr);

    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    s->keep_len = 0;
    s->sent = 0;
    s->started = now();
    st.started++;
    if (s->fd < 0) {
        fail(s, &st.err_connect, "socket");
        return;
    }
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.ptr = s};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &ev) != 0) {
        fail(s, &st.err_connect, "epoll_ctl");
        return;
    }
    if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        if (errno == EADDRNOTAVAIL)
            st.eaddrnotavail++;
        fail(s, &st.err_connect, "connect");
        return;
    }
    s->state = ST_CONNECTING;
    if (!opt.plain) {
        s->ssl = SSL_new(ctx);
        if (!s->ssl || !SSL_set_fd(s->ssl, s->fd)) {
            fail(s, &st.err_handshake, "SSL_new");
            return;
        }
        if (opt.cafile)
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), HOST);
        if (opt.resume && s->session) {
            SSL_set_session(s->ssl, s->session);
            st.offered++;
        }
    }
    /* the first EPOLLOUT edge says the connect finished */
}

static void keep(struct slot *s, const char *buf, size_t n)
{
    size_t room = KEEP_MAX - s->keep_len;
    if (n > room)
        n = room;
    memcpy(s->keep + s->keep_len, buf, n);
    s->keep_len += n;
}

static void finish(struct slot *s)
{
    s->keep[s->keep_len] = 0;
    if (s->keep_len < strlen(EXPECTED_STATUS)
        || memcmp(s->keep, EXPECTED_STATUS, strlen(EXPECTED_STATUS)) != 0
        || !strstr(s->keep, EXPECTED_BODY)) {
        if (!first_error[0])
            snprintf(first_error, sizeof first_error, "bad response: %.120s", s->keep);
        fail(s, &st.err_response, "bad response");
        return;
    }
    st.completed++;
    double lat = now() - s->started;
    st.latency_sum += lat;
    if (lat > st.latency_max)
        st.latency_max = lat;
    if (!opt.plain) {
        if (SSL_session_reused(s->ssl))
            st.resumed++;
        else
            st.full++;
        if (!first_version[0]) {
            snprintf(first_version, sizeof first_version, "%s", SSL_get_version(s->ssl));
            snprintf(first_cipher, sizeof first_cipher, "%s", SSL_get_cipher_name(s->ssl));
            int group = SSL_get_negotiated_group(s->ssl);
            const char *name = group ? OBJ_nid2sn(group & ~TLSEXT_nid_unknown) : NULL;
            snprintf(first_group, sizeof first_group, "%s",
                     (group & TLSEXT_nid_unknown) ? "unknown" : name ? name : "");
            X509 *peer = SSL_get0_peer_certificate(s->ssl);
            EVP_PKEY *pk = peer ? X509_get0_pubkey(peer) : NULL;
            if (pk)
                snprintf(first_key, sizeof first_key, "%s %d", EVP_PKEY_get0_type_name(pk),
                         EVP_PKEY_get_bits(pk));
        }
        if (opt.resume) {
            /* the newest session: the tickets came with or after the response */
            SSL_SESSION *sess = SSL_get1_session(s->ssl);
            if (s->session)
                SSL_SESSION_free(s->session);
            s->session = NULL;
            if (sess && SSL_SESSION_is_resumable(sess))
                s->session = sess;
            else if (sess)
                SSL_SESSION_free(sess);
        }
    }
    release(s);
}

/* Drive one connection as far as it goes without blocking. */
static void drive(struct slot *s, unsigned events)
{
    char buf[16384];
    for (;;) {
        switch (s->state) {
        case ST_FREE:
            return;
        case ST_CONNECTING: {
            int err = 0;
            socklen_t len = sizeof err;
            if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
                return;
            if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err) {
                errno = err;
                fail(s, &st.err_connect, "connect");
                return;
            }
            s->state = opt.plain ? ST_WRITING : ST_HANDSHAKE;
            break;
        }
        case ST_HANDSHAKE: {
            int r = SSL_connect(s->ssl);
            if (r == 1) {
                s->state = ST_WRITING;
                break;
            }
            int e = SSL_get_error(s->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return;
            fail(s, &st.err_handshake, "handshake");
            return;
        }
        case ST_WRITING: {
            size_t total = strlen(REQUEST);
            if (opt.plain) {
                ssize_t n = send(s->fd, REQUEST + s->sent, total - s->sent, MSG_NOSIGNAL);
                if (n < 0) {
                    if (errno == EAGAIN)
                        return;
                    fail(s, &st.err_io, "send");
                    return;
                }
                s->sent += n;
                if (s->sent < total)
                    break;
            } else {
                int r = SSL_write(s->ssl, REQUEST, (int)total);
                if (r <= 0) {
                    int e = SSL_get_error(s->ssl, r);
                    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                        return;
                    fail(s, &st.err_io, "SSL_write");
                    return;
                }
            }
            s->state = ST_READING;
            break;
        }
        case ST_READING:
            if (opt.plain) {
                ssize_t n = recv(s->fd, buf, sizeof buf, 0);
                if (n > 0) {
                    keep(s, buf, n);
                    break;
                }
                if (n == 0) {
                    finish(s);
                    return;
                }
                if (errno == EAGAIN)
                    return;
                fail(s, &st.err_io, "recv");
                return;
            } else {
                int r = SSL_read(s->ssl, buf, sizeof buf);
                if (r > 0) {
                    keep(s, buf, r);
                    break;
                }
                int e = SSL_get_error(s->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    return;
                if (e == SSL_ERROR_ZERO_RETURN) {   /* close_notify, or EOF
                                                       (SSL_OP_IGNORE_UNEXPECTED_EOF) */
                    finish(s);
                    return;
                }
                fail(s, &st.err_io, "SSL_read");
                return;
            }
        }
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tls_handshake --port P [--duration S] [--conns N] [--resume] [--plain]\n"
            "                     [--cafile CA.pem] [--timeout S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--port") && v) opt.port = atoi(v), i++;
        else if (!strcmp(a, "--duration") && v) opt.duration = atof(v), i++;
        else if (!strcmp(a, "--conns") && v) opt.conns = atoi(v), i++;
        else if (!strcmp(a, "--timeout") && v) opt.timeout = atof(v), i++;
        else if (!strcmp(a, "--cafile") && v) opt.cafile = v, i++;
        else if (!strcmp(a, "--resume")) opt.resume = 1;
        else if (!strcmp(a, "--plain")) opt.plain = 1;
        else usage();
    }
    if (opt.port <= 0 || opt.port > 65535 || opt.conns < 1 || opt.conns > MAX_CONNS
        || opt.duration <= 0 || opt.timeout <= 0 || (opt.plain && opt.resume))
        usage();
    signal(SIGPIPE, SIG_IGN);

    if (!opt.plain) {
        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)) {
            fprintf(stderr, "SSL_CTX_new failed\n");
            return 1;
        }
        /* a server may close without close_notify after Connection: close */
        SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
        /* sessions are kept by hand (--resume), never by an internal cache */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        if (opt.cafile) {
            if (!SSL_CTX_load_verify_locations(ctx, opt.cafile, NULL)) {
                fprintf(stderr, "cannot load %s\n", opt.cafile);
                return 1;
            }
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        }
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    slots = calloc(opt.conns, sizeof *slots);
    if (ep < 0 || !slots) {
        perror("setup");
        return 1;
    }
    for (int i = 0; i < opt.conns; i++)
        slots[i].fd = -1;

    double t0 = now(), deadline = t0 + opt.duration;
    last_end = t0;
    for (int i = 0; i < opt.conns; i++)
        start(&slots[i]);

    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, 50);
        if (n < 0 && errno != EINTR) {
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            struct slot *s = evs[i].data.ptr;
            drive(s, evs[i].events);
        }
        double t = now();
        int busy = 0;
        for (int i = 0; i < opt.conns; i++) {
            struct slot *s = &slots[i];
            if (s->state != ST_FREE && t - s->started > opt.timeout)
                fail(s, &st.err_timeout, "timeout");
            if (s->state == ST_FREE && t < deadline)
                start(s);
            if (s->state != ST_FREE)
                busy++;
        }
        if (t >= deadline && !busy)
            break;
    }
    double seconds = last_end - t0;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
                 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    unsigned long long errors = st.err_connect + st.err_handshake + st.err_io
                                + st.err_response + st.err_timeout;
    printf("{\"mode\": \"%s\", \"conns\": %d, \"duration\": %.3f, \"seconds\": %.6f, "
           "\"started\": %llu, \"connections\": %llu, \"conns_per_s\": %.1f, "
           "\"full\": %llu, \"resumed\": %llu, \"offered\": %llu, \"resumed_fraction\": %.4f, "
           "\"errors\": %llu, \"error_counts\": {\"connect\": %llu, \"handshake\": %llu, "
           "\"io\": %llu, \"response\": %llu, \"timeout\": %llu, \"eaddrnotavail\": %llu}, "
           "\"latency_avg_ms\": %.3f, \"latency_max_ms\": %.3f, "
           "\"client_cpu\": %.3f, \"tls_version\": \"%s\", \"cipher\": \"%s\", "
           "\"group\": \"%s\", \"server_key\": \"%s\", \"first_error\": \"",
           opt.plain ? "plain" : opt.resume ? "resume" : "full", opt.conns, opt.duration,
           seconds, st.started, st.completed, seconds > 0 ? st.completed / seconds : 0.0,
           st.full, st.resumed, st.offered,
           st.completed ? (double)st.resumed / st.completed : 0.0,
           errors, st.err_connect, st.err_handshake, st.err_io, st.err_response,
           st.err_timeout, st.eaddrnotavail,
           st.completed ? 1e3 * st.latency_sum / st.completed : 0.0, 1e3 * st.latency_max,
           cpu, first_version, first_cipher, first_group, first_key);
    for (const char *p = first_error; *p; p++) {   /* JSON-escape */
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            printf("\\u%04x", (unsigned char)*p);
        else
            putchar(*p);
    }
    printf("\"}\n");
    return 0;
}
