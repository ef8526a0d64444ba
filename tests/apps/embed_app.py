"""An App inside a loop it does not own: asyncio.run(main()) with listen(),
close() from a route, then wait_closed() (tests/test_shutdown.py)."""

import asyncio

from socketify_cy import App, AppListenOptions


async def main():
    app = App(shutdown_timeout=5)

    async def slow(res, req):
        await asyncio.sleep(0.5)
        res.end("slow done")

    app.get("/slow", slow)
    app.get("/close", lambda res, req: (res.end("closing"), app.close()))

    @app.on_shutdown
    def stopped():
        print("SHUTDOWN_HOOK", flush=True)

    app.listen(AppListenOptions(port=0, host="127.0.0.1"),
               lambda config: print("LISTENING %d" % config.port, flush=True))
    await app.wait_closed()
    print("WAIT_CLOSED_RETURNED", flush=True)
    # The loop is still ours: it keeps running after the app closed.
    await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main())
    print("CLEAN_EXIT", flush=True)
