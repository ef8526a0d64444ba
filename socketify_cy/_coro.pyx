# The coroutine driver. An async handler's first step runs synchronously inside
# the engine callback (corked, with a valid Request). If it suspends, the rest
# runs as an asyncio Task; a Task cannot adopt a started coroutine, so the Task
# runs a _Handler, which hands over the already-yielded value first and then
# resumes the coroutine directly (no Python frame per resume).
#
# During the first step there is no Task yet. So that asyncio.current_task(),
# asyncio.timeout() and TaskGroup work there too, the _Handler is registered
# as the loop's current task for that step and forwards the Task methods they
# use (cancel, cancelling, uncancel, ...) to the real Task once it exists.

import asyncio as _asyncio
import collections.abc as _abc
import sys as _sys
from asyncio import tasks as _asyncio_tasks

cdef object _CancelledError = _asyncio.CancelledError
cdef object _current_task = _asyncio.current_task
cdef object _enter_task = _asyncio_tasks._enter_task
cdef object _leave_task = _asyncio_tasks._leave_task
# create_task(context=...) exists from 3.11; before, the Task copies the current context.
cdef bint _TASK_CONTEXT = _sys.version_info >= (3, 11)


cdef object _run_coroutine(App app, coro, Response res, req, int kind, ctx):
    """Run coro's first step now; if it suspends, return the Task running the rest.
    ctx: the request context the Task runs in (None: a copy of the current one)."""
    cdef _Handler h = _Handler.__new__(_Handler)
    cdef PyObject *result = NULL
    cdef int rc
    cdef bint entered
    loop = _get_loop(app)
    h._coro = coro
    h._app = app
    h._res = res
    h._kind = kind
    entered = _current_task(loop) is None
    if entered:
        _enter_task(loop, h)
    try:
        rc = socketify_coro_send(coro, None, &result)
    except BaseException as exc:
        if entered:
            _leave_task(loop, h)
        h._coro = None
        _coroutine_failed(app, exc, res, req, kind)
        return None
    if entered:
        _leave_task(loop, h)
    value = <object>result
    Py_DECREF(value)
    if rc == 0:
        # Finished in its first step: no Task at all.
        h._coro = None
        h._res = None
        if h._pending_callbacks:
            for fn, context in h._pending_callbacks:
                loop.call_soon(fn, h, context=context)
        return None
    h._ctx = ctx
    if value is None and not h._cancel_pending and kind == CORO_ROUTE:
        # A bare yield (asyncio.sleep(0)): run again on the next iteration. No
        # Task is needed for that: the App resumes every such handler from one
        # loop callback, and a Task is made only if the handler awaits a future.
        _queue_ready(app, h)
        return h
    return h._start_task(value)


cdef _queue_ready(App app, _Handler h):
    if not app._ready:
        _get_loop(app).call_soon(app._resume_ready_cb)
    app._ready.append(h)


def _resume_ready(App app):
    # One loop callback for every handler that yielded bare in the previous
    # iteration, in the order they yielded.
    batch = app._ready
    app._ready = []
    for h in batch:
        (<_Handler>h)._step_without_task()
    if app._flush_scheduled and app._app != NULL:
        # What these handlers wrote leaves now, not one loop turn later.
        app._flush_scheduled = False
        with nogil:
            http_app_flush(app._app)


cdef _coroutine_failed(App app, exc, Response res, req, int kind):
    # The error policy for a handler coroutine that raised.
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        # Not a request error: the caller stops the loop with it.
        raise exc
    if isinstance(exc, _CancelledError):
        if res is not None and _res_live(res):
            http_conn_close(res._conn)
        return
    if kind == CORO_ERROR_HANDLER:
        app._log("the error handler raised", exc)
        app._default_error(res)
    else:
        app._handle_error(exc, res, req)


@cython.freelist(16)
cdef class _Handler:
    """The coroutine an asyncio Task runs for a handler whose first step already
    ran. Errors go to the app's error policy (a 500 if nothing was sent yet);
    cancellation closes the response."""

    cdef _forget_task(self):
        if self._task is not None:
            self._app._tasks.discard(self._task)

    cdef _start_task(self, first):
        # From here an asyncio Task drives the coroutine; its first step hands
        # over what the coroutine just yielded.
        app = self._app
        loop = _get_loop(app)
        self._first = first
        self._started = False
        if self._ctx is not None and _TASK_CONTEXT:
            task = loop.create_task(self, context=self._ctx)
        else:
            task = loop.create_task(self)
        self._task = task
        # asyncio keeps only weak references to Tasks: without this set, a handler
        # awaiting a future nothing else refers to could be collected mid-request.
        # (The _Handler takes it out again when the coroutine ends: no done
        # callback, which would cost a loop callback per request.)
        app._tasks.add(task)
        if self._pending_callbacks:
            for fn, context in self._pending_callbacks:
                task.add_done_callback(fn, context=context)
            self._pending_callbacks = None
        if self._cancel_pending:
            self._cancel_pending = False
            task.cancel(self._cancel_msg)
        return task

    cdef _step_without_task(self):
        # Resume a handler that yielded bare, in its request context, standing
        # in as the current task (as during the first step).
        cdef PyObject *result = NULL
        cdef int rc
        cdef bint entered_ctx = False
        coro = self._coro
        if coro is None:
            return
        app = self._app
        loop = _get_loop(app)
        if self._ctx is not None:
            entered_ctx = PyContext_Enter(self._ctx) == 0
            if not entered_ctx:
                PyErr_Clear()
        entered = _current_task(loop) is None
        if entered:
            _enter_task(loop, self)
        try:
            try:
                if self._cancel_pending:
                    self._cancel_pending = False
                    value = coro.throw(_CancelledError(self._cancel_msg) if self._cancel_msg is not None
                                       else _CancelledError())
                    rc = 1
                else:
                    rc = socketify_coro_send(coro, None, &result)
                    value = <object>result
                    Py_DECREF(value)
            except StopIteration:
                rc = 0
                value = None
            except BaseException as exc:
                res = self._res
                self._coro = None
                self._res = None
                self._run_pending_callbacks(loop)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    if res is not None and _res_live(res):
                        http_conn_close((<Response>res)._conn)
                    loop.call_soon(_reraise, exc)
                    return
                _coroutine_failed(app, exc, res, None, self._kind)
                return
        finally:
            if entered:
                _leave_task(loop, self)
            if entered_ctx:
                PyContext_Exit(self._ctx)
        if rc == 0:
            self._completed()
            self._run_pending_callbacks(loop)
        elif value is None and not self._cancel_pending:
            _queue_ready(app, self)
        else:
            self._start_task(value)

    cdef _run_pending_callbacks(self, loop):
        # add_done_callback() made while there was no Task: the handler is done.
        callbacks = self._pending_callbacks
        self._pending_callbacks = None
        if callbacks:
            for fn, context in callbacks:
                loop.call_soon(fn, self, context=context)

    cdef _completed(self):
        res = self._res
        self._coro = None
        self._res = None
        self._forget_task()
        # Same safety net as for a sync handler: if the engine and this local
        # are the only references left, nobody can ever answer.
        if self._kind == CORO_ROUTE and res is not None and (<Response>res)._conn != NULL \
                and (<Response>res)._abort_handlers is None and (<Response>res)._data_handler is None \
                and Py_REFCNT(res) <= 2:
            self._app._handle_error(RuntimeError(
                "async handler returned without responding and kept no reference to the "
                "response"), res, None)

    cdef _failed(self, exc):
        res = self._res
        self._coro = None
        self._res = None
        self._forget_task()
        if isinstance(exc, (_CancelledError, KeyboardInterrupt, SystemExit)):
            if res is not None and _res_live(res):
                http_conn_close((<Response>res)._conn)
            raise exc
        _coroutine_failed(self._app, exc, res, None, self._kind)
        # Handled: the Task ends normally (nothing for "exception never retrieved").
        raise StopIteration

    # ---- the coroutine protocol (what asyncio.Task calls) ---------------------------

    def send(self, value):
        cdef PyObject *result = NULL
        cdef int rc
        if not self._started:
            self._started = True
            first = self._first
            self._first = None
            if first is not None:
                return first
            # A bare yield (asyncio.sleep(0)) asks to run again on the next
            # loop iteration: this Task step already is that iteration.
        coro = self._coro
        if coro is None:
            raise StopIteration
        try:
            rc = socketify_coro_send(coro, value, &result)
        except BaseException as exc:
            self._failed(exc)
        out = <object>result
        Py_DECREF(out)
        if rc == 1:
            return out
        self._completed()
        raise StopIteration(out)

    def throw(self, typ, val=None, tb=None):
        self._started = True
        self._first = None
        coro = self._coro
        if coro is None:
            raise typ if val is None else val
        try:
            if val is None and tb is None:
                return coro.throw(typ)
            return coro.throw(typ, val, tb)
        except StopIteration:
            self._completed()
            raise
        except BaseException as exc:
            self._failed(exc)

    def close(self):
        coro = self._coro
        self._coro = None
        self._res = None
        self._forget_task()
        if coro is not None:
            coro.close()

    def __await__(self):
        return self

    def __next__(self):
        return self.send(None)

    # ---- the Task methods asyncio.timeout()/TaskGroup use on current_task() ----------

    def cancel(self, msg=None):
        if self._task is not None:
            return self._task.cancel(msg)
        if self._coro is None:
            return False
        self._cancel_pending = True
        self._cancel_msg = msg
        self._num_cancels += 1
        return True

    def cancelling(self):
        if self._task is not None:
            return self._task.cancelling()
        return self._num_cancels

    def uncancel(self):
        if self._task is not None:
            return self._task.uncancel()
        if self._num_cancels > 0:
            self._num_cancels -= 1
        if self._num_cancels == 0:
            self._cancel_pending = False
        return self._num_cancels

    def cancelled(self):
        return self._task.cancelled() if self._task is not None else False

    def done(self):
        return self._task.done() if self._task is not None else self._coro is None

    def get_loop(self):
        return self._app.loop

    def get_coro(self):
        return self._coro

    def get_name(self):
        return self._task.get_name() if self._task is not None else "socketify_cy-handler"

    def add_done_callback(self, fn, *, context=None):
        if self._task is not None:
            self._task.add_done_callback(fn, context=context)
            return
        if self._pending_callbacks is None:
            self._pending_callbacks = []
        self._pending_callbacks.append((fn, context))

    def remove_done_callback(self, fn):
        if self._task is not None:
            return self._task.remove_done_callback(fn)
        before = len(self._pending_callbacks or ())
        if before:
            self._pending_callbacks = [(f, c) for f, c in self._pending_callbacks if f != fn]
        return before - len(self._pending_callbacks or ())

    def __repr__(self):
        return "<socketify_cy handler %r>" % (self._coro,)


_abc.Coroutine.register(_Handler)
