"""WebSockets against a real server (tests/apps/ws_app.py) with the websockets
and aiohttp clients, and raw sockets for what a polite client never sends."""

import asyncio
import base64
import json
import os
import socket
import struct
import time

import aiohttp
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed





def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url(srv, path):
    return "ws://127.0.0.1:%d%s" % (srv.port, path)


def events(srv):
    return srv.get("/events").json()


# ---- raw helpers -------------------------------------------------------------------------

KEY = base64.b64encode(b"0123456789abcdef").decode()


def handshake(port, path="/echo", extra=b"", headers=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    hdrs = headers if headers is not None else {
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": KEY,
        "Sec-WebSocket-Version": "13"}
    req = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, "".join("%s: %s\r\n" % kv for kv in hdrs.items()))
    s.sendall(req.encode() + extra)
    return s


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


def frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload) if length is None else length
    if n < 126:
        hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
    if not mask:
        return hdr + payload
    key = os.urandom(4)
    return hdr + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(s, buf=b""):
    def need(n):
        nonlocal buf
        while len(buf) < n:
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("closed with %d bytes buffered" % len(buf))
            buf += chunk
    need(2)
    b0, b1 = buf[0], buf[1]
    n = b1 & 0x7F
    off = 2
    if n == 126:
        need(4)
        n = struct.unpack("!H", buf[2:4])[0]
        off = 4
    elif n == 127:
        need(10)
        n = struct.unpack("!Q", buf[2:10])[0]
        off = 10
    need(off + n)
    return (b0 & 0x0F, bool(b0 & 0x80), buf[off:off + n]), buf[off + n:]


def expect_close(s, code, rest=b""):
    (op, fin, payload), rest = read_frame(s, rest)
    assert op == 8, (op, payload)
    assert struct.unpack("!H", payload[:2])[0] == code, payload
    return payload


# ---- echo and the handshake ------------------------------------------------------------------

def test_echo_text_and_binary(wsrv):
    async def main():
        async with connect(url(wsrv, "/echo"), compression=None) as ws:
            await ws.send("héllo")
            assert await ws.recv() == "héllo"
            await ws.send(b"\x00\x01\xff")
            assert await ws.recv() == b"\x00\x01\xff"
            big = os.urandom(60000)
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send("")
            assert await ws.recv() == ""
    run(main())


def test_fragments_both_ways(wsrv):
    async def main():
        async with connect(url(wsrv, "/echo"), compression=None) as ws:
            await ws.send(["frag", "mented ", "tëxt"])
            assert await ws.recv() == "fragmented tëxt"
            await ws.send([b"a" * 10, b"b" * 70000 if False else b"b" * 20])
            assert await ws.recv() == b"a" * 10 + b"b" * 20
        async with connect(url(wsrv, "/chat"), compression=None) as ws:
            await ws.send(json.dumps({"op": "fragments"}))
            assert await ws.recv() == "abcdef"
    run(main())


def test_aiohttp_client_echo_ping_pong_and_close_code(wsrv):
    async def main():
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url(wsrv, "/echo"), autoping=False) as ws:
                await ws.send_str("via aiohttp")
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT and msg.data == "via aiohttp"
                await ws.ping(b"are you there")
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.PONG and msg.data == b"are you there"
                await ws.close(code=4001, message=b"bye")
                assert ws.close_code == 4001
    run(main())


def test_close_code_and_reason_from_client_reach_the_handler(wsrv):
    wsrv.http("POST", "/reset")

    async def main():
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.close(4002, "see you")
    run(main())
    deadline = time.time() + 3
    while time.time() < deadline and not any(e[0] == "close" for e in events(wsrv)["events"]):
        time.sleep(0.05)
    assert ["close", 4002, "see you"] in events(wsrv)["events"]


def test_server_end_sends_code_and_reason_and_then_nothing_works(wsrv):
    wsrv.http("POST", "/reset")

    async def main():
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.send(json.dumps({"op": "end", "code": 4100, "reason": "done here"}))
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 4100 and info.value.rcvd.reason == "done here"
    run(main())
    ev = events(wsrv)["events"]
    assert ["close", 4100, "done here"] in ev
    # After end(): send -> DROPPED (2), subscribe -> False, nothing buffered.
    assert ["after-end", 2, False, 0] in ev


def test_server_close_is_abrupt_1006(wsrv):
    wsrv.http("POST", "/reset")

    async def main():
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.send(json.dumps({"op": "close"}))
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd is None  # no close frame
    run(main())
    time.sleep(0.1)
    assert ["close", 1006, ""] in events(wsrv)["events"]


def test_invalid_handshakes_stay_http(wsrv):
    port = wsrv.port
    base = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": KEY,
            "Sec-WebSocket-Version": "13"}
    cases = [
        ({k: v for k, v in base.items() if k != "Sec-WebSocket-Key"}, "400"),
        (dict(base, **{"Sec-WebSocket-Key": "short"}), "400"),
        (dict(base, **{"Sec-WebSocket-Key": base64.b64encode(b"x" * 17).decode()}), "400"),
        ({k: v for k, v in base.items() if k != "Upgrade"}, "400"),
        (dict(base, Upgrade="h2c"), "400"),
        (dict(base, Connection="keep-alive"), "400"),
        (dict(base, **{"Sec-WebSocket-Version": "8"}), "426"),
    ]
    for hdrs, status in cases:
        s = handshake(port, "/echo", headers=hdrs)
        head, _ = read_head(s)
        assert head.split()[1] == status, (hdrs, head)
        if status == "426":
            assert "Sec-WebSocket-Version: 13" in head
        # Still HTTP: a second request on the same connection is answered.
        s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
        head2, body = read_head(s)
        assert head2.startswith("HTTP/1.1 200"), head2
        s.close()


def test_accept_key_and_subprotocol(wsrv):
    s = handshake(wsrv.port, "/proto", headers={
        "Upgrade": "websocket", "Connection": "keep-alive, Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": "chat, superchat"})
    head, rest = read_head(s)
    assert head.startswith("HTTP/1.1 101 ")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
    assert "Sec-WebSocket-Protocol: chat\r\n" in head + "\r\n"
    assert "Sec-WebSocket-Extensions" not in head  # /proto has no compression
    (op, fin, payload), rest = read_frame(s, rest)
    assert (op, payload) == (1, b"")
    s.close()


def test_frames_right_after_the_upgrade_request_are_not_lost(wsrv):
    s = handshake(wsrv.port, "/echo", extra=frame(1, b"early bird") + frame(2, b"\x01\x02"))
    head, rest = read_head(s)
    assert head.startswith("HTTP/1.1 101")
    (op, fin, payload), rest = read_frame(s, rest)
    assert (op, payload) == (1, b"early bird")
    (op, fin, payload), rest = read_frame(s, rest)
    assert (op, payload) == (2, b"\x01\x02")
    s.close()


def test_async_upgrade_with_preserved_request_and_user_data(wsrv):
    async def main():
        async with connect(url(wsrv, "/async-upgrade?x=1")) as ws:
            await ws.send(json.dumps({"op": "user"}))
            assert json.loads(await ws.recv()) == {"user": {"path": "/async-upgrade", "async": True}}
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.send(json.dumps({"op": "user"}))
            assert json.loads(await ws.recv()) == {"user": {"path": "/chat"}}
            await ws.send(json.dumps({"op": "addr"}))
            assert json.loads(await ws.recv()) == {"addr": "127.0.0.1"}
    run(main())


def test_websocket_methods_from_another_thread_raise(wsrv):
    async def main():
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.send(json.dumps({"op": "thread"}))
            assert json.loads(await ws.recv()) == {"thread": ["RuntimeError"] * 3}
            await ws.send(json.dumps({"op": "user"}))  # still open and working
            assert "user" in json.loads(await ws.recv())
    run(main())


def test_websocket_extension_methods_and_properties(wsrv):
    async def main():
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.send(json.dumps({"op": "ext"}))
            assert json.loads(await ws.recv()) == {"ext": "HI", "hits": 1}
            await ws.send(json.dumps({"op": "ext"}))
            assert json.loads(await ws.recv()) == {"ext": "HI", "hits": 2}
        async with connect(url(wsrv, "/chat")) as ws:  # per-object property
            await ws.send(json.dumps({"op": "ext"}))
            assert json.loads(await ws.recv()) == {"ext": "HI", "hits": 1}
    run(main())


# ---- protocol violations: each closes with the RFC's code ------------------------------------------

@pytest.mark.parametrize("name,frames,code", [
    ("unmasked", [frame(1, b"hi", mask=False)], 1002),
    ("rsv1 without compression", [frame(1, b"hi", rsv=4)], 1002),
    ("rsv2", [frame(2, b"hi", rsv=2)], 1002),
    ("reserved opcode 3", [frame(3, b"")], 1002),
    ("reserved opcode 11", [frame(11, b"")], 1002),
    ("fragmented ping", [frame(9, b"", fin=False)], 1002),
    ("ping over 125", [frame(9, b"x" * 126)], 1002),
    ("continuation first", [frame(0, b"x")], 1002),
    ("new message inside a fragmented one", [frame(1, b"a", fin=False), frame(2, b"b")], 1002),
    ("invalid utf-8 text", [frame(1, b"\xff\xfe")], 1007),
    ("invalid utf-8 across fragments", [frame(1, b"\xe2\x82", fin=False), frame(0, b"\x28")], 1007),
    ("close with 1 byte", [frame(8, b"\x03")], 1002),
    ("close with invalid code", [frame(8, struct.pack("!H", 1005))], 1002),
    ("close with invalid utf-8 reason", [frame(8, struct.pack("!H", 1000) + b"\xff")], 1002),
    ("too big", [frame(2, b"x" * 70000)], 1009),
])
def test_protocol_violations_close_with_the_right_code(wsrv, name, frames, code):
    s = handshake(wsrv.port, "/echo")
    head, rest = read_head(s)
    assert head.startswith("HTTP/1.1 101")
    s.sendall(b"".join(frames))
    expect_close(s, code, rest)
    s.close()


def test_oversize_fragmented_message_is_1009(wsrv):
    s = handshake(wsrv.port, "/small")
    head, rest = read_head(s)
    s.sendall(frame(2, b"x" * 600, fin=False) + frame(0, b"y" * 600))
    expect_close(s, 1009, rest)
    s.close()


def test_close_handshake_echoes_the_code(wsrv):
    s = handshake(wsrv.port, "/echo")
    head, rest = read_head(s)
    s.sendall(frame(8, struct.pack("!H", 1000) + b"bye"))
    payload = expect_close(s, 1000, rest)
    assert payload[:2] == struct.pack("!H", 1000)
    # Then the server closes the TCP connection.
    s.settimeout(5)
    assert s.recv(10) == b""
    s.close()


def test_control_frames_between_fragments(wsrv):
    s = handshake(wsrv.port, "/echo")
    head, rest = read_head(s)
    s.sendall(frame(1, b"one ", fin=False) + frame(9, b"p") + frame(0, b"two"))
    (op, fin, payload), rest = read_frame(s, rest)
    assert (op, payload) == (10, b"p")
    (op, fin, payload), rest = read_frame(s, rest)
    assert (op, payload) == (1, b"one two")
    s.close()


def test_frames_split_at_every_byte_arrive_whole(wsrv):
    s = handshake(wsrv.port, "/echo")
    head, rest = read_head(s)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = frame(1, "split ✓".encode()) + frame(2, bytes(range(200)))
    for i in range(len(data)):
        s.sendall(data[i:i + 1])
        time.sleep(0.001)
    (op, fin, payload), rest = read_frame(s, rest)
    assert (op, payload) == (1, "split ✓".encode())
    (op, fin, payload), rest = read_frame(s, rest)
    assert (op, payload) == (2, bytes(range(200)))
    s.close()


# ---- errors in handlers never stop the server -------------------------------------------------------

def test_exception_in_handler_goes_to_error_handler_and_server_lives(wsrv):
    async def main():
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.send(json.dumps({"op": "raise"}))
            await ws.send(json.dumps({"op": "user"}))
            assert "user" in json.loads(await ws.recv())
    run(main())
    assert "deliberate-ws-error" in wsrv.stderr_text()
    assert wsrv.get("/plain").text == "plain http"


# ---- corking and coalescing -----------------------------------------------------------------------------

def test_cork_sends_in_one_write(wsrv):
    async def main():
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.send(json.dumps({"op": "cork"}))
            assert [await ws.recv() for _ in range(3)] == ["c0", "c1", "c2"]
    run(main())


def test_hundred_sends_after_an_await_leave_in_few_syscalls(wsrv):
    async def main():
        async with connect(url(wsrv, "/chat")) as ws:
            await ws.send(json.dumps({"op": "many", "n": 100}))
            got = [await ws.recv() for _ in range(100)]
            assert got == ["m%d" % i for i in range(100)]
            return json.loads(await ws.recv())["syscalls"]
    syscalls = run(main())
    assert syscalls <= 2, syscalls


# ---- compression ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/shared", "/dedicated"])
def test_compression_negotiated_and_used(wsrv, path):
    async def main():
        async with connect(url(wsrv, path)) as ws:  # websockets offers permessage-deflate
            ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ext.startswith("permessage-deflate"), ext
            for i in range(5):
                text = ("compress me %d " % i) * 200
                await ws.send(text)
                assert await ws.recv() == text
            blob = os.urandom(1000)
            await ws.send(blob)
            assert await ws.recv() == blob
    run(main())


def test_compressed_frames_are_really_compressed(wsrv):
    s = handshake(wsrv.port, "/shared", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"})
    head, rest = read_head(s)
    assert "Sec-WebSocket-Extensions: permessage-deflate" in head
    import zlib
    text = b"aaaaaaaaaa" * 500
    c = zlib.compressobj(wbits=-15)
    body = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
    s.sendall(frame(1, body[:-4], rsv=4))
    (op, fin, payload), rest = read_frame(s, rest)
    # The echo comes back compressed (RSV1 is checked via the small size).
    assert op == 1 and len(payload) < 100
    d = zlib.decompressobj(wbits=-15)
    assert d.decompress(payload + b"\x00\x00\xff\xff") == text
    s.close()


def test_zip_bomb_is_1009_without_inflating_it(wsrv):
    s = handshake(wsrv.port, "/shared", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions": "permessage-deflate"})
    head, rest = read_head(s)
    import zlib
    c = zlib.compressobj(wbits=-15)
    bomb = c.compress(b"\0" * (50 * 1024 * 1024)) + c.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 64 * 1024
    s.sendall(frame(2, bomb[:-4], rsv=4))
    expect_close(s, 1009, rest)
    s.close()


# ---- timeouts -------------------------------------------------------------------------------------------------

@pytest.mark.timeout(40)
def test_idle_timeout_pings_first_and_a_live_client_stays(wsrv):
    async def main():
        # websockets answers pings automatically: the connection survives
        # well past idle_timeout (8 s) without any message.
        async with connect(url(wsrv, "/idle"), ping_interval=None) as ws:
            await asyncio.sleep(10)
            await ws.send("still here")
            assert await ws.recv() == "still here"
    run(main(), timeout=30)


@pytest.mark.timeout(90)
def test_max_lifetime_ends_the_connection_with_please_reconnect(wsrv):
    # uSockets' long timeout ticks once a minute: a 1-minute lifetime ends at
    # the next minute tick of the route's context, within 60 s (+ one 4 s sweep).
    async def main():
        async with connect(url(wsrv, "/lifetime")) as ws:
            t0 = time.monotonic()
            await ws.send("alive")
            assert await ws.recv() == "alive"
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 70)
            assert info.value.rcvd.code == 1000 and info.value.rcvd.reason == "please reconnect"
            return time.monotonic() - t0
    assert run(main(), timeout=80) <= 66


@pytest.mark.timeout(40)
def test_idle_timeout_closes_a_silent_client(wsrv):
    s = handshake(wsrv.port, "/idle-noping")
    head, rest = read_head(s)
    t0 = time.time()
    s.settimeout(20)
    data = rest
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    assert 6 <= time.time() - t0 <= 15
    s.close()


# ---- app.ws() settings are checked when the route is added ------------------------------------------------

@pytest.mark.parametrize("behavior,exc", [
    ({"idle_timeout": 1}, ValueError),
    ({"idle_timeout": 7}, ValueError),
    ({"max_payload_length": -1}, ValueError),
    ({"max_backpressure": -5}, ValueError),
    ({"max_lifetime": 241}, ValueError),
    ({"compression": 3}, ValueError),
    ({"compression": 0x10000}, ValueError),
    ({"idle_timout": 10}, ValueError),   # unknown key (typo)
    ({"message": "not callable"}, TypeError),
    ({"idle_timeout": "ten"}, TypeError),
])
def test_invalid_ws_settings_raise_from_app_ws(behavior, exc):
    from socketify_cy import App
    app = App()
    try:
        with pytest.raises(exc):
            app.ws("/ws", behavior)
        with pytest.raises(TypeError):
            app.ws("/ws", None)
    finally:
        app.dispose()


def test_valid_ws_settings_including_long_idle_timeout():
    from socketify_cy import App, CompressOptions
    app = App()
    try:
        app.ws("/a", {"idle_timeout": 0})
        app.ws("/b", {"idle_timeout": 8, "max_lifetime": 240})
        app.ws("/c", {"idle_timeout": 3600})  # past uSockets' 960 s: chained timers
        for opt in CompressOptions:
            app.ws("/d%d" % opt, {"compression": opt})
        app.ws("/e", {"compression": CompressOptions.DEDICATED_COMPRESSOR_8KB
                      | CompressOptions.DEDICATED_DECOMPRESSOR_2KB})
    finally:
        app.dispose()


# ---- negotiation answers and shutdown ---------------------------------------------------------------------

@pytest.mark.parametrize("path,offer,answer", [
    ("/shared", "permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
    ("/dedicated", "permessage-deflate; server_no_context_takeover; client_max_window_bits",
     "permessage-deflate; server_no_context_takeover"),
    ("/dedicated", "permessage-deflate; client_max_window_bits=10", "permessage-deflate; client_max_window_bits=10"),
    ("/dedicated", "permessage-deflate; server_max_window_bits=7", None),        # invalid offer: declined
    ("/dedicated", "x-webkit-deflate-frame", None),
    ("/echo", "permessage-deflate", None),                                        # no compression configured
])
def test_permessage_deflate_answers(wsrv, path, offer, answer):
    s = handshake(wsrv.port, path, headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": KEY, "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Extensions": offer})
    head, rest = read_head(s)
    assert head.startswith("HTTP/1.1 101")
    got = [line.split(": ", 1)[1] for line in head.split("\r\n") if line.lower().startswith("sec-websocket-extensions:")]
    assert got == ([answer] if answer else []), head
    s.close()


def test_shutdown_sends_going_away_and_waits_for_the_close_handshake(launch):
    from conftest import stderr_problems
    srv = launch("ws_app")

    async def main():
        async with connect(url(srv, "/echo")) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            srv.proc.send_signal(__import__("signal").SIGTERM)
            with pytest.raises(ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.code == 1001
            assert info.value.rcvd.reason == "server shutting down"
    run(main())
    launch.forget(srv)
    assert srv.proc.wait(10) == 0
    srv.kill()  # closes its stderr file
    assert stderr_problems(srv.stderr_text()) == []
