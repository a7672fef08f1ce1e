"""make dev's demo model is the committed published artifact, pinned by model/registry.json: no training."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hokusai.models.scorer import UntrustedModelError
from hokusai.models.staging import ArtifactMismatchError

from local.stack import DemoModel, build_demo_model, warm_model_libraries

ROOT = Path(__file__).resolve().parents[2]


def test_demo_model_is_the_published_artifact() -> None:
    demo = build_demo_model(ROOT)
    assert demo is not None
    assert demo.artifact == ROOT / "model/published/hokusai/lead-scorer/lead_scorer.skops"
    registry = (ROOT / "model/registry.json").read_text()
    assert demo.registry_entry["sha256"] in registry
    assert "model_id" not in demo.registry_entry


def _copy(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    shutil.copy(ROOT / "model/registry.json", tmp_path / "model/registry.json")
    shutil.copytree(ROOT / "model/published", tmp_path / "model/published")
    return tmp_path / "model/published/hokusai/lead-scorer/lead_scorer.skops"


def test_a_tampered_artifact_stops_the_start(tmp_path: Path) -> None:
    _copy(tmp_path).write_bytes(b"retrained on another CPU")
    with pytest.raises(ArtifactMismatchError, match=r"model 21: .* the registry pins"):
        build_demo_model(tmp_path)


def test_no_artifact_means_no_demo_model(tmp_path: Path) -> None:
    _copy(tmp_path).unlink()
    assert build_demo_model(tmp_path) is None


def test_start_up_loads_the_shipped_artifact_so_the_first_predict_pays_no_import(tmp_path: Path) -> None:
    demo = build_demo_model(ROOT)
    assert demo is not None
    warm_model_libraries(demo)  # the shipped file deserializes with the trusted types only
    garbage = tmp_path / "lead_scorer.skops"
    garbage.write_bytes(b"not a model")
    with pytest.raises(UntrustedModelError, match="not a skops file"):
        warm_model_libraries(DemoModel(demo.model_id, demo.registry_entry, garbage))
