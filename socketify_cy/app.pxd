# App: routes, listen sockets, lifecycle (app.pyx); engine callbacks in
# _dispatch.pyx, asyncio integration and shutdown in _loop.pyx.

cdef class _Route:
    # One registered handler; the router keeps a borrowed pointer to it and
    # App._routes keeps it alive.
    cdef object handler


cdef class _ErrorLog:
    cdef object limit             # full tracebacks per window; None: all
    cdef double window            # seconds
    cdef double window_start
    cdef long count
    cdef long suppressed
    cdef object timer

    cdef report(self, App app, str what, exc)


cdef class App:
    cdef http_app_t *_app
    cdef ws_app_t *_ws_app        # made by the first ws() route
    cdef list _ws_routes
    cdef binding_t _binding       # the `user` of every engine callback
    cdef list _routes
    cdef object _error_handler
    cdef readonly object loop
    cdef bint _dispatching
    cdef Request _cur_req
    cdef Response _cur_res
    cdef public object _json_serializer   # public: socketify apps read app._json_serializer
    cdef object _template
    cdef object _start_hook
    cdef object _shutdown_hook
    cdef bint _lifespan
    cdef bint _reader_attached
    cdef bint _closed             # close() was called (draining or done)
    cdef bint _running            # run() is running the loop: only then may we stop it
    cdef int _signals             # SIGINT/SIGTERM received
    cdef int _fd
    cdef unsigned long _thread    # the loop thread: Response/Request refuse other threads
    cdef object _base_ctx         # contextvars.Context every request's context is copied from
    cdef set _tasks               # pending handler Tasks (strong references)
    cdef list _ready              # handlers that yielded bare (sleep(0)): resumed next iteration
    cdef object _resume_ready_cb  # the one loop callback that resumes them, in order
    cdef object _flush_cb         # the loop callback that sends writes held since the last pass
    cdef bint _flush_scheduled
    cdef double _shutdown_timeout
    cdef object _closing_task
    cdef object _close_waiter     # wait_closed() before close() was called
    cdef _ErrorLog _errors
    cdef object _request_class    # subclasses with extension methods, or None
    cdef object _response_class
    cdef object _websocket_class  # WebSocket subclass with extension methods, or None
    cdef object _extensions       # (request, response, websocket) AppExtension
    cdef bint _ssl                # made with AppOptions: serves TLS
    cdef object _missing_server_name  # handler(hostname) for unknown server names
    cdef dict _domains            # pattern -> _Domain (App.domain)
    cdef dict _domain_routers     # pattern -> router_t address, freed with the app
    cdef object __weakref__

    cdef _add(self, method, path, handler)
    cdef _add_to(self, router_t *router, method, path, handler)
    cdef _WsRoute _ws_route(self, behavior)
    cdef router_t *_domain_router(self, str pattern) except NULL
    cdef _require_tls(self, what)
    cdef object _publish(self, topic, message, opcode, compress, WebSocket sender)
    cdef _handle_error(self, exc, Response res, req)
    cdef _default_error(self, Response res)
    cdef _call_user(self, handler, Response res, req, tuple args)
    cdef _log(self, str what, exc)


# _loop.pyx: asyncio integration and shutdown.
cdef object _get_loop(App app)
cdef _attach(App app)
cdef _begin_close(App app)
cdef _force_close(App app)
cdef _run(App app)
