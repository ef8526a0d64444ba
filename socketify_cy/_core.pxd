# Declarations of the extension module's classes (like uvloop's loop.pxd, which
# includes handles/*.pxd): one .pxd per class, so another Cython module can
# `cimport` Response, Request or App and call them without Python overhead.

from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from socketify_cy.includes.http cimport *

cdef class App
cdef class Request
cdef class Response

include "request.pxd"
include "response.pxd"
include "_coro.pxd"
include "app.pxd"
