"""Run the Autobahn fuzzingclient cases (via kosoku, from PyPI) against
socketify_cy's echo app (tests/apps/autobahn_app.py) and summarise.

    python scripts/run_autobahn.py                    # every case, dedicated compressor
    python scripts/run_autobahn.py --mode shared      # shared compressor / decompressor
    python scripts/run_autobahn.py --cases '1.*' '7.*'

Prints the count per outcome and every case that is not OK; exits 1 if any
case FAILED (or none ran). Reports (JSON and HTML per case) go to --outdir.
"""

import argparse
import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "tests", "apps", "autobahn_app.py")


def start_echo(mode):
    proc = subprocess.Popen([sys.executable, APP, mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError("echo app did not start: %r %s" % (line, proc.stderr.read()))
    return proc, int(line.split()[1])


def kosoku_command():
    exe = shutil.which("kosoku") or os.path.join(os.path.dirname(sys.executable), "kosoku")
    if not os.path.exists(exe):
        raise RuntimeError("kosoku is not installed (pip install kosoku)")
    return exe


def run(cases=(), mode="dedicated", outdir=None, parallelism=2, timeout=1800):
    """Run the given case globs (all when empty); returns (counts, non_ok, seconds)."""
    outdir = outdir or tempfile.mkdtemp(prefix="autobahn-")
    proc, port = start_echo(mode)
    try:
        cmd = [kosoku_command(), "-p", str(parallelism), "-o", outdir]
        for c in cases:
            cmd += ["-i", c]
        cmd.append("127.0.0.1:%d" % port)
        t0 = time.time()
        subprocess.run(cmd, check=True, timeout=timeout, stdout=subprocess.DEVNULL)
        seconds = time.time() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    counts = collections.Counter()
    non_ok = []
    for path in glob.glob(os.path.join(outdir, "*case_*.json")):
        with open(path) as f:
            case = json.load(f)
        outcome = case["behavior"]
        if outcome == "OK" and case.get("behaviorClose") not in (None, "OK", "INFORMATIONAL"):
            outcome = case["behaviorClose"]
        counts[outcome] += 1
        if outcome != "OK":
            non_ok.append((case["id"], outcome, case.get("result", "")))
    non_ok.sort(key=lambda c: [int(p) for p in c[0].split(".")])
    return counts, non_ok, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("dedicated", "shared"), default="dedicated")
    ap.add_argument("--cases", nargs="*", default=[])
    ap.add_argument("--outdir", default=None)
    ap.add_argument("-p", "--parallelism", type=int, default=2)
    args = ap.parse_args()
    counts, non_ok, seconds = run(args.cases, args.mode, args.outdir, args.parallelism)
    total = sum(counts.values())
    print("Autobahn fuzzingclient, %s compression: %d cases in %.0f s" % (args.mode, total, seconds))
    for outcome in ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"):
        print("  %-14s %d" % (outcome, counts.get(outcome, 0)))
    for case_id, outcome, result in non_ok:
        print("  %-8s %-14s %s" % (case_id, outcome, result))
    return 1 if counts.get("FAILED") or not total else 0


if __name__ == "__main__":
    sys.exit(main())
