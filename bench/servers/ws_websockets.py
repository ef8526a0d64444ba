"""WebSocket server on the `websockets` library (asyncio API) with uvloop.

usage: python ws_websockets.py PORT MODE [SIZE]     MODE: echo | fanout | fanout_z

echo:      `async for message in ws: await ws.send(message)` (str comes
           back as a text frame, bytes as binary)
fanout:    /sub joins a set for its lifetime; each message on /pub calls
           websockets' broadcast(subscribers, PAYLOAD)
fanout_z:  the same with compression="deflate" (websockets' own
           permessage-deflate, one compression context per connection, so
           broadcast compresses the message once per subscriber)
Without compression the server refuses the deflate offer (compression=None).
"""
import asyncio

import uvloop
from websockets.asyncio.server import broadcast, serve

from _ws_common import (HOST, announce, mode_from_argv, payload, port_from_argv,
                        raise_fd_limit, size_from_argv)


async def main():
    port = port_from_argv()
    mode = mode_from_argv()
    size = size_from_argv()
    raise_fd_limit()
    data = payload(size)
    subscribers = set()

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def fanout(ws):
        path = ws.request.path
        if path == "/sub":
            subscribers.add(ws)
            try:
                await ws.wait_closed()
            finally:
                subscribers.discard(ws)
        elif path == "/pub":
            async for _ in ws:
                broadcast(subscribers, data)
        else:
            await ws.close(1008, "unknown path")

    handler = echo if mode == "echo" else fanout
    compression = "deflate" if mode == "fanout_z" else None
    # max_size: like the socketify apps' 64 KiB echo limit; the default
    # max_queue and ping settings are kept.
    async with serve(handler, HOST, port, compression=compression, max_size=64 * 1024,
                     backlog=1024) as server:
        announce("websockets", port, mode, size)
        await server.serve_forever()


if __name__ == "__main__":
    # SIGTERM keeps its default action (end the process at once).
    uvloop.run(main())
