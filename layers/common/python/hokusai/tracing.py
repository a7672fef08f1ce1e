"""Tracing through the OpenTelemetry API, or not at all: one setting, ``HOKUSAI_TRACING``.

Why not Powertools' Tracer: it wraps the AWS X-Ray SDK for Python, which reaches end of support on
2027-02-25 (maintenance mode since 2026-02-25; AWS recommends OpenTelemetry), and it costs every
function its cold start even when tracing is off (``Tracer()`` imports ``aws_xray_sdk.core``; with
tracing on ``patch_all()`` imports botocore at init). Measured side by side in bench/tracing.py and
``make verify``; the choice and its reasons are in docs/operations.md ("Tracing").

Our code is written against the OpenTelemetry *API* only (``opentelemetry-api``, in the common layer,
about 0.2 MB). Where the deployment turns tracing on (context ``tracing``, stacks/function.py), the
function gets ``HOKUSAI_TRACING=true`` and Lambda's active tracing; the SDK and exporter are supplied by
the deployment (AWS's OpenTelemetry Lambda layer, context ``tracingLayerArn``), which also instruments
botocore (DynamoDB, S3, Secrets Manager spans) and redis. Without an SDK the API's tracer is a no-op:
the emulator needs no collector. With ``HOKUSAI_TRACING=false`` (the default, and the revocation and
canary-key functions always) nothing here imports any tracing package at all.

What a trace carries, as before: one span per invocation (``capture_lambda_handler``) with the cold
start (``faas.coldstart``), Lambda's request id (``faas.invocation_id``) and API Gateway's
(``aws.api_gateway.request_id``); a span per decorated method; the model load and prediction spans
(``hokusai.models.service``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from hokusai import environment

F = TypeVar("F", bound=Callable[..., Any])
VARIABLE = "HOKUSAI_TRACING"
INSTRUMENTATION = "hokusai"


class _NoSpan:
    """What :meth:`Tracing.span` yields when tracing is off: accepts everything, records nothing."""

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def record_exception(self, exception: BaseException) -> None:
        return None


NO_SPAN = _NoSpan()


class Tracing:
    """Spans through the OpenTelemetry API when ``enabled``; plain calls otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.cold_start = True
        self._tracer: Any = None
        if enabled:  # imported now, in the init phase, not on the first request
            from opentelemetry import trace

            self._trace = trace
            self._tracer = trace.get_tracer(INSTRUMENTATION)

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Any]:
        if self._tracer is None:
            yield NO_SPAN
            return
        clean = {key: value for key, value in attributes.items() if value is not None}
        with self._tracer.start_as_current_span(name, attributes=clean) as span:
            yield span

    def capture_method(self, function: F) -> F:
        if not self.enabled:
            return function

        @functools.wraps(function)
        def traced(*args: Any, **kwargs: Any) -> Any:
            with self.span(function.__qualname__):
                return function(*args, **kwargs)

        return traced  # type: ignore[return-value]

    def capture_lambda_handler(self, function: F | None = None, *, capture_response: bool = False) -> Any:
        """The invocation's span. ``capture_response`` is accepted for Powertools' signature and
        ignored: a response is never put in a trace (a policy names the caller's scopes)."""
        if function is None:
            return functools.partial(self.capture_lambda_handler, capture_response=capture_response)
        if not self.enabled:
            return function

        @functools.wraps(function)
        def traced(event: Any, context: Any) -> Any:
            cold, self.cold_start = self.cold_start, False
            request_context = event.get("requestContext") if isinstance(event, dict) else None
            with self.span(
                f"{getattr(context, 'function_name', 'handler')}.handler",
                **{
                    "faas.coldstart": cold,
                    "faas.invocation_id": getattr(context, "aws_request_id", None),
                    "aws.api_gateway.request_id": (request_context or {}).get("requestId"),
                },
            ):
                try:
                    return function(event, context)
                finally:
                    self.flush()

        return traced

    def flush(self) -> None:
        """Export what this invocation recorded before Lambda freezes the process (an SDK provider
        has ``force_flush``; the API's default provider records nothing and has none)."""
        provider = self._trace.get_tracer_provider()
        flush = getattr(provider, "force_flush", None)
        if flush is not None:
            flush(1000)

    def reset_cold_start(self) -> None:
        self.cold_start = True


tracer = Tracing(bool(environment.read(VARIABLE)))
