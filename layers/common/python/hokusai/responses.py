"""The API functions' JSON answers, one shape: a body, a status, ``Content-Type: application/json``.

Errors carry ``{"detail": <what to do>, "request_id": <this request's id>}`` (the gateway's own
errors have the same shape, ``hokusai.api_contract.GATEWAY_RESPONSES``), so a client parses every
failure the same way whichever part of the stack answered.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

from hokusai import request_id
from hokusai.api_contract import JSON_CONTENT_TYPE


def json_answer(status_code: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=status_code,
        content_type=JSON_CONTENT_TYPE,
        body=json.dumps(body),
        headers=dict(headers or {}),
    )


def json_error(status_code: int, detail: str, **extra: Any) -> Response[str]:
    """The error shape: what to do, this request's id, and any field the route adds."""
    return json_answer(status_code, {"detail": detail, "request_id": request_id.current(), **extra})


# A 503 from a function is always "retry later" (a model still loading, a dependency failing, a bad
# configuration being fixed): it says when, as the gateway's own 503s and 429s do (api_contract).
RETRY_AFTER_SECONDS = 5
RETRY_AFTER = "Retry-After"


def with_retry_after(answer: dict[str, Any]) -> dict[str, Any]:
    """A Lambda proxy answer with ``Retry-After`` on a 503 that did not set its own (docs/openapi.json
    declares it on every 503)."""
    if answer.get("statusCode") != 503:
        return answer
    headers = answer.setdefault("headers", {})
    multi = answer.get("multiValueHeaders") or {}
    if not any(name.lower() == RETRY_AFTER.lower() for name in (*headers, *multi)):
        headers[RETRY_AFTER] = str(RETRY_AFTER_SECONDS)
        if "multiValueHeaders" in answer:
            answer["multiValueHeaders"][RETRY_AFTER] = [str(RETRY_AFTER_SECONDS)]
    return answer
