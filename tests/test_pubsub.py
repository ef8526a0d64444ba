"""Pub/sub against a real server (tests/apps/ws_app.py): subscription events,
sender exclusion, fan-out order to 200 clients, publish/send interleaving, a
slow subscriber next to fast ones, and publishing from asyncio code."""

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect

from test_websocket import handshake, read_head, url  # noqa: F401  (shared raw helpers)




def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def cmd(ws, **kw):
    await ws.send(json.dumps(kw))
    return json.loads(await ws.recv())


def wait_events(srv, pred, timeout=3.0):
    deadline = time.time() + timeout
    while True:
        ev = srv.get("/events").json()["events"]
        if pred(ev) or time.time() > deadline:
            return ev
        time.sleep(0.05)


def test_subscription_events_counts_and_topics(wsrv):
    wsrv.http("POST", "/reset")

    async def main():
        async with connect(url(wsrv, "/chat")) as a, connect(url(wsrv, "/chat")) as b:
            assert await cmd(a, op="sub", topic="room") == {"subscribed": True}
            assert await cmd(a, op="sub", topic="room") == {"subscribed": True}  # already: still True
            assert await cmd(b, op="sub", topic="room") == {"subscribed": True}
            assert await cmd(a, op="count", topic="room") == {"count": 2}
            assert await cmd(a, op="sub", topic="other") == {"subscribed": True}
            assert await cmd(a, op="topics") == {"topics": ["room", "other"]}
            assert await cmd(a, op="is", topic="other") == {"is": True}
            assert await cmd(a, op="unsub", topic="other") == {"unsubscribed": True}
            assert await cmd(a, op="unsub", topic="other") == {"unsubscribed": False}
            assert await cmd(a, op="is", topic="other") == {"is": False}
        # both closed: the server saw them leave the topic
    run(main())
    ev = wait_events(wsrv, lambda e: sum(1 for x in e if x[0] == "close") >= 2)
    subs = [x[1:] for x in ev if x[0] == "subscription"]
    assert subs[:3] == [["room", 1, 0], ["room", 2, 1], ["other", 1, 0]]
    assert ["other", 0, 1] in subs
    assert ["room", 1, 2] in subs and ["room", 0, 1] in subs
    assert wsrv.get("/publish?topic=room&msg=x").json() is False  # nobody left


def test_ws_publish_excludes_the_sender_app_publish_does_not(wsrv):
    async def main():
        async with connect(url(wsrv, "/chat")) as a, connect(url(wsrv, "/chat")) as b:
            await cmd(a, op="sub", topic="t1")
            await cmd(b, op="sub", topic="t1")
            assert await cmd(a, op="pub", topic="t1", msg="from a") == {"published": True}
            assert await b.recv() == "from a"
            # a gets nothing but its own next answer
            assert await cmd(a, op="topics") == {"topics": ["t1"]}
            # app.publish from an HTTP handler reaches both
            assert (await asyncio.to_thread(wsrv.get, "/publish?topic=t1&msg=all")).json() is True
            assert await a.recv() == "all"
            assert await b.recv() == "all"
            # compressed publish (shared compressor on /chat); a is a subscriber
            # too: the publish reaches it before the direct answer sent after it
            await a.send(json.dumps({"op": "apub", "topic": "t1", "msg": "z" * 500, "compress": True}))
            assert await a.recv() == "z" * 500
            assert json.loads(await a.recv()) == {"published": True}
            assert await b.recv() == "z" * 500
    run(main())


def test_fan_out_to_200_clients_in_publish_order(wsrv):
    n_clients, n_msgs = 200, 30

    async def main():
        clients = []
        try:
            for i in range(n_clients):
                ws = await connect(url(wsrv, "/chat"), compression=None if i % 2 else "deflate")
                clients.append(ws)
            await asyncio.gather(*(cmd(ws, op="sub", topic="fan") for ws in clients))
            pub = clients[0]
            for i in range(n_msgs):
                await pub.send(json.dumps({"op": "apub", "topic": "fan", "msg": "m%d" % i}))

            async def collect(ws, is_pub):
                got = []
                while len(got) < n_msgs:
                    m = await ws.recv()
                    if m.startswith("{"):
                        assert is_pub  # the publisher's acks
                        continue
                    got.append(m)
                return got
            results = await asyncio.gather(*(collect(ws, i == 0) for i, ws in enumerate(clients)))
            want = ["m%d" % i for i in range(n_msgs)]
            assert all(r == want for r in results)
        finally:
            await asyncio.gather(*(ws.close() for ws in clients), return_exceptions=True)
    run(main(), timeout=60)


def test_published_message_comes_before_a_later_direct_send(wsrv):
    async def main():
        async with connect(url(wsrv, "/chat")) as a:
            await cmd(a, op="sub", topic="self")
            await a.send(json.dumps({"op": "direct-then-pub", "topic": "self"}))
            assert [await a.recv(), await a.recv()] == ["published", "direct"]
    run(main())


def test_publish_from_asyncio_code_outside_callbacks(wsrv):
    async def main():
        async with connect(url(wsrv, "/chat")) as a, connect(url(wsrv, "/chat")) as b:
            await cmd(b, op="sub", topic="late")
            await a.send(json.dumps({"op": "later-pub", "topic": "late", "msg": "from a task"}))
            assert await asyncio.wait_for(b.recv(), 3) == "from a task"
    run(main())


def test_a_slow_subscriber_never_blocks_the_others(wsrv):
    wsrv.http("POST", "/reset")
    # The slow one never reads: its queue fills to max_backpressure (1 MiB on /fan)
    # and the rest is dropped for it; the fast one gets every message.
    slow = handshake(wsrv.port, "/fan")
    head, rest = read_head(slow)
    assert head.startswith("HTTP/1.1 101")
    from test_websocket import frame
    slow.sendall(frame(1, json.dumps({"op": "sub", "topic": "flood"}).encode()))

    async def main():
        async with connect(url(wsrv, "/fan"), max_size=None) as fast:
            await cmd(fast, op="sub", topic="flood")
            await asyncio.sleep(0.2)
            # 50 rounds of 16 x 16 KiB (12.8 MiB in all: more than loopback
            # socket buffers hold), each read by the fast client before the next.
            for _ in range(50):
                await fast.send(json.dumps({"op": "flood-pub", "topic": "flood", "n": 16, "size": 16384}))
                got = []
                while len(got) < 16:
                    m = await asyncio.wait_for(fast.recv(), 10)
                    assert isinstance(m, bytes), m[:100]
                    got.append(int(m.split(b":")[0]))
                assert got == list(range(16))
                assert json.loads(await fast.recv()) == {"flooded": 16}

    try:
        run(main())
    finally:
        slow.close()
    # The server dropped, not buffered, what the slow reader did not take.
    dropped = [e for e in wsrv.get("/events").json()["events"] if e[0] == "dropped"]
    assert dropped and all(e[1] > 16384 for e in dropped)
