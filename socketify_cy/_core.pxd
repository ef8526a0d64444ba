# Declarations of the extension module's classes (like uvloop's loop.pxd, which
# includes handles/*.pxd): one .pxd per class, so another Cython module can
# `cimport` Response, Request or App and call them without Python overhead.

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from cpython.ref cimport PyObject
from socketify_cy.includes.http_parser cimport *
from socketify_cy.includes.router cimport *
from socketify_cy.includes.http_server cimport *
from socketify_cy.includes.http_response cimport *
from socketify_cy.includes.ws_server cimport *
from socketify_cy.includes.usockets cimport us_socket_context_options_t

cdef extern from "Python.h" nogil:
    # Declared without the GIL so the engine's enter/leave hooks can take it.
    ctypedef enum gil_state_t "PyGILState_STATE":
        pass
    gil_state_t gil_ensure "PyGILState_Ensure"()
    void gil_release "PyGILState_Release"(gil_state_t state)

# What every engine callback gets as `user`: the App, and the interpreter-lock
# state of the engine's enter/leave bracket (kept in C: enter runs without the GIL).
ctypedef struct binding_t:
    PyObject *app
    gil_state_t gil_state

cdef class App
cdef class Request
cdef class Response
cdef class WebSocket
cdef class _WsRoute
cdef class _Domain

include "request.pxd"
include "response.pxd"
include "websocket.pxd"
include "_coro.pxd"
include "tls.pxd"
include "app.pxd"
