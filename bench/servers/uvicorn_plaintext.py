"""Plaintext server: raw ASGI app on uvicorn (uvloop + httptools, 1 process).

usage: python uvicorn_plaintext.py PORT [HANDLER]

HANDLER (also $BENCH_HANDLER): `sync` sends at once; `async_end` first does
`await asyncio.sleep(0)` (one suspension, like the socketify async variants).
ASGI has no cork, so `async_cork_end` is not offered (it would be the same
app as async_end).

With $BENCH_TLS_CERT and $BENCH_TLS_KEY set (run.py --tls), uvicorn serves
HTTPS (ssl_certfile / ssl_keyfile, uvicorn's default SSL settings).
"""
import asyncio

from _common import BODY, HOST, announce, handler_from_argv, port_from_argv, tls_files

SUPPORTED = ("sync", "async_end")

START = {
    "type": "http.response.start",
    "status": 200,
    # Content-Length is given explicitly: without it uvicorn falls back to
    # chunked transfer encoding, which would not be comparable.
    "headers": [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
BODY_MSG = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send(START)
    await send(BODY_MSG)


async def app_async_end(scope, receive, send):
    if scope["type"] != "http":
        return
    await asyncio.sleep(0)
    await send(START)
    await send(BODY_MSG)


APPS = {"sync": app, "async_end": app_async_end}


if __name__ == "__main__":
    import uvicorn

    port = port_from_argv()
    variant = handler_from_argv(SUPPORTED)
    tls = tls_files()
    announce(f"uvicorn handler={variant}", port, tls=bool(tls))
    ssl_args = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
    # uvicorn installs SIGTERM/SIGINT handlers and shuts down gracefully.
    uvicorn.run(
        APPS[variant],
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
        workers=1,
        **ssl_args,
    )
