"""Turn artifact bytes into a scorer, and a lead into the seed API's prediction shape.

Imports numpy and scikit-learn (skops only for a file our own reader declines): only the predict
function (and ``hokusai models``) load this.

Trust: no type we have not listed is ever constructed. The list is explicit (the types a scaler +
one-hot + logistic-regression pipeline is made of); a file that names any other type is refused with
the offending type names, whatever skops would trust by default. Skops files are read by
``hokusai.models.skops_format`` (the same object graph, without the start-up cost of
``import skops.io``), and by ``skops.io`` with the same list when that reader declines one. Pickle and
joblib run arbitrary code on load, so they are only accepted when ``ALLOW_PICKLE`` is set.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from hokusai.models import scipy_docs, skops_format
from hokusai.models.features import (
    CATEGORICAL_COLUMNS,
    FEATURE_NAMES,
    FEATURES,
    category_key,
    factor_label,
    row,
)
from hokusai.models.registry import ModelSpec

TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "builtins.dict",
        "builtins.list",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "builtins.int",
        "builtins.float",
        "builtins.bool",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
        "numpy.ndarray",
        "sklearn.compose._column_transformer.ColumnTransformer",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.preprocessing._encoders.OneHotEncoder",
        "sklearn.utils._bunch.Bunch",
    }
)

# Recommendation thresholds on lead_score (0-100), documented in docs/models.md.
HOT_THRESHOLD = 70
WARM_THRESHOLD = 40
MAX_FACTORS = 3


class UntrustedModelError(Exception):
    """The artifact names types outside the trusted list, or uses a format that is not allowed."""


def types_in_skops(data: bytes) -> set[str]:
    try:
        schema = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as error:
        raise UntrustedModelError(f"not a skops file ({type(error).__name__})") from None
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return found


def deserialize(data: bytes, model_format: str, allow_pickle: bool) -> Any:
    if model_format == "skops":
        found = types_in_skops(data)
        untrusted = sorted(found - TRUSTED_TYPES)
        if untrusted:
            raise UntrustedModelError(f"model file contains untrusted types: {', '.join(untrusted)}")
        # Our own reader first: `import skops.io` costs 0.2-0.3 s of cold start building
        # default trust lists we never use (hokusai.models.skops_format explains). A file it
        # declines is read by skops itself, with the same explicit list.
        # Constructing it imports scikit-learn, hence scipy.stats: hokusai.models.scipy_docs.
        with scipy_docs.capability_notes_skipped():
            try:
                return skops_format.loads(data, trusted=found)
            except skops_format.Untrusted as error:
                raise UntrustedModelError(f"model file contains {error}") from None
            except skops_format.Unsupported as reason:
                logging.getLogger(__name__).warning(
                    "skops file read by skops.io (slower cold start): %s", reason
                )
            import skops.io

            return skops.io.loads(data, trusted=sorted(found))
    if model_format == "pickle":
        if not allow_pickle:
            raise UntrustedModelError(
                "pickle models run code when loaded; set ALLOW_PICKLE=true to accept them"
            )
        import pickle

        return pickle.loads(data)  # noqa: S301 - explicit operator opt-in above
    raise UntrustedModelError(f"unsupported model format {model_format!r}")


@dataclass(frozen=True)
class Prediction:
    lead_score: int
    conversion_probability: float
    recommendation: str
    factors: list[str]
    confidence: float
    warnings: tuple[str, ...] = ()  # e.g. a category the model does not know; absent when none

    def to_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "lead_score": self.lead_score,
            "conversion_probability": self.conversion_probability,
            "recommendation": self.recommendation,
            "factors": self.factors,
            "confidence": self.confidence,
        }
        if self.warnings:
            answer["warnings"] = list(self.warnings)
        return answer


def recommendation(lead_score: int) -> str:
    if lead_score >= HOT_THRESHOLD:
        return "Hot"
    if lead_score >= WARM_THRESHOLD:
        return "Warm"
    return "Cold"


class ExplainedScorer:
    """What every reader of a lead scorer shares: the categories' spellings, the per-feature
    attribution (transformed value x coefficient, summed per input feature), the rounding and the
    answer's shape. A subclass says how a lead matrix becomes (transformed features, probabilities):
    :class:`LeadScorer` with the scikit-learn pipeline, ``hokusai.models.twin_scorer.TwinScorer``
    with its verified ONNX twin."""

    def __init__(
        self,
        spec: ModelSpec,
        loaded_from: str,
        coefficients: Any,
        column_owner: list[int],
        categories: dict[str, dict[str, str]],
    ) -> None:
        self.spec = spec
        self.loaded_from = loaded_from
        self._coefficients = np.asarray(coefficients, dtype=float)
        self._column_owner = column_owner
        self._categories = categories

    def transform(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(transformed features as float64, probability of the positive class) for ``matrix``."""
        raise NotImplementedError

    def canonical(self, lead: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
        """``lead`` with each categorical value in the model's spelling, and a warning per value the
        model does not know (it contributes nothing to the score)."""
        canonical = dict(lead)
        warnings: list[str] = []
        for name, categories in self._categories.items():
            value = lead.get(name)
            if not isinstance(value, str):
                continue
            default = str(FEATURES[FEATURE_NAMES.index(name)].default)
            key = category_key(value)
            if key in categories:
                canonical[name] = categories[key]
            elif key == category_key(default):
                canonical[name] = default
            else:
                known = ", ".join(sorted(categories.values()))
                warnings.append(
                    f"{name}: unknown category {value[:64]!r}, it contributes nothing to the score "
                    f"(known: {known})"
                )
        return canonical, tuple(warnings)

    def predict(self, leads: list[dict[str, Any]]) -> list[Prediction]:
        checked = [self.canonical(lead) for lead in leads]
        matrix = np.array([row(lead) for lead, _ in checked], dtype=object)
        transformed, probabilities = self.transform(matrix)
        contributions = transformed * self._coefficients
        per_feature = np.zeros((len(leads), len(FEATURES)))
        for output_column, owner in enumerate(self._column_owner):
            per_feature[:, owner] += contributions[:, output_column]
        results = []
        for index, probability in enumerate(probabilities):
            p = float(probability)
            lead_score = round(p * 100)
            results.append(
                Prediction(
                    lead_score=lead_score,
                    conversion_probability=round(p, 4),
                    recommendation=recommendation(lead_score),
                    factors=self._factors(per_feature[index], matrix[index]),
                    confidence=round(max(p, 1 - p), 4),
                    warnings=checked[index][1],
                )
            )
        return results

    @staticmethod
    def _factors(contributions: np.ndarray, values: np.ndarray) -> list[str]:
        """The features that pushed this lead's score up the most, strongest first."""
        order = np.argsort(-contributions)
        factors = []
        for feature_index in order[:MAX_FACTORS]:
            if contributions[feature_index] <= 0:
                break
            value = values[feature_index]
            if feature_index in CATEGORICAL_COLUMNS and str(value) == FEATURES[feature_index].default:
                continue
            factors.append(factor_label(FEATURE_NAMES[feature_index], value))
        return factors


class LeadScorer(ExplainedScorer):
    """A fitted Pipeline(ColumnTransformer, LogisticRegression) and the per-feature attribution."""

    def __init__(self, pipeline: Any, spec: ModelSpec, loaded_from: str) -> None:
        self.pipeline = pipeline
        self._transformer = pipeline[:-1]
        classifier = pipeline[-1]
        if not hasattr(classifier, "coef_"):
            raise UntrustedModelError("the classifier exposes no coefficients to explain its scores")
        self._classifier = classifier
        super().__init__(
            spec,
            loaded_from,
            coefficients=classifier.coef_[0],
            column_owner=self._map_output_columns(pipeline[0]),
            categories=self._known_categories(pipeline[0]),
        )

    def transform(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Transform once and feed the classifier directly: the same numbers as
        # pipeline.predict_proba, without running the ColumnTransformer a second time for factors.
        transformed = np.asarray(self._transformer.transform(matrix), dtype=float)
        return transformed, self._classifier.predict_proba(transformed)[:, 1]

    @staticmethod
    def _known_categories(column_transformer: Any) -> dict[str, dict[str, str]]:
        """Per categorical feature, the model's categories by :func:`category_key`."""
        known: dict[str, dict[str, str]] = {}
        for _, transformer, columns in column_transformer.transformers_:
            if hasattr(transformer, "categories_"):
                for column, categories in zip(columns, transformer.categories_, strict=True):
                    known[FEATURE_NAMES[column]] = {category_key(str(c)): str(c) for c in categories}
        return known

    @staticmethod
    def _map_output_columns(column_transformer: Any) -> list[int]:
        """For each transformed column, the index of the input feature it came from."""
        owners: list[int] = []
        for name, transformer, columns in column_transformer.transformers_:
            if name == "remainder" and transformer == "drop":
                continue
            width = (
                column_transformer.output_indices_[name].stop - column_transformer.output_indices_[name].start
            )
            if hasattr(transformer, "categories_"):
                for column, categories in zip(columns, transformer.categories_, strict=True):
                    owners.extend([column] * len(categories))
            else:
                owners.extend(list(columns)[:width])
        return owners

    def explanation(self) -> dict[str, Any]:
        """What a twin needs besides its graph to answer as this scorer does (its metadata)."""
        return {
            "coefficients": [float(c) for c in self._coefficients],
            "column_owner": list(self._column_owner),
            # Pairs, in the model's column order: the warnings come in that order.
            "categories": [[name, list(c.values())] for name, c in self._categories.items()],
        }


def build_scorer(data: bytes, spec: ModelSpec, loaded_from: str, allow_pickle: bool) -> LeadScorer:
    return LeadScorer(deserialize(data, spec.format, allow_pickle), spec, loaded_from)
