"""Per-request contextvars, the coroutine driver (current_task, timeout,
TaskGroup, cancellation), handler Tasks kept alive, and request lifetime."""

import json
import time

import pytest

from conftest import stderr_problems

DELIBERATE = ("deliberate-",)


@pytest.fixture(scope="module")
def extras():
    from conftest import start_server, stop_server
    srv = start_server("extras_app", allow=DELIBERATE)
    yield srv
    stop_server(srv)


def test_context_is_fresh_for_every_request(extras):
    # Three fresh clients, sync and async routes: none sees another's value.
    got = [extras.get(path).text for path in ("/ctx/sync", "/ctx/async", "/ctx/sync", "/ctx/async")]
    assert got == ["None", "(None, '/ctx/async')", "None", "(None, '/ctx/async')"]


def test_context_of_a_spawned_task_stays_in_the_task(extras):
    r = extras.get("/ctx/spawn")
    assert r.text == "'spawner'"
    assert extras.get("/ctx/sync").text == "None"
    seen = extras.get("/ctx/seen").json()
    assert seen == {"child-before": "spawner", "child-after": "child"}


def test_current_task_in_first_step_and_after_await(extras):
    assert extras.get("/current-task").json() == [True, True]


def test_timeout_entered_in_first_step_expires(extras):
    t0 = time.monotonic()
    r = extras.get("/timeout-expires")
    assert (r.status, r.text) == (200, "timed-out")
    assert time.monotonic() - t0 < 3


def test_timeout_that_does_not_expire(extras):
    assert extras.get("/timeout-ok").text == "in-time"


def test_timeout_after_a_bare_yield_cancels_the_awaited_future(extras):
    t0 = time.monotonic()
    assert extras.get("/yield-timeout-future").json() == ["timed-out", True]
    assert time.monotonic() - t0 < 3


def test_timeout_reaches_a_handler_that_only_yields_bare(extras):
    t0 = time.monotonic()
    assert extras.get("/yield-timeout-only").text == "timed-out"
    assert time.monotonic() - t0 < 3


def test_bare_yields_and_futures_keep_the_task_and_the_context(extras):
    # Concurrent requests, each alternating bare yields and a real future:
    # every one keeps its own context value and sees a current task.
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: extras.get("/many-yields?i=%d" % i).json(), range(16)))
    assert results == [[True, "/many-yields"]] * 16


def test_task_group_in_a_handler(extras):
    assert extras.get("/task-group").text == "3"


def test_cancelled_handler_closes_its_response(extras):
    with extras.raw() as c:
        c.request("GET", "/cancel-me")
        c.expect_open(0.2)
        assert extras.get("/cancel-it").text == "cancelled"
        c.expect_closed()
    assert extras.get("/seen").json().get("cancel-me-aborted") is True


def test_handler_awaiting_an_unreferenced_future_is_not_collected(extras):
    # D4: asyncio keeps weak references to Tasks; the App keeps strong ones.
    with extras.raw() as c:
        c.request("GET", "/wait-unref")
        c.expect_open(0.2)
        assert extras.get("/gc").text == "collected"
        c.expect_open(0.3)          # no 500, no GeneratorExit
        assert "Task was destroyed" not in extras.stderr_text()
    # Teardown SIGTERMs the server: the pending Task is cancelled, not destroyed
    # (conftest fails on "Task was destroyed but it is pending").


def test_async_handler_that_forgets_the_response_gets_500(extras):
    r = extras.get("/async-forget")
    assert r.status == 500
    assert "without responding" in extras.get("/hooks").text


def test_async_handler_that_keeps_the_response_stays_pending(extras):
    with extras.raw() as c:
        c.request("GET", "/async-keep")
        c.expect_open(0.3)
        assert extras.get("/answer-kept").text == "answered 1"
        r = c.read_response()
        assert (r.status, r.body) == (200, b"answered later")


def test_preserved_request_keeps_the_parameters_of_its_own_route(extras):
    # Review 2.3: the declining route preserves and yields; the next one
    # reads its own parameters after an await (was: a dead stack frame).
    r = extras.get("/p/aa/bb")
    assert (r.status, r.json()) == (200, ["aa"])


def test_cached_fields_die_with_the_request(extras):
    got = extras.get("/cache-after-await").json()
    assert got == {"get_url": "RuntimeError", "get_method": "RuntimeError",
                   "get_full_url": "RuntimeError"}


def test_response_and_request_refuse_other_threads(extras):
    got = extras.get("/from-thread").json()
    assert got == {"end": "RuntimeError", "write_header": "RuntimeError", "get_url": "RuntimeError"}


def test_keyboard_interrupt_in_a_handler_stops_run(launch):
    srv = launch("extras_app", allow=DELIBERATE)
    with srv.raw() as c:
        c.request("GET", "/keyboard-interrupt")
        data, closed = c.read_until_closed()
        assert closed and b"500" not in data, data
    srv.proc.wait(10)
    launch.forget(srv)
    srv.kill()
    out = "\n".join(srv.stdout_lines)
    assert "RUN_RAISED KeyboardInterrupt" in out, out
    assert srv.proc.returncode == 0
    assert stderr_problems(srv.stderr_text(), DELIBERATE) == []
