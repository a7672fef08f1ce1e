"""Built layers carry a manifest; synth refuses one built for another architecture or Python.

Measured before this check: layers built for arm64, `cdk synth -c architecture=x86_64` succeeded and
predict failed at init with ``No module named 'pydantic_core._pydantic_core'``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.layer_manifest import (
    MANIFEST_NAME,
    PLATFORMS,
    LayerManifest,
    LayerManifestError,
    check_layer,
    read_manifest,
    tree_sha256,
    write_manifest,
)
from stacks.settings import ContextError, Settings
from tests.infra.conftest import ROOT, cdk_json_context, synthesize


def fake_layer(root: Path, name: str, architecture: str, python_version: str = "3.12") -> Path:
    """A built layer directory as `make layers` leaves it: python/ and manifest.json."""
    build = root / name
    (build / "python" / f"fake_{name}").mkdir(parents=True)
    (build / "python" / f"fake_{name}" / "__init__.py").write_text("")
    write_manifest(
        build,
        LayerManifest(
            layer=name,
            architecture=architecture,
            python_version=python_version,
            platforms=PLATFORMS[architecture],
            layout="bytecode",
            requirements=f"layers/{name}/requirements.txt",
            requirements_sha256="0" * 64,
        ),
    )
    return build


def test_manifest_round_trips_and_is_plain_json(tmp_path: Path) -> None:
    build = fake_layer(tmp_path, "ml", "arm64")
    data = json.loads((build / MANIFEST_NAME).read_text())
    assert data == {
        "architecture": "arm64",
        "format": 1,
        "layer": "ml",
        "layout": "bytecode",
        "platforms": ["manylinux_2_28_aarch64", "manylinux2014_aarch64"],
        "python_version": "3.12",
        "requirements": "layers/ml/requirements.txt",
        "requirements_sha256": "0" * 64,
    }
    assert read_manifest(build).architecture == "arm64"
    assert check_layer(build, architecture="arm64").layout == "bytecode"


def test_common_layer_records_its_hokusai_sources_and_older_manifests_still_read(tmp_path: Path) -> None:
    package = tmp_path / "hokusai"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "mod.py").write_text("A = 1\n")
    before = tree_sha256(package)
    (package / "sub" / "__pycache__" / "mod.cpython-312.pyc").write_bytes(b"cache")
    assert tree_sha256(package) == before  # caches are not sources
    (package / "sub" / "mod.py").write_text("A = 2\n")
    assert tree_sha256(package) != before
    build = fake_layer(tmp_path, "common", "arm64")
    manifest = read_manifest(build)
    assert manifest.package_sha256 is None  # written before the field existed: still readable
    write_manifest(build, LayerManifest(**{**manifest.__dict__, "package_sha256": before}))
    assert json.loads((build / MANIFEST_NAME).read_text())["package_sha256"] == before
    assert read_manifest(build).package_sha256 == before


def test_mismatching_architecture_names_the_directory_and_the_command(tmp_path: Path) -> None:
    build = fake_layer(tmp_path, "ml", "arm64")
    with pytest.raises(LayerManifestError) as raised:
        check_layer(build, architecture="x86_64", root=tmp_path)
    assert str(raised.value) == (
        "ml was built for arm64 (python 3.12) but context architecture is x86_64: "
        "run make layers (it reads cdk.json) or make layers ARCH=x86_64"
    )


def test_mismatching_python_is_refused(tmp_path: Path) -> None:
    build = fake_layer(tmp_path, "common", "arm64", python_version="3.11")
    with pytest.raises(LayerManifestError, match=r"built for arm64 \(python 3\.11\) but .*python 3\.12"):
        check_layer(build, architecture="arm64")


def test_missing_or_broken_manifest_is_refused(tmp_path: Path) -> None:
    build = fake_layer(tmp_path, "ml", "x86_64")
    (build / MANIFEST_NAME).unlink()
    with pytest.raises(LayerManifestError) as raised:
        check_layer(build, architecture="arm64", root=tmp_path)
    assert str(raised.value) == (
        "ml has no manifest.json (built before manifests existed, or not by make layers), so nothing says "
        "which architecture it is for: run make layers (it reads cdk.json) or make layers ARCH=arm64"
    )
    (build / MANIFEST_NAME).write_text("[1]")
    with pytest.raises(LayerManifestError, match="unreadable"):
        check_layer(build, architecture="x86_64")


@pytest.mark.parametrize(
    "value",
    [{"gpu": "x"}, {"ml": ""}, {"ml": 3}, ["ml"], "{not json"],
)
def test_layer_dirs_context_is_validated(value: object) -> None:
    context = {**cdk_json_context(), "hokusai:layerDirs": value}
    with pytest.raises(ContextError, match="hokusai:layerDirs"):
        Settings.from_context(context.get)


def test_layer_dirs_context_accepts_json_text() -> None:
    context = {**cdk_json_context(), "hokusai:layerDirs": '{"ml": ".verify/layers/ml"}'}
    assert Settings.from_context(context.get).layer_dirs == {"ml": ".verify/layers/ml"}
    assert Settings.from_context(cdk_json_context().get).layer_dirs == {}


def _layer_context(root: Path) -> dict[str, object]:
    return {
        "hokusai:layerAssets": "build",
        "hokusai:layerDirs": {"common": str(root / "common"), "onnx": str(root / "onnx")},
    }


def test_synth_refuses_layers_built_for_the_other_architecture(tmp_path: Path) -> None:
    fake_layer(tmp_path / "layers", "common", "arm64")
    fake_layer(tmp_path / "layers", "onnx", "arm64")
    with pytest.raises(LayerManifestError) as raised:
        synthesize(tmp_path / "cdk.out", architecture="x86_64", **_layer_context(tmp_path / "layers"))
    layers = tmp_path / "layers"
    assert str(raised.value) == (
        f"{layers / 'common'} was built for arm64 (python 3.12) but context architecture is x86_64: "
        "run make layers (it reads cdk.json) or make layers ARCH=x86_64"
    )


def test_synth_refuses_a_layer_without_manifest(tmp_path: Path) -> None:
    fake_layer(tmp_path / "layers", "common", "x86_64")
    fake_layer(tmp_path / "layers", "onnx", "x86_64")
    (tmp_path / "layers" / "onnx" / MANIFEST_NAME).unlink()
    with pytest.raises(LayerManifestError, match=r"/onnx has no manifest.json \("):
        synthesize(tmp_path / "cdk.out", architecture="x86_64", **_layer_context(tmp_path / "layers"))


@pytest.mark.slow
def test_synth_accepts_layers_built_for_the_context_architecture(tmp_path: Path) -> None:
    fake_layer(tmp_path / "layers", "common", "x86_64")
    fake_layer(tmp_path / "layers", "onnx", "x86_64")
    context = _layer_context(tmp_path / "layers")
    synthesized = synthesize(tmp_path / "cdk.out", architecture="x86_64", **context)
    layers = synthesized.resources("HokusaiService", "AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    assert all(layer["Properties"]["CompatibleArchitectures"] == ["x86_64"] for layer in layers.values())
    # The assets are the fake directories (their marker packages), not layers/*/build.
    staged = {path.name for path in synthesized.outdir.glob("asset.*/python/*")}
    assert {"fake_common", "fake_onnx"} <= staged  # predict's lean layer: the model has an ONNX twin


@pytest.mark.slow
def test_python_app_py_prints_the_refusal_as_one_line(tmp_path: Path) -> None:
    """As `cdk synth` runs the app: the refusal is the whole of stderr, not the end of a traceback."""
    fake_layer(tmp_path / "layers", "common", "arm64")
    fake_layer(tmp_path / "layers", "onnx", "arm64")
    context = {"architecture": "x86_64", **_layer_context(tmp_path / "layers")}
    environ = {**os.environ, "CDK_OUTDIR": str(tmp_path / "cdk.out"), "CDK_CONTEXT_JSON": json.dumps(context)}
    completed = subprocess.run(
        [sys.executable, "app.py"],
        check=False,  # the exit status is what is asserted
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 1
    assert completed.stderr.strip().splitlines()[-1] == (
        f"{tmp_path / 'layers' / 'common'} was built for arm64 (python 3.12) but context architecture is "
        "x86_64: run make layers (it reads cdk.json) or make layers ARCH=x86_64"
    )
    assert "Traceback" not in completed.stderr
