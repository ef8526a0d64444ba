"""Build socketify_cy: the vendored uSockets core and the protocol engine are
compiled as a static C library with strict warnings, then the Cython module
is compiled and linked against it. Nothing is downloaded.

Environment:
  SOCKETIFY_ASAN=1   build with AddressSanitizer + UBSan (see README: testing)
  SOCKETIFY_DEBUG=1  -O0 -g, assertions on
"""

import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
USOCKETS = "vendor/usockets/src"
NATIVE = "socketify_cy/native"

asan = os.environ.get("SOCKETIFY_ASAN") == "1"
debug = os.environ.get("SOCKETIFY_DEBUG") == "1"

opt = ["-O0", "-g"] if debug else ["-O3"]
# Link-time optimisation lets the hot calls between the engine, the socket
# writer and uSockets (separate files, one concept each) be inlined into the
# extension. Fat objects keep the static library usable without the plugin.
lto = [] if (debug or asan) else ["-flto=auto", "-ffat-lto-objects"]
sanitize = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"] if asan else []
# Our own C must stay warning-free: the library fails to build otherwise.
strict = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-fPIC", "-fvisibility=hidden"]

c_sources = sorted(glob.glob(f"{USOCKETS}/*.c")) + sorted(glob.glob(f"{NATIVE}/*.c"))
native_lib = (
    "socketify_native",
    {
        "sources": c_sources,
        "include_dirs": [USOCKETS, NATIVE],
        "cflags": opt + lto + strict + sanitize + ([] if debug else ["-DNDEBUG"]),
    },
)

extension = Extension(
    "socketify_cy._core",
    sources=["socketify_cy/_core.pyx"],
    include_dirs=[USOCKETS, NATIVE],
    # zlib: permessage-deflate; libssl + libcrypto: TLS (vendor/usockets/src/ssl.c)
    # and the WebSocket accept key (SHA-1).
    libraries=["socketify_native", "z", "ssl", "crypto"],
    # Relink when the C library changes.
    depends=c_sources + sorted(glob.glob(f"{USOCKETS}/*.h")) + sorted(glob.glob(f"{NATIVE}/*.h")),
    # Cython's generated C is not held to -Wextra; ours is (above).
    extra_compile_args=opt + lto + sanitize + ["-Wno-unused-function"],
    extra_link_args=opt + lto + sanitize,
)

# Sanitizer and debug objects must never be reused by a normal build.
variant = "asan" if asan else ("debug" if debug else "release")

setup(
    options={"build": {"build_base": os.path.join("build", variant)}},
    libraries=[native_lib],
    ext_modules=cythonize(
        [extension],
        compiler_directives={"language_level": "3", "embedsignature": True},
        include_path=[HERE],
    ),
)
