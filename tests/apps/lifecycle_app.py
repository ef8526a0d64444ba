"""Unix-socket listen, unanswered handlers, shutdown hooks.

python tests/apps/lifecycle_app.py UNIX_PATH
Listens on 127.0.0.1:0 (prints LISTENING <port>) and on UNIX_PATH.
"""

import asyncio
import sys

from socketify_cy import App, AppListenOptions

kept = []


def forgotten(res, req):
    # Neither answers nor keeps the response: nobody could ever answer it.
    pass


def kept_for_later(res, req):
    # Keeps the response: it stays pending, and GET /answer-kept answers it.
    kept.append(res)


def answer_kept(res, req):
    n = 0
    while kept:
        kept.pop().end("answered later")
        n += 1
    res.end("answered %d" % n)


BIG = b"x" * (256 * 1024)


def stream(res, req):
    res.write("a")
    res.write("b")
    res.end("c")


aborted_echoes = []


async def echo(res, req):
    body = await res.get_data()
    if res.aborted:
        # The engine refused the body (413): get_data resolved with what came.
        aborted_echoes.append(len(body.getvalue()))
    res.end(body.getvalue())


async def late_reader(res, req):
    # Asks for the body only after an await: nothing may be lost meanwhile.
    await asyncio.sleep(0.2)
    body = await res.get_data()
    res.end(b"%d:%s" % (len(body.getvalue()), body.getvalue()[-8:]))


async def ignores_body(res, req):
    # Answers after an await without ever reading the body.
    await asyncio.sleep(0.1)
    res.end("ignored")


async def slow(res, req):
    await asyncio.sleep(0.5)
    res.end("finished in time")


def cookies(res, req):
    import datetime
    res.set_cookie("session", "a b&c", {"path": "/", "httponly": True, "max_age": 60})
    res.set_cookie("theme", "dark", {"expires": datetime.datetime(2030, 1, 2, 3, 4, 5), "samesite": "Lax",
                                     "secure": True})
    res.end("cookies")


def end_then_yield(res, req):
    res.end("first")
    req.set_yield(True)


def after_yield(res, req):
    res.end("second")


def main(unix_path):
    app = App(max_body_size=64 * 1024)
    app.post("/echo", echo)
    app.post("/late-reader", late_reader)
    app.get("/slow", slow)
    app.get("/cookies", cookies)
    app.post("/early", lambda res, req: res.end("early"))
    app.post("/ignores-body", ignores_body)
    app.get("/end-then-yield", end_then_yield)
    app.any("/end-then-yield", after_yield)
    app.get("/aborted-echoes", lambda res, req: res.end(repr(aborted_echoes)))
    app.get("/", lambda res, req: res.end("hello over %s" % ("unix" if not req.get_header("host") else "tcp")))
    app.get("/forgotten", forgotten)
    app.get("/kept", kept_for_later)
    app.get("/answer-kept", answer_kept)
    app.get("/big", lambda res, req: res.end(BIG))
    app.get("/stream", stream)

    @app.on_start
    def started():
        print("ON_START", flush=True)

    @app.on_shutdown
    def stopped():
        print("ON_SHUTDOWN", flush=True)

    # LISTENING (the first line, read by the tests) only once both sockets
    # listen: tests connect to the unix socket as soon as they read it.
    ports = []
    app.listen(AppListenOptions(port=0, host="127.0.0.1"), lambda config: ports.append(config.port))
    app.listen(AppListenOptions(domain=unix_path), lambda config: ports.append(config.domain))
    print("LISTENING %d" % ports[0], flush=True)
    print("UNIX %s" % ports[1], flush=True)
    app.run()
    print("RUN_RETURNED", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
