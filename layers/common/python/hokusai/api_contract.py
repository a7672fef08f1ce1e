"""The public API's shape, declared once: routes, the request bodies the gateway validates and
gateway responses.

The CDK service stack builds the RestApi from these tables and the local API Gateway emulator
(``local/``) serves the same tables, so the two cannot drift apart. Paths are relative to the stage
(``api``): a client's base URL ``https://<id>.execute-api.<region>.amazonaws.com/api`` keeps the old
paths (``/api/v1/models/21/predict``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

STAGE_NAME = "api"
# The custom domain's base path mapping (``https://<domainName>/api/...`` -> the stage), declared once:
# the CDK stack maps it and the functions strip it. Through a base path mapping API Gateway keeps it
# in the Lambda proxy event's ``path`` (``/api/v1/models/21/predict``, while ``resource`` is
# ``/v1/models/{model_id}/predict``); Powertools' resolvers route on ``path``, so they are given
# ``STRIP_PREFIXES``, which removes it only as a whole leading segment (``/api`` or ``/api/...``).
CUSTOM_DOMAIN_BASE_PATH = STAGE_NAME
STRIP_PREFIXES: tuple[str, ...] = (f"/{CUSTOM_DOMAIN_BASE_PATH}",)
JSON_CONTENT_TYPE = "application/json"
JSON_SCHEMA_DRAFT4 = "http://json-schema.org/draft-04/schema#"


@dataclass(frozen=True)
class RequestModel:
    """A request body the gateway validates (REST API model + request validator) before the function
    runs; a body that fails it gets the BAD_REQUEST_BODY gateway response. The schema is JSON Schema
    draft-04, in the keywords API Gateway applies (the emulator refuses any other)."""

    name: str  # the API Gateway model's name
    schema: dict[str, Any] = field(hash=False)
    content_type: str = JSON_CONTENT_TYPE


# Only the envelope: the predict function checks the leads themselves (types, ranges, batch size) and
# answers those with its own messages.
PREDICT_REQUEST = RequestModel(
    "PredictRequest",
    {
        "$schema": JSON_SCHEMA_DRAFT4,
        "title": "PredictRequest",
        "type": "object",
        "required": ["inputs"],
        "properties": {"inputs": {"type": ["object", "array"]}},
    },
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource path, with {param} segments
    function: str  # functions/<function>/handler.py
    authorized: bool
    body: RequestModel | None = None  # validated by the gateway when set


ROUTES: tuple[Route, ...] = (
    Route("GET", "/health", "health", authorized=False),
    Route("GET", "/v1/openapi.json", "predict", authorized=False),
    Route("GET", "/v1/models", "predict", authorized=True),
    Route("GET", "/v1/models/{model_id}/info", "predict", authorized=True),
    # The seed served it: is this model loaded, from which cache, at which version and revision.
    Route("GET", "/v1/models/{model_id}/health", "predict", authorized=True),
    Route("POST", "/v1/models/{model_id}/predict", "predict", authorized=True, body=PREDICT_REQUEST),
)


def allowed_methods(path: str) -> tuple[str, ...]:
    """The methods declared for a resource path, in a stable order (the ``Allow`` header)."""
    return tuple(sorted(route.method for route in ROUTES if route.path == path))


@dataclass(frozen=True)
class MethodNotAllowed:
    """A known path asked with a method it does not serve: 405 naming the methods it does serve.

    Without it API Gateway answers MISSING_AUTHENTICATION_TOKEN (404 here), which tells a client the
    path does not exist. The stack answers with a MOCK ``ANY`` method on each declared resource (a
    declared method wins over ``ANY``), the emulator with the same status, header and body.
    """

    status_code: int = 405

    def detail(self, method: str, path: str) -> str:
        return f"Method {method} not allowed on {path}; use {', '.join(allowed_methods(path))}"

    def template(self, path: str) -> str:
        """The mock integration's response template; ``$context`` values are filled in by the gateway.
        An integration response can map only static values to headers, so the request id header is
        set by the template itself (``responseOverride``)."""
        detail = f"Method $context.httpMethod not allowed on {path}; use {', '.join(allowed_methods(path))}"
        override = "#set($context.responseOverride.header.X-Request-ID = $context.requestId)\n"
        return override + '{"detail": "%s", "request_id": "$context.requestId"}' % detail  # noqa: UP031

    def headers(self, path: str) -> dict[str, str]:
        return {"Allow": ", ".join(allowed_methods(path)), "Content-Type": JSON_CONTENT_TYPE}


METHOD_NOT_ALLOWED = MethodNotAllowed()

# Header names API Gateway passes to the REQUEST authorizer. Its result cache is off (TTL 0):
# a client sends one of two alternative headers, and no identity source can express "either".
AUTHORIZER_IDENTITY_HEADERS = ("Authorization", "X-API-Key")


BAD_REQUEST_BODY_DETAIL = (
    'Request body is not valid: send UTF-8 JSON {"inputs": {...}} (one lead) or {"inputs": [...]}'
    " (up to 100 leads), uncompressed, with Content-Type: application/json"
)


@dataclass(frozen=True)
class GatewayResponse:
    """An API Gateway gateway response (the body API Gateway itself returns when it rejects)."""

    response_type: str  # CloudFormation ResponseType
    status_code: int | None  # None: keep the status API Gateway chose (DEFAULT_4XX/5XX)
    detail: str
    headers: dict[str, str] = field(default_factory=dict)

    def template(self) -> str:
        """The application/json mapping template; ``$context.requestId`` is filled in by the gateway."""
        detail = json.dumps(self.detail)[1:-1]  # a detail may quote JSON: escape it once, here
        return '{"detail": "%s", "request_id": "$context.requestId"}' % detail  # noqa: UP031

    def response_parameters(self) -> dict[str, str]:
        """Header name -> API Gateway mapping expression (``gatewayresponse.header.<name>``): static
        values in single quotes, context variables (:data:`GATEWAY_RESPONSE_CONTEXT_HEADERS`) bare."""
        return {
            "Content-Type": f"'{JSON_CONTENT_TYPE}'",
            **{name: f"'{value}'" for name, value in self.headers.items()},
            **GATEWAY_RESPONSE_CONTEXT_HEADERS,
        }


# Headers every gateway response maps from the gateway's context: X-Request-ID is the request id the
# body's request_id also holds (a gateway response cannot echo a client's header only when it is safe).
GATEWAY_RESPONSE_CONTEXT_HEADERS: dict[str, str] = {"X-Request-ID": "context.requestId"}


# The UNAUTHORIZED body serves a missing and an invalid key alike (the authorizer's context is not
# available to gateway responses); seed clients match {"detail": "API key required"}.
GATEWAY_RESPONSES: tuple[GatewayResponse, ...] = (
    GatewayResponse("UNAUTHORIZED", 401, "API key required", {"WWW-Authenticate": "Bearer"}),
    GatewayResponse("ACCESS_DENIED", 403, "API key not allowed for this resource"),
    GatewayResponse(
        "AUTHORIZER_FAILURE",
        503,
        "Authentication temporarily unavailable, retry shortly",
        {"Retry-After": "5"},
    ),
    GatewayResponse(
        "AUTHORIZER_CONFIGURATION_ERROR",
        503,
        "Authentication temporarily unavailable, retry shortly",
        {"Retry-After": "5"},
    ),
    GatewayResponse("THROTTLED", 429, "Too many requests", {"Retry-After": "1"}),
    # A usage plan's daily quota (per key, hokusai keys create --plan); it resets at 00:00 UTC, which a
    # static header cannot name: an hour is the honest "not soon".
    GatewayResponse("QUOTA_EXCEEDED", 429, "Quota exceeded", {"Retry-After": "3600"}),
    GatewayResponse("REQUEST_TOO_LARGE", 413, "Request body too large"),
    # The gateway's validator answers before the function: say what to send (the function's own 400s
    # and 415s name the exact problem for bodies the validator lets through).
    GatewayResponse("BAD_REQUEST_BODY", 400, BAD_REQUEST_BODY_DETAIL),
    GatewayResponse("MISSING_AUTHENTICATION_TOKEN", 404, "Not found"),
    GatewayResponse("RESOURCE_NOT_FOUND", 404, "Not found"),
    GatewayResponse("INTEGRATION_TIMEOUT", 504, "The service took too long to answer"),
    GatewayResponse("DEFAULT_4XX", None, "Request rejected by the gateway"),
    GatewayResponse("DEFAULT_5XX", None, "The service failed to answer, retry shortly"),
)


def gateway_response(response_type: str) -> GatewayResponse:
    for response in GATEWAY_RESPONSES:
        if response.response_type == response_type:
            return response
    raise KeyError(response_type)
