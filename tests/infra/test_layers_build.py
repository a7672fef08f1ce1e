"""layers/build.py: what it strips, what it keeps, and the 250 MB check (on small fake trees)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.infra.conftest import ROOT


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layers_build", ROOT / "layers" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["layers_build"] = module
    spec.loader.exec_module(module)
    return module


build = _build_module()


def _write(path: Path, size: int = 10) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_strip_removes_tests_caches_and_runtime_packages_but_keeps_natype(tmp_path: Path) -> None:
    site = tmp_path / "python"
    _write(site / "numpy/__init__.py")
    _write(site / "numpy/_core/tests/_natype.py", 100)
    _write(site / "numpy/_core/tests/test_big.py", 5000)
    _write(site / "sklearn/tests/test_x.py", 5000)
    _write(site / "sklearn/__pycache__/x.cpython-312.pyc", 5000)
    _write(site / "botocore/data/huge.json", 50_000)
    _write(site / "boto3/__init__.py")
    _write(site / "boto3-1.0.dist-info/METADATA")
    _write(site / "redis-8.1.0.dist-info/METADATA")
    _write(site / "redis-8.1.0.dist-info/RECORD", 3000)
    _write(site / "jmespath/__init__.py")

    removed = build.strip(site)

    assert (site / "numpy/_core/tests/_natype.py").read_bytes() == b"x" * 100
    assert (site / "numpy/_core/tests/__init__.py").exists()
    assert not (site / "numpy/_core/tests/test_big.py").exists()
    assert not (site / "sklearn/tests").exists()
    assert not (site / "sklearn/__pycache__").exists()
    assert not (site / "botocore").exists() and not (site / "boto3").exists()
    assert not (site / "boto3-1.0.dist-info").exists()
    assert (site / "redis-8.1.0.dist-info/METADATA").exists()
    assert not (site / "redis-8.1.0.dist-info/RECORD").exists()
    assert (site / "jmespath/__init__.py").exists()  # Powertools imports it itself
    assert removed >= 5000 + 5000 + 5000 + 50_000 + 3000


def test_size_check_fails_over_250_mb_and_names_the_function(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    limit = build.LAMBDA_UNZIPPED_LIMIT
    assert limit == 250 * 1024 * 1024
    assert build.check_limits({"common": 20 * 1024 * 1024, "ml": 200 * 1024 * 1024})
    assert not build.check_limits({"common": 20 * 1024 * 1024, "ml": limit})
    printed = capsys.readouterr().out
    assert "function predict:" in printed and "TOO LARGE" in printed
    assert "function authorizer:" in printed


def test_pip_command_targets_lambda_platform_without_building_from_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[list[str]] = []
    monkeypatch.setattr(build.subprocess, "run", lambda command, **_: calls.append(command))
    build.pip_install(Path("layers/ml/requirements.txt"), tmp_path, "arm64")
    (command,) = calls
    assert command[command.index("--python-version") + 1] == "3.12"
    assert "--only-binary=:all:" in command
    platforms = [command[i + 1] for i, item in enumerate(command) if item == "--platform"]
    assert platforms == ["manylinux_2_28_aarch64", "manylinux2014_aarch64"]
    assert command[command.index("--implementation") + 1] == "cp"
    assert command[command.index("--target") + 1] == str(tmp_path)
