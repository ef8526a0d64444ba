"""Per-request contexts, the coroutine driver, request lifetime and the
socketify API extras (tests/test_context.py, tests/test_api_extras.py).

python tests/apps/extras_app.py [lifespan-off]
"""

import asyncio
import contextvars
import gc
import json
import sys
import threading

from socketify_cy import App, AppListenOptions

rid = contextvars.ContextVar("rid", default=None)
seen = {}          # what tasks spawned by handlers saw
kept = []
cancellable = {}
hooks = []


def ctx_sync(res, req):
    before = rid.get()
    rid.set(req.get_url())
    res.end(repr(before))


async def ctx_async(res, req):
    before = rid.get()
    rid.set(req.get_url())
    await asyncio.sleep(0.01)
    after = rid.get()
    res.end(repr((before, after)))


async def ctx_spawn(res, req):
    rid.set("spawner")

    async def child():
        seen["child-before"] = rid.get()
        rid.set("child")
        await asyncio.sleep(0)
        seen["child-after"] = rid.get()

    await asyncio.create_task(child())
    # The child's set stays in the child's copy.
    res.end(repr(rid.get()))


def ctx_seen(res, req):
    res.end(json.dumps(seen))


async def current_task(res, req):
    first = asyncio.current_task() is not None
    await asyncio.sleep(0)
    later = asyncio.current_task() is not None
    res.end(json.dumps([first, later]))


async def timeout_expires(res, req):
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(5)
    except TimeoutError:
        res.end("timed-out")
        return
    res.end("no-timeout")


async def after_yield_timeout_then_future(res, req):
    # After a bare yield the handler has no Task yet (the App resumes it); a
    # timeout entered then must still cancel the Task made for the future.
    await asyncio.sleep(0)
    first = asyncio.current_task()
    try:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(5)
    except TimeoutError:
        res.end(json.dumps(["timed-out", first is not None]))
        return
    res.end("no-timeout")


async def timeout_while_only_yielding(res, req):
    # The timeout fires while the handler only ever yields bare: the
    # cancellation must reach it without any Task.
    n = 0
    try:
        async with asyncio.timeout(0.05):
            while True:
                n += 1
                await asyncio.sleep(0)
    except TimeoutError:
        res.end("timed-out" if n > 1 else "too-early")


async def many_bare_yields(res, req):
    rid.set(req.get_url())
    for _ in range(100):
        await asyncio.sleep(0)
    await asyncio.sleep(0.001)   # a real future in between
    for _ in range(10):
        await asyncio.sleep(0)
    res.end(json.dumps([asyncio.current_task() is not None, rid.get()]))


async def timeout_ok(res, req):
    async with asyncio.timeout(5):
        await asyncio.sleep(0.01)
    res.end("in-time")


async def task_group(res, req):
    async def part(n):
        await asyncio.sleep(0.01)
        return n

    async with asyncio.TaskGroup() as tg:
        a = tg.create_task(part(1))
        b = tg.create_task(part(2))
    res.end(str(a.result() + b.result()))


async def cancel_me(res, req):
    cancellable["task"] = asyncio.current_task()
    res.on_aborted(lambda r: seen.__setitem__("cancel-me-aborted", True))
    await asyncio.sleep(30)
    res.end("not cancelled")


def cancel_it(res, req):
    task = cancellable.pop("task", None)
    res.end("cancelled" if task is not None and task.cancel() else "nothing")


async def wait_unref(res, req):
    # Awaits a future nothing else refers to: only the App's task set keeps
    # this handler alive.
    await asyncio.get_running_loop().create_future()
    res.end("never")


def collect(res, req):
    gc.collect()
    res.end("collected")


async def async_forget(res, req):
    await asyncio.sleep(0.01)


async def async_keep(res, req):
    await asyncio.sleep(0.01)
    kept.append(res)


def answer_kept(res, req):
    n = 0
    while kept:
        kept.pop().end("answered later")
        n += 1
    res.end("answered %d" % n)


def declines(res, req):
    req.preserve()
    req.set_yield(True)


async def takes_over(res, req):
    req.preserve()
    await asyncio.sleep(0.02)
    res.end(json.dumps(req.get_parameters()))


async def cache_after_await(res, req):
    req.get_url()
    req.get_header("host")
    await asyncio.sleep(0)
    out = {}
    for name in ("get_url", "get_method", "get_full_url"):
        try:
            out[name] = getattr(req, name)()
        except RuntimeError as exc:
            out[name] = "RuntimeError" if "preserve()" in str(exc) else str(exc)
    res.end(json.dumps(out))


def from_thread(res, req):
    box = {}

    def work():
        for name, call in (("end", lambda: res.end("from thread")),
                           ("write_header", lambda: res.write_header("X-T", "1")),
                           ("get_url", lambda: req.get_url())):
            try:
                call()
                box[name] = "ok"
            except RuntimeError as exc:
                box[name] = "RuntimeError" if "thread" in str(exc) else str(exc)

    t = threading.Thread(target=work)
    t.start()
    t.join(5)
    res.end(json.dumps(box))


def keyboard_interrupt(res, req):
    raise KeyboardInterrupt


# ---- API extras --------------------------------------------------------------------


def cookies(res, req):
    jar = req.get_cookies()
    res.end(json.dumps(None if jar is None else {k: v.value for k, v in jar.items()}))


def app_attr(res, req):
    res.end(json.dumps([req.app is app, res.app is app]))


def aborted_attr(res, req):
    res.aborted = True
    first = res.aborted
    res.aborted = False
    res.end(json.dumps([first, res.aborted]))


async def form(res, req):
    res.end(json.dumps(await res.get_form_urlencoded()))


class Template:
    def render(self, *args, **kwargs):
        return "<p>%s %s</p>" % (",".join(args), ",".join("%s=%s" % kv for kv in sorted(kwargs.items())))


def render(res, req):
    res.render("a", "b", x=1)


def plumbing(res, req):
    got = []
    assert res.grab_aborted_handler() is res
    res.on_data(lambda r, chunk, is_end: got.append(["data", chunk.decode(), is_end]))
    res.on_aborted(lambda r: got.append(["aborted", r.aborted]))
    res.trigger_data_handler(b"xyz", False)
    res.trigger_aborted()
    res.trigger_aborted()   # handlers run once
    res.aborted = False
    res.end(json.dumps(got))


def extension(request, response, ws):
    @request.method
    def shout(self):
        return self.get_url().upper()

    request.property("user", "anonymous")

    @response.method
    def end_twice(self, text):
        return self.end(text * 2)

    response.property("token", None)


def ext_route(res, req):
    before = req.user
    req.user = "alice"
    res.token = "t1"
    res.end_twice("%s|%s|%s|%s|" % (req.shout(), before, req.user, res.token))


def trigger_error(res, req):
    app.trigger_error(ValueError("triggered"), res, req)


def native_handle(res, req):
    h = app.get_native_handle()
    res.end(json.dumps([isinstance(h, int), h != 0]))


def send_json(res, req):
    res.send({"k": [1, 2]})


def keywords(res, req):
    req.set_yield(has_yield=False)
    value = req.get_header(lower_case_header="x-kw")
    res.write_status(status_or_status_text=202)

    async def later():
        res.end(value or "none")

    app.run_async(task=later(), response=res)


def hooks_route(res, req):
    res.end(json.dumps(hooks))


def on_error(error, res, req):
    hooks.append(["error", type(error).__name__, str(error), res is None, req is None])
    if res is not None:
        res.write_status(500).end("handled:%s" % error)


def build(lifespan):
    global app
    app = App(lifespan=lifespan)
    app.set_error_handler(on_error)
    app.template(Template())
    app.register(extension)
    app.get("/ctx/sync", ctx_sync)
    app.get("/ctx/async", ctx_async)
    app.get("/ctx/spawn", ctx_spawn)
    app.get("/ctx/seen", ctx_seen)
    app.get("/current-task", current_task)
    app.get("/timeout-expires", timeout_expires)
    app.get("/timeout-ok", timeout_ok)
    app.get("/yield-timeout-future", after_yield_timeout_then_future)
    app.get("/yield-timeout-only", timeout_while_only_yielding)
    app.get("/many-yields", many_bare_yields)
    app.get("/task-group", task_group)
    app.get("/cancel-me", cancel_me)
    app.get("/cancel-it", cancel_it)
    app.get("/wait-unref", wait_unref)
    app.get("/gc", collect)
    app.get("/async-forget", async_forget)
    app.get("/async-keep", async_keep)
    app.get("/answer-kept", answer_kept)
    app.get("/p/:x/:y", declines)
    app.get("/p/:a/*", takes_over)
    app.get("/cache-after-await", cache_after_await)
    app.get("/from-thread", from_thread)
    app.get("/keyboard-interrupt", keyboard_interrupt)
    app.get("/cookies", cookies)
    app.get("/app-attr", app_attr)
    app.get("/aborted-attr", aborted_attr)
    app.post("/form", form)
    app.get("/render", render)
    app.get("/plumbing", plumbing)
    app.get("/ext", ext_route)
    app.get("/trigger-error", trigger_error)
    app.get("/native-handle", native_handle)
    app.get("/send-json", send_json)
    app.get("/keywords", keywords)
    app.get("/hooks", hooks_route)
    app.get("/seen", lambda res, req: res.end(json.dumps(seen)))

    @app.on_start
    def first_start():
        hooks.append("first-start")      # replaced: one slot

    @app.on_start
    def start():
        hooks.append("start")
        raise RuntimeError("deliberate-start-failure")

    @app.on_shutdown
    def stop():
        print("SHUTDOWN_HOOK", flush=True)
    return app


def main():
    app = build(lifespan=not (len(sys.argv) > 1 and sys.argv[1] == "lifespan-off"))
    app.listen(AppListenOptions(port=0, host="127.0.0.1"),
               lambda config: print("LISTENING %d" % config.port, flush=True))
    try:
        app.run()
    except KeyboardInterrupt:
        print("RUN_RAISED KeyboardInterrupt", flush=True)
        return
    print("RUN_RETURNED", flush=True)


if __name__ == "__main__":
    main()
