"""An idle server uses (almost) no CPU; the app also works on uvloop.

Both servers (default asyncio loop and uvloop) idle side by side, each with
one open keep-alive connection, so the measurement costs 6 s in total.
"""

import os
import time

import pytest

SETTLE = 3.0
MEASURE = 3.0
LIMIT = 0.03  # CPU seconds over MEASURE: < 1% of one core


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    # fields after the ")" that ends the command name; utime, stime are 14, 15
    fields = stat[stat.rindex(")") + 2:].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def have_uvloop():
    try:
        import uvloop  # noqa: F401
        return True
    except ImportError:
        return False


# ---- uvloop: the app works when the loop policy is uvloop ----

def test_uvloop_loop_is_used(uvloop_server):
    r = uvloop_server.get("/loop")
    assert r.status == 200
    assert r.text.startswith("uvloop"), r.text


def test_default_loop_is_asyncio(main_server):
    assert main_server.get("/loop").text.startswith("asyncio."), main_server.get("/loop").text


def test_uvloop_routes_and_async(uvloop_server):
    assert uvloop_server.get("/user/9").text == "user:9"
    r = uvloop_server.get("/async-header", headers={"X-Test": "uv"})
    assert (r.status, r.text) == (200, "pre:uv")
    r = uvloop_server.get("/async-end")
    assert (r.status, r.text, r.headers["X-A"]) == (201, "hello", "1")
    r = uvloop_server.get("/raise-async")
    assert (r.status, r.text) == (500, "Internal Server Error")


def test_uvloop_pipelined_with_slow_async(uvloop_server):
    with uvloop_server.raw() as c:
        c.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        assert [c.read_response().body for _ in range(2)] == [b"slow", b"A"]


def test_uvloop_concurrent_async(uvloop_server):
    results = uvloop_server.http_many(
        [("GET", "/async-header", {"headers": {"X-Test": "u%d" % i}}) for i in range(30)])
    assert [r.text for r in results] == ["pre:u%d" % i for i in range(30)]


def test_uvloop_one_send_after_await(uvloop_server):
    with uvloop_server.raw() as c:
        c.request("GET", "/stats")
        n1 = int(c.read_response().body)
        c.request("GET", "/async-end")
        assert c.read_response().body == b"hello"
        c.request("GET", "/stats")
        n2 = int(c.read_response().body)
    assert n2 - n1 == 2


# ---- idle CPU ----

@pytest.mark.slow
@pytest.mark.timeout(40)
def test_idle_cpu(request, main_server):
    servers = {"asyncio": main_server}
    if have_uvloop():
        servers["uvloop"] = request.getfixturevalue("uvloop_server")
    conns = {}
    try:
        for name, srv in servers.items():
            c = srv.raw()
            c.request("GET", "/async-end")  # touch the async path once
            assert c.read_response().body == b"hello"
            conns[name] = c  # held open (idle keep-alive) during the measurement
        time.sleep(SETTLE)
        before = {name: cpu_seconds(srv.proc.pid) for name, srv in servers.items()}
        time.sleep(MEASURE)
        used = {name: cpu_seconds(srv.proc.pid) - before[name] for name, srv in servers.items()}
        for c in conns.values():
            c.expect_open(0.05)
    finally:
        for c in conns.values():
            c.close()
    over = {name: u for name, u in used.items() if u >= LIMIT}
    assert not over, "idle CPU over %.2f s in %.0f s: %r (all: %r)" % (LIMIT, MEASURE, over, used)
