"""socketify API additions: get_cookies, req.app, settable res.aborted,
get_form_urlencoded, render/template, abort and data plumbing, extensions,
trigger_error, get_native_handle, send() JSON, socketify's keyword names,
lifespan and one-slot hooks, dispose."""

import json
import subprocess
import sys
import tempfile
import textwrap

import pytest

DELIBERATE = ("deliberate-",)


@pytest.fixture(scope="module")
def extras():
    from conftest import start_server, stop_server
    srv = start_server("extras_app", allow=DELIBERATE)
    yield srv
    stop_server(srv)


def test_get_cookies(extras):
    assert extras.get("/cookies", headers={"Cookie": 'a=1; b="x y"'}).json() == {"a": "1", "b": "x y"}
    assert extras.get("/cookies").json() is None


def test_request_and_response_know_their_app(extras):
    assert extras.get("/app-attr").json() == [True, True]


def test_aborted_is_settable(extras):
    assert extras.get("/aborted-attr").json() == [True, False]


def test_get_form_urlencoded_decodes_once(extras):
    r = extras.http("POST", "/form", data=b"a=%252B&b=x+y&a=last&blank=",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    # socketify decodes twice (%252B -> "+"); one decoding gives "%2B".
    assert r.json() == {"a": "last", "b": "x y"}
    r = extras.http("POST", "/form", data=b"a=%252B")
    assert r.json() == {"a": "%2B"}
    assert extras.http("POST", "/form", data=b"").json() is None


def test_render_with_the_registered_template(extras):
    with extras.raw() as c:
        c.request("GET", "/render")
        r = c.read_response()
    assert (r.status, r.body) == (200, b"<p>a,b x=1</p>")
    assert r.header("Content-Type") == "text/html"


def test_abort_and_data_plumbing(extras):
    # No body: on_data gets the end at once; then the triggered calls.
    assert extras.get("/plumbing").json() == [["data", "", True], ["data", "xyz", False],
                                              ["aborted", True]]


def test_extension_methods_and_properties(extras):
    # Properties start from their default on every request.
    for _ in range(2):
        assert extras.get("/ext").text == "/EXT|anonymous|alice|t1|" * 2


def test_trigger_error_runs_the_error_handler(extras):
    r = extras.get("/trigger-error")
    assert (r.status, r.text) == (500, "handled:triggered")


def test_get_native_handle(extras):
    assert extras.get("/native-handle").json() == [True, True]


def test_send_json_writes_content_type_once(extras):
    with extras.raw() as c:
        c.request("GET", "/send-json")
        r = c.read_response()
    assert r.header_all("Content-Type") == ["application/json"]
    assert json.loads(r.body) == {"k": [1, 2]}


def test_socketify_keyword_names(extras):
    r = extras.get("/keywords", headers={"X-Kw": "v"})
    assert (r.status, r.text) == (202, "v")


def test_one_slot_start_hook_and_its_error_goes_to_the_error_handler(extras):
    hooks = extras.get("/hooks").json()
    assert hooks[0] == "start"                    # the first registration was replaced
    assert ["error", "RuntimeError", "deliberate-start-failure", True, True] in hooks
    assert extras.get("/ctx/sync").status == 200  # still serving


def test_lifespan_false_runs_no_hooks(launch):
    srv = launch("extras_app", args=["lifespan-off"], allow=DELIBERATE)
    assert srv.get("/hooks").json() == []
    srv.stop()
    launch.forget(srv)
    assert "SHUTDOWN_HOOK" not in srv.stdout_lines


def test_dispose_and_signatures():
    code = textwrap.dedent("""
        import inspect
        from socketify_cy import App, Request, Response
        app = App()
        assert app.get_native_handle() != 0
        names = {
            "write_status": list(inspect.signature(Response.write_status).parameters)[1:],
            "json_serializer": list(inspect.signature(App.json_serializer).parameters)[1:],
            "run_async": list(inspect.signature(App.run_async).parameters)[1:],
            "on_start": list(inspect.signature(App.on_start).parameters)[1:],
            "get_header": list(inspect.signature(Request.get_header).parameters)[1:],
            "set_yield": list(inspect.signature(Request.set_yield).parameters)[1:],
            "res_run_async": list(inspect.signature(Response.run_async).parameters)[1:],
        }
        app.dispose()
        assert app.get_native_handle() == 0
        app.dispose()
        print(names)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20,
                         cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr
    assert eval(out.stdout) == {
        "write_status": ["status_or_status_text"], "json_serializer": ["json_serializer"],
        "run_async": ["task", "response"], "on_start": ["method"],
        "get_header": ["lower_case_header"], "set_yield": ["has_yield"], "res_run_async": ["task"]}
