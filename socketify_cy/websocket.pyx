# WebSocket: the Python object of one upgraded connection, the app.ws()
# route that checks and performs the upgrade, and the engine's WebSocket
# callbacks (where a frame becomes a Python call). The protocol itself is in
# native/ws_server.c.

from socketify_cy.enums import CompressOptions as _CompressOptions
from socketify_cy.enums import OpCode as _OpCode
from socketify_cy.enums import SendStatus as _SendStatus

cdef tuple _OPCODES = tuple(_OpCode(i) if i in (0, 1, 2, 8, 9, 10) else None for i in range(11))
cdef tuple _SEND_STATUS = (_SendStatus.BACKPRESSURE, _SendStatus.SUCCESS, _SendStatus.DROPPED)

cdef frozenset _WS_HANDLERS = frozenset(("upgrade", "open", "message", "drain", "dropped", "ping", "pong",
                                         "close", "subscription"))
cdef dict _WS_DEFAULTS = {
    "compression": 0,
    "max_payload_length": 16 * 1024,
    "idle_timeout": 120,
    "max_backpressure": 64 * 1024,
    "close_on_backpressure_limit": False,
    "reset_idle_timeout_on_send": False,
    "send_pings_automatically": True,
    "max_lifetime": 0,
}


cdef bytes _ws_payload(App app, object message):
    # What send/publish accept: str (UTF-8), bytes-like, None (empty), else JSON.
    if message is None:
        return b""
    cdef bytes b = _as_bytes(message)
    if b is None:
        b = _as_bytes(app._json_dumps(message))
    return b


cdef bytes _topic_bytes(object topic):
    if isinstance(topic, str):
        return (<str>topic).encode("utf-8")
    if isinstance(topic, (bytes, bytearray, memoryview)):
        return bytes(topic)
    raise TypeError("topic must be str or bytes, not %s" % type(topic).__name__)


cdef int _opcode_of(object opcode, bint allow_control) except -1:
    cdef int op = int(opcode)
    if op in (1, 2) or (allow_control and op in (9, 10)):
        return op
    raise ValueError("opcode must be OpCode.TEXT or OpCode.BINARY%s, not %r"
                     % (", PING or PONG" if allow_control else "", opcode))


cdef ws_settings_t _ws_settings(dict behavior) except *:
    cdef ws_settings_t s
    cdef const char *why = NULL
    values = dict(_WS_DEFAULTS)
    for key, value in behavior.items():
        if key in _WS_DEFAULTS:
            if value is None:
                continue
            if type(value) is bool and key not in ("close_on_backpressure_limit", "reset_idle_timeout_on_send",
                                                   "send_pings_automatically"):
                raise TypeError("ws behavior %r must be an int, not bool" % key)
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise TypeError("ws behavior %r must be an int, not %s" % (key, type(value).__name__)) from None
            if value < 0:
                raise ValueError("ws behavior %r must be >= 0, not %d" % (key, value))
            values[key] = value
        elif key in _WS_HANDLERS:
            if value is not None and not callable(value):
                raise TypeError("ws behavior %r must be callable" % key)
        else:
            raise ValueError("unknown ws behavior key %r (known: %s)"
                             % (key, ", ".join(sorted(set(_WS_DEFAULTS) | _WS_HANDLERS))))
    if values["compression"] > 0xFFFF:
        raise ValueError("compression must be a CompressOptions value (or several or-ed together), not %r"
                         % values["compression"])
    if values["idle_timeout"] > 24 * 3600:
        raise ValueError("idle_timeout must be at most 86400 seconds")
    if values["max_payload_length"] >= 2 ** 63 or values["max_backpressure"] >= 2 ** 62:
        raise ValueError("max_payload_length / max_backpressure too large")
    s.compression = values["compression"]
    s.max_payload_length = values["max_payload_length"]
    s.idle_timeout = values["idle_timeout"]
    s.max_backpressure = values["max_backpressure"]
    s.close_on_backpressure_limit = 1 if values["close_on_backpressure_limit"] else 0
    s.reset_idle_timeout_on_send = 1 if values["reset_idle_timeout_on_send"] else 0
    s.send_pings_automatically = 1 if values["send_pings_automatically"] else 0
    s.max_lifetime = values["max_lifetime"]
    if not ws_settings_valid(&s, &why):
        raise ValueError("invalid ws behavior: %s" % (<bytes>why).decode())
    return s


cdef bint _has_token(str value, const char *token):
    if value is None:
        return False
    cdef bytes b = value.encode("utf-8", "surrogateescape")
    return ws_list_has_token(b, len(b), token) != 0


cdef class _WsRoute:
    """The socket context of one app.ws() route (what upgrade handlers get as
    `socket_context`, to pass to res.upgrade)."""

    def __call__(self, Response res, Request req):
        # The GET handler of the route: refuse what is not a WebSocket
        # handshake (the connection stays HTTP), else upgrade.
        key = req.get_header("sec-websocket-key")
        version = req.get_header("sec-websocket-version")
        if req._version_minor < 1 or not _has_token(req.get_header("upgrade"), b"websocket") \
                or not _has_token(req.get_header("connection"), b"upgrade"):
            res.write_status(400).write_header("Content-Type", "text/plain")
            res.end("Bad Request: not a WebSocket handshake")
            return None
        if version is None or version.strip() != "13":
            res.write_status(426).write_header("Sec-WebSocket-Version", "13")
            res.write_header("Content-Type", "text/plain")
            res.end("Upgrade Required: Sec-WebSocket-Version 13")
            return None
        kb = key.encode("latin-1", "replace") if key is not None else b""
        if not ws_key_valid(kb, len(kb)):
            res.write_status(400).write_header("Content-Type", "text/plain")
            res.end("Bad Request: invalid Sec-WebSocket-Key")
            return None
        if self.upgrade is not None:
            return self.upgrade(res, req, self)
        res.upgrade(key, req.get_header("sec-websocket-protocol"), req.get_header("sec-websocket-extensions"),
                    self)
        return None

    def __repr__(self):
        return "<socketify_cy ws route>"


cdef _ws_upgrade(Response res, key, protocol, extensions, socket_context, user_data):
    # Response.upgrade: answer 101 and hand the connection to the WebSocket engine.
    cdef _WsRoute route
    cdef WebSocket ws
    cdef bytes k, p, e
    cdef int rc
    if not isinstance(socket_context, _WsRoute):
        raise TypeError("socket_context must be the context the upgrade handler received")
    route = <_WsRoute>socket_context
    if not _res_live(res):
        return False
    k = _header_bytes(key if key is not None else b"", "Sec-WebSocket-Key")
    p = _header_bytes(protocol, "Sec-WebSocket-Protocol") if protocol else b""
    e = _header_bytes(extensions, "Sec-WebSocket-Extensions") if extensions else b""
    cls = res._app._websocket_class
    ws = WebSocket.__new__(WebSocket) if cls is None else cls.__new__(cls)
    ws._app = res._app
    ws._route = route
    ws._user_data = user_data
    ws._remote = PyBytes_FromStringAndSize(<char *>res._ip, res._ip_len)
    # The engine holds a reference from here until on_close.
    Py_INCREF(ws)
    rc = ws_upgrade(route._route, res._conn, k, len(k), p, len(p), e, len(e), <void *>ws)
    if rc != WS_UPGRADE_OK:
        Py_DECREF(ws)
        if rc == WS_UPGRADE_BAD_KEY:
            raise ValueError("invalid Sec-WebSocket-Key %r" % key)
        if rc == WS_UPGRADE_NOMEM:
            raise MemoryError("out of memory upgrading to WebSocket")
        return False
    res._responded = True
    res._released()
    return True


cdef inline bint _ws_live(WebSocket ws) except -1:
    # True while the connection is open. Like responses, WebSockets may only
    # be touched from the loop's thread: another thread gets a RuntimeError.
    if ws._ws == NULL:
        return False
    if PyThread_get_thread_ident() != ws._app._thread:
        raise RuntimeError(_WRONG_THREAD)
    return True


cdef class WebSocket:
    """One WebSocket connection, from the open handler to the close handler.
    After close: sends return SendStatus.DROPPED, subscribe/unsubscribe return
    False, end()/close() do nothing; get_user_data() and the address still work."""

    def __init__(self, *args, **kwargs):
        raise TypeError("WebSocket objects are made by the server (app.ws routes)")

    cdef int _send(self, message, int opcode, bint compress, bint fin) except -2:
        cdef bytes data
        cdef int rc
        if not _ws_live(self):
            return WS_SEND_DROPPED
        data = _ws_payload(self._app, message)
        rc = ws_send(self._ws, data, len(data), opcode, compress, fin)
        return WS_SEND_DROPPED if rc == WS_SEND_CLOSED else rc

    def send(self, message, opcode=_OpCode.BINARY, compress=False, fin=True):
        """Send one message (or, with fin=False, the first fragment); returns a SendStatus."""
        return _SEND_STATUS[self._send(message, _opcode_of(opcode, True), compress, fin)]

    def send_first_fragment(self, message, opcode=_OpCode.BINARY, compress=False):
        return _SEND_STATUS[self._send(message, _opcode_of(opcode, False), False, False)]

    def send_fragment(self, message, compress=False):
        return _SEND_STATUS[self._send(message, 0, False, False)]

    def send_last_fragment(self, message, compress=False):
        return _SEND_STATUS[self._send(message, 0, False, True)]

    def cork(self, callback):
        """Run callback(ws) with this socket corked: what it sends leaves in one write."""
        cdef int corked = ws_cork(self._ws) if _ws_live(self) else 0
        try:
            callback(self)
        finally:
            if corked and self._ws != NULL:
                ws_uncork(self._ws)
        return self

    def cork_send(self, message, opcode=_OpCode.BINARY, compress=False, fin=True):
        cdef int corked = ws_cork(self._ws) if _ws_live(self) else 0
        try:
            self._send(message, _opcode_of(opcode, True), compress, fin)
        finally:
            if corked and self._ws != NULL:
                ws_uncork(self._ws)
        return self

    def end(self, code=1000, message=None):
        """Close handshake with code and reason; the close handler runs now."""
        cdef bytes reason
        if not _ws_live(self):
            return None
        reason = _ws_payload(self._app, message)
        code = int(code)
        if code != 0 and not (1000 <= code <= 4999):
            raise ValueError("close code must be 0 or 1000-4999, not %d" % code)
        ws_end(self._ws, code, reason, len(reason))
        return None

    def cork_end(self, code=1000, message=None):
        return self.end(code, message)

    def close(self):
        """Close the connection at once, without a close frame (close handler: 1006)."""
        if _ws_live(self):
            ws_close(self._ws)
        return None

    def subscribe(self, topic):
        cdef bytes t = _topic_bytes(topic)
        return _ws_live(self) and ws_subscribe(self._ws, t, len(t)) >= 0

    def unsubscribe(self, topic):
        cdef bytes t = _topic_bytes(topic)
        return _ws_live(self) and ws_unsubscribe(self._ws, t, len(t)) == 1

    def is_subscribed(self, topic):
        cdef bytes t = _topic_bytes(topic)
        return _ws_live(self) and ws_is_subscribed(self._ws, t, len(t)) == 1

    def get_topics(self):
        cdef size_t i, n, length
        cdef const char *t
        topics = []
        if not _ws_live(self):
            return topics
        n = ws_topic_count(self._ws)
        for i in range(n):
            t = ws_topic(self._ws, i, &length)
            topics.append(PyUnicode_DecodeUTF8(t, length, "surrogateescape"))
        return topics

    def for_each_topic(self, handler):
        for topic in self.get_topics():
            handler(topic)

    def publish(self, topic, message, opcode=_OpCode.BINARY, compress=False):
        """Publish to every subscriber of topic except this socket."""
        return self._app._publish(topic, message, opcode, compress, self)

    def get_buffered_amount(self):
        return ws_buffered(self._ws) if _ws_live(self) else 0

    def get_user_data(self):
        return self._user_data

    def get_user_data_uuid(self):
        return id(self)

    def get_remote_address_bytes(self):
        return self._remote

    def get_remote_address(self):
        cdef char buf[64]
        cdef bytes ip = self._remote
        cdef int n = http_format_ip(<const uint8_t *><char *>ip, len(ip), buf, sizeof(buf))
        return PyUnicode_DecodeASCII(buf, n, NULL)

    def get_extensions(self):
        """The negotiated Sec-WebSocket-Extensions value ('' when none)."""
        if self._ws == NULL:
            return ""
        return (<bytes>ws_extensions(self._ws)).decode("latin-1")

    def get_native_handle(self):
        return <uintptr_t>self._ws

    def clone(self):
        return self

    @property
    def closed(self):
        return self._ws == NULL

    def __repr__(self):
        return "<WebSocket %s%s>" % (self.get_remote_address(), " closed" if self._ws == NULL else "")


# ---- engine callbacks (GIL held: inside the engine's enter bracket) -----------------------

cdef inline void _ws_call(App app, handler, tuple args) noexcept:
    # Each callback runs in its own context copied from the App's base; a
    # coroutine it returns runs as a Task in that context; errors go to the
    # app's error handler (with no response) and never reach the engine.
    ctx = PyContext_Copy(app._base_ctx)
    PyContext_Enter(ctx)
    try:
        result = handler(*args)
        if result is not None and (type(result) is _CoroutineType or _iscoroutine(result)):
            task = _get_loop(app).create_task(result)
            app._tasks.add(task)
            task.add_done_callback(app._ws_task_done)
    except BaseException as exc:
        try:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                _get_loop(app).call_soon(_reraise, exc)
            else:
                app._handle_error(exc, None, None)
        except BaseException:
            pass
    finally:
        PyContext_Exit(ctx)


cdef void _ws_on_open(void *user, ws_conn_t *conn, void *conn_user) noexcept:
    cdef WebSocket ws = <WebSocket>conn_user
    ws._ws = conn
    handler = ws._route.open
    if handler is not None:
        _ws_call(ws._app, handler, (ws,))


cdef void _ws_on_message(void *user, ws_conn_t *conn, void *conn_user, const char *data, size_t length,
                         int opcode) noexcept:
    cdef WebSocket ws = <WebSocket>conn_user
    handler = ws._route.message
    if handler is None:
        return
    try:
        if opcode == 1:
            message = PyUnicode_DecodeUTF8(data, length, NULL)  # checked by the engine
        else:
            message = PyBytes_FromStringAndSize(data, length)
    except BaseException as exc:
        ws._app._handle_error(exc, None, None)
        return
    _ws_call(ws._app, handler, (ws, message, _OPCODES[opcode]))


cdef void _ws_on_ping(void *user, ws_conn_t *conn, void *conn_user, const char *data, size_t length) noexcept:
    cdef WebSocket ws = <WebSocket>conn_user
    if ws._route.ping is not None:
        _ws_call(ws._app, ws._route.ping, (ws, PyBytes_FromStringAndSize(data, length)))


cdef void _ws_on_pong(void *user, ws_conn_t *conn, void *conn_user, const char *data, size_t length) noexcept:
    cdef WebSocket ws = <WebSocket>conn_user
    if ws._route.pong is not None:
        _ws_call(ws._app, ws._route.pong, (ws, PyBytes_FromStringAndSize(data, length)))


cdef void _ws_on_drain(void *user, ws_conn_t *conn, void *conn_user) noexcept:
    cdef WebSocket ws = <WebSocket>conn_user
    if ws._route.drain is not None:
        _ws_call(ws._app, ws._route.drain, (ws,))


cdef void _ws_on_dropped(void *user, ws_conn_t *conn, void *conn_user, const char *data, size_t length,
                         int opcode) noexcept:
    cdef WebSocket ws = <WebSocket>conn_user
    if ws._route.dropped is not None:
        _ws_call(ws._app, ws._route.dropped,
                 (ws, PyBytes_FromStringAndSize(data, length), _OPCODES[opcode] if 0 <= opcode <= 10 else opcode))


cdef void _ws_on_subscription(void *user, ws_conn_t *conn, void *conn_user, const char *topic, size_t length,
                              long new_count, long old_count) noexcept:
    if conn_user == NULL:
        return
    cdef WebSocket ws = <WebSocket>conn_user
    if ws._route.subscription is not None:
        _ws_call(ws._app, ws._route.subscription,
                 (ws, PyUnicode_DecodeUTF8(topic, length, "surrogateescape"), new_count, old_count))


cdef void _ws_on_close(void *user, ws_conn_t *conn, void *conn_user, int code, const char *reason,
                       size_t length) noexcept:
    cdef WebSocket ws = <WebSocket>conn_user
    ws._ws = NULL
    try:
        if conn != NULL and ws._route.close is not None:
            _ws_call(ws._app, ws._route.close, (ws, code, PyBytes_FromStringAndSize(reason, length)))
    except BaseException:
        pass  # only the bytes object could fail (out of memory)
    # The engine's reference (taken at upgrade).
    Py_DECREF(ws)
