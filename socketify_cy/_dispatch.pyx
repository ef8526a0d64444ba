# Engine callbacks: where a request becomes Python objects and handler calls,
# and the error policy. The engine calls _on_request (between _enter and
# _leave, GIL held), _on_abort and _on_body (which take the GIL); the router
# calls _visit for each route candidate.

import inspect as _inspect
import logging as _logging
import time as _time
import types as _types

cdef object _iscoroutine = _inspect.iscoroutine
cdef object _CoroutineType = _types.CoroutineType
cdef object _monotonic = _time.monotonic
_logger = _logging.getLogger("socketify_cy")


cdef int _visit(void *handler, const router_match_t *match, void *user) noexcept:
    # Called by router_dispatch (GIL held) for each candidate, best first.
    # Returns 1 to stop the search (answered, failed, or no yield), 0 to go on.
    cdef App app = <App>user
    cdef _Route route = <_Route>handler
    cdef Request req = app._cur_req
    cdef Response res = app._cur_res
    req._match = match
    req._params = None
    req._yield = False
    try:
        if req._preserved:
            # _match dies with the dispatch: keep this candidate's parameters.
            req._collect_params()
        result = route.handler(res, req)
        if result is not None and (type(result) is _CoroutineType or _iscoroutine(result)):
            _run_coroutine(app, result, res, req, CORO_ROUTE, res._ctx)
    except BaseException as exc:
        _dispatch_error(app, exc, res, req)
        return 1
    # Yielding after answering would let another route write into a finished
    # response: the search stops instead.
    return 0 if req._yield and res._conn != NULL else 1


cdef void _dispatch_error(App app, exc, Response res, req) noexcept:
    # A handler raised inside an engine callback: nothing may escape into C.
    try:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            # Not a request error: close this response and let the exception
            # leave the event loop (asyncio re-raises both out of run_forever).
            if _res_live(res):
                http_conn_close(res._conn)
            _get_loop(app).call_soon(_reraise, exc)
        else:
            app._handle_error(exc, res, req)
    except BaseException as second:
        try:
            _logger.critical("socketify_cy: the error policy failed", exc_info=second)
        except BaseException:
            pass


def _reraise(exc):
    raise exc


cdef int _on_request(void *user, http_conn_t *conn, http_request_t *creq) noexcept:
    # The engine calls this between _enter and _leave, so the GIL is held.
    cdef App app = <App>(<binding_t *>user).app
    cdef Response res
    cdef Request req
    cdef int handled = 0
    cdef router_t *router = http_conn_router(conn)  # the server name's, or the app's
    if app._response_class is None:
        res = Response.__new__(Response)
        req = Request.__new__(Request)
    else:
        res = app._response_class.__new__(app._response_class)
        req = app._request_class.__new__(app._request_class)
    res._conn = conn
    res._app = app
    res._ip_len = http_conn_ip(conn, res._ip)
    res._proxied_len = http_conn_proxied_ip(conn, res._proxied_ip, &res._proxied_port)
    req._req = creq
    req._app = app
    req._version_minor = creq.version_minor
    # Each request runs in its own context, copied from the App's base.
    ctx = res._ctx = PyContext_Copy(app._base_ctx)
    # The engine holds a reference while the response is pending.
    Py_INCREF(res)
    res._engine_ref = True
    http_res_bind(conn, <void *>res)
    app._cur_req = req
    app._cur_res = res
    app._dispatching = True
    PyContext_Enter(ctx)
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
        app._cur_req = None
        app._cur_res = None
        if handled and res._conn != NULL and Py_REFCNT(res) <= 2 and res._abort_handlers is None \
                and res._data_handler is None:
            # Only the engine and this frame know the response: nobody can ever
            # answer it. Answer for the handler instead of leaving the client hanging.
            app._handle_error(RuntimeError(
                "handler for %s returned without responding and kept no reference to the "
                "response" % req_description(creq)), res, None)
    except BaseException as exc:
        _dispatch_error(app, exc, res, None)
    finally:
        PyContext_Exit(ctx)
        app._dispatching = False
        app._cur_req = None
        app._cur_res = None
        # The route match lives on the engine's stack: never keep it.
        req._match = NULL
        if not req._preserved:
            req._invalidate()
    if not handled:
        if res._conn != NULL:
            # The engine answers 404 itself: unbind before dropping our reference.
            http_res_bind(conn, NULL)
            res._released()
        return 0
    return 1


cdef str req_description(http_request_t *creq):
    return "%s %s" % (_text(creq.method, creq.method_len), _text(creq.target, creq.path_len))


cdef inline bint _enter_ctx(ctx):
    # Run an engine callback in its request's context, unless that context is
    # already the current one (an abort caused by the handler itself).
    if ctx is None:
        return False
    if PyContext_Enter(ctx) != 0:
        PyErr_Clear()
        return False
    return True


cdef void _on_abort(void *user, http_conn_t *conn, void *res_user) noexcept with gil:
    # (The engine keeps the request's bytes until the callback that is reading
    # them returns, so a handler that closes its own connection can go on
    # reading its Request.)
    cdef App app = <App>(<binding_t *>user).app
    cdef Response res = <Response>res_user
    cdef bint entered
    res._aborted = True
    res._released()
    entered = _enter_ctx(res._ctx)
    try:
        res._run_abort_handlers()
    except BaseException as exc:
        _dispatch_error(app, exc, res, None)
    finally:
        if entered:
            PyContext_Exit(res._ctx)


cdef void _on_body(void *user, http_conn_t *conn, void *res_user, const char *data, size_t length,
                   int is_last) noexcept with gil:
    cdef App app = <App>(<binding_t *>user).app
    cdef Response res = <Response>res_user
    cdef bint entered
    handler = res._data_handler
    if handler is None:
        return
    entered = _enter_ctx(res._ctx)
    try:
        app._call_user(handler, res, None, (res, PyBytes_FromStringAndSize(data, length), bool(is_last)))
    except BaseException as exc:
        _dispatch_error(app, exc, res, None)
    finally:
        if entered:
            PyContext_Exit(res._ctx)


cdef int _on_writable(void *user, http_conn_t *conn, void *res_user, uint64_t offset) noexcept with gil:
    # The socket took everything queued: the response's writable handler continues.
    cdef App app = <App>(<binding_t *>user).app
    cdef Response res = <Response>res_user
    cdef bint entered
    handler = res._writable_handler
    if handler is None:
        return 1
    entered = _enter_ctx(res._ctx)
    try:
        return 1 if handler(res, offset) else 0
    except BaseException as exc:
        _dispatch_error(app, exc, res, None)
        return 1
    finally:
        if entered:
            PyContext_Exit(res._ctx)


cdef class _ErrorLog:
    """Handler errors go to the "socketify_cy" logger. A flood of failing
    requests must not write megabytes: at most `limit` full tracebacks per
    `window` seconds, then one line per window counting the rest."""

    def __init__(self, limit, window):
        self.limit = limit
        self.window = window
        self.window_start = -1e18

    cdef report(self, App app, str what, exc):
        now = _monotonic()
        if now - self.window_start >= self.window:
            self._flush()
            self.window_start = now
        if self.limit is None or self.count < self.limit:
            self.count += 1
            _logger.error("socketify_cy: %s:", what, exc_info=(type(exc), exc, exc.__traceback__))
            return
        self.suppressed += 1
        if self.timer is None and app.loop is not None and not app.loop.is_closed():
            # Report the count at the end of the window even if no error follows.
            self.timer = app.loop.call_later(self.window_start + self.window - now, self._flush)

    def _flush(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.suppressed:
            _logger.error("socketify_cy: %d more handler errors in the last %g s were not logged "
                          "(error_log_limit=%s)", self.suppressed, self.window, self.limit)
        self.count = 0
        self.suppressed = 0
