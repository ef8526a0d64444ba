"""Graceful shutdown (tests/test_shutdown.py).

python tests/apps/shutdown_app.py SHUTDOWN_TIMEOUT [ERROR_LOG_LIMIT ERROR_LOG_WINDOW]
"""

import asyncio
import sys

from socketify_cy import App, AppListenOptions


def main():
    timeout = float(sys.argv[1])
    log_args = {}
    if len(sys.argv) > 3:
        log_args = {"error_log_limit": int(sys.argv[2]), "error_log_window": float(sys.argv[3])}
    app = App(shutdown_timeout=timeout, **log_args)

    async def slow(res, req):
        await asyncio.sleep(0.8)
        print("SLOW_DONE", flush=True)
        res.end("slow done")

    async def never(res, req):
        res.on_aborted(lambda r: print("NEVER_ABORTED", flush=True))
        await asyncio.sleep(60)
        res.end("too late")

    def fail(res, req):
        raise ValueError("deliberate-fail")

    app.get("/", lambda res, req: res.end("hello"))
    app.get("/slow", slow)
    app.get("/never", never)
    app.get("/fail", fail)
    app.get("/close", lambda res, req: (res.end("closing"), app.close()))

    @app.on_shutdown
    async def stopped():
        await asyncio.sleep(0)
        print("SHUTDOWN_HOOK", flush=True)

    app.listen(AppListenOptions(port=0, host="127.0.0.1"),
               lambda config: print("LISTENING %d" % config.port, flush=True))
    app.run()
    print("RUN_RETURNED", flush=True)


if __name__ == "__main__":
    main()
