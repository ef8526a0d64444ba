# App: routes, listen sockets and the bridge between the C engine and asyncio.
# The engine calls back into Python only through the three functions below
# (_on_request, _on_abort, _on_body); this is where a request becomes objects.

import asyncio as _asyncio
import inspect as _inspect
import signal as _signal
import sys as _sys
import traceback as _traceback

from socketify_cy._options import AppListenOptions, AppOptions
from socketify_cy._tasks import continue_coroutine as _continue_coroutine

import types as _types

cdef object _iscoroutine = _inspect.iscoroutine
cdef object _CoroutineType = _types.CoroutineType


cdef class _Route:
    # One registered handler; the router keeps a borrowed pointer to it and
    # App._routes keeps it alive.
    cdef object handler


cdef int _visit(void *handler, const router_match_t *match, void *user) noexcept:
    # Called by router_dispatch (GIL held) for each candidate, best first.
    cdef App app = <App>user
    cdef _Route route = <_Route>handler
    cdef Request req = app._cur_req
    cdef Response res = app._cur_res
    req._match = match
    req._params = None
    req._yield = False
    try:
        result = route.handler(res, req)
        if result is not None and (type(result) is _CoroutineType or _iscoroutine(result)):
            app._start_coroutine(result, res, req)
    except BaseException as exc:
        app._handle_error(exc, res, req)
        return 1
    # Yielding after answering would let another route write into a finished
    # response: the search stops instead.
    return 0 if req._yield and res._conn != NULL else 1


cdef void _enter(void *user) noexcept nogil:
    # Take the interpreter lock once for a batch of requests read together.
    (<binding_t *>user).gil_state = gil_ensure()


cdef void _leave(void *user) noexcept nogil:
    gil_release((<binding_t *>user).gil_state)


cdef int _on_request(void *user, http_conn_t *conn, http_request_t *creq) noexcept:
    # The engine calls this between _enter and _leave, so the GIL is held.
    cdef App app = <App>(<binding_t *>user).app
    cdef Response res = Response.__new__(Response)
    cdef Request req = Request.__new__(Request)
    cdef int handled
    cdef router_t *router = http_app_router(app._app)
    res._conn = conn
    res._app = app
    res._ip_len = http_conn_ip(conn, res._ip)
    res._proxied_len = http_conn_proxied_ip(conn, res._proxied_ip, &res._proxied_port)
    req._req = creq
    req._version_minor = creq.version_minor
    # The engine holds a reference while the response is pending.
    Py_INCREF(res)
    http_res_bind(conn, <void *>res)
    app._cur_req = req
    app._cur_res = res
    app._dispatching = True
    try:
        handled = router_dispatch(router, creq.method, creq.method_len, creq.target, creq.path_len,
                                  ROUTER_SKIP_ANY if creq.is_head else 0, _visit, <void *>app)
        if not handled and creq.is_head:
            # HEAD falls back to GET routes (the writer drops the body), then to any.
            handled = router_dispatch(router, b"GET", 3, creq.target, creq.path_len, ROUTER_SKIP_ANY,
                                      _visit, <void *>app)
            if not handled:
                handled = router_dispatch(router, creq.method, creq.method_len, creq.target,
                                          creq.path_len, ROUTER_SKIP_METHOD, _visit, <void *>app)
    finally:
        app._dispatching = False
        app._cur_req = None
        app._cur_res = None
        if not req._preserved:
            req._invalidate()
    if not handled:
        if res._conn != NULL:
            res._released()
        return 0
    if res._conn != NULL and Py_REFCNT(res) <= 2 and res._abort_handlers is None \
            and res._data_handler is None:
        # Only the engine and this frame know the response: nobody can ever
        # answer it. Answer for the handler instead of leaving the client hanging.
        app._handle_error(RuntimeError(
            "handler for %s returned without responding and kept no reference to the "
            "response" % req_description(creq)), res, None)
    return 1


cdef str req_description(http_request_t *creq):
    return "%s %s" % (_text(creq.method, creq.method_len), _text(creq.target, creq.path_len))


cdef void _on_abort(void *user, http_conn_t *conn, void *res_user) noexcept with gil:
    cdef App app = <App>(<binding_t *>user).app
    cdef Response res = <Response>res_user
    res._conn = NULL
    res.aborted = True
    handlers = res._abort_handlers
    res._abort_handlers = None
    Py_DECREF(res)  # the engine's reference
    if handlers:
        for handler in handlers:
            app._call_user(handler, res, None, (res,))


cdef void _on_body(void *user, http_conn_t *conn, void *res_user, const char *data, size_t length,
                   int is_last) noexcept with gil:
    cdef App app = <App>(<binding_t *>user).app
    cdef Response res = <Response>res_user
    handler = res._data_handler
    if handler is not None:
        app._call_user(handler, res, None, (res, PyBytes_FromStringAndSize(data, length), bool(is_last)))


cdef int _on_writable(void *user, http_conn_t *conn, void *res_user, uint64_t offset) noexcept with gil:
    # The socket took everything queued: the response's writable handler continues.
    cdef App app = <App>(<binding_t *>user).app
    cdef Response res = <Response>res_user
    handler = res._writable_handler
    if handler is None:
        return 1
    try:
        return 1 if handler(res, offset) else 0
    except BaseException as exc:
        app._handle_error(exc, res, None)
        return 1


cdef class App:
    """An HTTP server: routes, listen sockets, and the loop that drives them."""

    cdef http_app_t *_app
    cdef binding_t _binding
    cdef list _routes
    cdef object _error_handler
    cdef readonly object loop
    cdef bint _dispatching
    cdef Request _cur_req
    cdef Response _cur_res
    cdef object _json_serializer
    cdef list _start_hooks
    cdef list _shutdown_hooks
    cdef bint _reader_attached
    cdef bint _closed
    cdef int _fd
    cdef object __weakref__

    def __cinit__(self):
        cdef http_app_callbacks_t callbacks
        callbacks.enter = _enter
        callbacks.leave = _leave
        callbacks.on_request = _on_request
        callbacks.on_abort = _on_abort
        callbacks.on_body = _on_body
        callbacks.on_writable = _on_writable
        self._binding.app = <PyObject *>self
        self._app = http_app_create(0, &callbacks, <void *>&self._binding)
        if self._app == NULL:
            raise MemoryError("could not create the event loop")
        self._fd = us_loop_fd(http_app_loop(self._app))

    def __init__(self, options=None, request_response_factory_max_items=0, websocket_factory_max_items=0,
                 task_factory_max_items=100_000, lifespan=True, idle_relaxation_time=0.01,
                 max_body_size=0, max_head_size=8192, idle_timeout=10, max_backpressure=64 * 1024,
                 proxy_protocol=False):
        cdef http_app_limits_t limits
        if options is not None:
            raise NotImplementedError("TLS (AppOptions) is not supported yet")
        if not 0 <= max_body_size < 2 ** 63:
            raise ValueError("max_body_size must be >= 0 (0 = unlimited)")
        if not 1024 <= max_head_size <= 1024 * 1024:
            raise ValueError("max_head_size must be between 1024 and 1048576 bytes")
        if not 1 <= idle_timeout <= 3600:
            raise ValueError("idle_timeout must be between 1 and 3600 seconds")
        if not 1 <= max_backpressure < 2 ** 40:
            raise ValueError("max_backpressure must be at least 1 byte")
        limits.max_head_size = max_head_size
        limits.max_body_size = max_body_size
        limits.idle_timeout = idle_timeout
        limits.backpressure = max_backpressure
        limits.proxy_protocol = 1 if proxy_protocol else 0
        http_app_set_limits(self._app, &limits)
        self._routes = []
        self._start_hooks = []
        self._shutdown_hooks = []
        self._json_serializer = _json
        self.loop = None

    def __dealloc__(self):
        if self._app != NULL:
            http_app_free(self._app)
            self._app = NULL

    # ---- routes ----------------------------------------------------------------------

    cdef _add(self, method, path, handler):
        cdef _Route route
        cdef bytes m = method
        cdef bytes p
        if not callable(handler):
            raise TypeError("handler must be callable")
        p = path.encode("utf-8") if isinstance(path, str) else bytes(path)
        route = _Route.__new__(_Route)
        route.handler = handler
        if router_add(http_app_router(self._app), <const char *>m if m is not None else NULL,
                      len(m) if m is not None else 0, p, len(p), <void *>route) != 0:
            raise ValueError("invalid route pattern %r (it must start with '/'; '*' only last)" % path)
        self._routes.append(route)
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

    # ---- errors ------------------------------------------------------------------------

    def set_error_handler(self, handler):
        """handler(error, res, req) runs for exceptions raised by route handlers."""
        if handler is not None and not callable(handler):
            raise TypeError("error handler must be callable")
        self._error_handler = handler
        return self

    def on_error(self, handler):
        self.set_error_handler(handler)
        return handler

    cdef _handle_error(self, exc, Response res, req):
        handler = self._error_handler
        if handler is not None:
            try:
                result = handler(exc, res, req)
                if result is not None and _iscoroutine(result):
                    self._start_coroutine(result, res, None, True)
                return
            except BaseException as second:
                _log_exception("the error handler raised", second)
        else:
            _log_exception("a handler raised", exc)
        self._default_error(res)

    cdef _default_error(self, Response res):
        if res is None or res._conn == NULL:
            return
        if http_res_reset(res._conn) == 0:
            res.write_status(500)
            res.write_header(b"Content-Type", b"text/plain")
            res.end(b"Internal Server Error")
        else:
            # Part of the response is already on the wire: it cannot become a 500.
            res.close()

    cdef _call_user(self, handler, Response res, req, tuple args):
        # Calls from the engine (abort, body): errors must not escape into C.
        try:
            result = handler(*args)
            if result is not None and _iscoroutine(result):
                self._start_coroutine(result, res, req)
        except BaseException as exc:
            self._handle_error(exc, res, req)

    cdef _start_coroutine(self, coro, Response res, req, bint is_error_handler=False):
        # First step now (corked, with a valid Request); the rest as a Task.
        try:
            yielded = coro.send(None)
        except StopIteration:
            return None
        except BaseException as exc:
            if is_error_handler:
                _log_exception("the error handler raised", exc)
                self._default_error(res)
            else:
                self._handle_error(exc, res, req)
            return None
        return self._get_loop().create_task(self._finish_coroutine(coro, yielded, res, is_error_handler))

    async def _finish_coroutine(self, coro, yielded, Response res, bint is_error_handler):
        try:
            await _continue_coroutine(coro, yielded)
        except _asyncio.CancelledError:
            if res is not None and res._conn != NULL:
                res.close()
            raise
        except BaseException as exc:
            if is_error_handler:
                _log_exception("the error handler raised", exc)
                self._default_error(res)
            else:
                self._handle_error(exc, res, None)

    def run_async(self, coro, response=None):
        return self._start_coroutine(coro, response, None)

    # ---- JSON ------------------------------------------------------------------------------

    def json_serializer(self, serializer):
        self._json_serializer = serializer
        return self

    def _json_dumps(self, value):
        data = self._json_serializer.dumps(value)
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def _json_loads(self, text):
        return self._json_serializer.loads(text)

    # ---- lifecycle ----------------------------------------------------------------------

    def on_start(self, handler):
        self._start_hooks.append(handler)
        return handler

    def on_shutdown(self, handler):
        self._shutdown_hooks.append(handler)
        return handler

    cdef object _get_loop(self):
        if self.loop is None:
            try:
                self.loop = _asyncio.get_running_loop()
            except RuntimeError:
                self.loop = _asyncio.new_event_loop()
                _asyncio.set_event_loop(self.loop)
        return self.loop

    def _on_readable(self):
        # The epoll fd is readable: run one non-blocking pass of the engine.
        # Syscalls run without the GIL; handlers take it back when called.
        cdef http_app_t *app = self._app
        if app == NULL:
            return
        with nogil:
            us_loop_run_once(http_app_loop(app), 0)

    cdef _attach(self):
        loop = self._get_loop()
        if not self._reader_attached:
            loop.add_reader(self._fd, self._on_readable)
            self._reader_attached = True
            # Anything that became ready before we were attached.
            self._on_readable()

    def listen(self, port_or_options=None, handler=None):
        """Listen on a port (int), a dict or an AppListenOptions; handler(config) gets the real port."""
        cdef int port
        cdef int rc
        cdef int options
        cdef bytes host_b
        cdef bytes path_b
        if self._app == NULL:
            raise RuntimeError("the app was closed")
        config = _listen_options(port_or_options)
        options = config.options or 0
        if config.domain:
            path_b = config.domain.encode() if isinstance(config.domain, str) else bytes(config.domain)
            rc = http_app_listen_unix(self._app, path_b, options)
            if rc < 0:
                _raise_listen_error("unix socket %s" % config.domain, errno)
            result = AppListenOptions(domain=config.domain, options=options)
        else:
            host = config.host
            host_b = host.encode() if isinstance(host, str) else (bytes(host) if host else None)
            rc = http_app_listen(self._app, <const char *>host_b if host_b is not None else NULL,
                                 config.port, options)
            if rc < 0:
                _raise_listen_error("%s:%d" % (host or "*", config.port), errno)
            result = AppListenOptions(port=rc, host=host if host else "0.0.0.0", options=options)
        self._attach()
        if handler is not None:
            handler(result)
        return self

    def run(self):
        """Serve until close() or SIGINT/SIGTERM; then run the on_shutdown hooks."""
        loop = self._get_loop()
        self._attach()
        installed = []
        for sig in (_signal.SIGINT, _signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.close)
                installed.append(sig)
            except (RuntimeError, ValueError, NotImplementedError):
                pass
        try:
            for hook in self._start_hooks:
                result = hook()
                if _iscoroutine(result):
                    loop.run_until_complete(result)
            if not self._closed:
                loop.run_forever()
            for hook in self._shutdown_hooks:
                result = hook()
                if _iscoroutine(result):
                    loop.run_until_complete(result)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            self._shutdown()
        return self

    def close(self):
        """Stop accepting, let in-flight responses finish briefly, stop run()."""
        if self._closed or self._app == NULL:
            return self
        self._closed = True
        http_app_close_listeners(self._app)
        loop = self.loop
        if loop is not None and loop.is_running():
            loop.call_soon(self._drain_then_stop, 0)
        return self

    def _drain_then_stop(self, int attempts):
        # Bounded grace period: up to ~2 s for responses still being written.
        if self._app != NULL and http_app_num_connections(self._app) > 0 and attempts < 40 \
                and self._has_pending():
            self.loop.call_later(0.05, self._drain_then_stop, attempts + 1)
            return
        self.loop.stop()

    cdef bint _has_pending(self):
        for task in _asyncio.all_tasks(self.loop):
            if not task.done():
                return True
        return False

    cdef _shutdown(self):
        if self._app == NULL:
            return
        http_app_close_connections(self._app)
        self._on_readable()
        if self._reader_attached and self.loop is not None and not self.loop.is_closed():
            self.loop.remove_reader(self._fd)
            self._reader_attached = False

    def stats(self):
        """Engine counters: send syscalls made and open connections."""
        return {
            "send_syscalls": us_loop_send_syscalls(http_app_loop(self._app)),
            "connections": http_app_num_connections(self._app),
        }

    def __repr__(self):
        return "<App routes=%d>" % len(self._routes)


def _listen_options(value):
    if value is None:
        return AppListenOptions(port=0)
    if isinstance(value, AppListenOptions):
        if value.domain and (value.port or value.host):
            raise RuntimeError("AppListenOptions: domain (unix socket) excludes port and host")
        return value
    if isinstance(value, dict):
        return AppListenOptions(port=int(value.get("port", 0)), host=value.get("host"),
                                options=int(value.get("options", 0)), domain=value.get("domain"))
    if isinstance(value, int):
        return AppListenOptions(port=value)
    raise TypeError("listen() takes a port, a dict or an AppListenOptions, not %s" % type(value).__name__)


def _raise_listen_error(what, int code):
    import os as _os
    raise OSError(code, "failed to listen on %s: %s" % (what, _os.strerror(code) if code else "unknown error"))


def _log_exception(what, exc):
    print("socketify_cy: %s:" % what, file=_sys.stderr)
    _traceback.print_exception(type(exc), exc, exc.__traceback__, file=_sys.stderr)
