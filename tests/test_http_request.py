"""Request accessors: url, query, headers, cookies, params, remote address."""

import json


def test_query(main_server):
    r = main_server.get("/query?a=1&b=hello%20world&a=2&c=")
    assert r.status == 200
    assert r.json() == {
        "url": "/query",
        "full": "/query?a=1&b=hello%20world&a=2&c=",
        "a": "1",
        "b": "hello world",
        "c": "",
        "missing": None,
        "all": {"a": ["1", "2"], "b": ["hello world"], "c": [""]},
    }


def test_query_absent(main_server):
    r = main_server.get("/query")
    assert r.json() == {"url": "/query", "full": "/query", "a": None, "b": None,
                        "c": None, "missing": None, "all": {}}


def test_query_percent_decoding_utf8(main_server):
    r = main_server.get("/query?b=%C3%A9t%C3%A9%26x%3Dy")
    assert r.json()["b"] == "\u00e9t\u00e9&x=y"


def test_headers(main_server):
    with main_server.raw() as c:
        c.send("GET /headers HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Test: abc\r\n"
               "X-Mixed-CASE:   padded value  \r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    got = json.loads(r.body)
    assert got["x-test"] == "abc"
    assert got["x-mixed-case"] == "padded value"
    assert got["missing"] is None
    assert got["method"] == "GET"
    assert got["all"] == {"host": "127.0.0.1", "x-test": "abc", "x-mixed-case": "padded value"}
    assert got["each"] == [["host", "127.0.0.1"], ["x-test", "abc"],
                           ["x-mixed-case", "padded value"]]


def test_headers_via_aiohttp(main_server):
    r = main_server.get("/headers", headers={"X-Test": "from-aiohttp"})
    got = r.json()
    assert got["x-test"] == "from-aiohttp"
    assert got["all"]["x-test"] == "from-aiohttp"
    assert got["all"]["host"] == "127.0.0.1:%d" % main_server.port
    assert all(name == name.lower() for name in got["all"])


def test_cookies(main_server):
    r = main_server.get("/cookies", headers={"Cookie": "a=1; b=hello%20x; c="})
    assert r.status == 200
    assert r.json() == {"a": "1", "b": "hello%20x", "c": "", "missing": None}


def test_no_cookie_header(main_server):
    r = main_server.get("/cookies")
    assert r.json() == {"a": None, "b": None, "c": None, "missing": None}


def test_remote_address(main_server):
    r = main_server.get("/remote")
    assert (r.status, r.text) == (200, "127.0.0.1")


def test_sync_accessors_all(main_server):
    with main_server.raw() as c:
        c.send("GET /sync-accessors/v1/v2?q=%20sp&q=2 HTTP/1.1\r\nHost: h\r\n"
               "X-Test: t\r\nCookie: k=v%20; z=1\r\n\r\n")
        r = c.read_response()
    got = json.loads(r.body)
    assert got["url"] == "/sync-accessors/v1/v2"
    assert got["full"] == "/sync-accessors/v1/v2?q=%20sp&q=2"
    assert got["method"] == "GET"
    assert got["header"] == "t"
    assert got["no_header"] is None
    assert got["headers"] == {"host": "h", "x-test": "t", "cookie": "k=v%20; z=1"}
    assert got["each"] == [["host", "h"], ["x-test", "t"], ["cookie", "k=v%20; z=1"]]
    assert got["query"] == " sp"
    assert got["queries"] == {"q": [" sp", "2"]}
    assert got["param0"] == "v1"
    assert got["param1"] == "v2"
    assert got["params"] == ["v1", "v2"]
    assert got["cookie"] == "v%20"
    assert got["no_cookie"] is None
    assert got["types"] == {
        "url": "str", "full": "str", "method": "str", "header": "str",
        "no_header": "NoneType", "headers": "dict", "each": "list", "query": "str",
        "queries": "dict", "param0": "str", "param1": "str", "params": "list",
        "cookie": "str", "no_cookie": "NoneType",
    }
