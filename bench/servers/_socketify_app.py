"""One plaintext app for socketify (PyPI), socketify_cy and a baseline build.

All implement the same API, so the only difference between these bench
servers is which module is imported (and, for the baseline, which venv runs
the script).  The handler on "/" is chosen by argv[2] / $BENCH_HANDLER:

    sync            res.end(BODY)
    async_cork_end  async: await asyncio.sleep(0); res.cork_end(BODY)
    async_end       async: await asyncio.sleep(0); res.end(BODY)

With $BENCH_TLS_CERT and $BENCH_TLS_KEY set (run.py --tls), the app serves
HTTPS: App(AppOptions(key_file_name=KEY, cert_file_name=CERT)).

The async variants suspend once, so the response is written after the
library callback has returned, from a later event-loop iteration: cork_end
corks that write itself, end relies on the library to send it in one piece.
"""
import asyncio
import signal

from _common import BODY, HOST, announce, handler_from_argv, port_from_argv, tls_files


def make_handler(variant):
    if variant == "sync":
        def home(res, req):
            res.end(BODY)
    elif variant == "async_cork_end":
        async def home(res, req):
            await asyncio.sleep(0)
            res.cork_end(BODY)
    elif variant == "async_end":
        async def home(res, req):
            await asyncio.sleep(0)
            res.end(BODY)
    else:  # handler_from_argv() already refused anything else
        raise ValueError(variant)
    return home


def serve(socketify, name):
    port = port_from_argv()
    variant = handler_from_argv()

    tls = tls_files()
    if tls:
        cert, key = tls
        app = socketify.App(socketify.AppOptions(key_file_name=key, cert_file_name=cert))
    else:
        app = socketify.App()
    app.get("/", make_handler(variant))

    def on_listen(config=None):
        announce(f"{name} handler={variant}", port, tls=bool(tls))

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
