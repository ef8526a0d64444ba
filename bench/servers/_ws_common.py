"""Helpers shared by the WebSocket benchmark servers (stdlib only).

Every server takes PORT and MODE (argv[1], argv[2]; else $BENCH_PORT,
$BENCH_MODE) and the fan-out message size (argv[3], else $BENCH_SIZE, else
32 bytes):

    echo      /echo sends every message back with its opcode
    fanout    /sub subscribes to topic "t" on open; every message on /pub
              publishes one SIZE-byte binary message to "t", uncompressed
    fanout_z  the same with permessage-deflate on the routes (socketify:
              SHARED_COMPRESSOR) and the publish asking for compression
"""
import os
import resource
import sys

HOST = "127.0.0.1"
MODES = ("echo", "fanout", "fanout_z")
TOPIC = "t"


def port_from_argv(default=19100):
    if len(sys.argv) > 1:
        return int(sys.argv[1])
    return int(os.environ.get("BENCH_PORT", default))


def mode_from_argv():
    mode = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("BENCH_MODE", "echo")
    if mode not in MODES:
        sys.exit(f"mode {mode!r} not supported; choose from {', '.join(MODES)}")
    return mode


def size_from_argv(default=32):
    if len(sys.argv) > 3:
        return int(sys.argv[3])
    return int(os.environ.get("BENCH_SIZE", default))


def payload(size):
    """The published message: ASCII text-like bytes, so deflate has something
    to do but not a single repeated byte."""
    base = b"abcdefghijklmnopqrstuvwxyz0123456789-ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
    return (base * (size // len(base) + 1))[:size]


def raise_fd_limit():
    """1000 subscribers need more than the usual 1024 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def announce(name, port, mode, size):
    print(f"[{name}] mode={mode} size={size} listening on ws://{HOST}:{port}/ pid={os.getpid()}",
          flush=True)
