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
