"""Revocation: how soon a revoked key is refused on `make dev`, and what the 10 s bound costs.

Part 1, the revocation table (the local stack as `make dev` runs it, with its own redis-server, the
bound as deployed): a key used 5 times a second over HTTP, revoked with ``hokusai keys revoke`` from
an environment without ``REDIS_URL`` (an operator's machine), while Redis is healthy, paused (SIGSTOP)
20 s, paused 75 s, or killed and restarted from a dump holding the key's old allow entry (kept an
hour). Columns: first 401 and last 200 after the revoke, and whether any 200 came after a 401.

Part 2, the cost, side by side in one run: today's code (this checkout) against the code before the
bound (git commit BEFORE, a temporary worktree), each as 3 warm authorizers (processes) validating one
key at 100 requests per second for 60 s, against its own redis-server and one moto DynamoDB. Counted:
keys-table reads (the chain's AuthSourceLookup) and Redis commands (redis-server's commandstats) per
key per minute per warm authorizer, validate() p50/p99, and the keys-table read cost per active key
per month at DynamoDB's on-demand price (one strongly consistent GetItem under 4 KB = 1 read request
unit; $0.125 per million read request units, us-east-1, aws.amazon.com/dynamodb/pricing/on-demand).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _common import ROOT, Quiet, markdown_table, percentile, write_results

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")

import boto3
import redis
import requests
from hokusai.keys import schema
from hokusai.keys.store import KeyStore

from local.moto_server import running_moto
from local.redis_server import running_redis

BEFORE = os.environ.get("BENCH_REVOCATION_BEFORE", "9b3a165")  # the last commit before the bound
POLL_RPS = 5
COST_RPS = 100
COST_SECONDS = int(os.environ.get("BENCH_REVOCATION_COST_SECONDS", "60"))
AUTHORIZERS = 3
AFTER_SECONDS = 30  # polled after the fault ends, to see whether a 200 comes back
READ_PRICE_PER_MILLION = 0.125
MINUTES_PER_MONTH = 60 * 24 * 30

WORKER = r"""
import json, os, time
from hokusai.auth.service import build_authorizer
from hokusai.config import AuthorizerSettings
from hokusai.keys.format import key_digest

counts = {}
def observe(name, value, unit):
    if unit == "Count":
        counts[name] = counts.get(name, 0) + 1
authorizer = build_authorizer(
    AuthorizerSettings.from_env(), observe=observe, log_warning=lambda *a, **k: None
)
digest = key_digest(os.environ["BENCH_KEY"])
rate, duration = float(os.environ["BENCH_RPS"]), float(os.environ["BENCH_SECONDS"])
latencies = []
started = time.monotonic()
n = 0
while time.monotonic() - started < duration:
    delay = started + n / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    t = time.perf_counter()
    verdict = authorizer.chain.validate(digest)
    latencies.append((time.perf_counter() - t) * 1000)
    n += 1
    assert verdict.allowed, verdict
import hokusai
result = {"counts": counts, "latencies": latencies, "l2": authorizer.l2_enabled, "package": hokusai.__file__}
print(json.dumps(result))
"""


# ------------------------------------------------------------------------------------- part 1
class Poller(threading.Thread):
    def __init__(self, url: str, api_key: str) -> None:
        super().__init__(daemon=True)
        self.url, self.api_key = url, api_key
        self.answers: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self.stop.wait(1 / POLL_RPS):
            with contextlib.suppress(requests.RequestException):
                status = session.get(
                    self.url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=10
                ).status_code
                self.answers.append((time.monotonic(), status))


def _scenario(stack: Any, name: str) -> list[str]:
    """One row: a key polled at POLL_RPS, revoked (without REDIS_URL) with Redis treated as ``name``."""
    server = stack.redis_server
    api_key, key_id = stack.create_key(f"bench-{name.split(maxsplit=1)[0]}", ["21"])
    poller = Poller(f"{stack.base_url}/v1/models/21/info", api_key)
    poller.start()
    deadline = time.monotonic() + 20
    while not (poller.answers and poller.answers[-1][1] == 200) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert poller.answers and poller.answers[-1][1] == 200, f"{name}: the key never answered 200"
    revoked_at = _revoke_around_a_fault(stack, server, key_id, name)
    time.sleep(AFTER_SECONDS)
    poller.stop.set()
    poller.join(timeout=15)
    return _row(name, [(t - revoked_at, status) for t, status in poller.answers if t >= revoked_at])


def _revoke_around_a_fault(stack: Any, server: Any, key_id: str, name: str) -> float:
    """Revoke with Redis as ``name`` says; the monotonic time of the revoke."""
    cache = redis.Redis.from_url(server.url)
    killed = name.startswith("killed")
    old: dict[Any, Any] = {}
    if killed:  # the dump a restart brings back: the key's allow entry, kept an hour
        old = {
            entry: cache.get(entry) for entry in cache.keys(f"{stack.environment['REDIS_KEY_PREFIX']}auth:*")
        }
        for entry in old:
            cache.expire(entry, 3600)
        cache.save()
    paused = {"paused 20 s": 20, "paused 75 s": 75}.get(name, 0)
    if paused or killed:
        server.pause()
    revoked_at = time.monotonic()
    output = stack.revoke_key(key_id, with_redis_url=False)
    assert "REDIS_URL not set" in output, output
    if paused:
        time.sleep(max(0.0, paused - (time.monotonic() - revoked_at)))
        server.resume()
    elif killed:
        time.sleep(10)
        server.kill()
        server.start()  # from the dump: the old allow entries come back for an hour
        restored = redis.Redis.from_url(server.url)
        for entry, value in old.items():
            if value is not None:
                restored.set(entry, value, ex=3600)
    return revoked_at


def _row(name: str, after: list[tuple[float, int]]) -> list[str]:
    refused = [t for t, status in after if status == 401]
    allowed = [t for t, status in after if status == 200]
    first_401 = refused[0] if refused else float("nan")
    back = bool(refused) and any(status == 200 for t, status in after if t > first_401)
    return [
        name,
        f"{first_401:.1f} s",
        f"{allowed[-1]:.1f} s" if allowed else "none",
        "yes" if back else "no",
        f"{after[-1][0]:.0f} s" if after else "-",
    ]


def revocation_table() -> str:
    from local.stack import LocalStack

    stack = LocalStack(name=f"hokusai-bench-{uuid.uuid4().hex[:6]}", redis_url=None)
    with Quiet():
        stack.start()
    try:
        rows = [
            _scenario(stack, name)
            for name in ("healthy", "paused 20 s", "paused 75 s", "killed, restarted from a dump")
        ]
    finally:
        with Quiet():
            stack.stop()
    return markdown_table(
        [
            "Redis around the revoke",
            "first 401 after the revoke",
            "last 200 after the revoke",
            "200 after a 401",
            "watched for",
        ],
        rows,
    )


# ------------------------------------------------------------------------------------- part 2
@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hokusai-before-"))
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT, check=True, capture_output=True
    )
    try:
        yield path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=False, capture_output=True
        )


def _workers(package: Path, env: dict[str, str]) -> list[subprocess.Popen[str]]:
    environ = {
        **os.environ,
        **env,
        "PYTHONPATH": str(package),
        "POWERTOOLS_LOG_LEVEL": "CRITICAL",
        "POWERTOOLS_METRICS_DISABLED": "1",
    }
    return [
        subprocess.Popen([sys.executable, "-c", WORKER], env=environ, stdout=subprocess.PIPE, text=True)
        for _ in range(AUTHORIZERS)
    ]


def cost_table() -> str:
    rows = []
    with (
        running_moto() as moto,
        running_redis() as before_redis,
        running_redis() as after_redis,
        worktree(BEFORE) as old,
    ):
        os.environ.update(moto.env())
        table = f"bench-keys-{uuid.uuid4().hex[:8]}"
        boto3.client("dynamodb").create_table(**schema.create_table_arguments(table))
        api_key = KeyStore(boto3.client("dynamodb"), table).create("bench", ["21"])[0]
        signing = boto3.client("secretsmanager").create_secret(
            Name=f"bench-signing-{uuid.uuid4().hex[:6]}", SecretString=uuid.uuid4().hex * 2
        )["ARN"]
        common = {
            **moto.env(),
            "KEYS_TABLE_NAME": table,
            "BENCH_KEY": api_key,
            "BENCH_RPS": str(COST_RPS),
            "BENCH_SECONDS": str(COST_SECONDS),
        }
        runs = {
            f"before ({BEFORE}): L1 60 s, L2 300 s": (
                before_redis,
                _workers(old / "layers" / "common" / "python", {**common, "REDIS_URL": before_redis.url}),
            ),
            "now: bound 10 s (L1 and L2), signed entries": (
                after_redis,
                _workers(
                    ROOT / "layers" / "common" / "python",
                    {**common, "REDIS_URL": after_redis.url, "AUTH_CACHE_KEY_SECRET_ARN": signing},
                ),
            ),
        }
        for label, (server, processes) in runs.items():
            results = [
                json.loads(process.communicate(timeout=COST_SECONDS + 120)[0]) for process in processes
            ]
            assert all(process.returncode == 0 for process in processes), label
            assert all(result["l2"] for result in results), f"{label}: ran without L2"
            package = str(old if label.startswith("before") else ROOT)
            assert all(result["package"].startswith(package) for result in results), (
                label,
                results[0]["package"],
            )
            stats = redis.Redis.from_url(server.url).info("commandstats")
            redis_calls = sum(
                int(value["calls"])
                for name, value in stats.items()
                if name.split("_", 1)[-1] in {"get", "pttl", "set"}
            )
            minutes = COST_SECONDS / 60
            reads = sum(result["counts"].get("AuthSourceLookup", 0) for result in results)
            latencies = [ms for result in results for ms in result["latencies"]]
            reads_per_minute = reads / minutes
            monthly = reads_per_minute * MINUTES_PER_MONTH * READ_PRICE_PER_MILLION / 1e6
            rows.append(
                [
                    label,
                    f"{reads_per_minute / AUTHORIZERS:.1f}",
                    f"{reads_per_minute:.1f}",
                    f"{redis_calls / minutes / AUTHORIZERS:.1f}",
                    f"{percentile(latencies, 50) * 1000:.0f}",
                    f"{percentile(latencies, 99) * 1000:.0f}",
                    f"${monthly:.4f}",
                ]
            )
    return markdown_table(
        [
            f"{AUTHORIZERS} warm authorizers x {COST_RPS} rps, one key, {COST_SECONDS} s",
            "table reads / min / authorizer",
            "table reads / min (all)",
            "Redis commands / min / authorizer",
            "validate p50 us",
            "validate p99 us",
            "table reads / active key / month",
        ],
        rows,
    )


def main() -> None:
    revocation = revocation_table()
    cost = cost_table()
    write_results(
        "revocation",
        "## Revocation on make dev (5 requests/s, revoked without REDIS_URL)\n\n"
        + revocation
        + "\n\n## What the 10 s bound costs, side by side\n\n"
        + cost,
    )


if __name__ == "__main__":
    main()
