"""Connection management: keep-alive, Connection: close, end_connection,
HTTP/1.0."""

import asyncio

import aiohttp


def test_three_requests_one_socket(main_server):
    with main_server.raw() as c:
        for path, body in (("/a", b"A"), ("/b", b"B"), ("/c", b"C")):
            c.request("GET", path)
            r = c.read_response()
            assert (r.status, r.body) == (200, body)
            assert (r.header("Connection") or "").lower() != "close"
        c.expect_open(0.2)


def test_aiohttp_session_reuses_one_connection(main_server):
    created = []
    reused = []

    async def on_create(session, ctx, params):
        created.append(1)

    async def on_reuse(session, ctx, params):
        reused.append(1)

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_create)
    trace.on_connection_reuseconn.append(on_reuse)

    async def go():
        timeout = aiohttp.ClientTimeout(total=10)
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                         trace_configs=[trace]) as s:
            bodies = []
            for path in ("/a", "/b", "/c"):
                async with s.get(main_server.url(path)) as r:
                    assert r.status == 200
                    bodies.append(await r.text())
            return bodies

    assert asyncio.run(go()) == ["A", "B", "C"]
    assert (len(created), len(reused)) == (1, 2)


def test_client_connection_close(main_server):
    with main_server.raw() as c:
        c.request("GET", "/static", headers={"Connection": "close"})
        r = c.read_response()
        assert (r.status, r.body) == (200, b"static")
        assert r.header("Connection").lower() == "close"
        c.expect_closed()


def test_end_connection_true(main_server):
    with main_server.raw() as c:
        c.request("GET", "/close")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"bye")
        assert r.header("Connection").lower() == "close"
        c.expect_closed()


def test_end_without_body_end_connection(main_server):
    with main_server.raw() as c:
        c.request("GET", "/close-nobody")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"")
        assert r.header("Content-Length") == "0"
        assert r.header("Connection").lower() == "close"
        c.expect_closed()


def test_http10_closes_by_default(main_server):
    with main_server.raw() as c:
        c.send("GET /static HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.raw.startswith(b"HTTP/1.")
        assert (r.status, r.body) == (200, b"static")
        assert r.header("Content-Length") == "6"
        c.expect_closed()


def test_http10_keep_alive(main_server):
    with main_server.raw() as c:
        for path, body in (("/a", b"A"), ("/b", b"B")):
            c.send("GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % path)
            r = c.read_response()
            assert (r.status, r.body) == (200, body)
            assert r.header("Content-Length") == "1"
        c.expect_open(0.3)
        # and a final HTTP/1.0 request without keep-alive ends it
        c.send("GET /c HTTP/1.0\r\n\r\n")
        assert c.read_response().body == b"C"
        c.expect_closed()


def test_http10_with_host_header(main_server):
    with main_server.raw() as c:
        c.send("GET /user/5 HTTP/1.0\r\nHost: example\r\n\r\n")
        assert c.read_response().body == b"user:5"
        c.expect_closed()


def test_connection_close_after_keepalive_requests(main_server):
    with main_server.raw() as c:
        c.request("GET", "/a")
        assert c.read_response().body == b"A"
        c.request("GET", "/b", headers={"Connection": "close"})
        r = c.read_response()
        assert r.body == b"B"
        assert r.header("Connection").lower() == "close"
        c.expect_closed()


def test_404_with_connection_close(main_server):
    with main_server.raw() as c:
        c.request("GET", "/nope", headers={"Connection": "close"})
        r = c.read_response()
        assert r.status == 404
        c.expect_closed()
