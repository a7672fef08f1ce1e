"""``make dev`` as a user runs it: a program that prints a key and curl commands, refuses a second
copy while it runs, and stops everything on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

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


def test_make_dev_serves_refuses_a_second_copy_and_stops_cleanly(tmp_path: Path) -> None:
    api_port, aws_port, nobody_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "HOKUSAI_DEV_PORT": str(api_port),
        "HOKUSAI_DEV_AWS_PORT": str(aws_port),
        "HOKUSAI_DEV_STATE": str(tmp_path / "state"),
        "REDIS_URL": f"redis://127.0.0.1:{nobody_port}/0",  # nothing answers: it starts its own
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    env.pop("AWS_ENDPOINT_URL", None)
    process = start_dev(env, tmp_path / "dev.log")
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

        health = requests.get(f"{base}/health", timeout=10)
        assert health.status_code == 200 and health.json()["services"]["redis"] == "healthy"
        redis_url = re.search(r"Redis          (redis://\S+)", banner)
        assert redis_url is not None and str(nobody_port) not in redis_url.group(1)

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
            import socket

            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_taken_port_is_named(tmp_path: Path) -> None:
    import socket

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
