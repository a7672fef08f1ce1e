"""The predict function's core: which model, loaded from where, scored how. Handler-free and testable.

Models are loaded once per container (at init when possible) and kept in memory; a failed load is
remembered for a few seconds so a broken cache or Hub is not hammered by every request, and then
retried, so the function heals without a cold start.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hokusai import snapstart
from hokusai.config import PredictSettings
from hokusai.models.artifacts import (
    ArtifactChain,
    ArtifactSource,
    Attempt,
    EfsSource,
    ModelUnavailableError,
    S3Source,
)
from hokusai.models.registry import ModelSpec
from hokusai.tracing import tracer

API_VERSION = "1.0"
INFERENCE_METHOD = "local"
FAILURE_RETRY_SECONDS = 5.0


class ModelNotFoundError(LookupError):
    pass


class ModelService:
    def __init__(
        self,
        registry: dict[str, ModelSpec],
        chain: ArtifactChain,
        allow_pickle: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.chain = chain
        self.allow_pickle = allow_pickle
        self._clock = clock
        self._scorers: dict[str, Any] = {}
        self._failures: dict[str, tuple[float, Exception]] = {}
        self._lock = threading.Lock()
        _services.add(self)

    def spec(self, model_id: str) -> ModelSpec:
        spec = self.registry.get(model_id)
        if spec is None:
            raise ModelNotFoundError(model_id)
        return spec

    def scorer(self, model_id: str) -> Any:
        """The loaded LeadScorer; raises ModelNotFoundError, ModelUnavailableError or UntrustedModelError."""
        return self._load(model_id, self.chain, remember_failure=True)

    def _load(self, model_id: str, chain: ArtifactChain, remember_failure: bool) -> Any:
        spec = self.spec(model_id)
        scorer = self._scorers.get(model_id)
        if scorer is not None:
            return scorer
        with self._lock:
            scorer = self._scorers.get(model_id)
            if scorer is not None:
                return scorer
            failure = self._failures.get(model_id)
            if failure is not None and self._clock() - failure[0] < FAILURE_RETRY_SECONDS:
                raise failure[1]
            try:
                scorer = self._build(spec, chain)
            except Exception as error:
                if remember_failure:
                    self._failures[model_id] = (self._clock(), error)
                raise
            self._failures.pop(model_id, None)
            self._scorers[model_id] = scorer
            return scorer

    def _build(self, spec: ModelSpec, chain: ArtifactChain) -> Any:
        """The model's ONNX twin when the registry pins one (numpy + onnxruntime, no scikit-learn),
        else its skops file; either through the same chain and sha256 check."""
        reader = "onnx twin" if spec.has_twin else spec.format
        with tracer.span("model.load", **{"model.id": spec.model_id, "model.reader": reader}) as span:
            if spec.has_twin:
                from hokusai.models.twin_scorer import build_twin_scorer

                result = chain.load(spec.twin())
                span.set_attribute("model.source", result.source)
                return build_twin_scorer(result.data, spec, result.source)
            from hokusai.models.scorer import build_scorer

            result = chain.load(spec)
            span.set_attribute("model.source", result.source)
            return build_scorer(result.data, spec, result.source, self.allow_pickle)

    def forget_failures(self) -> None:
        """Retry every failed load on its next request (SnapStart restore: a failure remembered at
        snapshot time is on the snapshot's monotonic clock, and was the publish's, not this copy's).
        Loaded models are kept: serving them from the snapshot is the point."""
        with self._lock:
            self._failures.clear()

    def loaded_from(self, model_id: str) -> str | None:
        scorer = self._scorers.get(model_id)
        return None if scorer is None else str(scorer.loaded_from)

    def preload(self, chain: ArtifactChain | None = None) -> dict[str, str]:
        """Load every registered model now (init phase); returns model id -> outcome, never raises.

        ``chain`` lets the init phase use the cache layers only: Lambda gives init 10 s, and a silent
        Hub behind a 10 s download deadline would time the whole init out. A miss there is not
        remembered as a failure; the first request then walks the full chain (Hub included).
        """
        outcomes: dict[str, str] = {}
        for model_id in self.registry:
            try:
                scorer = self._load(model_id, chain or self.chain, remember_failure=chain is None)
                outcomes[model_id] = f"loaded from {scorer.loaded_from}"
            except Exception as error:
                outcomes[model_id] = f"failed: {error}"
        return outcomes

    def predict(self, model_id: str, leads: list[dict[str, Any]], caller: dict[str, str]) -> dict[str, Any]:
        scorer = self.scorer(model_id)
        with tracer.span("model.predict", **{"model.id": model_id, "model.leads": len(leads)}):
            predictions = [prediction.to_dict() for prediction in scorer.predict(leads)]
        return {
            "model_id": model_id,
            "predictions": predictions,
            "metadata": {
                "api_version": API_VERSION,
                "inference_method": INFERENCE_METHOD,
                "user_id": caller.get("user_id", ""),
                "api_key_id": caller.get("key_id", ""),
                "model_version": scorer.spec.version,
            },
            # The seed's format: ISO 8601, UTC, no offset.
            "timestamp": datetime.now(UTC).replace(tzinfo=None).isoformat(),
        }


_services: weakref.WeakSet[ModelService] = weakref.WeakSet()


def _forget_failures() -> None:
    for service in list(_services):
        service.forget_failures()


snapstart.on_restore("models.failures", _forget_failures)


def allowed_models(scopes: str | None) -> set[str]:
    """The authorizer's ``scopes`` context: comma-separated model ids, or ``*``."""
    if not scopes:
        return set()
    return {scope.strip() for scope in scopes.split(",") if scope.strip()}


def is_allowed(model_id: str, scopes: str | None) -> bool:
    allowed = allowed_models(scopes)
    return "*" in allowed or model_id in allowed


def build_chain(
    settings: PredictSettings,
    s3_client: Any | None,
    secrets_client_factory: Callable[[], Any] | None,
    on_attempt: Callable[[ModelSpec, Attempt], None] | None = None,
    include_hub: bool = True,
) -> ArtifactChain:
    """The loader chain: EFS, then S3, then (only when ``MODEL_HUB_FALLBACK`` is on) the Hub.

    ``include_hub=False`` keeps the Hub out even when the fallback is on (the init-phase preload).
    """
    sources: list[ArtifactSource] = []
    if settings.model_cache_dir:
        sources.append(EfsSource(settings.model_cache_dir))
    if settings.model_bucket and s3_client is not None:
        sources.append(S3Source(s3_client, settings.model_bucket, settings.model_bucket_prefix))
    if include_hub and settings.hub_fallback:
        from hokusai.models.hub import HubSource, secrets_manager_token

        lazy_client: dict[str, Any] = {}

        def token() -> str:
            if "provider" not in lazy_client:
                client = (
                    secrets_client_factory()
                    if secrets_client_factory and settings.hf_token_secret_arn
                    else None
                )
                lazy_client["provider"] = secrets_manager_token(client, settings.hf_token_secret_arn)
            provider: Callable[[], str] = lazy_client["provider"]
            return provider()

        sources.append(
            HubSource(
                token,
                cache_dir=f"{settings.hf_home.rstrip('/')}/hub",
                endpoint=settings.hf_endpoint,
                timeout_seconds=settings.hf_download_timeout_ms / 1000,
            )
        )
    return ArtifactChain(sources, on_attempt=on_attempt)


__all__ = [
    "API_VERSION",
    "ModelNotFoundError",
    "ModelService",
    "ModelUnavailableError",
    "allowed_models",
    "build_chain",
    "is_allowed",
]
