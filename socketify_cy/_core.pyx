# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# The extension module: one compilation unit (like uvloop's loop.pyx) so the
# classes call each other and the C engine directly. Each concept lives in
# its own included file.

cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from cpython.ref cimport PyObject, Py_INCREF, Py_DECREF, Py_REFCNT
from cpython.unicode cimport PyUnicode_DecodeUTF8, PyUnicode_DecodeASCII
from libc.errno cimport errno
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from socketify_cy.includes.usockets cimport us_loop_fd, us_loop_run_once, us_loop_send_syscalls
from socketify_cy.includes.http_parser cimport *
from socketify_cy.includes.router cimport *
from socketify_cy.includes.http_server cimport *
from socketify_cy.includes.http_response cimport *

cdef extern from "Python.h" nogil:
    # Declared here without the GIL so the engine's enter/leave hooks can take it.
    ctypedef enum gil_state_t "PyGILState_STATE":
        pass
    gil_state_t gil_ensure "PyGILState_Ensure"()
    void gil_release "PyGILState_Release"(gil_state_t state)

# What every engine callback gets as `user`: the App, and the interpreter-lock
# state of the engine's enter/leave bracket (kept in C: enter runs without the GIL).
ctypedef struct binding_t:
    PyObject *app
    gil_state_t gil_state

include "request.pyx"
include "response.pyx"
include "app.pyx"
