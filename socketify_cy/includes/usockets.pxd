# C declarations of the uSockets API subset the binding calls directly.

cdef extern from "libusockets.h" nogil:
    struct us_loop_t:
        pass

    struct us_socket_t:
        pass

    int us_loop_fd(us_loop_t *loop)
    int us_loop_run_once(us_loop_t *loop, int timeout_ms)
    unsigned long long us_loop_send_syscalls(us_loop_t *loop)
