# WebSocket: one upgraded connection (websocket.pyx). _ws is NULL before open
# and after close; every method checks it.

cdef class _WsRoute:
    # One app.ws() registration: the engine's route and the behaviour's handlers.
    cdef ws_route_t *_route
    cdef App _app
    cdef object upgrade
    cdef object open
    cdef object message
    cdef object drain
    cdef object dropped
    cdef object ping
    cdef object pong
    cdef object close
    cdef object subscription


cdef class WebSocket:
    cdef ws_conn_t *_ws
    cdef App _app
    cdef _WsRoute _route
    cdef object _user_data
    cdef object _remote           # peer address bytes, kept after close
    cdef object __weakref__

    cdef int _send(self, message, int opcode, bint compress, bint fin) except -2
