"""socketify_cy: the socketify.py API on a C event-loop core, for CPython.

    import socketify_cy as socketify
    app = socketify.App()
    app.get("/", lambda res, req: res.end("Hello, World!"))
    app.listen(3000, lambda config: print("listening on", config.port))
    app.run()
"""

from socketify_cy._core import App, Request, Response, WebSocket
from socketify_cy._extension import AppExtension
from socketify_cy._options import AppListenOptions, AppOptions
from socketify_cy.enums import CompressOptions, ListenOptions, OpCode, SendStatus

AppRequest = Request
AppResponse = Response

__version__ = "0.1.0"

__all__ = [
    "App",
    "AppExtension",
    "AppListenOptions",
    "AppOptions",
    "AppRequest",
    "AppResponse",
    "CompressOptions",
    "ListenOptions",
    "OpCode",
    "Request",
    "Response",
    "SendStatus",
    "WebSocket",
]
