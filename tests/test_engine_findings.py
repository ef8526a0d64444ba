"""C-engine findings of reviews/engine_review_c32f5e0.md and
hostile_input_c32f5e0.md, end to end (server: tests/apps/engine_app.py).

A  2.1       res.close() in a handler, then req.get_header()
C  2.4 / D3  client FIN while a response is pending
G  2.11      ending one response with close, then writing another one
H  2.13      slow 512 KiB head: CPU must stay linear
I            App(max_head_size=...), App(idle_timeout=...)
J  2.7 / D4  async handler that never answers; Task strongly referenced
"""

import socket
import time

import pytest

from conftest import RawConn
from engine_util import (  # noqa: F401  (eng, engine_liveness are fixtures)
    ALLOW, connections, eng, engine_liveness, engine_server, engine_stop, get, nodelay_conn,
    proc_cpu, read_head, state, wait_connections, wait_for,
)


# ---- A: the request buffer outlives res.close() (review 2.1) --------------------------------------

PROBE = "P" * 600


def _two_segment_request(srv, path):
    """The head arrives in two TCP segments, so the engine serves it from the
    connection's held buffer (the one res.close() used to free)."""
    s = nodelay_conn(srv)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: a\r\nX-Probe: %s" % (path, PROBE)).encode())
        time.sleep(0.1)
        s.sendall(b"\r\n\r\n")
        s.settimeout(3)
        data = b""
        try:
            for _ in range(1000):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
                if path == "/read-probe" and data.endswith(b"read"):
                    break
        except (socket.timeout, ConnectionResetError):
            pass
        return data
    finally:
        s.close()


def test_control_route_reads_the_header_from_the_held_buffer(eng):
    data = _two_segment_request(eng, "/read-probe")
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert state(eng).get("read_probe") == PROBE


def test_header_read_after_res_close_is_intact(eng):
    _two_segment_request(eng, "/close-then-read")
    got = wait_for(lambda: state(eng).get("close_then_read"), 2)
    assert got == PROBE, "req.get_header after res.close() returned %r" % (got[:80] if got else got,)


# ---- C: client FIN aborts a pending response (review 2.4 / D3) --------------------------------------

def _aborted(srv, rid):
    return rid in state(srv)["aborted"]


@pytest.mark.parametrize("how", ["close", "shutdown-then-close"])
def test_client_fin_aborts_a_pending_response(eng, how):
    base = connections(eng)
    rid = "fin-%s-%f" % (how, time.monotonic())
    s = socket.create_connection(("127.0.0.1", eng.port), timeout=5)
    s.sendall(("GET /never?id=%s HTTP/1.1\r\nHost: a\r\n\r\n" % rid).encode())
    assert wait_for(lambda: rid in state(eng).get("never_started", []), 2), "the handler never ran"
    if how == "shutdown-then-close":
        s.shutdown(socket.SHUT_WR)
    s.close()   # FIN, not RST: nothing unread on our side
    t0 = time.monotonic()
    assert wait_for(lambda: _aborted(eng, rid), 1.5), \
        "on_aborted did not fire within 1.5 s of the client's FIN (%s)" % how
    elapsed = time.monotonic() - t0
    left = wait_connections(eng, base, 3)
    assert left <= base, "connections %d > baseline %d: socket left in CLOSE-WAIT" % (left, base)
    assert elapsed < 1.5


def test_half_close_after_a_full_body_aborts_the_pending_handler(eng):
    base = connections(eng)
    rid = "half-%f" % time.monotonic()
    s = socket.create_connection(("127.0.0.1", eng.port), timeout=5)
    try:
        s.sendall(("POST /never?id=%s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello" % rid).encode())
        assert wait_for(lambda: rid in state(eng).get("never_body_done", []), 2), "body not delivered"
        s.shutdown(socket.SHUT_WR)   # HTTP has no half-close: the server closes on FIN
        assert wait_for(lambda: _aborted(eng, rid), 1.5), "on_aborted did not fire after SHUT_WR"
        s.settimeout(2)
        try:
            rest = s.recv(65536)
        except ConnectionResetError:
            rest = b""
        assert rest == b"", "unexpected bytes %r" % rest[:200]
    finally:
        s.close()
    left = wait_connections(eng, base, 3)
    assert left <= base, "connections %d > baseline %d" % (left, base)


# ---- G: end with close, then write to another response (review 2.11) --------------------------------

def test_end_with_close_then_writing_another_response_still_closes(eng):
    y = RawConn(eng.port)
    x = RawConn(eng.port)
    try:
        y.send(b"GET /y HTTP/1.1\r\nHost: a\r\n\r\n")
        deadline = time.monotonic() + 3
        while b"y-start" not in y.buf:
            y._fill(deadline)
        x.send(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        r = x.read_response(timeout=3)
        assert r.status == 200 and r.body == b"x" * 20000
        data, closed = x.read_until_closed(2)
        assert data == b"", data[:200]
        assert closed, "the /x connection was not closed within 2 s after its response"
        assert state(eng).get("x_wrote_y") is True
        deadline = time.monotonic() + 2
        while b"extra-chunk" not in y.buf:
            y._fill(deadline)
    finally:
        x.close()
        assert get(eng, "/y-end").body.startswith(b"ended")
        y.close()


# ---- H: slow head, linear CPU (review 2.13) ---------------------------------------------------------------

HEAD_TARGET = 512 * 1024
SEGMENT = 512


def _big_head():
    start = "GET /head-ok HTTP/1.1\r\nHost: a\r\n"
    n = 64   # under the 100-header limit: long values instead
    per = (HEAD_TARGET - len(start) - 2) // n
    lines = []
    for i in range(n):
        name = "X-Pad-%02d: " % i
        # "v<TAB>" pairs: valid field content (HTAB between visible chars),
        # and it keeps a word-at-a-time scanner on its byte-at-a-time path,
        # so a re-scan of the held head costs what a naive parser costs.
        vlen = per - len(name) - 2
        lines.append(name + ("v\t" * (vlen // 2 + 1))[:vlen - 1] + "v" + "\r\n")
    head = start + "".join(lines) + "\r\n"
    return head.encode()


def _slow_head_cpu(srv):
    head = _big_head()
    assert 500 * 1024 < len(head) <= 1024 * 1024
    pid = srv.proc.pid
    s = nodelay_conn(srv, timeout=10)
    try:
        before = proc_cpu(pid)
        t0 = time.monotonic()
        for off in range(0, len(head), SEGMENT):
            s.sendall(head[off:off + SEGMENT])
            time.sleep(0.001)
        status, headers, rest = read_head(s, time.monotonic() + 10)
        cpu = proc_cpu(pid) - before
        wall = time.monotonic() - t0
    finally:
        s.close()
    assert status.startswith("HTTP/1.1 200"), status
    return cpu, wall


@pytest.mark.slow
@pytest.mark.timeout(40)
def test_slow_head_cpu_is_linear_with_max_head_size_keyword():
    srv = engine_server(args=["--max-head-size", "1048576"])
    try:
        cpu, wall = _slow_head_cpu(srv)
        print("slow head (keyword): server CPU %.2f s over %.2f s" % (cpu, wall))
        assert cpu < 0.25, "server CPU %.2f s for a 512 KiB head in 512-byte segments" % cpu
    finally:
        engine_stop(srv)


# ---- I: limits set by the binding -------------------------------------------------------------------------

def _head_of(size):
    start = "GET /head-ok HTTP/1.1\r\nHost: a\r\nX-Pad: "
    return (start + "v" * (size - len(start) - 4) + "\r\n\r\n").encode()


def test_max_head_size_keyword():
    srv = engine_server(args=["--max-head-size", "2048"])
    try:
        with RawConn(srv.port) as c:
            h = _head_of(1500)
            assert len(h) == 1500
            c.send(h)
            r = c.read_response()
            assert r.status == 200 and r.body.startswith(b"head-ok")
        with RawConn(srv.port) as c:
            h = _head_of(3000)
            assert len(h) == 3000
            c.send(h)
            r = c.read_response()
            assert r.status == 431, r
    finally:
        engine_stop(srv)


@pytest.mark.slow
def test_idle_timeout_keyword_closes_idle_keep_alive():
    srv = engine_server(args=["--idle-timeout", "2"])
    try:
        with RawConn(srv.port) as c:
            c.request("GET", "/")
            r = c.read_response()
            assert (r.status, r.body) == (200, b"ok")
            t0 = time.monotonic()
            data, closed = c.read_until_closed(10)
            elapsed = time.monotonic() - t0
            assert data == b"" and closed, "idle keep-alive connection still open after 10 s"
            assert 1.0 <= elapsed <= 7.0, "closed after %.1f s with idle_timeout=2" % elapsed
    finally:
        engine_stop(srv)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_idle_timeout_below_one_second_is_rejected(run_app, value):
    p = run_app("engine_app", "--idle-timeout", value, "--construct-only")
    assert p.stdout.strip() == "CONSTRUCT-ERROR ValueError", (p.stdout, p.stderr[-2000:])


# ---- J: async handlers (review 2.7 / D4) --------------------------------------------------------------------

@pytest.fixture
def own_eng():
    # Own server: the failure modes (GeneratorExit traceback, "Task was
    # destroyed") must be charged to this test's stderr check.
    srv = engine_server(allow=ALLOW + ("async-noanswer", "async_noanswer"))
    yield srv
    engine_stop(srv)


def test_async_handler_that_never_answers_gets_500_and_is_released(own_eng):
    base = connections(own_eng)
    with RawConn(own_eng.port) as c:
        c.request("GET", "/async-noanswer")
        c.sock.settimeout(3)
        try:
            r = c.read_response(timeout=3)
        except (socket.timeout, TimeoutError):
            pytest.fail("no answer within 3 s from an async handler that returned without answering")
        assert r.status == 500, r
    left = wait_connections(own_eng, base, 3)
    assert left <= base, "connections %d > baseline %d after the client left" % (left, base)


def test_async_handler_task_survives_gc(own_eng):
    with RawConn(own_eng.port) as c:
        c.request("GET", "/wait_unref")
        assert wait_for(lambda: state(own_eng).get("wait_unref") == "waiting", 2)
        assert get(own_eng, "/gc").body.startswith(b"collected")
        rel = get(own_eng, "/release")
        assert rel.body == b"released", "the pending future was collected: /release says %r" % rel.body
        r = c.read_response(timeout=3)
        assert (r.status, r.body) == (200, b"resolved:released"), r
