"""WebSocket connection churn and idle footprint against a real server:
1000 clients that connect and vanish (server alive, no fd leak, every open
matched by one close), and 10,000 idle connections (RSS per connection)."""

import os
import resource
import socket
import time

import pytest

from test_websocket import KEY, frame




def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


REQ = ("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n")


def connect_many(port, n, deadline, path="/chat"):
    req = (REQ % (path, KEY)).encode()
    socks = []
    for _ in range(n):
        assert time.time() < deadline, "took too long"
        s = socket.socket()
        s.connect(("127.0.0.1", port))
        s.sendall(req)
        socks.append(s)
    for s in socks:
        s.settimeout(10)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            assert chunk, "closed during the handshake"
            buf += chunk
        assert buf.startswith(b"HTTP/1.1 101"), buf[:80]
    return socks


def ws_count(srv):
    return srv.get("/events").json()["stats"]["websockets"]


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@pytest.mark.timeout(90)
def test_thousand_clients_connect_and_drop_abruptly(wsrv):
    raise_fd_limit()
    wsrv.http("POST", "/reset")
    pid = wsrv.proc.pid
    base = open_fds(pid)
    deadline = time.time() + 60
    for round_ in range(2):
        socks = connect_many(wsrv.port, 500, deadline)
        for i, s in enumerate(socks):
            if i % 3 == 0:
                # RST instead of FIN
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            elif i % 3 == 1:
                s.sendall(frame(1, b'{"op": "sub", "topic": "churn"}')[:7])  # half a frame
            s.close()
    while ws_count(wsrv) and time.time() < deadline:
        time.sleep(0.1)
    assert ws_count(wsrv) == 0
    assert open_fds(pid) <= base + 2
    ev = wsrv.get("/events").json()["events"]
    opens = sum(1 for e in ev if e[0] == "open")
    closes = sum(1 for e in ev if e[0] == "close")
    assert opens == closes == 1000
    assert wsrv.get("/plain").text == "plain http"


@pytest.mark.timeout(120)
def test_ten_thousand_idle_connections_rss(wsrv, capsys):
    hard = raise_fd_limit()
    if hard < 10500:
        pytest.skip("fd limit %d too low for 10,000 connections" % hard)
    pid = wsrv.proc.pid
    before = rss_kib(pid)
    deadline = time.time() + 90
    socks = []
    try:
        for _ in range(20):
            # /echo: no user data, no handler keeping anything per connection
            socks += connect_many(wsrv.port, 500, deadline, "/echo")
        time.sleep(0.5)
        assert ws_count(wsrv) == 10000
        after = rss_kib(pid)
        per_conn = (after - before) * 1024 / 10000
        with capsys.disabled():
            print("\n10,000 idle WebSockets: server RSS +%d KiB, %.0f bytes per connection" % (after - before, per_conn))
        # Our state (socket ext, connection, WebSocket object) plus the
        # kernel-side bookkeeping visible in RSS: a few KiB at most.
        assert per_conn < 4096, per_conn
    finally:
        for s in socks:
            s.close()
    while ws_count(wsrv) and time.time() < deadline + 20:
        time.sleep(0.1)
    assert ws_count(wsrv) == 0
