"""Where a model's artifact lives on the build machine, and the check that it is the pinned one.

Pure standard library: the CDK stack imports it at synth time (to stage models into S3) and so do the
CLI, the local stack and the tests. Two places, relative to the project root:

- ``model/published/<repo_id>/<filename>``: the artifact as published on the HuggingFace Hub, committed
  to the repository in its HF repo layout (with ``config.json`` and the ``README.md`` model card);
- ``model/build/fetched/<repo_id>/<revision>/<filename>``: a copy downloaded from the Hub at the pinned
  revision (gitignored).

Whichever is used, its sha256 must equal the registry's pin: :func:`verify_artifact`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hokusai.models.registry import ModelSpec

PUBLISHED_DIR = Path("model/published")
FETCHED_DIR = Path("model/build/fetched")


class ArtifactMismatchError(ValueError):
    """A local artifact's sha256 is not the one the registry pins."""

    def __init__(self, model_id: str, expected: str, actual: str, path: Path) -> None:
        self.model_id = model_id
        self.expected = expected
        self.actual = actual
        self.path = path
        super().__init__(
            f"model {model_id}: {path} has sha256 {actual}, the registry pins {expected}; "
            "restore the published file (git checkout model/published) or, if the new artifact is "
            "intended, republish it and its pins with `make model PUBLISH=1`"
        )


def published_path(root: Path, spec: ModelSpec) -> Path:
    """``root/model/published/<repo_id>/<filename>``: the committed, published artifact."""
    return Path(root) / PUBLISHED_DIR / spec.repo_id / spec.filename


def fetched_path(root: Path, spec: ModelSpec) -> Path:
    """``root/model/build/fetched/<repo_id>/<revision>/<filename>``: a copy fetched from the Hub."""
    return Path(root) / FETCHED_DIR / spec.repo_id / spec.revision / spec.filename


def local_artifact(root: Path, spec: ModelSpec) -> Path | None:
    """The published artifact if it exists, else a fetched copy if that exists, else None (unverified)."""
    for path in (published_path(root, spec), fetched_path(root, spec)):
        if path.is_file():
            return path
    return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_artifact(path: Path, spec: ModelSpec) -> None:
    """Raise :class:`ArtifactMismatchError` unless ``path``'s sha256 is the registry's pin."""
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise ArtifactMismatchError(spec.model_id, spec.sha256, actual, Path(path))
