"""Response calls for streaming at the client's pace: send_chunk, pause /
resume, write_continue, write_offset, on_writable via trigger_writable_handler.

python tests/apps/stream_app.py
"""

import asyncio
import json

from socketify_cy import App

BLOCK = 64 * 1024


def main():
    app = App()

    async def send_chunk(res, req):
        # A large body in 64 KiB pieces, each awaited: memory stays one piece.
        total = int(req.get_query("mib") or "8") * 1024 * 1024
        block = bytearray(BLOCK)
        sent = 0
        waits = 0
        while sent < total:
            block[:8] = (sent // BLOCK).to_bytes(8, "big")
            ok, done = await res.send_chunk(bytes(block), total)
            waits += 0 if ok else 1
            if done and sent + BLOCK < total:
                return  # aborted
            sent += BLOCK

    def pause_body(res, req):
        loop = asyncio.get_running_loop()
        seen = {"n": 0}
        res.pause()

        def on_data(res, chunk, is_end):
            seen["n"] += len(chunk)
            if is_end:
                res.end(json.dumps({"while_paused": seen["paused"], "total": seen["n"]}))

        def resume():
            seen["paused"] = seen["n"]
            res.resume()

        res.on_data(on_data)
        res.on_aborted(lambda r: None)
        loop.call_later(0.4, resume)

    def write_continue(res, req):
        res.write_continue()
        res.end("after-continue")

    def offset(res, req):
        before = res.get_write_offset()
        res.write_offset(5)
        res.end(json.dumps([before, res.get_write_offset()]))

    def writable_handler(res, req):
        calls = []
        res.on_writable(lambda r, off: calls.append(off) or True)
        r = res.trigger_writable_handler(7)
        res.end(json.dumps([r, calls]))

    app.get("/send-chunk", send_chunk)
    app.post("/pause-body", pause_body)
    app.post("/write-continue", write_continue)
    app.get("/offset", offset)
    app.get("/writable", writable_handler)
    app.listen({"port": 0, "host": "127.0.0.1"}, lambda c: print("LISTENING %d" % c.port, flush=True))
    app.run()


if __name__ == "__main__":
    main()
