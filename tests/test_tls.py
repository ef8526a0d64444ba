"""TLS: App(options=AppOptions(...)) against real clients (Python's ssl, aiohttp, websockets)
over real sockets (tests/apps/tls_app.py), plus the option errors raised from App() itself.

Certificates are made at run time with trustme (nothing that expires lives in the repo).
socketify_cy is imported inside the tests, never at module level: `python -m pytest` from a
checkout would otherwise import the uncompiled source tree at collection time.
"""

import asyncio
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import types
import warnings

import aiohttp
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from conftest import APPS_DIR, SOCK_TIMEOUT, RawConn, start_server, stop_server

MiB = 1024 * 1024
PATTERN = bytes(range(251)) * (16 * MiB // 251 + 1)  # tls_app's /big and /stream bodies
PASSPHRASE = "secret"
ONLY_CIPHER = "ECDHE-ECDSA-AES128-GCM-SHA256"  # the passphrase server's whole TLS 1.2 list


def run(coro, timeout=20):
    return asyncio.run(asyncio.wait_for(coro, timeout))


# ---- certificates ------------------------------------------------------------------------------

def _write_leaf(leaf, cert_path, key_path):
    leaf.cert_chain_pems[0].write_to_path(cert_path)
    leaf.private_key_pem.write_to_path(key_path)
    return types.SimpleNamespace(
        leaf=leaf, cert=str(cert_path), key=str(key_path),
        der=ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode()))


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    p = types.SimpleNamespace(dir=d)
    p.ca = trustme.CA()
    p.default = _write_leaf(p.ca.issue_cert("localhost", "127.0.0.1"), d / "default.pem", d / "default.key")
    # RSA for one name: both key types get loaded and served
    p.a = _write_leaf(p.ca.issue_cert("a.test", key_type=trustme.KeyType.RSA), d / "a.pem", d / "a.key")
    p.b = _write_leaf(p.ca.issue_cert("b.test"), d / "b.pem", d / "b.key")
    p.example = _write_leaf(p.ca.issue_cert("*.example.test"), d / "example.pem", d / "example.key")
    # what the missing_server_name handler finds: DIR/<host>.pem + DIR/<host>.key
    p.dyn_dir = d / "dyn"
    p.dyn_dir.mkdir()
    p.dyn = _write_leaf(p.ca.issue_cert("dyn.test"), p.dyn_dir / "dyn.test.pem", p.dyn_dir / "dyn.test.key")

    p.client_ca = trustme.CA()
    p.client_ca_pem = str(d / "client_ca.pem")
    p.client_ca.cert_pem.write_to_path(p.client_ca_pem)
    p.client = p.client_ca.issue_cert("client.test")
    p.rogue_client = trustme.CA().issue_cert("client.test")

    # the default certificate's key, encrypted
    key = serialization.load_pem_private_key(p.default.leaf.private_key_pem.bytes(), password=None)
    p.enc_key = str(d / "default-enc.key")
    with open(p.enc_key, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(PASSPHRASE.encode())))
    p.garbage = str(d / "garbage.pem")
    with open(p.garbage, "w") as f:
        f.write("this is not a PEM file\n")
    p.missing = str(d / "does-not-exist.pem")
    return p


# ---- servers (module-scoped, stopped and checked at teardown by conftest) ---------------------

@pytest.fixture(scope="module")
def unix_path():
    # short: AF_UNIX paths are limited to ~108 bytes, pytest's tmp paths can be longer
    d = tempfile.mkdtemp(prefix="tls", dir="/tmp")
    yield os.path.join(d, "s.sock")
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def srv(pki, unix_path):
    """Default certificate for localhost/127.0.0.1, SNI certificates, a missing-name handler,
    domain routes, and a unix socket."""
    s = start_server("tls_app", args=[
        pki.default.cert, pki.default.key,
        "--sni", "a.test", pki.a.cert, pki.a.key,
        "--sni", "b.test", pki.b.cert, pki.b.key,
        "--sni", "*.example.test", pki.example.cert, pki.example.key,
        "--sni-default", "plain.test",
        "--missing-sni-dir", str(pki.dyn_dir),
        "--domain", "dom.test",
        "--domain", "*.example.test",   # already has its own certificate: kept
        "--unix", unix_path,
    ])
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def bare(pki):
    """idle_timeout 2 s, one SNI name, no missing_server_name handler."""
    s = start_server("tls_app", args=[pki.default.cert, pki.default.key, "--idle", "2",
                                      "--sni", "a.test", pki.a.cert, pki.a.key])
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def mtls(pki):
    """Client certificates issued by client_ca required."""
    s = start_server("tls_app", args=[pki.default.cert, pki.default.key, "--ca", pki.client_ca_pem])
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def proxied(pki):
    """App(proxy_protocol=True): every connection starts with a PROXY header, then TLS."""
    s = start_server("tls_app", args=[pki.default.cert, pki.default.key, "--proxy"])
    yield s
    stop_server(s)


# ---- clients -----------------------------------------------------------------------------------

def client_ctx(pki, min_version=None, max_version=None, alpn=None, client_cert=None):
    """A verifying client: trusts the test CA, checks the host name."""
    ctx = ssl.create_default_context()
    pki.ca.configure_trust(ctx)
    if min_version is not None:
        ctx.minimum_version = min_version
    if max_version is not None:
        ctx.maximum_version = max_version
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if client_cert is not None:
        client_cert.configure_cert(ctx)
    return ctx


def sni_ctx(pki):
    """Verifies the chain but not the name: SNI tests compare the served certificate itself."""
    ctx = client_ctx(pki)
    ctx.check_hostname = False
    return ctx


def lax_ctx(min_version=None, max_version=None, ciphers=None):
    """Verifies nothing: for protocol/cipher refusal tests, so only the refusal can fail them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1 / TLSv1_1 constants
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


class Conn(RawConn):
    """conftest's RawConn (request, read_response, read_until_closed, ...) over any socket."""

    def __init__(self, sock, timeout=SOCK_TIMEOUT):
        sock.settimeout(timeout)
        self.timeout = timeout
        self.sock = sock
        self.buf = b""


class SlowConn(Conn):
    """Reads like a slow client: a short pause every 16 reads."""

    reads = 0

    def _fill(self, deadline):
        self.reads += 1
        if self.reads % 16 == 0:
            time.sleep(0.01)
        super()._fill(deadline)


def tcp(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(SOCK_TIMEOUT)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connect: sets the window
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        s.connect(("127.0.0.1", port))
    except BaseException:
        s.close()
        raise
    return s


def tls(port, ctx, server_hostname="localhost", session=None, rcvbuf=None, cls=Conn):
    """A TLS connection, handshake done; raises what the handshake raises."""
    raw = tcp(port, rcvbuf)
    try:
        sock = ctx.wrap_socket(raw, server_hostname=server_hostname, session=session)
    except BaseException:
        raw.close()
        raise
    return cls(sock)


def get(conn, path="/"):
    conn.request("GET", path)
    return conn.read_response()


def assert_serving(srv, pki):
    """A fresh, verified HTTPS GET still works."""
    with tls(srv.port, client_ctx(pki)) as c:
        r = get(c)
        assert (r.status, r.body) == (200, b"hello tls")


def served(srv, pki, server_hostname, path="/"):
    """(DER of the certificate served for this SNI name, GET path response)."""
    with tls(srv.port, sni_ctx(pki), server_hostname=server_hostname) as c:
        der = c.sock.getpeercert(binary_form=True)
        return der, get(c, path)


def handshake_error(port, ctx, server_hostname=None):
    """The exception a handshake (and a first request/response) raises, None if it works."""
    try:
        with tls(port, ctx, server_hostname=server_hostname) as c:
            r = get(c)
    except (ssl.SSLError, ConnectionError, EOFError) as e:
        return e
    return AssertionError("served: %r" % (r,))


def https(srv, method, path, ctx, **kw):
    async def go():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            async with s.request(method, "https://127.0.0.1:%d%s" % (srv.port, path), ssl=ctx, **kw) as r:
                return r.status, await r.read()
    return run(go())


def wss_url(srv, path):
    return "wss://127.0.0.1:%d%s" % (srv.port, path)


def missing_calls(srv, pki):
    with tls(srv.port, client_ctx(pki)) as c:
        return json.loads(get(c, "/missing-calls").body)


# ---- HTTP over TLS -----------------------------------------------------------------------------

def test_https_get_verified_against_the_ca(srv, pki):
    # aiohttp checks the chain and the IP address in the certificate
    assert https(srv, "GET", "/", client_ctx(pki)) == (200, b"hello tls")


def test_keep_alive_requests_share_one_tls_connection(srv, pki):
    with tls(srv.port, client_ctx(pki)) as c:
        for i in range(5):
            assert get(c).body == b"hello tls"
            c.request("POST", "/echo", body=b"body-%d" % i)
            assert c.read_response().body == b"body-%d" % i
        assert c.read_until_closed(0.2) == (b"", False)  # still open, nothing extra


def test_pipelined_requests_in_one_tls_write(srv, pki):
    with tls(srv.port, client_ctx(pki)) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
               b"GET /big?n=300 HTTP/1.1\r\nHost: x\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
        assert c.read_response().body == b"hello tls"
        assert c.read_response().body == b"first"
        assert c.read_response().body == PATTERN[:300]
        assert c.read_response().body == b"abc"


@pytest.mark.parametrize("path", ["/many", "/async-many"])
def test_one_response_is_one_send_over_tls(srv, pki, path):
    # Between two counter reads the server sent the first /stats answer and
    # the target: 2 sends if each response is one corked SSL_write + send.
    # The control (/stream, several records) proves the counter counts.
    with tls(srv.port, client_ctx(pki)) as c:
        n1 = int(get(c, "/stats").body)
        r = get(c, path)
        n2 = int(get(c, "/stats").body)
        assert (r.status, r.body, r.header("X-Three")) == (201, b"many-body", "1")
        assert n2 - n1 == 2, "%s took %d sends" % (path, n2 - n1 - 1)
        get(c, "/stream?n=%d" % (256 * 1024))
        n3 = int(get(c, "/stats").body)
        assert n3 - n2 > 3


def test_connection_close_sends_close_notify_then_fin(srv, pki):
    # suppress_ragged_eofs=False: an EOF without close_notify would raise
    # SSLEOFError; a clean TLS shutdown reads as b"".
    raw = tcp(srv.port)
    sock = client_ctx(pki).wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    with sock:
        sock.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        else:
            pytest.fail("the server did not end the connection")
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b"bye")
        assert b"connection: close" in data.lower()


def test_post_echo_1mib_body(srv, pki):
    body = os.urandom(MiB)
    assert https(srv, "POST", "/echo", client_ctx(pki), data=body) == (200, body)


def test_chunked_body_split_across_tls_records(srv, pki):
    with tls(srv.port, client_ctx(pki)) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"5\r\nhel", b"lo\r\n", b"6\r\n world\r\n", b"0\r\n\r\n"):
            c.send(piece)  # each send is its own TLS record
            time.sleep(0.01)
        assert c.read_response().body == b"hello world"


@pytest.mark.parametrize("path", ["/big", "/stream"])
def test_4mib_response_to_a_slow_reader(srv, pki, path):
    n = 4 * MiB
    with tls(srv.port, client_ctx(pki), rcvbuf=32 * 1024, cls=SlowConn) as c:
        c.request("GET", "%s?n=%d" % (path, n))
        time.sleep(0.5)  # nothing read yet: the server fills the socket and has to wait
        r = c.read_response(timeout=20)
        assert r.status == 200
        assert len(r.body) == n and r.body == PATTERN[:n]
        assert get(c).body == b"hello tls"  # and the connection goes on


def test_client_closing_mid_download_leaves_the_server_serving(srv, pki):
    for _ in range(3):
        c = tls(srv.port, client_ctx(pki))
        c.request("GET", "/stream?n=%d" % (16 * MiB))
        c.sock.recv(65536)
        c.close()
    assert_serving(srv, pki)


def test_forty_concurrent_handshakes(srv, pki):
    async def go():
        connector = aiohttp.TCPConnector(limit=0, force_close=True, ssl=client_ctx(pki))
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=20)) as s:
            async def one(i):
                async with s.post("https://127.0.0.1:%d/echo" % srv.port, data=b"n%d" % i) as r:
                    return r.status, await r.read()
            return await asyncio.gather(*[one(i) for i in range(40)])
    assert run(go()) == [(200, b"n%d" % i) for i in range(40)]


def test_unix_socket_listener_stays_plain(srv, unix_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(SOCK_TIMEOUT)
    s.connect(unix_path)
    with Conn(s) as c:
        r = get(c)
        assert (r.status, r.body) == (200, b"hello tls")
        c.request("POST", "/echo", body=b"over unix")
        assert c.read_response().body == b"over unix"


# ---- protocol versions, ciphers, ALPN, resumption ----------------------------------------------

def test_tls13_client(srv, pki):
    with tls(srv.port, client_ctx(pki, min_version=ssl.TLSVersion.TLSv1_3)) as c:
        assert c.sock.version() == "TLSv1.3"
        assert get(c).body == b"hello tls"


@pytest.mark.parametrize("name", ["localhost", "a.test"], ids=["ecdsa", "rsa"])
def test_tls12_client_gets_an_aead_ecdhe_suite(srv, pki, name):
    ctx = client_ctx(pki, max_version=ssl.TLSVersion.TLSv1_2)
    with tls(srv.port, ctx, server_hostname=name) as c:
        cipher, version, _ = c.sock.cipher()
        assert version == "TLSv1.2"
        assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
        assert get(c).body == b"hello tls"


def test_alpn_selects_http11(srv, pki):
    with tls(srv.port, client_ctx(pki, alpn=["h2", "http/1.1"])) as c:
        assert c.sock.selected_alpn_protocol() == "http/1.1"
        assert get(c).body == b"hello tls"


# Failures a client raises before the server has had any say: the test would prove nothing.
CLIENT_SIDE = {"NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE", "NO_CIPHER_MATCH"}


def assert_refused_by_server(err, what):
    assert err is not None and not isinstance(err, AssertionError), "%s: %s" % (what, err)
    if isinstance(err, ssl.SSLError) and err.reason in CLIENT_SIDE:
        pytest.skip("the local OpenSSL will not offer %s (%s)" % (what, err.reason))


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
def test_old_protocol_versions_refused(srv, pki, version):
    v = getattr(ssl.TLSVersion, version)
    ctx = lax_ctx(min_version=v, max_version=v, ciphers="ALL:@SECLEVEL=0")
    assert_refused_by_server(handshake_error(srv.port, ctx), version)
    assert_serving(srv, pki)


@pytest.mark.parametrize("name,auth", [(None, "auth-ecdsa"), ("a.test", "auth-rsa")], ids=["ecdsa", "rsa"])
@pytest.mark.parametrize("suites", ["3DES", "RC4", "eNULL", "aNULL", "EXPORT"])
def test_weak_tls12_suites_refused(srv, pki, suites, name, auth):
    try:
        ctx = lax_ctx(max_version=ssl.TLSVersion.TLSv1_2, ciphers=suites + ":@SECLEVEL=0")
    except ssl.SSLError:
        pytest.skip("the local OpenSSL has no %s suites" % suites)
    # Offer at least one suite the server's key could use (anonymous ones need none),
    # or a refusal would not be the server's cipher policy.
    usable = "auth-null" if suites == "aNULL" else auth
    if not any(c["auth"] == usable for c in ctx.get_ciphers() if c["protocol"] != "TLSv1.3"):
        pytest.skip("no %s suite with %s here" % (suites, usable))
    assert_refused_by_server(handshake_error(srv.port, ctx, server_hostname=name), suites)
    assert_serving(srv, pki)


def test_tls13_session_resumption(srv, pki):
    ctx = client_ctx(pki, min_version=ssl.TLSVersion.TLSv1_3)
    with tls(srv.port, ctx) as c1:
        assert get(c1).body == b"hello tls"  # reading processes the session tickets
        assert not c1.sock.session_reused
        session = c1.sock.session
    assert session is not None and session.has_ticket
    with tls(srv.port, ctx, session=session) as c2:
        assert c2.sock.session_reused
        assert get(c2).body == b"hello tls"


# ---- not TLS, broken TLS, stalled TLS ----------------------------------------------------------

def test_plain_http_on_the_tls_port_gets_400(srv, pki):
    with srv.raw() as c:
        c.request("GET", "/")
        r = c.read_response()
        assert (r.version, r.status, r.reason) == ("HTTP/1.1", 400, "Bad Request")
        assert b"tls" in r.body.lower() or b"https" in r.body.lower(), r.body
        c.expect_closed()
    assert_serving(srv, pki)


def is_tls_alert(data):
    return len(data) >= 7 and data[0] == 0x15 and data[1] == 3


@pytest.mark.parametrize("garbage", [
    b"\x00" * 100,
    b"hello\r\n",
    b"\xff" * 64,
    b"\x16\x03\x01\x00\x10" + b"\x00" * 16,   # a handshake record holding no ClientHello
], ids=["zeros", "text", "ff", "bad-clienthello"])
def test_garbage_is_closed_cleanly(srv, pki, garbage):
    with srv.raw() as c:
        c.send(garbage)
        data, closed = c.read_until_closed()
        assert closed, "not closed within %ss; got %r" % (SOCK_TIMEOUT, data[:100])
        # nothing, a TLS alert, or (for text) the plain-HTTP 400
        assert data == b"" or is_tls_alert(data) or data.startswith(b"HTTP/1.1 400 "), data[:100]
    assert_serving(srv, pki)


def bio_client(ctx, server_hostname=None):
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    return ctx.wrap_bio(inc, out, server_hostname=server_hostname), inc, out


def client_hello(ctx):
    obj, _, out = bio_client(ctx)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return out.read()


def test_corrupted_record_after_handshake_closes_the_connection(srv, pki):
    sock = tcp(srv.port)
    try:
        obj, inc, out = bio_client(lax_ctx())
        for _ in range(20):   # a few flights at most
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(out.read())
                chunk = sock.recv(65536)
                assert chunk, "closed during the handshake"
                inc.write(chunk)
        else:
            pytest.fail("handshake did not finish")
        sock.sendall(out.read())  # the client Finished
        # application data that does not decrypt
        sock.sendall(b"\x17\x03\x03\x00\x40" + os.urandom(64))
        data, closed = Conn(sock).read_until_closed()
        assert closed, "server kept a connection whose record failed to decrypt"
    finally:
        sock.close()
    assert_serving(srv, pki)


def wait_closed(socks, limit):
    """Seconds after which each socket was closed by the peer (None: still open at `limit`)."""
    start = time.monotonic()
    closed = {}
    for s in socks:
        s.settimeout(0.2)
    for _ in range(int(limit / 0.01) + 1000):
        open_ = [s for s in socks if s not in closed]
        if not open_ or time.monotonic() - start > limit:
            break
        readable, _, _ = select.select(open_, [], [], 0.2)
        for s in readable:
            try:
                data = s.recv(4096)
            except (socket.timeout, ssl.SSLWantReadError):
                continue
            except OSError:   # reset, TLS alert
                data = b""
            if not data:
                closed[s] = time.monotonic() - start
    return [closed.get(s) for s in socks]


def test_stalled_handshakes_and_idle_tls_connections_are_closed(bare, pki):
    # idle_timeout 2 s (+4 s granularity): all three must be gone well within 11 s.
    hello = client_hello(lax_ctx())
    socks = []
    try:
        socks.append(tcp(bare.port))                          # sends nothing
        socks.append(tcp(bare.port))
        socks[-1].sendall(hello[:len(hello) // 2])            # half a ClientHello
        socks.append(tls(bare.port, client_ctx(pki)).sock)    # handshake done, no request
        times = wait_closed(socks, 11)
    finally:
        for s in socks:
            s.close()
    names = ["silent", "half-hello", "idle-after-handshake"]
    still_open = [n for n, t in zip(names, times) if t is None]
    assert not still_open, "still open after 11 s: %s (closed after: %r)" % (still_open, times)
    assert_serving(bare, pki)


# ---- WebSockets over TLS -----------------------------------------------------------------------

@pytest.mark.parametrize("compression", ["deflate", None])
def test_wss_echo(srv, pki, compression):
    async def main():
        async with ws_connect(wss_url(srv, "/ws"), ssl=client_ctx(pki), compression=compression,
                              max_size=4 * MiB, proxy=None) as ws:
            ext = ws.response.headers.get("Sec-WebSocket-Extensions") or ""
            assert ("permessage-deflate" in ext) == (compression == "deflate"), ext
            await ws.send("héllo tls")
            assert await ws.recv() == "héllo tls"
            for big in (os.urandom(MiB), b"compressible " * (MiB // 13)):
                await ws.send(big)
                assert await ws.recv() == big
    run(main())


def test_wss_pubsub(srv, pki):
    async def main():
        ctx = client_ctx(pki)
        async with ws_connect(wss_url(srv, "/chat"), ssl=ctx, proxy=None) as a, \
                ws_connect(wss_url(srv, "/chat"), ssl=ctx, proxy=None) as b:
            # both subscribed in their open handler, which ran before the 101 reached us
            for i in range(20):
                await a.send("m%d" % i)
            want = ["m%d" % i for i in range(20)]
            assert [await b.recv() for _ in range(20)] == want
            assert [await a.recv() for _ in range(20)] == want  # app.publish reaches the sender too
    run(main())


# ---- SNI ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,cert,body", [
    ("a.test", "a", b"hello tls"),
    ("x.example.test", "example", b"domain:*.example.test"),   # the domain kept the SNI certificate
    ("y.x.example.test", "default", b"hello tls"),             # `*` is one label
    ("example.test", "default", b"hello tls"),
    ("localhost", "default", b"hello tls"),
    (None, "default", b"hello tls"),                           # no SNI at all
])
def test_sni_selects_the_certificate(srv, pki, name, cert, body):
    der, r = served(srv, pki, name)
    assert der == getattr(pki, cert).der, "wrong certificate for %r" % name
    assert (r.status, r.body) == (200, body)


def test_unmatched_name_without_handler_gets_the_default_certificate(bare, pki):
    assert served(bare, pki, "a.test")[0] == pki.a.der   # SNI works on this server
    der, r = served(bare, pki, "zzz.test")
    assert der == pki.default.der
    assert r.body == b"hello tls"


def test_missing_server_name_handler_adds_a_certificate_during_the_handshake(srv, pki):
    for _ in range(2):
        der, r = served(srv, pki, "dyn.test")
        assert der == pki.dyn.der
        assert r.body == b"hello tls"
    der, _ = served(srv, pki, "nofile.test")   # the handler adds nothing: default certificate
    assert der == pki.default.der
    calls = missing_calls(srv, pki)
    assert calls.count("dyn.test") == 1, calls   # added the first time: matched the second
    assert "nofile.test" in calls
    assert "a.test" not in calls and "x.example.test" not in calls   # matched names


def test_add_server_name_without_options_uses_the_default_certificate(srv, pki):
    der, r = served(srv, pki, "plain.test")
    assert der == pki.default.der and r.body == b"hello tls"
    assert "plain.test" not in missing_calls(srv, pki)   # it matched: it was added


def test_remove_server_name(srv, pki):
    assert served(srv, pki, "b.test")[0] == pki.b.der
    with tls(srv.port, client_ctx(pki)) as c:
        assert get(c, "/remove?name=b.test").body == b"removed:True"
    assert served(srv, pki, "b.test")[0] == pki.default.der
    assert served(srv, pki, "a.test")[0] == pki.a.der   # the others stay


# ---- per-domain routes -------------------------------------------------------------------------

def test_domain_routes_only_on_connections_with_that_name(srv, pki):
    with tls(srv.port, sni_ctx(pki), server_hostname="dom.test") as c:
        assert c.sock.getpeercert(binary_form=True) == pki.default.der  # domain() added the name
        assert get(c).body == b"domain:dom.test"
        assert get(c, "/d-only").body == b"d-only:dom.test"
        c.request("POST", "/echo", body=b"to the domain")
        assert c.read_response().body == b"to the domain"
        assert get(c).body == b"domain:dom.test"   # still on this connection
        # the app's default routes do not apply: the app's usual not-found answer
        not_found = get(c, "/big?n=10")
    _, usual = served(srv, pki, "localhost", "/no-such-path")
    assert not_found.status == 404
    assert (not_found.status, not_found.body) == (usual.status, usual.body)
    # other names: the default routes, and never the domain's
    for name in ("localhost", "other.dom.test", None):
        der, r = served(srv, pki, name)
        assert r.body == b"hello tls", name
        _, r = served(srv, pki, name, "/d-only")
        assert r.status == 404, name
    assert "dom.test" not in missing_calls(srv, pki)


def test_domain_websocket_route(srv, pki):
    async def main():
        async with ws_connect(wss_url(srv, "/dws"), ssl=sni_ctx(pki), server_hostname="dom.test",
                              proxy=None) as ws:
            await ws.send("on the domain")
            assert await ws.recv() == "on the domain"
        # the app's /ws is not on the domain, the domain's /dws not on the app
        for path, name in (("/ws", "dom.test"), ("/dws", "localhost")):
            with pytest.raises(InvalidStatus) as ei:
                async with ws_connect(wss_url(srv, path), ssl=sni_ctx(pki), server_hostname=name,
                                      proxy=None):
                    pass
            assert ei.value.response.status_code == 404, (path, name)
    run(main())


# ---- client certificates -----------------------------------------------------------------------

def assert_refused_client(port, ctx):
    try:
        with tls(port, ctx) as c:
            c.request("GET", "/")
            data, closed = c.read_until_closed()
    except (ssl.SSLError, ConnectionError):
        return   # refused in the handshake (TLS 1.2) or by an alert after it (TLS 1.3)
    assert not data.startswith(b"HTTP"), data[:100]
    assert closed, "client without an acceptable certificate was neither refused nor closed"


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_client_without_certificate_refused(mtls, pki, version):
    v = getattr(ssl.TLSVersion, version)
    assert_refused_client(mtls.port, client_ctx(pki, min_version=v, max_version=v))
    # control: the same server serves a client with a certificate
    with tls(mtls.port, client_ctx(pki, min_version=v, max_version=v, client_cert=pki.client)) as c:
        assert get(c).body == b"hello tls"


def test_client_certificate_from_another_ca_refused(mtls, pki):
    assert_refused_client(mtls.port, client_ctx(pki, client_cert=pki.rogue_client))


def test_client_certificate_from_the_ca_served(mtls, pki):
    ctx = client_ctx(pki, client_cert=pki.client)
    with tls(mtls.port, ctx) as c:
        assert get(c).body == b"hello tls"
        c.request("POST", "/echo", body=b"mutual")
        assert c.read_response().body == b"mutual"
    assert https(mtls, "GET", "/", ctx) == (200, b"hello tls")


# ---- AppOptions: encrypted key, cipher list ----------------------------------------------------

def test_encrypted_key_with_passphrase_and_a_cipher_list(launch, pki):
    s = launch("tls_app", args=[pki.default.cert, pki.enc_key, "--passphrase", PASSPHRASE,
                                "--ciphers", ONLY_CIPHER])
    with tls(s.port, client_ctx(pki, max_version=ssl.TLSVersion.TLSv1_2)) as c:
        assert c.sock.cipher()[0] == ONLY_CIPHER
        assert get(c).body == b"hello tls"
    # a TLS 1.2 client offering only suites outside the list is refused
    ctx = client_ctx(pki, max_version=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305")
    err = handshake_error(s.port, ctx, "localhost")
    assert isinstance(err, (ssl.SSLError, ConnectionError)), err


# ---- App() / add_server_name() errors (in-process: the errors come from the calls) ------------

def _unreadable(pki, which):
    if os.geteuid() == 0:
        pytest.skip("root reads a chmod 000 file")
    src = getattr(pki.default, which)
    path = str(pki.dir / ("unreadable-" + os.path.basename(src)))
    shutil.copy(src, path)
    os.chmod(path, 0)
    return path


def file_error_case(pki, case):
    """(AppOptions kwargs, expected exception type, the offending path(s))."""
    good = {"cert_file_name": pki.default.cert, "key_file_name": pki.default.key}
    if case == "missing-cert":
        return dict(good, cert_file_name=pki.missing), FileNotFoundError, (pki.missing,)
    if case == "missing-key":
        return dict(good, key_file_name=pki.missing), FileNotFoundError, (pki.missing,)
    if case == "missing-ca":
        return dict(good, ca_file_name=pki.missing), FileNotFoundError, (pki.missing,)
    if case == "missing-dh-params":
        return dict(good, dh_params_file_name=pki.missing), FileNotFoundError, (pki.missing,)
    if case == "unreadable-cert":
        path = _unreadable(pki, "cert")
        return dict(good, cert_file_name=path), PermissionError, (path,)
    if case == "unreadable-key":
        path = _unreadable(pki, "key")
        return dict(good, key_file_name=path), PermissionError, (path,)
    if case == "garbage-cert":
        return dict(good, cert_file_name=pki.garbage), RuntimeError, (pki.garbage,)
    if case == "garbage-key":
        return dict(good, key_file_name=pki.garbage), RuntimeError, (pki.garbage,)
    if case == "garbage-ca":
        return dict(good, ca_file_name=pki.garbage), RuntimeError, (pki.garbage,)
    if case == "key-as-cert":
        return dict(good, cert_file_name=pki.default.key), RuntimeError, (pki.default.key,)
    if case == "wrong-passphrase":
        return dict(good, key_file_name=pki.enc_key, passphrase="wrong"), RuntimeError, (pki.enc_key,)
    if case == "mismatched-key":
        # a valid key, but not the certificate's: either file may be named
        return dict(good, key_file_name=pki.a.key), RuntimeError, (pki.a.key, pki.default.cert)
    raise AssertionError(case)


FILE_ERROR_CASES = ["missing-cert", "missing-key", "missing-ca", "missing-dh-params", "unreadable-cert",
                    "unreadable-key", "garbage-cert", "garbage-key", "garbage-ca", "key-as-cert",
                    "wrong-passphrase", "mismatched-key"]


def check_file_error(excinfo, exc_type, paths):
    e = excinfo.value
    assert not isinstance(e, NotImplementedError), repr(e)
    assert any(p in str(e) for p in paths), "%r names none of %r" % (e, paths)
    if exc_type is FileNotFoundError:
        assert e.filename == paths[0]


@pytest.mark.parametrize("case", FILE_ERROR_CASES)
def test_app_option_file_errors(pki, case):
    from socketify_cy import App, AppOptions
    kwargs, exc_type, paths = file_error_case(pki, case)
    with pytest.raises(exc_type) as ei:
        App(options=AppOptions(**kwargs))
    check_file_error(ei, exc_type, paths)


@pytest.mark.parametrize("case", FILE_ERROR_CASES)
def test_add_server_name_file_errors(pki, case):
    from socketify_cy import App, AppOptions
    kwargs, exc_type, paths = file_error_case(pki, case)
    app = App(options=AppOptions(cert_file_name=pki.default.cert, key_file_name=pki.default.key))
    try:
        with pytest.raises(exc_type) as ei:
            app.add_server_name("x.test", AppOptions(**kwargs))
        check_file_error(ei, exc_type, paths)
        # the app is still usable
        assert app.add_server_name("x.test", AppOptions(cert_file_name=pki.a.cert,
                                                        key_file_name=pki.a.key)) is app
    finally:
        app.dispose()


@pytest.mark.parametrize("missing", ["cert_file_name", "key_file_name"])
def test_options_without_cert_or_key_raise_value_error(pki, missing):
    from socketify_cy import App, AppOptions
    kwargs = {"cert_file_name": pki.default.cert, "key_file_name": pki.default.key}
    del kwargs[missing]
    with pytest.raises(ValueError):
        App(options=AppOptions(**kwargs))


def test_invalid_cipher_list_raises_and_a_valid_one_does_not(pki):
    from socketify_cy import App, AppOptions
    good = {"cert_file_name": pki.default.cert, "key_file_name": pki.default.key}
    with pytest.raises(RuntimeError) as ei:
        App(options=AppOptions(ssl_ciphers="NOT-A-CIPHER:ALSO-NOT", **good))
    assert "cipher" in str(ei.value).lower(), ei.value
    app = App(options=AppOptions(ssl_ciphers=ONLY_CIPHER, **good))
    app.dispose()


def test_is_ssl_and_encrypted_key_with_passphrase(pki):
    from socketify_cy import App, AppOptions
    plain = App()
    try:
        assert plain.is_ssl is False
    finally:
        plain.dispose()
    app = App(options=AppOptions(cert_file_name=pki.default.cert, key_file_name=pki.enc_key,
                                 passphrase=PASSPHRASE))
    try:
        assert app.is_ssl is True
    finally:
        app.dispose()


def test_encrypted_key_without_passphrase_raises_without_prompting(pki):
    # In a subprocess with no controlling terminal: OpenSSL's default passphrase callback
    # would prompt on /dev/tty, and in-process that could hang the test run.
    p = subprocess.run(
        [sys.executable, os.path.join(APPS_DIR, "tls_app.py"), pki.default.cert, pki.enc_key,
         "--construct-only"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20,
        start_new_session=True, cwd=tempfile.gettempdir())
    assert "CONSTRUCTED" not in p.stdout
    assert p.returncode != 0
    assert "RuntimeError" in p.stderr and pki.enc_key in p.stderr, p.stderr[-2000:]


def test_server_name_api_returns_the_app(pki):
    from socketify_cy import App, AppOptions
    app = App(options=AppOptions(cert_file_name=pki.default.cert, key_file_name=pki.default.key))
    try:
        assert app.add_server_name("a.test") is app
        assert app.add_server_name("*.b.test", AppOptions(cert_file_name=pki.a.cert,
                                                          key_file_name=pki.a.key)) is app
        assert app.remove_server_name("a.test") is app
        app.missing_server_name(lambda hostname: None)
    finally:
        app.dispose()


def test_domain_api_chains_and_requires_tls(pki):
    from socketify_cy import App, AppOptions
    plain = App()
    try:
        with pytest.raises(RuntimeError):
            plain.domain("x.test")
    finally:
        plain.dispose()
    app = App(options=AppOptions(cert_file_name=pki.default.cert, key_file_name=pki.default.key))
    try:
        d = app.domain("x.test")
        handler = lambda res, req: res.end("x")  # noqa: E731
        for method in ("get", "post", "put", "delete", "patch", "options", "head", "connect",
                       "trace", "any"):
            assert getattr(d, method)("/p", handler) is d, method
        assert d.ws("/w", {"message": lambda ws, m, op: None}) is d
    finally:
        app.dispose()


# ---- PROXY protocol before the handshake ------------------------------------------------------

PROXY_V1 = b"PROXY TCP4 203.0.113.7 192.0.2.1 40000 443\r\n"
PROXY_V2 = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11\x00\x0c" + socket.inet_aton("198.51.100.9")
            + socket.inet_aton("192.0.2.1") + (40001).to_bytes(2, "big") + (443).to_bytes(2, "big"))


@pytest.mark.parametrize("header,expected", [(PROXY_V1, "203.0.113.7"), (PROXY_V2, "198.51.100.9")],
                         ids=["v1", "v2"])
@pytest.mark.parametrize("split", [None, 5], ids=["whole", "split"])
def test_proxy_header_before_the_tls_handshake(proxied, pki, header, expected, split):
    # The load balancer's header goes first in plaintext (whole, or split so
    # the server must hold its start), then the client's TLS.
    raw = tcp(proxied.port)
    if split:
        raw.sendall(header[:split])
        time.sleep(0.05)
        raw.sendall(header[split:])
    else:
        raw.sendall(header)
    with Conn(client_ctx(pki).wrap_socket(raw, server_hostname="localhost")) as c:
        r = get(c, "/peer")
        assert r.status == 200
        assert r.body.decode().split()[0] == expected
        assert get(c).body == b"hello tls"  # keep-alive goes on over TLS


def test_tls_without_the_proxy_header_is_refused(proxied, pki):
    # A ClientHello where the header should be: closed, no handshake.
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with tls(proxied.port, client_ctx(pki)) as c:
            get(c)
    with tls_after_header(proxied.port, pki) as c:
        assert get(c).status == 200  # and the server still serves


def tls_after_header(port, pki):
    raw = tcp(port)
    raw.sendall(PROXY_V1)
    return Conn(client_ctx(pki).wrap_socket(raw, server_hostname="localhost"))
