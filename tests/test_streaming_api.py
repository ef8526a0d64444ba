"""send_chunk, pause/resume, write_continue, write_offset and the writable
handler, against a real server."""

import json
import socket
import time

import pytest

BLOCK = 64 * 1024


@pytest.fixture(scope="module")
def stream(request):
    from conftest import start_server, stop_server
    srv = start_server("stream_app")
    yield srv
    stop_server(srv)


def read_head(s, deadline):
    buf = b""
    while b"\r\n\r\n" not in buf:
        assert time.monotonic() < deadline, "no response head"
        chunk = s.recv(65536)
        assert chunk, "EOF before the head: %r" % buf[:200]
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head.decode("latin-1"), rest


def test_send_chunk_delivers_everything_to_a_slow_reader(stream):
    mib = 8
    s = socket.create_connection(("127.0.0.1", stream.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    try:
        s.sendall(b"GET /send-chunk?mib=%d HTTP/1.1\r\nHost: a\r\n\r\n" % mib)
        time.sleep(0.5)  # the server must wait for us, not buffer the rest
        head, body = read_head(s, time.monotonic() + 10)
        assert head.startswith("HTTP/1.1 200"), head
        assert "Content-Length: %d" % (mib << 20) in head
        deadline = time.monotonic() + 30
        while len(body) < mib << 20:
            assert time.monotonic() < deadline
            chunk = s.recv(1 << 20)
            assert chunk, "EOF after %d bytes" % len(body)
            body += chunk
        for i in range(len(body) // BLOCK):
            assert int.from_bytes(body[i * BLOCK:i * BLOCK + 8], "big") == i
    finally:
        s.close()


def test_pause_stops_reading_the_body_until_resume(stream):
    size = 16 << 20
    s = socket.create_connection(("127.0.0.1", stream.port), timeout=10)
    try:
        s.sendall(b"POST /pause-body HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % size)
        s.sendall(b"x" * size)   # blocks while paused, until resume
        head, body = read_head(s, time.monotonic() + 10)
        assert head.startswith("HTTP/1.1 200"), head
        n = int(head.split("Content-Length: ")[1].split("\r\n")[0])
        while len(body) < n:
            body += s.recv(65536)
        got = json.loads(body)
        assert got["total"] == size
        # While paused the server took at most what it had read before pausing.
        assert got["while_paused"] < 4 << 20, got
    finally:
        s.close()


def test_write_continue_sends_100_first(stream):
    with stream.raw() as c:
        c.send(b"POST /write-continue HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
               b"Expect: 100-continue\r\n\r\n")
        r = c.read_response()
        assert r.status == 100
        c.send(b"abc")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"after-continue")


def test_write_offset_can_be_overridden(stream):
    assert stream.get("/offset").json() == [0, 5]


def test_trigger_writable_handler_calls_it(stream):
    assert stream.get("/writable").json() == [True, [7]]
