"""Many connections, many requests, clients that vanish: answers stay right
and the server stays up (bounded sizes, a few seconds at most)."""

import json
import socket
import struct
import time


def req(path, extra=""):
    return "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, extra)


def test_double_end_sends_one_response(main_server):
    with main_server.raw() as c:
        c.send(req("/double-end") + req("/a"))
        r = c.read_response()
        assert (r.status, r.body) == (200, b"one")
        assert r.header("X-Late") is None
        assert c.read_response().body == b"A"


def test_many_connections_each_pipelining(main_server):
    conns = [main_server.raw() for _ in range(100)]
    try:
        for i, c in enumerate(conns):
            c.send(req("/pipe/%d" % i) + req("/async-header", "X-Test: c%d\r\n" % i)
                   + req("/user/%d" % i))
        for i, c in enumerate(conns):
            bodies = [c.read_response().body for _ in range(3)]
            assert bodies == [b"pipe:%d" % i, b"pre:c%d" % i, b"user:%d" % i]
    finally:
        for c in conns:
            c.close()


def test_concurrent_aiohttp_mixed(main_server):
    reqs = []
    for i in range(40):
        reqs.append(("GET", "/user/%d" % i, {}))
        reqs.append(("GET", "/async-header", {"headers": {"X-Test": str(i)}}))
        reqs.append(("POST", "/echo", {"data": b"b%d" % i}))
    results = main_server.http_many(reqs)
    expected = []
    for i in range(40):
        expected += ["user:%d" % i, "pre:%d" % i, "b%d" % i]
    assert [r.text for r in results] == expected
    assert all(r.status == 200 for r in results)


def test_many_sequential_requests_one_connection(main_server):
    with main_server.raw() as c:
        for i in range(300):
            c.request("GET", "/user/%d" % i)
            assert c.read_response().body == b"user:%d" % i


def _reset(c):
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def test_clients_vanish_mid_response(main_server):
    # big responses the clients never read, slow async answers nobody waits
    # for, half-sent requests: then reset every connection
    baseline = int(main_server.get("/connections").text)
    conns = []
    for i in range(20):
        c = main_server.raw()
        c.send([req("/big"), req("/slow"), "GET /a HTTP/1.1\r\nHo", req("/abortable")][i % 4])
        conns.append(c)
    time.sleep(0.1)
    for c in conns:
        _reset(c)
    time.sleep(0.7)  # let the slow handlers wake up on dead connections
    assert main_server.get("/static").text == "static"
    assert main_server.get("/async-end").text == "hello"
    # Nothing leaked: every one of those connections is gone from the engine
    # (a leaked Response or a CLOSE-WAIT socket would keep it counted).
    deadline = time.monotonic() + 5
    while int(main_server.get("/connections").text) > baseline:
        assert time.monotonic() < deadline, "connections did not return to %d" % baseline
        time.sleep(0.1)


def test_long_url_and_many_headers_within_limits(main_server):
    path = "/files/" + "p" * 5000
    headers = "".join("X-H%d: %s\r\n" % (i, "v" * 20) for i in range(60))
    with main_server.raw() as c:
        c.send("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path, headers))
        r = c.read_response()
        assert (r.status, r.body) == (200, ("files:" + path).encode())


def test_header_name_case_and_empty_value(main_server):
    with main_server.raw() as c:
        c.send("GET /headers HTTP/1.1\r\nHOST: x\r\nX-TEST: Up\r\nX-Empty:\r\n\r\n")
        r = c.read_response()
    got = json.loads(r.body)
    assert got["x-test"] == "Up"
    assert got["all"] == {"host": "x", "x-test": "Up", "x-empty": ""}
