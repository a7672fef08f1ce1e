"""The lead scorer's ten input features, their types, bounds and documented defaults.

One table serves training (``model/train.py``), request validation (``hokusai.models.schemas``),
``/info`` and the scorer's row layout, so they cannot disagree. Pure Python: no numpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # "integer" | "number" | "boolean" | "string"
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None

    def to_dict(self) -> dict[str, Any]:
        info: dict[str, Any] = {"name": self.name, "type": self.kind, "default": self.default}
        if self.minimum is not None:
            info["minimum"] = self.minimum
        if self.maximum is not None:
            info["maximum"] = self.maximum
        if self.max_length is not None:
            info["max_length"] = self.max_length
        info["description"] = self.description
        return info


# Defaults describe "we know nothing about this lead": the smallest company, no engagement, nothing
# requested, unknown categories (one-hot encoded as all zeros, i.e. no contribution).
FEATURES: tuple[Feature, ...] = (
    Feature("company_size", "integer", 50, "Number of employees", minimum=1, maximum=10_000_000),
    Feature("industry", "string", "Unknown", "Industry, e.g. Technology, Finance, Healthcare", max_length=64),
    Feature("engagement_score", "number", 0.0, "Marketing engagement score, 0-100", minimum=0, maximum=100),
    Feature(
        "website_visits", "integer", 0, "Website visits in the last 30 days", minimum=0, maximum=1_000_000
    ),
    Feature("email_opens", "integer", 0, "Marketing e-mails opened", minimum=0, maximum=1_000_000),
    Feature("content_downloads", "integer", 0, "Content pieces downloaded", minimum=0, maximum=100_000),
    Feature("demo_requested", "boolean", False, "The lead asked for a demo"),
    Feature("budget_confirmed", "boolean", False, "The lead confirmed a budget"),
    Feature("decision_timeline", "string", "Unknown", "Expected decision, e.g. 'Q2 2025'", max_length=32),
    Feature("title", "string", "Unknown", "Job title, e.g. 'VP of Sales'", max_length=128),
)

FEATURE_NAMES: tuple[str, ...] = tuple(feature.name for feature in FEATURES)
NUMERIC_COLUMNS: tuple[int, ...] = tuple(
    i for i, feature in enumerate(FEATURES) if feature.kind in {"integer", "number", "boolean"}
)
CATEGORICAL_COLUMNS: tuple[int, ...] = tuple(
    i for i, feature in enumerate(FEATURES) if feature.kind == "string"
)

# Human-readable factor names for positive contributions (categoricals name their value).
FACTOR_LABELS: dict[str, str] = {
    "company_size": "Large company",
    "engagement_score": "High engagement",
    "website_visits": "Frequent website visits",
    "email_opens": "Opens marketing e-mails",
    "content_downloads": "Downloads content",
    "demo_requested": "Demo requested",
    "budget_confirmed": "Budget confirmed",
}


def row(values: dict[str, Any]) -> list[Any]:
    """One lead as a row in feature order, defaults filled in, booleans as 0/1, numbers as float."""
    out: list[Any] = []
    for feature in FEATURES:
        value = values.get(feature.name)
        if value is None:
            value = feature.default
        if feature.kind == "string":
            out.append(str(value))
        else:
            out.append(float(value))
    return out


def category_key(value: str) -> str:
    """What two spellings of one category share: case and runs of white space do not matter
    (``" technology "``, ``"TECHNOLOGY"`` and ``"Technology"`` are one industry)."""
    return " ".join(value.split()).casefold()


def factor_label(feature_name: str, value: Any) -> str:
    if feature_name in FACTOR_LABELS:
        return FACTOR_LABELS[feature_name]
    readable = feature_name.replace("_", " ").capitalize()
    return f"{readable}: {value}"
