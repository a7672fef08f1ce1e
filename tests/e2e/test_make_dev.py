"""``make dev`` as a user runs it: a program that prints a key and curl commands, refuses a second
copy while it runs, stops everything on Ctrl-C and starts again at once on the same ports, with the
``REDIS_URL`` it is given even when nothing answers there."""

from __future__ import annotations

import errno
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from local.faults import free_port

ROOT = Path(__file__).resolve().parents[2]


def start_dev(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as stderr:  # a file, not a pipe nobody reads (the functions log a lot)
        return subprocess.Popen(
            [sys.executable, "-m", "local.dev"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def read_banner(process: subprocess.Popen[str], timeout: float = 60) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Ctrl-C stops everything"):
            return "".join(lines)
    raise AssertionError("make dev printed no banner:\n" + "".join(lines))


def log_of(tmp_path: Path) -> str:
    return (tmp_path / "dev.log").read_text()


def test_make_dev_serves_refuses_a_second_copy_stops_cleanly_and_restarts_at_once(tmp_path: Path) -> None:
    api_port, aws_port, nobody_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "HOKUSAI_DEV_PORT": str(api_port),
        "HOKUSAI_DEV_AWS_PORT": str(aws_port),
        "HOKUSAI_DEV_STATE": str(tmp_path / "state"),
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    env.pop("REDIS_URL", None)  # unset: it starts its own redis-server
    process = start_dev(env, tmp_path / "dev.log")
    # A keep-alive client (a browser tab, a benchmark) still connected at Ctrl-C: make dev's side of
    # its connection closes first, so the API port is left in TIME_WAIT for the restart below.
    kept_alive = requests.Session()
    try:
        banner = read_banner(process)
        base = f"http://127.0.0.1:{api_port}/api"
        assert f"API            {base}" in banner
        assert f"http://127.0.0.1:{aws_port}" in banner
        key = re.search(r"export HOKUSAI_KEY=(hk_\S+)", banner)
        assert key is not None
        assert banner.count(key.group(1)) == 1  # printed once; the curl commands use $HOKUSAI_KEY
        assert "X-API-Key: $HOKUSAI_KEY" in banner and "Authorization: Bearer $HOKUSAI_KEY" in banner
        assert "X-Request-ID" in banner and '"decision_timeline": "Q2 2025"' in banner
        assert f".venv/bin/hokusai doctor --api-url {base} " in banner

        health = kept_alive.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["services"]["redis"] == "healthy"
        redis_url = re.search(r"Redis          (redis://\S+)\n", banner)
        assert redis_url is not None and "127.0.0.1:6379" not in redis_url.group(1)

        second = subprocess.run(
            [sys.executable, "-m", "local.dev"],
            cwd=ROOT,
            env={**env, "HOKUSAI_DEV_PORT": str(free_port()), "HOKUSAI_DEV_AWS_PORT": str(free_port())},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert f"make dev is already running (pid {process.pid}" in second.stderr

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log_of(tmp_path)
        assert "Stopped." in log_of(tmp_path)
        assert not (tmp_path / "state" / "dev.lock").exists()
        redis_port = int(redis_url.group(1).rsplit(":", 1)[1].split("/")[0])
        for port in (api_port, aws_port, redis_port):  # everything it started is gone
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        kept_alive.close()
    with socket.socket() as client:
        assert client.connect_ex(("127.0.0.1", api_port)) != 0  # nothing listens
    with socket.socket() as plain, pytest.raises(OSError) as refused:
        plain.bind(("127.0.0.1", api_port))  # yet the old probe's bind (no SO_REUSEADDR) is refused
    assert refused.value.errno == errno.EADDRINUSE

    # At once, on the same ports (the first run's connections are still in TIME_WAIT), with an explicit
    # REDIS_URL nothing answers at: the outage replay of docs/local.md.
    dead_redis = f"redis://127.0.0.1:{nobody_port}/0"
    restarted = start_dev({**env, "REDIS_URL": dead_redis}, tmp_path / "dev.log")
    try:
        banner = read_banner(restarted)
        assert (
            f"Redis          {dead_redis}  (NOT ANSWERING at start-up; used as given, see the warning)\n"
        ) in banner
        assert f"[dev] WARNING: Redis: nothing answers at {dead_redis} (REDIS_URL;" in log_of(tmp_path)
        assert "Port " not in log_of(tmp_path)  # no "Port N is taken by another program"
        health = requests.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        assert health.json()["services"]["redis"] == "unhealthy"
        key = re.search(r"export HOKUSAI_KEY=(hk_\S+)", banner)
        assert key is not None
        predicted = requests.post(
            f"{base}/v1/models/21/predict",
            headers={"X-API-Key": key.group(1)},
            json={"inputs": {"company_size": 1000}},
            timeout=10,
        )
        assert predicted.status_code == 200, predicted.text  # the key comes from DynamoDB instead
        restarted.send_signal(signal.SIGINT)
        assert restarted.wait(timeout=30) == 0, log_of(tmp_path)
    finally:
        if restarted.poll() is None:
            restarted.kill()
            restarted.wait(timeout=10)


def test_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        completed = subprocess.run(
            [sys.executable, "-m", "local.dev"],
            cwd=ROOT,
            env={
                **os.environ,
                "HOKUSAI_DEV_PORT": str(port),
                "HOKUSAI_DEV_AWS_PORT": str(free_port()),
                "HOKUSAI_DEV_STATE": str(tmp_path),
            },
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert completed.returncode == 1
    assert f"Port {port} is taken" in completed.stderr and "HOKUSAI_DEV_PORT" in completed.stderr
    assert not (tmp_path / "dev.lock").exists()


def test_a_malformed_redis_url_is_named_once_before_anything_starts(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "local.dev"],
        cwd=ROOT,
        env={
            **os.environ,
            "HOKUSAI_DEV_PORT": str(free_port()),
            "HOKUSAI_DEV_AWS_PORT": str(free_port()),
            "HOKUSAI_DEV_STATE": str(tmp_path),
            "REDIS_URL": "localhost:6379",  # no scheme: refused, not "fixed" (docs/incidents.md section 4)
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    (line,) = completed.stderr.splitlines()  # one line, no traceback, nothing started before it
    assert line.startswith("make dev: Invalid configuration: REDIS_URL must be ")
    assert line.endswith("(got 'localhost:6379')")
    assert not (tmp_path / "dev.lock").exists()
