"""Listening on a unix socket, handlers that never answer, slow heads, and
shutdown on SIGTERM."""

import asyncio
import os
import signal
import socket
import tempfile
import time

import aiohttp
import pytest

FORGOTTEN = "returned without responding"


def _read_to_close(sock):
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


@pytest.fixture
def unix_path():
    d = tempfile.mkdtemp()
    yield os.path.join(d, "s.sock")


def test_unix_socket_listen(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])

    async def go():
        conn = aiohttp.UnixConnector(path=unix_path)
        async with aiohttp.ClientSession(connector=conn) as session:
            async with session.get("http://localhost/") as r:
                return r.status, await r.text()

    assert asyncio.run(go()) == (200, "hello over tcp")
    # HTTP/1.0 over the unix socket without Host: still served.
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(unix_path)
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    data = _read_to_close(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"hello over unix")
    assert srv.get("/").body == b"hello over tcp"


def test_handler_that_forgets_the_response_gets_500(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path], allow=(FORGOTTEN,))
    with srv.raw() as c:
        c.request("GET", "/forgotten")
        r = c.read_response()
        assert r.status == 500
        assert r.body == b"Internal Server Error"
        # The connection is still usable.
        c.request("GET", "/")
        assert c.read_response().status == 200
    assert FORGOTTEN in srv.stderr_text()


def test_kept_response_stays_pending_until_answered(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])
    with srv.raw() as waiting:
        waiting.send(b"GET /kept HTTP/1.1\r\nHost: x\r\n\r\n")
        waiting.sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            waiting.sock.recv(1)  # nothing yet: the handler kept the response
        waiting.sock.settimeout(5)
        assert srv.get("/answer-kept").body == b"answered 1"
        r = waiting.read_response()
        assert (r.status, r.body) == (200, b"answered later")


def test_sigterm_runs_shutdown_hooks_and_returns(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])
    assert srv.get("/").status == 200
    launch.forget(srv)
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=10) == 0
    if srv._drain is not None:
        srv._drain.join(5)
    out = "\n".join(srv.stdout_lines)
    assert "ON_START" in out and "ON_SHUTDOWN" in out and "RUN_RETURNED" in out
    assert out.index("ON_SHUTDOWN") < out.index("RUN_RETURNED")


def test_slow_clients_are_dropped_after_the_timeout(launch, unix_path):
    # Slow-loris defences (10 s, swept every 4 s: 8-12 s): a head that never
    # completes, and a body that stops coming after the handler answered early.
    srv = launch("lifecycle_app", args=[unix_path])
    head = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    head.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    body = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
    body.sendall(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" + b"z" * 10)
    start = time.monotonic()
    assert head.recv(1) == b""
    head_elapsed = time.monotonic() - start
    answer = b""
    while True:
        chunk = body.recv(4096)
        if not chunk:
            break
        answer += chunk
    body_elapsed = time.monotonic() - start
    head.close()
    body.close()
    assert answer.endswith(b"early")
    assert 6 <= head_elapsed <= 14, head_elapsed
    assert 6 <= body_elapsed <= 14, body_elapsed


def _rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _server_send_queue(server_port, client_port):
    """Bytes queued in the kernel on the server's side of this connection."""
    want_local = ":%04X" % server_port
    want_remote = ":%04X" % client_port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1].endswith(want_local) and fields[2].endswith(want_remote):
                return int(fields[4].split(":")[0], 16)
    return 0


def test_client_that_does_not_read_cannot_grow_server_memory(launch, unix_path):
    # 300 pipelined requests for 256 KiB each (75 MiB owed) from a client that
    # does not read: the server must stop reading instead of queueing it all,
    # then deliver every response, in order, once the client reads.
    srv = launch("lifecycle_app", args=[unix_path])
    n = 300
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    before = _rss_kib(srv.proc.pid)
    s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n" * n)
    # Wait until the server has filled the socket (it did answer, and the
    # client's side is full), then watch its memory for a while: it must stay
    # flat because the server stops, not because it is slow to start.
    deadline = time.monotonic() + 10
    while _server_send_queue(srv.port, s.getsockname()[1]) < 64 * 1024:
        assert time.monotonic() < deadline, "the server never filled the socket"
        time.sleep(0.05)
    grown = 0
    for _ in range(15):
        grown = max(grown, _rss_kib(srv.proc.pid) - before)
        time.sleep(0.1)
    assert grown < 16 * 1024, "server RSS grew by %d KiB for a client that does not read" % grown
    expected_body = 256 * 1024
    got = 0
    buf = b""
    deadline = time.monotonic() + 30
    while got < n and time.monotonic() < deadline:
        chunk = s.recv(1 << 20)
        assert chunk, "server closed after %d responses" % got
        buf += chunk
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end].decode()
            assert head.startswith("HTTP/1.1 200 OK"), head
            length = int([l for l in head.split("\r\n") if l.lower().startswith("content-length:")][0].split(":")[1])
            assert length == expected_body
            if len(buf) < end + 4 + length:
                break
            buf = buf[end + 4 + length:]
            got += 1
    s.close()
    assert got == n and buf == b""


def test_streaming_to_http10_client_is_close_delimited(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
    data = _read_to_close(s)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding" not in head.lower()
    assert b"Connection: close" in head
    assert body == b"abc"
    # HTTP/1.1 gets chunked framing for the same route.
    r = srv.get("/stream")
    assert r.body == b"abc" and r.headers.get("transfer-encoding") == "chunked"


def test_body_over_max_body_size_gets_413(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])
    # Under the limit (64 KiB in the app): echoed.
    with srv.raw() as c:
        c.request("POST", "/echo", body=b"y" * 1000)
        r = c.read_response()
        assert (r.status, len(r.body)) == (200, 1000)
    # Declared over the limit: refused before the handler runs, then closed.
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"y" * 1000)
    data = _read_to_close(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in data
    # Chunked, crossing the limit while streaming: 413 as well.
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    chunk = b"8000\r\n" + b"z" * 0x8000 + b"\r\n"
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n")
    data = _read_to_close(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 413 "), data[:80]
    # The handler that owned the refused request was told (aborted, and its
    # get_data() resolved with the 64 KiB that were accepted).
    deadline = time.monotonic() + 3
    while srv.get("/aborted-echoes").body == b"[]" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.get("/aborted-echoes").body == b"[65536]"


def test_body_read_after_await_is_complete(launch, unix_path):
    # socketify loses body bytes that arrive before on_data is attached; here
    # they wait (reading stops) until the handler asks for them.
    srv = launch("lifecycle_app", args=[unix_path])
    body = bytes(range(256)) * 200  # 51200 bytes, ends with 0xf8..0xff
    with srv.raw() as c:
        c.request("POST", "/late-reader", body=body)
        c.request("GET", "/")
        r = c.read_response()
        assert r.status == 200
        assert r.body == b"51200:" + body[-8:]
        assert c.read_response().body == b"hello over tcp"
    # Chunked, split over several writes while the handler is still asleep.
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"POST /late-reader HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (b"a" * 1000, b"b" * 3000, b"c" * 5):
        s.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        time.sleep(0.02)
    s.sendall(b"0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = _read_to_close(s)
    s.close()
    assert b"\r\n\r\n4005:bbbccccc" in data
    assert data.endswith(b"hello over tcp")


def test_unread_body_is_skipped_after_a_late_answer(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])
    with srv.raw() as c:
        c.request("POST", "/ignores-body", body=b"GET /evil HTTP/1.1\r\nHost: x\r\n\r\n" * 100)
        c.request("GET", "/")
        assert c.read_response().body == b"ignored"
        assert c.read_response().body == b"hello over tcp"


def test_yield_after_end_stops_the_search(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])
    with srv.raw() as c:
        c.request("GET", "/end-then-yield")
        c.request("GET", "/")
        assert c.read_response().body == b"first"
        # Exactly one response for the first request: the next one is "/".
        assert c.read_response().body == b"hello over tcp"


def test_sigterm_lets_in_flight_response_finish(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])
    launch.forget(srv)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    srv.proc.send_signal(signal.SIGTERM)
    data = _read_to_close(s)
    s.close()
    assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"finished in time")
    assert srv.proc.wait(timeout=10) == 0
    # No new connections after the signal.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=2).close()


def test_requests_split_at_every_byte(launch, unix_path):
    # A GET, a POST with Content-Length and a chunked POST, sent in two writes
    # cut at every possible offset: the answers never change.
    srv = launch("lifecycle_app", args=[unix_path])
    stream = (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
              b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
              b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
              b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n")
    for cut in range(1, len(stream)):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(stream[:cut])
        time.sleep(0.002)
        s.sendall(stream[cut:])
        data = _read_to_close(s)
        s.close()
        responses = data.split(b"HTTP/1.1 ")[1:]
        assert [r[:6] for r in responses] == [b"200 OK"] * 3, (cut, data)
        bodies = [r.split(b"\r\n\r\n", 1)[1] for r in responses]
        assert bodies == [b"hello over tcp", b"hello", b"abcdefg"], (cut, bodies)


def test_set_cookie_writes_one_header_per_cookie(launch, unix_path):
    srv = launch("lifecycle_app", args=[unix_path])
    with srv.raw() as c:
        c.request("GET", "/cookies")
        r = c.read_response()
    assert r.body == b"cookies"
    assert r.raw.count(b"\r\nSet-Cookie: ") == 2
    assert b"\r\nSet-Cookie: session=a+b%26c; Path=/; HttpOnly; Max-Age=60\r\n" in r.raw
    assert (b"\r\nSet-Cookie: theme=dark; Expires=Wed, 02 Jan 2030 03:04:05 GMT; SameSite=Lax; Secure\r\n"
            in r.raw)
