#!/usr/bin/env python3
"""WebSocket benchmark: socketify_cy against socketify and websockets.

Stdlib only.  Every server runs pinned to CPU 0 (taskset -c 0) and the load
client bench/ws_load.c to CPU 1 (taskset -c 1); only 127.0.0.1 is ever
targeted and every run is bounded in time.  See bench/README.md
("WebSocket benchmark") for what is measured and the caveats.

    python3 bench/ws_run.py [--rounds N] [--duration S] [--only NAMES]
                            [--scenarios echo,fanout100,...] [--skip-install]
                            [--markdown-out FILE] [--wait-quiet S]

The process handling, /proc accounting and table helpers are those of the
HTTP harness (bench/run.py), imported from it.
"""
import argparse
import datetime
import json
import os
import platform
import select
import shutil
import socket
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.dont_write_bytecode = True    # no bench/__pycache__ from importing run.py
import run  # noqa: E402  (bench/run.py: shared helpers)
from run import (  # noqa: E402
    HOST, REPO_ROOT, RESULTS_DIR, SERVERS_DIR, VENV_DIR, ServerError, apt_install, background_load,
    check_import, cpu_model, cpu_stat, fmt_int, fmt_ratio, git_head, last_error_line, log, machine_load,
    median, pip, process_tree, rss_kib, table_row, tail, tree_cpu_seconds, tree_rss_kib, venv_python,
    wait_port_free, wait_quiet, write_json)

CLIENT_SRC = os.path.join(BENCH_DIR, "ws_load.c")
CLIENT_BIN = os.path.join(BENCH_DIR, ".ws_load")
BASE_PORT = 19100           # server i listens on BASE_PORT + i
SERVER_CPU = run.SERVER_CPU
CLIENT_CPU = run.WRK_CPU
WARMUP_S = 2
SETUP_LIMIT_S = 60          # ws_load's own limit for connecting everything
STARTUP_TIMEOUT_S = 30
REFERENCE = "socketify"
OURS = "socketify_cy"

# name -> server script and the modules that must import in bench/.venv
SERVERS = {
    "socketify_cy": {"script": "ws_socketify_cy.py", "modules": "socketify_cy"},
    "socketify": {"script": "ws_socketify.py", "modules": "socketify"},
    "websockets": {"script": "ws_websockets.py", "modules": "websockets, uvloop"},
}
PEER_PACKAGES = {"socketify": "socketify", "websockets": "websockets", "uvloop": "uvloop"}

# scenario -> server MODE and ws_load arguments (size etc. are added later)
SCENARIOS = {
    "echo": {"mode": "echo", "client": ["--mode", "echo"]},
    "fanout100": {"mode": "fanout", "client": ["--mode", "fanout", "--subs", "100"]},
    "fanout1000": {"mode": "fanout", "client": ["--mode", "fanout", "--subs", "1000"]},
    "fanout100_z": {"mode": "fanout_z", "client": ["--mode", "fanout", "--subs", "100", "--deflate"]},
    "fanout1000_z": {"mode": "fanout_z", "client": ["--mode", "fanout", "--subs", "1000", "--deflate"]},
}


# --------------------------------------------------------------------------
# setup
# --------------------------------------------------------------------------

def build_client():
    """bench/.ws_load from bench/ws_load.c."""
    run.build_c_client(CLIENT_SRC, CLIENT_BIN)


def ensure_venv(skip_install, log_dir, build_ours):
    """bench/.venv with the peers (installed only if missing) and, unless
    --skip-install, our project rebuilt from the working tree."""
    if not os.path.exists(venv_python()):
        if skip_install:
            sys.exit(f"error: --skip-install given but {VENV_DIR} does not exist")
        log(f"creating venv {VENV_DIR}")
        subprocess.run([sys.executable, "-m", "venv", VENV_DIR], check=True)
    if skip_install:
        return {}
    notes = {}
    pip_log = os.path.join(log_dir, "pip.log")
    missing = [pkg for mod, pkg in PEER_PACKAGES.items() if not check_import(mod)[0]]
    if missing:
        proc = pip("install", *missing, log_path=pip_log)
        if proc.returncode != 0:
            log(f"warning: installing {' '.join(missing)} failed (see {pip_log}):\n"
                + tail(proc.stdout + proc.stderr))
    if build_ours:
        proc = pip("install", "--force-reinstall", "--no-deps", "--no-cache-dir", REPO_ROOT,
                   log_path=pip_log, timeout=1800)
        if proc.returncode != 0:
            reason = last_error_line(proc.stdout + proc.stderr)
            log(f"socketify_cy did not install (see {pip_log}): {reason}")
            notes[OURS] = f"pip install {REPO_ROOT} failed: {reason}"
    return notes


def check_servers(names, notes):
    """{name: None if usable else the reason}."""
    status = {}
    for name in names:
        if name in notes:
            status[name] = notes[name]
            continue
        ok, out = check_import(SERVERS[name]["modules"])
        if not ok and name == "socketify":
            # socketify's bundled native library links against libuv.so.1
            log("socketify failed to import; installing Debian's libuv1\n" + tail(out, 5))
            apt_install("libuv1")
            ok, out = check_import(SERVERS[name]["modules"])
        status[name] = None if ok else f"import failed: {last_error_line(out)}"
        if not ok:
            log(f"{name} unavailable: {status[name]}")
    return status


def package_versions():
    try:
        proc = subprocess.run([venv_python(), "-m", "pip", "list", "--format=json"],
                              capture_output=True, text=True, timeout=120)
        pkgs = {p["name"].lower(): p["version"] for p in json.loads(proc.stdout)}
    except Exception:
        return {}
    wanted = ("socketify", "socketify-cy", "socketify_cy", "websockets", "uvloop", "cffi")
    return {k: v for k, v in pkgs.items() if k in wanted}


# --------------------------------------------------------------------------
# server lifecycle: run.Server with a WebSocket readiness check
# --------------------------------------------------------------------------

def ws_upgrade_ok(port, path):
    """True if an upgrade on `path` gets 101 (the connection is then closed)."""
    req = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n\r\n").encode()
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(req)
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 4096:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.startswith(b"HTTP/1.1 101"), data.split(b"\r\n")[0].decode("latin-1")


class WsServer(run.Server):
    def __init__(self, name, mode, port, log_path, size):
        super().__init__(name, mode, port, log_path)
        self.mode, self.size = mode, size

    def start(self):
        if not wait_port_free(self.port):
            raise ServerError(f"port {self.port} is busy before start")
        script = os.path.join(SERVERS_DIR, SERVERS[self.name]["script"])
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1",
                   BENCH_PORT=str(self.port), BENCH_MODE=self.mode, BENCH_SIZE=str(self.size))
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        self.logfh = open(self.log_path, "w")
        cmd = ["taskset", "-c", SERVER_CPU, venv_python(), script, str(self.port), self.mode,
               str(self.size)]
        self.logfh.write("$ " + " ".join(cmd) + "\n")
        self.logfh.flush()
        # own session, as in run.py: its pgid reaps leftovers as a last resort
        self.proc = subprocess.Popen(cmd, cwd=SERVERS_DIR, env=env, stdout=self.logfh,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.wait_ready()
        self.remember_pids()

    def wait_ready(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        path = "/echo" if self.mode == "echo" else "/sub"
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited during startup "
                                  f"(code {self.proc.returncode}); log:\n{self.log_tail()}")
            try:
                ok, line = ws_upgrade_ok(self.port, path)
            except OSError as exc:
                last = repr(exc)
                time.sleep(0.1)
                continue
            if not ok:
                raise ServerError(f"{self.name}: upgrade on {path} answered {line!r}, expected 101")
            self.response = {"status_line": line, "path": path}
            return
        raise ServerError(f"{self.name}: no WebSocket upgrade on {HOST}:{self.port}{path} within "
                          f"{STARTUP_TIMEOUT_S}s ({last}); log:\n{self.log_tail()}")


# --------------------------------------------------------------------------
# one server start: one scenario
# --------------------------------------------------------------------------

def client_cmd(scenario, port, args):
    cmd = ["taskset", "-c", CLIENT_CPU, CLIENT_BIN, "--port", str(port),
           "--duration", str(args.duration), "--warmup", str(args.warmup),
           "--size", str(args.size)] + SCENARIOS[scenario]["client"]
    if scenario == "echo":
        cmd += ["--conns", str(args.conns), "--inflight", str(args.inflight)]
    else:
        cmd += ["--window", str(args.window)]
    return cmd


def run_client(cmd, args, on_start, on_end, err_path):
    """Run ws_load; call on_start/on_end at its START/END lines (the measured
    window) and return (its JSON, exit code)."""
    limit = SETUP_LIMIT_S + args.warmup + args.duration + 30
    with open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + limit
    result, buf = None, b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ServerError(f"ws_load did not finish within {limit:.0f}s")
            ready, _, _ = select.select([proc.stdout], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.strip()
                if line == b"START":
                    on_start()
                elif line == b"END":
                    on_end()
                elif line.startswith(b"{"):
                    result = json.loads(line)
        rc = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    if result is None:
        with open(err_path) as fh:
            raise ServerError(f"ws_load exited {proc.returncode} without a result: {tail(fh.read(), 5)}")
    return result, rc


def bench_one(name, scenario, port, round_no, args, log_dir):
    mode = SCENARIOS[scenario]["mode"]
    server = WsServer(name, mode, port, os.path.join(log_dir, f"{name}-{scenario}-r{round_no}.log"),
                      args.size)
    start_rec = {"round": round_no, "server": name, "scenario": scenario, "mode": mode, "port": port}
    sample = None
    try:
        t0 = time.monotonic()
        server.start()
        start_rec["startup_s"] = round(time.monotonic() - t0, 3)
        start_rec["response"] = server.response
        pid = server.proc.pid
        start_rec["pids"] = process_tree(pid)
        start_rec["rss_idle_kib"] = tree_rss_kib(pid)

        marks = {}

        def on_start():
            server.remember_pids()
            marks["stat0"], marks["wall0"] = cpu_stat(), time.monotonic()
            marks["cpu0"] = tree_cpu_seconds(pid)

        def on_end():
            marks["cpu1"] = tree_cpu_seconds(pid)
            marks["stat1"], marks["wall1"] = cpu_stat(), time.monotonic()

        cmd = client_cmd(scenario, port, args)
        err_path = os.path.join(log_dir, f"ws_load-{name}-{scenario}-r{round_no}.err")
        res, rc = run_client(cmd, args, on_start, on_end, err_path)
        if server.proc.poll() is not None:
            raise ServerError(f"{name} died during the {scenario} load; log:\n{server.log_tail()}")
        if "cpu1" not in marks:
            raise ServerError(f"ws_load printed no START/END: {res}")
        count = res.get("messages", res.get("deliveries", 0))
        secs = res["seconds"]
        wall = marks["wall1"] - marks["wall0"]
        cpu_s = marks["cpu1"] - marks["cpu0"]
        load = machine_load(marks["stat0"], marks["stat1"], wall)
        errors = (res["dead_connections"] + res["closed_by_server"] + res["protocol_errors"]
                  + res.get("stalls", 0) + (rc != 0))
        sample = {
            "round": round_no, "server": name, "scenario": scenario, "mode": mode,
            "messages": count,
            "client_seconds": secs,
            "msg_per_s": count / secs if secs > 0 else None,
            "server_cpu_s": round(cpu_s, 3),
            "msg_per_cpu_s": count / cpu_s if cpu_s > 0 else None,
            "server_cpu_pct": round(100.0 * cpu_s / wall, 1),
            "client_cpu_s": round(res["client_cpu"], 3),
            "client_cpu_pct": round(100.0 * res["client_cpu"] / secs, 1) if secs > 0 else None,
            "compressed_pct": (round(100.0 * res["compressed_frames"] / count, 1) if count else None),
            "errors": errors,
            "rss_after_kib": tree_rss_kib(pid),
            "rss_after_main_kib": rss_kib(pid),
            "wall_s": round(wall, 3),
            "machine_busy_pct": load["busy_pct"],
            "machine_steal_pct": load["steal_pct"],
            # CPU used on the machine by anything but the server and ws_load
            "foreign_cpu_pct": round(100.0 * max(0.0, load["busy_cpu_s"] - cpu_s - res["client_cpu"])
                                     / wall, 1),
            "client_exit": rc,
            "client": res,
            "client_cmd": cmd,
        }
        unit = "msg/s" if scenario == "echo" else "dlv/s"
        log(f"  {name:13s} {scenario:13s} {sample['msg_per_s'] or 0:>11,.0f} {unit}  "
            f"cpu {cpu_s:5.2f}s ({sample['server_cpu_pct']:3.0f}%)  "
            f"{sample['msg_per_cpu_s'] or 0:>11,.0f} per cpu-s  "
            f"client {sample['client_cpu_pct'] or 0:3.0f}%  "
            f"rss {sample['rss_after_kib'] / 1024:6.1f} MiB  other {sample['foreign_cpu_pct']:3.0f}%"
            + (f"  compressed {sample['compressed_pct']:.0f}%" if mode == "fanout_z" else "")
            + (f"  ERRORS {errors}" if errors else ""))
    except (ServerError, OSError, ValueError, KeyError, subprocess.TimeoutExpired) as exc:
        start_rec["error"] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ServerError) else str(exc)
        log(f"  {name} {scenario}: ABORTED: {start_rec['error']}")
    finally:
        try:
            start_rec["stop"] = server.stop()
        except ServerError as exc:
            start_rec["stop_error"] = str(exc)
            log(f"  {name}: {exc}")
    return start_rec, sample


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

def cell_stats(samples, name, scenario):
    ss = [s for s in samples if s["server"] == name and s["scenario"] == scenario
          and s["msg_per_s"] is not None]
    rates = [s["msg_per_s"] for s in ss]
    return {
        "n": len(ss),
        "rate": median(rates),
        "rate_min": min(rates) if rates else None,
        "rate_max": max(rates) if rates else None,
        "per_cpu": median([s["msg_per_cpu_s"] for s in ss]),
        "server_cpu": median([s["server_cpu_pct"] for s in ss]),
        "client_cpu": median([s["client_cpu_pct"] for s in ss]),
        "rss": median([s["rss_after_kib"] for s in ss]),
        "compressed": median([s["compressed_pct"] for s in ss]),
        "errors": sum(s["errors"] for s in ss),
        "other": median([s["foreign_cpu_pct"] for s in ss]),
    }


def failure(name, scenario, starts, unavailable):
    if unavailable.get(name):
        return f"unavailable: {unavailable[name]}"
    errs = [x.get("error", "") for x in starts if x["server"] == name and x["scenario"] == scenario]
    return "failed: " + next((e.splitlines()[0] for e in errs if e), "no samples")


def build_tables(names, scenarios, samples, starts, unavailable, meta):
    lines = [f"WebSocket benchmark, {meta['timestamp']}: {meta['rounds']} round(s), "
             f"{meta['duration_s']} s per run after {meta['warmup_s']} s warm-up, ws_load on CPU "
             f"{CLIENT_CPU}, servers on CPU {SERVER_CPU}; medians over rounds. "
             f"echo: {meta['conns']} connections x {meta['inflight']} messages of {meta['size']} B "
             f"in flight; fanoutN: N subscribers, 1 publisher, {meta['size']} B per message, "
             f"window {meta['window']}; _z: permessage-deflate.", ""]
    stats = {(n, s): cell_stats(samples, n, s) for n in names for s in scenarios}
    others = [n for n in names if n != REFERENCE]

    def headline(title, key):
        out = [f"### {title}", "", table_row(["server"] + scenarios),
               table_row(["---"] * (len(scenarios) + 1))]
        for n in names:
            out.append(table_row([n] + [fmt_int(stats[(n, s)][key]) if stats[(n, s)]["n"] else "–"
                                        for s in scenarios]))
        if REFERENCE in names:
            for n in others:
                out.append(table_row([f"**{n} / {REFERENCE}**"]
                                     + [fmt_ratio(stats[(n, s)][key], stats[(REFERENCE, s)][key])
                                        for s in scenarios]))
        return out + [""]

    lines += headline("Messages per second (echo: echoed messages; fanout: deliveries to all "
                      "subscribers), median", "rate")
    lines += headline("Messages per server CPU-second, median", "per_cpu")

    head = ["server", "msg/s median (min–max)", "per server CPU-s", f"ratio msg/s vs {REFERENCE}",
            f"ratio per CPU-s vs {REFERENCE}", "server CPU %", "client CPU %", "RSS after MiB",
            "compressed %", "errors", "other load %"]
    for scenario in scenarios:
        lines += [f"### {scenario}", "", table_row(head), table_row(["---"] * len(head))]
        ref = stats.get((REFERENCE, scenario))
        for n in names:
            st = stats[(n, scenario)]
            if not st["n"]:
                lines.append(table_row([n, failure(n, scenario, starts, unavailable)]
                                       + [""] * (len(head) - 2)))
                continue
            lines.append(table_row([
                n,
                f"{fmt_int(st['rate'])} ({fmt_int(st['rate_min'])}–{fmt_int(st['rate_max'])})",
                fmt_int(st["per_cpu"]),
                fmt_ratio(st["rate"], ref and ref["n"] and ref["rate"]),
                fmt_ratio(st["per_cpu"], ref and ref["n"] and ref["per_cpu"]),
                f"{st['server_cpu']:.0f}", f"{st['client_cpu']:.0f}",
                "–" if st["rss"] is None else f"{st['rss'] / 1024:.1f}",
                "–" if st["compressed"] is None else f"{st['compressed']:.0f}",
                str(st["errors"]), f"{st['other']:.0f}"]))
        lines.append("")
    lines.append("server CPU % near 100 means the server's core was the limit; client CPU % "
                 "near 100 means ws_load was, and msg/s then says little about the server "
                 "(per server CPU-second still does). compressed % = share of the counted "
                 "frames that had RSV1 set (permessage-deflate). errors = connections lost, "
                 "closes from the server, protocol errors, publisher stalls (fan-out: "
                 "subscriber 0 got nothing for 1 s) and non-zero ws_load exits. other load % "
                 "= CPU busy on the machine beyond the server and ws_load.")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    ap.add_argument("--warmup", type=int, default=WARMUP_S, help="seconds of load before measuring")
    ap.add_argument("--only", default=",".join(SERVERS),
                    help="comma list of servers (default: %(default)s)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help="comma list of scenarios (default: %(default)s)")
    ap.add_argument("--size", type=int, default=32, help="message size in bytes (default 32)")
    ap.add_argument("--conns", type=int, default=64, help="echo connections (default 64)")
    ap.add_argument("--inflight", type=int, default=16,
                    help="echo messages in flight per connection (default 16)")
    ap.add_argument("--window", type=int, default=32,
                    help="fan-out publishes in flight as seen by subscriber 0 (default 32)")
    ap.add_argument("--skip-install", action="store_true",
                    help="do not create the venv or pip install anything")
    ap.add_argument("--markdown-out", metavar="FILE", help="also write the tables here")
    ap.add_argument("--wait-quiet", type=int, default=0, metavar="S",
                    help="before each server start, wait up to S seconds for the machine's "
                         f"background load to drop below {run.QUIET_PCT}%% of a core")
    args = ap.parse_args(argv)
    args.names = [n.strip() for n in args.only.split(",") if n.strip()]
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for n in args.names:
        if n not in SERVERS:
            ap.error(f"unknown server {n!r}; choose from {', '.join(SERVERS)}")
    for s in args.scenario_list:
        if s not in SCENARIOS:
            ap.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)}")
    if not args.names or not args.scenario_list:
        ap.error("--only and --scenarios must not be empty")
    if len(set(args.names)) != len(args.names) or len(set(args.scenario_list)) != len(args.scenario_list):
        ap.error("--only or --scenarios lists an entry twice")
    if args.rounds < 1 or args.duration < 1 or args.warmup < 0:
        ap.error("--rounds and --duration must be >= 1, --warmup >= 0")
    if not 0 <= args.size <= 60000 or min(args.conns, args.inflight, args.window) < 1:
        ap.error("--size must be 0..60000; --conns, --inflight, --window >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    log_dir = os.path.join(RESULTS_DIR, f"ws-{stamp}-logs")
    os.makedirs(log_dir, exist_ok=True)

    run.ensure_taskset()
    build_client()
    background = background_load()
    log(f"background CPU load before the run: {background:.0f}% (of {os.cpu_count() * 100}%)")
    if background > 20:
        log("WARNING: the machine is busy with other work; msg/s will be disturbed "
            "(msg per server CPU-second much less so). See 'other load %' per run.")

    names = list(args.names)
    notes = ensure_venv(args.skip_install, log_dir, build_ours=OURS in names)
    unavailable = {k: v for k, v in check_servers(names, notes).items() if v}
    runnable = [n for n in names if n not in unavailable]
    ports = {n: BASE_PORT + i for i, n in enumerate(SERVERS)}
    scenarios = args.scenario_list

    meta = {
        "timestamp": stamp, "benchmark": "websocket",
        "rounds": args.rounds, "duration_s": args.duration, "warmup_s": args.warmup,
        "scenarios": scenarios, "servers": names,
        "size": args.size, "conns": args.conns, "inflight": args.inflight, "window": args.window,
        "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU, "wait_quiet_s": args.wait_quiet,
        "unavailable": unavailable,
        "python": sys.version, "platform": platform.platform(),
        "cpu_model": cpu_model(), "nproc": os.cpu_count(),
        "packages": package_versions(), "git_head": git_head(),
        "background_load_pct": round(background, 1),
    }
    per_round = len(runnable) * len(scenarios) * (args.warmup + args.duration + 4)
    log(f"servers: {', '.join(runnable) or 'none'}"
        + (f"; unavailable: {', '.join(unavailable)}" if unavailable else ""))
    log(f"{len(runnable) * len(scenarios)} server starts per round; "
        f"about {per_round * args.rounds / 60:.0f} min in all")

    starts, samples = [], []
    json_path = os.path.join(RESULTS_DIR, f"ws-{stamp}.json")
    try:
        for r in range(args.rounds):
            # rotate servers and scenarios each round (as run.py does), so no
            # server always goes first; within a scenario the servers alternate
            ks = r % len(runnable) if runnable else 0
            kc = r % len(scenarios)
            s_order = runnable[ks:] + runnable[:ks]
            c_order = scenarios[kc:] + scenarios[:kc]
            order = [(n, c) for c in c_order for n in s_order]
            log(f"round {r + 1}/{args.rounds}: " + " → ".join(f"{n}/{c}" for n, c in order))
            for name, scenario in order:
                if args.wait_quiet:
                    wait_quiet(args.wait_quiet)
                st, sample = bench_one(name, scenario, ports[name], r + 1, args, log_dir)
                starts.append(st)
                if sample:
                    samples.append(sample)
                write_json(json_path, meta, starts, samples)
    except KeyboardInterrupt:
        log("interrupted: writing what was measured so far")
        meta["interrupted"] = True

    tables = build_tables(names, scenarios, samples, starts, unavailable, meta)
    write_json(json_path, meta, starts, samples, tables)
    print()
    print(tables)
    log(f"raw samples: {os.path.relpath(json_path)}  (logs: {os.path.relpath(log_dir)})")
    if args.markdown_out:
        with open(args.markdown_out, "w") as fh:
            fh.write(tables)
        log(f"tables written to {args.markdown_out}")
    return 0 if samples else 1


if __name__ == "__main__":
    sys.exit(main())
