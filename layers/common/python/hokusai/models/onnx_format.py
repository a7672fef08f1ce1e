"""Check an ONNX file before a session is built from it, without the ``onnx`` package.

An ONNX file runs no Python code when loaded, but it is still an input we did not write: it names the
operators the runtime will execute, it may point the runtime at files next to it (external data), and
it may carry nested graphs (``If``/``Loop``/``Scan`` bodies) or model-local functions. Like the skops
reader's trusted-type list (``hokusai.models.scorer``), :func:`check` allows only what the converter
emits for the estimators we support, and refuses anything else *before* ``onnxruntime`` sees the bytes,
naming what it found:

- operator domains and operators: :data:`ALLOWED_OPS` (the default ``ai.onnx`` domain and
  ``ai.onnx.ml``), each opset version at most :data:`MAX_OPSET`;
- no external data (a tensor whose ``data_location`` is EXTERNAL or that has ``external_data``);
- no subgraphs (a ``GRAPH``/``GRAPHS`` attribute) and no model-local functions or training info.

Why not ``import onnx``: the package is about 31 MB unzipped with its protobuf runtime, more than
onnxruntime needs (onnxruntime's Python package imports only numpy), and the lean predict layer exists
to be small. The file is a protobuf ``ModelProto``; the fields this check reads are few and stable
(numbers from onnx/onnx.proto, IR version 10), so :class:`_Message` decodes the wire format directly
(varints and length-delimited fields, about a hundred lines). Publishing checks the same way, and
``tests/unit/test_onnx_twin.py`` checks this reader against ``onnx``'s own parse of the shipped twin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field

# What skl2onnx emits for Pipeline(ColumnTransformer(StandardScaler, OneHotEncoder),
# LogisticRegression) with float64 inputs (the graph may be pruned to the outputs we read), and the
# float32 forms of the same estimators (Scaler, LinearClassifier, Normalizer, ZipMap).
ALLOWED_OPS: dict[str, frozenset[str]] = {
    "": frozenset(
        {
            "Abs",
            "Add",
            "ArgMax",
            "Cast",
            "Concat",
            "Div",
            "Gemm",
            "Identity",
            "MatMul",
            "Mul",
            "ReduceSum",
            "Reshape",
            "Sigmoid",
            "Softmax",
            "Sub",
        }
    ),
    "ai.onnx.ml": frozenset(
        {"ArrayFeatureExtractor", "LinearClassifier", "Normalizer", "OneHotEncoder", "Scaler", "ZipMap"}
    ),
}
# Newest opset per domain we have converted with and served (skl2onnx 1.20 targets ai.onnx 14-21).
MAX_OPSET = {"": 21, "ai.onnx.ml": 5}
# Where the twin keeps what the scorer needs besides the graph (coefficients, categories, column owners).
SCORER_METADATA_KEY = "hokusai.scorer"

# Field numbers from onnx/onnx.proto (IR version 10).
_MODEL_GRAPH, _MODEL_OPSET, _MODEL_METADATA, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 8, 14, 20, 25
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_INPUT, _GRAPH_OUTPUT, _GRAPH_SPARSE_INITIALIZER = 1, 5, 11, 12, 15
_NODE_OP_TYPE, _NODE_ATTRIBUTE, _NODE_DOMAIN = 4, 5, 7
_ATTRIBUTE_NAME, _ATTRIBUTE_T, _ATTRIBUTE_G, _ATTRIBUTE_TENSORS, _ATTRIBUTE_GRAPHS = 1, 5, 6, 10, 11
_ATTRIBUTE_SPARSE_TENSOR, _ATTRIBUTE_SPARSE_TENSORS = 22, 23
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_VALUE_INFO_NAME = 1
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class UnsafeOnnxError(ValueError):
    """The file is not an ONNX model we serve: the message names the operator, domain or feature."""


class _Message:
    """One protobuf message's fields: number -> list of values (ints for varints, bytes otherwise)."""

    def __init__(self, data: bytes) -> None:
        self.fields: dict[int, list[int | bytes]] = {}
        for number, value in _fields(data):
            self.fields.setdefault(number, []).append(value)

    def messages(self, number: int) -> Iterator[_Message]:
        for value in self.fields.get(number, []):
            if not isinstance(value, bytes):
                raise UnsafeOnnxError(f"not an ONNX model (field {number} is not a message)")
            yield _Message(value)

    def text(self, number: int, default: str = "") -> str:
        values = self.fields.get(number)
        if not values:
            return default
        value = values[-1]
        if not isinstance(value, bytes):
            raise UnsafeOnnxError(f"not an ONNX model (field {number} is not a string)")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeOnnxError(f"not an ONNX model (field {number} is not UTF-8)") from None

    def integer(self, number: int, default: int = 0) -> int:
        values = self.fields.get(number)
        if not values:
            return default
        value = values[-1]
        if not isinstance(value, int):
            raise UnsafeOnnxError(f"not an ONNX model (field {number} is not an integer)")
        return value

    def has(self, number: int) -> bool:
        return bool(self.fields.get(number))


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise UnsafeOnnxError("not an ONNX model (truncated varint)")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise UnsafeOnnxError("not an ONNX model (field number 0)")
        if wire_type == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire_type == 2:
            length, position = _varint(data, position)
            if position + length > len(data):
                raise UnsafeOnnxError("not an ONNX model (truncated field)")
            yield number, data[position : position + length]
            position += length
        elif wire_type in (1, 5):  # fixed64 / fixed32 (doubles and floats in attributes)
            width = 8 if wire_type == 1 else 4
            if position + width > len(data):
                raise UnsafeOnnxError("not an ONNX model (truncated field)")
            yield number, int.from_bytes(data[position : position + width], "little")
            position += width
        else:
            raise UnsafeOnnxError(f"not an ONNX model (wire type {wire_type})")


@dataclass(frozen=True)
class OnnxSummary:
    """What :func:`check` read: operator sets, the operators used, the graph's inputs and outputs,
    and the model's metadata properties."""

    opsets: dict[str, int]
    ops: frozenset[tuple[str, str]]  # (domain, op_type)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    metadata: dict[str, str] = field(default_factory=dict)

    def scorer_metadata(self) -> dict[str, object]:
        raw = self.metadata.get(SCORER_METADATA_KEY)
        if raw is None:
            raise UnsafeOnnxError(f"the ONNX file carries no {SCORER_METADATA_KEY} metadata")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise UnsafeOnnxError(f"{SCORER_METADATA_KEY} metadata is not JSON") from None
        if not isinstance(value, dict):
            raise UnsafeOnnxError(f"{SCORER_METADATA_KEY} metadata is not an object")
        return value


def _domain(name: str) -> str:
    """The default domain has two spellings: ``""`` and ``"ai.onnx"``."""
    return "" if name == "ai.onnx" else name


def _check_tensor(tensor: _Message, where: str) -> None:
    if tensor.integer(_TENSOR_DATA_LOCATION) == _EXTERNAL or tensor.has(_TENSOR_EXTERNAL_DATA):
        name = tensor.text(_TENSOR_NAME) or "unnamed"
        raise UnsafeOnnxError(f"tensor {name!r} ({where}) uses external data: refused")


def _check_sparse(sparse: _Message, where: str) -> None:
    for number in (_SPARSE_VALUES, _SPARSE_INDICES):
        for tensor in sparse.messages(number):
            _check_tensor(tensor, where)


def _check_graph(graph: _Message, opsets: dict[str, int]) -> set[tuple[str, str]]:
    for tensor in graph.messages(_GRAPH_INITIALIZER):
        _check_tensor(tensor, "initializer")
    for sparse in graph.messages(_GRAPH_SPARSE_INITIALIZER):
        _check_sparse(sparse, "sparse initializer")
    ops: set[tuple[str, str]] = set()
    for node in graph.messages(_GRAPH_NODE):
        domain, op_type = _domain(node.text(_NODE_DOMAIN)), node.text(_NODE_OP_TYPE)
        described = f"{domain}::{op_type}" if domain else op_type
        if domain not in ALLOWED_OPS:
            raise UnsafeOnnxError(f"operator {described}: domain {domain!r} is not allowed")
        if domain not in opsets:
            raise UnsafeOnnxError(f"operator {described}: its domain is not imported by the model")
        if op_type not in ALLOWED_OPS[domain]:
            raise UnsafeOnnxError(f"operator {described} is not allowed")
        for attribute in node.messages(_NODE_ATTRIBUTE):
            name = attribute.text(_ATTRIBUTE_NAME)
            if attribute.has(_ATTRIBUTE_G) or attribute.has(_ATTRIBUTE_GRAPHS):
                raise UnsafeOnnxError(f"operator {described} carries a subgraph ({name}): refused")
            for tensor in (*attribute.messages(_ATTRIBUTE_T), *attribute.messages(_ATTRIBUTE_TENSORS)):
                _check_tensor(tensor, f"attribute {name} of {described}")
            for number in (_ATTRIBUTE_SPARSE_TENSOR, _ATTRIBUTE_SPARSE_TENSORS):
                for sparse in attribute.messages(number):
                    _check_sparse(sparse, f"attribute {name} of {described}")
        ops.add((domain, op_type))
    return ops


def check(data: bytes) -> OnnxSummary:
    """The file's summary if it passes the allow-list; raises :class:`UnsafeOnnxError` otherwise."""
    if not data:
        raise UnsafeOnnxError("not an ONNX model (empty file)")
    model = _Message(data)
    if model.has(_MODEL_FUNCTIONS):
        raise UnsafeOnnxError("the model defines local functions: refused")
    if model.has(_MODEL_TRAINING):
        raise UnsafeOnnxError("the model carries training information: refused")
    opsets: dict[str, int] = {}
    for opset in model.messages(_MODEL_OPSET):
        domain, version = _domain(opset.text(_OPSET_DOMAIN)), opset.integer(_OPSET_VERSION)
        if domain not in MAX_OPSET:
            raise UnsafeOnnxError(f"operator set {domain!r} is not allowed")
        if version > MAX_OPSET[domain]:
            raise UnsafeOnnxError(
                f"operator set {domain or 'ai.onnx'} version {version} is newer than allowed"
            )
        opsets[domain] = version
    graphs = list(model.messages(_MODEL_GRAPH))
    if len(graphs) != 1:
        raise UnsafeOnnxError("not an ONNX model (no graph)")
    graph = graphs[0]
    ops = _check_graph(graph, opsets)
    metadata = {entry.text(_ENTRY_KEY): entry.text(_ENTRY_VALUE) for entry in model.messages(_MODEL_METADATA)}
    return OnnxSummary(
        opsets=opsets,
        ops=frozenset(ops),
        inputs=tuple(value.text(_VALUE_INFO_NAME) for value in graph.messages(_GRAPH_INPUT)),
        outputs=tuple(value.text(_VALUE_INFO_NAME) for value in graph.messages(_GRAPH_OUTPUT)),
        metadata=metadata,
    )
