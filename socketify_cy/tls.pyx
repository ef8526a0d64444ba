# TLS: where AppOptions become the C context options (and certificate files
# are checked, so App() fails naming the file), the server-name (SNI)
# callback, and the per-domain routers behind App.domain().

_TLS_FILES = ("key_file_name", "cert_file_name", "ca_file_name", "dh_params_file_name")


cdef class _TlsOptions:
    # The C options plus the bytes their pointers refer to.

    cdef const char *_str(self, value):
        cdef bytes b
        if value is None:
            return NULL
        b = value.encode("utf-8")
        if b"\0" in b:
            raise ValueError("a TLS option contains a NUL byte")
        self._keep.append(b)
        return <const char *>b


def _check_readable(name, path):
    # OpenSSL would say "no such file" less clearly and without the option's name.
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise type(exc)(exc.errno, "%s: %s" % (name, exc.strerror), path) from None


cdef _TlsOptions _tls_options(options):
    cdef _TlsOptions t
    if not isinstance(options, AppOptions):
        raise TypeError("options must be an AppOptions, not %s" % type(options).__name__)
    if options.cert_file_name is None or options.key_file_name is None:
        raise ValueError("AppOptions needs cert_file_name and key_file_name (PEM files) to serve TLS")
    for name in _TLS_FILES:
        path = getattr(options, name)
        if path is not None:
            _check_readable(name, path)
    t = _TlsOptions.__new__(_TlsOptions)
    t._keep = []
    t.c.key_file_name = t._str(options.key_file_name)
    t.c.cert_file_name = t._str(options.cert_file_name)
    t.c.passphrase = t._str(options.passphrase)
    t.c.dh_params_file_name = t._str(options.dh_params_file_name)
    t.c.ca_file_name = t._str(options.ca_file_name)
    t.c.ssl_ciphers = t._str(options.ssl_ciphers)
    t.c.ssl_prefer_low_memory_usage = 1 if options.ssl_prefer_low_memory_usage else 0
    return t


cdef str _tls_error(default):
    cdef bytes why = us_socket_context_ssl_error()
    return why.decode("utf-8", "replace") if why else default


cdef bytes _server_name_bytes(pattern):
    if not isinstance(pattern, str):
        raise TypeError("a server name pattern must be a str, not %s" % type(pattern).__name__)
    b = pattern.encode("idna") if not pattern.isascii() else pattern.encode("ascii")
    if b"\0" in b:
        raise ValueError("a server name pattern cannot contain NUL")
    return b


cdef void _on_server_name(void *user, const char *hostname) noexcept with gil:
    # Inside a handshake whose server name matched no pattern: the handler
    # may add it (app.add_server_name) and the handshake goes on with it.
    cdef App app = <App>(<binding_t *>user).app
    handler = app._missing_server_name
    if handler is None:
        return
    try:
        handler((<bytes>hostname).decode("ascii", "replace"))
    except BaseException as exc:
        try:
            app._log("the missing_server_name handler failed", exc)
        except BaseException:
            pass


cdef class _Domain:
    """Routes that answer only connections whose TLS server name matched the
    pattern (App.domain). Same methods as App's; each returns this object."""

    cdef router_t *_router(self) except NULL:
        return self._app._domain_router(self.pattern)

    cdef _Domain _add(self, method, path, handler):
        self._app._add_to(self._router(), method, path, handler)
        return self

    def get(self, path, handler):
        return self._add(b"GET", path, handler)

    def post(self, path, handler):
        return self._add(b"POST", path, handler)

    def put(self, path, handler):
        return self._add(b"PUT", path, handler)

    def delete(self, path, handler):
        return self._add(b"DELETE", path, handler)

    def patch(self, path, handler):
        return self._add(b"PATCH", path, handler)

    def options(self, path, handler):
        return self._add(b"OPTIONS", path, handler)

    def head(self, path, handler):
        return self._add(b"HEAD", path, handler)

    def connect(self, path, handler):
        return self._add(b"CONNECT", path, handler)

    def trace(self, path, handler):
        return self._add(b"TRACE", path, handler)

    def any(self, path, handler):
        return self._add(None, path, handler)

    def ws(self, path, behavior):
        return self._add(b"GET", path, self._app._ws_route(behavior))

    def __repr__(self):
        return "<domain %r>" % self.pattern
