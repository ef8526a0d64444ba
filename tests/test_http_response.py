"""Response methods: status, headers, end variants, cork, has_responded,
aborted / on_aborted, HEAD, Date, big bodies."""

import email.utils
import json
import socket
import struct
import time


def test_status_string(main_server):
    with main_server.raw() as c:
        c.request("GET", "/status-str")
        r = c.read_response()
    assert (r.status, r.reason, r.body) == (201, "Created", b"created")


def test_status_int(main_server):
    with main_server.raw() as c:
        c.request("GET", "/status-int")
        r = c.read_response()
    assert (r.status, r.reason, r.body) == (202, "Accepted", b"accepted")


def test_status_after_header_goes_first(main_server):
    with main_server.raw() as c:
        c.request("GET", "/header-then-status")
        r = c.read_response()
    assert r.raw.startswith(b"HTTP/1.1 418 ")
    assert r.header("X-First") == "1"
    assert r.body == b"teapot"
    assert r.header_all("X-First") == ["1"]


def test_chaining_and_int_header_value(main_server):
    r = main_server.get("/chain")
    assert (r.status, r.text) == (200, "chained")
    assert r.headers["X-Chain"] == "yes"
    assert r.headers["X-Int"] == "42"


def test_default_headers(main_server):
    with main_server.raw() as c:
        c.request("GET", "/static")
        r = c.read_response()
    assert r.version == "HTTP/1.1"
    assert (r.status, r.reason) == (200, "OK")
    assert r.header("Content-Length") == "6"
    date = r.header("Date")
    assert date is not None, r.headers
    parsed = email.utils.parsedate_to_datetime(date)
    assert date.endswith(" GMT")
    assert abs(parsed.timestamp() - time.time()) < 60


def test_write_header_rejects_cr_lf_nul(main_server):
    with main_server.raw() as c:
        c.request("GET", "/bad-headers")
        r = c.read_response()
    assert r.status == 200
    assert json.loads(r.body) == ["ValueError"] * 7
    assert r.header("X-Good") == "ok"
    assert b"Injected" not in r.raw
    for name in ("X-A", "X-B", "X-C", "X-D", "X-E", "X-F", "X-G"):
        assert r.header(name) is None, (name, r.headers)


def test_end_without_body_keeps_alive(main_server):
    with main_server.raw() as c:
        c.request("GET", "/end-no-body")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"")
        assert r.header("Content-Length") == "0"
        assert r.header("X-E") == "1"
        c.expect_open(0.2)
        c.request("GET", "/static")
        assert c.read_response().body == b"static"


def test_end_without_body_via_aiohttp_does_not_hang(main_server):
    r = main_server.get("/end-no-body")
    assert (r.status, r.body) == (200, b"")


def test_end_no_argument(main_server):
    with main_server.raw() as c:
        c.request("GET", "/end-empty")
        r = c.read_response()
    assert (r.status, r.body, r.header("Content-Length")) == (200, b"", "0")


def test_end_bytes(main_server):
    r = main_server.get("/bytes")
    assert r.body == b"\x00\x01\x02binary\xff"
    assert r.headers["Content-Length"] == "10"


def test_end_unicode_is_utf8(main_server):
    r = main_server.get("/unicode")
    expected = "h\u00e9llo w\u00f6rld \u2713".encode("utf-8")
    assert r.body == expected
    assert r.headers["Content-Length"] == str(len(expected))


def test_big_body(main_server):
    with main_server.raw(timeout=10) as c:
        c.request("GET", "/big")
        r = c.read_response(timeout=20)
        assert r.header("Content-Length") == "1000000"
        assert r.body == b"0123456789" * 100_000
        # the connection is still usable after a large, back-pressured write
        c.request("GET", "/static")
        assert c.read_response().body == b"static"


def test_big_body_aiohttp(main_server):
    r = main_server.get("/big")
    assert r.body == b"0123456789" * 100_000


def test_cork(main_server):
    r = main_server.get("/cork")
    assert (r.status, r.text, r.headers["X-Cork"]) == (200, "corked", "1")


def test_cork_end(main_server):
    r = main_server.get("/cork-end")
    assert (r.status, r.text) == (200, "cork-end")


def test_has_responded(main_server):
    with main_server.raw() as c:
        c.request("GET", "/responded")
        assert c.read_response().body == b"before=False"
        c.request("GET", "/responded-after")
        assert c.read_response().body == b"after=True"


def test_aborted_attribute_false_normally(main_server):
    assert main_server.get("/aborted-attr").text == "aborted=False"


def test_on_aborted_called_when_client_disconnects(main_server):
    c = main_server.raw()
    c.request("GET", "/abortable")
    time.sleep(0.1)
    sent = time.monotonic()
    # reset (not FIN: a half-close still gets its answer) before the handler
    # answers (it sleeps 0.5 s)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    state = {}
    for _ in range(50):
        state = main_server.get("/abort-state").json()
        if "abort_after_await" in state or time.monotonic() - sent > 1.5:
            if "abort_cb" in state:
                break
        time.sleep(0.1)
    assert state.get("abort_before") is False, state
    assert state.get("abort_cb") is True, state
    assert state.get("abort_attr_in_cb") is True, state
    # the coroutine may be cancelled on abort; if it went on, it saw aborted
    assert state.get("abort_after_await", True) is True, state


def test_half_close_after_a_sync_answer_still_gets_it(main_server):
    # The answer leaves while the request is read; the FIN comes after it.
    with main_server.raw() as c:
        c.request("GET", "/static")
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        assert (r.status, r.body) == (200, b"static")
        c.expect_closed()


def test_half_close_aborts_a_pending_response(main_server):
    # HTTP has no half-close (review 2.4): a client that stops sending while its
    # answer is pending is gone; the server closes instead of keeping CLOSE-WAIT.
    with main_server.raw() as c:
        c.request("GET", "/slow")
        c.sock.shutdown(socket.SHUT_WR)
        c.expect_closed()


def test_head_on_get_route(main_server):
    with main_server.raw() as c:
        c.request("GET", "/unicode")
        get = c.read_response()
        c.request("HEAD", "/unicode")
        head = c.read_response(head=True)
        assert head.status == 200
        assert head.header("Content-Length") == get.header("Content-Length") == "17"
        assert head.header("Date") is not None
        # no body bytes were sent: the next response starts right away
        c.request("GET", "/static")
        r = c.read_response()
        assert r.raw.startswith(b"HTTP/1.1 200"), r.raw[:100]
        assert r.body == b"static"
