"""Exceptions in handlers: default 500, custom error handler (method and
decorator), errors after the response, failing error handler."""

import pytest


# ---- default behaviour (main app has no error handler) ----

@pytest.mark.parametrize("path", ["/raise", "/raise-async"])
def test_default_500(main_server, path):
    with main_server.raw() as c:
        c.request("GET", path)
        r = c.read_response()
        assert r.status == 500
        assert r.body == b"Internal Server Error"
        assert r.header("Content-Length") == str(len(r.body))
    # the server keeps serving
    assert main_server.get("/static").text == "static"


def test_default_500_repeated(main_server):
    for _ in range(5):
        assert main_server.get("/raise").status == 500
    assert main_server.get("/static").text == "static"


def test_raise_after_end_sends_nothing_more(main_server):
    with main_server.raw() as c:
        c.request("GET", "/raise-after-end")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"done")
        # no second (500) response was appended: the next response is ours
        c.request("GET", "/pipe/next")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"pipe:next")


# ---- custom error handler ----

@pytest.fixture(params=["set_error_handler", "on_error_decorator"])
def err_server(request):
    if request.param == "set_error_handler":
        return request.getfixturevalue("error_server")
    return request.getfixturevalue("error_server_decorator")


@pytest.mark.parametrize("path, body", [
    ("/raise", "handled:ValueError:boom-sync"),
    ("/raise-pre-await", "handled:ValueError:boom-pre-await"),
    ("/raise-async", "handled:ValueError:boom-async"),
])
def test_custom_error_handler(err_server, path, body):
    r = err_server.get(path)
    assert (r.status, r.text) == (503, body)
    assert err_server.get("/ok").text == "ok"


def test_error_handler_keeps_connection(err_server):
    with err_server.raw() as c:
        for _ in range(3):
            c.request("GET", "/raise")
            r = c.read_response()
            assert (r.status, r.body) == (503, b"handled:ValueError:boom-sync")
        c.request("GET", "/ok")
        assert c.read_response().body == b"ok"


def test_failing_error_handler_does_not_kill_server(err_server):
    with err_server.raw() as c:
        c.request("GET", "/handler-fails")
        try:
            r = c.read_response()
        except EOFError:
            r = None  # closing the connection is acceptable
        if r is not None:
            assert r.status == 500, r
    # the process survives and serves other clients
    assert err_server.get("/ok").text == "ok"
