"""Large responses to slow readers and write backpressure
(review 2.2 / D1, review 2.9 / D2). Server: tests/apps/engine_app.py.

Bodies are the app's 64 KiB block pattern (block index in the first 8
bytes), so every byte's position and content is checked.
"""

import os
import socket
import time

import pytest

from engine_util import (  # noqa: F401  (eng, engine_liveness are fixtures)
    BASE_TAIL, BLOCK, MIB, check_blocks, dechunk, eng, engine_liveness, engine_server,
    engine_stop, header_all, proc_rss, read_head, state, wait_for,
)


def _connect(srv, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
    s.settimeout(5)
    s.connect(("127.0.0.1", srv.port))
    return s


# ---- B: slow but steady reader, longer than the 10 s idle timeout (review 2.2 / D1) -------------

SLOW_MIB = 24
SLOW_RATE = 1.2 * MIB   # bytes/s: about 20 s for 24 MiB, twice the idle timeout


def _slow_read(srv, path, limit_s=35):
    """Read one response at SLOW_RATE with a small receive buffer. Returns
    (status line, headers, body, elapsed); the body is de-chunked."""
    s = _connect(srv, rcvbuf=32 * 1024)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % path).encode())
        t0 = time.monotonic()
        deadline = t0 + limit_s
        status, headers, rest = read_head(s, t0 + 5)
        data = bytearray(rest)
        cl = header_all(headers, "Content-Length")
        chunked = "chunked" in ",".join(header_all(headers, "Transfer-Encoding")).lower()
        assert cl or chunked, headers
        want = int(cl[0]) if cl else None
        buf = bytearray(64 * 1024)
        got_eof = False
        while time.monotonic() < deadline:
            if want is not None and len(data) >= want:
                break
            if chunked and data.endswith(b"0\r\n\r\n"):
                break
            try:
                n = s.recv_into(buf)
            except socket.timeout:
                continue
            if n == 0:
                got_eof = True
                break
            data += buf[:n]
            # steady pace: never ahead of SLOW_RATE
            ahead = t0 + len(data) / SLOW_RATE - time.monotonic()
            if ahead > 0:
                time.sleep(min(ahead, 0.5))
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    if chunked:
        body, complete = dechunk(bytes(data))
    else:
        body, complete = bytes(data[:want]), len(data) >= want
    assert complete, "incomplete response after %.1f s (%s): %d bytes of %d MiB" % (
        elapsed, "EOF from the server" if got_eof else "time limit", len(body), SLOW_MIB)
    return status, headers, body, elapsed


@pytest.mark.slow
@pytest.mark.timeout(45)
@pytest.mark.parametrize("path", ["/big-end", "/big-write"])
def test_slow_reader_gets_the_whole_large_response(eng, path):
    status, headers, body, elapsed = _slow_read(eng, "%s?mib=%d" % (path, SLOW_MIB))
    assert status.startswith("HTTP/1.1 200"), status
    assert len(body) == SLOW_MIB * MIB
    check_blocks(body, path)
    assert elapsed > 11, "the read took only %.1f s: not longer than the idle timeout" % elapsed


# ---- F: res.write reports backpressure (review 2.9 / D2) ---------------------------------------------

def test_write_returns_false_past_the_limit_and_everything_arrives(eng):
    s = _connect(eng, rcvbuf=16 * 1024)
    try:
        s.sendall(b"GET /bp-write HTTP/1.1\r\nHost: a\r\n\r\n")
        # We do not read: the handler runs its bounded write loop meanwhile.
        st = wait_for(lambda: state(eng).get("bp_write"), 10)
        assert st, "the /bp-write handler did not finish"
        assert st["last"] == "False", \
            "res.write never returned False in %d writes of 64 KiB to a client that does not read " \
            "(last returned %s)" % (st["count"], st["last"])
        assert st["before_last"] == ["True"], "writes before the last returned %r" % st["before_last"]
        assert st["count"] >= 2
        # Now read it all: every queued byte must be delivered.
        deadline = time.monotonic() + 20
        status, headers, rest = read_head(s, deadline)
        assert status.startswith("HTTP/1.1 200"), status
        data = bytearray(rest)
        s.settimeout(5)
        while not data.endswith(b"0\r\n\r\n") and time.monotonic() < deadline:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
        body, complete = dechunk(bytes(data))
        assert complete, "incomplete: %d bytes" % len(body)
        assert len(body) == st["count"] * BLOCK
        check_blocks(body, "/bp-write")
    finally:
        s.close()


# ---- F: 1 GiB with try_end / on_writable, bounded memory ---------------------------------------------

GIB_BLOCKS = (1 << 30) // BLOCK


@pytest.fixture
def own_eng():
    srv = engine_server()
    yield srv
    engine_stop(srv)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_try_end_streams_one_gib_in_bounded_memory(own_eng):
    pid = own_eng.proc.pid
    rss0 = proc_rss(pid)
    peak = rss0
    s = _connect(own_eng)
    try:
        s.sendall(b"GET /bp-tryend?mib=1024 HTTP/1.1\r\nHost: a\r\n\r\n")
        time.sleep(2.0)   # not reading: the server must hit backpressure and wait
        peak = max(peak, proc_rss(pid))
        t0 = time.monotonic()
        deadline = t0 + 60
        status, headers, rest = read_head(s, deadline)
        assert status.startswith("HTTP/1.1 200"), (status, rest[:300])
        assert header_all(headers, "Content-Length") == [str(1 << 30)], headers
        buf = bytearray(BLOCK)
        mv = memoryview(buf)
        for i in range(GIB_BLOCKS):
            got = 0
            if rest:
                take = min(len(rest), BLOCK)
                buf[:take] = rest[:take]
                rest = rest[take:]
                got = take
            while got < BLOCK:
                if time.monotonic() > deadline:
                    pytest.fail("1 GiB not received within 60 s: block %d of %d" % (i, GIB_BLOCKS))
                n = s.recv_into(mv[got:], BLOCK - got)
                if n == 0:
                    pytest.fail("EOF at block %d of %d" % (i, GIB_BLOCKS))
                got += n
            idx = int.from_bytes(buf[:8], "big")
            if idx != i or buf[8:] != BASE_TAIL:
                pytest.fail("block %d is wrong (index field %d)" % (i, idx))
            if i % 256 == 0:
                peak = max(peak, proc_rss(pid))
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    peak = max(peak, proc_rss(pid))
    st = wait_for(lambda: state(own_eng).get("tryend"), 2)
    print("1 GiB via try_end in %.1f s, server VmRSS +%.1f MiB, on_writable calls %s"
          % (elapsed, (peak - rss0) / MIB, st and st.get("writable_calls")))
    assert st["done"] is True and st["error"] is None, st
    assert st["writable_calls"] >= 1, "on_writable never ran although the client paused 2 s"
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        # AddressSanitizer keeps freed blocks in a quarantine (256 MiB by
        # default), so RSS says nothing about what the server holds there.
        return
    assert peak - rss0 < 16 * MIB, "server VmRSS grew by %.1f MiB" % ((peak - rss0) / MIB)
