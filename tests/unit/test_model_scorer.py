from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hokusai.models.features import FEATURE_NAMES, row
from hokusai.models.scorer import UntrustedModelError, build_scorer, deserialize, recommendation
from hokusai.models.staging import published_path

from local.handlers import load_event
from model.train import FILENAME, MAX_PROBABILITY_DIFFERENCE, compare, comparison_table, write_repo

ROOT = Path(__file__).resolve().parents[2]
SEED_LEAD = json.loads(load_event("predict_seed.json")["body"])["inputs"]  # the seed curl body


def test_shipped_artifact_matches_the_pins_and_its_repo_is_well_formed(demo_model: tuple[bytes, Any]) -> None:
    data, spec = demo_model
    pinned = json.loads((ROOT / "model" / "registry.json").read_text())["21"]
    cdk_pinned = json.loads((ROOT / "cdk.json").read_text())["context"]["models"]["21"]
    assert hashlib.sha256(data).hexdigest() == pinned["sha256"] == cdk_pinned["sha256"] == spec.sha256
    assert hashlib.sha1(data, usedforsecurity=False).hexdigest() == pinned["revision"] == spec.revision
    assert cdk_pinned == pinned
    repo = published_path(ROOT, spec).parent
    assert repo == ROOT / "model" / "published" / "hokusai" / "lead-scorer"
    files = ["README.md", "config.json", "lead_scorer.onnx", "lead_scorer.skops"]
    assert sorted(path.name for path in repo.iterdir()) == files
    # The ONNX twin beside it, pinned too (its answers: tests/unit/test_onnx_twin.py).
    twin = (repo / "lead_scorer.onnx").read_bytes()
    assert spec.twin_filename == "lead_scorer.onnx"
    assert hashlib.sha256(twin).hexdigest() == pinned["twin_sha256"] == spec.twin_sha256
    config = json.loads((repo / "config.json").read_text())["sklearn"]
    assert config["model"] == {"file": spec.filename}
    assert config["model_format"] == "skops"
    assert config["columns"] == list(FEATURE_NAMES)
    assert [feature["name"] for feature in config["features"]] == list(FEATURE_NAMES)
    card = (repo / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: sklearn\n")
    assert card.count("---\n") >= 2  # YAML front matter, as the Hub expects
    assert spec.sha256 in card
    assert spec.twin_sha256 in card


@pytest.fixture(scope="module")
def retrained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("lead-scorer")
    built = write_repo(out)
    return {**built, "data": (out / FILENAME).read_bytes()}


def test_retraining_agrees_with_the_shipped_model_by_predictions(
    demo_model: tuple[bytes, Any], retrained: dict[str, Any]
) -> None:
    """Predictions, never bytes: the retrained sha256 may differ on another CPU (OpenBLAS)."""
    data, spec = demo_model
    result = compare(data, retrained["data"], spec)
    assert result["leads"] == 2000
    assert result["max_probability_difference"] <= MAX_PROBABILITY_DIFFERENCE, comparison_table(result)
    assert result["recommendations_agreeing"] == result["leads"], comparison_table(result)
    assert result["agrees"]


def test_comparison_catches_a_different_model(demo_model: tuple[bytes, Any], tmp_path: Path) -> None:
    data, spec = demo_model
    write_repo(tmp_path, rows=1000)  # another training set: another model
    result = compare(data, (tmp_path / FILENAME).read_bytes(), spec)
    assert result["max_probability_difference"] > MAX_PROBABILITY_DIFFERENCE
    assert not result["agrees"]
    assert "DISAGREE" in comparison_table(result)


def test_held_out_quality_is_better_than_chance(retrained: dict[str, Any]) -> None:
    assert retrained["metrics"]["roc_auc"] > 0.7


def test_seed_lead_scores_hot_with_factors_from_the_model(demo_model: tuple[bytes, Any]) -> None:
    data, spec = demo_model
    scorer = build_scorer(data, spec, "efs", allow_pickle=False)
    hot, blank = scorer.predict([SEED_LEAD, {}])
    assert hot.recommendation == "Hot"
    assert 0 <= hot.lead_score <= 100
    assert hot.lead_score == round(hot.conversion_probability * 100)
    assert "Demo requested" in hot.factors
    assert hot.confidence == round(max(hot.conversion_probability, 1 - hot.conversion_probability), 4)
    assert blank.recommendation == "Cold"
    assert blank.factors == []  # an unknown lead has nothing pushing it up


def test_demo_and_budget_raise_the_score(demo_model: tuple[bytes, Any]) -> None:
    data, spec = demo_model
    scorer = build_scorer(data, spec, "efs", allow_pickle=False)
    base = {"company_size": 500, "engagement_score": 50}
    plain, with_demo, with_both = scorer.predict(
        [base, {**base, "demo_requested": True}, {**base, "demo_requested": True, "budget_confirmed": True}]
    )
    assert plain.conversion_probability < with_demo.conversion_probability < with_both.conversion_probability


def test_batch_order_is_kept(demo_model: tuple[bytes, Any]) -> None:
    data, spec = demo_model
    scorer = build_scorer(data, spec, "efs", allow_pickle=False)
    leads = [{"engagement_score": float(score)} for score in range(0, 100, 10)]
    probabilities = [p.conversion_probability for p in scorer.predict(leads)]
    assert probabilities == sorted(probabilities)
    assert [p.conversion_probability for p in scorer.predict(leads[::-1])] == probabilities[::-1]


def test_probabilities_are_the_pipelines_own(demo_model: tuple[bytes, Any]) -> None:
    data, spec = demo_model
    scorer = build_scorer(data, spec, "efs", allow_pickle=False)
    leads = [{"company_size": size, "demo_requested": size % 2 == 0} for size in (5, 50, 500, 5000)]
    matrix = np.array([row(lead) for lead in leads], dtype=object)
    expected = scorer.pipeline.predict_proba(matrix)[:, 1]
    got = [p.conversion_probability for p in scorer.predict(leads)]
    assert got == [round(float(p), 4) for p in expected]


@pytest.mark.parametrize(
    ("score", "label"), [(100, "Hot"), (70, "Hot"), (69, "Warm"), (40, "Warm"), (39, "Cold")]
)
def test_recommendation_thresholds(score: int, label: str) -> None:
    assert recommendation(score) == label


def _with_extra_type(data: bytes, module: str, cls: str) -> bytes:
    def add(schema: dict[str, Any]) -> None:
        schema["content"]["extra"] = {
            "__class__": cls,
            "__module__": module,
            "__loader__": "ObjectNode",
            "content": {},
        }

    return _with_schema(data, add)


def test_untrusted_types_are_refused_by_name(demo_model: tuple[bytes, Any]) -> None:
    data, _ = demo_model
    tampered = _with_extra_type(data, "os", "system")
    with pytest.raises(UntrustedModelError, match=r"untrusted types: os\.system"):
        deserialize(tampered, "skops", allow_pickle=False)


def test_pickle_needs_an_explicit_opt_in() -> None:
    with pytest.raises(UntrustedModelError, match="ALLOW_PICKLE"):
        deserialize(b"\x80\x04N.", "pickle", allow_pickle=False)
    assert deserialize(b"\x80\x04N.", "pickle", allow_pickle=True) is None


def test_garbage_is_not_a_skops_file() -> None:
    with pytest.raises(UntrustedModelError, match="not a skops file"):
        deserialize(b"garbage", "skops", allow_pickle=False)


# --- our own skops reader (hokusai.models.skops_format): the same objects, without import skops.io
def _same(ours: Any, theirs: Any, path: str = "model") -> None:
    """The two object graphs are equal: types, containers, arrays (dtype, shape, values), attributes."""
    assert type(ours) is type(theirs), path
    if isinstance(ours, np.ndarray):
        assert (ours.dtype, ours.shape) == (theirs.dtype, theirs.shape), path
        if ours.dtype == object:
            for index, (a, b) in enumerate(zip(ours.ravel(), theirs.ravel(), strict=True)):
                _same(a, b, f"{path}[{index}]")
        else:
            assert np.array_equal(ours, theirs), path
    elif isinstance(ours, dict):
        assert list(ours) == list(theirs), path
        for key in ours:
            _same(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, list | tuple):
        assert len(ours) == len(theirs), path
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _same(a, b, f"{path}[{index}]")
    elif hasattr(ours, "__dict__") and not isinstance(ours, type):
        _same(vars(ours), vars(theirs), path)
    else:
        both_nan = isinstance(ours, float) and np.isnan(ours) and np.isnan(theirs)
        assert ours == theirs or both_nan, path


def test_our_reader_builds_exactly_what_skops_builds(demo_model: tuple[bytes, Any]) -> None:
    import skops.io
    from hokusai.models import skops_format
    from hokusai.models.scorer import types_in_skops

    data, _ = demo_model
    found = types_in_skops(data)
    ours = skops_format.loads(data, trusted=found)
    _same(ours, skops.io.loads(data, trusted=sorted(found)))
    matrix = np.array([row(SEED_LEAD)], dtype=object)
    assert (
        ours.predict_proba(matrix).tolist()
        == skops.io.loads(data, trusted=sorted(found)).predict_proba(matrix).tolist()
    )


def test_loading_the_shipped_model_imports_neither_skops_nor_unused_scikit_learn() -> None:
    """Issue 10: `import skops.io` imported every scikit-learn estimator at start-up (0.5-0.8 s)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from model.train import published_artifact\n"
        "from hokusai.models.scorer import build_scorer\n"
        "data, spec = published_artifact()\n"
        "scorer = build_scorer(data, spec, 'efs', allow_pickle=False)\n"
        "assert scorer.predict([{}])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'skops' or m.startswith(\n"
        "    ('sklearn.ensemble', 'sklearn.cluster', 'sklearn.datasets', 'sklearn.neighbors'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout


def _with_schema(data: bytes, change: Any) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = json.loads(source.read("schema.json"))
    change(schema)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            body = (
                json.dumps(schema).encode() if info.filename == "schema.json" else source.read(info.filename)
            )
            target.writestr(info.filename, body)
    return out.getvalue()


def test_a_file_our_reader_declines_is_read_by_skops(
    demo_model: tuple[bytes, Any], caplog: pytest.LogCaptureFixture
) -> None:
    from hokusai.models import skops_format

    data, _ = demo_model
    older = _with_schema(data, lambda schema: schema.update(protocol=1))
    with pytest.raises(skops_format.Unsupported, match="protocol 1"):
        skops_format.loads(older, trusted=["sklearn.pipeline.Pipeline"])
    with caplog.at_level("WARNING", logger="hokusai.models.scorer"):
        pipeline = deserialize(older, "skops", allow_pickle=False)
    assert "read by skops.io" in caplog.text
    matrix = np.array([row(SEED_LEAD)], dtype=object)
    expected = deserialize(data, "skops", allow_pickle=False).predict_proba(matrix)
    assert pipeline.predict_proba(matrix).tolist() == expected.tolist()


def test_our_reader_refuses_an_untrusted_type_before_importing_it(demo_model: tuple[bytes, Any]) -> None:
    import sys

    from hokusai.models import skops_format
    from hokusai.models.scorer import TRUSTED_TYPES

    data, _ = demo_model
    payload = {"__class__": "Payload", "__module__": "hokusai_never_imported", "__loader__": "ObjectNode"}
    tampered = _with_schema(data, lambda schema: schema["content"]["content"].update(extra=payload))
    with pytest.raises(skops_format.Untrusted, match=r"hokusai_never_imported\.Payload"):
        skops_format.loads(tampered, trusted=TRUSTED_TYPES)
    assert "hokusai_never_imported" not in sys.modules
    # A container kind naming another class is not ours to guess: skops reads (and audits) it.
    odd = _with_schema(data, lambda schema: schema["content"].update(__loader__="ListNode"))
    with pytest.raises(skops_format.Unsupported, match=r"ListNode of builtins\.dict"):
        skops_format.loads(odd, trusted=TRUSTED_TYPES)
