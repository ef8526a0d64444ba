# Request: borrowed views into the receive buffer, valid while the handler's
# synchronous part runs. preserve() copies everything into Python objects.
# This is where request bytes become Python objects.

from urllib.parse import parse_qs as _parse_qs, parse_qsl as _parse_qsl

_INVALID_REQUEST = (
    "this Request is no longer valid: its data lived in the receive buffer and "
    "was released when the handler's synchronous part returned (for an async "
    "handler, at its first await). Call req.preserve() before the first await "
    "to keep the request data.")


cdef inline str _text(const char *data, Py_ssize_t length):
    # Clients may send any byte; surrogateescape keeps every one of them.
    return PyUnicode_DecodeUTF8(data, length, "surrogateescape")


@cython.freelist(64)
cdef class Request:
    """The request of one handler call (socketify's AppRequest)."""

    cdef http_request_t *_req        # NULL once invalid (unless preserved)
    cdef const router_match_t *_match
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

    def __cinit__(self):
        self._req = NULL
        self._match = NULL

    cdef inline int _check(self) except -1:
        if self._req == NULL and not self._preserved:
            raise RuntimeError(_INVALID_REQUEST)
        return 0

    cdef _invalidate(self):
        self._req = NULL
        self._match = NULL

    def get_url(self):
        """Path without the query string."""
        if self._url is None:
            self._check()
            self._url = _text(self._req.target, self._req.path_len)
        return self._url

    def get_full_url(self):
        """Path with the query string."""
        if self._full_url is None:
            self._check()
            self._full_url = _text(self._req.target, self._req.target_len)
        return self._full_url

    def get_method(self):
        """Method as sent by the client ("GET")."""
        if self._method is None:
            self._check()
            self._method = _text(self._req.method, self._req.method_len)
        return self._method

    def get_header(self, name):
        """Value of the first header with this name (case-insensitive), or None."""
        cdef bytes key
        cdef const http_header_t *h
        if self._header_list is not None:
            name = name.lower() if isinstance(name, str) else name.decode("latin-1").lower()
            for n, v in self._header_list:
                if n == name:
                    return v
            return None
        self._check()
        key = (name.encode("latin-1") if isinstance(name, str) else bytes(name)).lower()
        h = http_find_header(self._req, key, len(key))
        if h == NULL:
            return None
        return _text(h.value, h.value_len)

    cdef list _collect_headers(self):
        cdef uint32_t i
        cdef const http_header_t *h
        if self._header_list is None:
            self._check()
            lst = []
            for i in range(self._req.num_headers):
                h = &self._req.headers[i]
                lst.append((_text(h.name, h.name_len), _text(h.value, h.value_len)))
            self._header_list = lst
        return self._header_list

    def get_headers(self):
        """All headers as a dict with lower-case names (a repeated name: last wins)."""
        if self._headers is None:
            self._headers = dict(self._collect_headers())
        return self._headers

    def for_each_header(self, handler):
        """Call handler(name, value) for every header in wire order."""
        for n, v in self._collect_headers():
            handler(n, v)

    cdef str _query_string(self):
        full = self.get_full_url()
        url = self.get_url()
        return full[len(url) + 1:]

    def get_queries(self):
        """Query parameters as {name: [values, ...]}, URL-decoded."""
        if self._queries is None:
            self._queries = _parse_qs(self._query_string(), keep_blank_values=True)
        return self._queries

    def get_query(self, key):
        """First value of a query parameter, URL-decoded, or None."""
        if self._queries is not None:
            values = self._queries.get(key)
            return values[0] if values else None
        for k, v in _parse_qsl(self._query_string(), keep_blank_values=True):
            if k == key:
                return v
        return None

    cdef list _collect_params(self):
        cdef uint32_t i
        if self._params is None:
            self._check()
            params = []
            names = {}
            if self._match != NULL:
                for i in range(self._match.num_params):
                    params.append(_text(self._match.params[i].data, self._match.params[i].len))
                    if self._match.param_names != NULL and self._match.param_names[i] != NULL:
                        names[_text(self._match.param_names[i], self._match.param_name_lens[i])] = i
            if self._preserved or self._req == NULL:
                self._params = params
                self._param_index = names
            else:
                return [params, names]
        return [self._params, self._param_index]

    def get_parameter(self, index):
        """Route parameter by position (int) or by name (str, from ':name'), or None."""
        params, names = self._collect_params()
        if isinstance(index, str):
            index = names.get(index)
            if index is None:
                return None
        if 0 <= index < len(params):
            return params[index]
        return None

    def get_parameters(self):
        """All route parameters, in pattern order."""
        return list(self._collect_params()[0])

    def get_cookie(self, name):
        """Raw (not URL-decoded) value of a cookie, or None."""
        if self._cookies is None:
            jar = {}
            header = self.get_header("cookie")
            if header:
                for part in header.split(";"):
                    k, sep, v = part.strip().partition("=")
                    if sep and k not in jar:
                        jar[k] = v.strip()
            self._cookies = jar
        return self._cookies.get(name)

    def preserve(self):
        """Copy the request into Python objects so it stays readable after await."""
        if self._preserved:
            return self
        self._check()
        self.get_url()
        self.get_full_url()
        self.get_method()
        self._collect_headers()
        self.get_queries()
        self._preserved = True
        self._collect_params()
        return self

    def set_yield(self, bint value):
        """True: this handler declines the request; the router tries the next match."""
        self._yield = value
        return self

    def get_yield(self):
        return self._yield

    def is_ancient(self):
        """True for an HTTP/1.0 request."""
        return self._version_minor == 0

    def __repr__(self):
        if self._req == NULL and not self._preserved:
            return "<Request (released)>"
        return "<Request %s %s>" % (self.get_method(), self.get_full_url())
