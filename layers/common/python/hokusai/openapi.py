"""The published OpenAPI document: Powertools' generated schema, completed from ``hokusai.api_contract``.

Powertools knows the predict function's routes and pydantic models only; it documents 200 and a 422
this API never sends, at server ``/``, with no security. :func:`document` rewrites that into what a
client generator can use:

* ``servers``: the stage (``/api``) and the full URL template;
* security schemes (Bearer, X-API-Key) on the routes ``api_contract.ROUTES`` marks ``authorized``;
* every status each operation can answer, with its schema: the gateway responses
  (``api_contract.GATEWAY_RESPONSES``) on authorized routes, the 405 of ``METHOD_NOT_ALLOWED`` and the
  function's own errors, all in the one error shape (``Error``);
* the limits the function enforces (batch size, string lengths);
* the routes other functions serve (``/health``).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hokusai import api_contract
from hokusai.api_contract import GatewayResponse, Route
from hokusai.models.schemas import MAX_BATCH, ModelHealth

SCHEMAS = "#/components/schemas/"
ERROR_REF = {"$ref": SCHEMAS + "Error"}
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "Bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <API key>"},
    "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "X-API-Key: <API key>"},
}
# Gateway responses only a request with a body can get (the validator's answer, the payload limit).
BODY_RESPONSE_TYPES = frozenset({"BAD_REQUEST_BODY", "REQUEST_TOO_LARGE"})
# Powertools' validation-error schemas: this API answers validation errors 400 with ``Error``.
POWERTOOLS_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "description": "Every error this API answers, from the gateway or a function.",
    "required": ["detail", "request_id"],
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, and what to send instead"},
        "request_id": {"type": "string", "description": "Also in the X-Request-ID header"},
        "errors": {
            "type": "array",
            "description": "400 from the function only: each invalid field",
            "items": {"$ref": SCHEMAS + "FieldError"},
        },
    },
}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "title": "FieldError",
    "type": "object",
    "required": ["field", "message", "type"],
    "properties": {
        "field": {"type": "string", "description": "Dotted path, e.g. inputs.0.company_size"},
        "message": {"type": "string"},
        "type": {"type": "string", "description": "pydantic's error type, e.g. int_type"},
    },
}
_CHECK_STATUSES = ["healthy", "unhealthy", "timeout", "skipped"]
HEALTH_REPORT_SCHEMA: dict[str, Any] = {
    "title": "HealthReport",
    "type": "object",
    "description": (
        "GET /health (hokusai.health.runner.HealthReport.body): 200 healthy or degraded, 503 unhealthy"
    ),
    "required": ["status", "version", "services", "checks", "deadline_ms", "timestamp"],
    "properties": {
        "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
        "version": {"type": "string"},
        "services": {
            "type": "object",
            "description": "Check name -> its status (the seed's shape)",
            "additionalProperties": {"type": "string", "enum": _CHECK_STATUSES},
        },
        "checks": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["status", "duration_ms", "reason"],
                "properties": {
                    "status": {"type": "string", "enum": _CHECK_STATUSES},
                    "duration_ms": {"type": "number"},
                    "reason": {"type": ["string", "null"]},
                },
            },
        },
        "deadline_ms": {"type": "integer"},
        "timestamp": {"type": "string"},
    },
}
# Every header an answer carries, declared where it is sent and marked required there (schemathesis'
# header check holds the answers to it): X-Request-ID on every response, Retry-After on every 429 and
# 503, Allow on 405, WWW-Authenticate on 401.
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request id (also the body's request_id): quote it to support",
        "required": True,
        "schema": {"type": "string"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer"},
    },
    "WWW-Authenticate": {
        "description": "The scheme to authenticate with",
        "required": True,
        "schema": {"type": "string"},
    },
    "Allow": {"description": "The methods this path serves", "required": True, "schema": {"type": "string"}},
    "Cache-Control": {
        "description": "no-store: a health answer is never cached",
        "schema": {"type": "string"},
    },
}
# Statuses whose every answer says when to retry (the gateway's and the functions' alike).
RETRY_STATUSES = frozenset({429, 503})
# The function's own errors (functions/predict/handler.py and hokusai.models.request_body), by what
# the route takes; the gateway's are derived from api_contract below.
_FUNCTION_ERRORS: dict[str, dict[int, str]] = {
    "always": {503: "Service misconfigured or failing, or model unavailable (Retry-After), retry shortly"},
    "model_id": {
        400: "Invalid path parameter (model_id longer than 64 characters)",
        403: "API key not allowed for this model",
        404: "Model not found",
    },
    "body": {
        400: "Invalid request body: detail says what, errors lists each invalid field",
        413: "Request body larger than the function's limit",
        415: "Content-Type or Content-Encoding not supported: send application/json, uncompressed",
    },
}
SERVERS: list[dict[str, Any]] = [
    {
        "url": f"/{api_contract.STAGE_NAME}",
        "description": (
            f"The stage: the full URL is https://<api-id>.execute-api.<region>.amazonaws.com/"
            f"{api_contract.STAGE_NAME} or https://<custom domain>/{api_contract.STAGE_NAME}"
        ),
    },
    {
        "url": f"https://{{apiId}}.execute-api.{{region}}.amazonaws.com/{api_contract.STAGE_NAME}",
        "description": "The API's execute-api endpoint",
        "variables": {
            "apiId": {"default": "abcdef1234", "description": "The RestApi id (stack output)"},
            "region": {"default": "us-east-1", "description": "The AWS region of the stack"},
        },
    },
    {
        "url": f"https://{{domain}}/{api_contract.STAGE_NAME}",
        "description": "A custom domain (context domainName), base path api",
        "variables": {"domain": {"default": "api.example.com"}},
    },
]


def document(
    generated: dict[str, Any],
    routes: tuple[Route, ...] = api_contract.ROUTES,
    gateway_responses: tuple[GatewayResponse, ...] = api_contract.GATEWAY_RESPONSES,
) -> dict[str, Any]:
    """The published document from Powertools' ``get_openapi_schema`` dict (not modified)."""
    doc = copy.deepcopy(generated)
    doc["servers"] = copy.deepcopy(SERVERS)
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in POWERTOOLS_SCHEMAS:
        schemas.pop(name, None)
    schemas["Error"] = copy.deepcopy(ERROR_SCHEMA)
    schemas["FieldError"] = copy.deepcopy(FIELD_ERROR_SCHEMA)
    schemas["HealthReport"] = copy.deepcopy(HEALTH_REPORT_SCHEMA)
    schemas.update(_model_schemas(ModelHealth))
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    components["headers"] = copy.deepcopy(HEADERS)
    _add_limits(schemas)
    paths = doc.setdefault("paths", {})
    for route in routes:
        operation = paths.setdefault(route.path, {}).setdefault(route.method.lower(), {})
        _complete(operation, route, gateway_responses)
    doc["paths"] = dict(sorted(paths.items()))
    return doc


def _model_schemas(*models: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMAS + "{model}")
        found.update(schema.pop("$defs", {}))
        found[model.__name__] = schema
    return found


def _add_limits(schemas: dict[str, Any]) -> None:
    """The batch limit on the array branch of ``inputs`` and ``predictions`` (the function checks it)."""
    for schema_name, prop in (("PredictRequest", "inputs"), ("PredictResponse", "predictions")):
        for option in schemas.get(schema_name, {}).get("properties", {}).get(prop, {}).get("anyOf", []):
            if option.get("type") == "array":
                option.update(minItems=1, maxItems=MAX_BATCH)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _headers(*names: str) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in ("X-Request-ID", *names)}


def _error_response(descriptions: list[str], headers: set[str]) -> dict[str, Any]:
    return {
        "description": "; ".join(dict.fromkeys(descriptions)),
        "headers": _headers(*sorted(headers)),
        "content": _json(dict(ERROR_REF)),
    }


def _complete(
    operation: dict[str, Any], route: Route, gateway_responses: tuple[GatewayResponse, ...]
) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    operation.setdefault("summary", f"{route.method} {route.path}")
    operation.setdefault(
        "operationId", re.sub(r"\W+", "_", f"{route.function}{route.path}_{route.method}").lower()
    )
    if route.authorized:
        operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    else:
        operation["security"] = []
    if route.body is not None:
        # The gateway validates the envelope first; the function the leads (see PREDICT_REQUEST).
        operation.setdefault("requestBody", {"required": True, "content": _json(dict(route.body.schema))})

    errors: dict[int, tuple[list[str], set[str]]] = {}

    def add(status: int, description: str, headers: set[str] | None = None) -> None:
        entry = errors.setdefault(status, ([], set()))
        entry[0].append(description)
        entry[1].update(headers or set(), {"Retry-After"} if status in RETRY_STATUSES else set())

    if route.authorized:
        for response in gateway_responses:
            if response.status_code is None:
                continue
            if response.response_type in BODY_RESPONSE_TYPES and route.body is None:
                continue
            add(
                response.status_code,
                f"{response.detail} (gateway: {response.response_type})",
                set(response.headers),
            )
    if route.function == "predict":
        kinds = (
            ["always"]
            + (["model_id"] if "{model_id}" in route.path else [])
            + (["body"] if route.body else [])
        )
        for kind in kinds:
            for status, description in _FUNCTION_ERRORS[kind].items():
                add(status, description)
    if route.function == "health":
        add(503, "The health check failed to run")
    allowed = api_contract.allowed_methods(route.path)
    add(
        api_contract.METHOD_NOT_ALLOWED.status_code,
        f"Another method on {route.path}, OPTIONS (a CORS preflight) included: this API does not serve"
        f" browsers cross-origin (docs/api.md); Allow names the methods served ({', '.join(allowed)})",
        {"Allow"},
    )

    for status, (descriptions, headers) in sorted(errors.items()):
        responses[str(status)] = _error_response(descriptions, headers)
    responses["default"] = {
        "description": "Any other rejection by the gateway (DEFAULT_4XX, DEFAULT_5XX)",
        "headers": _headers(),
        "content": _json(dict(ERROR_REF)),
    }
    _success(responses, route)
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: (item[0] == "default", item[0])))


def _success(responses: dict[str, Any], route: Route) -> None:
    """The 200 (and a 503 that answers the success shape) of the routes Powertools cannot see."""
    if route.path == "/health":
        responses["200"] = {
            "description": "Healthy or degraded (a non-critical dependency failing)",
            "headers": _headers("Cache-Control"),
            "content": _json({"$ref": SCHEMAS + "HealthReport"}),
        }
        responses["503"]["description"] = "Unhealthy (HealthReport), or the check failed to run (Error)"
        responses["503"]["content"] = _json({"anyOf": [{"$ref": SCHEMAS + "HealthReport"}, dict(ERROR_REF)]})
    elif route.path == "/v1/models/{model_id}/health":
        responses["200"] = {
            "description": "The model is loaded in this container",
            "headers": _headers(),
            "content": _json({"$ref": SCHEMAS + "ModelHealth"}),
        }
        responses["503"]["description"] = (
            "Not loaded (ModelHealth, Retry-After); " + responses["503"]["description"]
        )
        responses["503"]["content"] = _json({"anyOf": [{"$ref": SCHEMAS + "ModelHealth"}, dict(ERROR_REF)]})
    elif route.path == "/v1/openapi.json":
        responses["200"] = {
            "description": "This document",
            "headers": _headers(),
            "content": _json({"type": "object"}),
        }
    else:
        responses.setdefault("200", {"description": "Successful Response"})
        responses["200"].setdefault("headers", _headers())
