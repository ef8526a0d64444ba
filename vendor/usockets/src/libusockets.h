/*
 * socketify_cy's own implementation of the uSockets C API (server subset,
 * Linux epoll backend). Names, parameter lists and semantics follow upstream
 * uSockets so that anyone who knows that API knows this one; the code is ours.
 *
 * Extensions (not in upstream) are marked EXTENSION and exist so the loop can
 * be embedded in a foreign event loop such as asyncio.
 */
#ifndef LIBUSOCKETS_H
#define LIBUSOCKETS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Size of the single per-loop receive buffer (max bytes handed to on_data). */
#ifndef LIBUS_RECV_BUFFER_LENGTH
#define LIBUS_RECV_BUFFER_LENGTH 524288
#endif
/* Writable slack guaranteed before and after the data given to on_data. */
#define LIBUS_RECV_BUFFER_PADDING 32
/* Seconds per timeout sweep tick. */
#define LIBUS_TIMEOUT_GRANULARITY 4
/* Alignment of every ext area. */
#define LIBUS_EXT_ALIGNMENT 16

/* Listen options. */
#define LIBUS_LISTEN_DEFAULT 0        /* SO_REUSEPORT: share the port */
#define LIBUS_LISTEN_EXCLUSIVE_PORT 1 /* no SO_REUSEPORT */

#define LIBUS_SOCKET_DESCRIPTOR int

/* us_socket_close codes: 0 closes cleanly (FIN), 1 resets the connection (RST). */
#define LIBUS_SOCKET_CLOSE_CODE_CLEAN_SHUTDOWN 0
#define LIBUS_SOCKET_CLOSE_CODE_CONNECTION_RESET 1

/* Poll event bits (epoll values, as upstream leaks them). */
#define LIBUS_SOCKET_READABLE 1
#define LIBUS_SOCKET_WRITABLE 4

struct us_loop_t;
struct us_timer_t;
struct us_socket_context_t;
struct us_socket_t;
struct us_listen_socket_t;
struct us_poll_t;

/* Passed by value; field order is ABI. Ignored for ssl == 0. */
struct us_socket_context_options_t {
    const char *key_file_name;
    const char *cert_file_name;
    const char *passphrase;
    const char *dh_params_file_name;
    const char *ca_file_name;
    const char *ssl_ciphers;
    int ssl_prefer_low_memory_usage;
};

/* ---- loop ---------------------------------------------------------------- */
struct us_loop_t *us_create_loop(void *hint, void (*wakeup_cb)(struct us_loop_t *loop),
                                 void (*pre_cb)(struct us_loop_t *loop),
                                 void (*post_cb)(struct us_loop_t *loop), unsigned int ext_size);
void us_loop_free(struct us_loop_t *loop);
void *us_loop_ext(struct us_loop_t *loop);
void us_loop_run(struct us_loop_t *loop);
void us_loop_integrate(struct us_loop_t *loop);
long long us_loop_iteration_number(struct us_loop_t *loop);
void us_wakeup_loop(struct us_loop_t *loop);

/* EXTENSION: the epoll fd; readable whenever us_loop_run_once would have work. */
int us_loop_fd(struct us_loop_t *loop);
/* EXTENSION: one iteration (pre, epoll_wait with timeout_ms, dispatch, post).
 * timeout_ms == 0 never blocks. Arms the sweep timer like us_loop_integrate.
 * Returns the number of ready events dispatched. */
int us_loop_run_once(struct us_loop_t *loop, int timeout_ms);
/* (returns -1 if epoll failed for a reason other than EINTR, or with errno
 * EBUSY when called from inside one of this loop's callbacks) */
/* EXTENSION: number of send/writev syscalls this loop's sockets made (for tests
 * that prove a response went out in one syscall). */
unsigned long long us_loop_send_syscalls(struct us_loop_t *loop);

/* ---- timers -------------------------------------------------------------- */
struct us_timer_t *us_create_timer(struct us_loop_t *loop, int fallthrough, unsigned int ext_size);
void *us_timer_ext(struct us_timer_t *timer);
void us_timer_close(struct us_timer_t *timer);
void us_timer_set(struct us_timer_t *timer, void (*cb)(struct us_timer_t *t), int ms, int repeat_ms);
struct us_loop_t *us_timer_loop(struct us_timer_t *t);

/* ---- socket contexts ----------------------------------------------------- */
struct us_socket_context_t *us_create_socket_context(int ssl, struct us_loop_t *loop, int ext_size,
                                                     struct us_socket_context_options_t options);
void us_socket_context_free(int ssl, struct us_socket_context_t *context);
void us_socket_context_close(int ssl, struct us_socket_context_t *context);
void *us_socket_context_ext(int ssl, struct us_socket_context_t *context);
struct us_loop_t *us_socket_context_loop(int ssl, struct us_socket_context_t *context);
unsigned short us_socket_context_timestamp(int ssl, struct us_socket_context_t *context);
struct us_socket_context_t *us_create_child_socket_context(int ssl, struct us_socket_context_t *context,
                                                           int context_ext_size);

void us_socket_context_on_pre_open(int ssl, struct us_socket_context_t *context,
    LIBUS_SOCKET_DESCRIPTOR (*on_pre_open)(struct us_socket_context_t *context, LIBUS_SOCKET_DESCRIPTOR fd,
                                           char *ip, int ip_length));
void us_socket_context_on_open(int ssl, struct us_socket_context_t *context,
    struct us_socket_t *(*on_open)(struct us_socket_t *s, int is_client, char *ip, int ip_length));
void us_socket_context_on_close(int ssl, struct us_socket_context_t *context,
    struct us_socket_t *(*on_close)(struct us_socket_t *s, int code, void *reason));
void us_socket_context_on_data(int ssl, struct us_socket_context_t *context,
    struct us_socket_t *(*on_data)(struct us_socket_t *s, char *data, int length));
void us_socket_context_on_writable(int ssl, struct us_socket_context_t *context,
    struct us_socket_t *(*on_writable)(struct us_socket_t *s));
void us_socket_context_on_timeout(int ssl, struct us_socket_context_t *context,
    struct us_socket_t *(*on_timeout)(struct us_socket_t *s));
void us_socket_context_on_long_timeout(int ssl, struct us_socket_context_t *context,
    struct us_socket_t *(*on_long_timeout)(struct us_socket_t *s));
void us_socket_context_on_end(int ssl, struct us_socket_context_t *context,
    struct us_socket_t *(*on_end)(struct us_socket_t *s));
void us_socket_context_on_connect_error(int ssl, struct us_socket_context_t *context,
    struct us_socket_t *(*on_connect_error)(struct us_socket_t *s, int code));

/* ---- listening ------------------------------------------------------------ */
struct us_listen_socket_t *us_socket_context_listen(int ssl, struct us_socket_context_t *context,
                                                    const char *host, int port, int options,
                                                    int socket_ext_size);
struct us_listen_socket_t *us_socket_context_listen_unix(int ssl, struct us_socket_context_t *context,
                                                         const char *path, int options, int socket_ext_size);
void us_listen_socket_close(int ssl, struct us_listen_socket_t *ls);
struct us_socket_t *us_adopt_accepted_socket(int ssl, struct us_socket_context_t *context,
                                             LIBUS_SOCKET_DESCRIPTOR accepted_fd, unsigned int socket_ext_size,
                                             char *addr_ip, int addr_ip_length);
struct us_socket_t *us_socket_context_adopt_socket(int ssl, struct us_socket_context_t *context,
                                                   struct us_socket_t *s, int ext_size);

/* ---- sockets ---------------------------------------------------------------- */
int us_socket_write(int ssl, struct us_socket_t *s, const char *data, int length, int msg_more);
int us_socket_write2(int ssl, struct us_socket_t *s, const char *header, int header_length,
                     const char *payload, int payload_length);
void us_socket_flush(int ssl, struct us_socket_t *s);
void us_socket_timeout(int ssl, struct us_socket_t *s, unsigned int seconds);
void us_socket_long_timeout(int ssl, struct us_socket_t *s, unsigned int minutes);
void us_socket_shutdown(int ssl, struct us_socket_t *s);
void us_socket_shutdown_read(int ssl, struct us_socket_t *s);
int us_socket_is_shut_down(int ssl, struct us_socket_t *s);
int us_socket_is_closed(int ssl, struct us_socket_t *s);
struct us_socket_t *us_socket_close(int ssl, struct us_socket_t *s, int code, void *reason);
void *us_socket_ext(int ssl, struct us_socket_t *s);
struct us_socket_context_t *us_socket_context(int ssl, struct us_socket_t *s);
int us_socket_local_port(int ssl, struct us_socket_t *s);
int us_socket_remote_port(int ssl, struct us_socket_t *s);
void us_socket_remote_address(int ssl, struct us_socket_t *s, char *buf, int *length);
void *us_socket_get_native_handle(int ssl, struct us_socket_t *s);

/* ---- TLS (ssl != 0) ---------------------------------------------------------- */
/* Server names (SNI). Options without cert and key mean "the context's own
 * certificate". Returns 0 added, -1 error (the reason: us_socket_context_ssl_error),
 * 1 the pattern existed: EXTENSION, upstream ignores the call then; here a
 * given certificate replaces the pattern's and a non-NULL user replaces its user. */
int us_socket_context_add_server_name(int ssl, struct us_socket_context_t *context, const char *hostname_pattern,
                                      struct us_socket_context_options_t options, void *user);
void us_socket_context_remove_server_name(int ssl, struct us_socket_context_t *context,
                                          const char *hostname_pattern);
/* Called inside the handshake when no pattern matches; it may add the name. */
void us_socket_context_on_server_name(int ssl, struct us_socket_context_t *context,
                                      void (*cb)(struct us_socket_context_t *context, const char *hostname));
void *us_socket_server_name_userdata(int ssl, struct us_socket_t *s);
void *us_socket_context_find_server_name_userdata(int ssl, struct us_socket_context_t *context,
                                                  const char *hostname_pattern);
void *us_socket_context_get_native_handle(int ssl, struct us_socket_context_t *context);
/* EXTENSION: why the last TLS context or server name on this thread could not
 * be created ("key_file_name k.pem: ...: bad decrypt"); "" if it could. */
const char *us_socket_context_ssl_error(void);
/* EXTENSION: plaintext that precedes the TLS bytes of every connection (a
 * PROXY protocol header from a TCP load balancer). cb gets the raw bytes
 * first; it returns -1 while it needs more (it keeps what it was given) or,
 * once the preamble is complete, how many of these bytes it took: the rest
 * starts the handshake. To refuse the connection it closes the socket. */
void us_socket_context_on_preamble(int ssl, struct us_socket_context_t *context,
                                   int (*cb)(struct us_socket_t *s, char *data, int length));
/* EXTENSION: 1 once the TLS handshake is complete (always 1 for ssl == 0). */
int us_socket_is_tls_established(int ssl, struct us_socket_t *s);

/* ---- polls (uWS uses these to pause/resume reading) -------------------------- */
struct us_poll_t *us_create_poll(struct us_loop_t *loop, int fallthrough, unsigned int ext_size);
void us_poll_free(struct us_poll_t *p, struct us_loop_t *loop);
void us_poll_init(struct us_poll_t *p, LIBUS_SOCKET_DESCRIPTOR fd, int poll_type);
void us_poll_start(struct us_poll_t *p, struct us_loop_t *loop, int events);
void us_poll_change(struct us_poll_t *p, struct us_loop_t *loop, int events);
void us_poll_stop(struct us_poll_t *p, struct us_loop_t *loop);
int us_poll_events(struct us_poll_t *p);
void *us_poll_ext(struct us_poll_t *p);
LIBUS_SOCKET_DESCRIPTOR us_poll_fd(struct us_poll_t *p);
struct us_poll_t *us_poll_resize(struct us_poll_t *p, struct us_loop_t *loop, unsigned int ext_size);

#ifdef __cplusplus
}
#endif

#endif
