"""Plain functions the test suites share (fixtures live in the conftest files).

- :func:`run_program` / :func:`run_python`: a separate program run to completion, output captured;
  its exit status is for the test to assert, never raised here.
- :func:`load_module_from_file`: a script that is not a package module (``layers/build.py``...).
- :func:`running_stack`: the real local stack (``local/stack.py``: moto, its own redis-server, the
  four functions behind the API Gateway emulator) on free ports, for as long as the ``with`` lasts.
"""

from __future__ import annotations

import contextlib
import importlib.util
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import LocalStack

ROOT = Path(__file__).resolve().parents[1]


def predict_handler_on_efs(
    demo_model: tuple[bytes, Any], tmp_path_factory: Any, *, max_body_bytes: int
) -> ModuleType:
    """functions/predict/handler.py loaded as a warm container with the shipped model in a temporary
    EFS cache (MAX_BATCH_SIZE 5, no S3 cache), asserted loaded from EFS at init."""
    import json

    import pytest
    from hokusai.models.registry import efs_path

    from local.handlers import load_handler

    data, spec = demo_model
    efs = tmp_path_factory.mktemp("efs")
    for artifact, content in model_artifacts(spec, data).items():
        path = Path(efs_path(artifact, str(efs)))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MODEL_REGISTRY", json.dumps({"21": spec.to_dict()}))
        patch.setenv("MODEL_CACHE_DIR", str(efs))
        patch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf")))
        patch.setenv("MAX_BATCH_SIZE", "5")
        patch.setenv("MAX_BODY_BYTES", str(max_body_bytes))
        patch.delenv("MODEL_BUCKET", raising=False)
        module = load_handler("predict")
    assert module.dependencies.get().service.loaded_from("21") == "efs"
    return module


def model_artifacts(spec: Any, data: bytes) -> dict[Any, bytes]:
    """Every file a cache holds for ``spec``: the skops file (``data``) and, when the registry pins one,
    its ONNX twin as published beside it (model/published), each keyed by the spec the chain loads."""
    from hokusai.models.staging import published_path

    artifacts = {spec: data}
    if spec.has_twin:
        twin = spec.twin()
        artifacts[twin] = published_path(ROOT, twin).read_bytes()
    return artifacts


def run_program(
    command: Sequence[str], env: Mapping[str, str], *, cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``command`` in ``cwd`` with exactly ``env``, to completion; stdout and stderr as text."""
    return subprocess.run(
        list(command),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_python(
    *arguments: str, env: Mapping[str, str], cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """This interpreter (the venv's) as a separate program: ``run_python("-m", "hokusai.cli", ...)``."""
    return run_program([sys.executable, *arguments], env, cwd=cwd, timeout=timeout)


def load_module_from_file(name: str, path: Path) -> ModuleType:
    """Import ``path`` as module ``name`` (registered in ``sys.modules``, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def running_stack(**overrides: str) -> Iterator[LocalStack]:
    """A started :class:`local.stack.LocalStack` with unique resource names and its own redis-server
    (which the tests may kill, pause or restart); ``overrides`` win over the stack's defaults.

    While it runs, this process's environment is the functions' (they run in this process, see
    ``local/stack.py``): ``AWS_ENDPOINT_URL`` names its moto, and the canary's own variables are set.
    """
    from local.stack import LocalStack

    stack = LocalStack(
        name=f"hokusai-test-{uuid.uuid4().hex[:6]}",
        redis_url=None,
        overrides={"POWERTOOLS_LOG_LEVEL": "WARNING", **overrides},
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@contextlib.contextmanager
def clean_snapstart_registries() -> Iterator[None]:
    """``snapshot_restore_py``'s registries are module-level lists, and so are hokusai.snapstart's
    before-snapshot hooks (a handler loaded by another test registered its own): empty while the
    ``with`` lasts (handlers loaded in it register again; the after-restore resets of library modules
    stay, they are registered once at import), restored afterwards."""
    import snapshot_restore_py
    from hokusai import snapstart

    before, after = snapshot_restore_py.get_before_snapshot(), snapshot_restore_py.get_after_restore()
    saved = (list(before), list(after), dict(snapstart._before_snapshot))
    before.clear()
    after.clear()
    snapstart._before_snapshot.clear()
    snapstart.wire()
    try:
        yield
    finally:
        before[:], after[:] = saved[0], saved[1]
        snapstart._before_snapshot.clear()
        snapstart._before_snapshot.update(saved[2])


def simulate_snapshot() -> None:
    """What the Lambda runtime does before it takes the snapshot: every before-snapshot hook."""
    import snapshot_restore_py

    for function, args, kwargs in snapshot_restore_py.get_before_snapshot():
        function(*args, **kwargs)


def simulate_restore() -> None:
    """What the runtime does in a restored copy, before its first invocation."""
    import snapshot_restore_py

    for function, args, kwargs in snapshot_restore_py.get_after_restore():
        function(*args, **kwargs)
