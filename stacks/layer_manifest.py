"""What a built Lambda layer was built for: ``<build dir>/manifest.json`` beside its ``python/``.

``layers/build.py`` writes it; ``stacks/service_stack.py`` reads it at synth and refuses a layer built
for another architecture or Python. Without it a synth with ``-c architecture=x86_64`` over arm64
layers succeeds and predict only fails at init (``No module named 'pydantic_core._pydantic_core'``):
the wheels' native modules are for the other CPU. One module for both sides so the format cannot drift.
Standard library only: layers/build.py imports it with just the repo root on ``sys.path``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
FORMAT = 1
PYTHON_VERSION = "3.12"  # the Lambda runtime (lambda_.Runtime.PYTHON_3_12)
# pip --platform tags per Lambda architecture: AL2023 has glibc 2.34, so manylinux_2_28 wheels run.
PLATFORMS: dict[str, tuple[str, ...]] = {
    "arm64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "x86_64": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
}
# sources: .py only (Python compiles on every cold start: the layer is read-only).
# bytecode: precompiled .pyc shipped (see layers/build.py for which layer drops its sources).
LAYOUTS = ("sources", "bytecode")


class LayerManifestError(ValueError):
    """A built layer does not match what synth is about to deploy it for."""


@dataclass(frozen=True)
class LayerManifest:
    layer: str
    architecture: str
    python_version: str
    platforms: tuple[str, ...]
    layout: str
    requirements: str  # the requirements file, relative to the repo root
    requirements_sha256: str
    # Common layer only: the hokusai package's sources it was built from (tree_sha256), so a layer
    # older than the code in git can be told apart; None (and absent from the JSON) for the ML layer.
    package_sha256: str | None = None
    format: int = FORMAT

    def to_json(self) -> str:
        data = {key: value for key, value in asdict(self).items() if value is not None}
        data["platforms"] = list(self.platforms)
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LayerManifest:
        data: Any = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return cls(
            layer=str(data["layer"]),
            architecture=str(data["architecture"]),
            python_version=str(data["python_version"]),
            platforms=tuple(str(tag) for tag in data["platforms"]),
            layout=str(data["layout"]),
            requirements=str(data["requirements"]),
            requirements_sha256=str(data["requirements_sha256"]),
            package_sha256=str(data["package_sha256"]) if data.get("package_sha256") else None,
            format=int(data.get("format", FORMAT)),
        )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_sha256(directory: Path, pattern: str = "*.py") -> str:
    """One digest for the files matching ``pattern`` under ``directory``: each one's relative path and
    content, in sorted order (a rename changes it too; caches and file times do not)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob(pattern)):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
            digest.update(sha256_of(path).encode() + b"\n")
    return digest.hexdigest()


def write_manifest(build_dir: Path, manifest: LayerManifest) -> Path:
    path = build_dir / MANIFEST_NAME
    path.write_text(manifest.to_json())
    return path


def shown(path: Path, root: Path | None) -> str:
    """The path as a user typed it: relative to the repo root when inside it."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def read_manifest(build_dir: Path, *, root: Path | None = None, fix: str = "make layers") -> LayerManifest:
    path = build_dir / MANIFEST_NAME
    if not path.is_file():
        raise LayerManifestError(
            f"{shown(build_dir, root)} has no {MANIFEST_NAME} (built before manifests existed, or not by "
            f"make layers), so nothing says which architecture it is for: run {fix}"
        )
    try:
        return LayerManifest.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as error:
        raise LayerManifestError(f"{shown(path, root)} is unreadable ({error}): run {fix}") from None


def check_layer(
    build_dir: Path, *, architecture: str, python_version: str = PYTHON_VERSION, root: Path | None = None
) -> LayerManifest:
    """The manifest, if the layer in ``build_dir`` was built for ``architecture`` and ``python_version``;
    otherwise one message naming the directory, what it was built for and the command that fixes it."""
    # Both commands: a plain `make layers` is right when the architecture came from cdk.json, ARCH= when
    # it came from `-c architecture=...` (make layers cannot see the CDK command line).
    fix = f"make layers (it reads cdk.json) or make layers ARCH={architecture}"
    manifest = read_manifest(build_dir, root=root, fix=fix)
    if manifest.architecture != architecture or manifest.python_version != python_version:
        wanted = f"context architecture is {architecture}"
        if manifest.python_version != python_version:
            wanted += f" (python {python_version})"
        raise LayerManifestError(
            f"{shown(build_dir, root)} was built for {manifest.architecture} "
            f"(python {manifest.python_version}) but {wanted}: run {fix}"
        )
    return manifest
