"""The model registry: which artifact, at which pinned revision and checksum, serves a model id.

Light on purpose (no numpy/sklearn): health imports it to check that an artifact is reachable.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from hokusai.environment import ConfigError

VARIABLE = "MODEL_REGISTRY"
SUPPORTED_FORMATS = ("skops", "pickle")
# A model's verified ONNX twin (hokusai.models.twin): served instead of the skops file when pinned.
TWIN_FORMAT = "onnx"
TWIN_FIELDS = ("twin_filename", "twin_sha256")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
DEFAULT_S3_PREFIX = "models/"


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    name: str
    repo_id: str  # HuggingFace repository, e.g. "hokusai/lead-scorer"
    revision: str  # pinned commit sha (40 hex): never a branch, so a push to the Hub changes nothing
    filename: str
    sha256: str  # of the artifact bytes; every cached copy is checked against it before use
    version: str
    format: str = "skops"
    # The ONNX twin beside the artifact (same repo, revision and caches), pinned by its own sha256;
    # None for a model published without one (it is served from ``filename``).
    twin_filename: str | None = None
    twin_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    @property
    def has_twin(self) -> bool:
        return self.twin_filename is not None and self.twin_sha256 is not None

    def twin(self) -> ModelSpec:
        """The twin as an artifact of its own: what the loader chain fetches and checks."""
        if self.twin_filename is None or self.twin_sha256 is None:
            raise ValueError(f"model {self.model_id} has no ONNX twin")
        return replace(
            self,
            filename=self.twin_filename,
            sha256=self.twin_sha256,
            format=TWIN_FORMAT,
            twin_filename=None,
            twin_sha256=None,
        )


REQUIRED_FIELDS = ("repo_id", "revision", "filename", "sha256", "version")


def _spec(model_id: str, entry: Any, variable: str) -> ModelSpec:
    if not isinstance(entry, dict):
        raise ConfigError(variable, f"an object for model {model_id!r}", type(entry).__name__)
    missing = [
        name for name in REQUIRED_FIELDS if not isinstance(entry.get(name), str) or not entry.get(name)
    ]
    if missing:
        raise ConfigError(variable, f"model {model_id!r} to have string fields {', '.join(missing)}")
    if not _SAFE_NAME.fullmatch(model_id):
        raise ConfigError(variable, "model ids made of letters, digits, '.', '_' or '-'", model_id)
    if not _REPO_ID.fullmatch(entry["repo_id"]):
        raise ConfigError(variable, f"model {model_id!r} repo_id as 'owner/name'", entry["repo_id"])
    if not _COMMIT.fullmatch(entry["revision"]):
        raise ConfigError(
            variable, f"model {model_id!r} revision pinned to a 40-hex commit sha", entry["revision"]
        )
    if not _SHA256.fullmatch(entry["sha256"]):
        raise ConfigError(variable, f"model {model_id!r} sha256 as 64 lowercase hex digits", entry["sha256"])
    if not _SAFE_NAME.fullmatch(entry["filename"]):
        raise ConfigError(variable, f"model {model_id!r} filename without a path", entry["filename"])
    model_format = entry.get("format", "skops")
    if model_format not in SUPPORTED_FORMATS:
        raise ConfigError(
            variable, f"model {model_id!r} format one of {', '.join(SUPPORTED_FORMATS)}", model_format
        )
    twin = [entry.get(name) for name in TWIN_FIELDS]
    if any(value is not None for value in twin):
        if not all(isinstance(value, str) for value in twin):
            raise ConfigError(variable, f"model {model_id!r} twin_filename and twin_sha256 together")
        if not _SAFE_NAME.fullmatch(entry["twin_filename"]) or entry["twin_filename"] == entry["filename"]:
            raise ConfigError(
                variable,
                f"model {model_id!r} twin_filename without a path, beside filename",
                entry["twin_filename"],
            )
        if not _SHA256.fullmatch(entry["twin_sha256"]):
            raise ConfigError(
                variable, f"model {model_id!r} twin_sha256 as 64 lowercase hex digits", entry["twin_sha256"]
            )
    return ModelSpec(
        model_id=model_id,
        name=str(entry.get("name") or model_id),
        repo_id=entry["repo_id"],
        revision=entry["revision"],
        filename=entry["filename"],
        sha256=entry["sha256"],
        version=entry["version"],
        format=model_format,
        twin_filename=entry.get("twin_filename"),
        twin_sha256=entry.get("twin_sha256"),
    )


def parse_registry(raw: str | dict[str, Any], variable: str = VARIABLE) -> dict[str, ModelSpec]:
    """Parse and validate the registry JSON; raises ConfigError naming ``variable``."""
    if isinstance(raw, str):
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as error:
            raise ConfigError(variable, f"valid JSON ({error.msg} at position {error.pos})") from None
    else:
        document = raw
    if not isinstance(document, dict) or not document:
        raise ConfigError(variable, "a non-empty JSON object mapping model ids to models")
    return {str(model_id): _spec(str(model_id), entry, variable) for model_id, entry in document.items()}


def s3_key(spec: ModelSpec, prefix: str | None = None) -> str:
    base = prefix if prefix is not None else DEFAULT_S3_PREFIX
    if base and not base.endswith("/"):
        base += "/"
    return f"{base}{spec.model_id}/{spec.revision}/{spec.filename}"


def efs_path(spec: ModelSpec, root: str) -> str:
    return f"{root.rstrip('/')}/{spec.model_id}/{spec.revision}/{spec.filename}"
