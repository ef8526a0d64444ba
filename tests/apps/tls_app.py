"""TLS test server (tests/test_tls.py).

python tests/apps/tls_app.py CERT KEY [options]

  --passphrase P          AppOptions(passphrase=P) for KEY
  --ciphers S             AppOptions(ssl_ciphers=S)
  --ca FILE               AppOptions(ca_file_name=FILE): client certificates required
  --idle N                App(idle_timeout=N)
  --proxy                 App(proxy_protocol=True): a PROXY v1/v2 header precedes the TLS bytes
  --sni PATTERN CERT KEY  app.add_server_name(PATTERN, AppOptions(...))   (repeatable)
  --sni-default PATTERN   app.add_server_name(PATTERN): the default certificate (repeatable)
  --missing-sni-dir DIR   app.missing_server_name(handler): the handler adds DIR/<host>.pem and
                          DIR/<host>.key as the certificate of <host> when both exist
  --domain PATTERN        app.domain(PATTERN) with GET / -> "domain:PATTERN", GET /d-only,
                          POST /echo, ws /dws (echo)                          (repeatable)
  --unix PATH             also listen (plain, no TLS) on the unix socket PATH
  --construct-only        build the App, print "CONSTRUCTED" and exit (errors propagate)

Listens on 127.0.0.1:0 and prints "LISTENING <port>" once every listener is up.

Routes (default, i.e. connections whose server name matches no domain):
  GET  /               "hello tls"
  POST /echo           the request body
  GET  /big?n=N        N bytes of PATTERN, one res.end
  GET  /stream?n=N     N bytes of PATTERN in 64 KiB res.send_chunk pieces (client's pace)
  GET  /missing-calls  JSON list of the host names the missing_server_name handler saw
  GET  /remove?name=P  app.remove_server_name(P); answers "removed:<returned the app>"
  GET  /stats          the engine's send-syscall counter (app.stats()["send_syscalls"])
  GET  /many           status + three headers + body, written piecewise (one corked response)
  GET  /async-many     the same after an await
  GET  /close          answers with Connection: close (the server ends the connection)
  ws   /ws             echo, permessage-deflate (shared), replies compressed
  ws   /chat           subscribes to "room"; every message is app.publish'ed to "room"
"""

import argparse
import asyncio
import json
import os
import re

from socketify_cy import App, AppListenOptions, AppOptions, CompressOptions

MAX_N = 16 * 1024 * 1024
# The body bytes of /big and /stream: byte i is i % 251 (the test computes the same).
PATTERN = bytes(range(251)) * (MAX_N // 251 + 1)
BLOCK = 64 * 1024
HOSTNAME_RE = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")

missing_calls = []


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("cert")
    p.add_argument("key")
    p.add_argument("--passphrase")
    p.add_argument("--ciphers")
    p.add_argument("--ca")
    p.add_argument("--idle", type=int, default=10)
    p.add_argument("--proxy", action="store_true")
    p.add_argument("--sni", nargs=3, action="append", default=[], metavar=("PATTERN", "CERT", "KEY"))
    p.add_argument("--sni-default", action="append", default=[])
    p.add_argument("--missing-sni-dir")
    p.add_argument("--domain", action="append", default=[])
    p.add_argument("--unix")
    p.add_argument("--construct-only", action="store_true")
    return p.parse_args()


def size_of(req):
    n = int(req.get_query("n") or "0")
    if not 0 <= n <= MAX_N:
        raise ValueError("n out of range")
    return n


async def echo(res, req):
    data = await res.get_data()
    res.end(data.getvalue())


def echo_ws(ws, message, opcode):
    ws.send(message, opcode, True)


async def stream(res, req):
    n = size_of(req)
    if n == 0:
        res.end(b"")
        return
    sent = 0
    while sent < n:
        piece = PATTERN[sent:min(sent + BLOCK, n)]
        ok, done = await res.send_chunk(piece, n)
        if done and sent + len(piece) < n:
            return  # aborted by the client
        sent += len(piece)


def add_domain(app, pattern):
    # (that each call returns the domain object is checked in-process by the tests)
    d = app.domain(pattern)
    d.get("/", lambda res, req: res.end("domain:%s" % pattern))
    d.get("/d-only", lambda res, req: res.end("d-only:%s" % pattern))
    d.post("/echo", echo)
    d.ws("/dws", {"message": echo_ws})


def build(args):
    opts = AppOptions(cert_file_name=args.cert, key_file_name=args.key, passphrase=args.passphrase,
                      ca_file_name=args.ca, ssl_ciphers=args.ciphers)
    app = App(options=opts, idle_timeout=args.idle, proxy_protocol=args.proxy)
    for pattern, cert, key in args.sni:
        app.add_server_name(pattern, AppOptions(cert_file_name=cert, key_file_name=key))
    for pattern in args.sni_default:
        app.add_server_name(pattern)

    if args.missing_sni_dir:
        base = args.missing_sni_dir

        def on_missing(hostname):
            missing_calls.append(hostname)
            # Only plain host names: the name comes from the client.
            if not isinstance(hostname, str) or not HOSTNAME_RE.fullmatch(hostname):
                return
            cert = os.path.join(base, hostname + ".pem")
            key = os.path.join(base, hostname + ".key")
            if os.path.exists(cert) and os.path.exists(key):
                app.add_server_name(hostname, AppOptions(cert_file_name=cert, key_file_name=key))

        app.missing_server_name(on_missing)

    app.get("/", lambda res, req: res.end("hello tls"))
    app.post("/echo", echo)
    app.get("/big", lambda res, req: res.end(PATTERN[:size_of(req)]))
    app.get("/stream", stream)
    app.get("/missing-calls", lambda res, req: res.end(json.dumps(missing_calls)))

    def remove(res, req):
        returned = app.remove_server_name(req.get_query("name"))
        res.end("removed:%s" % (returned is app))

    app.get("/remove", remove)
    app.get("/peer", lambda res, req: res.end("%s %s" % (res.get_proxied_remote_address(),
                                                          res.get_remote_address())))
    app.get("/stats", lambda res, req: res.end(str(app.stats()["send_syscalls"])))

    def many(res):
        res.write_status(201)
        for name in ("X-One", "X-Two", "X-Three"):
            res.write_header(name, "1")
        res.end("many-body")

    async def async_many(res, req):
        await asyncio.sleep(0)
        many(res)

    app.get("/many", lambda res, req: many(res))
    app.get("/async-many", async_many)
    app.get("/close", lambda res, req: res.write_header("Connection", "close").end("bye"))
    app.ws("/ws", {
        "message": echo_ws,
        "compression": CompressOptions.SHARED_COMPRESSOR | CompressOptions.SHARED_DECOMPRESSOR,
        "max_payload_length": 4 * 1024 * 1024,
        "max_backpressure": 8 * 1024 * 1024,
    })
    app.ws("/chat", {
        "open": lambda ws: ws.subscribe("room"),
        "message": lambda ws, message, opcode: app.publish("room", message, opcode),
    })
    # After the default routes: a domain's routes must not depend on the order.
    for pattern in args.domain:
        add_domain(app, pattern)
    return app


def main():
    args = parse_args()
    app = build(args)
    if args.construct_only:
        print("CONSTRUCTED", flush=True)
        app.dispose()
        return
    # LISTENING only once every listener is up: the tests connect right away.
    ports = []
    app.listen(AppListenOptions(port=0, host="127.0.0.1"), lambda config: ports.append(config.port))
    if args.unix:
        app.listen(AppListenOptions(domain=args.unix), lambda config: ports.append(config.domain))
    print("LISTENING %d" % ports[0], flush=True)
    app.run()


if __name__ == "__main__":
    main()
