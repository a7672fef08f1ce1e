"""Request and response models of the predict API (pydantic): validation and the OpenAPI document.

Strict types: ``"1000"`` is not a company size and ``"yes"`` is not a boolean; the client gets a 400
listing each field, instead of a silently coerced guess. Numbers are read as JSON means them: an
integer field takes ``6490``, ``6490.0`` and ``6.49e3`` alike (one number; JSON Schema's ``integer`` is
any number whose fractional part is zero) and refuses ``6490.5`` naming the field (``int_from_float``).
Unknown fields are rejected by name (a typo such as ``compnay_size`` would otherwise fall back to a
default without anyone noticing).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from hokusai.models.features import FEATURES

MAX_BATCH = 100

_BY_NAME = {feature.name: feature for feature in FEATURES}


def _integral(value: object) -> object:
    """An integral JSON number written with a fraction or an exponent (``6490.0``, ``6.49e3``: Python's
    json reads both as floats) as the integer it is; anything else is left to the strict ``int``
    check, except a number with a fractional part, refused here with a message that says so."""
    if isinstance(value, float) and math.isfinite(value):
        if value.is_integer():
            return int(value)
        raise PydanticCustomError(
            "int_from_float", "Input should be a valid integer, got a number with a fractional part"
        )
    return value


INTEGER_FIELDS: tuple[str, ...] = tuple(feature.name for feature in FEATURES if feature.kind == "integer")


def _field(name: str) -> object:
    feature = _BY_NAME[name]
    return Field(
        default=None,
        description=f"{feature.description} (default {feature.default!r})",
        ge=feature.minimum,
        le=feature.maximum,
        max_length=feature.max_length,
    )


class Lead(BaseModel):
    """One sales lead. Every field is optional; missing ones take the documented default."""

    model_config = ConfigDict(extra="forbid", strict=True)

    company_size: int | None = _field("company_size")  # type: ignore[assignment]
    industry: str | None = _field("industry")  # type: ignore[assignment]
    engagement_score: float | None = _field("engagement_score")  # type: ignore[assignment]
    website_visits: int | None = _field("website_visits")  # type: ignore[assignment]
    email_opens: int | None = _field("email_opens")  # type: ignore[assignment]
    content_downloads: int | None = _field("content_downloads")  # type: ignore[assignment]
    demo_requested: bool | None = _field("demo_requested")  # type: ignore[assignment]
    budget_confirmed: bool | None = _field("budget_confirmed")  # type: ignore[assignment]
    decision_timeline: str | None = _field("decision_timeline")  # type: ignore[assignment]
    title: str | None = _field("title")  # type: ignore[assignment]

    # JSON's integers (see the module's docstring); the schema stays "integer".
    _integral_numbers = field_validator(*INTEGER_FIELDS, mode="before")(_integral)


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    inputs: Lead | list[Lead] = Field(
        description=f"One lead, or a batch of 1 to {MAX_BATCH} leads (answered as a list, in order)"
    )


class PredictionOut(BaseModel):
    lead_score: int = Field(ge=0, le=100)
    conversion_probability: float = Field(ge=0, le=1)
    recommendation: Literal["Hot", "Warm", "Cold"]
    factors: list[str]
    confidence: float = Field(ge=0.5, le=1)
    # Added after the seed: present only when there is something to say (old clients see no change).
    warnings: list[str] | None = Field(
        default=None,
        description="Inputs the model could not use as sent, e.g. 'industry: unknown category ...'",
        exclude_if=lambda value: not value,
    )


class PredictionMetadata(BaseModel):
    api_version: str
    inference_method: str
    user_id: str
    api_key_id: str
    model_version: str


class PredictResponse(BaseModel):
    model_id: str
    predictions: PredictionOut | list[PredictionOut]
    metadata: PredictionMetadata
    timestamp: str


class FeatureInfo(BaseModel):
    name: str
    type: str
    default: int | float | bool | str
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    description: str


class ModelInfo(BaseModel):
    model_id: str
    name: str
    version: str
    repo_id: str
    revision: str
    filename: str
    sha256: str
    format: str
    features: list[FeatureInfo]
    loaded_from: str | None = Field(description="Layer the artifact came from (memory cache after that)")


class ModelHealth(BaseModel):
    """``GET /v1/models/{model_id}/health``: is this model loaded in this container, and which one."""

    model_id: str
    status: Literal["loaded", "not_loaded"]
    loaded_from: str | None = Field(
        description="Cache the artifact came from (efs, s3, hub); None: not loaded"
    )
    version: str
    revision: str = Field(description="Pinned Hub revision (commit sha) of the artifact")
    sha256: str


class ModelSummary(BaseModel):
    model_id: str
    name: str
    version: str


class ModelList(BaseModel):
    models: list[ModelSummary]


class ErrorBody(BaseModel):
    detail: str
    request_id: str
    errors: list[dict[str, object]] | None = None


def validation_errors(raw_errors: Sequence[Any], batch: bool) -> list[dict[str, Any]]:
    """pydantic's errors as a field-by-field list a client can act on.

    ``inputs`` is a union (one lead or a list), so pydantic reports both branches; keep the branch the
    client actually sent and drop the branch names from the field paths (``inputs.0.company_size``).
    """
    errors: list[dict[str, Any]] = []
    for item in raw_errors:
        location = [str(part) for part in item.get("loc", ()) if part != "body"]
        in_list_branch = any(part.startswith("list[") for part in location)
        in_lead_branch = "Lead" in location and not in_list_branch
        if (batch and in_lead_branch) or (not batch and in_list_branch):
            continue
        field = ".".join(part for part in location if part != "Lead" and not part.startswith("list["))
        errors.append({"field": field, "message": item.get("msg"), "type": item.get("type")})
    return errors
