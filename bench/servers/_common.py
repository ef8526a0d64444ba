"""Helpers shared by the benchmark server apps (stdlib only)."""
import os
import sys

HOST = "127.0.0.1"
BODY = b"Hello, World!"


def port_from_argv(default=8000):
    """Port from argv[1], else $BENCH_PORT, else `default`."""
    if len(sys.argv) > 1:
        return int(sys.argv[1])
    return int(os.environ.get("BENCH_PORT", default))


def announce(name, port):
    print(f"[{name}] listening on http://{HOST}:{port}/ pid={os.getpid()}", flush=True)
