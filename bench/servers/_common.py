"""Helpers shared by the benchmark server apps (stdlib only)."""
import os
import sys

HOST = "127.0.0.1"
BODY = b"Hello, World!"
# Handler variants the harness can ask for (argv[2] or $BENCH_HANDLER):
#   sync            respond inside the callback
#   async_cork_end  async handler: await asyncio.sleep(0), then res.cork_end(BODY)
#   async_end       async handler: await asyncio.sleep(0), then res.end(BODY)
HANDLERS = ("sync", "async_cork_end", "async_end")


def port_from_argv(default=8000):
    """Port from argv[1], else $BENCH_PORT, else `default`."""
    if len(sys.argv) > 1:
        return int(sys.argv[1])
    return int(os.environ.get("BENCH_PORT", default))


def handler_from_argv(supported=HANDLERS):
    """Handler variant from argv[2], else $BENCH_HANDLER, else "sync".

    Exits with status 2 and a message if the variant is unknown or this
    server does not implement it, so the harness sees a clear startup error."""
    if len(sys.argv) > 2:
        variant = sys.argv[2]
    else:
        variant = os.environ.get("BENCH_HANDLER", "sync")
    if variant not in supported:
        sys.exit(f"handler variant {variant!r} not supported here; "
                 f"choose from {', '.join(supported)}")
    return variant


def tls_files():
    """(cert, key) from $BENCH_TLS_CERT and $BENCH_TLS_KEY (PEM files), or None
    for plain HTTP.  run.py --tls sets both; setting only one is an error."""
    cert = os.environ.get("BENCH_TLS_CERT") or None
    key = os.environ.get("BENCH_TLS_KEY") or None
    if bool(cert) != bool(key):
        sys.exit("set both BENCH_TLS_CERT and BENCH_TLS_KEY, or neither")
    return (cert, key) if cert else None


def announce(name, port, tls=False):
    scheme = "https" if tls else "http"
    print(f"[{name}] listening on {scheme}://{HOST}:{port}/ pid={os.getpid()}", flush=True)
