# _Handler: drives a handler coroutine whose first step already ran (_coro.pyx).

cdef class _Handler:
    cdef object _coro             # the user's coroutine; None once finished
    cdef object _first            # what its first step yielded, handed to the Task first
    cdef object _task             # the asyncio.Task running the rest (None during the first step)
    cdef App _app
    cdef Response _res
    cdef int _kind                # CORO_ROUTE, CORO_USER or CORO_ERROR_HANDLER
    cdef bint _started
    cdef bint _cancel_pending     # cancel() called during the first step
    cdef object _cancel_msg
    cdef list _pending_callbacks  # add_done_callback() during the first step
    cdef object _ctx              # the request context its steps run in (no Task yet)
    cdef int _num_cancels         # cancel() calls while there is no Task (cancelling())

    cdef _forget_task(self)
    cdef _step_without_task(self)
    cdef _start_task(self, first)
    cdef _run_pending_callbacks(self, loop)

    cdef _completed(self)
    cdef _failed(self, exc)


# Who started the coroutine: decides the error policy and the unanswered check.
cdef enum:
    CORO_ROUTE = 0            # a route handler (its own request context)
    CORO_USER = 1             # run_async, on_data/on_aborted handlers
    CORO_ERROR_HANDLER = 2    # the error handler itself: its errors are only logged

cdef object _run_coroutine(App app, coro, Response res, req, int kind, ctx)
cdef _queue_ready(App app, _Handler h)
