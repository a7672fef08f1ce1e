"""layers/build.py: what it strips, what it keeps, and the 250 MB check (on small fake trees)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, load_module_from_file

build = load_module_from_file("layers_build", ROOT / "layers" / "build.py")


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
    assert build.check_limits({"common": 20 * 1024 * 1024, "ml": 200 * 1024 * 1024, "onnx": 60 * 1024 * 1024})
    assert not build.check_limits({"common": 20 * 1024 * 1024, "ml": limit, "onnx": 60 * 1024 * 1024})
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


def _fake_site(site: Path) -> None:
    (site / "pkg" / "sub").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_text("from pkg.sub.mod import VALUE\n")
    (site / "pkg" / "sub" / "__init__.py").write_text("")
    (site / "pkg" / "sub" / "mod.py").write_text("VALUE = 42\n")
    (site / "anyio" / "abc").mkdir(parents=True)
    (site / "anyio" / "__init__.py").write_text("SOURCE = True\n")
    (site / "anyio" / "abc" / "__init__.py").write_text("")
    (site / "py2_template.py").write_text("print 'not python 3'\n")


def _import_in_fresh_interpreter(site: Path, statement: str) -> str:
    # -B: no new bytecode (as on Lambda's read-only layers), -I -S: nothing but the fake layer.
    completed = build.subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", f"import sys; sys.path[:0] = [{str(site)!r}]; {statement}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout.strip()


def test_sourceless_bytecode_imports_without_any_py_left(tmp_path: Path) -> None:
    site = tmp_path / "python"
    _fake_site(site)
    removed = build.compile_bytecode(site, sourceless=True)
    assert removed == 3  # pkg/__init__, pkg/sub/__init__, pkg/sub/mod
    assert sorted(p.relative_to(site).as_posix() for p in site.rglob("*.py")) == [
        "anyio/__init__.py",  # read as text by anyio itself (KEEP_AS_SOURCE)
        "anyio/abc/__init__.py",
        "py2_template.py",  # did not compile: keeps its source rather than vanishing
    ]
    assert (site / "pkg/sub/mod.pyc").is_file() and not (site / "pkg/__pycache__").exists()
    assert list((site / "anyio/__pycache__").glob("__init__.cpython-312.pyc"))
    assert not (site / "anyio/__init__.pyc").exists()  # ignored beside its .py, so not shipped
    printed = _import_in_fresh_interpreter(site, "import pkg, anyio; print(pkg.VALUE, pkg.__file__)")
    assert printed == f"42 {site}/pkg/__init__.pyc"
    # Tracebacks name the path the layer has on Lambda, not this build directory.
    code = (site / "pkg/sub/mod.pyc").read_bytes()
    assert b"/opt/python/pkg/sub/mod.py" in code


def test_bytecode_with_sources_uses_unchecked_hash_pycache(tmp_path: Path) -> None:
    site = tmp_path / "python"
    _fake_site(site)
    assert build.compile_bytecode(site, sourceless=False) == 0
    cached = site / "pkg/sub/__pycache__/mod.cpython-312.pyc"
    assert (site / "pkg/sub/mod.py").is_file() and cached.is_file()
    flags = int.from_bytes(cached.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, check_source off: never re-read the read-only source
    # Unchecked: an edited source is not even looked at, the shipped bytecode wins.
    (site / "pkg/sub/mod.py").write_text("VALUE = 0\n")
    assert _import_in_fresh_interpreter(site, "import pkg; print(pkg.VALUE)") == "42"


def test_strip_then_compile_keeps_natype_importable(tmp_path: Path) -> None:
    site = tmp_path / "python"
    (site / "numpy/_core/tests").mkdir(parents=True)
    (site / "numpy/__init__.py").write_text("")
    (site / "numpy/_core/__init__.py").write_text("")
    (site / "numpy/_core/tests/_natype.py").write_text("pd_NA = 'NA'\n")
    (site / "numpy/_core/tests/test_big.py").write_text("")
    build.strip(site)
    build.compile_bytecode(site, sourceless=True)
    assert not list(site.rglob("*.py"))
    printed = _import_in_fresh_interpreter(site, "from numpy._core.tests._natype import pd_NA; print(pd_NA)")
    assert printed == "NA"


def test_build_layer_writes_the_manifest_synth_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from stacks.layer_manifest import check_layer, sha256_of

    monkeypatch.setattr(
        build, "pip_install", lambda requirements, site, architecture, exact=False: _fake_site(site)
    )
    build.build_layer("ml", "x86_64", tmp_path / "ml", "bytecode")
    manifest = check_layer(tmp_path / "ml", architecture="x86_64")
    assert (manifest.layout, manifest.python_version) == ("bytecode", "3.12")
    assert manifest.platforms == ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
    assert manifest.requirements == "layers/ml/requirements.txt"
    assert manifest.requirements_sha256 == sha256_of(ROOT / "layers/ml/requirements.txt")
    assert (tmp_path / "ml/python/pkg/sub/mod.pyc").is_file()


def test_common_layer_manifest_records_the_hokusai_sources_it_was_built_from(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from stacks.layer_manifest import read_manifest, tree_sha256

    monkeypatch.setattr(build, "pip_install", lambda requirements, site, architecture, exact=False: None)
    build.build_layer("common", "arm64", tmp_path / "common", "sources")
    manifest = read_manifest(tmp_path / "common")
    assert manifest.package_sha256 == tree_sha256(ROOT / "layers/common/python/hokusai")
    assert manifest.package_sha256 == tree_sha256(tmp_path / "common/python/hokusai")  # what was copied
    assert manifest.requirements == "requirements/runtime.txt"


def test_the_lean_layer_installs_exactly_its_requirements(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """numpy + onnxruntime, nothing onnxruntime declares for its tools (protobuf, flatbuffers), and no
    scikit-learn or scipy; both predict layers are checked against the 250 MB limit."""
    calls: list[list[str]] = []
    monkeypatch.setattr(build.subprocess, "run", lambda command, **_: calls.append(command))
    build.pip_install(build.LAYERS["onnx"][0], tmp_path, "arm64", exact="onnx" in build.EXACT_LAYERS)
    (command,) = calls
    assert "--no-deps" in command
    platforms = [command[i + 1] for i, item in enumerate(command) if item == "--platform"]
    assert platforms[0] == "manylinux_2_28_aarch64"  # onnxruntime's aarch64 wheels carry only this tag
    pins = [line.split("==")[0] for line in build.LAYERS["onnx"][0].read_text().splitlines() if "==" in line]
    assert pins == ["numpy", "onnxruntime"]
    assert build.FUNCTION_LAYERS["predict"] == ("common", "onnx")
    assert build.FUNCTION_LAYERS["predict (skops)"] == ("common", "ml")
