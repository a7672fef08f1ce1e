"""The ONNX twin (issue 24): same answers as the skops model, refused when it is not what we publish.

Answers are compared, never bytes built here: the shipped twin is committed (model/published) and
pinned, so its sha256 is checked; anything converted in a test is only compared by its answers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from typing import Any

import pytest
from hokusai.models import onnx_format
from hokusai.models.features import FEATURE_NAMES
from hokusai.models.registry import ModelSpec
from hokusai.models.scorer import UntrustedModelError, build_scorer
from hokusai.models.staging import published_path
from hokusai.models.twin import answers, convert, edge_cases, fuzzed_leads, make_twin, verify
from hokusai.models.twin_scorer import TwinScorer

from local.handlers import ROOT
from model.train import evaluation_leads


@pytest.fixture(scope="module")
def twin(demo_model: tuple[bytes, ModelSpec]) -> bytes:
    _, spec = demo_model
    return published_path(ROOT, spec.twin()).read_bytes()


@pytest.fixture(scope="module")
def skops_scorer(demo_model: tuple[bytes, ModelSpec]) -> Any:
    data, spec = demo_model
    return build_scorer(data, spec, "test", allow_pickle=False)


def _leads(skops_scorer: Any) -> list[dict[str, Any]]:
    categories = {str(name): list(values) for name, values in skops_scorer.explanation()["categories"]}
    evaluation = [dict(zip(FEATURE_NAMES, lead, strict=True)) for lead in evaluation_leads()]
    return [*evaluation, *edge_cases(), *fuzzed_leads(categories=categories)]


def test_the_shipped_twin_is_pinned(demo_model: tuple[bytes, ModelSpec], twin: bytes) -> None:
    _, spec = demo_model
    assert spec.twin_filename == "lead_scorer.onnx"
    assert hashlib.sha256(twin).hexdigest() == spec.twin_sha256


def test_the_twin_gives_every_answer_the_skops_model_gives(
    demo_model: tuple[bytes, ModelSpec], twin: bytes, skops_scorer: Any
) -> None:
    """Every evaluation row, edge case and fuzzed lead (12,028), one at a time and in batches of 100:
    the whole answer (score, probability, confidence, recommendation, factors, warnings) as JSON."""
    data, spec = demo_model
    leads = _leads(skops_scorer)
    assert len(leads) >= 12_000
    verdict = verify(twin, data, spec, leads)
    assert verdict.differing == [] and verdict.agrees, verdict.reason
    assert verdict.compared == 2 * len(leads)


def test_the_float32_twin_is_refused_by_the_gate(demo_model: tuple[bytes, ModelSpec]) -> None:
    """skl2onnx's float32 default stays within about 1e-7 of scikit-learn, yet rounds an evaluation
    lead's probability differently: the gate on whole answers refuses it (a 1e-6 tolerance would not)."""
    data, spec = demo_model
    evaluation = [dict(zip(FEATURE_NAMES, lead, strict=True)) for lead in evaluation_leads()]
    result = make_twin(data, spec, evaluation, float_type="float", fuzz=0)
    assert result.data is None
    assert result.reason is not None and "answers differ" in result.reason
    first = result.verdict.differing[0]
    skops, twin = json.loads(first["skops"]), json.loads(first["twin"])
    assert skops != twin
    assert abs(skops["conversion_probability"] - twin["conversion_probability"]) <= 1e-4


def test_the_double_twin_passes_the_same_gate(demo_model: tuple[bytes, ModelSpec]) -> None:
    data, spec = demo_model
    evaluation = [dict(zip(FEATURE_NAMES, lead, strict=True)) for lead in evaluation_leads()]
    result = make_twin(data, spec, evaluation, fuzz=200)
    assert result.data is not None and result.reason is None


def test_the_reader_agrees_with_onnx_on_the_shipped_twin(twin: bytes) -> None:
    import onnx

    summary = onnx_format.check(twin)
    model = onnx.load_from_string(twin)
    assert summary.ops == {(node.domain, node.op_type) for node in model.graph.node}
    assert summary.inputs == tuple(value.name for value in model.graph.input) == FEATURE_NAMES
    assert summary.outputs == ("probabilities", "features")
    assert summary.opsets == {opset.domain: opset.version for opset in model.opset_import}
    assert {entry.key for entry in model.metadata_props} == {onnx_format.SCORER_METADATA_KEY}


def _tampered(twin: bytes, change: Any) -> bytes:
    import onnx

    model = onnx.load_from_string(twin)
    change(model)
    data: bytes = model.SerializeToString()
    return data


def _foreign_op(model: Any) -> None:
    from onnx import helper

    model.graph.node.append(helper.make_node("Upsample", ["features"], ["unused"], name="foreign"))


def _foreign_domain(model: Any) -> None:
    from onnx import helper

    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    model.graph.node.append(
        helper.make_node("Gelu", ["features"], ["unused"], name="custom", domain="com.microsoft")
    )


def _external_data(model: Any) -> None:
    from onnx import TensorProto

    tensor = model.graph.initializer[0]
    tensor.data_location = TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"


def _subgraph(model: Any) -> None:
    from onnx import TensorProto, helper

    branch = helper.make_graph(
        [helper.make_node("Identity", ["features"], ["out"])],
        "branch",
        [],
        [helper.make_tensor_value_info("out", TensorProto.DOUBLE, None)],
    )
    model.graph.node.append(
        helper.make_node(
            "If", ["features"], ["unused"], then_branch=branch, else_branch=branch, name="branchy"
        )
    )


def _function(model: Any) -> None:
    from onnx import helper

    model.functions.append(
        helper.make_function(
            "local", "Sneaky", ["x"], ["y"], [helper.make_node("Identity", ["x"], ["y"])], []
        )
    )


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_foreign_op, "operator Upsample is not allowed"),
        (_foreign_domain, "operator set 'com.microsoft' is not allowed"),
        (_external_data, "uses external data"),
        (_subgraph, "operator If"),
        (_function, "defines local functions"),
    ],
    ids=["foreign op", "foreign domain", "external data", "subgraph", "local function"],
)
def test_a_twin_outside_the_allow_list_is_refused_before_a_session_exists(
    demo_model: tuple[bytes, ModelSpec],
    twin: bytes,
    change: Any,
    named: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, spec = demo_model
    import onnxruntime

    def no_session(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a session was created for a refused twin")

    monkeypatch.setattr(onnxruntime, "InferenceSession", no_session)
    with pytest.raises(UntrustedModelError) as refused:
        TwinScorer(_tampered(twin, change), spec, "test")
    assert named in str(refused.value)


def test_garbage_is_not_an_onnx_model() -> None:
    for data in (b"", b"\xff\xff\xff", b"PK\x03\x04 a zip file"):
        with pytest.raises(onnx_format.UnsafeOnnxError):
            onnx_format.check(data)


def test_a_twin_with_a_wrong_sha256_is_never_served(
    demo_model: tuple[bytes, ModelSpec], twin: bytes, tmp_path: Any
) -> None:
    """A cached twin whose bytes are not the pinned ones is discarded, and the model is unavailable."""
    from hokusai.models.artifacts import ArtifactChain, EfsSource, ModelUnavailableError
    from hokusai.models.registry import efs_path
    from hokusai.models.service import ModelService

    _, spec = demo_model
    tampered = _tampered(twin, lambda model: model.metadata_props[0].__setattr__("value", "{}"))
    path = tmp_path / efs_path(spec.twin(), "cache").lstrip("/")
    path.parent.mkdir(parents=True)
    path.write_bytes(tampered)
    service = ModelService({spec.model_id: spec}, ArtifactChain([EfsSource(str(tmp_path / "cache"))]))
    with pytest.raises(ModelUnavailableError) as unavailable:
        service.scorer(spec.model_id)
    assert "sha256 mismatch" in unavailable.value.detail
    assert not path.exists()  # discarded, so the next layer refetches it


def test_a_model_without_a_twin_is_served_from_its_skops_file(
    demo_model: tuple[bytes, ModelSpec], tmp_path: Any
) -> None:
    from hokusai.models.artifacts import ArtifactChain, EfsSource
    from hokusai.models.registry import efs_path
    from hokusai.models.scorer import LeadScorer
    from hokusai.models.service import ModelService

    data, spec = demo_model
    plain = dataclasses.replace(spec, twin_filename=None, twin_sha256=None)
    path = tmp_path / efs_path(plain, "cache").lstrip("/")
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    service = ModelService({spec.model_id: plain}, ArtifactChain([EfsSource(str(tmp_path / "cache"))]))
    assert isinstance(service.scorer(spec.model_id), LeadScorer)


def test_serving_from_the_twin_imports_neither_scikit_learn_scipy_nor_onnx(
    demo_model: tuple[bytes, ModelSpec], tmp_path: Any
) -> None:
    """What the lean layer can run: numpy and onnxruntime only."""
    _, spec = demo_model
    code = (
        "import json, sys\n"
        "from hokusai.models.registry import parse_registry\n"
        "from hokusai.models.twin_scorer import build_twin_scorer\n"
        f"spec = parse_registry({json.dumps({'21': spec.to_dict()})!r})['21']\n"
        f"data = open({str(published_path(ROOT, spec.twin()))!r}, 'rb').read()\n"
        "answer = build_twin_scorer(data, spec, 'efs').predict([{'company_size': 1000}])[0]\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'sklearn', 'scipy', 'skops', 'onnx', 'google', 'joblib'})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=60
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_twin_and_skops_scorers_answer_the_seed_lead_alike(twin: bytes, skops_scorer: Any) -> None:
    from tests.unit.test_model_scorer import SEED_LEAD

    twin_scorer = TwinScorer(twin, skops_scorer.spec, "test")
    assert answers(twin_scorer, [SEED_LEAD], 1) == answers(skops_scorer, [SEED_LEAD], 1)


def test_conversion_output_reads_back_through_the_serving_check(skops_scorer: Any) -> None:
    data = convert(skops_scorer.pipeline, explanation=skops_scorer.explanation())
    summary = onnx_format.check(data)
    assert ("", "MatMul") in summary.ops and ("ai.onnx.ml", "OneHotEncoder") in summary.ops


def _publish_root(demo_model: tuple[bytes, ModelSpec], tmp_path: Any) -> tuple[Any, Any]:
    """A project root holding the demo model's skops file (no twin) and a registry pinning only it."""
    data, spec = demo_model
    plain = dataclasses.replace(spec, twin_filename=None, twin_sha256=None)
    target = published_path(tmp_path, plain)
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    registry = tmp_path / "registry.json"
    registry.write_text(
        json.dumps({spec.model_id: {k: v for k, v in plain.to_dict().items() if k != "model_id"}})
    )
    return registry, target


def test_models_publish_writes_and_pins_the_twin(
    demo_model: tuple[bytes, ModelSpec], tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from hokusai.models.cli import main

    registry, skops = _publish_root(demo_model, tmp_path)
    assert main(["publish", "--registry", str(registry), "--root", str(tmp_path)]) == 0
    assert "21\tTWIN\t" in capsys.readouterr().out
    entry = json.loads(registry.read_text())["21"]
    twin = (skops.parent / "lead_scorer.onnx").read_bytes()
    assert entry["twin_filename"] == "lead_scorer.onnx"
    assert entry["twin_sha256"] == hashlib.sha256(twin).hexdigest()


def test_models_publish_says_why_there_is_no_twin(
    demo_model: tuple[bytes, ModelSpec],
    tmp_path: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hokusai.models import twin as twin_module
    from hokusai.models.cli import main

    def unconvertible(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("Unable to find a shape calculator for type 'MyEstimator'")

    monkeypatch.setattr(twin_module, "convert", unconvertible)
    registry, skops = _publish_root(demo_model, tmp_path)
    assert main(["publish", "--registry", str(registry), "--root", str(tmp_path)]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("21\t")]
    assert line.startswith("21\tNO TWIN\tnot convertible: RuntimeError: Unable to find a shape calculator")
    assert "twin_sha256" not in json.loads(registry.read_text())["21"]
    assert not (skops.parent / "lead_scorer.onnx").exists()
