from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hokusai.models.registry import ModelSpec
from hokusai.models.staging import (
    FETCHED_DIR,
    PUBLISHED_DIR,
    ArtifactMismatchError,
    fetched_path,
    local_artifact,
    published_path,
    verify_artifact,
)

DATA = b"the published artifact"


def spec(sha256: str = hashlib.sha256(DATA).hexdigest()) -> ModelSpec:
    return ModelSpec(
        model_id="21",
        name="Sales lead scorer",
        repo_id="hokusai/lead-scorer",
        revision="a" * 40,
        filename="lead_scorer.skops",
        sha256=sha256,
        version="1.0.0",
    )


def test_paths_follow_the_hf_repo_layout(tmp_path: Path) -> None:
    assert PUBLISHED_DIR.as_posix() == "model/published"
    assert FETCHED_DIR.as_posix() == "model/build/fetched"
    published = tmp_path / "model/published/hokusai/lead-scorer/lead_scorer.skops"
    assert published_path(tmp_path, spec()) == published
    assert fetched_path(tmp_path, spec()) == (
        tmp_path / "model/build/fetched/hokusai/lead-scorer" / ("a" * 40) / "lead_scorer.skops"
    )


def test_local_artifact_prefers_published_then_fetched(tmp_path: Path) -> None:
    assert local_artifact(tmp_path, spec()) is None
    fetched = fetched_path(tmp_path, spec())
    fetched.parent.mkdir(parents=True)
    fetched.write_bytes(DATA)
    assert local_artifact(tmp_path, spec()) == fetched
    published = published_path(tmp_path, spec())
    published.parent.mkdir(parents=True)
    published.write_bytes(DATA)
    assert local_artifact(tmp_path, spec()) == published


def test_verify_accepts_the_pinned_bytes(tmp_path: Path) -> None:
    path = tmp_path / "lead_scorer.skops"
    path.write_bytes(DATA)
    verify_artifact(path, spec())


def test_verify_names_model_expected_and_actual_sha(tmp_path: Path) -> None:
    path = tmp_path / "lead_scorer.skops"
    path.write_bytes(b"retrained elsewhere")
    actual = hashlib.sha256(b"retrained elsewhere").hexdigest()
    with pytest.raises(ArtifactMismatchError) as caught:
        verify_artifact(path, spec("b" * 64))
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.model_id, error.expected, error.actual, error.path) == ("21", "b" * 64, actual, path)
    assert str(error).startswith(f"model 21: {path} has sha256 {actual}, the registry pins {'b' * 64}; ")
    assert "make model PUBLISH=1" in str(error)
