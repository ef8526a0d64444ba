"""Async handlers: synchronous first segment, req after await, preserve()."""

import json

import pytest

ACCESSORS = ["get_url", "get_full_url", "get_method", "get_header", "get_headers",
             "for_each_header", "get_query", "get_queries", "get_parameter",
             "get_parameters", "get_cookie"]


def test_first_segment_runs_with_valid_req(main_server):
    r = main_server.get("/async-header", headers={"X-Test": "abc"})
    assert (r.status, r.text) == (200, "pre:abc")


def test_async_without_await(main_server):
    r = main_server.get("/async-no-await?x=1")
    assert (r.status, r.text) == (200, "no-await:/async-no-await")


def test_many_concurrent_async_requests_no_crosstalk(main_server):
    n = 50
    results = main_server.http_many(
        [("GET", "/async-header", {"headers": {"X-Test": "v%d" % i}}) for i in range(n)])
    assert [(r.status, r.text) for r in results] == [(200, "pre:v%d" % i) for i in range(n)]


def test_req_after_await_without_preserve_raises(main_server):
    r = main_server.get("/async-unpreserved/7?q=1", headers={"X-Test": "t", "Cookie": "k=v"})
    assert r.status == 200
    got = r.json()
    assert sorted(got) == sorted(ACCESSORS)
    for name in ACCESSORS:
        kind, _, message = got[name].partition(":")
        assert kind == "RuntimeError", (name, got[name])
        assert "req.preserve()" in message, (name, got[name])


def test_preserve_keeps_all_accessors_with_same_types(main_server):
    raw_request = ("GET {path}/v1/v2?q=%20sp&q=2 HTTP/1.1\r\nHost: h\r\n"
                   "X-Test: t\r\nCookie: k=v%20; z=1\r\n\r\n")
    results = {}
    for path in ("/sync-accessors", "/async-preserved"):
        with main_server.raw() as c:
            c.send(raw_request.format(path=path))
            r = c.read_response()
            assert r.status == 200, r
            results[path] = json.loads(r.body)
    sync, preserved = results["/sync-accessors"], results["/async-preserved"]
    assert preserved.pop("returned_url") == "/async-preserved/v1/v2"
    for key in ("url", "full"):
        assert preserved[key] == sync[key].replace("/sync-accessors", "/async-preserved")
        sync.pop(key)
        preserved.pop(key)
    assert preserved == sync
    # and the values themselves are right (not just equal to each other)
    assert preserved["params"] == ["v1", "v2"]
    assert preserved["queries"] == {"q": [" sp", "2"]}
    assert preserved["cookie"] == "v%20"
    assert preserved["header"] == "t"
    assert preserved["types"]["headers"] == "dict"
    assert preserved["types"]["params"] == "list"


def test_full_response_after_await(main_server):
    r = main_server.get("/async-end")
    assert (r.status, r.text, r.headers["X-A"]) == (201, "hello", "1")
    assert r.headers["Content-Length"] == "5"


def test_cork_end_after_await(main_server):
    r = main_server.get("/async-cork-end")
    assert (r.status, r.text) == (200, "corked-after-await")


def test_async_keepalive_sequence(main_server):
    with main_server.raw() as c:
        for i in range(5):
            c.request("GET", "/async-header", headers={"X-Test": "k%d" % i})
            r = c.read_response()
            assert (r.status, r.body) == (200, b"pre:k%d" % i)


@pytest.mark.parametrize("path", ["/async-end", "/slow"])
def test_async_with_connection_close(main_server, path):
    with main_server.raw() as c:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.read_response()
        assert r.status in (200, 201)
        assert r.header("Connection").lower() == "close"
        c.expect_closed()


def test_async_write_stream(main_server):
    r = main_server.get("/async-writes")
    assert (r.status, r.text) == (200, "abc")
