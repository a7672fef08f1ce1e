"""``make dev``'s lock file and port settings (no network)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.dev import AlreadyRunning, StopRequested, StopSignals, _port, acquire_lock


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


def test_a_second_make_dev_names_the_taken_ports_their_variables_and_a_second_copy(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "dev.lock"
    acquire_lock(lock)
    lock.write_text(f"{os.getpid()} api=8080 aws=5000\n")
    with pytest.raises(AlreadyRunning) as refused:
        acquire_lock(lock)
    message = str(refused.value)
    assert "port 8080 (HOKUSAI_DEV_PORT) and port 5000 (HOKUSAI_DEV_AWS_PORT) are taken" in message
    assert (
        f"HOKUSAI_DEV_PORT=8081 HOKUSAI_DEV_AWS_PORT=5001 HOKUSAI_DEV_STATE={tmp_path / 'state'}-2 make dev"
        in message
    )


def test_the_stop_signals_wake_the_main_thread_without_a_lock_in_the_handler() -> None:
    """The handler does nothing once running: the signal's number arrives on the wake-up pipe."""
    signals = StopSignals().install()
    try:
        signals.running()
        os.kill(os.getpid(), signal.SIGTERM)
        signals.wait()  # returns: the number arrived on the pipe (a hang here fails by pytest-timeout)
        signals.stopping()
        os.kill(os.getpid(), signal.SIGINT)  # ignored while stopping: no KeyboardInterrupt
    finally:
        signals.restore()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_while_starting_unwinds_the_start() -> None:
    signals = StopSignals().install()
    try:
        with pytest.raises(StopRequested):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between two bytecodes of this loop
                time.sleep(0.001)
    finally:
        signals.restore()
