"""Response framing against user headers (review 2.6) and Expect: 100-continue.

Server: tests/apps/engine_app.py. Every response is read raw so duplicated
or contradictory header lines are visible.
"""

import re
import time

import pytest

from conftest import RawConn
from engine_util import eng, engine_liveness, get, state  # noqa: F401  (fixtures)


def one(resp, name):
    vals = resp.header_all(name)
    assert len(vals) == 1, "expected exactly one %s, got %r in %r" % (name, vals, resp.headers)
    return vals[0]


# ---- D1, D2: Content-Length ---------------------------------------------------------------------

def test_user_content_length_matching_body_is_sent_once(eng):
    r = get(eng, "/cl-ok")
    assert r.status == 200
    assert one(r, "Content-Length") == "5"
    assert r.body == b"hello"


def test_user_content_length_contradicting_body_is_a_500(eng):
    r = get(eng, "/cl-bad")
    assert r.status == 500, "contradictory Content-Length was sent: %r" % (r,)
    assert one(r, "Content-Length") == str(len(r.body))
    assert state(eng).get("cl_bad") == "ValueError"


# ---- D3: Content-Type ----------------------------------------------------------------------------

def test_send_json_has_one_content_type(eng):
    r = get(eng, "/send-json")
    assert r.status == 200
    assert one(r, "Content-Type") == "application/json"
    assert r.body == b'{"a": 1}' or r.body.replace(b" ", b"") == b'{"a":1}'


def test_user_content_type_wins_over_json(eng):
    r = get(eng, "/ct-custom")
    assert r.status == 200
    assert one(r, "Content-Type") == "application/x-custom"
    assert r.body.replace(b" ", b"") == b'{"a":1}'


# ---- D4: 204 and 304 ------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses_have_no_framing_and_keep_alive(eng, code):
    with RawConn(eng.port) as c:
        c.request("GET", "/status/%d" % code)
        r = c.read_response()
        assert r.status == code
        assert r.header_all("Content-Length") == [], r.headers
        assert r.header_all("Transfer-Encoding") == [], r.headers
        # No body bytes may follow: the next response must start right here.
        c.request("GET", "/")
        r2 = c.read_response()
        assert (r2.status, r2.body) == (200, b"ok")


# ---- D5, D6: status codes ------------------------------------------------------------------------

@pytest.mark.parametrize("code", [100, 101, 199, 600, 99])
def test_invalid_final_status_raises_value_error(eng, code):
    r = get(eng, "/status/%d" % code)
    assert r.status == 500, "status %d was sent as a final status: %r" % (code, r)
    assert state(eng)["status_errors"].get(str(code)) == "ValueError"


def test_unknown_status_gets_a_class_reason(eng):
    with RawConn(eng.port) as c:
        c.request("GET", "/status/599", headers={"Connection": "close"})
        data, _ = c.read_until_closed(5)
    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    assert re.match(r"^HTTP/1\.1 599 \S", status_line), "status line %r" % status_line


# ---- D7: Transfer-Encoding -------------------------------------------------------------------------

def test_user_transfer_encoding_chunked_is_sent_once(eng):
    r = get(eng, "/te-chunked")
    assert r.status == 200
    assert one(r, "Transfer-Encoding").lower() == "chunked"
    assert r.header_all("Content-Length") == []
    assert r.body == b"abc"


# ---- D8: Connection ---------------------------------------------------------------------------------

def test_user_connection_close_is_sent_once_and_closes(eng):
    with RawConn(eng.port) as c:
        c.request("GET", "/connection/close")
        r = c.read_response()
        assert r.status == 200 and r.body == b"x"
        assert one(r, "Connection").lower() == "close"
        c.expect_closed(3)


def test_user_connection_keep_alive_is_not_duplicated_and_kept(eng):
    with RawConn(eng.port) as c:
        c.request("GET", "/connection/keep-alive")
        r = c.read_response()
        assert r.status == 200 and r.body == b"x"
        assert len(r.header_all("Connection")) <= 1, r.headers
        c.request("GET", "/")
        r2 = c.read_response()
        assert (r2.status, r2.body) == (200, b"ok")


# ---- D9: Date -----------------------------------------------------------------------------------------

def test_user_date_replaces_the_engine_date(eng):
    r = get(eng, "/date")
    assert r.status == 200
    assert r.header_all("Date") == ["Tue, 01 Jan 2030 00:00:00 GMT"], r.headers


# ---- E: Expect: 100-continue ---------------------------------------------------------------------------

EXPECT_HEAD = ("POST %s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
               "Expect: 100-continue\r\n\r\n")


def test_expect_without_reading_the_body_sends_no_100(eng):
    with RawConn(eng.port) as c:
        c.send(EXPECT_HEAD % "/no-read")
        r = c.read_response(timeout=3)
        assert r.status == 200, "the route never asked for the body, yet got %r" % (r,)
        assert r.body == b"no"


def test_expect_is_answered_when_the_handler_reads(eng):
    with RawConn(eng.port) as c:
        c.send(EXPECT_HEAD % "/echo")
        r = c.read_response(timeout=3)
        assert r.status == 100 and r.raw.startswith(b"HTTP/1.1 100 Continue\r\n"), r
        time.sleep(0.05)
        c.send(b"hello")
        r2 = c.read_response(timeout=3)
        assert (r2.status, r2.body) == (200, b"hello")
