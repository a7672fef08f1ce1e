"""20 consecutive SIGTERMs, each must stop ``make dev`` within 10 s (issue 22), with nothing left behind.

    python bench/sigterm.py

Each run starts ``python -m local.dev`` as a user does (free ports, its own state directory) and sends
SIGTERM at a different moment, in turn: while it starts (before the banner), right after the banner,
and with a keep-alive client connected after a burst of requests through every function. It then
checks that the process exited 0 within the bound and that every process it started (redis-server,
each function instance) is gone. The old ``make dev`` hung about once in fifteen stops (a lock taken in
its signal handler). ``BENCH_SIGTERM_RUNS`` changes the count. Writes bench/results/sigterm.md.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from _common import ROOT, markdown_table, write_results

from local.faults import free_port

RUNS = int(os.environ.get("BENCH_SIGTERM_RUNS", "20"))
BOUND_SECONDS = 10.0
MOMENTS = ("while starting", "after the banner", "after requests, a client connected")


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def one_run(moment: str) -> dict[str, str]:
    state = Path(tempfile.mkdtemp(prefix="bench-sigterm-"))
    port = free_port()
    env = {
        **os.environ,
        "HOKUSAI_DEV_PORT": str(port),
        "HOKUSAI_DEV_AWS_PORT": str(free_port()),
        "HOKUSAI_DEV_STATE": str(state),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    env.pop("AWS_ENDPOINT_URL", None)
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "local.dev"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    session = requests.Session()
    family: set[int] = set()
    try:
        assert process.stdout is not None
        if moment == "while starting":
            time.sleep(2.0)  # moto and Redis up, the functions' first instances starting
            family = descendants(process.pid)
        else:
            key = ""
            for line in process.stdout:
                found = re.search(r"export HOKUSAI_KEY=(hk_\S+)", line)
                key = found.group(1) if found else key
                if line.startswith("Ctrl-C stops everything"):
                    break
            threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
            if moment.startswith("after requests"):
                base = f"http://127.0.0.1:{port}/api"
                for _ in range(20):
                    session.get(f"{base}/health", timeout=10)
                    session.post(f"{base}/v1/models/21/predict", json={"inputs": {"company_size": 10}},
                                 headers={"X-API-Key": key}, timeout=10)  # fmt: skip
            family = descendants(process.pid)
        up = time.monotonic() - started
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            code: int | str = process.wait(timeout=BOUND_SECONDS)
        except subprocess.TimeoutExpired:
            code = "still running"
        stop = time.monotonic() - signalled
        deadline = time.monotonic() + 2.0
        while any(alive(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = sorted(pid for pid in family if alive(pid))
        ok = code == 0 and stop <= BOUND_SECONDS and not left
        return {
            "moment": moment,
            "up": f"{up:.1f}",
            "processes": str(len(family)),
            "stop": f"{stop:.2f}",
            "exit": str(code),
            "left": ", ".join(map(str, left)) or "none",
            "result": "PASS" if ok else "FAIL",
        }
    finally:
        session.close()
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in descendants(process.pid) | family:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(state, ignore_errors=True)


def main() -> int:
    rows = []
    for number in range(1, RUNS + 1):
        outcome = one_run(MOMENTS[(number - 1) % len(MOMENTS)])
        print(f"run {number}: {outcome}", file=sys.stderr, flush=True)
        rows.append([str(number), *outcome.values()])
    stops = sorted(float(row[4]) for row in rows)
    passed = sum(row[-1] == "PASS" for row in rows)
    markdown = markdown_table(
        ["run", "SIGTERM sent", "up s", "processes started", "SIGTERM to exit s", "exit", "left", "result"],
        rows,
    )
    markdown += (
        f"\n\n{passed} of {len(rows)} stopped within {BOUND_SECONDS:g} s with exit status 0 and nothing left "
        f"running; SIGTERM to exit: median {stops[len(stops) // 2]:.2f} s, max {stops[-1]:.2f} s. "
        f"Load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores."
    )
    series: dict[str, list[float]] = {}
    for row in rows:
        series.setdefault(f"SIGTERM {row[1]}", []).append(float(row[4]) * 1000)
    write_results("sigterm", markdown, series)
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
