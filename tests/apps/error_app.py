"""Server with a custom error handler.

python tests/apps/error_app.py             -> app.set_error_handler(handler)
python tests/apps/error_app.py decorator   -> @app.on_error
"""

import asyncio
import sys

from socketify_cy import App, AppListenOptions


def build(use_decorator):
    app = App()

    def on_error(error, res, req):
        if str(error) == "handler-fails":
            raise RuntimeError("deliberate-handler-fails")
        if res is not None and not res.has_responded():
            res.write_status(503).end("handled:%s:%s" % (type(error).__name__, error))

    if use_decorator:
        registered = app.on_error(on_error)
        # a decorator must hand the function back
        assert registered is on_error, registered
    else:
        app.set_error_handler(on_error)

    def raise_sync(res, req):
        raise ValueError("boom-sync")

    async def raise_pre_await(res, req):
        raise ValueError("boom-pre-await")

    async def raise_async(res, req):
        await asyncio.sleep(0.01)
        raise ValueError("boom-async")

    def handler_fails(res, req):
        raise ValueError("handler-fails")

    app.get("/raise", raise_sync)
    app.get("/raise-pre-await", raise_pre_await)
    app.get("/raise-async", raise_async)
    app.get("/handler-fails", handler_fails)
    app.get("/ok", lambda res, req: res.end("ok"))
    return app


def main():
    app = build(len(sys.argv) > 1 and sys.argv[1] == "decorator")
    app.listen(AppListenOptions(port=0, host="127.0.0.1"),
               lambda config: print("LISTENING %d" % config.port, flush=True))
    app.run()


if __name__ == "__main__":
    main()
