# App: the public API (routes, listen, run/close, hooks, error handler,
# extensions, templates). The engine callbacks are in _dispatch.pyx, the
# asyncio integration and shutdown in _loop.pyx, the coroutine driver in
# _coro.pyx.

import asyncio as _asyncio
import contextvars as _contextvars
import inspect as _inspect
import json as _json

from socketify_cy._extension import AppExtension as _AppExtension
from socketify_cy._options import AppListenOptions, AppOptions


cdef void _enter(void *user) noexcept nogil:
    # Take the interpreter lock once for a batch of requests read together.
    (<binding_t *>user).gil_state = gil_ensure()


cdef void _leave(void *user) noexcept nogil:
    gil_release((<binding_t *>user).gil_state)


cdef void _need_flush(void *user) noexcept with gil:
    # Writes made outside the loop's passes (after an await) are held per
    # socket; one loop callback sends them all, one syscall per socket,
    # before asyncio next waits for I/O.
    cdef App app = <App>(<binding_t *>user).app
    if app._flush_scheduled:
        return
    try:
        _get_loop(app).call_soon(app._flush_cb)
        app._flush_scheduled = True
    except BaseException:
        # No loop to schedule on: send now rather than hold the bytes.
        http_app_flush(app._app)


cdef ws_callbacks_t _WS_CALLBACKS
_WS_CALLBACKS.on_open = _ws_on_open
_WS_CALLBACKS.on_message = _ws_on_message
_WS_CALLBACKS.on_ping = _ws_on_ping
_WS_CALLBACKS.on_pong = _ws_on_pong
_WS_CALLBACKS.on_drain = _ws_on_drain
_WS_CALLBACKS.on_dropped = _ws_on_dropped
_WS_CALLBACKS.on_subscription = _ws_on_subscription
_WS_CALLBACKS.on_close = _ws_on_close


cdef class App:
    """An HTTP and WebSocket server: routes, listen sockets, and the loop that drives them."""

    def __cinit__(self, options=None, *args, **kwargs):
        cdef http_app_callbacks_t callbacks
        cdef _TlsOptions tls = None
        callbacks.enter = _enter
        callbacks.leave = _leave
        callbacks.on_request = _on_request
        callbacks.on_abort = _on_abort
        callbacks.on_body = _on_body
        callbacks.on_writable = _on_writable
        callbacks.need_flush = _need_flush
        self._binding.app = <PyObject *>self
        self._domains = {}
        self._domain_routers = {}
        if options is not None:
            # Every file is checked and loaded here: a bad certificate fails
            # App(), never a handshake later.
            tls = _tls_options(options)
            self._app = http_app_create(&tls.c, &callbacks, <void *>&self._binding)
            if self._app == NULL:
                raise RuntimeError(_tls_error("could not create the TLS context"))
            self._ssl = True
            http_app_on_server_name(self._app, _on_server_name)
        else:
            self._app = http_app_create(NULL, &callbacks, <void *>&self._binding)
        if self._app == NULL:
            raise MemoryError("could not create the event loop")
        self._fd = us_loop_fd(http_app_loop(self._app))

    def __init__(self, options=None, request_response_factory_max_items=0, websocket_factory_max_items=0,
                 task_factory_max_items=100_000, lifespan=True, idle_relaxation_time=0.01,
                 max_body_size=0, max_head_size=8192, idle_timeout=10, max_backpressure=64 * 1024,
                 proxy_protocol=False, shutdown_timeout=10.0, error_log_limit=10,
                 error_log_window=60.0):
        cdef http_app_limits_t limits
        if error_log_limit is not None and error_log_limit < 0:
            raise ValueError("error_log_limit must be >= 0 or None")
        if not 0 <= max_body_size < 2 ** 63:
            raise ValueError("max_body_size must be >= 0 (0 = unlimited)")
        if not 1024 <= max_head_size <= 1024 * 1024:
            raise ValueError("max_head_size must be between 1024 and 1048576 bytes")
        if not 1 <= idle_timeout <= 3600:
            raise ValueError("idle_timeout must be between 1 and 3600 seconds")
        if not 1 <= max_backpressure < 2 ** 40:
            raise ValueError("max_backpressure must be at least 1 byte")
        if not shutdown_timeout >= 0:
            raise ValueError("shutdown_timeout must be >= 0 seconds")
        limits.max_head_size = max_head_size
        limits.max_body_size = max_body_size
        limits.idle_timeout = idle_timeout
        limits.backpressure = max_backpressure
        limits.proxy_protocol = 1 if proxy_protocol else 0
        http_app_set_limits(self._app, &limits)
        self._routes = []
        self._json_serializer = _json
        self._lifespan = bool(lifespan)
        self._shutdown_timeout = float(shutdown_timeout)
        self._errors = _ErrorLog(error_log_limit, float(error_log_window))
        self._tasks = set()
        self._ready = []
        self._resume_ready_cb = self._resume_ready
        self._flush_cb = self._flush
        # Every request's context is a copy of this one, taken once: what one
        # request sets is never seen by another.
        self._base_ctx = _contextvars.copy_context()
        self.loop = None

    def __dealloc__(self):
        if self._ws_app != NULL:
            ws_app_free(self._ws_app)
            self._ws_app = NULL
        if self._app != NULL:
            http_app_free(self._app)
            self._app = NULL
        # Domain routers outlive every connection that could use them.
        if self._domain_routers:
            for address in self._domain_routers.values():
                router_free(<router_t *><uintptr_t>address)
            self._domain_routers.clear()

    # ---- routes ----------------------------------------------------------------------

    cdef _add(self, method, path, handler):
        if self._app == NULL:
            raise RuntimeError("the app was disposed")
        return self._add_to(http_app_router(self._app), method, path, handler)

    cdef _add_to(self, router_t *router, method, path, handler):
        cdef _Route route
        cdef bytes m = method
        cdef bytes p
        if self._app == NULL:
            raise RuntimeError("the app was disposed")
        if not callable(handler):
            raise TypeError("handler must be callable")
        p = path.encode("utf-8") if isinstance(path, str) else bytes(path)
        route = _Route.__new__(_Route)
        route.handler = handler
        if router_add(router, <const char *>m if m is not None else NULL,
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

    # ---- WebSockets and pub/sub -------------------------------------------------------

    def ws(self, path, behavior):
        """WebSocket route: GET `path` upgrades with `behavior` (a dict of
        settings and handlers; see socketify's app.ws). Bad settings raise here."""
        self._add(b"GET", path, self._ws_route(behavior))
        return self

    cdef _WsRoute _ws_route(self, behavior):
        cdef ws_settings_t settings
        cdef _WsRoute route
        if self._app == NULL:
            raise RuntimeError("the app was disposed")
        if not isinstance(behavior, dict):
            raise TypeError("ws behavior must be a dict, not %s" % type(behavior).__name__)
        settings = _ws_settings(behavior)
        if self._ws_app == NULL:
            self._ws_app = ws_app_create(self._app, &_WS_CALLBACKS, <void *>&self._binding)
            if self._ws_app == NULL:
                raise MemoryError("could not set up WebSockets")
            self._ws_routes = []
        route = _WsRoute.__new__(_WsRoute)
        route._app = self
        route.upgrade = behavior.get("upgrade")
        route.open = behavior.get("open")
        route.message = behavior.get("message")
        route.drain = behavior.get("drain")
        route.dropped = behavior.get("dropped")
        route.ping = behavior.get("ping")
        route.pong = behavior.get("pong")
        route.close = behavior.get("close")
        route.subscription = behavior.get("subscription")
        route._route = ws_route_add(self._ws_app, &settings)
        if route._route == NULL:
            raise MemoryError("could not add the WebSocket route")
        self._ws_routes.append(route)
        return route

    # ---- TLS server names (SNI) and per-domain routes ------------------------------------

    @property
    def is_ssl(self):
        """True for an app made with AppOptions (it serves TLS)."""
        return self._ssl

    cdef _require_tls(self, what):
        if self._app == NULL:
            raise RuntimeError("the app was disposed")
        if not self._ssl:
            raise RuntimeError("%s needs a TLS app: App(options=AppOptions(...))" % what)

    def add_server_name(self, hostname_pattern, options=None):
        """Serve hostname_pattern ("a.test", "*.example.test": '*' is one label)
        with the certificate in options (None: the app's own). Bad files raise here."""
        cdef _TlsOptions tls = None
        cdef bytes name
        cdef int rc
        self._require_tls("add_server_name")
        name = _server_name_bytes(hostname_pattern)
        if options is not None:
            tls = _tls_options(options)
        address = self._domain_routers.get(hostname_pattern)
        rc = http_app_add_server_name(self._app, name, &tls.c if tls is not None else NULL,
                                      <router_t *><uintptr_t>address if address is not None else NULL)
        if rc < 0:
            raise (ValueError if tls is None else RuntimeError)(_tls_error("could not add %r" % hostname_pattern))
        return self

    def remove_server_name(self, hostname_pattern):
        """Stop serving hostname_pattern's certificate and domain routes (new handshakes)."""
        self._require_tls("remove_server_name")
        http_app_remove_server_name(self._app, _server_name_bytes(hostname_pattern))
        return self

    def missing_server_name(self, handler):
        """handler(hostname) runs during a handshake whose server name matches
        no pattern; it may call add_server_name and the handshake uses it."""
        if handler is not None and not callable(handler):
            raise TypeError("handler must be callable")
        self._missing_server_name = handler

    def domain(self, hostname_pattern):
        """Routes for one server name: app.domain("api.example.test").get(...).
        Its connections use these routes only; others use the app's."""
        cdef _Domain d
        self._require_tls("domain()")
        d = self._domains.get(hostname_pattern)
        if d is None:
            self._domain_router(hostname_pattern)
            d = _Domain.__new__(_Domain)
            d._app = self
            d.pattern = hostname_pattern
            self._domains[hostname_pattern] = d
        return d

    cdef router_t *_domain_router(self, str pattern) except NULL:
        # The pattern's router, made (and the name added with the app's own
        # certificate, if it is new) on first use, re-attached if it was removed.
        cdef router_t *router
        cdef bytes name = _server_name_bytes(pattern)
        self._require_tls("domain()")
        address = self._domain_routers.get(pattern)
        if address is None:
            router = router_create()
            if router == NULL:
                raise MemoryError()
            self._domain_routers[pattern] = <uintptr_t>router
        else:
            router = <router_t *><uintptr_t>address
        if http_app_server_name_router(self._app, name) != router:
            if http_app_add_server_name(self._app, name, NULL, router) < 0:
                raise ValueError(_tls_error("could not add %r" % pattern))
        return router

    cdef object _publish(self, topic, message, opcode, compress, WebSocket sender):
        cdef bytes t = _topic_bytes(topic)
        cdef bytes data
        cdef int op = _opcode_of(opcode, False)
        if self._ws_app == NULL:
            return False
        if PyThread_get_thread_ident() != self._thread and self._thread != 0:
            raise RuntimeError(_WRONG_THREAD)
        data = _ws_payload(self, message)
        if sender is not None and sender._ws == NULL:
            return False
        return ws_publish(self._ws_app, sender._ws if sender is not None else NULL, t, len(t), data, len(data),
                          op, 1 if compress else 0) > 0

    def publish(self, topic, message, opcode=_OpCode.BINARY, compress=False):
        """Send message to every WebSocket subscribed to topic (delivered before
        the loop next waits, in publish order). True if anyone was subscribed."""
        return self._publish(topic, message, opcode, compress, None)

    def num_subscribers(self, topic):
        cdef bytes t = _topic_bytes(topic)
        return ws_num_subscribers(self._ws_app, t, len(t)) if self._ws_app != NULL else 0

    def _flush(self):
        self._flush_scheduled = False
        if self._app != NULL:
            with nogil:
                http_app_flush(self._app)

    def _ws_task_done(self, task):
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._handle_error(task.exception(), None, None)

    def set_error_handler(self, handler):
        """handler(error, res, req) runs for exceptions raised by route handlers
        (req is None after an await) and by lifespan hooks (res and req None)."""
        if handler is not None and not callable(handler):
            raise TypeError("error handler must be callable")
        self._error_handler = handler
        return self

    def on_error(self, handler):
        self.set_error_handler(handler)
        return handler

    @property
    def error_handler(self):
        return self._error_handler

    def trigger_error(self, error, response, request):
        """Run the error policy for `error` as if a handler had raised it."""
        self._handle_error(error, response, request)

    cdef _log(self, str what, exc):
        self._errors.report(self, what, exc)

    cdef _handle_error(self, exc, Response res, req):
        handler = self._error_handler
        if handler is not None:
            try:
                result = handler(exc, res, req)
                if result is not None and _inspect.iscoroutine(result):
                    _run_coroutine(self, result, res, None, CORO_ERROR_HANDLER, None)
                return
            except Exception as second:
                self._log("the error handler raised", second)
        else:
            self._log("a handler raised", exc)
        self._default_error(res)

    cdef _default_error(self, Response res):
        if res is None or not _res_live(res):
            return
        if http_res_reset(res._conn) == 0:
            res.write_status(500)
            res.write_header(b"Content-Type", b"text/plain")
            res.end(b"Internal Server Error")
        else:
            # Part of the response is already on the wire: it cannot become a 500.
            res.close()

    cdef _call_user(self, handler, Response res, req, tuple args):
        # Calls from the engine (abort, body): errors go to the error policy.
        try:
            result = handler(*args)
            if result is not None and _inspect.iscoroutine(result):
                _run_coroutine(self, result, res, req, CORO_USER, None)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self._handle_error(exc, res, req)

    def _resume_ready(self):
        _resume_ready(self)

    def run_async(self, task, response=None):
        """Run a coroutine now (first step) and the rest as a Task (returned, or None if
        it finished at once); its exceptions go to the error handler with `response`."""
        return _run_coroutine(self, task, response, None, CORO_USER, None)

    # ---- JSON, templates, extensions ---------------------------------------------------

    def json_serializer(self, json_serializer):
        """Module (or object) with dumps/loads used for non-str/bytes bodies and get_json()."""
        self._json_serializer = json_serializer
        return self

    def _json_dumps(self, value):
        data = self._json_serializer.dumps(value)
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)

    def _json_loads(self, text):
        return self._json_serializer.loads(text)

    def template(self, template_engine):
        """Engine with render(*args, **kwargs) used by res.render()."""
        self._template = template_engine
        return self

    def register(self, extension):
        """extension(request, response, websocket): three AppExtension objects whose
        .method / .property decorators add methods and per-request attributes to
        every Request / Response / WebSocket. Register before
        serving; apps without extensions pay nothing."""
        if self._extensions is None:
            self._extensions = (_AppExtension(), _AppExtension(), _AppExtension())
        request_ext, response_ext, ws_ext = self._extensions
        extension(request_ext, response_ext, ws_ext)
        self._request_class = request_ext.make_class(Request) if not request_ext.empty else Request
        self._response_class = response_ext.make_class(Response) if not response_ext.empty else Response
        self._websocket_class = ws_ext.make_class(WebSocket) if not ws_ext.empty else None
        return self

    # ---- lifecycle ----------------------------------------------------------------------

    def on_start(self, method):
        """The start hook (one slot: the last registration wins), run by run()."""
        self._start_hook = method
        return method

    def on_shutdown(self, method):
        """The shutdown hook (one slot), run after the drain by close() or a signal."""
        self._shutdown_hook = method
        return method

    @property
    def lifespan(self):
        return self._lifespan

    def _on_readable(self):
        # The epoll fd is readable: run one non-blocking pass of the engine.
        # Syscalls run without the GIL; handlers take it back when called.
        cdef http_app_t *app = self._app
        if app == NULL:
            return
        with nogil:
            us_loop_run_once(http_app_loop(app), 0)

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
        _attach(self)
        if handler is not None:
            handler(result)
        return self

    def run(self):
        """Serve until close() or SIGINT/SIGTERM (a second signal exits at once);
        then drain, run the on_shutdown hook and return."""
        if self._app == NULL:
            raise RuntimeError("the app was disposed")
        _run(self)
        return self

    def close(self):
        """Graceful shutdown: stop accepting, let pending responses finish (up to
        shutdown_timeout), run on_shutdown, close the rest. Returns at once; under
        run() the loop stops afterwards, otherwise `await app.wait_closed()`.
        Never stops a loop that run() did not start."""
        if self._closed or self._app == NULL:
            return self
        _begin_close(self)
        return self

    async def wait_closed(self):
        """Wait until the app is closed (close() called, or a signal under run())
        and its shutdown has finished."""
        if self._closing_task is None and not self._closed:
            if self._close_waiter is None:
                self._close_waiter = _get_loop(self).create_future()
            await self._close_waiter
        if self._closing_task is not None and not self._closing_task.done():
            await _asyncio.wait([self._closing_task])

    def dispose(self):
        """Close at once and free the engine; the App cannot be used afterwards."""
        if self._app == NULL:
            return
        _force_close(self)
        if self._ws_app != NULL:
            ws_app_free(self._ws_app)
            self._ws_app = NULL
        http_app_free(self._app)
        self._app = NULL

    def get_native_handle(self):
        """The engine's http_app_t pointer, as an int (0 once disposed)."""
        return <uintptr_t>self._app

    def stats(self):
        """Engine counters: send syscalls made, open connections, busy ones."""
        if self._app == NULL:
            raise RuntimeError("the app was disposed")
        return {
            "send_syscalls": us_loop_send_syscalls(http_app_loop(self._app)),
            "connections": http_app_num_connections(self._app),
            "busy": http_app_busy(self._app),
            "websockets": ws_app_num_connections(self._ws_app) if self._ws_app != NULL else 0,
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



