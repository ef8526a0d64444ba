# Request: borrowed views into the receive buffer while the handler's
# synchronous part runs; Python copies once preserved (request.pyx).

cdef inline str _text(const char *data, Py_ssize_t length):
    # Clients may send any byte; surrogateescape keeps every one of them.
    return PyUnicode_DecodeUTF8(data, length, "surrogateescape")


cdef class Request:
    cdef http_request_t *_req        # NULL once invalid (unless preserved)
    cdef const router_match_t *_match  # the route candidate being visited; NULL after dispatch
    cdef App _app
    cdef bint _yield
    cdef bint _preserved
    cdef int _version_minor
    # Python copies, filled lazily or by preserve()
    cdef object _url
    cdef object _full_url
    cdef object _method
    cdef list _header_list           # [(name, value), ...] in wire order
    cdef dict _headers
    cdef dict _queries
    cdef list _params
    cdef dict _param_index
    cdef dict _cookies

    cdef _invalidate(self)
    cdef list _collect_headers(self)
    cdef str _query_string(self)
    cdef list _collect_params(self)
