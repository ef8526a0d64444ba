"""Main test server: routing, params, yield, query, headers, cookies, response
methods, 404/500, async handlers and req.preserve(), send-syscall stats.

Run: python tests/apps/main_app.py  -> prints "LISTENING <port>".
Errors raised on purpose carry "deliberate-" in their message (the test
fixture accepts tracebacks only for those).
"""

import asyncio
import json

from socketify_cy import App, AppListenOptions

BIG_BODY = b"0123456789" * 100_000  # 1 MB
STATE = {}


def collect(req):
    """Every request accessor, for comparing sync / preserved async results."""
    each = []
    req.for_each_header(lambda name, value: each.append([name, value]))
    values = {
        "url": req.get_url(),
        "full": req.get_full_url(),
        "method": req.get_method(),
        "header": req.get_header("x-test"),
        "no_header": req.get_header("x-not-sent"),
        "headers": req.get_headers(),
        "each": each,
        "query": req.get_query("q"),
        "queries": req.get_queries(),
        "param0": req.get_parameter(0),
        "param1": req.get_parameter(1),
        "params": req.get_parameters(),
        "cookie": req.get_cookie("k"),
        "no_cookie": req.get_cookie("nope"),
    }
    values["types"] = {k: type(v).__name__ for k, v in values.items()}
    return values


ACCESSORS = {
    "get_url": lambda r: r.get_url(),
    "get_full_url": lambda r: r.get_full_url(),
    "get_method": lambda r: r.get_method(),
    "get_header": lambda r: r.get_header("x-test"),
    "get_headers": lambda r: r.get_headers(),
    "for_each_header": lambda r: r.for_each_header(lambda n, v: None),
    "get_query": lambda r: r.get_query("q"),
    "get_queries": lambda r: r.get_queries(),
    "get_parameter": lambda r: r.get_parameter(0),
    "get_parameters": lambda r: r.get_parameters(),
    "get_cookie": lambda r: r.get_cookie("k"),
}


def text(body):
    return lambda res, req: res.end(body)


def json_end(res, obj):
    res.write_header("Content-Type", "application/json")
    res.end(json.dumps(obj))


def build():
    app = App()

    # ---- routing (chained registration: each call must return the app) ----
    (
        app.get("/", text("root"))
        .get("/static", text("static"))
        .get("/user/:id", lambda res, req: res.end("user:%s" % req.get_parameter(0)))
        .get("/user/me", text("me"))  # static beats :id although registered later
        .get("/files/*", lambda res, req: res.end("files:%s" % req.get_url()))
        # priority static > :param > *, registered in the reverse order
        .get("/prio/*", text("wild"))
        .get("/prio/:x", lambda res, req: res.end("param:%s" % req.get_parameter(0)))
        .get("/prio/fixed", text("fixed"))
        # method routes beat any, even when any is registered first
        .any("/m", lambda res, req: res.end("any:%s" % req.get_method()))
        .get("/m", text("get"))
        .post("/m", text("post"))
        .any("/echo-method", lambda res, req: res.end(req.get_method()))
        .get("/a", text("A"))
        .get("/b", text("B"))
        .get("/c", text("C"))
        .get("/pipe/:name", lambda res, req: res.end("pipe:%s" % req.get_parameter(0)))
        .post("/post", text("posted"))  # never reads the body
    )

    def method_echo(res, req):
        m = req.get_method()
        res.write_header("X-Method", m).end(m)

    for register in (app.post, app.put, app.delete, app.patch, app.options,
                     app.connect, app.trace):
        assert register("/method", method_echo) is app

    def head_route(res, req):
        res.write_header("X-Method", "HEAD").end_without_body()

    assert app.head("/method", head_route) is app

    # ---- params ----
    def multi(res, req):
        json_end(res, {
            "params": req.get_parameters(),
            "p0": req.get_parameter(0),
            "p2": req.get_parameter(2),
            "p3": req.get_parameter(3),
        })

    app.get("/multi/:a/:b/:c", multi)

    # ---- yield ----
    def yield_first(res, req):
        req.set_yield(True)
        STATE["yield_seen"] = req.get_yield()

    def yield_second(res, req):
        res.end("second:%s:%s" % (STATE.pop("yield_seen", None), req.get_yield()))

    def just_yield(res, req):
        req.set_yield(True)

    app.get("/yield", yield_first)
    app.get("/yield", yield_second)
    app.get("/yield-any", just_yield)
    app.any("/yield-any", text("any-after-yield"))
    app.get("/yp/:x", just_yield)
    app.get("/yp/*", lambda res, req: res.end("wild-after-yield:%s" % req.get_url()))
    app.get("/yield-all", just_yield)
    app.any("/yield-all", just_yield)

    # ---- request accessors ----
    def query(res, req):
        json_end(res, {
            "url": req.get_url(),
            "full": req.get_full_url(),
            "a": req.get_query("a"),
            "b": req.get_query("b"),
            "c": req.get_query("c"),
            "missing": req.get_query("missing"),
            "all": req.get_queries(),
        })

    def headers(res, req):
        each = []
        req.for_each_header(lambda n, v: each.append([n, v]))
        json_end(res, {
            "x-test": req.get_header("x-test"),
            "x-mixed-case": req.get_header("x-mixed-case"),
            "missing": req.get_header("x-missing"),
            "all": req.get_headers(),
            "each": each,
            "method": req.get_method(),
        })

    def cookies(res, req):
        json_end(res, {k: req.get_cookie(k) for k in ("a", "b", "c", "missing")})

    app.get("/query", query)
    # "OPTIONS *" (asterisk-form target): only a "*" route sees it
    app.options("*", lambda res, req: json_end(res, {
        "method": req.get_method(), "url": req.get_url(), "full": req.get_full_url()}))
    app.get("/headers", headers)
    app.get("/cookies", cookies)
    app.get("/remote", lambda res, req: res.end(res.get_remote_address()))
    app.get("/sync-accessors/:id/:opt", lambda res, req: json_end(res, collect(req)))

    # ---- response methods ----
    app.get("/status-str", lambda res, req: res.write_status("201 Created").end("created"))
    app.get("/status-int", lambda res, req: res.write_status(202).end("accepted"))
    app.get("/header-then-status",
            lambda res, req: res.write_header("X-First", "1").write_status(418).end("teapot"))
    app.get("/chain", lambda res, req: res.write_status(200).write_header("X-Chain", "yes")
            .write_header("X-Int", 42).end("chained"))
    app.get("/end-no-body", lambda res, req: res.write_header("X-E", "1").end_without_body())
    app.get("/end-empty", lambda res, req: res.end())
    app.get("/bytes", lambda res, req: res.end(b"\x00\x01\x02binary\xff"))
    app.get("/unicode", text("h\u00e9llo w\u00f6rld \u2713"))
    app.get("/big", lambda res, req: res.end(BIG_BODY))
    app.get("/cork", lambda res, req: res.cork(
        lambda r: r.write_status(200).write_header("X-Cork", "1").end("corked")))
    app.get("/cork-end", lambda res, req: res.cork_end("cork-end"))
    app.get("/close", lambda res, req: res.end("bye", end_connection=True))
    app.get("/close-nobody", lambda res, req: res.end_without_body(end_connection=True))

    def bad_headers(res, req):
        outcomes = []
        cases = [
            ("X-A\r\nInjected", "v"),
            ("X-B", "v\r\nInjected: 1"),
            ("X-C", "v\nInjected: 1"),
            ("X-D\x00", "v"),
            ("X-E", "v\x00"),
            ("X-F", "a\rb"),
            ("X-G\n", "v"),
        ]
        for name, value in cases:
            try:
                res.write_header(name, value)
                outcomes.append("accepted")
            except ValueError:
                outcomes.append("ValueError")
            except Exception as e:  # wrong exception type: report it
                outcomes.append(type(e).__name__)
        res.write_header("X-Good", "ok")
        json_end(res, outcomes)

    app.get("/bad-headers", bad_headers)

    def responded(res, req):
        before = res.has_responded()
        res.end("before=%s" % before)
        STATE["after"] = res.has_responded()

    app.get("/responded", responded)
    app.get("/responded-after", lambda res, req: res.end("after=%s" % STATE.get("after")))
    def double_end(res, req):
        res.end("one")
        res.end("two")  # no-op: already responded
        res.write_header("X-Late", "1")  # no-op as well

    app.get("/double-end", double_end)
    app.get("/aborted-attr", lambda res, req: res.end("aborted=%s" % res.aborted))

    async def abortable(res, req):
        def on_abort(r):
            STATE["abort_cb"] = True
            STATE["abort_attr_in_cb"] = r.aborted
        res.on_aborted(on_abort)
        STATE["abort_before"] = res.aborted
        await asyncio.sleep(0.5)
        STATE["abort_after_await"] = res.aborted
        if not res.aborted:
            res.end("late")

    app.get("/abortable", abortable)
    app.get("/abort-state", lambda res, req: json_end(res, state_subset("abort_")))

    # ---- errors ----
    def raise_sync(res, req):
        raise RuntimeError("deliberate-sync")

    async def raise_async(res, req):
        await asyncio.sleep(0.01)
        raise RuntimeError("deliberate-async")

    def raise_after_end(res, req):
        res.end("done")
        raise RuntimeError("deliberate-after-end")

    app.get("/raise", raise_sync)
    app.get("/raise-async", raise_async)
    app.get("/raise-after-end", raise_after_end)

    # ---- async handlers ----
    async def async_header(res, req):
        value = req.get_header("x-test")  # before the first await: req is valid
        await asyncio.sleep(0.01)
        res.cork_end("pre:%s" % value)

    async def async_no_await(res, req):
        res.end("no-await:%s" % req.get_url())

    async def async_unpreserved(res, req):
        await asyncio.sleep(0.01)
        out = {}
        for name, fn in ACCESSORS.items():
            try:
                fn(req)
                out[name] = "no-error"
            except Exception as e:
                out[name] = "%s:%s" % (type(e).__name__, e)
        json_end(res, out)

    async def async_preserved(res, req):
        returned = req.preserve()
        await asyncio.sleep(0.01)
        values = collect(req)
        values["returned_url"] = returned.get_url()
        res.cork(lambda r: json_end(r, values))

    async def async_end(res, req):
        await asyncio.sleep(0.01)
        res.write_status(201)
        res.write_header("X-A", "1")
        res.end("hello")

    async def async_cork_end(res, req):
        await asyncio.sleep(0.01)
        res.cork_end("corked-after-await")

    def sync_many(res, req):
        res.write_status(200)
        res.write_header("X-One", "1")
        res.write_header("X-Two", "2")
        res.write_header("X-Three", "3")
        res.end("sync-many-body")

    async def async_writes(res, req):
        # control for the one-send tests: three writes separated by awaits
        await asyncio.sleep(0.01)
        res.write_status(200)
        res.write("a")
        await asyncio.sleep(0.02)
        res.write("b")
        await asyncio.sleep(0.02)
        res.end("c")

    async def slow(res, req):
        await asyncio.sleep(0.05)
        res.cork_end("slow")

    async def loop_type(res, req):
        loop = asyncio.get_running_loop()
        res.end("%s.%s" % (type(loop).__module__, type(loop).__name__))

    app.get("/async-header", async_header)
    app.get("/async-no-await", async_no_await)
    app.get("/async-unpreserved/:id", async_unpreserved)
    app.get("/async-preserved/:id/:opt", async_preserved)
    app.get("/async-end", async_end)
    app.get("/async-cork-end", async_cork_end)
    app.get("/sync-many", sync_many)
    app.get("/async-writes", async_writes)

    async def async_hundred_writes(res, req):
        # After one await, 100 writes and an end: held per socket and sent together.
        await asyncio.sleep(0.001)
        for i in range(100):
            res.write("w%d," % i)
        res.end("end")

    app.get("/async-100-writes", async_hundred_writes)
    app.get("/slow", slow)
    app.get("/loop", loop_type)
    app.get("/stats", lambda res, req: res.end(str(app.stats()["send_syscalls"])))
    app.get("/connections", lambda res, req: res.end(str(app.stats()["connections"])))

    data_after_end = []

    async def get_data_after_end(res, req):
        # get_data() on a response that already ended must resolve (empty),
        # not wait forever for a body nobody will deliver.
        res.end("early")
        data = await asyncio.wait_for(res.get_data(), 2)
        data_after_end.append(len(data.getvalue()))

    app.post("/data-after-end", get_data_after_end)
    app.get("/data-after-end-state", lambda res, req: res.end(repr(data_after_end)))

    # ---- request bodies ----
    async def echo_body(res, req):
        data = await res.get_data()
        res.write_header("X-Len", str(len(data.getvalue())))
        res.end(data.getvalue())

    async def echo_json(res, req):
        obj = await res.get_json()
        res.end({"got": obj})  # a dict is sent as JSON

    async def echo_text(res, req):
        res.end("text:%s" % await res.get_text())

    def body_chunks(res, req):
        seen = {"chunks": 0, "bytes": 0, "ends": 0, "sum": 0}

        def on_data(r, chunk, is_end):
            seen["chunks"] += 1
            seen["bytes"] += len(chunk)
            seen["sum"] = (seen["sum"] + sum(chunk)) % 1000003
            if is_end:
                seen["ends"] += 1
                json_end(r, seen)

        res.on_data(on_data)

    app.post("/echo", echo_body)
    app.put("/echo", echo_body)
    app.post("/echo-json", echo_json)
    app.post("/echo-text", echo_text)
    app.post("/body-chunks", body_chunks)
    app.get("/json", lambda res, req: res.end({"a": 1, "b": [True, None]}))
    app.get("/redirect", lambda res, req: res.redirect("/static"))
    return app


def state_subset(prefix):
    return {k: v for k, v in STATE.items() if k.startswith(prefix)}


def main():
    app = build()
    app.listen(AppListenOptions(port=0, host="127.0.0.1"),
               lambda config: print("LISTENING %d" % config.port, flush=True))
    app.run()


if __name__ == "__main__":
    main()
