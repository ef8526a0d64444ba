/* sources: vendor/usockets/src/loop.c vendor/usockets/src/poll.c vendor/usockets/src/timer.c vendor/usockets/src/context.c vendor/usockets/src/socket.c vendor/usockets/src/ssl.c vendor/usockets/src/sni_tree.c | libs: -lssl -lcrypto */
/*
 * Standalone test of socketify_cy's uSockets implementation (epoll backend).
 * Clients are plain sockets in this same process; the loop is driven with
 * us_loop_run_once so the test never blocks on itself.
 *
 * Build: gcc -Wall -Wextra -g -fsanitize=address,undefined -Ivendor/usockets/src \
 *        <sources above> tests/native/test_usockets.c -lpthread -o /tmp/t && /tmp/t
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "internal.h" /* only for us_internal_timeout_sweep: drive sweep ticks without waiting */
#include "libusockets.h"

#include "harness.h"
#include "loopback.h"

/* ---- shared server state ----------------------------------------------------------- */

enum { MODE_ECHO, MODE_SINK, MODE_CLOSE_ON_DATA, MODE_CLOSE_OTHER };

#define SOCKET_EXT 64

static struct {
    int opens, closes, ends, datas, writables, timeouts, long_timeouts, wakeups, pres, posts;
    int mode;
    struct us_socket_t *last_open;
    char ip[16];
    int ip_len;
    char data[8192];
    int data_len;
    int closed_in_on_close;  /* us_socket_is_closed() seen inside on_close */
    int closed_after_close;  /* us_socket_is_closed() right after closing in on_data */
    int ext_aligned;
    struct us_socket_t *victim; /* also closed by the timeout handler */
    struct us_socket_t *pair[2]; /* MODE_CLOSE_OTHER closes both */
    /* partial-write test */
    const char *big;
    size_t big_len, big_off;
    int child_datas;
} g;

static void reset_counts(void) {
    int mode = g.mode;
    memset(&g, 0, sizeof(g));
    g.mode = mode;
}

static void wakeup_cb(struct us_loop_t *loop) {
    (void)loop;
    g.wakeups++;
}
static void pre_cb(struct us_loop_t *loop) {
    (void)loop;
    g.pres++;
}
static void post_cb(struct us_loop_t *loop) {
    (void)loop;
    g.posts++;
}

static struct us_socket_t *on_open(struct us_socket_t *s, int is_client, char *ip, int ip_length) {
    (void)is_client;
    g.opens++;
    g.last_open = s;
    g.ip_len = ip_length;
    if (ip_length > 0 && ip_length <= 16) {
        memcpy(g.ip, ip, (size_t)ip_length);
    }
    char *ext = us_socket_ext(0, s);
    g.ext_aligned = ((uintptr_t)ext % LIBUS_EXT_ALIGNMENT) == 0;
    memset(ext, 0xAB, SOCKET_EXT); /* whole ext must be ours (ASan) */
    return s;
}

static struct us_socket_t *on_close(struct us_socket_t *s, int code, void *reason) {
    (void)code;
    (void)reason;
    g.closes++;
    g.closed_in_on_close = us_socket_is_closed(0, s);
    return s;
}

static struct us_socket_t *on_end(struct us_socket_t *s) {
    g.ends++;
    return us_socket_close(0, s, 0, NULL);
}

static struct us_socket_t *on_data(struct us_socket_t *s, char *data, int length) {
    g.datas++;
    /* The padding contract: 32 writable bytes before and after the data. */
    volatile char *before = data - LIBUS_RECV_BUFFER_PADDING;
    volatile char *after = data + length + LIBUS_RECV_BUFFER_PADDING - 1;
    *before = 'x';
    *after = 'y';
    switch (g.mode) {
    case MODE_ECHO:
        us_socket_write(0, s, data, length, 0);
        break;
    case MODE_SINK:
        if (g.data_len + length <= (int)sizeof(g.data)) {
            memcpy(g.data + g.data_len, data, (size_t)length);
            g.data_len += length;
        }
        break;
    case MODE_CLOSE_ON_DATA:
        s = us_socket_close(0, s, 0, NULL);
        g.closed_after_close = us_socket_is_closed(0, s);
        break;
    case MODE_CLOSE_OTHER:
        us_socket_close(0, g.pair[0] == s ? g.pair[1] : g.pair[0], 0, NULL);
        s = us_socket_close(0, s, 0, NULL);
        break;
    }
    return s;
}

static struct us_socket_t *on_writable(struct us_socket_t *s) {
    g.writables++;
    if (g.big && g.big_off < g.big_len) {
        size_t left = g.big_len - g.big_off;
        int chunk = left > (1u << 30) ? (1 << 30) : (int)left;
        g.big_off += (size_t)us_socket_write(0, s, g.big + g.big_off, chunk, 0);
    }
    return s;
}

static struct us_socket_t *on_timeout(struct us_socket_t *s) {
    g.timeouts++;
    if (g.victim && g.victim != s && !us_socket_is_closed(0, g.victim)) {
        us_socket_close(0, g.victim, 0, NULL);
    }
    return us_socket_close(0, s, 0, NULL);
}

static struct us_socket_t *on_long_timeout(struct us_socket_t *s) {
    g.long_timeouts++;
    return s;
}

static struct us_socket_t *child_on_data(struct us_socket_t *s, char *data, int length) {
    g.child_datas++;
    us_socket_write(0, s, data, length, 0);
    return s;
}

static struct us_socket_context_t *make_context(struct us_loop_t *loop) {
    struct us_socket_context_options_t opts;
    memset(&opts, 0, sizeof(opts));
    struct us_socket_context_t *ctx = us_create_socket_context(0, loop, 24, opts);
    if (!ctx) {
        return NULL;
    }
    us_socket_context_on_open(0, ctx, on_open);
    us_socket_context_on_close(0, ctx, on_close);
    us_socket_context_on_data(0, ctx, on_data);
    us_socket_context_on_writable(0, ctx, on_writable);
    us_socket_context_on_end(0, ctx, on_end);
    us_socket_context_on_timeout(0, ctx, on_timeout);
    us_socket_context_on_long_timeout(0, ctx, on_long_timeout);
    return ctx;
}

/* ---- client helpers --------------------------------------------------------------------- */

static int tcp_client(int port) { return loopback_client(port, 0); }

/* Run the loop until *counter reaches target or ms elapse. */
static int pump(struct us_loop_t *loop, int *counter, int target, int ms) {
    long long end = now_ms() + ms;
    while (*counter < target && now_ms() < end) {
        us_loop_run_once(loop, 5);
    }
    return *counter >= target;
}

/* Read exactly `want` bytes from a client fd while driving the loop. */
static size_t client_read(struct us_loop_t *loop, int fd, char *buf, size_t want, int ms) {
    size_t got = 0;
    long long end = now_ms() + ms;
    while (got < want && now_ms() < end) {
        us_loop_run_once(loop, 1);
        for (;;) {
            ssize_t n = recv(fd, buf + got, want - got, MSG_DONTWAIT);
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
    }
    return got;
}

/* Wait until the client sees EOF (recv == 0) while driving the loop. */
static int client_sees_eof(struct us_loop_t *loop, int fd, int ms) {
    long long end = now_ms() + ms;
    char tmp[256];
    while (now_ms() < end) {
        us_loop_run_once(loop, 2);
        ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (n == 0) {
            return 1;
        }
        if (n < 0 && errno != EAGAIN) {
            return 1; /* reset also counts as "server went away" */
        }
    }
    return 0;
}

/* Connect a client and pump until the server socket is open. */
static int connect_pair(struct us_loop_t *loop, int port, struct us_socket_t **server) {
    int before = g.opens;
    int fd = tcp_client(port);
    if (fd < 0 || !pump(loop, &g.opens, before + 1, 2000)) {
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    *server = g.last_open;
    return fd;
}

/* ---- tests -------------------------------------------------------------------------------- */

static struct us_loop_t *loop;
static struct us_socket_context_t *ctx;
static struct us_listen_socket_t *ls;
static int port;

/* Ask the kernel whether the loop's sweep timerfd is armed. */
static int sweep_armed_in_kernel(void) {
    struct itimerspec cur;
    memset(&cur, 0, sizeof(cur));
    timerfd_gettime(loop->sweep_timer->p.fd, &cur);
    return cur.it_value.tv_sec != 0 || cur.it_value.tv_nsec != 0;
}

static void test_idle_no_wakeups(void) {
    /* No sockets (listen sockets are fine): the sweep must stay disarmed. */
    us_loop_run_once(loop, 0);
    CHECK(!sweep_armed_in_kernel());
    long long t0 = now_ms();
    int events = 0;
    for (int i = 0; i < 5; i++) {
        int r = us_loop_run_once(loop, 50);
        CHECK(r == 0);
        events += r;
    }
    CHECK(events == 0);
    CHECK(now_ms() - t0 >= 240); /* really slept: nothing woke us up */
}

static void test_listen_port(void) {
    ls = us_socket_context_listen(0, ctx, "127.0.0.1", 0, LIBUS_LISTEN_DEFAULT, SOCKET_EXT);
    CHECK(ls != NULL);
    if (!ls) {
        return;
    }
    port = us_socket_local_port(0, (struct us_socket_t *)ls);
    CHECK(port > 0 && port < 65536);
    CHECK(us_poll_events((struct us_poll_t *)ls) == LIBUS_SOCKET_READABLE);
    CHECK(((uintptr_t)us_socket_context_ext(0, ctx) % 16) == 0);
    CHECK(((uintptr_t)us_loop_ext(loop) % 16) == 0);
    CHECK(us_socket_context_loop(0, ctx) == loop);
    test_idle_no_wakeups();
}

static void test_echo_and_counter(void) {
    g.mode = MODE_ECHO;
    reset_counts();
    struct us_socket_t *s = NULL;
    int fd = connect_pair(loop, port, &s);
    CHECK(fd >= 0);
    if (fd < 0) {
        return;
    }
    CHECK(g.ip_len == 4);
    CHECK(memcmp(g.ip, "\x7f\x00\x00\x01", 4) == 0);
    CHECK(g.ext_aligned);
    CHECK(us_socket_context(0, s) == ctx);
    CHECK((intptr_t)us_socket_get_native_handle(0, s) > 2);
    char addr[16];
    int alen = sizeof(addr);
    us_socket_remote_address(0, s, addr, &alen);
    CHECK(alen == 4 && memcmp(addr, "\x7f\x00\x00\x01", 4) == 0);
    alen = 3;
    us_socket_remote_address(0, s, addr, &alen);
    CHECK(alen == 0);
    CHECK(us_socket_remote_port(0, s) > 0);
    CHECK(us_socket_local_port(0, s) == port);
    CHECK(sweep_armed_in_kernel()); /* a socket exists: timeouts need the sweep */

    unsigned long long sends = us_loop_send_syscalls(loop);
    CHECK(send(fd, "hello", 5, 0) == 5);
    char buf[16] = {0};
    CHECK(client_read(loop, fd, buf, 5, 2000) == 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK(us_loop_send_syscalls(loop) == sends + 1); /* the echo was one send() */

    /* write2: header + payload in one writev */
    sends = us_loop_send_syscalls(loop);
    CHECK(us_socket_write2(0, s, "HEAD", 4, "BODY!", 5) == 9);
    CHECK(us_loop_send_syscalls(loop) == sends + 1);
    /* msg_more + flush */
    CHECK(us_socket_write(0, s, "ab", 2, 1) == 2);
    us_socket_flush(0, s);
    CHECK(us_loop_send_syscalls(loop) == sends + 2);
    CHECK(us_socket_write(0, s, "", 0, 0) == 0);
    memset(buf, 0, sizeof(buf));
    CHECK(client_read(loop, fd, buf, 11, 2000) == 11);
    CHECK(memcmp(buf, "HEADBODY!ab", 11) == 0);
    CHECK(us_poll_events((struct us_poll_t *)s) == LIBUS_SOCKET_READABLE);

    /* peer half-close -> on_end -> (our handler) close -> on_close */
    shutdown(fd, SHUT_WR);
    CHECK(pump(loop, &g.closes, 1, 2000));
    CHECK(g.ends == 1);
    CHECK(g.closed_in_on_close == 1);
    CHECK(client_sees_eof(loop, fd, 2000));
    close(fd);
}

static void test_deferred_free(void) {
    g.mode = MODE_ECHO;
    reset_counts();
    struct us_socket_t *s = NULL;
    int fd = connect_pair(loop, port, &s);
    CHECK(fd >= 0);
    if (fd < 0) {
        return;
    }
    /* Close outside an iteration: callback is synchronous, memory stays valid. */
    CHECK(us_socket_close(0, s, 7, NULL) == s);
    CHECK(g.closes == 1);
    CHECK(us_socket_is_closed(0, s) == 1);
    CHECK(us_socket_close(0, s, 0, NULL) == s); /* idempotent, no second callback */
    CHECK(g.closes == 1);
    CHECK(us_socket_write(0, s, "x", 1, 0) == 0);
    CHECK(us_socket_local_port(0, s) == -1);
    us_socket_shutdown(0, s); /* no-op on closed */
    us_loop_run_once(loop, 0); /* post phase frees it; ASan checks nobody touches it later */
    CHECK(client_sees_eof(loop, fd, 2000));
    close(fd);

    /* Close inside on_data: still valid, is_closed == 1 while the callback runs. */
    g.mode = MODE_CLOSE_ON_DATA;
    reset_counts();
    fd = connect_pair(loop, port, &s);
    CHECK(fd >= 0);
    if (fd < 0) {
        return;
    }
    send(fd, "bye", 3, 0);
    CHECK(pump(loop, &g.closes, 1, 2000));
    CHECK(g.closed_after_close == 1);
    CHECK(client_sees_eof(loop, fd, 2000));
    close(fd);

    /* A socket closed earlier in the same ready batch must not be dispatched:
     * whichever of the two is dispatched first closes both. */
    g.mode = MODE_CLOSE_OTHER;
    reset_counts();
    struct us_socket_t *s1 = NULL, *s2 = NULL;
    int f1 = connect_pair(loop, port, &s1);
    int f2 = connect_pair(loop, port, &s2);
    CHECK(f1 >= 0 && f2 >= 0);
    if (f1 < 0 || f2 < 0) {
        return;
    }
    g.pair[0] = s1;
    g.pair[1] = s2;
    send(f1, "1", 1, 0);
    send(f2, "2", 1, 0);
    usleep(20000); /* both readable before the next epoll_wait */
    int r = us_loop_run_once(loop, 100);
    CHECK(r == 1);
    CHECK(g.datas == 1);
    CHECK(g.closes == 2);
    CHECK(client_sees_eof(loop, f1, 1000));
    CHECK(client_sees_eof(loop, f2, 1000));
    close(f1);
    close(f2);
}

static int timer_hits, repeat_hits, closer_hits;
static void timer_once(struct us_timer_t *t) {
    (void)t;
    timer_hits++;
}
static void timer_repeat(struct us_timer_t *t) {
    (void)t;
    repeat_hits++;
}
static void timer_self_close(struct us_timer_t *t) {
    closer_hits++;
    CHECK(*(int *)us_timer_ext(t) == 42);
    us_timer_close(t); /* freed immediately, from inside its own callback */
}

static void test_timers(void) {
    struct us_timer_t *once = us_create_timer(loop, 0, 0);
    struct us_timer_t *rep = us_create_timer(loop, 1, 0);
    struct us_timer_t *closer = us_create_timer(loop, 0, sizeof(int));
    CHECK(once && rep && closer);
    if (!once || !rep || !closer) {
        return;
    }
    CHECK(us_timer_loop(once) == loop);
    CHECK(((uintptr_t)us_timer_ext(closer) % 16) == 0);
    *(int *)us_timer_ext(closer) = 42;
    timer_hits = repeat_hits = closer_hits = 0;
    us_timer_set(once, timer_once, 20, 0);
    us_timer_set(rep, timer_repeat, 10, 10);
    us_timer_set(closer, timer_self_close, 15, 5);
    long long end = now_ms() + 200;
    while (now_ms() < end) {
        us_loop_run_once(loop, 10);
    }
    CHECK(timer_hits == 1);
    CHECK(repeat_hits >= 5);
    CHECK(closer_hits == 1);
    /* disarm */
    us_timer_set(rep, timer_repeat, 0, 0);
    int before = repeat_hits;
    for (int i = 0; i < 3; i++) {
        us_loop_run_once(loop, 20);
    }
    CHECK(repeat_hits == before);
    us_timer_close(once);
    us_timer_close(rep);
}

static int run_hits;
static void timer_run_stop(struct us_timer_t *t) {
    if (++run_hits == 3) {
        us_timer_close(t); /* last non-fallthrough poll: us_loop_run returns */
    }
}

static void test_loop_run(void) {
    /* A separate loop: us_loop_run keeps going while a non-fallthrough timer
     * lives, ignores fallthrough ones, and returns once it is gone. */
    struct us_loop_t *l2 = us_create_loop(NULL, wakeup_cb, pre_cb, post_cb, 0);
    CHECK(l2 != NULL);
    if (!l2) {
        return;
    }
    struct us_timer_t *keep = us_create_timer(l2, 0, 0);
    struct us_timer_t *fall = us_create_timer(l2, 1, 0);
    CHECK(keep && fall);
    if (keep && fall) {
        run_hits = 0;
        us_timer_set(keep, timer_run_stop, 5, 5);
        us_timer_set(fall, timer_repeat, 1000, 1000);
        long long t0 = now_ms();
        us_loop_run(l2);
        CHECK(run_hits == 3);
        CHECK(now_ms() - t0 < 500);
        us_loop_run(l2); /* nothing keeps it alive: returns at once */
    }
    if (fall) {
        us_timer_close(fall);
    }
    us_loop_free(l2);
}

static void *wake_thread(void *arg) {
    for (int i = 0; i < 5; i++) {
        us_wakeup_loop((struct us_loop_t *)arg);
    }
    return NULL;
}

static void test_wakeup_and_phases(void) {
    reset_counts();
    long long it = us_loop_iteration_number(loop);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, wake_thread, loop) == 0);
    pthread_join(th, NULL);
    long long t0 = now_ms();
    int r = us_loop_run_once(loop, 2000);
    CHECK(now_ms() - t0 < 1000);
    CHECK(r == 1);
    CHECK(g.wakeups == 1); /* five wakeups coalesced into one callback */
    us_loop_run_once(loop, 0);
    CHECK(g.wakeups == 1);
    CHECK(us_loop_iteration_number(loop) == it + 2);
    CHECK(g.pres == 2 && g.posts == 2);

    /* A wakeup that arrives while the loop is blocked in epoll_wait. */
    pthread_t th2;
    CHECK(pthread_create(&th2, NULL, wake_thread, loop) == 0);
    pump(loop, &g.wakeups, 2, 2000);
    pthread_join(th2, NULL);
    us_loop_run_once(loop, 0);
    CHECK(g.wakeups >= 2 && g.wakeups <= 3);
}

static void test_real_timeout(void) {
    g.mode = MODE_ECHO;
    reset_counts();
    struct us_socket_t *s = NULL;
    int fd = connect_pair(loop, port, &s);
    CHECK(fd >= 0);
    if (fd < 0) {
        return;
    }
    us_socket_timeout(0, s, 1); /* rounds up to one 4 s tick */
    long long t0 = now_ms();
    CHECK(pump(loop, &g.timeouts, 1, 7000));
    long long dt = now_ms() - t0;
    CHECK(dt <= 5000);
    CHECK(g.closes == 1);
    CHECK(client_sees_eof(loop, fd, 2000));
    close(fd);
    /* last socket gone: the sweep is disarmed again */
    test_idle_no_wakeups();
}

static void test_sweep_walk(void) {
    /* Drive the sweep directly: three sockets time out on the same tick and the
     * handler also closes a neighbour; long timeouts fire after 15 ticks. */
    g.mode = MODE_ECHO;
    reset_counts();
    struct us_timer_t *fake = us_create_timer(loop, 1, 0);
    struct us_socket_t *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    int fa = connect_pair(loop, port, &a);
    int fb = connect_pair(loop, port, &b);
    int fc = connect_pair(loop, port, &c);
    int fdd = connect_pair(loop, port, &d);
    CHECK(fa >= 0 && fb >= 0 && fc >= 0 && fdd >= 0 && fake);
    if (fa < 0 || fb < 0 || fc < 0 || fdd < 0 || !fake) {
        return;
    }
    us_socket_timeout(0, a, 4);
    us_socket_timeout(0, b, 4);
    us_socket_timeout(0, c, 3);
    us_socket_long_timeout(0, d, 1);
    g.victim = b; /* list order is c, b, a: closing c also closes b, the cursor's next */
    us_internal_timeout_sweep(fake);
    CHECK(g.timeouts == 2); /* c and a; b was closed by c's handler */
    CHECK(g.closes == 3);
    CHECK(us_socket_is_closed(0, d) == 0);
    for (int i = 0; i < 15 && g.long_timeouts == 0; i++) {
        us_internal_timeout_sweep(fake);
    }
    CHECK(g.long_timeouts == 1);
    CHECK(us_socket_context_timestamp(0, ctx) < 240);
    us_socket_timeout(0, d, 0); /* disabled: never fires */
    for (int i = 0; i < 3; i++) {
        us_internal_timeout_sweep(fake);
    }
    CHECK(g.timeouts == 2);
    us_socket_close(0, d, 0, NULL);
    us_timer_close(fake);
    us_loop_run_once(loop, 0);
    close(fa);
    close(fb);
    close(fc);
    close(fdd);
    g.victim = NULL;
}

static void test_port_sharing(void) {
    struct us_listen_socket_t *probe = us_socket_context_listen(0, ctx, "127.0.0.1", 0, 0, 0);
    CHECK(probe != NULL);
    if (!probe) {
        return;
    }
    int p = us_socket_local_port(0, (struct us_socket_t *)probe);
    us_listen_socket_close(0, probe);
    us_listen_socket_close(0, probe); /* idempotent */
    us_loop_run_once(loop, 0);

    struct us_listen_socket_t *l1 = us_socket_context_listen(0, ctx, "127.0.0.1", p, LIBUS_LISTEN_DEFAULT, 0);
    struct us_listen_socket_t *l2 = us_socket_context_listen(0, ctx, "127.0.0.1", p, LIBUS_LISTEN_DEFAULT, 0);
    CHECK(l1 != NULL);
    CHECK(l2 != NULL);
    errno = 0;
    struct us_listen_socket_t *l3 =
        us_socket_context_listen(0, ctx, "127.0.0.1", p, LIBUS_LISTEN_EXCLUSIVE_PORT, 0);
    CHECK(l3 == NULL);
    CHECK(errno == EADDRINUSE);
    if (l1) {
        us_listen_socket_close(0, l1);
    }
    if (l2) {
        us_listen_socket_close(0, l2);
    }
    if (l3) {
        us_listen_socket_close(0, l3);
    }
    us_loop_run_once(loop, 0);

    struct us_listen_socket_t *x1 =
        us_socket_context_listen(0, ctx, "127.0.0.1", p, LIBUS_LISTEN_EXCLUSIVE_PORT, 0);
    struct us_listen_socket_t *x2 = us_socket_context_listen(0, ctx, "127.0.0.1", p, LIBUS_LISTEN_DEFAULT, 0);
    CHECK(x1 != NULL);
    CHECK(x2 == NULL);
    if (x1) {
        us_listen_socket_close(0, x1);
    }
    if (x2) {
        us_listen_socket_close(0, x2);
    }
    /* bad host reports failure with errno set */
    errno = 0;
    CHECK(us_socket_context_listen(0, ctx, "host.invalid.", 0, 0, 0) == NULL);
    CHECK(errno != 0);
    us_loop_run_once(loop, 0);
}

static void test_unix(void) {
    g.mode = MODE_ECHO;
    reset_counts();
    char path[108];
    snprintf(path, sizeof(path), "/tmp/us_test_%d.sock", (int)getpid());
    struct us_listen_socket_t *u = us_socket_context_listen_unix(0, ctx, path, 0, SOCKET_EXT);
    CHECK(u != NULL);
    if (!u) {
        return;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    CHECK(pump(loop, &g.opens, 1, 2000));
    CHECK(g.ip_len == 0);
    CHECK(send(fd, "unix!", 5, 0) == 5);
    char buf[8] = {0};
    CHECK(client_read(loop, fd, buf, 5, 2000) == 5);
    CHECK(memcmp(buf, "unix!", 5) == 0);
    close(fd);
    CHECK(pump(loop, &g.closes, 1, 2000));
    us_listen_socket_close(0, u);
    unlink(path);

    char longpath[300];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = 0;
    errno = 0;
    CHECK(us_socket_context_listen_unix(0, ctx, longpath, 0, 0) == NULL);
    CHECK(errno == ENAMETOOLONG);
    us_loop_run_once(loop, 0);
}

static void test_pause_resume_and_partial_write(void) {
    g.mode = MODE_SINK;
    reset_counts();
    struct us_socket_t *s = NULL;
    int fd = connect_pair(loop, port, &s);
    CHECK(fd >= 0);
    if (fd < 0) {
        return;
    }
    struct us_poll_t *p = (struct us_poll_t *)s;
    us_poll_change(p, loop, 0);
    CHECK(us_poll_events(p) == 0);
    CHECK(us_poll_fd(p) == (int)(intptr_t)us_socket_get_native_handle(0, s));
    send(fd, "abc", 3, 0);
    for (int i = 0; i < 4; i++) {
        CHECK(us_loop_run_once(loop, 20) == 0);
    }
    CHECK(g.datas == 0);
    us_poll_change(p, loop, LIBUS_SOCKET_READABLE);
    CHECK(pump(loop, &g.datas, 1, 2000));
    CHECK(g.data_len == 3 && memcmp(g.data, "abc", 3) == 0);

    /* Partial write: 32 MiB cannot fit in the socket buffers. */
    size_t len = 32u << 20;
    char *big = malloc(len);
    for (size_t i = 0; i < len; i++) {
        big[i] = (char)(i * 7 + (i >> 13));
    }
    g.big = big;
    g.big_len = len;
    g.big_off = (size_t)us_socket_write(0, s, big, (int)len, 0);
    CHECK(g.big_off < len);
    CHECK(us_poll_events(p) == (LIBUS_SOCKET_READABLE | LIBUS_SOCKET_WRITABLE));
    char *rx = malloc(len);
    size_t got = 0;
    long long end = now_ms() + 5000;
    while (got < len && now_ms() < end) {
        us_loop_run_once(loop, 0);
        ssize_t n = recv(fd, rx + got, len - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
        } else {
            struct pollfd pf = {fd, POLLIN, 0};
            poll(&pf, 1, 1);
        }
    }
    CHECK(got == len);
    CHECK(got == len && memcmp(rx, big, len) == 0);
    CHECK(g.writables >= 1);
    us_loop_run_once(loop, 0);
    CHECK(us_poll_events(p) == LIBUS_SOCKET_READABLE); /* WRITABLE dropped when done */
    g.big = NULL;
    free(big);
    free(rx);

    /* shutdown: our FIN, then peer FIN => close (not on_end) */
    us_socket_shutdown(0, s);
    CHECK(us_socket_is_shut_down(0, s) == 1);
    CHECK(us_socket_write(0, s, "z", 1, 0) == 0);
    char tmp[4];
    long long e2 = now_ms() + 2000;
    ssize_t rr = -1;
    while (now_ms() < e2 && (rr = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT)) < 0) {
        us_loop_run_once(loop, 2);
    }
    CHECK(rr == 0);
    int ends = g.ends;
    shutdown(fd, SHUT_WR);
    CHECK(pump(loop, &g.closes, 1, 2000));
    CHECK(g.ends == ends);
    close(fd);
}

static void test_adopt_child(void) {
    g.mode = MODE_SINK;
    reset_counts();
    struct us_socket_t *s = NULL;
    int fd = connect_pair(loop, port, &s);
    CHECK(fd >= 0);
    if (fd < 0) {
        return;
    }
    struct us_socket_context_t *child = us_create_child_socket_context(0, ctx, 40);
    CHECK(child != NULL);
    if (!child) {
        return;
    }
    us_socket_context_on_data(0, child, child_on_data);
    us_socket_context_on_close(0, child, on_close);
    us_socket_timeout(0, s, 100);
    struct us_socket_t *s2 = us_socket_context_adopt_socket(0, child, s, 4096);
    CHECK(us_socket_context(0, s2) == child);
    CHECK(((uintptr_t)us_socket_ext(0, s2) % 16) == 0);
    memset(us_socket_ext(0, s2), 1, 4096);
    CHECK(send(fd, "moved", 5, 0) == 5);
    char buf[8] = {0};
    CHECK(client_read(loop, fd, buf, 5, 2000) == 5);
    CHECK(memcmp(buf, "moved", 5) == 0);
    CHECK(g.child_datas == 1 && g.datas == 0);
    us_socket_close(0, s2, 0, NULL);
    CHECK(g.closes == 1);
    us_loop_run_once(loop, 0);
    us_socket_context_free(0, child);
    close(fd);
}

static void test_emfile_backoff(void) {
    CHECK(ls != NULL);
    if (!ls) {
        return;
    }
    g.mode = MODE_ECHO;
    reset_counts();
    int fd = tcp_client(port); /* sits in the backlog */
    CHECK(fd >= 0);
    if (fd < 0) {
        return;
    }
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    int probe = dup(0);
    close(probe);
    low = old;
    low.rlim_cur = (rlim_t)probe; /* the next descriptor would be == limit */
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);

    int r = us_loop_run_once(loop, 100);
    CHECK(r == 1);
    CHECK(g.opens == 0);
    CHECK(us_poll_events((struct us_poll_t *)ls) == 0); /* paused, not spinning */
    int events = 0, iterations = 0;
    long long end = now_ms() + 300;
    while (now_ms() < end) {
        events += us_loop_run_once(loop, 20);
        iterations++;
    }
    CHECK(g.opens == 0);
    CHECK(events <= 12); /* ~2 per 100 ms retry, not thousands */

    setrlimit(RLIMIT_NOFILE, &old);
    CHECK(pump(loop, &g.opens, 1, 1000));
    CHECK(us_poll_events((struct us_poll_t *)ls) == LIBUS_SOCKET_READABLE);
    close(fd);
    CHECK(pump(loop, &g.closes, 1, 2000));
}

static void test_context_close_and_ssl(void) {
    reset_counts();
    struct us_socket_context_options_t opts;
    memset(&opts, 0, sizeof(opts));
    /* A TLS context without a certificate is refused, and says why. */
    errno = 0;
    CHECK(us_create_socket_context(1, loop, 0, opts) == NULL);
    CHECK(errno == EINVAL);
    CHECK(strstr(us_socket_context_ssl_error(), "cert_file_name") != NULL);

    struct us_socket_context_t *c2 = make_context(loop);
    struct us_listen_socket_t *l = us_socket_context_listen(0, c2, "", 0, 0, SOCKET_EXT);
    CHECK(l != NULL);
    if (!l) {
        return;
    }
    int p = us_socket_local_port(0, (struct us_socket_t *)l);
    struct us_socket_t *a = NULL, *b = NULL;
    int fa = connect_pair(loop, p, &a); /* wildcard listen is dual stack: IPv4 client works */
    int fb = connect_pair(loop, p, &b);
    CHECK(fa >= 0 && fb >= 0);
    CHECK(g.ip_len == 16 || g.ip_len == 4);
    us_socket_context_close(0, c2);
    CHECK(g.closes == 2);
    CHECK(us_socket_is_closed(0, a) && us_socket_is_closed(0, b));
    us_listen_socket_close(0, l); /* already closed by the context: no-op */
    us_loop_run_once(loop, 0);
    us_socket_context_free(0, c2);
    CHECK(client_sees_eof(loop, fa, 1000));
    CHECK(client_sees_eof(loop, fb, 1000));
    close(fa);
    close(fb);
}

struct test {
    const char *name;
    void (*fn)(void);
};

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    loop = us_create_loop(NULL, wakeup_cb, pre_cb, post_cb, 32);
    if (!loop) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    ctx = make_context(loop);
    long long t0 = now_ms();

    static const struct test tests[] = {
        {"idle loop makes no wakeups", test_idle_no_wakeups},
        {"listen on port 0 and read the port", test_listen_port},
        {"echo, write2, send counter, on_end/on_close", test_echo_and_counter},
        {"deferred free and same-batch close", test_deferred_free},
        {"timers", test_timers},
        {"us_loop_run returns when nothing keeps it alive", test_loop_run},
        {"wakeup from another thread, pre/post", test_wakeup_and_phases},
        {"sweep walk with closing callbacks, long timeout", test_sweep_walk},
        {"DEFAULT/EXCLUSIVE port sharing", test_port_sharing},
        {"unix socket listen", test_unix},
        {"pause/resume, partial write, shutdown", test_pause_resume_and_partial_write},
        {"adopt into child context", test_adopt_child},
        {"EMFILE accept backoff", test_emfile_backoff},
        {"context close, ssl without a certificate", test_context_close_and_ssl},
        {"real 4 s socket timeout", test_real_timeout},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
        run(tests[i].name, tests[i].fn);

    if (ls) {
        us_listen_socket_close(0, ls);
    }
    us_loop_run_once(loop, 0);
    us_socket_context_free(0, ctx);
    us_loop_free(loop);
    fprintf(stderr, "(%.1f s)\n", (double)(now_ms() - t0) / 1000.0);
    return report();
}
