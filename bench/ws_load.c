/* ws_load: a small WebSocket load client for bench/ws_run.py.
 *
 * One thread, epoll, non-blocking sockets, libc only.  It speaks just enough
 * of RFC 6455 to load a server: an HTTP upgrade with a fixed key (and, with
 * --deflate, an offer of permessage-deflate so the server may send
 * compressed frames), masked client frames, and a parser for server frames
 * that counts complete data frames.  Payloads are skipped, never stored or
 * inflated: only their length matters.
 *
 * Modes:
 *   echo    C connections to PATH (default /echo), each keeping K binary
 *           messages of S bytes in flight; counts echoed messages.
 *   fanout  N subscribers on /sub and one publisher on /pub.  The publisher
 *           sends text frames "P" (the server publishes one message per "P"
 *           to every subscriber) and keeps at most W of them unanswered as
 *           seen by subscriber 0; counts deliveries over all subscribers.
 *
 * Timeline: connect and upgrade every connection, start the traffic, run
 * --warmup seconds uncounted, print "START" (the harness samples the
 * server's CPU then), run --duration seconds, print "END" and one JSON line.
 *
 *   cc -O2 -o bench/.ws_load bench/ws_load.c
 *   bench/.ws_load --port 19100 --mode echo --conns 64 --inflight 16 --size 32
 *   bench/.ws_load --port 19100 --mode fanout --subs 1000 --window 32 [--deflate]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* RFC 6455's sample key; the accept value for it is fixed, so the client can
 * check the server's answer without SHA-1. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#define MAX_HANDSHAKES 64      /* upgrades in progress at once (listen backlogs) */
#define RESP_MAX 2048          /* largest upgrade response we accept */
#define CARRY_MAX 160          /* a split header, or a whole control frame (<= 2+8+125) */
#define READ_BUF (256 * 1024)  /* shared read buffer */
#define SETUP_TIMEOUT_S 60.0
#define STALL_S 1.0            /* fanout: no delivery on subscriber 0 for this long */

enum role { ROLE_ECHO, ROLE_SUB, ROLE_PUB };
enum state { ST_IDLE, ST_CONNECTING, ST_UPGRADING, ST_OPEN, ST_DEAD };

struct conn {
    int fd;
    enum role role;
    enum state state;
    int want_out;              /* EPOLLOUT registered */
    /* upgrade response being read */
    char *resp;
    size_t resp_len;
    /* frame parser: bytes of a split header or control frame, and the payload
     * bytes of the current data frame still to skip */
    unsigned char carry[CARRY_MAX];
    size_t carry_len;
    uint64_t skip;
    int skip_counts;           /* the frame being skipped ends a message */
    /* pending output */
    unsigned char *out;
    size_t out_len, out_cap;
    uint64_t frames;           /* complete data messages received */
};

static struct {
    const char *mode;
    const char *path;
    int port;
    int conns, inflight, size, subs, window;
    double duration, warmup;
    int deflate;
} opt = {"echo", NULL, 0, 64, 16, 32, 100, 32, 5.0, 1.0, 0};

static int ep;
static struct conn *conns;
static int nconns;
static unsigned char *msg_frame;       /* one masked client message (echo) */
static size_t msg_frame_len;
static const unsigned char mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};
static unsigned char pub_frame[7];     /* masked text frame "P" */

static uint64_t total_frames, compressed_frames, protocol_errors, closed_by_server;
static uint64_t publishes, stalls;
static int deflate_accepted, dead;

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ws_load: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_self(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* A masked client frame with FIN set; the payload is masked into place. */
static size_t build_frame(unsigned char *dst, int opcode, const unsigned char *payload, size_t len)
{
    size_t h = 0;
    dst[h++] = 0x80 | (unsigned char)opcode;
    if (len < 126) {
        dst[h++] = 0x80 | (unsigned char)len;
    } else if (len < 65536) {
        dst[h++] = 0x80 | 126;
        dst[h++] = (unsigned char)(len >> 8);
        dst[h++] = (unsigned char)len;
    } else {
        dst[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            dst[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    memcpy(dst + h, mask_key, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        dst[h + i] = payload[i] ^ mask_key[i & 3];
    return h + len;
}

static void out_append(struct conn *c, const unsigned char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 256;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out)
            die("out of memory");
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void set_events(struct conn *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        die("epoll_ctl MOD: %s", strerror(errno));
}

static void kill_conn(struct conn *c, const char *why)
{
    if (c->state == ST_DEAD)
        return;
    fprintf(stderr, "ws_load: connection %ld (%s) lost: %s\n", (long)(c - conns),
            c->role == ROLE_PUB ? "publisher" : c->role == ROLE_SUB ? "subscriber" : "echo", why);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = ST_DEAD;
    dead++;
}

/* Write what is pending; register for EPOLLOUT only while something is left. */
static void flush_out(struct conn *c)
{
    if (c->state != ST_OPEN)
        return;
    while (c->out_len) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            kill_conn(c, strerror(errno));
            return;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    int want = c->out_len > 0;
    if (want != c->want_out) {
        c->want_out = want;
        set_events(c, EPOLLIN | (want ? EPOLLOUT : 0));
    }
}

static void start_connect(struct conn *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (raise ulimit -n?)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);   /* only ever 127.0.0.1 */
    c->fd = fd;
    c->state = ST_CONNECTING;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        die("connect 127.0.0.1:%d: %s", opt.port, strerror(errno));
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl ADD: %s", strerror(errno));
}

static void send_upgrade(struct conn *c)
{
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err)
        die("connect 127.0.0.1:%d: %s", opt.port, strerror(err));
    const char *path = c->role == ROLE_SUB ? "/sub" : c->role == ROLE_PUB ? "/pub" : opt.path;
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     path, opt.port,
                     opt.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "");
    /* a fresh socket's send buffer takes a few hundred bytes at once */
    if (send(c->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        die("sending the upgrade request failed: %s", strerror(errno));
    c->state = ST_UPGRADING;
    c->resp = malloc(RESP_MAX + 1);
    if (!c->resp)
        die("out of memory");
    c->resp_len = 0;
    set_events(c, EPOLLIN);
}

static void parse_frames(struct conn *c, unsigned char *buf, size_t len);

/* Read the upgrade response; returns 1 once the connection is open. */
static int read_upgrade(struct conn *c)
{
    ssize_t n = recv(c->fd, c->resp + c->resp_len, RESP_MAX - c->resp_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        die("upgrade on port %d: connection closed before the response (%s)", opt.port,
            n < 0 ? strerror(errno) : "EOF");
    c->resp_len += (size_t)n;
    c->resp[c->resp_len] = 0;
    char *end = strstr(c->resp, "\r\n\r\n");
    if (!end) {
        if (c->resp_len == RESP_MAX)
            die("upgrade response larger than %d bytes", RESP_MAX);
        return 0;
    }
    size_t head = (size_t)(end - c->resp) + 4;
    if (strncmp(c->resp, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr(c->resp, "\r\n");
        if (eol)
            *eol = 0;
        die("upgrade refused: %s", c->resp);
    }
    /* header names are case-insensitive; values are compared as sent */
    int accept_ok = 0;
    for (char *line = strstr(c->resp, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        char *p = line + 2;
        if (strncasecmp(p, "sec-websocket-accept:", 21) == 0) {
            p += 21;
            while (*p == ' ' || *p == '\t')
                p++;
            accept_ok = strncmp(p, WS_ACCEPT, strlen(WS_ACCEPT)) == 0;
        } else if (strncasecmp(p, "sec-websocket-extensions:", 25) == 0 && strcasestr(p, "permessage-deflate")) {
            deflate_accepted++;
        }
    }
    if (!accept_ok)
        die("upgrade response without the right Sec-WebSocket-Accept");
    c->state = ST_OPEN;
    /* frames that came in the same read as the response */
    size_t rest = c->resp_len - head;
    unsigned char tmp[RESP_MAX];
    memcpy(tmp, c->resp + head, rest);
    free(c->resp);
    c->resp = NULL;
    if (rest)
        parse_frames(c, tmp, rest);
    return 1;
}

/* A complete data message arrived on c. */
static void on_message(struct conn *c)
{
    c->frames++;
    if (c->role != ROLE_PUB)     /* the publisher should get nothing; never count it */
        total_frames++;
    if (c->role == ROLE_ECHO)
        out_append(c, msg_frame, msg_frame_len);
}

static void on_control(struct conn *c, int opcode, const unsigned char *payload, size_t len)
{
    if (opcode == 9) {                 /* ping: answer with a pong (servers close idle peers) */
        unsigned char f[2 + 4 + 125];
        size_t n = build_frame(f, 10, payload, len);
        out_append(c, f, n);
    } else if (opcode == 8) {
        closed_by_server++;
        kill_conn(c, "close frame from the server");
    }                                  /* pong: nothing */
}

/* Consume server frames in buf.  Data payloads are skipped; a header (or a
 * control frame) split across reads is kept in c->carry. */
static void parse_frames(struct conn *c, unsigned char *buf, size_t len)
{
    size_t i = 0;
    while (i < len && c->state == ST_OPEN) {
        if (c->skip) {
            uint64_t take = len - i < c->skip ? len - i : c->skip;
            c->skip -= take;
            i += (size_t)take;
            if (!c->skip && c->skip_counts)
                on_message(c);
            continue;
        }
        unsigned char *p = buf + i;
        size_t avail = len - i;
        if (avail < 2)
            break;
        int fin = p[0] & 0x80, rsv1 = p[0] & 0x40, opcode = p[0] & 0x0f;
        if (p[1] & 0x80) {
            protocol_errors++;
            kill_conn(c, "masked server frame");
            return;
        }
        uint64_t plen = p[1] & 0x7f;
        size_t h = 2;
        if (plen == 126) {
            if (avail < 4)
                break;
            plen = ((uint64_t)p[2] << 8) | p[3];
            h = 4;
        } else if (plen == 127) {
            if (avail < 10)
                break;
            plen = 0;
            for (int k = 0; k < 8; k++)
                plen = (plen << 8) | p[2 + k];
            h = 10;
        }
        if (opcode >= 8) {
            if (plen > 125 || !fin) {
                protocol_errors++;
                kill_conn(c, "bad control frame");
                return;
            }
            if (avail < h + plen)
                break;
            on_control(c, opcode, p + h, (size_t)plen);
            i += h + (size_t)plen;
            continue;
        }
        if (opcode != 0 && opcode != 1 && opcode != 2) {
            protocol_errors++;
            kill_conn(c, "unknown opcode");
            return;
        }
        if (rsv1)
            compressed_frames++;
        i += h;
        c->skip = plen;
        c->skip_counts = fin != 0;
        if (!plen && fin)
            on_message(c);
    }
    if (i < len && c->state == ST_OPEN) {
        size_t rest = len - i;
        if (rest > CARRY_MAX)
            die("internal: carry overflow");
        memmove(c->carry, buf + i, rest);
        c->carry_len = rest;
    }
}

static unsigned char *rbuf;

static void read_frames(struct conn *c)
{
    /* one read per readiness event: level-triggered epoll comes back if more is queued */
    size_t pre = c->carry_len;
    memcpy(rbuf, c->carry, pre);
    c->carry_len = 0;
    ssize_t n = recv(c->fd, rbuf + pre, READ_BUF - pre, 0);
    if (n < 0) {
        c->carry_len = pre;
        if (errno == EAGAIN || errno == EINTR)
            return;
        kill_conn(c, strerror(errno));
        return;
    }
    if (n == 0) {
        closed_by_server++;
        kill_conn(c, "EOF");
        return;
    }
    parse_frames(c, rbuf, pre + (size_t)n);
}

static void handle_event(struct conn *c, uint32_t events)
{
    switch (c->state) {
    case ST_CONNECTING:
        send_upgrade(c);
        break;
    case ST_UPGRADING:
        if (read_upgrade(c))
            flush_out(c);
        break;
    case ST_OPEN:
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
            read_frames(c);
        flush_out(c);
        break;
    default:
        break;
    }
}

/* Open conns[from..to) with at most MAX_HANDSHAKES upgrades in flight. */
static void connect_all(int from, int to)
{
    double deadline = now() + SETUP_TIMEOUT_S;
    int next = from, open = 0, pending = 0;
    struct epoll_event evs[256];
    while (open < to - from) {
        while (next < to && pending < MAX_HANDSHAKES) {
            start_connect(&conns[next++]);
            pending++;
        }
        int n = epoll_wait(ep, evs, 256, 100);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            enum state before = c->state;
            handle_event(c, evs[i].events);
            if (before != ST_OPEN && c->state == ST_OPEN) {
                open++;
                pending--;
            }
            if (c->state == ST_DEAD)
                die("a connection closed during setup");
        }
        if (now() > deadline)
            die("setup: only %d of %d connections upgraded after %.0f s", open, to - from, SETUP_TIMEOUT_S);
    }
}

/* fanout: keep at most W publish requests ahead of subscriber 0 */
static uint64_t pub_base;        /* publishes subscriber 0 will never see (forgiven after a stall) */
static double last_sub0_time;
static uint64_t last_sub0_frames;

static void top_up_publisher(struct conn *pub, struct conn *sub0, double t)
{
    if (pub->state != ST_OPEN)
        return;
    int64_t outstanding = (int64_t)(publishes - pub_base) - (int64_t)sub0->frames;
    if (sub0->frames != last_sub0_frames) {
        last_sub0_frames = sub0->frames;
        last_sub0_time = t;
    } else if (t - last_sub0_time > STALL_S && outstanding > 0) {
        /* subscriber 0 missed messages (a server may drop under backpressure):
         * forget what is outstanding so the load does not stop */
        stalls++;
        outstanding = 0;
        last_sub0_time = t;
    }
    if (outstanding < 0)        /* late arrivals after a stall reset */
        outstanding = 0;
    pub_base = publishes - sub0->frames - (uint64_t)outstanding;
    while (outstanding < opt.window) {
        out_append(pub, pub_frame, sizeof pub_frame);
        publishes++;
        outstanding++;
    }
    flush_out(pub);
}

static int parse_int(const char *s, const char *name, int lo)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > 1000000000)
        die("bad %s: %s", name, s);
    return (int)v;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ws_load --port P [--mode echo|fanout] [--duration S] [--warmup S]\n"
            "               [--conns C] [--inflight K] [--size S] [--path /echo]   (echo)\n"
            "               [--subs N] [--window W]                               (fanout)\n"
            "               [--deflate]   offer permessage-deflate\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--deflate")) {
            opt.deflate = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--port")) opt.port = parse_int(v, a, 1);
        else if (!strcmp(a, "--mode")) opt.mode = v;
        else if (!strcmp(a, "--path")) opt.path = v;
        else if (!strcmp(a, "--conns")) opt.conns = parse_int(v, a, 1);
        else if (!strcmp(a, "--inflight")) opt.inflight = parse_int(v, a, 1);
        else if (!strcmp(a, "--size")) opt.size = parse_int(v, a, 0);
        else if (!strcmp(a, "--subs")) opt.subs = parse_int(v, a, 1);
        else if (!strcmp(a, "--window")) opt.window = parse_int(v, a, 1);
        else if (!strcmp(a, "--duration")) opt.duration = atof(v);
        else if (!strcmp(a, "--warmup")) opt.warmup = atof(v);
        else usage();
    }
    int fanout = !strcmp(opt.mode, "fanout");
    if (!opt.port || opt.port > 65535 || (!fanout && strcmp(opt.mode, "echo")) || opt.duration <= 0 ||
        opt.warmup < 0)
        usage();
    if (!opt.path)
        opt.path = "/echo";
    if (strlen(opt.path) > 200 || opt.path[0] != '/')
        die("bad --path");

    nconns = fanout ? opt.subs + 1 : opt.conns;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)nconns + 16) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)nconns + 16)
            die("need %d file descriptors, the hard limit is %ld", nconns + 16, (long)rl.rlim_max);
    }
    signal(SIGPIPE, SIG_IGN);

    conns = calloc((size_t)nconns, sizeof *conns);
    rbuf = malloc(READ_BUF);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || !rbuf || ep < 0)
        die("setup failed");
    for (int i = 0; i < nconns; i++)
        conns[i].role = fanout ? (i < opt.subs ? ROLE_SUB : ROLE_PUB) : ROLE_ECHO;

    unsigned char *payload = malloc((size_t)opt.size + 1);
    msg_frame = malloc((size_t)opt.size + 14);
    if (!payload || !msg_frame)
        die("out of memory");
    for (int i = 0; i < opt.size; i++)
        payload[i] = (unsigned char)('a' + i % 26);
    msg_frame_len = build_frame(msg_frame, 2, payload, (size_t)opt.size);
    build_frame(pub_frame, 1, (const unsigned char *)"P", 1);

    /* subscribers first, so every one of them is subscribed before the
     * publisher exists */
    connect_all(0, fanout ? opt.subs : nconns);
    if (fanout)
        connect_all(opt.subs, nconns);

    struct conn *pub = fanout ? &conns[opt.subs] : NULL, *sub0 = &conns[0];
    double t = now();
    if (fanout) {
        last_sub0_time = t;
        top_up_publisher(pub, sub0, t);
    } else {
        for (int i = 0; i < nconns; i++) {
            for (int k = 0; k < opt.inflight; k++)
                out_append(&conns[i], msg_frame, msg_frame_len);
            flush_out(&conns[i]);
        }
    }

    double t_start = t + opt.warmup, t_end = t_start + opt.duration;
    int measuring = 0;
    uint64_t frames0 = 0, compressed0 = 0, publishes0 = 0;
    double cpu0 = 0, wall0 = 0;
    struct epoll_event evs[1024];
    for (;;) {
        t = now();
        if (!measuring && t >= t_start) {
            measuring = 1;
            frames0 = total_frames;
            compressed0 = compressed_frames;
            publishes0 = publishes;
            cpu0 = cpu_self();
            wall0 = t;
            printf("START\n");
            fflush(stdout);
        }
        if (measuring && t >= t_end)
            break;
        double until = measuring ? t_end : t_start;
        int ms = (int)((until - t) * 1000) + 1;
        int n = epoll_wait(ep, evs, 1024, ms);
        if (n < 0 && errno != EINTR)
            die("epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n; i++) {
            handle_event(evs[i].data.ptr, evs[i].events);
            /* top up as soon as subscriber 0 has read, not after the whole
             * batch: the server then works while the other subscribers are
             * still being read, instead of the two taking turns */
            if (fanout && evs[i].data.ptr == sub0)
                top_up_publisher(pub, sub0, t);
        }
        if (fanout)
            top_up_publisher(pub, sub0, now());
        if (dead == nconns)
            break;
    }
    double wall1 = now(), cpu1 = cpu_self();
    uint64_t count = total_frames - frames0;
    printf("END\n");
    printf("{\"mode\": \"%s\", \"%s\": %llu, \"seconds\": %.6f, \"client_cpu\": %.6f, "
           "\"connections\": %d, \"size\": %d, \"deflate_offered\": %s, \"deflate_accepted\": %d, "
           "\"compressed_frames\": %llu, \"dead_connections\": %d, \"closed_by_server\": %llu, "
           "\"protocol_errors\": %llu",
           opt.mode, fanout ? "deliveries" : "messages", (unsigned long long)count, wall1 - wall0,
           cpu1 - cpu0, nconns, opt.size, opt.deflate ? "true" : "false", deflate_accepted,
           (unsigned long long)(compressed_frames - compressed0), dead,
           (unsigned long long)closed_by_server, (unsigned long long)protocol_errors);
    if (fanout)
        printf(", \"subscribers\": %d, \"window\": %d, \"publishes\": %llu, \"stalls\": %llu", opt.subs,
               opt.window, (unsigned long long)(publishes - publishes0), (unsigned long long)stalls);
    else
        printf(", \"inflight\": %d", opt.inflight);
    printf("}\n");
    fflush(stdout);
    return dead ? 1 : 0;
}
