"""WebSocket and pub/sub test server (tests/test_websocket.py, tests/test_pubsub.py).

python tests/apps/ws_app.py

Routes:
  /echo             echo with the same opcode (max_payload_length 64 KiB)
  /small            echo, max_payload_length 1024
  /shared           echo compressed, shared compressor and decompressor
  /dedicated        echo compressed, dedicated compressor and decompressor
  /chat             text commands as JSON (subscribe, publish, end, close, ...)
  /async-upgrade    the upgrade handler awaits before res.upgrade (preserved request)
  /idle             idle_timeout 8 s with automatic pings
  /idle-noping      idle_timeout 8 s without pings
  /bp               max_backpressure 64 KiB: {"flood": n} sends n x 16 KiB
  /bp-close         the same with close_on_backpressure_limit
  /proto            subprotocol echo
  /lifetime         max_lifetime 1 minute
  GET /events       what the handlers saw, as JSON; POST /reset clears it
  GET /publish?topic=t&msg=m   app.publish from an HTTP handler
"""

import asyncio
import json
import sys

from socketify_cy import App, AppListenOptions, CompressOptions, OpCode, SendStatus

events = []


def log(*item):
    events.append(list(item))


def echo_message(ws, message, opcode):
    ws.send(message, opcode)


def echo_compressed(ws, message, opcode):
    ws.send(message, opcode, True)


def chat_open(ws):
    log("open", ws.get_user_data())


def chat_close(ws, code, message):
    log("close", code, message.decode("utf-8", "replace"))


def chat_subscription(ws, topic, new_count, old_count):
    log("subscription", topic, new_count, old_count)


async def send_after_await(ws, n):
    await asyncio.sleep(0.01)
    app = ws_app_ref[0]
    before = app.stats()["send_syscalls"]
    for i in range(n):
        ws.send("m%d" % i, OpCode.TEXT)
    await asyncio.sleep(0.05)
    ws.send(json.dumps({"syscalls": app.stats()["send_syscalls"] - before}), OpCode.TEXT)


async def chat_message(ws, message, opcode):
    cmd = json.loads(message)
    op = cmd.get("op")
    if op == "sub":
        ws.send(json.dumps({"subscribed": ws.subscribe(cmd["topic"])}), OpCode.TEXT)
    elif op == "unsub":
        ws.send(json.dumps({"unsubscribed": ws.unsubscribe(cmd["topic"])}), OpCode.TEXT)
    elif op == "is":
        ws.send(json.dumps({"is": ws.is_subscribed(cmd["topic"])}), OpCode.TEXT)
    elif op == "topics":
        ws.send(json.dumps({"topics": ws.get_topics()}), OpCode.TEXT)
    elif op == "pub":
        ok = ws.publish(cmd["topic"], cmd["msg"], OpCode.TEXT, cmd.get("compress", False))
        ws.send(json.dumps({"published": ok}), OpCode.TEXT)
    elif op == "apub":
        ok = ws_app_ref[0].publish(cmd["topic"], cmd["msg"], OpCode.TEXT, cmd.get("compress", False))
        ws.send(json.dumps({"published": ok}), OpCode.TEXT)
    elif op == "count":
        ws.send(json.dumps({"count": ws_app_ref[0].num_subscribers(cmd["topic"])}), OpCode.TEXT)
    elif op == "end":
        ws.end(cmd["code"], cmd.get("reason"))
        log("after-end", ws.send("x"), ws.subscribe("late"), ws.get_buffered_amount())
    elif op == "close":
        ws.close()
    elif op == "thread":
        import threading
        caught = []

        def other():
            for call in (lambda: ws.send("x"), lambda: ws.subscribe("t"), lambda: ws.end()):
                try:
                    call()
                    caught.append(None)
                except RuntimeError as exc:
                    caught.append(type(exc).__name__)
        t = threading.Thread(target=other)
        t.start()
        t.join()
        ws.send(json.dumps({"thread": caught}), OpCode.TEXT)
    elif op == "ext":
        ws.hits += 1
        ws.send(json.dumps({"ext": ws.shout("hi"), "hits": ws.hits}), OpCode.TEXT)
    elif op == "user":
        ws.send(json.dumps({"user": ws.get_user_data()}), OpCode.TEXT)
    elif op == "addr":
        ws.send(json.dumps({"addr": ws.get_remote_address()}), OpCode.TEXT)
    elif op == "many":
        await send_after_await(ws, cmd["n"])
    elif op == "cork":
        ws.cork(lambda w: [w.send("c%d" % i, OpCode.TEXT) for i in range(3)])
    elif op == "fragments":
        ws.send_first_fragment("ab", OpCode.TEXT)
        ws.send_fragment("cd")
        ws.send_last_fragment("ef")
    elif op == "raise":
        raise RuntimeError("deliberate-ws-error")
    elif op == "flood-pub":
        for i in range(cmd["n"]):
            ws_app_ref[0].publish(cmd["topic"], ("%d:" % i).encode() + b"x" * cmd["size"])
        ws.send(json.dumps({"flooded": cmd["n"]}), OpCode.TEXT)
    elif op == "later-pub":
        async def later():
            await asyncio.sleep(0.05)
            ws_app_ref[0].publish(cmd["topic"], cmd["msg"], OpCode.TEXT)
        asyncio.get_running_loop().create_task(later())
    elif op == "direct-then-pub":
        # Publish then send directly: the subscriber must see the publish first.
        ws_app_ref[0].publish(cmd["topic"], "published", OpCode.TEXT)
        ws.send("direct", OpCode.TEXT)


async def async_upgrade(res, req, context):
    req.preserve()
    key = req.get_header("sec-websocket-key")
    protocol = req.get_header("sec-websocket-protocol")
    extensions = req.get_header("sec-websocket-extensions")
    await asyncio.sleep(0.02)
    res.upgrade(key, protocol, extensions, context, {"path": req.get_url(), "async": True})


def sync_upgrade_with_data(res, req, context):
    res.upgrade(req.get_header("sec-websocket-key"), req.get_header("sec-websocket-protocol"),
                req.get_header("sec-websocket-extensions"), context, {"path": req.get_url()})


bp_stats = {}


def bp_message(ws, message, opcode):
    cmd = json.loads(message)
    if "flood" in cmd:
        counts = {"SUCCESS": 0, "BACKPRESSURE": 0, "DROPPED": 0}
        chunk = b"x" * 16384
        for _ in range(cmd["flood"]):
            counts[SendStatus(ws.send(chunk)).name] += 1
        bp_stats["counts"] = counts
        bp_stats["buffered"] = ws.get_buffered_amount()


def bp_drain(ws):
    bp_stats["drained"] = bp_stats.get("drained", 0) + 1


def bp_dropped(ws, message, opcode):
    bp_stats["dropped_events"] = bp_stats.get("dropped_events", 0) + 1


def bp_close(ws, code, message):
    bp_stats["closed"] = code


ws_app_ref = []


def extension(request, response, websocket):
    @websocket.method
    def shout(self, text):
        return text.upper()

    websocket.property("hits", 0)


def build():
    app = App()
    ws_app_ref.append(app)
    app.register(extension)
    app.ws("/echo", {"message": echo_message, "max_payload_length": 64 * 1024})
    app.ws("/small", {"message": echo_message, "max_payload_length": 1024})
    app.ws("/shared", {"message": echo_compressed, "max_payload_length": 64 * 1024,
                       "compression": CompressOptions.SHARED_COMPRESSOR | CompressOptions.SHARED_DECOMPRESSOR})
    app.ws("/dedicated", {"message": echo_compressed, "max_payload_length": 64 * 1024,
                          "compression": CompressOptions.DEDICATED_COMPRESSOR
                          | CompressOptions.DEDICATED_DECOMPRESSOR})
    app.ws("/chat", {"open": chat_open, "message": chat_message, "close": chat_close,
                     "subscription": chat_subscription, "upgrade": sync_upgrade_with_data,
                     "dropped": lambda ws, message, opcode: log("dropped", len(message)),
                     "compression": CompressOptions.SHARED_COMPRESSOR | CompressOptions.SHARED_DECOMPRESSOR})
    # /chat with room for a fast reader's bursts (test_a_slow_subscriber_...)
    app.ws("/fan", {"message": chat_message, "max_backpressure": 1024 * 1024,
                    "dropped": lambda ws, message, opcode: log("dropped", len(message))})
    app.ws("/async-upgrade", {"upgrade": async_upgrade, "open": chat_open, "message": chat_message,
                              "close": chat_close})
    app.ws("/idle", {"message": echo_message, "idle_timeout": 8, "send_pings_automatically": True,
                     "close": chat_close})
    app.ws("/idle-noping", {"message": echo_message, "idle_timeout": 8, "send_pings_automatically": False,
                            "close": chat_close})
    app.ws("/bp", {"message": bp_message, "drain": bp_drain, "dropped": bp_dropped, "close": bp_close,
                   "max_backpressure": 64 * 1024})
    app.ws("/bp-close", {"message": bp_message, "close": bp_close, "dropped": bp_dropped,
                         "max_backpressure": 64 * 1024, "close_on_backpressure_limit": True})
    app.ws("/lifetime", {"message": echo_message, "max_lifetime": 1, "close": chat_close})
    app.ws("/proto", {"open": lambda ws: ws.send(ws.get_extensions(), OpCode.TEXT)})

    def get_events(res, req):
        res.end(json.dumps({"events": events, "bp": bp_stats, "stats": app.stats()}))

    def reset(res, req):
        events.clear()
        bp_stats.clear()
        res.end("ok")

    def http_publish(res, req):
        ok = app.publish(req.get_query("topic"), req.get_query("msg"), OpCode.TEXT)
        res.end(json.dumps(ok))

    app.get("/events", get_events)
    app.post("/reset", reset)
    app.get("/publish", http_publish)
    app.get("/plain", lambda res, req: res.end("plain http"))
    return app


def main():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    app = build()
    app.listen(AppListenOptions(port=0, host="127.0.0.1"),
               lambda config: print("LISTENING %d" % config.port, flush=True))
    app.run()


if __name__ == "__main__":
    main()
