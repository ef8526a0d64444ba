"""Shared helpers for the socketify_cy end-to-end tests.

Every test talks to a real server subprocess (tests/apps/<name>.py) over real
sockets. A server prints one line "LISTENING <port>" once it listens; the
fixtures below start it, hand the port to the tests, and at teardown check
that it is still alive and that its stderr holds no unexpected traceback or
fatal error.

Pytest settings live here (not in a pytest.ini) because pyproject.toml is
owned by the lead: see pytest_configure / pytest_collection_modifyitems.
"""

import asyncio
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
APPS_DIR = os.path.join(TESTS_DIR, "apps")
REPO_DIR = os.path.dirname(TESTS_DIR)

START_TIMEOUT = 20.0   # seconds to wait for "LISTENING <port>"
SOCK_TIMEOUT = 5.0     # every socket operation
DEFAULT_TEST_TIMEOUT = 30  # per-test, via pytest-timeout when installed

try:
    import pytest_timeout  # noqa: F401
    HAVE_PYTEST_TIMEOUT = True
except ImportError:  # pragma: no cover - depends on the environment
    HAVE_PYTEST_TIMEOUT = False


# --------------------------------------------------------------------------
# pytest configuration
# --------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "slow: test takes several seconds (idle CPU measurement)")
    if not HAVE_PYTEST_TIMEOUT:
        # keep @pytest.mark.timeout usable (and warning-free) without the plugin
        config.addinivalue_line("markers", "timeout(seconds): per-test time limit (pytest-timeout)")


def pytest_collection_modifyitems(config, items):
    """Give every test of *this* directory (not tests/native, tests/fuzz) a
    30 s limit unless it sets its own timeout marker."""
    if not HAVE_PYTEST_TIMEOUT:
        return
    for item in items:
        if os.path.dirname(str(item.fspath)) != TESTS_DIR:
            continue
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TEST_TIMEOUT))


# --------------------------------------------------------------------------
# server subprocess management
# --------------------------------------------------------------------------

# Lines that always mean a crash or a bug, even where tracebacks are allowed.
_ALWAYS_BAD = (
    "Fatal Python error",
    "Fatal",
    "Segmentation",
    "Aborted (core dumped)",
    "Exception ignored",
    "Task was destroyed but it is pending",
    "was never awaited",
    # Sanitizer reports (README: testing under AddressSanitizer); UBSan
    # prints and continues, so its report must fail the test here.
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
)
_TB = "Traceback (most recent call last):"
_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


def stderr_problems(text, allow=()):
    """Return a list of problems found in a server's stderr.

    A traceback is accepted only if its exception group (a traceback plus the
    ones chained to it) mentions one of the `allow` markers; the apps raise
    deliberate errors whose message contains such a marker."""
    problems = []
    for bad in _ALWAYS_BAD:
        if bad in text:
            problems.append("stderr contains %r" % bad)
    pieces = text.split(_TB)
    groups = []
    for i, piece in enumerate(pieces[1:], start=1):
        prev = pieces[i - 1].rstrip()
        if groups and any(prev.endswith(c) for c in _CHAINED):
            groups[-1] += _TB + piece
        else:
            groups.append(_TB + piece)
    for g in groups:
        if not any(marker in g for marker in allow):
            problems.append("unexpected traceback:\n" + g[-3000:])
    return problems


class Server:
    """A server app running as a subprocess."""

    def __init__(self, app, args=(), allow=(), env=None):
        self.app = app
        self.args = list(args)
        self.allow = tuple(allow)
        self.env = env
        self.proc = None
        self.port = None
        self.stdout_lines = []
        self._stderr_file = None
        self._drain = None

    # ---- lifecycle ----------------------------------------------------
    def start(self):
        script = os.path.join(APPS_DIR, self.app + ".py")
        env = dict(os.environ)
        env["PYTHONFAULTHANDLER"] = "1"   # a segfault prints "Fatal Python error"
        env["PYTHONUNBUFFERED"] = "1"
        if self.env:
            env.update(self.env)
        self._stderr_file = tempfile.TemporaryFile(mode="w+b")
        self.proc = subprocess.Popen(
            [sys.executable, script] + self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
            cwd=REPO_DIR,
            env=env,
        )
        line = self._read_first_line(START_TIMEOUT)
        m = re.fullmatch(r"LISTENING (\d+)", line.strip()) if line is not None else None
        if not m:
            self.kill()
            pytest.fail(
                "server %s did not print 'LISTENING <port>' within %ss; got %r\nstderr:\n%s"
                % (self.app, START_TIMEOUT, line, self.stderr_text()[-5000:]),
                pytrace=False,
            )
        self.port = int(m.group(1))
        assert 0 < self.port < 65536
        self._drain = threading.Thread(target=self._drain_stdout, daemon=True)
        self._drain.start()
        return self

    def _read_first_line(self, timeout):
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in buf and len(buf) < 65536:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], min(left, 0.5))
            if not r:
                if self.proc.poll() is not None:
                    return buf.decode(errors="replace") or None
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return buf.decode(errors="replace") or None
            buf += chunk
        first, _, rest = buf.partition(b"\n")
        if rest:
            self.stdout_lines.extend(rest.decode(errors="replace").splitlines())
        return first.decode(errors="replace")

    def _drain_stdout(self):
        try:
            for raw in self.proc.stdout:
                self.stdout_lines.append(raw.decode(errors="replace").rstrip("\n"))
        except (OSError, ValueError):
            pass

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        if self._stderr_file is None:
            return ""
        self._stderr_file.flush()
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode(errors="replace")

    def kill(self):
        """SIGTERM, wait 5 s, then SIGKILL (by PID)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        if self._drain is not None:
            self._drain.join(2)
        if self.proc.stdout:
            self.proc.stdout.close()

    def check_alive(self):
        if not self.alive():
            rc = self.proc.returncode if self.proc else None
            pytest.fail(
                "server %s is not running any more (exit code %r)\nstderr:\n%s"
                % (self.app, rc, self.stderr_text()[-5000:]),
                pytrace=False,
            )

    def stop(self):
        """Stop the server; fail if it had died or wrote unexpected errors."""
        was_alive = self.alive()
        rc = None if was_alive else (self.proc.returncode if self.proc else None)
        self.kill()
        text = self.stderr_text()
        if self._stderr_file is not None:
            self._stderr_file.close()
            self._stderr_file = None
        problems = [] if was_alive else ["server died during the tests (exit code %r)" % rc]
        problems += stderr_problems(text, self.allow)
        if problems:
            pytest.fail(
                "server %s: %s\n--- stderr (tail) ---\n%s"
                % (self.app, "\n".join(problems), text[-5000:]),
                pytrace=False,
            )

    # ---- clients ------------------------------------------------------
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def raw(self, timeout=SOCK_TIMEOUT):
        return RawConn(self.port, timeout=timeout)

    def http(self, method, path, **kw):
        """One request with aiohttp in a fresh session; returns HttpResult."""
        return http(self, method, path, **kw)

    def get(self, path, **kw):
        return http(self, "GET", path, **kw)

    def http_many(self, requests):
        return http_many(self, requests)


_LIVE_SERVERS = []


def start_server(app, args=(), allow=(), env=None):
    srv = Server(app, args=args, allow=allow, env=env).start()
    _LIVE_SERVERS.append(srv)
    return srv


def stop_server(srv):
    if srv in _LIVE_SERVERS:
        _LIVE_SERVERS.remove(srv)
    srv.stop()


@pytest.fixture(autouse=True)
def _servers_still_alive():
    """After every test, every server started by a fixture must still run."""
    yield
    for srv in list(_LIVE_SERVERS):
        srv.check_alive()


# Markers in the messages of errors the apps raise on purpose.
DELIBERATE = ("deliberate-",)


@pytest.fixture(scope="module")
def main_server():
    srv = start_server("main_app", allow=DELIBERATE)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def error_server():
    srv = start_server("error_app", allow=DELIBERATE)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def error_server_decorator():
    srv = start_server("error_app", args=["decorator"], allow=DELIBERATE)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def uvloop_server():
    # uvloop is in the test extra: its absence is an install error, not a skip.
    import uvloop  # noqa: F401
    srv = start_server("uvloop_app", allow=DELIBERATE)
    yield srv
    stop_server(srv)


@pytest.fixture
def launch():
    """start(app, args=(), allow=()) -> Server, stopped (and checked) at teardown.
    A test that stops its server itself calls launch.forget(srv) first."""
    started = []

    def start(app, args=(), allow=()):
        srv = start_server(app, args=args, allow=allow)
        started.append(srv)
        return srv

    def forget(srv):
        started.remove(srv)
        if srv in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(srv)

    start.forget = forget
    yield start
    for srv in started:
        stop_server(srv)


@pytest.fixture(scope="module")
def wsrv():
    """tests/apps/ws_app.py (WebSockets and pub/sub), one per test module."""
    srv = start_server("ws_app", allow=("deliberate-",))
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def run_app():
    """run_app(app, *args) -> CompletedProcess of a short-lived app (20 s limit)."""
    def run(app, *args):
        env = dict(os.environ, PYTHONFAULTHANDLER="1")
        return subprocess.run(
            [sys.executable, os.path.join(APPS_DIR, app + ".py")] + list(args),
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            cwd=REPO_DIR, env=env, timeout=START_TIMEOUT,
        )
    return run


# --------------------------------------------------------------------------
# raw HTTP over a socket
# --------------------------------------------------------------------------

class RawResponse:
    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) as received
        self.body = body
        self.raw = raw

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def header(self, name):
        """The single value of a header, None if absent; fails if repeated."""
        vals = self.header_all(name)
        assert len(vals) <= 1, "header %s repeated: %r" % (name, vals)
        return vals[0] if vals else None

    def __repr__(self):
        return "<RawResponse %s %s %r body=%r>" % (self.status, self.reason, self.headers, self.body[:200])


class RawConn:
    """A client socket with a receive buffer, for keep-alive, pipelining and
    malformed input. Every wait is bounded by the socket timeout and by an
    overall deadline."""

    MAX_HEAD = 1 << 20

    def __init__(self, port, timeout=SOCK_TIMEOUT):
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        # Split writes must reach the server as separate segments (no Nagle).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def request(self, method, path, headers=None, body=b"", version="HTTP/1.1", host=True):
        lines = ["%s %s %s" % (method, path, version)]
        if host:
            lines.append("Host: 127.0.0.1")
        for k, v in (headers or {}).items():
            lines.append("%s: %s" % (k, v))
        if isinstance(body, str):
            body = body.encode()
        if body:
            lines.append("Content-Length: %d" % len(body))
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)

    def _fill(self, deadline):
        if time.monotonic() > deadline:
            raise TimeoutError("no complete response before the deadline; have %r" % self.buf[:500])
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server; have %r" % self.buf[:500])
        self.buf += chunk

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            if len(self.buf) > self.MAX_HEAD:
                raise AssertionError("line too long")
            self._fill(deadline)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_response(self, head=False, timeout=10.0):
        """Read one complete response. head=True: the request was HEAD (no body)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if len(self.buf) > self.MAX_HEAD:
                raise AssertionError("response head too large")
            self._fill(deadline)
        head_bytes, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head_bytes.split(b"\r\n")
        status_line = lines[0].decode("latin-1")
        m = re.fullmatch(r"(HTTP/\d\.\d) (\d{3})(?: (.*))?", status_line)
        assert m, "bad status line %r" % status_line
        version, status, reason = m.group(1), int(m.group(2)), m.group(3) or ""
        headers = []
        for ln in lines[1:]:
            name, sep, value = ln.decode("latin-1").partition(":")
            assert sep and name and name == name.strip(), "bad response header line %r" % ln
            headers.append((name, value.strip()))
        hdict = {n.lower(): v for n, v in headers}
        body = b""
        if head or status < 200 or status in (204, 304):
            pass
        elif "chunked" in hdict.get("transfer-encoding", "").lower():
            parts = []
            for _ in range(100000):
                size_line = self._line(deadline)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers until the blank line
                    for _ in range(1000):
                        if self._line(deadline) == b"":
                            break
                    break
                self._need(size + 2, deadline)
                parts.append(self.buf[:size])
                assert self.buf[size:size + 2] == b"\r\n", "bad chunk terminator"
                self.buf = self.buf[size + 2:]
            body = b"".join(parts)
        elif "content-length" in hdict:
            n = int(hdict["content-length"])
            self._need(n, deadline)
            body, self.buf = self.buf[:n], self.buf[n:]
        else:
            # no framing: body runs until the server closes
            for _ in range(100000):
                try:
                    self._fill(deadline)
                except EOFError:
                    break
            body, self.buf = self.buf, b""
        raw = head_bytes + b"\r\n\r\n" + body
        return RawResponse(version, status, reason, headers, body, raw)

    def read_until_closed(self, timeout=SOCK_TIMEOUT):
        """Read until the server closes. Returns (all bytes, closed?).
        A reset counts as closed."""
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        closed = False
        for _ in range(100000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(min(left, self.timeout))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except (ConnectionResetError, BrokenPipeError):
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
        self.sock.settimeout(self.timeout)
        return data, closed

    def expect_closed(self, timeout=SOCK_TIMEOUT):
        """Assert that the server closes the connection without sending more."""
        data, closed = self.read_until_closed(timeout)
        assert data == b"", "unexpected bytes after the response: %r" % data[:300]
        assert closed, "server did not close the connection within %ss" % timeout

    def expect_open(self, wait=0.3):
        """Assert that nothing arrives and the connection is not closed for `wait` s."""
        assert self.buf == b"", "unexpected buffered bytes %r" % self.buf[:300]
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            chunk = None
        finally:
            self.sock.settimeout(self.timeout)
        assert chunk is None, "expected an open, silent connection; got %r" % (chunk,)


# --------------------------------------------------------------------------
# aiohttp helpers (no pytest-asyncio needed)
# --------------------------------------------------------------------------

class HttpResult:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # CIMultiDictProxy
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        return "<HttpResult %s %r>" % (self.status, self.body[:200])


async def _fetch(session, method, url, **kw):
    async with session.request(method, url, allow_redirects=False, **kw) as r:
        body = await r.read()
        return HttpResult(r.status, r.reason, r.headers, body)


def http(server, method, path, **kw):
    """One request with aiohttp in a fresh session; returns HttpResult."""
    import aiohttp

    async def go():
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as s:
            return await _fetch(s, method, server.url(path), **kw)

    return asyncio.run(go())


def http_many(server, requests):
    """Several requests concurrently on one session: requests is a list of
    (method, path, kwargs). Returns the results in order."""
    import aiohttp

    async def go():
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            return await asyncio.gather(
                *[_fetch(s, m, server.url(p), **kw) for m, p, kw in requests]
            )

    return asyncio.run(go())
