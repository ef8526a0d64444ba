"""WebSocket backpressure: a client that never reads gets DROPPED sends (or a
closed connection with close_on_backpressure_limit) while the server's queue
stays bounded, and drain fires once the client catches up."""

import json
import socket
import time

import pytest

from test_websocket import frame, handshake, read_frame, read_head




def bp(srv):
    return srv.get("/events").json()["bp"]


def wait_bp(srv, key, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        b = bp(srv)
        if key in b:
            return b
        time.sleep(0.05)
    return bp(srv)


def test_never_reading_client_gets_dropped_then_drain_fires(wsrv):
    wsrv.http("POST", "/reset")
    s = handshake(wsrv.port, "/bp")
    head, rest = read_head(s)
    s.sendall(frame(1, json.dumps({"flood": 1000}).encode()))  # 16 MiB: more than the socket buffers hold
    b = wait_bp(wsrv, "counts")
    counts = b["counts"]
    assert counts["DROPPED"] > 500, counts
    assert counts["BACKPRESSURE"] >= 1, counts
    # Bounded: the queue never grows far past max_backpressure (64 KiB).
    assert b["buffered"] <= 64 * 1024 + 16384 + 64, b
    assert b["dropped_events"] == counts["DROPPED"]
    assert "drained" not in b
    # Now read everything: the queue empties and drain fires.
    got = 0
    s.settimeout(5)
    buf = rest
    expected = counts["SUCCESS"] + counts["BACKPRESSURE"]
    while got < expected:
        (op, fin, payload), buf = read_frame(s, buf)
        assert op == 2 and len(payload) == 16384
        got += 1
    assert wait_bp(wsrv, "drained")["drained"] >= 1
    s.close()


def test_close_on_backpressure_limit_closes_instead(wsrv):
    wsrv.http("POST", "/reset")
    s = handshake(wsrv.port, "/bp-close")
    head, rest = read_head(s)
    s.sendall(frame(1, json.dumps({"flood": 1000}).encode()))
    b = wait_bp(wsrv, "closed")
    assert b["closed"] == 1006
    assert b["counts"]["DROPPED"] >= 1
    # The connection is gone: reading ends (after what was queued, or reset).
    s.settimeout(5)
    try:
        while s.recv(65536):
            pass
    except ConnectionResetError:
        pass
    s.close()
