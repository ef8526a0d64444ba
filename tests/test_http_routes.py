"""Routing: static, :param, wildcard, priority, methods, any, yield, 404."""

import pytest


@pytest.mark.parametrize("path, body", [
    ("/", "root"),
    ("/static", "static"),
    ("/user/42", "user:42"),
    ("/user/me", "me"),
    ("/user/me2", "user:me2"),
    ("/files/a/b/c.txt", "files:/files/a/b/c.txt"),
    ("/prio/fixed", "fixed"),
    ("/prio/other", "param:other"),
    ("/prio/a/b", "wild"),
    ("/pipe/x", "pipe:x"),
])
def test_get_routes(main_server, path, body):
    r = main_server.get(path)
    assert (r.status, r.text) == (200, body)
    assert r.headers["Content-Length"] == str(len(r.body))


def test_query_string_does_not_affect_routing(main_server):
    r = main_server.get("/user/7?x=1&y=2")
    assert (r.status, r.text) == (200, "user:7")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_method_routes(main_server, method):
    r = main_server.http(method, "/method")
    assert (r.status, r.text) == (200, method)
    assert r.headers["X-Method"] == method


@pytest.mark.parametrize("method", ["TRACE", "CONNECT"])
def test_trace_and_connect_routes_raw(main_server, method):
    with main_server.raw() as c:
        c.request(method, "/method")
        r = c.read_response()
        assert (r.status, r.body) == (200, method.encode())
        assert r.header("X-Method") == method


def test_explicit_head_route(main_server):
    with main_server.raw() as c:
        c.request("HEAD", "/method")
        r = c.read_response(head=True)
        assert r.status == 200
        assert r.header("X-Method") == "HEAD"
        # nothing but the head was sent: the next response follows directly
        c.request("GET", "/static")
        r2 = c.read_response()
        assert (r2.status, r2.body) == (200, b"static")


def test_method_route_beats_any(main_server):
    assert main_server.get("/m").text == "get"
    assert main_server.http("POST", "/m").text == "post"
    r = main_server.http("PUT", "/m")
    assert (r.status, r.text) == (200, "any:PUT")
    r = main_server.http("DELETE", "/m")
    assert (r.status, r.text) == (200, "any:DELETE")


def test_any_route_gets_method_case_as_sent(main_server):
    with main_server.raw() as c:
        c.request("get", "/echo-method")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"get")
        c.request("FROB", "/echo-method")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"FROB")


def test_all_parameters(main_server):
    r = main_server.get("/multi/x/yy/zzz")
    assert r.status == 200
    assert r.json() == {"params": ["x", "yy", "zzz"], "p0": "x", "p2": "zzz", "p3": None}


def test_yield_to_next_handler_same_pattern(main_server):
    r = main_server.get("/yield")
    # first handler saw get_yield() == True; the second runs with it reset
    assert (r.status, r.text) == (200, "second:True:False")


def test_yield_from_method_route_to_any(main_server):
    r = main_server.get("/yield-any")
    assert (r.status, r.text) == (200, "any-after-yield")


def test_yield_from_param_to_wildcard(main_server):
    r = main_server.get("/yp/abc")
    assert (r.status, r.text) == (200, "wild-after-yield:/yp/abc")


def test_all_handlers_yield_gives_404(main_server):
    r = main_server.get("/yield-all")
    assert r.status == 404
    assert len(r.body) > 0


def test_404_nonempty_and_keeps_connection(main_server):
    with main_server.raw() as c:
        c.request("GET", "/no/such/route")
        r = c.read_response()
        assert r.status == 404
        assert len(r.body) > 0
        assert r.header("Content-Length") == str(len(r.body))
        assert (r.header("Connection") or "").lower() != "close"
        c.request("GET", "/static")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"static")


def test_404_for_wrong_method(main_server):
    r = main_server.http("POST", "/static")
    assert r.status == 404
    assert len(r.body) > 0
