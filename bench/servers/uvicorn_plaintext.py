"""Plaintext server: raw ASGI app on uvicorn (uvloop + httptools, 1 process).

usage: python uvicorn_plaintext.py PORT        (or BENCH_PORT=... in env)
"""
from _common import BODY, HOST, announce, port_from_argv

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


if __name__ == "__main__":
    import uvicorn

    port = port_from_argv()
    announce("uvicorn", port)
    # uvicorn installs SIGTERM/SIGINT handlers and shuts down gracefully.
    uvicorn.run(
        app,
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
        workers=1,
    )
