# Response: the writing side of one request. Bound to its connection while the
# response is pending; after end() or an abort every write is a no-op.

from urllib.parse import parse_qsl as _parse_qsl

cdef inline bytes _as_bytes(object data):
    if type(data) is bytes:
        return <bytes>data
    if isinstance(data, str):
        return (<str>data).encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    return None


cdef bytes _header_bytes(object value, str what):
    cdef bytes b
    if isinstance(value, str):
        b = (<str>value).encode("utf-8")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
    elif isinstance(value, int):
        b = str(value).encode("ascii")
    else:
        raise TypeError("header %s must be str, bytes or int, not %s" % (what, type(value).__name__))
    if b"\r" in b or b"\n" in b or b"\0" in b:
        raise ValueError("header %s must not contain CR, LF or NUL: %r" % (what, b))
    return b


cdef str _cookie_header(name, value, dict options):
    from urllib.parse import quote_plus
    from email.utils import format_datetime
    import datetime
    if not name or any(c in name for c in ' \t\r\n;,=\0'):
        raise ValueError("invalid cookie name: %r" % name)
    parts = ["%s=%s" % (name, quote_plus(str(value)))]
    for key, val in options.items():
        k = key.lower().replace("_", "-")
        if k in ("secure", "httponly"):
            if val:
                parts.append("Secure" if k == "secure" else "HttpOnly")
        elif k == "expires":
            if isinstance(val, datetime.datetime):
                if val.tzinfo is None:
                    val = val.replace(tzinfo=datetime.timezone.utc)
                val = format_datetime(val.astimezone(datetime.timezone.utc), usegmt=True)
            parts.append("Expires=%s" % val)
        elif k in ("path", "domain", "max-age", "samesite", "priority"):
            text = str(val)
            if any(c in text for c in ";\r\n\0"):
                raise ValueError("invalid cookie attribute %s: %r" % (key, text))
            name_out = {"path": "Path", "domain": "Domain", "max-age": "Max-Age",
                        "samesite": "SameSite", "priority": "Priority"}[k]
            parts.append("%s=%s" % (name_out, text))
        else:
            raise ValueError("unknown cookie attribute: %r" % key)
    return "; ".join(parts)


cdef int _raise_for(int rc, detail=None) except -1:
    # Engine results that mean the caller made a mistake.
    if rc == HTTP_RES_BAD_STATUS:
        raise ValueError("not a final HTTP status (200-599, 1xx are interim): %r" % (detail,))
    if rc == HTTP_RES_BAD_LENGTH:
        raise ValueError("the body does not match the response's Content-Length")
    if rc == HTTP_RES_BAD_FRAMING:
        raise ValueError("Content-Length must be digits and Transfer-Encoding 'chunked': %r" % (detail,))
    if rc == HTTP_RES_TOO_LATE:
        raise RuntimeError("the response head was already sent: status and headers can no longer change")
    raise RuntimeError("response error %d" % rc)


cdef inline bint _res_live(Response r) except -1:
    # True if the response can still be written. The engine may only be
    # touched from the loop thread: another thread gets a RuntimeError (one
    # comparison) instead of racing the engine, which runs without the GIL.
    if r._conn == NULL:
        return False
    if PyThread_get_thread_ident() != r._app._thread:
        raise RuntimeError(_WRONG_THREAD)
    return True


cdef inline object _end_body(Response res, bytes body, bint end_connection):
    # The one place a response is completed with a body (end, send). A plain
    # function so the C compiler can inline it into end().
    cdef const char *p = body
    cdef Py_ssize_t n = len(body)
    cdef int rc
    if res._app._dispatching:
        rc = http_res_end(res._conn, p, n, end_connection)
    else:
        # Outside a library callback this end() is the send syscall.
        with nogil:
            rc = http_res_end(res._conn, p, n, end_connection)
    res._finish(rc)
    return res


@cython.freelist(64)
cdef class Response:
    """The response of one request (socketify's AppResponse)."""

    def __cinit__(self):
        self._conn = NULL

    @property
    def app(self):
        return self._app

    @property
    def aborted(self):
        """True once the response can no longer be sent (client gone, timeout,
        close()). Settable, as in socketify; setting it does not close anything."""
        return self._aborted

    @aborted.setter
    def aborted(self, value):
        self._aborted = bool(value)

    cdef _released(self):
        # The engine no longer refers to us: drop the reference it held. This
        # is the only place that drops it, and it does so once.
        self._conn = NULL
        if self._engine_ref:
            self._engine_ref = False
            Py_DECREF(self)

    cdef int _finish(self, int rc) except -1:
        if rc == HTTP_RES_OK:
            self._responded = True
            self._released()
        elif rc != HTTP_RES_NOT_PENDING:
            _raise_for(rc)
        return 0

    cdef _run_abort_handlers(self):
        handlers = self._abort_handlers
        self._abort_handlers = None
        if handlers:
            for handler in handlers:
                self._app._call_user(handler, self, None, (self,))

    # ---- status and headers -------------------------------------------------------

    def write_status(self, status_or_status_text):
        """Set the status: an int (404) or a status text ("404 Not Found")."""
        cdef bytes b
        status = status_or_status_text
        if not _res_live(self):
            return self
        if isinstance(status, int):
            rc = http_res_write_status_code(self._conn, status)
        else:
            b = _header_bytes(status, "status")
            rc = http_res_write_status(self._conn, b, len(b))
        if rc != HTTP_RES_OK and rc != HTTP_RES_NOT_PENDING:
            _raise_for(rc, status)
        return self

    def write_header(self, key, value):
        """Add a response header. Names and values must not contain CR, LF or NUL."""
        cdef bytes k = _header_bytes(key, "name")
        cdef bytes v = _header_bytes(value, "value")
        if not k or b":" in k or b" " in k or b"\t" in k:
            raise ValueError("invalid header name: %r" % k)
        cdef int rc
        if _res_live(self):
            rc = http_res_write_header(self._conn, k, len(k), v, len(v))
            if rc != HTTP_RES_OK and rc != HTTP_RES_NOT_PENDING:
                _raise_for(rc, (k, v))
        return self

    def set_cookie(self, name, value, options=None):
        """Add a Set-Cookie header (one per cookie). options: path, domain,
        expires (datetime or text), max_age / max-age, secure, httponly, samesite."""
        self.write_header(b"Set-Cookie", _cookie_header(name, value, options or {}))
        return self

    # ---- body ----------------------------------------------------------------------------

    def end(self, message=b"", bint end_connection=False):
        """Send the response with this body (str, bytes, or JSON for anything else)."""
        cdef bytes body
        if not _res_live(self):
            return self
        if message is None:
            return self.end_without_body(end_connection)
        body = _as_bytes(message)
        if body is None:
            body = self._app._json_dumps(message)
            if not http_res_has_content_type(self._conn):
                http_res_write_header(self._conn, b"Content-Type", 12, b"application/json", 16)
        return _end_body(self, body, end_connection)

    def end_without_body(self, bint end_connection=False):
        """Finish with no body (Content-Length: 0, so keep-alive clients do not wait)."""
        cdef int rc
        if not _res_live(self):
            return self
        with nogil:
            rc = http_res_end_without_body(self._conn, end_connection)
        self._finish(rc)
        return self

    def write(self, message):
        """Stream a body piece (chunked, or raw under a Content-Length you set); end()
        finishes. Returns False once the output queued for a slow client passes
        App(max_backpressure=...): the bytes are kept, wait for on_writable."""
        cdef bytes body
        cdef int rc
        if not _res_live(self):
            return False
        body = _as_bytes(message)
        if body is None:
            body = self._app._json_dumps(message)
        cdef const char *p = body
        cdef Py_ssize_t n = len(body)
        with nogil:
            rc = http_res_write(self._conn, p, n)
        if rc == HTTP_RES_OK:
            return True
        if rc == HTTP_RES_BACKPRESSURE or rc == HTTP_RES_NOT_PENDING:
            return False
        _raise_for(rc)

    def send(self, message=b"", content_type=b"text/plain", status=b"200 OK", headers=None,
             bint end_connection=False):
        """One call for status, headers and body (socketify's send, with its bugs fixed)."""
        cdef bytes body
        if not _res_live(self):
            return self
        self.write_status(status)
        if headers is not None:
            items = headers.items() if isinstance(headers, dict) else headers
            for k, v in items:
                self.write_header(k, v)
        if message is None:
            body = b""
        else:
            body = _as_bytes(message)
            if body is None:
                # JSON: the content type is written here, once (end() would add a second).
                body = self._app._json_dumps(message)
                content_type = b"application/json"
        if content_type is not None:
            self.write_header(b"Content-Type", content_type)
        if not _res_live(self):
            return self
        return _end_body(self, body, end_connection)

    def redirect(self, location, status_code=302):
        self.write_status(status_code)
        self.write_header(b"Location", location)
        return self.end(b"")

    # ---- corking ---------------------------------------------------------------------------

    def cork(self, callback):
        """Run callback(res) corked: everything it writes leaves in one send."""
        cdef http_conn_t *conn = self._conn
        cdef int corked
        if not _res_live(self):
            return self
        corked = http_conn_cork(conn)
        try:
            callback(self)
        finally:
            if corked:
                with nogil:
                    http_conn_uncork(conn)
        return self

    def cork_end(self, message=b"", bint end_connection=False):
        return self.end(message, end_connection)

    def cork_send(self, message=b"", content_type=b"text/plain", status=b"200 OK", headers=None,
                  bint end_connection=False):
        return self.cork(lambda res: res.send(message, content_type, status, headers, end_connection))

    def render(self, *args, **kwargs):
        """End with app.template(...)'s render(*args, **kwargs) as text/html, corked."""
        template = self._app._template
        if template is None:
            raise RuntimeError("No registered templated engine: call app.template(engine) first")
        return self.cork(lambda res: res.write_header(b"Content-Type", b"text/html")
                         .end(template.render(*args, **kwargs)))

    # ---- state -------------------------------------------------------------------------------

    def has_responded(self):
        return self._responded

    def on_aborted(self, handler):
        """handler(res) runs once if the response can no longer be sent."""
        if self._aborted:
            self._app._call_user(handler, self, None, (self,))
            return self
        if self._abort_handlers is None:
            self._abort_handlers = []
        self._abort_handlers.append(handler)
        return self

    def on_data(self, handler):
        """handler(res, chunk: bytes, is_end: bool) receives the request body."""
        self._data_handler = handler
        if _res_live(self):
            if not http_conn_body_pending(self._conn):
                # No body (left): deliver the end right away, from inside this
                # call (as socketify does), so a handler that ends the response
                # in it has answered before on_data() returns.
                self._app._call_user(handler, self, None, (self, b"", True))
            else:
                http_res_want_body(self._conn)
        return self

    def get_data(self):
        """Future resolving to an io.BytesIO with the whole request body."""
        import io
        fut = self._app.loop.create_future()
        buf = io.BytesIO()
        if not _res_live(self):
            # Ended or aborted: the body was skipped or the client is gone, and
            # no callback will ever come (review 2.14: this used to hang).
            fut.set_result(buf)
            return fut

        def on_chunk(res, chunk, is_end):
            buf.write(chunk)
            if is_end and not fut.done():
                buf.seek(0)
                fut.set_result(buf)

        def on_abort(res):
            if not fut.done():
                buf.seek(0)
                fut.set_result(buf)

        self.on_aborted(on_abort)
        self.on_data(on_chunk)
        return fut

    async def get_text(self, encoding="utf-8"):
        data = await self.get_data()
        try:
            return data.getvalue().decode(encoding)
        except Exception:
            return None

    async def get_form_urlencoded(self, encoding="utf-8"):
        """The body as an application/x-www-form-urlencoded dict (a repeated
        name: last value wins; blank values dropped), or None if empty or invalid.
        Values are decoded once (socketify decodes twice)."""
        data = await self.get_data()
        try:
            pairs = _parse_qsl(data.getvalue().decode(encoding), encoding=encoding,
                               errors="strict")
        except Exception:
            return None
        return dict(pairs) if pairs else None

    async def get_json(self):
        data = await self.get_data()
        try:
            return self._app._json_loads(data.getvalue().decode("utf-8"))
        except Exception:
            return None

    def close(self):
        """Close the connection now; the response is aborted."""
        if _res_live(self):
            http_conn_close(self._conn)
        return self

    def get_write_offset(self):
        """Body bytes accepted so far (0 once the response is gone)."""
        return http_res_write_offset(self._conn) if _res_live(self) else 0

    def write_offset(self, offset):
        """Override the write offset (socketify's write_offset)."""
        if _res_live(self):
            http_res_set_write_offset(self._conn, offset)
        return self

    # ---- streaming at the client's pace ----------------------------------------------

    def try_end(self, message, total_size=0, bint end_connection=False):
        """Send what the socket takes now of a response of total_size bytes.
        Returns (ok, done): ok when all of message was accepted, done when the
        response is complete. On ok=False, wait for on_writable and resend
        message[accepted:] (get_write_offset() tells how far it got)."""
        cdef bytes body
        cdef const char *p
        cdef Py_ssize_t n
        cdef size_t accepted = 0
        cdef uint64_t total
        cdef int rc
        if not _res_live(self):
            return (False, True)
        body = _as_bytes(message)
        if body is None:
            return (False, True)
        if total_size < 0:
            raise ValueError("total_size must be >= 0")
        total = total_size
        p = body
        n = len(body)
        with nogil:
            rc = http_res_try_end(self._conn, p, n, total, end_connection, &accepted)
        if rc < 0:
            if rc == HTTP_RES_NOT_PENDING:
                return (False, True)
            _raise_for(rc)
        if rc & HTTP_TRY_DONE:
            self._writable_handler = None
            self._finish(HTTP_RES_OK)
        return (bool(rc & HTTP_TRY_OK), bool(rc & HTTP_TRY_DONE))

    def on_writable(self, handler):
        """handler(res, offset) -> bool runs when the socket has taken all queued
        output, while the response is pending."""
        self._writable_handler = handler
        if _res_live(self):
            http_res_on_writable(self._conn, 1 if handler is not None else 0)
        return self

    def trigger_writable_handler(self, offset):
        handler = self._writable_handler
        if handler is None:
            return False
        return handler(self, offset)

    def send_chunk(self, buffer, total_size):
        """Future resolving to (ok, done) once buffer is fully accepted as part of a
        response of total_size bytes (try_end + on_writable), or (False, True) on abort."""
        fut = _get_loop(self._app).create_future()
        data = _as_bytes(buffer)
        if data is None:
            data = self._app._json_dumps(buffer)
        view = memoryview(data)
        start = self.get_write_offset()

        def settle(result):
            if not fut.done():
                fut.set_result(result)

        def on_abort(res):
            settle((False, True))

        def on_writable(res, offset):
            ok, done = self.try_end(view[offset - start:], total_size)
            if ok or done:
                # This chunk is in: its hooks go, so a long stream of chunks
                # does not pile up abort handlers.
                self.on_writable(None)
                if self._abort_handlers is not None and on_abort in self._abort_handlers:
                    self._abort_handlers.remove(on_abort)
                settle((ok, done))
            return ok

        ok, done = self.try_end(view, total_size)
        if ok or done:
            settle((ok, done))
        else:
            self.on_aborted(on_abort)
            self.on_writable(on_writable)
        return fut

    def write_continue(self):
        """Send "100 Continue" (also sent for you when the handler first asks for the body)."""
        cdef int rc
        if _res_live(self):
            rc = http_res_write_continue(self._conn)
            if rc != HTTP_RES_OK and rc != HTTP_RES_NOT_PENDING:
                _raise_for(rc)
        return self

    def pause(self):
        """Stop reading this connection (and its timeout) until resume()."""
        if _res_live(self):
            http_res_pause(self._conn)
        return self

    def resume(self):
        if _res_live(self):
            http_res_resume(self._conn)
        return self

    def get_proxied_remote_address_bytes(self):
        """Client address from a PROXY protocol preamble (App(proxy_protocol=True)), else None."""
        if self._proxied_len == 0:
            return None
        return PyBytes_FromStringAndSize(<char *>self._proxied_ip, self._proxied_len)

    def get_proxied_remote_address(self):
        cdef char buf[64]
        cdef int n
        if self._proxied_len == 0:
            return None
        n = http_format_ip(self._proxied_ip, self._proxied_len, buf, sizeof(buf))
        return PyUnicode_DecodeASCII(buf, n, NULL)

    def get_native_handle(self):
        """The uSockets socket pointer as an int (0 once the response is gone)."""
        return <size_t>http_conn_socket(self._conn) if _res_live(self) else 0

    def get_remote_address_bytes(self):
        return PyBytes_FromStringAndSize(<char *>self._ip, self._ip_len)

    def get_remote_address(self):
        cdef char buf[64]
        cdef int n = http_format_ip(self._ip, self._ip_len, buf, sizeof(buf))
        return PyUnicode_DecodeASCII(buf, n, NULL)

    def upgrade(self, sec_web_socket_key, sec_web_socket_protocol, sec_web_socket_extensions, socket_context,
                user_data=None):
        """Answer 101 and make this connection a WebSocket of the route whose
        socket_context the upgrade handler received. True if it happened,
        False if the response was no longer pending (client gone, answered)."""
        return _ws_upgrade(self, sec_web_socket_key, sec_web_socket_protocol, sec_web_socket_extensions,
                           socket_context, user_data)

    def run_async(self, task):
        """Run a coroutine for this response; its exceptions go to the error handler."""
        return _run_coroutine(self._app, task, self, None, CORO_USER, None)

    # ---- socketify's callback plumbing, public by name --------------------------------

    def grab_aborted_handler(self):
        """No-op kept for socketify apps: here a handler may always return
        without answering while something holds the response."""
        return self

    def trigger_aborted(self):
        """Mark the response aborted and run its on_aborted handlers now (once),
        as the engine does when the client goes. The connection is not closed."""
        self._aborted = True
        self._run_abort_handlers()
        return self

    def trigger_data_handler(self, data, is_end):
        """Call the on_data handler with (res, data, is_end), as the engine does."""
        handler = self._data_handler
        if handler is not None:
            self._app._call_user(handler, self, None, (self, data, bool(is_end)))
        return self

    def __repr__(self):
        state = "aborted" if self._aborted else ("responded" if self._responded else "pending")
        return "<Response %s>" % state
