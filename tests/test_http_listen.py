"""app.listen() forms, listen failures, app.close()."""

import pytest


@pytest.mark.parametrize("mode, host", [
    ("int", None),
    ("dict", "127.0.0.1"),
    ("options", "127.0.0.1"),
])
def test_listen_forms(launch, mode, host):
    srv = launch("listen_app", args=[mode])
    r = srv.get("/config")
    assert r.status == 200
    got = r.json()
    assert got["port"] == srv.port  # the real port, not 0
    assert got["type"] == "AppListenOptions"
    if host is not None:
        assert got["host"] == host


@pytest.mark.parametrize("mode", ["busy", "badhost"])
def test_listen_failure_raises(run_app, mode):
    p = run_app("listen_app", mode)
    assert p.returncode == 0, (p.stdout, p.stderr)
    words = p.stdout.split()
    assert words[0] == "LISTEN_ERROR", p.stdout
    assert words[2] == "True", "exception %s is not an OSError/RuntimeError" % words[1]
    assert "Traceback" not in p.stderr and "Fatal" not in p.stderr, p.stderr


def test_close_stops_run(launch):
    srv = launch("listen_app", args=["options"])
    with srv.raw() as c:
        c.request("GET", "/shutdown")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"closing")
        c.expect_closed()
    launch.forget(srv)  # it is supposed to exit by itself
    try:
        rc = srv.proc.wait(5)
    except Exception:
        srv.kill()
        pytest.fail("app.run() did not return within 5 s of app.close()")
    srv.kill()  # joins the stdout reader
    assert rc == 0, srv.stderr_text()
    assert "RUN_RETURNED" in srv.stdout_lines
    assert "Traceback" not in srv.stderr_text()
