# Request: borrowed views into the receive buffer, valid while the handler's
# synchronous part runs. preserve() copies everything into Python objects.
# This is where request bytes become Python objects.

from http.cookies import SimpleCookie as _SimpleCookie, CookieError as _CookieError
from urllib.parse import parse_qs as _parse_qs, parse_qsl as _parse_qsl

_INVALID_REQUEST = (
    "this Request is no longer valid: its data lived in the receive buffer and "
    "was released when the handler's synchronous part returned (for an async "
    "handler, at its first await). Call req.preserve() before the first await "
    "to keep the request data.")


cdef inline int _req_check(Request r) except -1:
    # Every accessor starts here: the engine's views are readable only on the
    # loop thread and only until the handler's synchronous part returns.
    if r._preserved:
        return 0
    if r._req == NULL:
        raise RuntimeError(_INVALID_REQUEST)
    if PyThread_get_thread_ident() != r._app._thread:
        raise RuntimeError(_WRONG_THREAD)
    return 0


@cython.freelist(64)
cdef class Request:
    """The request of one handler call (socketify's AppRequest)."""

    def __cinit__(self):
        self._req = NULL
        self._match = NULL

    cdef _invalidate(self):
        # Called when the views die (not for a preserved request): the lazily
        # cached copies go too, so every accessor raises from now on.
        self._req = NULL
        self._match = NULL
        # Most handlers cache nothing: then there is nothing to drop (this
        # runs for every request, so the stores are worth skipping).
        if self._url is None and self._full_url is None and self._method is None \
                and self._header_list is None and self._headers is None and self._queries is None \
                and self._params is None and self._param_index is None and self._cookies is None:
            return
        self._url = self._full_url = self._method = None
        self._header_list = None
        self._headers = None
        self._queries = None
        self._params = None
        self._param_index = None
        self._cookies = None

    @property
    def app(self):
        return self._app

    def get_url(self):
        """Path without the query string."""
        _req_check(self)
        if self._url is None:
            self._url = _text(self._req.target, self._req.path_len)
        return self._url

    def get_full_url(self):
        """Path with the query string."""
        _req_check(self)
        if self._full_url is None:
            self._full_url = _text(self._req.target, self._req.target_len)
        return self._full_url

    def get_method(self):
        """Method as sent by the client ("GET")."""
        _req_check(self)
        if self._method is None:
            self._method = _text(self._req.method, self._req.method_len)
        return self._method

    def get_header(self, lower_case_header):
        """Value of the first header with this name (any case), or None."""
        cdef bytes key
        cdef const http_header_t *h
        name = lower_case_header
        _req_check(self)
        if self._header_list is not None:
            name = name.lower() if isinstance(name, str) else name.decode("latin-1").lower()
            for n, v in self._header_list:
                if n == name:
                    return v
            return None
        key = (name.encode("latin-1") if isinstance(name, str) else bytes(name)).lower()
        h = http_find_header(self._req, key, len(key))
        if h == NULL:
            return None
        return _text(h.value, h.value_len)

    cdef list _collect_headers(self):
        cdef uint32_t i
        cdef const http_header_t *h
        _req_check(self)
        if self._header_list is None:
            lst = []
            for i in range(self._req.num_headers):
                h = &self._req.headers[i]
                lst.append((_text(h.name, h.name_len), _text(h.value, h.value_len)))
            self._header_list = lst
        return self._header_list

    def get_headers(self):
        """All headers as a dict with lower-case names (a repeated name: last wins)."""
        _req_check(self)
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
        _req_check(self)
        if self._queries is None:
            self._queries = _parse_qs(self._query_string(), keep_blank_values=True)
        return self._queries

    def get_query(self, key):
        """First value of a query parameter, URL-decoded, or None."""
        _req_check(self)
        if self._queries is not None:
            values = self._queries.get(key)
            return values[0] if values else None
        for k, v in _parse_qsl(self._query_string(), keep_blank_values=True):
            if k == key:
                return v
        return None

    cdef list _collect_params(self):
        # Parameters of the route candidate being visited (_match). A preserved
        # request keeps them as Python objects: _match dies with the dispatch.
        cdef uint32_t i
        _req_check(self)
        if self._params is None:
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
        _req_check(self)
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

    def get_cookies(self):
        """All cookies as an http.cookies.SimpleCookie (socketify's type), or None
        when the request has no Cookie header or it cannot be parsed."""
        header = self.get_header("cookie")
        if not header:
            return None
        jar = _SimpleCookie()
        try:
            jar.load(header)
        except _CookieError:
            return None
        return jar

    def preserve(self):
        """Copy the request into Python objects so it stays readable after await."""
        if self._preserved:
            return self
        _req_check(self)
        self.get_url()
        self.get_full_url()
        self.get_method()
        self._collect_headers()
        self.get_queries()
        self._preserved = True
        self._collect_params()
        return self

    def set_yield(self, bint has_yield):
        """True: this handler declines the request; the router tries the next match."""
        self._yield = has_yield
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
