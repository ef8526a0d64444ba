# TLS pieces of the binding (tls.pyx): C options built from AppOptions, and
# the per-domain route registrar returned by App.domain().

cdef class _TlsOptions:
    cdef us_socket_context_options_t c
    cdef list _keep

    cdef const char *_str(self, value)


cdef class _Domain:
    cdef App _app
    cdef readonly str pattern

    cdef router_t *_router(self) except NULL
    cdef _Domain _add(self, method, path, handler)
