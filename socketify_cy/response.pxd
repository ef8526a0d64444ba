# Response: the writing side of one request (response.pyx).

cdef class Response:
    cdef http_conn_t *_conn       # NULL once ended or aborted
    cdef App _app
    cdef object _ctx              # the request's contextvars.Context
    cdef bint _aborted
    cdef bint _responded
    cdef bint _engine_ref         # the engine holds one reference (dropped once, by _released)
    cdef list _abort_handlers
    cdef object _data_handler
    cdef object _writable_handler
    cdef uint8_t _ip[16]
    cdef int _ip_len
    cdef uint8_t _proxied_ip[16]  # from a PROXY preamble
    cdef int _proxied_len
    cdef int _proxied_port

    cdef _released(self)
    cdef int _finish(self, int rc) except -1
    cdef _run_abort_handlers(self)
