"""``make dev``'s lock file and port settings (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.dev import AlreadyRunning, _port, acquire_lock


def test_first_lock_is_taken_and_a_live_owner_is_named(tmp_path: Path) -> None:
    lock = tmp_path / "dev.lock"
    acquire_lock(lock)
    lock.write_text(f"{os.getpid()} api=8080 aws=5000\n")
    with pytest.raises(AlreadyRunning, match=rf"already running \(pid {os.getpid()}, api=8080 aws=5000\)"):
        acquire_lock(lock)


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(finished.stdout)
    lock = tmp_path / "dev.lock"
    lock.write_text(f"{dead_pid} api=8080 aws=5000\n")
    acquire_lock(lock)  # no exception: the owner is gone
    assert lock.exists()


def test_an_empty_lock_is_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "dev.lock"
    lock.write_text("")
    acquire_lock(lock)
    assert lock.exists()


@pytest.mark.parametrize("raw", ["abc", "0", "70000", "-1", ""])
def test_bad_ports_name_the_variable(raw: str) -> None:
    with pytest.raises(SystemExit, match="HOKUSAI_DEV_PORT must be a TCP port"):
        _port({"HOKUSAI_DEV_PORT": raw}, "HOKUSAI_DEV_PORT", 8080)


def test_ports_default_and_parse() -> None:
    assert _port({}, "HOKUSAI_DEV_PORT", 8080) == 8080
    assert _port({"HOKUSAI_DEV_PORT": "9000"}, "HOKUSAI_DEV_PORT", 8080) == 9000
