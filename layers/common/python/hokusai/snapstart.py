"""SnapStart: what runs before Lambda snapshots an initialised container, and after it restores a copy.

With SnapStart, Lambda runs a version's init once, when the version is published, snapshots the
memory, and starts every later cold start from a copy of that snapshot. Whatever a module holds per
container is then shared by every copy, and was made at publish time: cached keys, open sockets, a
breaker's state, ``random``'s state, timestamps on the monotonic clock. Modules that hold such state
say here how to drop it, next to the state itself::

    from hokusai import snapstart

    snapstart.on_restore("auth.l1", _forget_cached_keys)       # in hokusai/auth/chain.py
    snapstart.before_snapshot("predict", _warm)                # in functions/predict/handler.py

The runtime calls the hooks through ``snapshot_restore_py`` (shipped by the Lambda Python runtimes,
pinned in requirements/dev.txt for tests and ``make dev``, installed beside boto3 in ``make
verify``'s runtime SDK): :func:`wire` registers :func:`run_snapshot_hooks` and
:func:`run_restore_hooks` with it once, whenever a hook is registered here. Without that module
(an operator's machine running the CLIs) the hooks are kept and never called: nothing else changes.

Hooks are keyed by name: registering a name again replaces its hook (a handler module loaded again,
as tests do, does not run its hooks twice). A hook that raises is logged and the others still run:
neither the snapshot nor a restore fails because of one hook. :func:`run_restore_hooks` first
reseeds ``random`` (and numpy's global generator when numpy is loaded) from ``os.urandom``.

Standard library only, imports nothing from ``hokusai``: any module may register a hook.
docs/snapstart.md lists every hook and why it exists.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
from collections.abc import Callable
from typing import Any

try:  # the Lambda Python runtime ships it; tests and `make dev` get it from requirements/dev.txt
    import snapshot_restore_py
except ImportError:  # pragma: no cover - an operator's machine without the dev requirements
    snapshot_restore_py = None

__all__ = [
    "before_snapshot",
    "hooks",
    "on_restore",
    "reseed_random",
    "run_restore_hooks",
    "run_snapshot_hooks",
    "use_logger",
    "wire",
]

Hook = Callable[[], object]

_before_snapshot: dict[str, Hook] = {}
_after_restore: dict[str, Hook] = {}
_lock = threading.Lock()
_log: Any = logging.getLogger(__name__)


def use_logger(logger: Any) -> None:
    """Log through ``logger`` (the Powertools logger, ``hokusai.observability``) instead of stdlib's."""
    global _log  # noqa: PLW0603 - one logger for the module, set once at import of observability
    _log = logger


def before_snapshot(name: str, warm: Hook) -> None:
    """Run ``warm()`` before the snapshot is taken (build dependencies, load and exercise the model)."""
    with _lock:
        _before_snapshot[name] = warm
    wire()


def on_restore(name: str, reset: Hook) -> None:
    """Run ``reset()`` in every restored copy, before it answers its first request."""
    with _lock:
        _after_restore[name] = reset
    wire()


def hooks() -> dict[str, list[str]]:
    """The registered hook names, in the order they run (``before_snapshot``, ``after_restore``)."""
    with _lock:
        return {"before_snapshot": list(_before_snapshot), "after_restore": list(_after_restore)}


def wire() -> bool:
    """Register the two dispatchers with ``snapshot_restore_py`` unless they already are (its
    registries are module-level lists: tests empty them). False when the module is not installed."""
    if snapshot_restore_py is None:
        return False
    with _lock:
        if not any(entry[0] is run_snapshot_hooks for entry in snapshot_restore_py.get_before_snapshot()):
            snapshot_restore_py.register_before_snapshot(run_snapshot_hooks)
        if not any(entry[0] is run_restore_hooks for entry in snapshot_restore_py.get_after_restore()):
            snapshot_restore_py.register_after_restore(run_restore_hooks)
    return True


def run_snapshot_hooks() -> dict[str, str]:
    """Every before-snapshot hook, in order: name -> ``"ok"`` or ``"failed: <error>"``; never raises."""
    return _run("before snapshot", _before_snapshot)


def run_restore_hooks() -> dict[str, str]:
    """Every after-restore hook, in order: name -> ``"ok"`` or ``"failed: <error>"``; never raises."""
    return _run("after restore", _after_restore)


def reseed_random() -> None:
    """Each restored copy its own random sequence: every copy starts from the snapshot's state, so
    ``random`` (botocore's retry jitter, redis-py's backoff, X-Ray sampling) would draw the same
    numbers in all of them. ``uuid4``, ``secrets`` and ``os.urandom`` read the kernel: unaffected."""
    random.seed(os.urandom(32))
    numpy = sys.modules.get("numpy")  # never imported for this: the authorizer does not load numpy
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "big"))


def _run(phase: str, registry: dict[str, Hook]) -> dict[str, str]:
    with _lock:
        ordered = list(registry.items())
    outcomes: dict[str, str] = {}
    for name, hook in ordered:
        try:
            hook()
            outcomes[name] = "ok"
        except Exception as error:
            outcomes[name] = f"failed: {type(error).__name__}: {error}"
            _log.error(f"SnapStart {phase} hook failed", extra={"hook": name, "error": outcomes[name]})
    _log.info(f"SnapStart {phase} hooks ran", extra={"hooks": outcomes})
    return outcomes


on_restore("random", reseed_random)
