"""One plaintext app for both socketify (PyPI) and socketify_cy.

Both implement the same API, so the only difference between the two bench
servers is which module is imported.  The handler is the minimal sync one:
res.end(b"Hello, World!") on "/".
"""
import signal

from _common import BODY, HOST, announce, port_from_argv


def serve(socketify, name):
    port = port_from_argv()

    def home(res, req):
        res.end(BODY)

    app = socketify.App()
    app.get("/", home)

    def on_listen(config=None):
        announce(name, port)

    # Bind 127.0.0.1 only.  Prefer AppListenOptions (socketify.py API), then the
    # dict form; a bare port would bind every interface, so refuse that.
    options_cls = getattr(socketify, "AppListenOptions", None)
    if options_cls is not None:
        app.listen(options_cls(port=port, host=HOST), on_listen)
    else:
        app.listen({"port": port, "host": HOST}, on_listen)

    # SIGTERM/SIGINT: the default action ends the process at once, which works
    # even while the event loop sits in C code and never returns to Python (a
    # Python-level handler would only run when the interpreter next gets
    # control).  socketify.py's run() replaces the SIGINT handler with its own
    # graceful one; whatever the imported module installs in run() wins.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    app.run()
