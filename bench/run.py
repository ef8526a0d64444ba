#!/usr/bin/env python3
"""Plaintext HTTP benchmark: socketify_cy against socketify, uvicorn, granian.

Stdlib only.  Every server runs pinned to CPU 0 (taskset -c 0) and wrk to
CPU 1 (taskset -c 1); only 127.0.0.1 is ever targeted and every load run is
bounded in time.  See bench/README.md for what is measured and the caveats.

    python3 bench/run.py [--rounds N] [--duration S] [--only NAMES]
                         [--modes keepalive,pipelined]
                         [--handlers sync,async_cork_end,async_end]
                         [--baseline REV] [--skip-install]
                         [--markdown-out FILE]

With --tls it is the HTTPS benchmark instead: socketify_cy, socketify and
uvicorn over TLS 1.3 (a certificate made at run time), socketify_cy over plain
TCP alongside, and the modes keepalive, pipelined, handshake and resume (new
connections per second, measured by bench/tls_handshake.c).
"""
import argparse
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import tempfile
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
SERVERS_DIR = os.path.join(BENCH_DIR, "servers")
VENV_DIR = os.path.join(BENCH_DIR, ".venv")
RESULTS_DIR = os.path.join(BENCH_DIR, "results")
PIPELINE_LUA = os.path.join(BENCH_DIR, "pipeline.lua")

HOST = "127.0.0.1"          # the only address ever targeted
BASE_PORT = 18080           # server i listens on BASE_PORT + i
EXPECTED_BODY = b"Hello, World!"
SERVER_CPU = "0"
WRK_CPU = "1"
CONNECTIONS = 64
PIPELINE_DEPTH = 16
WARMUP_S = 2
IDLE_S = 5
STARTUP_TIMEOUT_S = 30
STOP_GRACE_S = 5
REFERENCE = "socketify"     # ratios are relative to this server
QUIET_PCT = 25              # --wait-quiet threshold, % of one core

# Handler variants (see servers/_socketify_app.py): the server script gets the
# variant as argv[2] and in $BENCH_HANDLER.
HANDLERS = ("sync", "async_cork_end", "async_end")
NO_CORK = ("sync", "async_end")     # ASGI/RSGI have no cork: cork_end would
                                    # be the same app as async_end
# name -> server script, modules that must import in its venv, handler
# variants it implements, its venv.  --baseline adds "socketify_cy@REV".
SERVERS = {
    "socketify_cy": {"script": "socketify_cy_plaintext.py", "modules": "socketify_cy",
                     "handlers": HANDLERS, "venv": VENV_DIR},
    "socketify": {"script": "socketify_plaintext.py", "modules": "socketify",
                  "handlers": HANDLERS, "venv": VENV_DIR},
    "uvicorn": {"script": "uvicorn_plaintext.py", "modules": "uvicorn, uvloop, httptools",
                "handlers": NO_CORK, "venv": VENV_DIR},
    "granian": {"script": "granian_plaintext.py", "modules": "granian",
                "handlers": NO_CORK, "venv": VENV_DIR},
}
BASE_NAMES = tuple(SERVERS)         # the names --only accepts
OURS = "socketify_cy"
MODES = ("keepalive", "pipelined")

# --tls: the HTTPS benchmark.  The TLS servers are the plain ones given
# BENCH_TLS_CERT / BENCH_TLS_KEY (their spec gets "tls": the files);
# socketify_cy also runs over plain TCP in the same session, as PLAIN.
PLAIN = "socketify_cy-plain"
TLS_NAMES = ("socketify_cy", PLAIN, "socketify", "uvicorn")   # what --tls --only accepts
HANDSHAKE_MODES = ("handshake", "resume")   # one request per new connection
TLS_MODES = MODES + HANDSHAKE_MODES
TLS_HANDLERS = ("sync",)                    # the --tls default of --handlers
TLS_CLIENT_SRC = os.path.join(BENCH_DIR, "tls_handshake.c")
TLS_CLIENT_BIN = os.path.join(BENCH_DIR, ".tls_handshake")
HANDSHAKE_CONNECTIONS = 64                  # connections in progress at once
HANDSHAKE_TIMEOUT_S = 5                     # per connection
# Targets of the TLS work (req per server CPU-second, keep-alive):
TARGET_VS_REFERENCE = 2.0                   # socketify_cy HTTPS / socketify HTTPS
TARGET_VS_PLAIN = 0.75                      # socketify_cy HTTPS / socketify_cy plain TCP
PEER_PACKAGES = ["socketify", "uvicorn", "uvloop", "httptools", "granian"]
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def venv_python(venv=VENV_DIR):
    return os.path.join(venv, "bin", "python")


# --------------------------------------------------------------------------
# setup: wrk, venv, packages
# --------------------------------------------------------------------------

def apt_install(*packages):
    """apt-get install; on failure apt-get update and try once more."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", *packages]
    if subprocess.run(cmd, env=env).returncode == 0:
        return True
    log("apt-get install failed; running apt-get update and retrying")
    subprocess.run(["apt-get", "update", "-q"], env=env)
    return subprocess.run(cmd, env=env).returncode == 0


def ensure_wrk():
    if shutil.which("wrk"):
        return
    log("wrk not found: installing the Debian package")
    if not apt_install("wrk") or not shutil.which("wrk"):
        sys.exit("error: could not install wrk (apt-get install wrk)")


def ensure_taskset():
    if not shutil.which("taskset"):
        log("taskset not found: installing util-linux")
        if not apt_install("util-linux") or not shutil.which("taskset"):
            sys.exit("error: taskset is required (util-linux)")
    cpus = os.sched_getaffinity(0)
    if not {int(SERVER_CPU), int(WRK_CPU)} <= cpus:
        sys.exit(f"error: need CPUs {SERVER_CPU} and {WRK_CPU}, have {sorted(cpus)}")


def pip(*args, log_path=None, timeout=1800, venv=VENV_DIR):
    cmd = [venv_python(venv), "-m", "pip", "--disable-pip-version-check", *args]
    log("$ " + " ".join(cmd))
    # cwd outside the repo, so nothing picks up the source tree by accident
    proc = subprocess.run(cmd, cwd=BENCH_DIR, capture_output=True, text=True,
                          timeout=timeout)
    if log_path:
        with open(log_path, "a") as fh:
            fh.write("$ " + " ".join(cmd) + "\n" + proc.stdout + proc.stderr + "\n")
    return proc


def ensure_venv(skip_install, log_dir, build_ours=True, extra_packages=()):
    if not os.path.exists(venv_python()):
        if skip_install:
            sys.exit(f"error: --skip-install given but {VENV_DIR} does not exist")
        log(f"creating venv {VENV_DIR}")
        subprocess.run([sys.executable, "-m", "venv", VENV_DIR], check=True)
    if skip_install:
        return {}
    pip_log = os.path.join(log_dir, "pip.log")
    notes = {}
    proc = pip("install", *PEER_PACKAGES, *extra_packages, log_path=pip_log)
    if proc.returncode != 0:
        log(f"warning: installing the peers failed (see {pip_log}):\n"
            + tail(proc.stdout + proc.stderr))
        notes["peers"] = "pip install of the peers failed"
    if not build_ours:
        return notes
    # Our project: always rebuilt from the working tree so the figures are for
    # the current source.  --no-deps keeps it from touching the peers' deps.
    proc = pip("install", "--force-reinstall", "--no-deps", "--no-cache-dir",
               REPO_ROOT, log_path=pip_log, timeout=1800)
    if proc.returncode != 0:
        reason = last_error_line(proc.stdout + proc.stderr)
        log(f"socketify_cy did not install (see {pip_log}): {reason}")
        notes["socketify_cy"] = f"pip install {REPO_ROOT} failed: {reason}"
    return notes


def tail(text, n=15):
    return "\n".join(text.strip().splitlines()[-n:])


def last_error_line(text):
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    for line in reversed(lines):
        if "error" in line.lower():
            return line[:300]
    return lines[-1][:300] if lines else "unknown error"


def check_import(module_list, venv=VENV_DIR):
    code = "".join(f"import {m.strip()}\n" for m in module_list.split(","))
    proc = subprocess.run([venv_python(venv), "-c", code], cwd=SERVERS_DIR,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def check_servers(names, notes):
    """Return {name: None if usable else reason}."""
    status = {}
    for name in names:
        if name in notes:
            status[name] = notes[name]
            continue
        modules, venv = SERVERS[name]["modules"], SERVERS[name]["venv"]
        ok, out = check_import(modules, venv)
        if not ok and name == "socketify":
            # socketify's bundled native library links against libuv.so.1
            log("socketify failed to import; installing Debian's libuv1\n" + tail(out, 5))
            apt_install("libuv1")
            ok, out = check_import(modules, venv)
        status[name] = None if ok else f"import failed: {last_error_line(out)}"
        if not ok:
            log(f"{name} unavailable: {status[name]}")
    return status


# --------------------------------------------------------------------------
# baseline: socketify_cy built from another git revision, in its own venv
# --------------------------------------------------------------------------

BASELINE_MARKER = "socketify_cy-baseline-rev"   # file in the baseline venv


def resolve_rev(rev):
    """(full sha, label) of a revision of this repository, or exit."""
    proc = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--verify", "-q",
                           f"{rev}^{{commit}}"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0 or not proc.stdout.strip():
        sys.exit(f"error: --baseline {rev!r} is not a commit of {REPO_ROOT}")
    sha = proc.stdout.strip()
    # the label names the server, the venv and the build tree: keep it a
    # plain file name, else use the short sha
    label = rev if re.fullmatch(r"[A-Za-z0-9._-]{1,40}", rev) else sha[:12]
    return sha, label


def baseline_dirs(label):
    return (os.path.join(BENCH_DIR, f".build-{label}"),
            os.path.join(BENCH_DIR, f".venv-{label}"))


def export_rev(sha, dest):
    """`git archive SHA | tar -x -C dest`: the working tree is not touched."""
    if os.path.exists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    archive = subprocess.Popen(["git", "-C", REPO_ROOT, "archive", "--format=tar", sha],
                               stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", dest], stdin=archive.stdout, timeout=300)
    archive.stdout.close()
    if archive.wait(60) != 0 or untar.returncode != 0:
        raise RuntimeError(f"git archive {sha} | tar -x -C {dest} failed")


def ensure_baseline(sha, label, skip_install, log_dir):
    """Build socketify_cy at `sha` into bench/.venv-LABEL (pip install . of an
    exported tree in bench/.build-LABEL).  Reused while the venv's marker says
    it holds that sha.  Returns None if usable, else the reason."""
    build_dir, venv = baseline_dirs(label)
    marker = os.path.join(venv, BASELINE_MARKER)
    try:
        with open(marker) as fh:
            built = fh.read().strip()
    except OSError:
        built = None
    if built == sha and check_import("socketify_cy", venv)[0]:
        log(f"baseline {label} ({sha[:12]}) already built in {os.path.relpath(venv)}")
        return None
    if skip_install:
        return (f"--skip-install given but {os.path.relpath(venv)} does not hold "
                f"socketify_cy at {sha[:12]}")
    log(f"building baseline socketify_cy@{label} ({sha[:12]}): "
        f"{os.path.relpath(build_dir)} -> {os.path.relpath(venv)}")
    try:
        export_rev(sha, build_dir)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if not os.path.exists(venv_python(venv)):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    if os.path.exists(marker):
        os.remove(marker)
    pip_log = os.path.join(log_dir, f"pip-{label}.log")
    # the same build as the README's `pip install .`, from the exported tree
    proc = pip("install", "--force-reinstall", "--no-deps", "--no-cache-dir", build_dir,
               log_path=pip_log, timeout=1800, venv=venv)
    if proc.returncode != 0:
        reason = last_error_line(proc.stdout + proc.stderr)
        log(f"baseline socketify_cy@{label} did not install (see {pip_log}): {reason}")
        return f"pip install of {sha[:12]} failed: {reason}"
    with open(marker, "w") as fh:
        fh.write(sha + "\n")
    return None


def package_versions(venv=VENV_DIR):
    try:
        proc = subprocess.run([venv_python(venv), "-m", "pip", "list", "--format=json"],
                              capture_output=True, text=True, timeout=120)
        pkgs = {p["name"].lower(): p["version"] for p in json.loads(proc.stdout)}
    except Exception:
        return {}
    wanted = PEER_PACKAGES + ["socketify-cy", "socketify_cy", "cffi", "trustme"]
    return {k: v for k, v in pkgs.items() if k in wanted or k.replace("-", "_") in wanted}


# --------------------------------------------------------------------------
# --tls: certificate and handshake client
# --------------------------------------------------------------------------

# Run by the bench venv's python: CA + leaf for 127.0.0.1, ECDSA P-256 keys.
TRUSTME_SCRIPT = """
import os, sys, trustme
out = sys.argv[1]
kind = getattr(trustme, "KeyType", None)
kw = {"key_type": kind.ECDSA} if kind else {}
ca = trustme.CA(**kw)
leaf = ca.issue_cert("127.0.0.1", **kw)
ca.cert_pem.write_to_path(os.path.join(out, "ca.pem"))
leaf.private_key_pem.write_to_path(os.path.join(out, "key.pem"))
with open(os.path.join(out, "cert.pem"), "wb") as fh:
    for blob in leaf.cert_chain_pems:
        fh.write(blob.bytes())
print(trustme.__version__ if hasattr(trustme, "__version__") else "")
"""


def make_tls_files(out_dir):
    """A certificate for 127.0.0.1 (ECDSA P-256) in out_dir: with trustme if
    the bench venv has it (a CA and a leaf it signed), else a self-signed one
    from the openssl CLI (its own CA).  Returns {"cert", "key", "ca", "tool"}."""
    files = {k: os.path.join(out_dir, f"{k}.pem") for k in ("cert", "key", "ca")}
    ok, _ = check_import("trustme")
    if ok:
        proc = subprocess.run([venv_python(), "-c", TRUSTME_SCRIPT, out_dir],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return dict(files, tool=f"trustme {proc.stdout.strip()}".strip())
        log("trustme failed, using the openssl CLI:\n" + tail(proc.stdout + proc.stderr, 5))
    if not shutil.which("openssl"):
        log("openssl CLI not found: installing it")
        if not apt_install("openssl") or not shutil.which("openssl"):
            sys.exit("error: need trustme in the bench venv or the openssl CLI for --tls")
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
           "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", files["key"],
           "-out", files["cert"], "-days", "7", "-subj", "/CN=127.0.0.1",
           "-addext", "subjectAltName=IP:127.0.0.1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        sys.exit("error: openssl req failed:\n" + tail(proc.stdout + proc.stderr))
    shutil.copyfile(files["cert"], files["ca"])      # self-signed: its own CA
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout
    return dict(files, tool="openssl req -x509 (" + " ".join(version.split()[:2]) + ")")


def cert_fingerprint(path):
    """sha256 of the first certificate in a PEM file."""
    with open(path) as fh:
        pem = fh.read()
    der = ssl.PEM_cert_to_DER_cert(pem[:pem.index("-----END CERTIFICATE-----") + 25])
    return hashlib.sha256(der).hexdigest()


def build_c_client(src, binary, libs=(), what="the load client"):
    """cc -O2 -o BINARY SRC LIBS (every run: it takes a second); gcc, and
    libssl-dev when the OpenSSL headers are missing, are installed if need be."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        log("no C compiler: installing gcc")
        if not apt_install("gcc") or not shutil.which("cc"):
            sys.exit(f"error: a C compiler (cc) is needed for {os.path.relpath(src)}")
        cc = shutil.which("cc")
    cmd = [cc, "-O2", "-o", binary, src, *libs]
    for attempt in (1, 2):
        log("$ " + " ".join(os.path.relpath(c) if c.startswith(BENCH_DIR) else c for c in cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            return
        if attempt == 1 and "openssl/" in proc.stderr:
            log("OpenSSL headers missing: installing libssl-dev")
            apt_install("libssl-dev")
            continue
        sys.exit(f"error: building {what} failed:\n" + tail(proc.stdout + proc.stderr))


def build_tls_client():
    """bench/.tls_handshake from bench/tls_handshake.c."""
    build_c_client(TLS_CLIENT_SRC, TLS_CLIENT_BIN, ("-lssl", "-lcrypto"), "the handshake client")


# --------------------------------------------------------------------------
# /proc accounting
# --------------------------------------------------------------------------

def read_stat(pid):
    """(ppid, utime+stime ticks) of a process, or None if it is gone.

    utime/stime in /proc/PID/stat cover every thread of the process,
    including threads that already exited."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rfind(")") + 2:].split()
    # fields[0] is field 3 (state); ppid is field 4, utime 14, stime 15
    return int(fields[1]), int(fields[11]) + int(fields[12])


def process_tree(root):
    """root and all its descendants (pids)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = read_stat(int(entry))
        if st:
            children.setdefault(st[0], []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def tree_cpu_seconds(root):
    total = 0
    for pid in process_tree(root):
        st = read_stat(pid)
        if st:
            total += st[1]
    return total / CLK_TCK


def cpu_stat():
    """{cpu index: (busy ticks, steal ticks, total ticks)} from /proc/stat."""
    res = {}
    with open("/proc/stat") as fh:
        for line in fh:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            name, *vals = line.split()
            v = [int(x) for x in vals] + [0] * 10
            user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
            busy = user + nice + system + irq + softirq + steal
            res[int(name[3:])] = (busy, steal, busy + idle + iowait)
    return res


def machine_load(before, after, wall_s):
    """Busy % per CPU and steal % over an interval, from two cpu_stat()s."""
    out = {"busy_pct": {}, "steal_pct": {}}
    busy_total = 0
    for cpu in after:
        b = after[cpu][0] - before.get(cpu, (0, 0, 0))[0]
        st = after[cpu][1] - before.get(cpu, (0, 0, 0))[1]
        busy_total += b
        out["busy_pct"][cpu] = round(100.0 * b / CLK_TCK / wall_s, 1)
        out["steal_pct"][cpu] = round(100.0 * st / CLK_TCK / wall_s, 1)
    out["busy_cpu_s"] = busy_total / CLK_TCK
    return out


def background_load(seconds=1.0):
    """CPU busy % of the whole machine over `seconds` (100 = one core)."""
    s0, t0 = cpu_stat(), time.monotonic()
    time.sleep(seconds)
    s1, t1 = cpu_stat(), time.monotonic()
    return 100.0 * machine_load(s0, s1, t1 - t0)["busy_cpu_s"] / (t1 - t0)


def wait_quiet(limit_s):
    deadline = time.monotonic() + limit_s
    while True:
        load = background_load()
        if load < QUIET_PCT:
            return load
        if time.monotonic() >= deadline:
            log(f"machine still busy ({load:.0f}% background load) after {limit_s}s: going on")
            return load
        log(f"waiting for a quiet machine ({load:.0f}% background load)")
        time.sleep(4)


def children_cpu_seconds():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root):
    return sum(rss_kib(pid) for pid in process_tree(root))


# --------------------------------------------------------------------------
# server lifecycle
# --------------------------------------------------------------------------

def port_is_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return not port_accepts(port)


def port_accepts(port):
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port_free(port, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_is_free(port):
            return True
        time.sleep(0.2)
    return False


class ServerError(Exception):
    pass


class Server:
    def __init__(self, name, handler, port, log_path):
        self.name, self.handler, self.port, self.log_path = name, handler, port, log_path
        self.proc = None
        self.pids_seen = set()
        self.response = None

    def start(self):
        if not wait_port_free(self.port):
            raise ServerError(f"port {self.port} is busy before start")
        spec = SERVERS[self.name]
        script = os.path.join(SERVERS_DIR, spec["script"])
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1",
                   BENCH_PORT=str(self.port), BENCH_HANDLER=self.handler)
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        env.pop("BENCH_TLS_CERT", None)
        env.pop("BENCH_TLS_KEY", None)
        if spec.get("tls"):         # --tls: the server script serves HTTPS
            env.update(BENCH_TLS_CERT=spec["tls"]["cert"], BENCH_TLS_KEY=spec["tls"]["key"])
        self.logfh = open(self.log_path, "w")
        cmd = ["taskset", "-c", SERVER_CPU, venv_python(spec["venv"]), script,
               str(self.port), self.handler]
        self.logfh.write("$ " + " ".join(cmd) + "\n")
        self.logfh.flush()
        # own session: its process group id is this pid, used only as a
        # last resort to reap the server's own children.
        self.proc = subprocess.Popen(cmd, cwd=SERVERS_DIR, env=env,
                                     stdout=self.logfh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.wait_ready()
        self.remember_pids()

    def remember_pids(self):
        if self.proc and self.proc.poll() is None:
            self.pids_seen.update(process_tree(self.proc.pid))

    def log_tail(self):
        try:
            with open(self.log_path) as fh:
                return tail(fh.read(), 20)
        except OSError:
            return ""

    def wait_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited during startup "
                                  f"(code {self.proc.returncode}); log:\n{self.log_tail()}")
            if port_accepts(self.port):
                break
            time.sleep(0.1)
        else:
            raise ServerError(f"{self.name} did not accept on {HOST}:{self.port} "
                              f"within {STARTUP_TIMEOUT_S}s; log:\n{self.log_tail()}")
        # The port accepts: the response must be 200 with exactly our body
        # (with --tls: over TLS 1.3, the certificate checked against our CA).
        tls = SERVERS[self.name].get("tls")
        last_err = tls_info = None
        for _ in range(20):
            try:
                if tls:
                    conn = http.client.HTTPSConnection(HOST, self.port, timeout=5,
                                                       context=tls_client_context(tls))
                else:
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", "/")
                resp = conn.getresponse()
                body = resp.read()
                raw_headers = resp.getheaders()
                if tls:
                    tls_info = {"version": conn.sock.version(), "cipher": conn.sock.cipher()[0]}
                conn.close()
            except (OSError, http.client.HTTPException) as exc:
                last_err = exc
                time.sleep(0.25)
                continue
            if resp.status != 200 or body != EXPECTED_BODY:
                raise ServerError(f"{self.name}: GET / returned {resp.status} {body[:80]!r}, "
                                  f"expected 200 {EXPECTED_BODY!r}")
            self.response = {"status": resp.status, "headers": raw_headers,
                             "body": body.decode()}
            if tls_info:
                self.response["tls"] = tls_info
            return
        raise ServerError(f"{self.name}: GET / failed: {last_err!r}; log:\n{self.log_tail()}")

    def stop(self):
        """SIGTERM the server pid, SIGKILL after STOP_GRACE_S; port must free."""
        if self.proc is None:
            return {}
        self.remember_pids()
        info = {}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log(f"{self.name} ignored SIGTERM for {STOP_GRACE_S}s: SIGKILL")
                info["killed"] = True
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    self.proc.kill()
                self.proc.wait(10)
        info["exit_code"] = self.proc.returncode
        # any child of the server still around (e.g. an orphaned worker)
        time.sleep(0.2)
        for pid in sorted(self.pids_seen - {self.proc.pid}):
            if proc_alive(pid) and pid_started_by_us(pid, self.proc.pid):
                log(f"{self.name}: leftover child pid {pid}, SIGKILL")
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.logfh.close()
        self.proc = None
        if not wait_port_free(self.port):
            raise ServerError(f"{self.name}: port {self.port} still busy after stop")
        return info


def tls_client_context(tls):
    """Client context for the readiness check: TLS 1.3 only, the server's
    certificate verified against the run's CA for the name 127.0.0.1."""
    ctx = ssl.create_default_context(cafile=tls["ca"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return ctx


def proc_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return False
    return data[data.rfind(")") + 2:].split()[0] not in ("Z", "X")


def pid_started_by_us(pid, session_id):
    try:
        return os.getsid(pid) == session_id
    except OSError:
        return False


# --------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------

def wrk_cmd(mode, duration, port, tls=False):
    cmd = ["taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{CONNECTIONS}",
           f"-d{duration}s", "--timeout", "5s"]
    url = f"{'https' if tls else 'http'}://{HOST}:{port}/"
    if mode == "pipelined":
        return cmd + ["-s", PIPELINE_LUA, url, "--", str(PIPELINE_DEPTH)]
    return cmd + [url]


UNITS = {"k": 1e3, "m": 1e6, "g": 1e9}


def parse_wrk(out):
    res = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if m:
        res["requests"] = int(m.group(1))
        scale = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
        res["wrk_elapsed_s"] = float(m.group(2)) * scale
    else:
        res["requests"] = None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = ({k: int(v) for k, v in
                             zip(("connect", "read", "write", "timeout"), m.groups())}
                            if m else {"connect": 0, "read": 0, "write": 0, "timeout": 0})
    m = re.search(r"Latency\s+([\d.]+)(us|ms|s)", out)
    if m:
        res["latency_avg_ms"] = float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)]
    m = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    if m:
        res["transfer_per_s"] = m.group(1) + m.group(2)
    return res


def run_wrk(mode, duration, port, tls=False):
    cmd = wrk_cmd(mode, duration, port, tls)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise ServerError(f"wrk exited {proc.returncode}: {tail(out, 5)}")
    return out, cmd


def handshake_cmd(mode, duration, port, tls=True):
    """bench/.tls_handshake: a new connection per request; `resume` offers the
    slot's previous session; a plain server gets plain TCP connections."""
    cmd = ["taskset", "-c", WRK_CPU, TLS_CLIENT_BIN, "--port", str(port),
           "--duration", str(duration), "--conns", str(HANDSHAKE_CONNECTIONS),
           "--timeout", str(HANDSHAKE_TIMEOUT_S)]
    if not tls:
        return cmd + ["--plain"]
    return cmd + (["--resume"] if mode == "resume" else [])


def run_handshake(mode, duration, port, tls=True):
    cmd = handshake_cmd(mode, duration, port, tls)
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=duration + HANDSHAKE_TIMEOUT_S + 60)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("{")), None)
    try:
        if proc.returncode != 0 or line is None:
            raise ValueError("no result")
        return json.loads(line), cmd
    except ValueError:
        raise ServerError(f"tls_handshake exited {proc.returncode}: "
                          f"{tail(proc.stdout + proc.stderr, 5)}") from None


def run_load(mode, duration, port, tls=False):
    """One load run; returns (the figures every sample has, raw output):
    wrk for keepalive/pipelined, tls_handshake for the handshake modes
    (requests = connections, each carrying one request)."""
    if mode not in HANDSHAKE_MODES:
        out, cmd = run_wrk(mode, duration, port, tls)
        return parse_wrk(out), {"wrk_cmd": cmd, "wrk_output": out}
    res, cmd = run_handshake(mode, duration, port, tls)
    counts = res["error_counts"]
    parsed = {
        "rps": res["conns_per_s"], "requests": res["connections"],
        "wrk_elapsed_s": res["seconds"],
        "non2xx": counts["response"],
        "socket_errors": {k: counts[k] for k in ("connect", "handshake", "io", "timeout")},
        "latency_avg_ms": res["latency_avg_ms"],
        "resumed_fraction": res["resumed_fraction"] if tls else None,
    }
    return parsed, {"client_cmd": cmd, "client": res}


# --------------------------------------------------------------------------
# one server start: idle, then each mode
# --------------------------------------------------------------------------

def bench_server(name, handler, port, round_no, modes, duration, log_dir, measure_idle):
    server = Server(name, handler, port,
                    os.path.join(log_dir, f"{name}-{handler}-r{round_no}.log"))
    tls = bool(SERVERS[name].get("tls"))
    start_rec = {"round": round_no, "server": name, "handler": handler, "port": port}
    samples = []
    try:
        t0 = time.monotonic()
        server.start()
        start_rec["startup_s"] = round(time.monotonic() - t0, 3)
        start_rec["response"] = server.response
        pid = server.proc.pid
        start_rec["pids"] = process_tree(pid)
        start_rec["rss_idle_kib"] = tree_rss_kib(pid)

        # idle CPU right after startup, before any load; it does not depend
        # on the handler, so it is measured on one variant's start only
        if measure_idle:
            c0, w0 = tree_cpu_seconds(pid), time.monotonic()
            time.sleep(IDLE_S)
            c1, w1 = tree_cpu_seconds(pid), time.monotonic()
            idle_pct = 100.0 * (c1 - c0) / (w1 - w0)
            start_rec["idle_cpu_pct"] = round(idle_pct, 3)

        for mode in modes:
            if not_offered(name, handler, mode):
                continue                             # resume on plain TCP
            run_load(mode, WARMUP_S, port, tls)      # warm-up, not recorded
            server.remember_pids()
            stat0, wrk0, wall0 = cpu_stat(), children_cpu_seconds(), time.monotonic()
            cpu0 = tree_cpu_seconds(pid)
            parsed, raw = run_load(mode, duration, port, tls)
            cpu1 = tree_cpu_seconds(pid)
            stat1, wrk1, wall1 = cpu_stat(), children_cpu_seconds(), time.monotonic()
            load = machine_load(stat0, stat1, wall1 - wall0)
            wrk_cpu_s = wrk1 - wrk0
            if server.proc.poll() is not None:
                raise ServerError(f"{name} died during {mode} load; log:\n{server.log_tail()}")
            cpu_s = cpu1 - cpu0
            sample = {
                "round": round_no, "server": name, "handler": handler, "mode": mode,
                "tls": tls,
                **parsed,
                "server_cpu_s": round(cpu_s, 3),
                "req_per_cpu_s": (parsed["requests"] / cpu_s
                                  if parsed["requests"] and cpu_s > 0 else None),
                "rss_after_kib": tree_rss_kib(pid),
                "rss_after_main_kib": rss_kib(pid),
                "idle_cpu_pct": start_rec.get("idle_cpu_pct"),
                "wall_s": round(wall1 - wall0, 3),
                "server_cpu_pct": round(100.0 * cpu_s / (wall1 - wall0), 1),
                # the load client's CPU: wrk, or tls_handshake in the handshake modes
                "wrk_cpu_s": round(wrk_cpu_s, 3),
                "machine_busy_pct": load["busy_pct"],
                "machine_steal_pct": load["steal_pct"],
                # CPU used on the machine by anything but this server and wrk
                # (other processes, plus kernel softirq work not charged to
                # either): high values mean the figures are disturbed.
                "foreign_cpu_pct": round(100.0 * max(0.0, load["busy_cpu_s"] - cpu_s - wrk_cpu_s)
                                         / (wall1 - wall0), 1),
                **raw,
            }
            errs = parsed["non2xx"] + sum(parsed["socket_errors"].values())
            resumed = parsed.get("resumed_fraction")
            log(f"  {name:20s} {handler:14s} {mode:9s} {parsed['rps'] or 0:>9,.0f} req/s  "
                f"cpu {cpu_s:6.2f}s  "
                f"{(sample['req_per_cpu_s'] or 0):>9,.0f} req/cpu-s  "
                f"rss {sample['rss_after_kib'] / 1024:6.1f} MiB  "
                f"{'wrk' if mode not in HANDSHAKE_MODES else 'cli'} "
                f"{100 * wrk_cpu_s / sample['wall_s']:3.0f}%  "
                f"other {sample['foreign_cpu_pct']:3.0f}%"
                + (f"  resumed {100 * resumed:.1f}%" if mode == "resume" and resumed is not None
                   else "")
                + (f"  ERRORS {errs}" if errs else ""))
            samples.append(sample)
    except ServerError as exc:
        start_rec["error"] = str(exc)
        log(f"  {name} {handler}: ABORTED: {exc}")
    finally:
        try:
            start_rec["stop"] = server.stop()
        except ServerError as exc:
            start_rec["stop_error"] = str(exc)
            log(f"  {name}: {exc}")
    return start_rec, samples


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt_int(x):
    return "–" if x is None else f"{x:,.0f}"


def fmt_ratio(a, b):
    return "–" if a is None or not b else f"{a / b:.2f}×"


def not_offered(name, handler, mode=None):
    """Why `name` does not run `handler` (in `mode`), or None if it does."""
    if mode == "resume" and not SERVERS[name].get("tls"):
        return "n/a: plain TCP, no TLS session to resume"
    if handler in SERVERS[name]["handlers"]:
        return None
    return "n/a: no cork in ASGI/RSGI, variant not run"


def cell_stats(samples, starts, name, handler, mode):
    ss = [s for s in samples
          if s["server"] == name and s["handler"] == handler and s["mode"] == mode]
    rps = [s["rps"] for s in ss if s["rps"] is not None]
    return {
        "n": len(rps),
        "rps": median(rps),
        "rps_min": min(rps) if rps else None,
        "rps_max": max(rps) if rps else None,
        "rpc": median([s["req_per_cpu_s"] for s in ss]),
        "rss": median([s["rss_after_kib"] for s in ss]),
        # idle CPU is a property of the server, measured on one variant
        "idle": median([st.get("idle_cpu_pct") for st in starts if st["server"] == name]),
        "non2xx": sum(s["non2xx"] for s in ss),
        "sock": sum(sum(s["socket_errors"].values()) for s in ss),
        "wrk": median([100 * s["wrk_cpu_s"] / s["wall_s"] for s in ss]),
        "other": median([s["foreign_cpu_pct"] for s in ss]),
        "server_cpu": median([100 * s["server_cpu_s"] / s["wall_s"] for s in ss]),
        "resumed": median([s.get("resumed_fraction") for s in ss]),
    }


def failure(name, handler, starts, unavailable, mode=None):
    """Text for a table cell when a server/variant has no samples."""
    if unavailable.get(name):
        return f"unavailable: {unavailable[name]}"
    why = not_offered(name, handler, mode)
    if why:
        return why
    errs = [x.get("error", "") for x in starts
            if x["server"] == name and x.get("handler") == handler]
    err = next((e for e in errs if e), None)
    if not err:
        return "failed: no samples"
    lines = [l.strip() for l in err.splitlines() if l.strip()]
    first = lines[0]
    if first.endswith("; log:") and len(lines) > 1:
        # "... exited during startup (code 1); log:" + the log: show its last line
        first = first[:-len("; log:")] + ": " + lines[-1][:200]
    return "failed: " + first.replace("|", "\\|")


def table_row(cells):
    return "| " + " | ".join(cells) + " |"


def build_tables(names, modes, handlers, samples, starts, unavailable, meta, baseline=None):
    """Markdown: a headline table of req per server CPU-second (every mode x
    handler), then one detailed table per mode x handler.  Ratios are against
    socketify (REFERENCE); with a baseline, also socketify_cy / baseline."""
    tls = meta.get("tls")
    if tls:
        lines = [f"HTTPS benchmark, {meta['timestamp']}: {meta['rounds']} round(s), "
                 f"{meta['duration_s']} s per run, TLS 1.3 ({tls['cert_key']} certificate, "
                 f"{tls['tool']}); load on CPU {WRK_CPU}: wrk -t1 -c{CONNECTIONS} (keepalive, "
                 f"pipelined), tls_handshake with {HANDSHAKE_CONNECTIONS} connections in "
                 f"progress (handshake, resume); servers on CPU {SERVER_CPU}; "
                 f"`{PLAIN}` = socketify_cy over plain TCP in the same session; "
                 "medians over rounds."]
    else:
        lines = [f"Plaintext benchmark, {meta['timestamp']}: {meta['rounds']} round(s), "
                 f"{meta['duration_s']} s per run, wrk -t1 -c{CONNECTIONS} on CPU {WRK_CPU}, "
                 f"servers on CPU {SERVER_CPU}; medians over rounds."]
    if baseline:
        lines.append(f"`{baseline}` = socketify_cy built from {meta['baseline']['sha']}; "
                     f"`{OURS}` = the current tree ({meta.get('git_head')}).")
    lines.append("")
    stats = {(n, h, m): cell_stats(samples, starts, n, h, m)
             for n in names for h in handlers for m in modes}

    def rpc(n, h, m):
        st = stats.get((n, h, m))
        return st["rpc"] if st and st["n"] else None

    # headline: req per server CPU-second
    cols = [(m, h) for m in modes for h in handlers]
    lines += ["### Requests per server CPU-second (median)"
              + ("; handshake, resume: one request per new connection, so = new "
                 "connections per server CPU-second" if tls else ""), "",
              table_row(["server"] + [f"{m} {h}" for m, h in cols]),
              table_row(["---"] * (len(cols) + 1))]
    none_completed = False
    for n in names:
        cells = []
        for m, h in cols:
            v = rpc(n, h, m)
            if v is not None:
                cells.append(fmt_int(v))
            elif not_offered(n, h, m):
                cells.append("n/a")
            elif stats[(n, h, m)]["n"]:
                # it ran, but wrk completed no request (e.g. the server closed
                # every connection): say so rather than leave a gap
                cells.append("0 ✗")
                none_completed = True
            else:
                cells.append("–")
        lines.append(table_row([n] + cells))
    ratio_rows = []
    if OURS in names and REFERENCE in names:
        ratio_rows.append((OURS, REFERENCE))
    if baseline and REFERENCE in names:
        ratio_rows.append((baseline, REFERENCE))
    if baseline and OURS in names:
        ratio_rows.append((OURS, baseline))
    if tls and OURS in names and PLAIN in names:
        ratio_rows.append((OURS, PLAIN))
    for a, b in ratio_rows:
        label = (f"**{a} / {b}**" + (" (after / before)" if b == baseline else "")
                 + (" (TLS / plain TCP)" if b == PLAIN else ""))
        lines.append(table_row([label] + [fmt_ratio(rpc(a, h, m), rpc(b, h, m))
                                          for m, h in cols]))
    lines += ["", "n/a: uvicorn and granian have no cork (ASGI/RSGI), so only `sync` and "
              "`async_end` (one `await asyncio.sleep(0)` before the response) run there."
              + (f" `{PLAIN}` has no `resume` (no TLS); its `handshake` column is a new "
                 "plain TCP connection per request." if tls else "")
              + (" 0 ✗: the server ran but completed no request; the client saw only "
                 "socket errors (see the errors column below)." if none_completed else "")
              + " –: no sample (unavailable or failed, see below).", ""]
    if tls:
        lines += tls_targets(handlers, rpc, names)

    # details per mode x handler
    head = ["server", "req/s median (min–max)", "req per server CPU-second (median)",
            "RSS after load MiB", "idle CPU %", f"ratio req/s vs {REFERENCE}",
            f"ratio req/CPU-s vs {REFERENCE}"]
    if baseline:
        head += [f"ratio req/s vs {baseline}", f"ratio req/CPU-s vs {baseline}"]
    head += ["errors (non-2xx / socket)"]
    head += ["server CPU %", "client CPU %"] if tls else ["wrk CPU %"]
    head += ["other load %"]
    titles = {
        "keepalive": "keep-alive (1 request per write)",
        "pipelined": f"pipelined ({PIPELINE_DEPTH} requests per write)",
        "handshake": "a new connection per request, full TLS 1.3 handshake (no resumption; "
                     f"`{PLAIN}`: plain TCP connect)",
        "resume": "a new connection per request, resuming the session of the previous one "
                  "(TLS 1.3 ticket)",
    }
    for mode in modes:
        title = titles[mode]
        mode_head = head + (["resumed %"] if mode == "resume" else [])
        for handler in handlers:
            lines += [f"### {mode} / {handler}: {title}", "",
                      table_row(mode_head), table_row(["---"] * len(mode_head))]
            ref = stats.get((REFERENCE, handler, mode))
            base = stats.get((baseline, handler, mode)) if baseline else None
            for name in names:
                st = stats[(name, handler, mode)]
                if not st["n"]:
                    lines.append(table_row([name, failure(name, handler, starts, unavailable,
                                                          mode)]
                                           + [""] * (len(mode_head) - 2)))
                    continue
                rss = "–" if st["rss"] is None else f"{st['rss'] / 1024:.1f}"
                idle = "–" if st["idle"] is None else f"{st['idle']:.2f}"
                cells = [name,
                         f"{fmt_int(st['rps'])} ({fmt_int(st['rps_min'])}–"
                         f"{fmt_int(st['rps_max'])})",
                         fmt_int(st["rpc"]), rss, idle,
                         fmt_ratio(st["rps"], ref and ref["n"] and ref["rps"]),
                         fmt_ratio(st["rpc"], ref and ref["n"] and ref["rpc"])]
                if baseline:
                    cells += [fmt_ratio(st["rps"], base and base["n"] and base["rps"]),
                              fmt_ratio(st["rpc"], base and base["n"] and base["rpc"])]
                cells += [f"{st['non2xx']} / {st['sock']}"]
                cells += ([f"{st['server_cpu']:.0f}"] if tls else []) + [f"{st['wrk']:.0f}"]
                cells += [f"{st['other']:.0f}"]
                if mode == "resume":
                    cells.append("–" if st["resumed"] is None else f"{100 * st['resumed']:.1f}")
                lines.append(table_row(cells))
            lines.append("")
    if tls:
        lines.append("handshake, resume: each request on a new connection (tls_handshake: "
                     "connect, handshake, `Connection: close` request, read until the server "
                     "closes), so req/s = new connections per second; errors = bad responses "
                     "/ connect, handshake, I/O and timeout errors. resumed % = connections "
                     "the server resumed (the first one of each of the "
                     f"{HANDSHAKE_CONNECTIONS} slots is always full). server CPU % near 100 "
                     "means the server's core set req/s; client CPU % near 100 means the "
                     "client did (then only req per server CPU-second compares the servers).")
        lines.append("")
    lines.append("req per server CPU-second = requests completed / (utime+stime of the "
                 "server's process tree during the run); RSS is summed over the process "
                 "tree. wrk CPU % near 100 means the client, not the server, set req/s. "
                 "other load % = CPU busy on the machine beyond the server and wrk "
                 "(other processes, unattributed kernel work); if it is high, req/s is "
                 "disturbed and req per CPU-second is the figure to trust. idle CPU % is "
                 "measured once per server and round, on the start of its first variant in --handlers.")
    return "\n".join(lines) + "\n"


def tls_targets(handlers, rpc, names):
    """--tls: the TLS work's targets as ratios of req per server CPU-second."""
    if OURS not in names or (REFERENCE not in names and PLAIN not in names):
        return []
    lines = ["### Targets (requests per server CPU-second, medians)", "",
             table_row(["handler", "figure", "value", "target", "met"]),
             table_row(["---"] * 5)]

    def row(handler, label, a, b, target):
        if a is None or not b:
            lines.append(table_row([handler, label, "–", f"≥ {target:g}×" if target else "–",
                                    "–"]))
            return
        r = a / b
        met = "–" if target is None else ("yes" if r >= target else "**no**")
        lines.append(table_row([handler, label, f"{r:.2f}×",
                                f"≥ {target:g}×" if target else "–", met]))

    for h in handlers:
        if REFERENCE in names:
            row(h, f"HTTPS keep-alive: {OURS} / {REFERENCE}", rpc(OURS, h, "keepalive"),
                rpc(REFERENCE, h, "keepalive"), TARGET_VS_REFERENCE)
        if PLAIN in names:
            row(h, f"{OURS} keep-alive: HTTPS / plain TCP", rpc(OURS, h, "keepalive"),
                rpc(PLAIN, h, "keepalive"), TARGET_VS_PLAIN)
            row(h, f"{OURS} pipelined: HTTPS / plain TCP", rpc(OURS, h, "pipelined"),
                rpc(PLAIN, h, "pipelined"), None)
    lines.append("")
    if PLAIN in names:
        for h in handlers:
            for mode in ("keepalive", "pipelined"):
                a, b = rpc(OURS, h, mode), rpc(PLAIN, h, mode)
                if a is not None and b:
                    lines.append(f"* {h}, {mode}: TLS costs {OURS} {100 * (1 - a / b):.0f}% "
                                 "of its plain-TCP requests per CPU-second.")
        lines.append("")
    return lines


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    ap.add_argument("--tls", action="store_true",
                    help="the HTTPS benchmark: servers " + ",".join(TLS_NAMES) + f" ({PLAIN} "
                         "= socketify_cy over plain TCP), modes " + ",".join(TLS_MODES)
                         + ", handler sync by default; see bench/README.md")
    ap.add_argument("--only", default=None,
                    help="comma list of servers (default: " + ",".join(BASE_NAMES)
                         + "; with --tls: " + ",".join(TLS_NAMES) + ")")
    ap.add_argument("--modes", default=None,
                    help="comma list of modes (default: " + ",".join(MODES)
                         + "; with --tls: " + ",".join(TLS_MODES) + ")")
    ap.add_argument("--handlers", default=None,
                    help="comma list of handler variants (default: " + ",".join(HANDLERS)
                         + "; with --tls: " + ",".join(TLS_HANDLERS) + "); "
                         "uvicorn and granian run only sync and async_end")
    ap.add_argument("--baseline", metavar="REV",
                    help="also measure socketify_cy built from git revision REV of this "
                         "repository (own build tree bench/.build-REV and venv "
                         "bench/.venv-REV), as server socketify_cy@REV")
    ap.add_argument("--skip-install", action="store_true",
                    help="do not create the venv or pip install anything")
    ap.add_argument("--markdown-out", metavar="FILE", help="also write the tables here")
    ap.add_argument("--wait-quiet", type=int, default=0, metavar="S",
                    help="before each server start, wait up to S seconds for the "
                         f"machine's background load to drop below {QUIET_PCT}%% of "
                         "a core (default 0: do not wait)")
    args = ap.parse_args(argv)
    names_ok, modes_ok = (TLS_NAMES, TLS_MODES) if args.tls else (BASE_NAMES, MODES)
    args.only = args.only if args.only is not None else ",".join(names_ok)
    args.modes = args.modes if args.modes is not None else ",".join(modes_ok)
    if args.handlers is None:
        args.handlers = ",".join(TLS_HANDLERS if args.tls else HANDLERS)
    args.names = [n.strip() for n in args.only.split(",") if n.strip()]
    args.mode_list = [m.strip() for m in args.modes.split(",") if m.strip()]
    args.handler_list = [h.strip() for h in args.handlers.split(",") if h.strip()]
    for n in args.names:
        if n not in names_ok:
            ap.error(f"unknown server {n!r}{' with --tls' if args.tls else ''}; choose from "
                     f"{', '.join(names_ok)} (the baseline is added by --baseline)")
    for m in args.mode_list:
        if m not in modes_ok:
            ap.error(f"unknown mode {m!r}{' without --tls' if not args.tls else ''}; "
                     f"choose from {', '.join(modes_ok)}")
    for h in args.handler_list:
        if h not in HANDLERS:
            ap.error(f"unknown handler variant {h!r}; choose from {', '.join(HANDLERS)}")
    if not args.names or not args.mode_list or not args.handler_list:
        ap.error("--only, --modes and --handlers must not be empty")
    if len(set(args.handler_list)) != len(args.handler_list):
        ap.error("--handlers lists a variant twice")
    if args.rounds < 1 or args.duration < 1:
        ap.error("--rounds and --duration must be >= 1")
    if len(set(args.names)) != len(args.names):
        ap.error("--only lists a server twice")
    if len(set(args.mode_list)) != len(args.mode_list):
        ap.error("--modes lists a mode twice")
    return args


def main(argv=None):
    args = parse_args(argv)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    prefix = "tls-" if args.tls else ""
    os.makedirs(RESULTS_DIR, exist_ok=True)
    log_dir = os.path.join(RESULTS_DIR, f"{prefix}{stamp}-logs")
    os.makedirs(log_dir, exist_ok=True)

    ensure_taskset()
    ensure_wrk()
    if args.tls and set(args.mode_list) & set(HANDSHAKE_MODES):
        build_tls_client()
    background = background_load()
    log(f"background CPU load before the run: {background:.0f}% (of {os.cpu_count() * 100}%)")
    if background > 20:
        log("WARNING: the machine is busy with other work; req/s will be disturbed "
            "(req per server CPU-second much less so). See 'other load %' per run.")

    names = list(args.names)
    # every server's port is fixed by its place in this list
    port_names = list(TLS_NAMES if args.tls else BASE_NAMES)
    baseline = baseline_info = None
    if args.tls:
        # socketify_cy over plain TCP: the same server, without the TLS files
        SERVERS[PLAIN] = dict(SERVERS[OURS])
    if args.baseline:
        sha, label = resolve_rev(args.baseline)
        baseline = f"{OURS}@{label}"
        build_dir, venv = baseline_dirs(label)
        SERVERS[baseline] = dict(SERVERS[OURS], venv=venv)
        # right after socketify_cy, so the two run next to each other
        names.insert(names.index(OURS) + 1 if OURS in names else len(names), baseline)
        port_names.append(baseline)
        baseline_info = {"rev": args.baseline, "sha": sha, "label": label,
                         "build_dir": build_dir, "venv": venv}

    # --tls: trustme makes the certificate (the openssl CLI if it is missing)
    notes = ensure_venv(args.skip_install, log_dir,
                        build_ours=OURS in names or PLAIN in names,
                        extra_packages=("trustme",) if args.tls else ())
    if PLAIN in names and OURS in notes:
        notes[PLAIN] = notes[OURS]
    tls_info = tls_dir = None
    if args.tls:
        # a fresh certificate for this run (removed at the end); every TLS
        # server (and a baseline, which copies socketify_cy's spec) gets it
        tls_dir = tempfile.mkdtemp(prefix="bench-tls-")
        files = make_tls_files(tls_dir)
        tls_info = {"tool": files["tool"], "cert_sha256": cert_fingerprint(files["cert"]),
                    "cert_key": "ECDSA P-256", "dir": tls_dir,
                    "handshake_connections": HANDSHAKE_CONNECTIONS}
        for n in TLS_NAMES:
            if n != PLAIN:
                SERVERS[n] = dict(SERVERS[n], tls=files)
        if baseline:
            SERVERS[baseline] = dict(SERVERS[baseline], tls=files)
    if baseline:
        why = ensure_baseline(baseline_info["sha"], baseline_info["label"],
                              args.skip_install, log_dir)
        if why:
            notes[baseline] = why
        baseline_info["packages"] = package_versions(baseline_info["venv"])
    unavailable = {k: v for k, v in check_servers(names, notes).items() if v}
    runnable = [n for n in names if n not in unavailable]
    ports = {n: BASE_PORT + i for i, n in enumerate(port_names)}

    meta = {
        "timestamp": stamp,
        "rounds": args.rounds, "duration_s": args.duration,
        "modes": args.mode_list, "handlers": args.handler_list, "servers": names,
        "handlers_per_server": {n: [h for h in args.handler_list
                                    if h in SERVERS[n]["handlers"]] for n in names},
        "connections": CONNECTIONS, "pipeline_depth": PIPELINE_DEPTH,
        "warmup_s": WARMUP_S, "idle_window_s": IDLE_S, "wait_quiet_s": args.wait_quiet,
        "server_cpu": SERVER_CPU, "wrk_cpu": WRK_CPU,
        "unavailable": unavailable,
        "baseline": baseline_info,
        "python": sys.version, "platform": platform.platform(),
        "cpu_model": cpu_model(), "nproc": os.cpu_count(),
        "wrk_version": subprocess.run(["wrk", "-v"], capture_output=True,
                                      text=True).stdout.splitlines()[0:1],
        "packages": package_versions(),
        "git_head": git_head(),
        "background_load_pct": round(background, 1),
        "tls": tls_info,
    }
    units = sum(len(meta["handlers_per_server"][n]) for n in runnable)
    per_round = sum(len(meta["handlers_per_server"][n])
                    * (3 + sum(WARMUP_S + args.duration for m in args.mode_list
                               if not not_offered(n, "sync", m)))
                    for n in runnable) + len(runnable) * IDLE_S
    log(f"servers: {', '.join(runnable) or 'none'}"
        + (f"; unavailable: {', '.join(unavailable)}" if unavailable else ""))
    log(f"{units} server starts per round (server x handler variant); "
        f"about {per_round * args.rounds / 60:.0f} min in all")

    starts, samples = [], []
    json_path = os.path.join(RESULTS_DIR, f"{prefix}{stamp}.json")
    try:
        for r in range(args.rounds):
            # Rotate both the server order and the handler order each round,
            # so no server or variant always goes first; within a variant the
            # servers run back to back (socketify_cy next to its baseline).
            ks = r % len(runnable) if runnable else 0
            kh = r % len(args.handler_list)
            s_order = runnable[ks:] + runnable[:ks]
            h_order = args.handler_list[kh:] + args.handler_list[:kh]
            order = [(n, h) for h in h_order for n in s_order
                     if h in SERVERS[n]["handlers"]]
            log(f"round {r + 1}/{args.rounds}: "
                + " → ".join(f"{n}/{h}" for n, h in order))
            for name, handler in order:
                if args.wait_quiet:
                    wait_quiet(args.wait_quiet)
                # idle CPU once per server and round: on its first variant
                measure_idle = handler == meta["handlers_per_server"][name][0]
                st, ss = bench_server(name, handler, ports[name], r + 1, args.mode_list,
                                      args.duration, log_dir, measure_idle)
                starts.append(st)
                samples.extend(ss)
                write_json(json_path, meta, starts, samples)
    except KeyboardInterrupt:
        log("interrupted: writing what was measured so far")
        meta["interrupted"] = True
    finally:
        if tls_dir:
            shutil.rmtree(tls_dir, ignore_errors=True)

    tables = build_tables(names, args.mode_list, args.handler_list, samples, starts,
                          unavailable, meta, baseline)
    write_json(json_path, meta, starts, samples, tables)
    print()
    print(tables)
    log(f"raw samples: {os.path.relpath(json_path)}  (server logs: {os.path.relpath(log_dir)})")
    if args.markdown_out:
        with open(args.markdown_out, "w") as fh:
            fh.write(tables)
        log(f"tables written to {args.markdown_out}")
    return 0 if samples else 1


def write_json(path, meta, starts, samples, tables=None):
    doc = {"meta": meta, "starts": starts, "samples": samples}
    if tables is not None:
        doc["markdown"] = tables
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(doc, fh, indent=1)
    os.replace(tmp, path)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def git_head():
    try:
        proc = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if proc.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", REPO_ROOT, "status", "--porcelain", "-uno"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return proc.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
