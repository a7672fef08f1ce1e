"""Read a skops file without importing ``skops.io``: the object graph of a trusted pipeline.

Why: ``import skops.io`` builds skops' *default* trusted lists at import time
(``skops.io._trusted_types``): ``sklearn.utils.all_estimators()`` walks and imports every
scikit-learn module (ensembles, clustering, datasets, ...), and scipy.special and numpy are scanned
for ufuncs. That was 0.2 to 0.3 s of predict's cold start (issue 10), for lists our loader never
uses: :func:`hokusai.models.scorer.deserialize` always passes an explicit ``trusted=`` list. No
lighter entry point exists in skops 0.16: every module holding its ``Node`` classes
(``_general``, ``_numpy``, ``_sklearn``) imports ``_trusted_types`` first.

What: :func:`loads` reads ``schema.json`` of protocol :data:`PROTOCOL` and constructs the objects
with the semantics of skops 0.16's own node classes (``skops/io/_general.py``, ``_numpy.py``,
``_audit.py``), for the node kinds a pipeline of :data:`hokusai.models.scorer.TRUSTED_TYPES` is made
of: ``DictNode``, ``ListNode``, ``TupleNode``, ``SliceNode``, ``JsonNode``, ``TypeNode``,
``NdArrayNode``, ``DTypeNode``, ``ObjectNode`` and ``CachedNode``. Like skops it works in two
passes: the whole tree is read and every type checked against ``trusted`` before anything is
imported or constructed; then objects are built (``cls.__new__`` and ``__setstate__``, never
``__init__``), shared references kept shared. Arrays are read with ``allow_pickle=False``.

Anything else (another protocol, another node kind, a node whose class does not fit its kind)
raises :class:`Unsupported`, and the caller falls back to ``skops.io.loads`` with the same
``trusted`` list: a file this reader declines loads exactly as before, only slower.
``tests/unit/test_model_scorer.py`` checks both readers build identical objects from the shipped
artifact, and that loading it imports neither skops nor the scikit-learn modules it does not use.
"""

from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Callable, Collection
from typing import Any

# skops' persistence protocol whose node semantics this module mirrors (skops/io/_protocol.py,
# PROTOCOL = 2 from skops 0.12 through 0.16). Files of another protocol go to skops itself.
PROTOCOL = 2
# The classes each container kind may name (skops would call any named class; we accept the plain ones).
_CONTAINERS = {
    "DictNode": "builtins.dict",
    "ListNode": "builtins.list",
    "TupleNode": "builtins.tuple",
    "SliceNode": "builtins.slice",
    "DTypeNode": "numpy.dtype",
}


class Unsupported(Exception):
    """This reader does not handle the file (protocol, node kind): use ``skops.io.loads``."""


class Untrusted(Exception):
    """The file names a type outside ``trusted`` (the message lists them)."""


class _Node:
    __slots__ = ("build", "building", "built", "value")

    def __init__(self, build: Callable[[], Any]) -> None:
        self.build = build
        self.value: Any = None
        self.built = False
        self.building = False

    def construct(self) -> Any:
        if not self.built:
            if self.building:  # a reference cycle: skops cannot build one either
                raise Unsupported("a reference cycle in the object graph")
            self.building = True
            self.value = self.build()
            self.built = True
        return self.value


def _import(type_name: str) -> Any:
    module, _, name = type_name.rpartition(".")
    return getattr(importlib.import_module(module), name)


class _Reader:
    def __init__(self, source: zipfile.ZipFile, trusted: Collection[str]) -> None:
        self.source = source
        self.trusted = frozenset(trusted)
        self.memo: dict[Any, _Node] = {}
        self.untrusted: set[str] = set()
        self.kinds: dict[str, Callable[[dict[str, Any], str], Callable[[], Any]]] = {
            "DictNode": self._DictNode,
            "ListNode": self._ListNode,
            "TupleNode": self._TupleNode,
            "SliceNode": self._SliceNode,
            "JsonNode": self._JsonNode,
            "TypeNode": self._TypeNode,
            "NdArrayNode": self._NdArrayNode,
            "DTypeNode": self._DTypeNode,
            "ObjectNode": self._ObjectNode,
            "CachedNode": self._CachedNode,
        }

    def _type(self, state: dict[str, Any]) -> str:
        try:
            name = f"{state['__module__']}.{state['__class__']}"
        except (KeyError, TypeError):
            raise Unsupported("a node without __module__/__class__") from None
        return name

    def _check(self, type_name: str) -> None:
        if type_name not in self.trusted:
            self.untrusted.add(type_name)

    def tree(self, state: Any) -> _Node:
        if not isinstance(state, dict) or "__loader__" not in state:
            raise Unsupported("a node without __loader__")
        saved_id = state.get("__id__")
        if saved_id is not None and saved_id in self.memo:  # skops: get_tree's memo lookup
            return self.memo[saved_id]
        loader = state["__loader__"]
        type_name = self._type(state)
        reader = self.kinds.get(loader) if isinstance(loader, str) else None
        if reader is None:
            raise Unsupported(f"node kind {loader!r}")
        expected = _CONTAINERS.get(loader)
        if expected is not None and type_name != expected:
            raise Unsupported(f"{loader} of {type_name}")
        node = _Node(lambda: None)
        if saved_id and loader != "CachedNode":  # skops' Node.__init__ memoizes before its children
            self.memo[saved_id] = node
        node.build = reader(state, type_name)
        return node

    # --- the node kinds (skops/io/_general.py, _numpy.py, _audit.py at 0.16.0)
    def _DictNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        self._check(type_name)
        key_types = self.tree(state["key_types"])
        content = {key: self.tree(value) for key, value in state["content"].items()}

        def build() -> dict[Any, Any]:
            result: dict[Any, Any] = {}
            for key_type, (key, value) in zip(key_types.construct(), content.items()):  # noqa: B905 - as skops
                result[key_type(key)] = value.construct()
            return result

        return build

    def _ListNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        self._check(type_name)
        items = [self.tree(value) for value in state["content"]]
        return lambda: [item.construct() for item in items]

    def _TupleNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        self._check(type_name)
        items = [self.tree(value) for value in state["content"]]
        return lambda: tuple(item.construct() for item in items)

    def _SliceNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        self._check(type_name)
        content = state["content"]
        start, stop, step = content["start"], content["stop"], content["step"]
        if not all(value is None or type(value) is int for value in (start, stop, step)):
            raise Unsupported("a slice bound that is not an integer")
        return lambda: slice(start, stop, step)

    def _JsonNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        content = state["content"]  # skops trusts a JsonNode whatever its type: it is json.loads
        return lambda: json.loads(content)

    def _TypeNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        self._check(type_name)
        return lambda: _import(type_name)

    def _NdArrayNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        self._check(type_name)
        kind = state.get("type")
        if kind == "numpy":
            buffer = io.BytesIO(self.source.read(state["file"]))

            def build_array() -> Any:
                import numpy as np

                content = np.load(buffer, allow_pickle=False)
                if type_name != "numpy.ndarray":  # a numpy scalar (numpy.float64, ...)
                    content = _import(type_name)(content)
                return content

            return build_array
        if kind == "json":  # object arrays: a list of their items and a shape
            items = [self.tree(item) for item in state["content"]]
            shape = self.tree(state["shape"])

            def build_objects() -> Any:
                import numpy as np

                dimensions = shape.construct()
                values = [item.construct() for item in items]
                if len(dimensions) == 1:
                    content = np.ndarray(shape=len(values), dtype="O")
                    for index, value in enumerate(values):
                        content[index] = value
                    return content
                return np.array(values, dtype="O")

            return build_objects
        raise Unsupported(f"array storage {kind!r}")

    def _DTypeNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        self._check(type_name)
        content = self.tree(state["content"])
        return lambda: content.construct().dtype

    def _ObjectNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        self._check(type_name)
        attrs = self.tree(state["content"]) if state.get("content") is not None else None

        def build() -> Any:
            cls = _import(type_name)
            instance = cls.__new__(cls)  # never __init__, as skops
            if attrs is None:
                return instance
            values = attrs.construct()
            if values is not None:
                if hasattr(instance, "__setstate__"):
                    instance.__setstate__(values)
                else:
                    instance.__dict__.update(values)
            return instance

        return build

    def _CachedNode(self, state: dict[str, Any], type_name: str) -> Callable[[], Any]:
        cached = self.memo.get(state.get("__id__"))
        if cached is None:  # skops raises ValueError for this: let it say so
            raise Unsupported(f"a cached node refers to an unknown object id {state.get('__id__')!r}")
        return cached.construct


def loads(data: bytes, trusted: Collection[str]) -> Any:
    """The object stored in the skops file ``data``. Raises :class:`Untrusted` when the file names a
    type outside ``trusted``, :class:`Unsupported` when ``skops.io.loads`` must read it instead."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read("schema.json"))
        protocol = schema.get("protocol") if isinstance(schema, dict) else None
        if type(protocol) is not int or protocol != PROTOCOL:
            raise Unsupported(f"skops protocol {protocol!r}")
        reader = _Reader(source, trusted)
        try:
            root = reader.tree(schema)
        except (KeyError, TypeError, AttributeError) as error:
            raise Unsupported(f"unexpected schema ({type(error).__name__}: {error})") from None
        if reader.untrusted:  # audited before anything is imported or constructed
            raise Untrusted(f"untrusted types: {', '.join(sorted(reader.untrusted))}")
        return root.construct()
