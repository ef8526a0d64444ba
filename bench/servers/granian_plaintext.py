"""Plaintext server: RSGI app on granian (1 worker, 1 runtime thread).

usage: python granian_plaintext.py PORT [HANDLER]

HANDLER (also $BENCH_HANDLER): `sync` responds at once; `async_end` first
does `await asyncio.sleep(0)`.  RSGI has no cork, so `async_cork_end` is not
offered.  The variant reaches granian's worker through $BENCH_HANDLER, which
picks the module-level `app` below.

Started through granian's own CLI (exec'd, so the PID stays the same): the
flags are checked against `granian --help` so older/newer releases that lack
one of the optional flags still start.  Granian's main process spawns one
worker process; the harness measures CPU and RSS over the whole process tree.
"""
import asyncio
import os
import subprocess
import sys

from _common import BODY, HOST, handler_from_argv, port_from_argv

SUPPORTED = ("sync", "async_end")

HEADERS = [("content-type", "text/plain")]


async def app_sync(scope, proto):
    proto.response_bytes(200, HEADERS, BODY)


async def app_async_end(scope, proto):
    await asyncio.sleep(0)
    proto.response_bytes(200, HEADERS, BODY)


# granian's worker imports this module as "granian_plaintext:app".  __main__
# below refuses an unknown variant before granian starts; a bad value set by
# hand fails here with a KeyError in the worker's log.
app = {"sync": app_sync, "async_end": app_async_end}[os.environ.get("BENCH_HANDLER", "sync")]


def granian_argv(port):
    help_text = subprocess.run(
        [sys.executable, "-m", "granian", "--help"],
        capture_output=True, text=True, check=True,
    ).stdout
    argv = [sys.executable, "-m", "granian",
            "--interface", "rsgi",
            "--host", HOST, "--port", str(port),
            "--workers", "1"]
    optional = [
        ("--runtime-threads", ["--runtime-threads", "1"]),
        ("--runtime-mode", ["--runtime-mode", "st"]),
        ("--http ", ["--http", "1"]),
        ("--no-ws", ["--no-ws"]),
        ("uvloop", ["--loop", "uvloop"]),
        ("--log-level", ["--log-level", "warning"]),
        ("--no-access-log", ["--no-access-log"]),
        ("--working-dir", ["--working-dir", os.path.dirname(os.path.abspath(__file__))]),
    ]
    for marker, flags in optional:
        if marker in help_text:
            argv += flags
    argv.append("granian_plaintext:app")
    return argv


if __name__ == "__main__":
    port = port_from_argv()
    # the worker reads the variant from the environment (execv keeps it)
    os.environ["BENCH_HANDLER"] = handler_from_argv(SUPPORTED)
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    argv = granian_argv(port)
    print(f"[granian] handler={os.environ['BENCH_HANDLER']} exec: " + " ".join(argv),
          flush=True)
    # granian handles SIGTERM/SIGINT itself and stops its worker.
    os.execv(sys.executable, argv)
