# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# The extension module: one compilation unit (like uvloop's loop.pyx) so the
# classes call each other and the C engine directly. Class declarations are in
# the .pxd files (_core.pxd includes them); each concept lives in its own .pyx:
#   request.pyx    request bytes -> Python objects
#   response.pyx   writing a response
#   _coro.pyx      driving a handler coroutine after its first step
#   _dispatch.pyx  engine callbacks (request, abort, body) and the error policy
#   _loop.pyx      asyncio attach, signals, graceful shutdown
#   websocket.pyx  WebSocket objects, the app.ws() route, the engine's WebSocket callbacks
#   app.pyx        the public App API

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF, Py_REFCNT
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_DecodeASCII
from cpython.pythread cimport PyThread_get_thread_ident
from cpython.exc cimport PyErr_Clear
from cpython.object cimport PyObject
from libc.errno cimport errno
from libc.stdint cimport uint8_t, uint32_t, uint64_t, uintptr_t

from socketify_cy.includes.usockets cimport (us_loop_fd, us_loop_run_once, us_loop_send_syscalls,
                                             us_socket_context_options_t, us_socket_context_ssl_error)
from socketify_cy.includes.http_parser cimport *
from socketify_cy.includes.router cimport *
from socketify_cy.includes.http_server cimport *
from socketify_cy.includes.http_response cimport *
from socketify_cy.includes.ws_server cimport *

cdef extern from "Python.h":
    # Per-request contexts without a Python frame (Context.run would add one).
    object PyContext_Copy(object ctx)
    int PyContext_Enter(object ctx)       # -1 with an exception set if already entered
    int PyContext_Exit(object ctx)

cdef extern from *:
    """
    /* Resume a coroutine: 1 = it yielded (*result), 0 = it returned (*result),
     * -1 = it raised. PyIter_Send (3.10+) avoids a method lookup and the
     * StopIteration instance on return. */
    static int socketify_coro_send(PyObject *coro, PyObject *arg, PyObject **result) {
    #if PY_VERSION_HEX >= 0x030A0000
        PySendResult r = PyIter_Send(coro, arg, result);
        return r == PYGEN_NEXT ? 1 : (r == PYGEN_RETURN ? 0 : -1);
    #else
        PyObject *type, *value, *tb;
        *result = PyObject_CallMethod(coro, "send", "O", arg);
        if (*result) return 1;
        if (!PyErr_ExceptionMatches(PyExc_StopIteration)) return -1;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        *result = value ? PyObject_GetAttrString(value, "value") : (Py_INCREF(Py_None), Py_None);
        Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb);
        return *result ? 0 : -1;
    #endif
    }
    """
    int socketify_coro_send(object coro, object arg, PyObject **result) except? -1

# Shared by request.pyx and response.pyx.
_WRONG_THREAD = ("socketify_cy objects may only be used on the event loop's thread; "
                 "use loop.call_soon_threadsafe() to hand work back to it")

include "request.pyx"
include "response.pyx"
include "_coro.pyx"
include "_dispatch.pyx"
include "_loop.pyx"
include "websocket.pyx"
include "tls.pyx"
include "app.pyx"
