"""Graceful shutdown: drain, Connection: close, idle connections closed,
bounded wait, on_shutdown after the drain, second signal, close() inside a
loop run() did not start; rate-limited error logging."""

import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import stderr_problems

DELIBERATE = ("deliberate-",)


def finish(launch, srv, timeout=10):
    """Wait for the server to exit by itself; return (seconds waited, stdout, returncode)."""
    t0 = time.monotonic()
    try:
        srv.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("server did not exit within %ss" % timeout)
    waited = time.monotonic() - t0
    launch.forget(srv)
    srv.kill()
    problems = stderr_problems(srv.stderr_text(), DELIBERATE)
    assert problems == [], problems
    return waited, list(srv.stdout_lines), srv.proc.returncode


def test_sigterm_drains_in_flight_and_closes_idle_connections(launch):
    srv = launch("shutdown_app", args=["10"], allow=DELIBERATE)
    idle = srv.raw()
    idle.request("GET", "/")
    assert idle.read_response().status == 200
    busy = srv.raw()
    busy.request("GET", "/slow")
    time.sleep(0.1)
    t0 = time.monotonic()
    os.kill(srv.proc.pid, signal.SIGTERM)
    idle.expect_closed(timeout=2)
    assert time.monotonic() - t0 < 0.6, "idle keep-alive connection not closed at once"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
    r = busy.read_response()
    assert (r.status, r.body) == (200, b"slow done")
    assert (r.header("Connection") or "").lower() == "close"
    busy.expect_closed()
    _, out, rc = finish(launch, srv)
    assert rc == 0
    assert out.index("SLOW_DONE") < out.index("SHUTDOWN_HOOK") < out.index("RUN_RETURNED"), out


def test_shutdown_timeout_bounds_the_wait_and_cancels_handlers(launch):
    srv = launch("shutdown_app", args=["1.0"], allow=DELIBERATE)
    with srv.raw() as c:
        c.request("GET", "/never")
        time.sleep(0.1)
        os.kill(srv.proc.pid, signal.SIGTERM)
        c.expect_open(0.5)                 # still waiting within the timeout
        data, closed = c.read_until_closed(timeout=5)
        assert closed and data == b""
    waited, out, rc = finish(launch, srv)
    assert rc == 0 and waited < 4
    assert "NEVER_ABORTED" in out and "SHUTDOWN_HOOK" in out, out


def test_second_signal_forces_the_exit(launch):
    srv = launch("shutdown_app", args=["30"], allow=DELIBERATE)
    with srv.raw() as c:
        c.request("GET", "/never")
        time.sleep(0.1)
        os.kill(srv.proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        assert srv.alive(), "exited before the timeout with a response pending"
        os.kill(srv.proc.pid, signal.SIGTERM)
        waited, out, rc = finish(launch, srv, timeout=5)
    assert rc == 0 and waited < 3
    assert "RUN_RETURNED" in out and "SHUTDOWN_HOOK" not in out, out


def test_close_from_a_route_under_run(launch):
    srv = launch("shutdown_app", args=["10"], allow=DELIBERATE)
    assert srv.get("/close").text == "closing"
    _, out, rc = finish(launch, srv)
    assert rc == 0 and out[-2:] == ["SHUTDOWN_HOOK", "RUN_RETURNED"], out


def test_close_inside_a_loop_that_run_did_not_start(launch):
    # asyncio.run(main()): close() must not stop the loop (it used to raise
    # "Event loop stopped before Future completed").
    srv = launch("embed_app", allow=DELIBERATE)
    with srv.raw() as c:
        c.request("GET", "/slow")
        time.sleep(0.1)
        assert srv.get("/close").text == "closing"
        r = c.read_response()
        assert (r.status, r.body) == (200, b"slow done")
    _, out, rc = finish(launch, srv)
    assert rc == 0
    assert out == ["SHUTDOWN_HOOK", "WAIT_CLOSED_RETURNED", "CLEAN_EXIT"], out


def test_handler_error_tracebacks_are_rate_limited(launch):
    srv = launch("shutdown_app", args=["10", "2", "1.0"], allow=DELIBERATE)
    for _ in range(8):
        assert srv.get("/fail").status == 500
    time.sleep(1.5)                          # the window ends: the count is logged
    text = srv.stderr_text()
    assert text.count("Traceback (most recent call last)") == 2, text
    assert "6 more handler errors" in text, text
    assert "socketify_cy: a handler raised" in text
