"""Helpers shared by test_engine_findings.py, test_framing.py and
test_backpressure.py (server tests/apps/engine_app.py).

- engine_server(args, env): start the app; engine_stop(srv): liveness check
  (GET / still answers), then stop and check stderr.
- engine_liveness: autouse fixture (import it into a test module); after
  every test, every running engine_app server must still answer GET /.
- state(), connections(), wait_for(): read the app's /state over a fresh
  connection (Connection: close, so the probe itself does not linger).
- /proc readers for the server's CPU time and VmRSS.
- The 64 KiB block pattern of the app (block index in the first 8 bytes).
"""

import json
import os
import socket
import time

import pytest

import conftest
from conftest import DELIBERATE, RawConn, start_server, stop_server

APP = "engine_app"
# Tracebacks the engine app produces on purpose. "without responding" is the
# message of the App's safety net for a handler that never answers.
ALLOW = DELIBERATE + ("without responding",)

BLOCK = 64 * 1024
MIB = 1024 * 1024
BASE = bytes((i * 7 + 13) % 251 for i in range(BLOCK))
BASE_TAIL = BASE[8:]


# ---- servers ------------------------------------------------------------------------------------

def engine_server(args=(), env=None, allow=ALLOW):
    return start_server(APP, args=args, allow=allow, env=env)


def check_liveness(srv):
    r = get(srv, "/", timeout=5)
    assert (r.status, r.body) == (200, b"ok"), "liveness: GET / gave %r" % (r,)


def engine_stop(srv):
    try:
        if srv.alive():
            check_liveness(srv)
    finally:
        stop_server(srv)


@pytest.fixture(autouse=True)
def engine_liveness():
    """After every test: every running engine_app server still answers GET /."""
    yield
    for srv in list(conftest._LIVE_SERVERS):
        if srv.app == APP and srv.alive():
            check_liveness(srv)


@pytest.fixture(scope="module")
def eng():
    srv = engine_server()
    yield srv
    engine_stop(srv)


# ---- clients --------------------------------------------------------------------------------------

def get(srv, path, headers=None, timeout=5.0):
    """One GET on a fresh connection with Connection: close."""
    h = {"Connection": "close"}
    h.update(headers or {})
    with RawConn(srv.port, timeout=timeout) as c:
        c.request("GET", path, headers=h)
        return c.read_response(timeout=timeout)


def state(srv):
    r = get(srv, "/state")
    assert r.status == 200, r
    return json.loads(r.body)


def connections(srv):
    return state(srv)["stats"]["connections"]


def wait_for(pred, within, interval=0.05):
    """Poll pred() until it returns a true value or `within` seconds pass;
    returns the last value."""
    deadline = time.monotonic() + within
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def wait_connections(srv, baseline, within=3.0):
    """Wait until the server counts at most `baseline` connections; returns
    the last count."""
    last = [None]

    def ok():
        last[0] = connections(srv)
        return last[0] <= baseline

    wait_for(ok, within, 0.1)
    return last[0]


def nodelay_conn(srv, rcvbuf=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", srv.port))
    return s


def read_head(sock, deadline, buf=b""):
    """Read until the end of a response head; returns (status line, header
    list, rest of the bytes)."""
    while b"\r\n\r\n" not in buf:
        if time.monotonic() > deadline:
            raise TimeoutError("no response head; have %r" % buf[:300])
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed before the response head; have %r" % buf[:300])
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for ln in lines[1:]:
        n, _, v = ln.partition(":")
        headers.append((n, v.strip()))
    return lines[0], headers, rest


def header_all(headers, name):
    return [v for n, v in headers if n.lower() == name.lower()]


def dechunk(data):
    """Decode a complete chunked body; returns (body, complete?)."""
    out = []
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return b"".join(out), False
        size = int(data[pos:eol].split(b";")[0], 16)
        if size == 0:
            return b"".join(out), data.endswith(b"\r\n\r\n")
        start = eol + 2
        if len(data) < start + size + 2:
            return b"".join(out), False
        out.append(data[start:start + size])
        pos = start + size + 2


# ---- the block pattern ---------------------------------------------------------------------------

def check_blocks(body, what):
    """body must be whole blocks 0, 1, 2, ... of the app's pattern."""
    assert len(body) % BLOCK == 0, "%s: %d bytes is not a whole number of blocks" % (what, len(body))
    for i in range(len(body) // BLOCK):
        b = body[i * BLOCK:(i + 1) * BLOCK]
        idx = int.from_bytes(b[:8], "big")
        assert idx == i and b[8:] == BASE_TAIL, "%s: block %d is wrong (index field %d)" % (what, i, idx)


# ---- /proc --------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def proc_rss(pid):
    """VmRSS of a process, in bytes."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)
