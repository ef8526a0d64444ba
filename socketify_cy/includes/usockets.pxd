# C declarations of the uSockets API subset the binding calls directly.

cdef extern from "libusockets.h" nogil:
    struct us_loop_t:
        pass

    struct us_socket_t:
        pass

    int us_loop_fd(us_loop_t *loop)
    int us_loop_run_once(us_loop_t *loop, int timeout_ms)
    unsigned long long us_loop_send_syscalls(us_loop_t *loop)

    struct us_socket_context_options_t:
        const char *key_file_name
        const char *cert_file_name
        const char *passphrase
        const char *dh_params_file_name
        const char *ca_file_name
        const char *ssl_ciphers
        int ssl_prefer_low_memory_usage

    const char *us_socket_context_ssl_error()
