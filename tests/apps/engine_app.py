"""Server for the C-engine findings (tests/test_engine_findings.py,
tests/test_framing.py, tests/test_backpressure.py).

Run: python tests/apps/engine_app.py [--max-head-size N] [--idle-timeout S]
 -> prints "LISTENING <port>".

The App keywords max_head_size / idle_timeout are passed only when asked
for, so the routes of the other findings still run on a build that does not
know those keywords yet. With --construct-only the script only builds the
App and prints "CONSTRUCTED" or "CONSTRUCT-ERROR <type>" (for argument
validation tests).

Every route records what it saw in STATE; GET /state returns STATE plus
app.stats() as JSON. Errors raised on purpose carry "deliberate-".
"""

import asyncio
import gc
import json
import sys
import weakref

from socketify_cy import App, AppListenOptions

STATE = {"aborted": []}
KEPT = {}          # pending responses kept by id (long-poll style)
STREAMS = []       # kept streamed responses (/y)
WEAK = {}          # weak handles only (/wait_unref)

BLOCK = 64 * 1024
MIB = 1024 * 1024
# One 64 KiB block; each block on the wire carries its index in its first
# 8 bytes (big endian), the rest is BASE[8:]. The client checks both.
BASE = bytes((i * 7 + 13) % 251 for i in range(BLOCK))


def block(i):
    return i.to_bytes(8, "big") + BASE[8:]


def pattern(nblocks):
    return b"".join(block(i) for i in range(nblocks))


def parse_args(argv):
    opts = {}
    construct_only = False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--max-head-size":
            opts["max_head_size"] = int(argv[i + 1])
            i += 2
        elif a == "--idle-timeout":
            opts["idle_timeout"] = int(argv[i + 1])
            i += 2
        elif a == "--construct-only":
            construct_only = True
            i += 1
        else:
            raise SystemExit("unknown argument %r" % a)
    return opts, construct_only


# ---- A: request buffer must outlive res.close() (review 2.1) -------------------------------

def close_then_read(res, req):
    res.close()
    # Reuse freed heap memory, as any real handler would.
    junk = [bytearray(b"Z" * 1023) for _ in range(16)]
    try:
        STATE["close_then_read"] = req.get_header("x-probe")
    except Exception as exc:  # recorded, not raised: the test reports it
        STATE["close_then_read"] = "raised %s: %s" % (type(exc).__name__, exc)
    del junk


def read_probe(res, req):
    # Control route: same head, no close.
    STATE["read_probe"] = req.get_header("x-probe")
    res.end("read")


# ---- C: pending responses and client FIN (review 2.4 / D3) -----------------------------------

def never(res, req):
    rid = req.get_query("id") or "?"
    STATE.setdefault("never_started", []).append(rid)

    def aborted(r):
        STATE["aborted"].append(rid)
        KEPT.pop(rid, None)

    res.on_aborted(aborted)
    if req.get_method() == "POST":
        def on_chunk(r, chunk, is_end):
            STATE["never_body_%s" % rid] = STATE.get("never_body_%s" % rid, 0) + len(chunk)
            if is_end:
                STATE.setdefault("never_body_done", []).append(rid)
        res.on_data(on_chunk)
    KEPT[rid] = res   # never answered


# ---- D: framing (review 2.6) -------------------------------------------------------------------

def cl_ok(res, req):
    res.write_header("Content-Length", "5")
    res.end("hello")


def cl_bad(res, req):
    try:
        res.write_header("Content-Length", "3")
        res.end("hello")
    except ValueError as exc:
        STATE["cl_bad"] = "ValueError"
        raise RuntimeError("deliberate-content-length-mismatch") from exc
    STATE["cl_bad"] = "no error"


def send_json(res, req):
    res.send({"a": 1})


def ct_custom(res, req):
    res.write_header("Content-Type", "application/x-custom")
    res.end({"a": 1})


def status_route(res, req):
    code = int(req.get_parameter(0))
    try:
        res.write_status(code)
    except ValueError as exc:
        STATE.setdefault("status_errors", {})[str(code)] = "ValueError"
        raise RuntimeError("deliberate-bad-status-%d" % code) from exc
    STATE.setdefault("status_errors", {})[str(code)] = "accepted"
    res.end()


def te_chunked(res, req):
    res.write_header("Transfer-Encoding", "chunked")
    res.write("ab")
    res.end("c")


def conn_header(res, req):
    res.write_header("Connection", req.get_parameter(0))
    res.end("x")


USER_DATE = "Tue, 01 Jan 2030 00:00:00 GMT"


def user_date(res, req):
    res.write_header("Date", USER_DATE)
    res.end("d")


# ---- E: Expect: 100-continue ---------------------------------------------------------------------

def no_read(res, req):
    res.end("no")


async def echo(res, req):
    body = await res.get_data()
    res.end(body.getvalue())


# ---- B and F: large responses and backpressure (review 2.2, 2.9 / D1, D2) -----------------------

def big_end(res, req):
    res.end(pattern(int(req.get_query("mib")) * MIB // BLOCK))


def big_write(res, req):
    n = int(req.get_query("mib")) * MIB // BLOCK
    for i in range(n):
        res.write(block(i))
    res.end()


BP_MAX_PIECES = 1024   # 64 MiB: the bound of the write loop


def bp_write(res, req):
    results = []
    for i in range(BP_MAX_PIECES):
        r = res.write(block(i))
        results.append(r)
        if r is False:
            break
    STATE["bp_write"] = {
        "count": len(results),
        "last": repr(results[-1]),
        "before_last": sorted({repr(r) for r in results[:-1]}),
    }
    res.end()


def bp_tryend(res, req):
    # Streams `mib` MiB with try_end / on_writable, the socketify pattern:
    # on backpressure, resend the rest of the current block when writable.
    total = int(req.get_query("mib")) * MIB
    nblocks = total // BLOCK
    buf = bytearray(BASE)
    view = memoryview(buf)
    st = {"i": 0, "start": 0, "writable_calls": 0, "done": False, "registered": False,
          "aborted": False, "error": None}
    STATE["tryend"] = st

    def finished(ok, done):
        if done:
            st["done"] = True
            st["i"] = nblocks
        return done

    def pump(r):
        while st["i"] < nblocks:
            buf[0:8] = st["i"].to_bytes(8, "big")
            st["start"] = r.get_write_offset()
            ok, done = r.try_end(view, total)
            if finished(ok, done):
                return True
            if not ok:
                if not st["registered"]:
                    st["registered"] = True
                    r.on_writable(on_writable)
                return False
            st["i"] += 1
        return True

    def on_writable(r, offset):
        st["writable_calls"] += 1
        try:
            ok, done = r.try_end(view[offset - st["start"]:], total)
            if finished(ok, done):
                return True
            if not ok:
                return False
            st["i"] += 1
            return pump(r)
        except Exception as exc:
            st["error"] = "%s: %s" % (type(exc).__name__, exc)
            raise

    def aborted(r):
        st["aborted"] = True

    res.on_aborted(aborted)
    pump(res)


# ---- G: ending one response and writing another in the same handler (review 2.11) -------------

def y_stream(res, req):
    res.write(b"y-start")
    res.on_aborted(lambda r: STREAMS.remove(r) if r in STREAMS else None)
    STREAMS.append(res)


def x_end_then_write_y(res, req):
    res.end(b"x" * 20000, True)
    if STREAMS:
        STREAMS[-1].write(b"extra-chunk")
        STATE["x_wrote_y"] = True
    else:
        STATE["x_wrote_y"] = False


def y_end(res, req):
    n = 0
    while STREAMS:
        STREAMS.pop().end(b"y-end")
        n += 1
    res.end("ended %d" % n)


# ---- J: async handlers (review 2.7 / D4) ----------------------------------------------------------

async def async_noanswer(res, req):
    await asyncio.sleep(0.05)
    # returns without answering and keeps no reference


async def wait_unref(res, req):
    fut = asyncio.get_running_loop().create_future()
    WEAK["fut"] = weakref.ref(fut)
    STATE["wait_unref"] = "waiting"
    # Only this frame refers to the future, and only the future's callback
    # refers to the Task: if the App keeps no strong reference to the Task,
    # gc.collect() destroys it and the client gets a 500 instead of the 200.
    value = await fut
    STATE["wait_unref"] = "resolved"
    res.end("resolved:%s" % value)


def release(res, req):
    f = WEAK.get("fut")
    fut = f() if f is not None else None
    if fut is None:
        res.end("gone")
    elif fut.done():
        res.end("done")
    else:
        fut.set_result("released")
        res.end("released")


def collect(res, req):
    res.end("collected %d" % gc.collect())


# ---- H and I: limits -------------------------------------------------------------------------------

def head_ok(res, req):
    res.end("head-ok %d" % len(req.get_headers()))


def build(opts):
    app = App(**opts)
    app.get("/", lambda res, req: res.end("ok"))
    app.get("/state", lambda res, req: res.end(json.dumps(dict(STATE, stats=app.stats()), default=repr)))
    app.get("/close-then-read", close_then_read)
    app.get("/read-probe", read_probe)
    app.any("/never", never)
    app.get("/cl-ok", cl_ok)
    app.get("/cl-bad", cl_bad)
    app.get("/send-json", send_json)
    app.get("/ct-custom", ct_custom)
    app.get("/status/:code", status_route)
    app.get("/te-chunked", te_chunked)
    app.get("/connection/:value", conn_header)
    app.get("/date", user_date)
    app.post("/no-read", no_read)
    app.post("/echo", echo)
    app.get("/big-end", big_end)
    app.get("/big-write", big_write)
    app.get("/bp-write", bp_write)
    app.get("/bp-tryend", bp_tryend)
    app.get("/y", y_stream)
    app.get("/x", x_end_then_write_y)
    app.get("/y-end", y_end)
    app.get("/async-noanswer", async_noanswer)
    app.get("/wait_unref", wait_unref)
    app.get("/release", release)
    app.get("/gc", collect)
    app.get("/head-ok", head_ok)
    return app


def main():
    opts, construct_only = parse_args(sys.argv[1:])
    if construct_only:
        try:
            App(**opts)
        except Exception as exc:
            print("CONSTRUCT-ERROR %s" % type(exc).__name__, flush=True)
        else:
            print("CONSTRUCTED", flush=True)
        return
    app = build(opts)
    app.listen(AppListenOptions(port=0, host="127.0.0.1"),
               lambda config: print("LISTENING %d" % config.port, flush=True))
    app.run()


if __name__ == "__main__":
    main()
