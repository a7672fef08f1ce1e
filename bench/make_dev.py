"""``make dev`` before and after issue 22, side by side in one run, with the same load generator.

    python bench/make_dev.py

"Before" is the commit ``BENCH_BEFORE`` (default: main before issue 22, when every function ran in the
``make dev`` process behind ``http.server``), "after" the commit ``BENCH_AFTER`` (default ``HEAD``:
uvicorn, a process per function instance), each checked out into a temporary git worktree and removed
after, so edits not yet committed in this checkout (other work in progress) do not change the
numbers. Each is started as a user starts it (``python -m local.dev`` on free ports with its own
state directory), then:

* predict (the seed's body, one key) from 1, 8, 10, 50 and 100 parallel keep-alive clients
  (``bench/_load.py``), ``BENCH_SECONDS`` each (default 10) after a warm-up of the same length at that
  level: throughput, p50 and p99 of the 200 answers, any other answers counted apart;
* the busy share of each of the 2 cores during each level (/proc/stat);
* the whole stack's resident memory (the ``make dev`` process and every process it started), idle
  after start-up and at the end of the 100-client level;
* start-up to the banner, each function instance's cold start (after: the INIT/REPORT lines), and
  the time from SIGTERM to exit.

Targets (issue 22): after, throughput at 8 clients >= 1.5x at 1 client; after's p99 at 100 clients
<= half of before's. Writes bench/results/make_dev.md and make_dev.png.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median

from _common import RESULTS, ROOT, markdown_table, write_results
from _load import CpuSampler, LoadResult, request_bytes, run_load, tree_cpu_seconds, tree_rss_mb

from local.faults import free_port

BEFORE = os.environ.get("BENCH_BEFORE", "b9e36e06ff5b27489617f11cf3630bd53d1bd7e6")
AFTER = os.environ.get("BENCH_AFTER", "HEAD")
SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
LEVELS = (1, 8, 10, 50, 100)
LATENCY_COLUMNS = ["clients", "stack", "200s", "rps", "p50 ms", "p99 ms"]


def _seed_inputs() -> bytes:
    event = json.loads((ROOT / "tests" / "events" / "predict_seed.json").read_text())
    return json.dumps({"inputs": json.loads(event["body"])["inputs"]}).encode()


@dataclass
class Run:
    label: str
    startup_s: float = 0.0
    idle_mb: float = 0.0
    loaded_mb: float = 0.0
    stop_s: float = 0.0
    levels: dict[int, LoadResult] = field(default_factory=dict)
    cpu: dict[int, list[float]] = field(default_factory=dict)
    stack_cores: dict[int, float] = field(default_factory=dict)  # CPU of make dev's process tree / wall
    cold_starts: dict[str, list[float]] = field(default_factory=dict)
    stderr: list[str] = field(default_factory=list)


@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hokusai-bench-"))
    path.rmdir()
    subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False,
                       capture_output=True)  # fmt: skip
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def make_dev(root: Path, run: Run) -> Iterator[tuple[int, str, subprocess.Popen[str]]]:
    port = free_port()
    state = Path(tempfile.mkdtemp(prefix="bench-make-dev-"))
    env = {
        **os.environ,
        "HOKUSAI_DEV_PORT": str(port),
        "HOKUSAI_DEV_AWS_PORT": str(free_port()),
        "HOKUSAI_DEV_STATE": str(state),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        # The checkout's own hokusai package first (the venv's editable install points at this one).
        "PYTHONPATH": str(root / "layers" / "common" / "python"),
    }
    for name in ("REDIS_URL", "AWS_ENDPOINT_URL"):
        env.pop(name, None)
    started = time.perf_counter()
    # make dev's stderr (and the functions' logs) to a file, read after: a pipe would need a reader here,
    # on the cores being measured.
    log = state / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.dev"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    key = ""
    for line in process.stdout:
        found = re.search(r"export HOKUSAI_KEY=(hk_\S+)", line)
        if found:
            key = found.group(1)
        if line.startswith("Ctrl-C stops everything"):
            break
    else:
        raise RuntimeError(f"{run.label}: make dev printed no banner:\n" + log.read_text()[-3000:])
    run.startup_s = time.perf_counter() - started
    threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True).start()
    try:
        yield port, key, process
    finally:
        stopped = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        run.stop_s = time.perf_counter() - stopped
        run.stderr = [line for line in log.read_text().splitlines() if not line.startswith("{")]
        shutil.rmtree(state, ignore_errors=True)


def measure(root: Path, label: str) -> Run:
    run = Run(label)
    with make_dev(root, run) as (port, key, process):
        payload = request_bytes(
            "POST",
            "/api/v1/models/21/predict",
            {"X-API-Key": key, "Content-Type": "application/json"},
            _seed_inputs(),
        )
        # Each function clients call once: its first instance's cold start is reported like the others'.
        for path in ("/api/health", "/api/v1/openapi.json"):
            run_load(port, request_bytes("GET", path, {}), 1, 0.5, max_requests=1)
        time.sleep(1.0)
        run.idle_mb = tree_rss_mb(process.pid)
        for clients in LEVELS:
            run_load(port, payload, clients, SECONDS)  # warm-up: instances started, caches filled
            sampler = CpuSampler()
            sampler.start()
            stack_cpu = tree_cpu_seconds(process.pid)
            run.levels[clients] = run_load(port, payload, clients, SECONDS)
            run.cpu[clients] = sampler.stop()
            used = tree_cpu_seconds(process.pid) - stack_cpu
            run.stack_cores[clients] = used / run.levels[clients].seconds
            print(
                f"{label:6s} {clients:3d} clients: {run.levels[clients].throughput:7.1f} rps, "
                f"p50 {run.levels[clients].p(50):7.1f} ms, p99 {run.levels[clients].p(99):7.1f} ms, "
                f"other {dict(run.levels[clients].statuses)} errors {run.levels[clients].errors}",
                file=sys.stderr,
                flush=True,
            )
        run.loaded_mb = tree_rss_mb(process.pid)
    for line in run.stderr:
        found = re.search(r"REPORT (\w+) instance \d+ .*Init Duration: ([\d.]+) ms", line)
        if found:
            run.cold_starts.setdefault(found.group(1), []).append(float(found.group(2)))
    return run


def _commit(name: str) -> str:
    command = ["git", "rev-parse", "--short=10", name]
    found = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    return found.stdout.strip() or name


def plot(runs: list[Run]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for run, style in zip(runs, ("o--", "s-"), strict=False):
        clients = list(run.levels)
        left.plot(clients, [run.levels[c].throughput for c in clients], style, label=run.label)
        right.plot(clients, [run.levels[c].p(50) for c in clients], style, label=f"{run.label} p50")
        p99 = [run.levels[c].p(99) for c in clients]
        right.plot(clients, p99, style, alpha=0.5, label=f"{run.label} p99")
    left.set(xlabel="parallel clients", ylabel="predicts per second (200s)", title="throughput")
    right.set(xlabel="parallel clients", ylabel="latency (ms, log)", title="latency", yscale="log")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xticks(list(LEVELS), [str(level) for level in LEVELS])
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("make dev, predict over HTTP: before (one process, http.server) vs after (issue 22)")
    fig.tight_layout()
    path = RESULTS / "make_dev.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def report(runs: list[Run], after_commit: str) -> str:
    before, after = runs
    rows = []
    for clients in LEVELS:
        for run in runs:
            result = run.levels[clients]
            others = {status: n for status, n in result.statuses.items() if status != 200}
            rows.append(
                [
                    str(clients),
                    run.label,
                    str(result.ok),
                    f"{result.throughput:.1f}",
                    f"{result.p(50):.1f}",
                    f"{result.p(99):.1f}",
                    ", ".join(f"{n} x {status}" for status, n in sorted(others.items())) or "-",
                    str(result.errors),
                    f"{run.stack_cores[clients]:.2f}",
                    " / ".join(f"{share:.0f}%" for share in run.cpu[clients]),
                ]
            )
    markdown = "## Predict over HTTP (closed loop, keep-alive, the seed's body)\n\n"
    markdown += markdown_table(
        [*LATENCY_COLUMNS, "other answers", "errors", "stack CPU, cores", "machine CPU per core"],
        rows,
    )
    speedup = after.levels[8].throughput / after.levels[1].throughput if after.levels[1].throughput else 0
    p99_ratio = after.levels[100].p(99) / before.levels[100].p(99) if before.levels[100].p(99) else 0
    markdown += "\n\n## Targets\n\n" + markdown_table(
        ["target", "measured", "result"],
        [
            [
                "after: rps at 8 clients >= 1.5x rps at 1",
                f"{speedup:.2f}x",
                "PASS" if speedup >= 1.5 else "FAIL",
            ],
            [
                "after's p99 at 100 clients <= half of before's",
                f"{after.levels[100].p(99):.0f} ms vs {before.levels[100].p(99):.0f} ms ({p99_ratio:.2f}x)",
                "PASS" if p99_ratio <= 0.5 else "FAIL",
            ],
        ],
    )
    header = ["stack", "start-up to banner s", "memory idle MB", "memory after 100 clients MB"]
    markdown += "\n\n## The stack\n\n" + markdown_table(
        [*header, "SIGTERM to exit s"],
        [
            [
                run.label,
                f"{run.startup_s:.1f}",
                *(f"{mb:.0f}" for mb in (run.idle_mb, run.loaded_mb)),
                f"{run.stop_s:.2f}",
            ]
            for run in runs
        ],
    )
    cold_rows = [
        [name, str(len(samples)), *(f"{v:.0f}" for v in (min(samples), median(samples), max(samples)))]
        for name, samples in sorted(after.cold_starts.items())
    ]
    markdown += "\n\n## Cold start per function instance (after; Init Duration of the REPORT lines)\n\n"
    markdown += markdown_table(["function", "instances started", "min ms", "median ms", "max ms"], cold_rows)
    markdown += (
        "\n\nStack CPU: the CPU time of make dev and every process it started, over the level's wall time "
        "(2.00 = both cores). Machine CPU per core: busy share of each core from /proc/stat, whatever ran "
        "(the load generator, and other work on this shared machine). "
        "Before has no per-instance cold start: every function was imported once into the make dev "
        "process, inside its start-up to the banner. Memory is the resident set of make dev and every "
        "process it started (redis-server, and after: one process per function instance). "
        f"Each level: a warm-up of {SECONDS:g} s, then {SECONDS:g} s measured; latencies of the 200 "
        f"answers. Before = commit {BEFORE[:10]}, after = {after_commit}. The load generator "
        "(bench/_load.py) runs on the same 2 cores as the stack. "
        f"Load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores."
    )
    return markdown


def main() -> int:
    after = _commit(AFTER)  # the commit measured, not what HEAD is when the report is written
    runs = []
    for commit, label in ((BEFORE, "before"), (after, "after")):
        with worktree(commit) as root:
            runs.append(measure(root, label))
    markdown = report(runs, after)
    write_results("make_dev", markdown)
    plot(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
