"""Serve a lead scorer from its verified ONNX twin: numpy and onnxruntime, no scikit-learn.

The twin is the float64 ONNX conversion of a published scikit-learn pipeline, written at publish time
only when it gave the very same API answers as the pipeline on every evaluation lead, edge case and
fuzzed lead (``hokusai.models.twin``), and pinned by sha256 in the registry beside the skops file. It
reaches this module through the same loader chain and sha256 check as the skops file.

Before a session is built the bytes pass :func:`hokusai.models.onnx_format.check` (operators on the
allow-list, no external data, no subgraphs or functions), which needs no ``onnx`` package. The graph
has two outputs: ``probabilities`` (the classifier's, one column per class) and ``features`` (the
ColumnTransformer's output); the scorer metadata in the file (coefficients, which input feature owns
each transformed column, the categories) lets :class:`hokusai.models.scorer.ExplainedScorer` compute
the factors, the rounding and the answer exactly as for the pipeline.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hokusai.models import onnx_format
from hokusai.models.features import FEATURE_NAMES, FEATURES, category_key
from hokusai.models.registry import ModelSpec
from hokusai.models.scorer import ExplainedScorer, UntrustedModelError

PROBABILITIES = "probabilities"
# The twin's input element types as numpy types (a float32 twin is refused at publish; tests build one).
_INPUT_TYPES: dict[str, Any] = {
    "tensor(string)": str,
    "tensor(double)": np.float64,
    "tensor(float)": np.float32,
}
TRANSFORMED = "features"


def session_options() -> Any:
    """One thread, basic (exact) graph rewrites only: what the publish gate ran is what serves."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.log_severity_level = 3
    return options


def _explanation(
    summary: onnx_format.OnnxSummary,
) -> tuple[list[float], list[int], dict[str, dict[str, str]]]:
    metadata = summary.scorer_metadata()
    coefficients, owners, categories = (
        metadata.get("coefficients"),
        metadata.get("column_owner"),
        metadata.get("categories"),
    )
    if not (
        isinstance(coefficients, list)
        and all(isinstance(c, int | float) for c in coefficients)
        and isinstance(owners, list)
        and all(isinstance(o, int) and 0 <= o < len(FEATURES) for o in owners)
        and len(owners) == len(coefficients)
        and isinstance(categories, list)
        and all(
            isinstance(pair, list)
            and len(pair) == 2
            and pair[0] in FEATURE_NAMES
            and isinstance(pair[1], list)
            for pair in categories
        )
    ):
        raise UntrustedModelError("the ONNX twin's scorer metadata is malformed")
    known = {str(name): {category_key(str(c)): str(c) for c in values} for name, values in categories}
    return [float(c) for c in coefficients], [int(o) for o in owners], known


class TwinScorer(ExplainedScorer):
    """The twin's session and explanation; answers through :class:`ExplainedScorer`."""

    def __init__(self, data: bytes, spec: ModelSpec, loaded_from: str) -> None:
        try:
            summary = onnx_format.check(data)
        except onnx_format.UnsafeOnnxError as error:
            raise UntrustedModelError(f"ONNX twin refused: {error}") from None
        missing = {PROBABILITIES, TRANSFORMED} - set(summary.outputs)
        if missing or tuple(summary.inputs) != FEATURE_NAMES:
            raise UntrustedModelError(
                f"the ONNX twin's inputs/outputs are not the scorer's (inputs {list(summary.inputs)}, "
                f"outputs {list(summary.outputs)})"
            )
        coefficients, owners, categories = _explanation(summary)
        import onnxruntime

        self.session = onnxruntime.InferenceSession(
            data, sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
        self.summary = summary
        self._input_types = {i.name: _INPUT_TYPES.get(i.type, np.float64) for i in self.session.get_inputs()}
        super().__init__(spec, loaded_from, coefficients, owners, categories)

    def transform(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feeds: dict[str, np.ndarray] = {}
        for index, name in enumerate(FEATURE_NAMES):
            column = matrix[:, index : index + 1]
            feeds[name] = column.astype(self._input_types[name])
        probabilities, transformed = self.session.run([PROBABILITIES, TRANSFORMED], feeds)
        return np.asarray(transformed, dtype=float), np.asarray(probabilities)[:, 1]


def build_twin_scorer(data: bytes, spec: ModelSpec, loaded_from: str) -> TwinScorer:
    return TwinScorer(data, spec, loaded_from)
