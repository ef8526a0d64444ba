"""PROXY protocol v1/v2 on an opt-in App option (App(proxy_protocol=True)).

With the option every connection must start with a preamble: its source
address is what get_proxied_remote_address() reports; a malformed or missing
preamble closes the connection without an answer. Without the option a
preamble is just a bad request (400)."""

import json
import socket
import struct

import pytest

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(command, fam, addr_block, tlvs=b""):
    block = addr_block + tlvs
    return V2_SIG + bytes([0x20 | command, fam]) + struct.pack("!H", len(block)) + block


def v2_tcp4(src, dst, sport, dport, tlvs=b""):
    return v2(1, 0x11, socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport), tlvs)


def v2_tcp6(src, dst, sport, dport):
    return v2(1, 0x21, socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
              + struct.pack("!HH", sport, dport))


GET_WHO = b"GET /who HTTP/1.1\r\nHost: a\r\n\r\n"


@pytest.fixture
def on(launch):
    return launch("proxy_app", args=["on"])


@pytest.fixture
def off(launch):
    return launch("proxy_app", args=["off"])


def ask(srv, preamble, split=None):
    with srv.raw() as c:
        data = preamble + GET_WHO
        if split:
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.send(data[:split])
            import time
            time.sleep(0.05)
            c.send(data[split:])
        else:
            c.send(data)
        r = c.read_response()
        assert r.status == 200
        return json.loads(r.body)


@pytest.mark.parametrize("preamble,text,raw", [
    (b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n", "203.0.113.7", "cb007107"),
    (b"PROXY TCP6 2001:db8::5 2001:db8::1 51000 443\r\n", "2001:db8::5", "20010db8000000000000000000000005"),
    (v2_tcp4("198.51.100.9", "192.0.2.1", 4000, 80), "198.51.100.9", "c6336409"),
    (v2_tcp4("198.51.100.9", "192.0.2.1", 4000, 80, tlvs=b"\x01\x00\x02h2"), "198.51.100.9", "c6336409"),
    (v2_tcp6("2001:db8::9", "2001:db8::1", 4000, 80), "2001:db8::9", "20010db8000000000000000000000009"),
])
def test_preamble_gives_the_proxied_address(on, preamble, text, raw):
    got = ask(on, preamble)
    assert got["proxied"] == text
    assert got["proxied_bytes"] == raw
    assert got["remote"] == "127.0.0.1"


def test_preamble_split_across_segments(on):
    preamble = v2_tcp4("198.51.100.9", "192.0.2.1", 4000, 80)
    assert ask(on, preamble, split=7)["proxied"] == "198.51.100.9"
    line = b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n"
    assert ask(on, line, split=20)["proxied"] == "203.0.113.7"


def test_local_and_unknown_have_no_proxied_address(on):
    for preamble in (v2(0, 0x00, b""), b"PROXY UNKNOWN\r\n"):
        got = ask(on, preamble)
        assert got["proxied"] is None and got["proxied_bytes"] is None


def test_keep_alive_after_the_preamble(on):
    with on.raw() as c:
        c.send(b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n" + GET_WHO)
        assert json.loads(c.read_response().body)["proxied"] == "203.0.113.7"
        c.send(GET_WHO)  # no second preamble on the same connection
        assert json.loads(c.read_response().body)["proxied"] == "203.0.113.7"


@pytest.mark.parametrize("data", [
    GET_WHO,                                                     # missing preamble
    b"PROXY TCP4 203.0.113.7  192.0.2.1 51000 443\r\n" + GET_WHO,  # two spaces
    b"PROXY TCP4 1.2.3.999 192.0.2.1 1 2\r\n" + GET_WHO,          # bad address
    b"PROXY TCP4 1.2.3.4 192.0.2.1 70000 2\r\n" + GET_WHO,        # bad port
    V2_SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12 + GET_WHO,        # version 3
    V2_SIG + b"\x21\x12\x00\x0c" + b"\x00" * 12 + GET_WHO,        # UDP
])
def test_bad_or_missing_preamble_closes(on, data):
    with on.raw() as c:
        c.send(data)
        c.expect_closed()
    # and the server goes on
    assert ask(on, b"PROXY UNKNOWN\r\n")["proxied"] is None


@pytest.mark.parametrize("preamble", [
    b"PROXY TCP4 203.0.113.7 192.0.2.1 51000 443\r\n",
    v2_tcp4("198.51.100.9", "192.0.2.1", 4000, 80),
])
def test_preamble_without_the_option_is_400(off, preamble):
    with off.raw() as c:
        c.send(preamble + GET_WHO)
        r = c.read_response()
        assert r.status == 400
        c.expect_closed()


def test_without_the_option_there_is_no_proxied_address(off):
    with off.raw() as c:
        c.send(GET_WHO)
        assert json.loads(c.read_response().body)["proxied"] is None
