"""Malformed requests over raw sockets: an error status, then the server
closes the connection; the server keeps serving everyone else."""

import pytest

H = "Host: 127.0.0.1\r\n"

TLS_CLIENT_HELLO = bytes.fromhex(
    "16030100a5010000a10303"
    "5f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
    "00002cc02bc02fc02cc030cca9cca8c009c013c00ac014009c009d002f0035c012000a"
    "0100004c00000010000e00000b6578616d706c652e636f6d"
)

CASES = [
    ("missing-host", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("cl-and-te", ("POST /post HTTP/1.1\r\n" + H + "Content-Length: 5\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n").encode(), 400),
    ("cl-abc", ("POST /post HTTP/1.1\r\n" + H + "Content-Length: abc\r\n\r\n").encode(), 400),
    ("cl-negative", ("POST /post HTTP/1.1\r\n" + H + "Content-Length: -1\r\n\r\n").encode(), 400),
    ("cl-two-numbers", ("POST /post HTTP/1.1\r\n" + H + "Content-Length: 1 2\r\n\r\nx").encode(), 400),
    ("cl-two-different", ("POST /post HTTP/1.1\r\n" + H + "Content-Length: 5\r\n"
                          "Content-Length: 6\r\n\r\nhello!").encode(), 400),
    ("header-name-space", ("GET / HTTP/1.1\r\n" + H + "Bad Header: x\r\n\r\n").encode(), 400),
    ("header-name-brackets", ("GET / HTTP/1.1\r\n" + H + "X-Invalid[]: y\r\n\r\n").encode(), 400),
    ("value-control-byte", ("GET / HTTP/1.1\r\n" + H + "X-A: a\x01b\r\n\r\n").encode(), 400),
    ("value-nul", ("GET / HTTP/1.1\r\n" + H + "X-A: a\x00b\r\n\r\n").encode(), 400),
    ("bare-lf", b"GET / HTTP/1.1\nHost: 127.0.0.1\n\n", 400),
    ("oversized-head", ("GET / HTTP/1.1\r\n" + H + "X-Big: " + "a" * 20000 + "\r\n\r\n").encode(), 431),
    ("too-many-headers", ("GET / HTTP/1.1\r\n" + H
                          + "".join("X-H%d: v\r\n" % i for i in range(150)) + "\r\n").encode(), 431),
    # absolute-form is accepted (tests/test_strict_http.py), not with another Host
    ("absolute-form-host-mismatch", b"GET http://x/ HTTP/1.1\r\nHost: y\r\n\r\n", 400),
    ("http-2.0", ("GET / HTTP/2.0\r\n" + H + "\r\n").encode(), 505),
    ("tls-client-hello", TLS_CLIENT_HELLO, 400),
    ("te-gzip", ("POST /post HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\n").encode(), 501),
]


@pytest.mark.parametrize("name, data, status", CASES, ids=[c[0] for c in CASES])
def test_malformed(main_server, name, data, status):
    c = main_server.raw()
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        received, closed = c.read_until_closed(5.0)
    finally:
        c.close()
    expected = b"HTTP/1.1 %d" % status
    assert received[:len(expected)] == expected, received[:200]
    assert received[len(expected):len(expected) + 1] in (b" ", b"\r"), received[:200]
    assert closed, "connection still open 5 s after a %d for %s" % (status, name)
    # exactly one response: the head ends once and any body is framed
    head, sep, body = received.partition(b"\r\n\r\n")
    assert sep, received[:300]
    lengths = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")[1:]
               if ln.lower().startswith(b"content-length:")]
    if lengths:
        assert body == body[:int(lengths[0])] and len(body) == int(lengths[0]), received[:300]


def test_server_still_serves_after_malformed(main_server):
    with main_server.raw() as c:
        c.request("GET", "/static")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"static")
    assert main_server.get("/user/1").text == "user:1"


def test_malformed_second_request_on_keepalive_connection(main_server):
    with main_server.raw() as c:
        c.request("GET", "/a")
        assert c.read_response().body == b"A"
        c.send("GET /b HTTP/1.1\r\n" + H + "Bad Header: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 400
        c.expect_closed()


def test_malformed_after_pipelined_good_request(main_server):
    with main_server.raw() as c:
        c.send("GET /a HTTP/1.1\r\n" + H + "\r\n" + "GET / HTTP/9.9\r\n" + H + "\r\n")
        r1 = c.read_response()
        assert (r1.status, r1.body) == (200, b"A")
        r2 = c.read_response()
        assert r2.status == 505
        c.expect_closed()


def test_slow_incomplete_head_does_not_block_others(main_server):
    with main_server.raw() as slow:
        slow.send("GET /a HTTP/1.1\r\nHost: x\r\nX-Partial: ")
        assert main_server.get("/static").text == "static"
        slow.send("done\r\n\r\n")
        assert slow.read_response().body == b"A"
