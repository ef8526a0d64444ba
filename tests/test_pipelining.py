"""Pipelined requests: several requests in one write, answered in order."""

import time


def req(path, extra=""):
    return "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, extra)


def test_three_gets_in_one_write(main_server):
    with main_server.raw() as c:
        c.send(req("/a") + req("/b") + req("/c"))
        assert [c.read_response().body for _ in range(3)] == [b"A", b"B", b"C"]
        c.expect_open(0.2)
        c.request("GET", "/static")
        assert c.read_response().body == b"static"


def test_slow_async_first_keeps_order(main_server):
    with main_server.raw() as c:
        c.send(req("/slow") + req("/pipe/b") + req("/pipe/c"))
        bodies = [c.read_response().body for _ in range(3)]
        assert bodies == [b"slow", b"pipe:b", b"pipe:c"]
        c.expect_open(0.2)
        c.request("GET", "/a")
        assert c.read_response().body == b"A"


def test_async_in_the_middle(main_server):
    with main_server.raw() as c:
        c.send(req("/a") + req("/async-header", "X-Test: mid\r\n") + req("/slow") + req("/c"))
        bodies = [c.read_response().body for _ in range(4)]
        assert bodies == [b"A", b"pre:mid", b"slow", b"C"]


def test_twenty_pipelined(main_server):
    with main_server.raw() as c:
        c.send("".join(req("/pipe/%d" % i) for i in range(20)))
        bodies = [c.read_response().body for _ in range(20)]
        assert bodies == [b"pipe:%d" % i for i in range(20)]


def test_post_with_body_then_get(main_server):
    with main_server.raw() as c:
        c.send("POST /post HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\n\r\n"
               "hello world" + req("/pipe/after"))
        r1 = c.read_response()
        r2 = c.read_response()
        assert (r1.status, r1.body) == (200, b"posted")
        assert (r2.status, r2.body) == (200, b"pipe:after")
        c.expect_open(0.2)


def test_post_body_that_looks_like_a_request(main_server):
    body = req("/a")  # must be consumed as body, not as a request
    with main_server.raw() as c:
        c.send("POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s%s"
               % (len(body), body, req("/b")))
        assert c.read_response().body == b"posted"
        assert c.read_response().body == b"B"
        c.expect_open(0.2)


def test_chunked_post_then_get(main_server):
    with main_server.raw() as c:
        c.send("POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n" + req("/pipe/after-chunked"))
        assert c.read_response().body == b"posted"
        assert c.read_response().body == b"pipe:after-chunked"


def test_requests_split_across_writes(main_server):
    data = (req("/a") + req("/async-header", "X-Test: split\r\n") + req("/c")).encode()
    with main_server.raw() as c:
        # byte boundaries inside the request line, a header and the blank line
        cuts = [0, 3, 20, 41, len(req("/a")) + 5, len(data) - 2, len(data)]
        for lo, hi in zip(cuts, cuts[1:]):
            c.send(data[lo:hi])
            time.sleep(0.02)
        bodies = [c.read_response().body for _ in range(3)]
        assert bodies == [b"A", b"pre:split", b"C"]


def test_post_body_arrives_late(main_server):
    with main_server.raw() as c:
        c.send("POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        time.sleep(0.05)
        c.send("world" + req("/pipe/late"))
        assert c.read_response().body == b"posted"
        assert c.read_response().body == b"pipe:late"
