"""Plaintext server: RSGI app on granian (1 worker, 1 runtime thread).

usage: python granian_plaintext.py PORT        (or BENCH_PORT=... in env)

Started through granian's own CLI (exec'd, so the PID stays the same): the
flags are checked against `granian --help` so older/newer releases that lack
one of the optional flags still start.  Granian's main process spawns one
worker process; the harness measures CPU and RSS over the whole process tree.
"""
import os
import subprocess
import sys

from _common import BODY, HOST, port_from_argv

HEADERS = [("content-type", "text/plain")]


async def app(scope, proto):
    proto.response_bytes(200, HEADERS, BODY)


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
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    argv = granian_argv(port)
    print("[granian] exec: " + " ".join(argv), flush=True)
    # granian handles SIGTERM/SIGINT itself and stops its worker.
    os.execv(sys.executable, argv)
