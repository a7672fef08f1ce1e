"""`make model` compares and never repins; `make model PUBLISH=1` rewrites the published repo and pins."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from model import train
from model.train import FILENAME, REPO_FILES, main, publish, write_repo

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "model/published/hokusai/lead-scorer"


def _snapshot() -> dict[str, Any]:
    """What make model must not touch (cdk.json by its model entry only: others edit the rest)."""
    return {
        "registry": (ROOT / "model/registry.json").read_bytes(),
        "cdk_models": json.loads((ROOT / "cdk.json").read_text())["context"]["models"],
        **{path.name: path.read_bytes() for path in PUBLISHED.iterdir()},
    }


def test_make_model_compares_and_leaves_the_shipped_files_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _snapshot()
    assert main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "held-out accuracy" in out
    assert "ROC AUC" in out
    assert "| recommendations agreeing (Hot/Warm/Cold) | 2000/2000 |" in out
    assert "| verdict | agree |" in out
    assert _snapshot() == before


def test_make_model_fails_when_the_retrained_model_disagrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped_data, spec = train.published_artifact()
    other = tmp_path / "other"
    write_repo(other, rows=1000)
    # The "published" model is now another one: the retrained model must be reported as disagreeing.
    monkeypatch.setattr(train, "published_artifact", lambda: ((other / FILENAME).read_bytes(), spec))
    before = _snapshot()
    assert main(["--out", str(tmp_path / "retrained")]) == 1
    captured = capsys.readouterr()
    assert "| verdict | DISAGREE |" in captured.out
    assert "error: the retrained model disagrees with the published one (model 21" in captured.err
    assert "make model PUBLISH=1" in captured.err
    assert _snapshot() == before
    assert shipped_data == (PUBLISHED / FILENAME).read_bytes()


def test_publish_rewrites_the_repo_and_both_pins_keeping_cdk_json_formatting(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    shutil.copy(ROOT / "model/registry.json", tmp_path / "model/registry.json")
    shutil.copy(ROOT / "cdk.json", tmp_path / "cdk.json")
    built = tmp_path / "built"
    built.mkdir()
    for name in REPO_FILES:
        (built / name).write_bytes(f"new {name}".encode())
    data = (built / FILENAME).read_bytes()
    pinned = json.loads((ROOT / "model/registry.json").read_text())["21"]
    entry: dict[str, Any] = {
        **{key: value for key, value in pinned.items() if not key.startswith("twin_")},  # no twin this time
        "sha256": hashlib.sha256(data).hexdigest(),
        "revision": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
    }
    stale = tmp_path / "model/published/hokusai/lead-scorer/lead_scorer.onnx"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"the previous model's twin")
    target = publish(built, entry, root=tmp_path)
    assert target == tmp_path / "model/published/hokusai/lead-scorer"
    assert {p.name: p.read_bytes() for p in target.iterdir()} == {n: f"new {n}".encode() for n in REPO_FILES}
    assert json.loads((tmp_path / "model/registry.json").read_text()) == {"21": entry}
    cdk_text = (tmp_path / "cdk.json").read_text()
    cdk = json.loads(cdk_text)
    assert cdk["context"]["models"] == {"21": entry}
    original = json.loads((ROOT / "cdk.json").read_text())
    original["context"]["models"]["21"] = entry
    assert cdk == original  # only the model entry changed
    assert cdk_text == json.dumps(original, indent=2) + "\n"  # 2-space indent, trailing newline


def test_publish_copies_the_twin_the_entry_pins(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    shutil.copy(ROOT / "model/registry.json", tmp_path / "model/registry.json")
    shutil.copy(ROOT / "cdk.json", tmp_path / "cdk.json")
    built = tmp_path / "built"
    built.mkdir()
    for name in (*REPO_FILES, "lead_scorer.onnx"):
        (built / name).write_bytes(f"new {name}".encode())
    entry = {
        **json.loads((ROOT / "model/registry.json").read_text())["21"],
        "twin_sha256": hashlib.sha256(b"new lead_scorer.onnx").hexdigest(),
    }
    target = publish(built, entry, root=tmp_path)
    assert (target / "lead_scorer.onnx").read_bytes() == b"new lead_scorer.onnx"
    assert (
        json.loads((tmp_path / "model/registry.json").read_text())["21"]["twin_sha256"]
        == entry["twin_sha256"]
    )
