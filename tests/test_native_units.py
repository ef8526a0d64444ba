"""Build and run the C unit tests in tests/native/ (parser, router, uSockets core).

Each test program names the sources it needs on its first line
(`/* sources: a.c b.c */`) and ends with a line "N passed, M failed".
They are built with AddressSanitizer and UBSan when the compiler has them.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NATIVE_TESTS = sorted(
    f for f in os.listdir(os.path.join(ROOT, "tests", "native")) if f.startswith("test_") and f.endswith(".c")
)
INCLUDES = ["-I" + os.path.join(ROOT, d) for d in ("vendor/usockets/src", "socketify_cy/native")]


def _sources(test_file):
    # First line: /* sources: a.c b.c */ or /* sources: a.c b.c | libs: -lz */
    with open(test_file) as f:
        first = f.readline()
    m = re.match(r"\s*/\*\s*sources:(.*?)(?:\|\s*libs:(.*?))?\*/", first)
    assert m, "%s must start with /* sources: ... */" % test_file
    return [os.path.join(ROOT, s) for s in m.group(1).split()], (m.group(2) or "").split()


def _sanitizer_flags(cc):
    probe = subprocess.run(
        [cc, "-fsanitize=address,undefined", "-x", "c", "-", "-o", os.devnull],
        input=b"int main(void){return 0;}", capture_output=True,
    )
    return ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"] if probe.returncode == 0 else []


@pytest.mark.parametrize("name", NATIVE_TESTS)
def test_native(name):
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        pytest.skip("no C compiler")
    test_file = os.path.join(ROOT, "tests", "native", name)
    sources, libs = _sources(test_file)
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, name[:-2])
        cmd = [cc, "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *_sanitizer_flags(cc),
               *INCLUDES, *sources, test_file, "-o", exe, "-lpthread", *libs]
        build = subprocess.run(cmd, capture_output=True, text=True)
        assert build.returncode == 0, "build failed:\n%s" % build.stderr
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="halt_on_error=1")
        run = subprocess.run([exe], capture_output=True, text=True, timeout=60, cwd=tmp, env=env)
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    m = re.search(r"(\d+) passed, (\d+) failed", run.stdout)
    assert m and int(m.group(1)) > 0 and m.group(2) == "0", out[-4000:]


FUZZ_TARGETS = sorted(f[:-2] for f in os.listdir(os.path.join(ROOT, "tests", "fuzz"))
                      if f.startswith("fuzz_") and f.endswith(".c"))


# Every fuzz target links what the engine links (tests/fuzz/run.sh does the same).
FUZZ_LIBS = ["-lz", "-lcrypto"]


@pytest.mark.parametrize("target", FUZZ_TARGETS)
def test_fuzz_target_runs_on_its_corpus(target):
    # Keeps every tests/fuzz/fuzz_X_Y.c building (without libFuzzer, which
    # needs clang: tests/fuzz/run.sh) and its invariants holding on its seeds
    # in tests/fuzz/corpus_X.
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        pytest.skip("no C compiler")
    unit = target[len("fuzz_"):]
    corpus = os.path.join(ROOT, "tests", "fuzz", "corpus_" + unit.split("_")[0])
    seeds = sorted(os.path.join(corpus, f) for f in os.listdir(corpus))
    assert seeds
    fuzz_src = os.path.join(ROOT, "tests/fuzz/%s.c" % target)
    with open(fuzz_src) as f:
        m = re.search(r"^/\* extra: (.*) \*/$", f.read(), re.M)
    extra = [os.path.join(ROOT, "socketify_cy/native", e) for e in (m.group(1).split() if m else [])]
    # the unit: socketify_cy/native/X.c, else vendor/usockets/src/X.c (as tests/fuzz/run.sh)
    unit_src = os.path.join(ROOT, "socketify_cy/native/%s.c" % unit)
    if not os.path.exists(unit_src):
        unit_src = os.path.join(ROOT, "vendor/usockets/src/%s.c" % unit)
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, target)
        cmd = [cc, "-std=gnu11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *_sanitizer_flags(cc),
               "-DFUZZ_STANDALONE", *INCLUDES, unit_src, *extra, fuzz_src, "-o", exe, *FUZZ_LIBS]
        build = subprocess.run(cmd, capture_output=True, text=True)
        assert build.returncode == 0, build.stderr
        env = dict(os.environ, UBSAN_OPTIONS="halt_on_error=1")
        run = subprocess.run([exe, *seeds], capture_output=True, text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ran %d input(s)" % len(seeds) in run.stdout + run.stderr
