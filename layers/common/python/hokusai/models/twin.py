"""Make a published scikit-learn model's ONNX twin, and write it only if it answers exactly as the model.

Publish time only (``make model``, ``hokusai models publish``): needs scikit-learn, skl2onnx and onnx
(requirements/dev.txt), never the functions.

The conversion (:func:`convert`): skl2onnx with one input per feature column (``DoubleTensorType`` for
numbers and booleans, ``StringTensorType`` for categories) and ``zipmap`` off; the graph keeps two
outputs, ``probabilities`` and ``features`` (the ColumnTransformer's output, for the factors), and is
pruned to what they need; the scorer's explanation (coefficients, owners, categories) goes into the
file's metadata. ``float_type="float"`` is skl2onnx's float32 default, kept for the test that shows the
gate refuses it.

The gate (:func:`verify`): both the pipeline (``LeadScorer``) and the twin (``TwinScorer``, the serving
code) answer the same leads, one at a time and in batches of 100, and every answer must be *identical*
as JSON: score, probability, confidence, recommendation, factors and warnings. A tolerance on
probabilities is the wrong gate: float32 stays within 1.3e-7 of scikit-learn yet rounds one
evaluation lead's ``conversion_probability`` differently. The leads are the caller's evaluation leads,
:func:`edge_cases` and :func:`fuzzed_leads` (seeded).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hokusai.models import onnx_format
from hokusai.models.features import FEATURE_NAMES, FEATURES
from hokusai.models.registry import ModelSpec

TWIN_SUFFIX = ".onnx"
FUZZ_SEED = 2424
FUZZ_LEADS = 10_000
BATCH = 100
PRODUCER = "hokusai-twin"
GRAPH_NAME = "lead_scorer"


def twin_filename(filename: str) -> str:
    """``lead_scorer.skops`` -> ``lead_scorer.onnx``: the twin sits beside the skops file."""
    stem = filename.rsplit(".", 1)[0] if "." in filename else filename
    return stem + TWIN_SUFFIX


@dataclass
class Verdict:
    leads: int = 0
    compared: int = 0
    differing: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why there is no twin (conversion failed, refused, disagrees)

    @property
    def agrees(self) -> bool:
        return self.reason is None and not self.differing and self.compared > 0


def convert(pipeline: Any, float_type: str = "double", explanation: dict[str, Any] | None = None) -> bytes:
    """The pipeline as ONNX bytes (see the module docstring). Raises on an unconvertible pipeline."""
    import warnings

    import onnx
    from onnx import helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    number = DoubleTensorType if float_type == "double" else FloatTensorType
    inputs = [
        (f.name, StringTensorType([None, 1]) if f.kind == "string" else number([None, 1])) for f in FEATURES
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn newer than skl2onnx's tested range: we gate instead
        model = convert_sklearn(pipeline, initial_types=inputs, options={id(pipeline[-1]): {"zipmap": False}})
    graph = model.graph
    # The ColumnTransformer's output is what the classifier's first node reads.
    classifier_inputs = [
        node.input[0] for node in graph.node if node.op_type in {"MatMul", "LinearClassifier", "Gemm"}
    ]
    if len(classifier_inputs) != 1:
        raise ValueError("cannot find the classifier's input in the converted graph")
    transformed = classifier_inputs[0]
    outputs = {value.name: value for value in graph.output}
    if "probabilities" not in outputs:
        raise ValueError("the converted graph has no probabilities output")
    elem = onnx.TensorProto.DOUBLE if float_type == "double" else onnx.TensorProto.FLOAT
    features = helper.make_tensor_value_info("features", elem, [None, None])
    identity = helper.make_node("Identity", [transformed], ["features"], name="features_out")
    needed_nodes = _prune([*graph.node, identity], {"probabilities", "features"})
    used = {name for node in needed_nodes for name in node.input}
    new_graph = helper.make_graph(
        needed_nodes,
        GRAPH_NAME,  # skl2onnx names the graph with a random uuid: the twin's bytes must be reproducible
        list(graph.input),
        [outputs["probabilities"], features],
        initializer=[tensor for tensor in graph.initializer if tensor.name in used],
    )
    twin = helper.make_model(new_graph, opset_imports=list(model.opset_import), producer_name=PRODUCER)
    twin.ir_version = model.ir_version
    if explanation is not None:
        entry = twin.metadata_props.add()
        entry.key = onnx_format.SCORER_METADATA_KEY
        entry.value = json.dumps(explanation)
    onnx.checker.check_model(twin)
    data: bytes = twin.SerializeToString(deterministic=True)
    return data


def _prune(nodes: Sequence[Any], outputs: set[str]) -> list[Any]:
    """The nodes ``outputs`` depend on, in their original (topological) order."""
    wanted = set(outputs)
    keep: list[Any] = []
    for node in reversed(nodes):
        if wanted & set(node.output):
            keep.append(node)
            wanted |= set(node.input)
    return list(reversed(keep))


def edge_cases() -> list[dict[str, Any]]:
    """Leads at the edges of the contract: bounds, defaults, absent fields, spellings, unknown values."""
    leads: list[dict[str, Any]] = [
        {},
        {name: f.default for name, f in zip(FEATURE_NAMES, FEATURES, strict=True)},
    ]
    numeric = [f for f in FEATURES if f.kind in {"integer", "number"}]
    for feature in numeric:
        for bound in (feature.minimum, feature.maximum):
            leads.append({feature.name: int(bound or 0) if feature.kind == "integer" else float(bound or 0)})
    leads.append({f.name: int(f.maximum or 0) if f.kind == "integer" else f.maximum for f in numeric})
    leads.append({f.name: int(f.minimum or 0) if f.kind == "integer" else f.minimum for f in numeric})
    leads.append({"demo_requested": True, "budget_confirmed": True})
    leads.append({"engagement_score": 49.99, "company_size": 1})
    leads.append({"engagement_score": 0.1})
    spellings = {
        "industry": ["technology", " TECHNOLOGY ", "Fintech", ""],
        "decision_timeline": ["q1 2025", "Q1  2025", "Someday"],
        "title": ["vp of sales", "Chief Everything Officer", "x" * 128],
    }
    for name, values in spellings.items():
        leads.extend({name: value} for value in values)
    leads.append({"industry": "Unknown", "decision_timeline": "Unknown", "title": "Unknown"})
    return leads


def fuzzed_leads(
    count: int = FUZZ_LEADS, seed: int = FUZZ_SEED, categories: dict[str, list[str]] | None = None
) -> list[dict[str, Any]]:
    """Seeded random leads over the whole contract: values anywhere within bounds (log-scaled sizes,
    round and fractional numbers), known categories in other spellings, unknown ones, absent fields."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data, not a secret
    known = categories or {}
    leads: list[dict[str, Any]] = []
    for _ in range(count):
        lead: dict[str, Any] = {}
        for feature in FEATURES:
            if rng.random() < 0.08:
                continue  # absent: the documented default
            lead[feature.name] = _fuzz_value(rng, feature, known.get(feature.name, []))
        leads.append(lead)
    return leads


def _fuzz_value(rng: random.Random, feature: Any, categories: list[str]) -> Any:
    if feature.kind == "boolean":
        return rng.random() < 0.5
    if feature.kind == "string":
        roll = rng.random()
        if categories and roll < 0.75:
            value = rng.choice(categories)
            return value if roll < 0.6 else rng.choice([value.upper(), value.lower(), f"  {value} "])
        return rng.choice(["Unknown", "Other", "n/a", "Crypto", "VP Sales", "?"])
    low, high = float(feature.minimum), float(feature.maximum)
    if feature.kind == "integer":
        if rng.random() < 0.7:  # the usual range, log-scaled
            return min(
                int(high), round(math.exp(rng.uniform(math.log(max(low, 1)), math.log(min(high, 1e5)))))
            )
        return rng.randint(int(low), int(high))
    return round(rng.uniform(low, high), rng.choice([0, 1, 2, 6]))


def answers(scorer: Any, leads: Sequence[dict[str, Any]], batch: int) -> list[str]:
    """Each lead's answer as the JSON the API writes, predicted ``batch`` leads at a time."""
    out: list[str] = []
    for start in range(0, len(leads), batch):
        out.extend(json.dumps(p.to_dict()) for p in scorer.predict(list(leads[start : start + batch])))
    return out


def verify(
    twin: bytes, skops: bytes, spec: ModelSpec, leads: Sequence[dict[str, Any]], allow_pickle: bool = False
) -> Verdict:
    """Compare every whole answer of the twin (served as predict serves it) with the pipeline's."""
    from hokusai.models.scorer import UntrustedModelError, build_scorer
    from hokusai.models.twin_scorer import TwinScorer

    verdict = Verdict(leads=len(leads))
    reference = build_scorer(skops, spec, "publish", allow_pickle)
    try:
        candidate = TwinScorer(twin, spec, "publish")
    except UntrustedModelError as error:
        verdict.reason = str(error)
        return verdict
    # The pipeline answers in batches (its own single-lead answers are the same numbers, slower); the
    # twin answers one lead at a time and in batches, as predict may be asked either way.
    expected = answers(reference, leads, BATCH)
    for batch in (1, BATCH):
        actual = answers(candidate, leads, batch)
        verdict.compared += len(leads)
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            if want != got:
                verdict.differing.append({"lead": leads[index], "batch": batch, "skops": want, "twin": got})
    if verdict.differing:
        first = verdict.differing[0]
        verdict.reason = (
            f"{len(verdict.differing)} of {verdict.compared} answers differ, e.g. {first['skops']} vs "
            f"{first['twin']} (batch {first['batch']})"
        )
    return verdict


@dataclass
class TwinResult:
    data: bytes | None
    verdict: Verdict

    @property
    def reason(self) -> str | None:
        return self.verdict.reason


def make_twin(
    skops: bytes,
    spec: ModelSpec,
    evaluation_leads: Sequence[dict[str, Any]] = (),
    float_type: str = "double",
    fuzz: int = FUZZ_LEADS,
) -> TwinResult:
    """The twin's bytes if the conversion succeeded, passed the allow-list and agreed on every answer;
    otherwise ``data`` is None and ``reason`` says why in one line."""
    from hokusai.models.scorer import build_scorer

    reference = build_scorer(skops, spec, "publish", allow_pickle=False)
    explanation = reference.explanation()
    categories = {str(name): list(values) for name, values in explanation["categories"]}
    leads = [*evaluation_leads, *edge_cases(), *fuzzed_leads(fuzz, categories=categories)]
    try:
        data = convert(reference.pipeline, float_type=float_type, explanation=explanation)
        onnx_format.check(data)
    except Exception as error:
        return TwinResult(
            None, Verdict(leads=len(leads), reason=f"not convertible: {type(error).__name__}: {error}")
        )
    verdict = verify(data, skops, spec, leads)
    return TwinResult(data if verdict.agrees else None, verdict)
