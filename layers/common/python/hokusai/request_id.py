"""One request id per request, end to end: the answer's ``X-Request-ID``, the body's ``request_id``
and the ``correlation_id`` of every log line the request writes.

The client's ``X-Request-ID`` is used when it is safe to log and to put back in a header (1-128
characters of ``A-Za-z0-9._:/+=-``); otherwise the gateway's request id (``requestContext.requestId``,
the id API Gateway also puts in its own error bodies and access log) replaces it, and the client's
original value is logged as ``client_request_id`` (bounded, JSON-escaped by the logger) so the two can
still be matched. Standard library only: every handler imports it.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HEADER = "X-Request-ID"
SAFE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
MAX_LOGGED_CLIENT_VALUE = 256  # characters of an unsafe client value kept in the log


@dataclass(frozen=True)
class RequestId:
    value: str
    client_value: str | None = None  # set only when the client's X-Request-ID was replaced


_current: contextvars.ContextVar[RequestId | None] = contextvars.ContextVar("request_id", default=None)


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A request header by name, case-insensitively (API Gateway keeps the client's spelling)."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if str(key).lower() == wanted:
            return None if value is None else str(value)
    return None


def from_event(event: Mapping[str, Any], context: Any = None) -> RequestId:
    """The request id for a REST API proxy event (``context``: the Lambda context, a last resort)."""
    sent = header(event.get("headers"), HEADER)
    if sent is not None and SAFE.fullmatch(sent):
        return RequestId(sent)
    gateway = str((event.get("requestContext") or {}).get("requestId") or "")
    if not gateway:
        gateway = str(getattr(context, "aws_request_id", "") or "")
    return RequestId(gateway, None if sent is None else sent[:MAX_LOGGED_CLIENT_VALUE])


def bind(request_id: RequestId, logger: Any) -> None:
    """Make ``request_id`` this request's: :func:`current`, and every log line's correlation id."""
    _current.set(request_id)
    logger.set_correlation_id(request_id.value)
    if request_id.client_value is not None:
        logger.append_keys(client_request_id=request_id.client_value)


def unbind(logger: Any) -> None:
    _current.set(None)
    logger.remove_keys(["client_request_id"])


def current() -> str:
    """The id of the request being handled ('' outside a request)."""
    bound = _current.get()
    return bound.value if bound is not None else ""


def stamp(answer: dict[str, Any], request_id: RequestId) -> dict[str, Any]:
    """Put ``X-Request-ID`` on a Lambda proxy answer (both header maps when it has both)."""
    answer.setdefault("headers", {})[HEADER] = request_id.value
    if "multiValueHeaders" in answer:
        answer["multiValueHeaders"][HEADER] = [request_id.value]
    return answer
