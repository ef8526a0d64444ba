"""Request bodies: res.get_data / get_json / get_text / on_data, with
Content-Length and chunked framing, large bodies, Expect: 100-continue."""

import json
import time

import pytest


def pattern(n):
    return bytes((i * 7 + i // 251) % 256 for i in range(n))


@pytest.mark.parametrize("size", [0, 1, 1000, 70_000, 1_000_000])
def test_echo_body_aiohttp(main_server, size):
    body = pattern(size)
    r = main_server.http("POST", "/echo", data=body)
    assert r.status == 200
    assert r.headers["X-Len"] == str(size)
    assert r.body == body


def test_put_echo(main_server):
    r = main_server.http("PUT", "/echo", data=b"put-body")
    assert (r.status, r.body) == (200, b"put-body")


def test_post_without_body(main_server):
    with main_server.raw() as c:
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert (r.status, r.body, r.header("X-Len")) == (200, b"", "0")


def test_chunked_body(main_server):
    with main_server.raw() as c:
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"hello 0123456789")
        c.request("GET", "/static")
        assert c.read_response().body == b"static"


def test_chunked_body_split_in_many_writes(main_server):
    import time
    data = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n")
    with main_server.raw() as c:
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
            time.sleep(0.005)
        assert c.read_response().body == b"abc0123456789abcdef"


def test_body_in_several_writes(main_server):
    import time
    with main_server.raw() as c:
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nhel")
        time.sleep(0.05)
        c.send("lo ")
        time.sleep(0.05)
        c.send("world!")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"hello world!")


def test_get_json_and_text(main_server):
    r = main_server.http("POST", "/echo-json", json={"x": [1, 2], "y": "z"})
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"got": {"x": [1, 2], "y": "z"}}
    r = main_server.http("POST", "/echo-json", data=b"{not json")
    assert r.json() == {"got": None}
    r = main_server.http("POST", "/echo-text", data="h\u00e9".encode())
    assert r.text == "text:h\u00e9"


def test_on_data_chunks(main_server):
    body = pattern(300_000)
    r = main_server.http("POST", "/body-chunks", data=body)
    got = r.json()
    assert got["bytes"] == len(body)
    assert got["ends"] == 1
    assert got["chunks"] >= 1
    assert got["sum"] == sum(body) % 1000003


def test_pipelined_post_echo_then_get(main_server):
    with main_server.raw() as c:
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
               "GET /pipe/next HTTP/1.1\r\nHost: x\r\n\r\n"
               "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nend")
        assert [c.read_response().body for _ in range(3)] == [b"body", b"pipe:next", b"end"]


def test_large_unread_body_then_pipelined_get(main_server):
    body = b"x" * 1_000_000
    with main_server.raw(timeout=10) as c:
        c.send(b"POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
               + body + b"GET /pipe/after-big HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().body == b"posted"
        assert c.read_response(timeout=20).body == b"pipe:after-big"


def test_expect_100_continue(main_server):
    with main_server.raw() as c:
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n")
        interim = c.read_response()
        assert interim.status == 100, interim
        c.send("hello")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"hello")


def test_expect_100_continue_aiohttp(main_server):
    r = main_server.http("POST", "/echo", data=b"continued", expect100=True)
    assert (r.status, r.body) == (200, b"continued")


def test_json_response(main_server):
    r = main_server.get("/json")
    assert r.headers["Content-Type"] == "application/json"
    assert json.loads(r.body) == {"a": 1, "b": [True, None]}


def test_redirect(main_server):
    r = main_server.get("/redirect")
    assert r.status == 302
    assert r.headers["Location"] == "/static"


def test_get_data_after_the_response_ended_resolves(main_server):
    # review 2.14: the future used to stay pending forever
    with main_server.raw() as c:
        c.request("POST", "/data-after-end", body=b"x" * 10)
        assert c.read_response().body == b"early"
    deadline = time.monotonic() + 3
    while main_server.get("/data-after-end-state").text == "[]":
        assert time.monotonic() < deadline, "get_data() never resolved"
        time.sleep(0.05)
    assert main_server.get("/data-after-end-state").text == "[0]"
