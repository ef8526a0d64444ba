# asyncio integration: the engine's epoll fd is a reader of the asyncio (or
# uvloop) loop; run(), SIGINT/SIGTERM and the graceful shutdown.
#
# Shutdown (App.close(), or the first SIGINT/SIGTERM under run()):
#   1. http_app_drain: stop accepting, close idle keep-alive connections,
#      answer everything from now on with Connection: close;
#   2. wait until http_app_busy() == 0 (no pending response, no queued byte),
#      at most App(shutdown_timeout=...) seconds;
#   3. the on_shutdown hook (unless lifespan=False);
#   4. cancel the handler Tasks still pending (their responses are closed),
#      close the connections that are left, stop watching the fd;
#   5. stop the loop, but only if run() is running it.
# A second SIGINT/SIGTERM skips what is left of 2-4 and stops at once.

import asyncio as _asyncio
import inspect as _inspect
import signal as _signal

cdef object _iscoroutine_hook = _inspect.iscoroutine


cdef object _get_loop(App app):
    if app.loop is None:
        try:
            app.loop = _asyncio.get_running_loop()
        except RuntimeError:
            app.loop = _asyncio.new_event_loop()
            _asyncio.set_event_loop(app.loop)
    return app.loop


cdef _attach(App app):
    loop = _get_loop(app)
    if not app._reader_attached:
        # Responses and requests refuse other threads (see _res_live).
        app._thread = PyThread_get_thread_ident()
        loop.add_reader(app._fd, app._on_readable)
        app._reader_attached = True
        # Anything that became ready before we were attached.
        app._on_readable()


cdef _detach(App app):
    loop = app.loop
    if app._reader_attached and loop is not None and not loop.is_closed():
        loop.remove_reader(app._fd)
    app._reader_attached = False


def _on_signal(App app):
    app._signals += 1
    if app._signals == 1:
        app.close()
    else:
        # Second signal: no more waiting.
        _force_close(app)


cdef _begin_close(App app):
    app._closed = True
    http_app_drain(app._app)
    if app._ws_app != NULL:
        ws_app_going_away(app._ws_app)
    loop = app.loop
    if loop is not None and not loop.is_closed() and app._reader_attached:
        app._closing_task = loop.create_task(_graceful_close(app))
    else:
        _force_close(app)
    waiter = app._close_waiter
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


async def _run_hook(App app, hook):
    # Lifespan hooks: an exception goes to the error handler as (err, None, None)
    # and the server goes on (socketify's documented behaviour).
    try:
        result = hook()
        if _iscoroutine_hook(result):
            await result
    except Exception as exc:
        app._handle_error(exc, None, None)


cdef _cancel_ready(App app):
    # Handlers waiting for their next step without a Task: cancel them now
    # (CancelledError is thrown into them; their responses close).
    if app._ready:
        for h in app._ready:
            h.cancel()
        _resume_ready(app)


async def _cancel_handler_tasks(App app, double timeout):
    _cancel_ready(app)
    tasks = [t for t in app._tasks if not t.done()]
    for t in tasks:
        t.cancel()
    if tasks:
        await _asyncio.wait(tasks, timeout=timeout)


async def _graceful_close(App app):
    loop = app.loop
    try:
        deadline = loop.time() + app._shutdown_timeout
        # Pending responses and queued bytes, and WebSockets finishing their
        # close handshake (1001 went out at close()).
        while app._app != NULL and (http_app_busy(app._app) > 0 or (
                app._ws_app != NULL and ws_app_num_connections(app._ws_app) > 0)) and loop.time() < deadline:
            await _asyncio.sleep(0.01)
        if app._lifespan and app._shutdown_hook is not None:
            await _run_hook(app, app._shutdown_hook)
        await _cancel_handler_tasks(app, 1.0)
    except _asyncio.CancelledError:
        _force_close(app)
        raise
    finally:
        _close_connections(app)
        if app._running:
            loop.stop()


cdef _close_connections(App app):
    # Whatever is still open is closed (pending responses abort).
    if app._app != NULL:
        if app._ws_app != NULL:
            ws_app_close_connections(app._ws_app)
        http_app_close_connections(app._app)
        app._on_readable()
    _detach(app)


cdef _force_close(App app):
    app._closed = True
    if app._app != NULL:
        http_app_close_listeners(app._app)
    _cancel_ready(app)
    for task in list(app._tasks):
        task.cancel()
    closing = app._closing_task
    if closing is not None and not closing.done() and closing is not _asyncio.current_task():
        closing.cancel()
    _close_connections(app)
    if app._running and app.loop is not None:
        app.loop.stop()


cdef _run(App app):
    loop = _get_loop(app)
    _attach(app)
    installed = []
    for sig in (_signal.SIGINT, _signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, _on_signal, app)
            installed.append(sig)
        except (RuntimeError, ValueError, NotImplementedError):
            pass
    try:
        if app._lifespan and app._start_hook is not None and not app._closed:
            loop.run_until_complete(_run_hook(app, app._start_hook))
        if not app._closed:
            app._running = True
            try:
                loop.run_forever()
            finally:
                app._running = False
        if not app._closed:
            # The loop was stopped by someone else: shut down gracefully anyway.
            app.close()
        closing = app._closing_task
        if closing is not None and not closing.done():
            # wait(), not the task itself: a forced (cancelled) shutdown is not an error.
            loop.run_until_complete(_asyncio.wait([closing]))
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        _force_close(app)
        # Let cancelled handler Tasks run their cancellation (their responses
        # close) instead of being destroyed pending.
        pending = [t for t in app._tasks if not t.done()]
        if app._closing_task is not None and not app._closing_task.done():
            pending.append(app._closing_task)
        if pending and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(_asyncio.wait(pending, timeout=1.0))
