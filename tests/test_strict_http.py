"""RFC 9112 strictness of the request parser, over raw sockets against a real
server (tests/apps/main_app.py): what must be refused gets its status and a
closed connection; what must be accepted (absolute-form targets, OPTIONS *,
HTTP/1.x minor versions above 1) is served.

The decisions behind each case are listed at the top of
socketify_cy/native/http_parser.c.
"""

import json

import pytest

H = "Host: 127.0.0.1\r\n"
CHUNKED_POST = "POST /echo HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n"


def exchange_error(server, data, status):
    """Send data; expect exactly one `status` response and a closed connection."""
    c = server.raw()
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        received, closed = c.read_until_closed(5.0)
    finally:
        c.close()
    expected = b"HTTP/1.1 %d " % status
    assert received[:len(expected)] == expected, received[:200]
    assert closed, "connection still open 5 s after the %d" % status
    head, sep, body = received.partition(b"\r\n\r\n")
    assert sep and b"connection: close" in head.lower(), received[:300]
    length = [ln.split(b":", 1)[1].strip() for ln in head.split(b"\r\n")[1:]
              if ln.lower().startswith(b"content-length:")]
    assert length and len(body) == int(length[0]), received[:300]


def get_json(server, data):
    with server.raw() as c:
        c.send(data)
        r = c.read_response()
        assert r.status == 200, r
        return json.loads(r.body)


# ---- refused: (name, raw request, status) ---------------------------------

ERRORS = [
    # 1. request-target bytes
    ("target-raw-utf8", b"GET /p\xc3\xa9 HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target-obs-text-ff", b"GET /\xff HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target-del", b"GET /p\x7f HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target-fragment", b"GET /p#frag HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target-fragment-in-query", b"GET /p?a=1#f HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target-nul", b"GET /p\x00x HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target-tab", b"GET /p\tx HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target-cr", b"GET /p\rx HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("target-no-slash", b"GET p HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    # 2. request line over the head limit
    ("request-line-too-long", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n" + H.encode() + b"\r\n", 414),
    ("request-line-too-long-query", b"GET /q?" + b"a" * 9000, 414),
    # 3. Host
    ("host-space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
    ("host-userinfo", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
    ("host-slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
    ("host-comma", b"GET / HTTP/1.1\r\nHost: a,b\r\n\r\n", 400),
    ("host-quote", b'GET / HTTP/1.1\r\nHost: a"b\r\n\r\n', 400),
    ("host-angle", b"GET / HTTP/1.1\r\nHost: <script>\r\n\r\n", 400),
    ("host-obs-text", b"GET / HTTP/1.1\r\nHost: \xc3\xa9.com\r\n\r\n", 400),
    ("host-bad-port", b"GET / HTTP/1.1\r\nHost: a:abc\r\n\r\n", 400),
    ("host-empty-port", b"GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400),
    ("host-port-too-big", b"GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400),
    ("host-two-ports", b"GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400),
    ("host-only-port", b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
    ("host-bad-pct", b"GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", 400),
    ("host-ipv6-unclosed", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
    ("host-ipv6-bad", b"GET / HTTP/1.1\r\nHost: [1:2:3]\r\n\r\n", 400),
    ("host-ipv6-junk-after", b"GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400),
    ("host-missing", b"GET / HTTP/1.1\r\n\r\n", 400),
    ("host-twice", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
    ("host-empty", b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 400),
    ("host-bad-http10", b"GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400),
    # 4. forbidden trailer fields
    ("trailer-content-length", CHUNKED_POST.encode() + b"Content-Length: 50\r\n\r\n", 400),
    ("trailer-transfer-encoding", CHUNKED_POST.encode() + b"Transfer-Encoding: chunked\r\n\r\n", 400),
    ("trailer-host", CHUNKED_POST.encode() + b"Host: evil\r\n\r\n", 400),
    ("trailer-authorization", CHUNKED_POST.encode() + b"AUTHORIZATION: Basic eDp5\r\n\r\n", 400),
    ("trailer-cookie", CHUNKED_POST.encode() + b"Cookie: a=b\r\n\r\n", 400),
    ("trailer-content-type", CHUNKED_POST.encode() + b"content-type: text/html\r\n\r\n", 400),
    ("trailer-trailer", CHUNKED_POST.encode() + b"Trailer: x\r\n\r\n", 400),
    ("trailer-connection-after-ok", CHUNKED_POST.encode() + b"X-Ok: 1\r\nConnection: close\r\n\r\n", 400),
    ("trailer-obs-fold", CHUNKED_POST.encode() + b"X-T: v\r\n w\r\n\r\n", 400),
    ("trailer-sp-before-colon", CHUNKED_POST.encode() + b"X-T : v\r\n\r\n", 400),
    # 5. empty lines before the request line
    ("two-leading-crlf", b"\r\n\r\nGET / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("leading-bare-lf", b"\nGET / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    # 6. versions
    ("version-2.0", b"GET / HTTP/2.0\r\n" + H.encode() + b"\r\n", 505),
    ("version-3.0", b"GET / HTTP/3.0\r\n" + H.encode() + b"\r\n", 505),
    ("version-0.9", b"GET / HTTP/0.9\r\n" + H.encode() + b"\r\n", 505),
    ("version-1.10", b"GET / HTTP/1.10\r\n" + H.encode() + b"\r\n", 400),
    ("version-lower-case", b"GET / http/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("version-01.1", b"GET / HTTP/01.1\r\n" + H.encode() + b"\r\n", 400),
    ("version-missing", b"GET /\r\n" + H.encode() + b"\r\n", 400),
    # 7. targets other than origin-form
    ("absolute-host-mismatch", b"GET http://evil/query HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("absolute-port-mismatch", b"GET http://127.0.0.1:1/query HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("absolute-no-host-11", b"GET http://127.0.0.1/query HTTP/1.1\r\n\r\n", 400),
    ("absolute-userinfo", b"GET http://u@127.0.0.1/query HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("absolute-empty-host", b"GET http:///query HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("absolute-ftp", b"GET ftp://127.0.0.1/query HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("absolute-no-slashes", b"GET http:127.0.0.1/query HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("absolute-fragment", b"GET http://127.0.0.1/q#x HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("asterisk-get", b"GET * HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("asterisk-extra", b"OPTIONS *x HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("asterisk-slash", b"OPTIONS */ HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("authority-form-connect", b"CONNECT 127.0.0.1:443 HTTP/1.1\r\n" + H.encode() + b"\r\n", 501),
    ("authority-form-get", b"GET 127.0.0.1:443 HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("authority-form-connect-no-port", b"CONNECT 127.0.0.1 HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    # 8. the rest of the request line and the fields
    ("method-empty", b" / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("method-non-token", b"GE(T / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("method-obs-text", b"G\xc3\xa9T / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("method-too-long", b"X" * 20000, 501),
    ("leading-space", b" GET / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("two-spaces-after-method", b"GET  / HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("two-spaces-after-target", b"GET /  HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("tab-separator", b"GET\t/ HTTP/1.1\r\n" + H.encode() + b"\r\n", 400),
    ("trailing-space", b"GET / HTTP/1.1 \r\n" + H.encode() + b"\r\n", 400),
    ("request-line-bare-lf", b"GET / HTTP/1.1\n" + H.encode() + b"\r\n", 400),
    ("request-line-bare-cr", b"GET / HTTP/1.1\rHost: a\r\n\r\n", 400),
    ("sp-before-colon", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A : b\r\n\r\n", 400),
    ("tab-before-colon", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A\t: b\r\n\r\n", 400),
    ("obs-fold", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A: b\r\n c\r\n\r\n", 400),
    ("first-field-folded", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400),
    ("value-bare-cr", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A: a\rb\r\n\r\n", 400),
    ("value-bare-lf", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A: a\nX-B: b\r\n\r\n", 400),
    ("value-del", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-A: a\x7fb\r\n\r\n", 400),
    ("name-nul", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-\x00A: b\r\n\r\n", 400),
    ("name-utf8", b"GET / HTTP/1.1\r\n" + H.encode() + b"X-\xc3\xa9: b\r\n\r\n", 400),
    ("cl-plus", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl-list", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Content-Length: 5, 5\r\n\r\nhello", 400),
    ("te-chunked-gzip", b"POST /echo HTTP/1.1\r\n" + H.encode() + b"Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ("te-http10", b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
]


@pytest.mark.parametrize("name, data, status", ERRORS, ids=[c[0] for c in ERRORS])
def test_refused(main_server, name, data, status):
    exchange_error(main_server, data, status)


# ---- accepted ---------------------------------------------------------------

@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8080", "[::1]", "[::1]:80", "[v1.x:y]",
                                  "[1:2:3:4:5:6:1.2.3.4]", "a_b.example", "xn--bcher-kva.example",
                                  "a%2Db", "a~b!$&'()*+;=", "EXAMPLE.com:0080"])
def test_valid_host_values(main_server, host):
    with main_server.raw() as c:
        c.send("GET /static HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
        r = c.read_response()
        assert (r.status, r.body) == (200, b"static")


def test_http10_host_optional_and_may_be_empty(main_server):
    for head in ("GET /static HTTP/1.0\r\n\r\n", "GET /static HTTP/1.0\r\nHost:\r\n\r\n"):
        with main_server.raw() as c:
            c.send(head)
            r = c.read_response()
            assert (r.status, r.body) == (200, b"static")


def test_one_leading_crlf_is_tolerated(main_server):
    with main_server.raw() as c:
        c.send("\r\nGET /static HTTP/1.1\r\n" + H + "\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"static")
        # and between two requests of a keep-alive connection
        c.send("\r\nGET /a HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().body == b"A"


@pytest.mark.parametrize("minor", [2, 5, 9])
def test_http_1x_served_as_1_1_keep_alive(main_server, minor):
    with main_server.raw() as c:
        c.send("GET /a HTTP/1.%d\r\n" % minor + H + "\r\n")
        r = c.read_response()
        assert (r.version, r.status, r.body) == ("HTTP/1.1", 200, b"A")
        assert (r.header("connection") or "").lower() != "close"
        # kept alive like 1.1: the same connection serves another request
        c.send("GET /b HTTP/1.%d\r\n" % minor + H + "\r\n")
        assert c.read_response().body == b"B"
        c.send("GET /close HTTP/1.%d\r\n" % minor + H + "\r\n")
        assert c.read_response().body == b"bye"
        c.expect_closed()


def test_http_1x_requires_host_like_1_1(main_server):
    exchange_error(main_server, b"GET /a HTTP/1.2\r\n\r\n", 400)


def test_http_1x_chunked_body(main_server):
    with main_server.raw() as c:
        c.send("POST /echo HTTP/1.3\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"hello")


def test_trailer_allowed_field(main_server):
    with main_server.raw() as c:
        c.send(CHUNKED_POST + "X-Checksum: abc\r\nContent-MD5: x\r\nAuthorization-X: y\r\n\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"hello")
        c.request("GET", "/a")  # the connection goes on
        assert c.read_response().body == b"A"


def test_absolute_form_routes_by_path(main_server):
    port = main_server.port
    for scheme in ("http", "HTTP", "https", "hTTpS"):
        for host in ("127.0.0.1:%d" % port, "LOCALHOST:%d" % port):
            line = "GET %s://%s/query?a=1&b=2 HTTP/1.1\r\n" % (scheme, host)
            # the Host field must name the same authority (host case ignored)
            got = get_json(main_server, line + "Host: %s\r\n\r\n" % host.lower())
            assert got["url"] == "/query" and got["full"] == "/query?a=1&b=2", got
            assert got["a"] == "1" and got["b"] == "2"


def test_absolute_form_default_ports(main_server):
    got = get_json(main_server, "GET http://127.0.0.1/query?a=x HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n")
    assert (got["url"], got["full"]) == ("/query", "/query?a=x")
    got = get_json(main_server, "GET https://127.0.0.1:443/query HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert (got["url"], got["full"]) == ("/query", "/query")
    # 443 is not http's default port
    exchange_error(main_server, b"GET http://127.0.0.1/query HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n", 400)


def test_absolute_form_ipv6(main_server):
    got = get_json(main_server, "GET http://[::1]:81/query?a=v6 HTTP/1.1\r\nHost: [::1]:81\r\n\r\n")
    assert (got["url"], got["full"], got["a"]) == ("/query", "/query?a=v6", "v6")


def test_absolute_form_empty_path_is_root(main_server):
    with main_server.raw() as c:
        c.send("GET http://127.0.0.1 HTTP/1.1\r\n" + H + "\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"root")


def test_absolute_form_http10_without_host(main_server):
    got = get_json(main_server, "GET http://anything.example/query?a=10 HTTP/1.0\r\n\r\n")
    assert (got["url"], got["full"], got["a"]) == ("/query", "/query?a=10", "10")


def test_absolute_form_keep_alive_and_pipelined(main_server):
    with main_server.raw() as c:
        c.send("GET http://127.0.0.1/a HTTP/1.1\r\n" + H + "\r\n"
               "GET http://127.0.0.1/b HTTP/1.1\r\n" + H + "\r\n")
        assert c.read_response().body == b"A"
        assert c.read_response().body == b"B"
        c.request("GET", "/c")
        assert c.read_response().body == b"C"


def test_options_asterisk(main_server):
    with main_server.raw() as c:
        c.send("OPTIONS * HTTP/1.1\r\n" + H + "\r\n")
        r = c.read_response()
        assert r.status == 200, r
        assert json.loads(r.body) == {"method": "OPTIONS", "url": "*", "full": "*"}
        c.request("GET", "/a")  # keep-alive goes on
        assert c.read_response().body == b"A"

