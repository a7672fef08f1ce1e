"""End to end over HTTP through the API Gateway emulator: Redis healthy vs blackholed, side by side.

The local stack (``local/stack.py``) with its own redis-server; "blackholed" is that Redis stopped
with SIGSTOP: connections are accepted and nothing ever answers (the seed's security-group hang).
Scenarios:

* 1,000 predicts with one key (L1 on, the default 60 s): healthy vs blackholed. Target: p95 < 50 ms
  in both, blackholed p99 no more than 5 ms above healthy.
* 100 distinct keys with the in-process cache off (AUTH_L1_TTL_SECONDS=0), each used once after a
  warm-up pass, so every request reaches Redis (healthy) or goes past it to the keys table
  (blackholed). No target: it shows what a Redis outage costs an uncached authorizer.
* GET /health healthy vs blackholed (the seed's second incident): bounded by HEALTH_DEADLINE_MS.

``BENCH_REPEAT`` scales the predict count (default 1000).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
from _common import (
    LATENCY_HEADER,
    ROOT,
    Quiet,
    markdown_table,
    percentile,
    summary_row,
    time_calls,
    write_results,
)

from local.handlers import load_event
from local.stack import LocalStack

# The seed clients' request body, as recorded in tests/events (data, the same the e2e tests send).
SEED_INPUTS = json.loads(load_event("predict_seed.json")["body"])["inputs"]

REPEAT = int(os.environ.get("BENCH_REPEAT", "1000"))
DISTINCT_KEYS = 100


@contextmanager
def stack(**overrides: str) -> Iterator[LocalStack]:
    started = LocalStack(
        name=f"hokusai-bench-{secrets.token_hex(3)}",
        redis_url=None,
        overrides={"POWERTOOLS_LOG_LEVEL": "ERROR", **overrides},
    ).start()
    try:
        yield started
    finally:
        started.stop()


def predictor(session: requests.Session, base_url: str, api_key: str) -> Callable[[], object]:
    url = f"{base_url}/v1/models/21/predict"

    def call() -> None:
        response = session.post(url, json={"inputs": SEED_INPUTS}, headers={"X-API-Key": api_key}, timeout=10)
        if response.status_code != 200:
            raise RuntimeError(f"predict answered {response.status_code}: {response.text[:200]}")

    return call


def main() -> int:
    missing = [f for f in ("authorizer", "predict") if not (ROOT / "functions" / f / "handler.py").exists()]
    series: dict[str, list[float]] = {}
    rows: list[list[str]] = []
    session = requests.Session()

    with Quiet(), stack() as local:
        assert local.redis_server is not None
        health_url = f"{local.base_url}/health"
        series["health, Redis healthy"] = time_calls(
            lambda: session.get(health_url, timeout=10), 100, warmup=5
        )
        if not missing:
            api_key, _ = local.create_demo_key("bench-user")
            call = predictor(session, local.base_url, api_key)
            series["predict 1 key, Redis healthy"] = time_calls(call, REPEAT, warmup=20)
        local.redis_server.pause()
        try:
            series["health, Redis blackholed"] = time_calls(
                lambda: session.get(health_url, timeout=10), 100, warmup=5
            )
            if not missing:
                series["predict 1 key, Redis blackholed"] = time_calls(call, REPEAT, warmup=20)
        finally:
            local.redis_server.resume()

    if not missing:
        with Quiet(), stack(AUTH_L1_TTL_SECONDS="0") as local:
            assert local.redis_server is not None
            keys = [local.create_demo_key(f"bench-user-{i}")[0] for i in range(DISTINCT_KEYS)]
            calls = [predictor(session, local.base_url, key) for key in keys]
            for warm in calls:  # fills Redis (L2) with every key
                warm()
            rotation = iter(calls * 2)

            def next_key() -> None:
                next(rotation)()

            series["100 keys, L1 off, Redis healthy"] = time_calls(next_key, DISTINCT_KEYS)
            local.redis_server.pause()
            try:
                series["100 keys, L1 off, Redis blackholed"] = time_calls(next_key, DISTINCT_KEYS)
            finally:
                local.redis_server.resume()

    rows = [summary_row(name, samples) for name, samples in series.items()]
    notes = []
    if missing:
        notes.append(
            "predict scenarios not run: waiting for "
            + ", ".join(f"functions/{f}/handler.py" for f in missing)
        )
    else:
        healthy, blackholed = (
            series["predict 1 key, Redis healthy"],
            series["predict 1 key, Redis blackholed"],
        )
        p99_delta = percentile(blackholed, 99) - percentile(healthy, 99)
        notes.append(
            f"targets: p95 < 50 ms healthy ({percentile(healthy, 95):.1f}) and blackholed "
            f"({percentile(blackholed, 95):.1f}); blackholed p99 - healthy p99 = {p99_delta:+.1f} ms (<= 5)"
        )
    markdown = markdown_table(LATENCY_HEADER, rows) + "\n\n" + "\n".join(f"- {note}" for note in notes)
    write_results("e2e", markdown, series)
    return 0


if __name__ == "__main__":
    sys.exit(main())
