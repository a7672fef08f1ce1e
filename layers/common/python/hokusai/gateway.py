"""API Gateway (REST API, Lambda proxy + REQUEST authorizer) as our functions see it, in one place.

What the gateway does between a client and our functions, where our functions can tell: the route
table (``api_contract.ROUTES``), the proxy and REQUEST-authorizer event shapes (the published AWS samples
in ``tests/events/SOURCES.md``: URL-decoded ``pathParameters`` beside the raw ``path``, ``Host`` and
``X-Forwarded-*`` as the gateway sets them, ``requestContext.domainName`` of the URL the client called;
through a custom domain's base path mapping ``path`` keeps the base path), the authorizer's policy
enforced against the method ARN, its context passed on as strings (plus ``integrationLatency``), the
gateway's own rejections (``api_contract.GATEWAY_RESPONSES``) and the proxy answer read back.
:class:`Gateway` runs one request through it with an ``invoke(function, event, request_id)`` seam.

Two users: ``make dev``'s emulator (``local/apigw.py`` puts an HTTP server and warm handlers in front
of it) and the rollout's pre-traffic hook (``hokusai.rollout``), which sends the canary's synthetic
requests through it to the new *versions* of the functions with Lambda's Invoke API, before any client
traffic reaches them. Standard library only.
"""

from __future__ import annotations

import base64
import functools
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from hokusai.api_contract import (
    CUSTOM_DOMAIN_BASE_PATH,
    GATEWAY_RESPONSE_CONTEXT_HEADERS,
    METHOD_NOT_ALLOWED,
    ROUTES,
    STAGE_NAME,
    Route,
    gateway_response,
)

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's hard payload limit
INTEGRATION_TIMEOUT_SECONDS = 29.0  # API Gateway's default integration timeout


class Unauthorized(Exception):
    """What the authorizer raised to say 401 (Lambda's error message is exactly "Unauthorized")."""


class InvocationRejected(Exception):
    """Lambda's Invoke API refused the invocation and the function never ran: 429
    TooManyRequestsException ("Rate Exceeded") when the function's reserved concurrency is all in use.

    API Gateway treats it as an internal error: "If the Lambda API rejects the invocation request, API
    Gateway returns a 500 error code" (AWS Lambda developer guide, "Handling Lambda errors with an API
    Gateway API"; a function that runs and fails is a 502). A REST API has no gateway response type of
    its own for it: the client gets DEFAULT_5XX with status 500, never the 429 of the gateway's own
    THROTTLED. For the authorizer it is an authorizer failure (AUTHORIZER_FAILURE)."""


# ---------------------------------------------------------------------------------------------- routes
@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


def _route_pattern(path: str) -> re.Pattern[str]:
    parts = [
        f"(?P<{segment[1:-1]}>[^/]+)" if segment.startswith("{") else re.escape(segment)
        for segment in path.split("/")
    ]
    return re.compile("^" + "/".join(parts) + "$")


_ROUTE_PATTERNS = [(route, _route_pattern(route.path)) for route in ROUTES]


def match_route(method: str, path: str) -> RouteMatch | None:
    """The route for ``path`` (relative to the stage, e.g. ``/v1/models/21/predict``), or None.

    ``path_parameters`` are URL-decoded, as API Gateway passes them (``%32%31`` -> ``21``); the
    event's ``path`` keeps the escapes."""
    for route, pattern in _ROUTE_PATTERNS:
        found = pattern.match(path)
        if found and route.method == method.upper():
            return RouteMatch(route, {name: unquote(value) for name, value in found.groupdict().items()})
    return None


def known_path(path: str) -> str | None:
    """The declared resource path ``path`` belongs to, whatever the method (None: unknown path)."""
    for route, pattern in _ROUTE_PATTERNS:
        if pattern.match(path):
            return route.path
    return None


def method_not_allowed(method: str, resource_path: str, request_id: str) -> GatewayAnswer:
    """What the stack's MOCK ``ANY`` method answers (api_contract.METHOD_NOT_ALLOWED)."""
    answer = METHOD_NOT_ALLOWED
    body = answer.template(resource_path).split("\n", 1)[1]
    body = body.replace("$context.httpMethod", method.upper()).replace("$context.requestId", request_id)
    headers = [*answer.headers(resource_path).items(), ("X-Request-ID", request_id)]
    return GatewayAnswer(answer.status_code, headers, body.encode())


# ---------------------------------------------------------------------------------------------- policy
@functools.lru_cache(maxsize=1024)
def _arn_pattern(resource: str) -> re.Pattern[str]:
    """IAM resource matching: ``*`` any run of characters (including ``/``), ``?`` one character."""
    escaped = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in resource)
    return re.compile("^" + escaped + "$", re.DOTALL)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _action_applies(action: str) -> bool:
    return _arn_pattern(action.lower()).match("execute-api:invoke") is not None


class PolicyError(ValueError):
    """The authorizer's answer is not a policy API Gateway accepts (AUTHORIZER_CONFIGURATION_ERROR)."""


def policy_allows(policy: Mapping[str, Any], method_arn: str) -> bool:
    """True when a statement allows ``execute-api:Invoke`` on ``method_arn`` and none denies it."""
    statements = policy.get("Statement")
    if not isinstance(statements, list | dict):
        raise PolicyError("policyDocument has no Statement list")
    allowed = False
    for statement in _as_list(statements):
        if not isinstance(statement, Mapping):
            raise PolicyError("policy statement is not an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyError(f"policy statement Effect must be Allow or Deny, got {effect!r}")
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        if not any(_action_applies(action) for action in actions):
            continue
        if not any(_arn_pattern(resource).match(method_arn) for resource in resources):
            continue
        if effect == "Deny":
            return False  # an explicit Deny wins over any Allow
        allowed = True
    return allowed


def authorizer_context(
    answer: Mapping[str, Any], integration_latency_ms: int | None = None
) -> dict[str, Any]:
    """``requestContext.authorizer`` as a REST API passes it: context values as strings, principalId,
    and (when given) ``integrationLatency``, the authorizer's latency in ms, a number."""
    context = answer.get("context") or {}
    if not isinstance(context, Mapping):
        raise PolicyError("authorizer context is not an object")
    passed: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            passed[str(key)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            passed[str(key)] = str(value)
        else:  # API Gateway rejects nested objects and arrays in the context
            raise PolicyError(f"authorizer context value {key!r} is not a string, number or boolean")
    passed["principalId"] = str(answer.get("principalId", ""))
    if integration_latency_ms is not None:
        passed["integrationLatency"] = int(integration_latency_ms)
    return passed


# ---------------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class GatewayIdentity:
    """The API and the URL its clients call: the execute-api URL (``custom_domain`` None,
    ``https://<apiId>.execute-api.<region>.amazonaws.com/<stage>/...``) or a custom domain whose base
    path mapping ``base_path`` leads to the stage (``https://<custom_domain>/<base_path>/...``)."""

    region: str = "eu-west-1"
    account_id: str = "123456789012"
    api_id: str = "hokusailoc"
    stage: str = STAGE_NAME
    custom_domain: str | None = None
    base_path: str = CUSTOM_DOMAIN_BASE_PATH

    def method_arn(self, method: str, path: str) -> str:
        """The same whichever URL the client called: the stage and the path relative to it."""
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/"
            f"{self.stage}/{method.upper()}/{path.lstrip('/')}"
        )

    @property
    def domain_name(self) -> str:
        """``requestContext.domainName`` and the ``Host`` header the function sees."""
        return self.custom_domain or f"{self.api_id}.execute-api.{self.region}.amazonaws.com"

    @property
    def domain_prefix(self) -> str:
        return self.domain_name.split(".", 1)[0]

    @property
    def url_prefix(self) -> str:
        """The first path segment of the URLs clients call: the stage, or the custom domain's base path."""
        return f"/{self.base_path if self.custom_domain else self.stage}"

    def event_path(self, path: str) -> str:
        """The proxy event's ``path`` for ``path`` relative to the stage: as is on the execute-api URL;
        through a base path mapping API Gateway keeps the base path (``/api/v1/models/21/predict``)."""
        return f"/{self.base_path}{path}" if self.custom_domain else path

    def request_path(self, path: str) -> str:
        """``requestContext.path``: the path the client asked for, stage or base path included."""
        return f"{self.url_prefix}{path}"


@dataclass
class IncomingRequest:
    method: str
    path: str  # relative to the stage: /v1/models/21/predict
    query: str
    headers: list[tuple[str, str]]  # as received, repeated names kept
    body: bytes
    source_ip: str = "127.0.0.1"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    received_at: float = field(default_factory=time.time)


def _multi(pairs: list[tuple[str, str]]) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    if not pairs:
        return None, None
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        single[name] = value  # the last value wins in the single-value map, as in API Gateway
        multi.setdefault(name, []).append(value)
    return single, multi


def _header_maps(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    single, multi = _multi(pairs)
    return single or {}, multi or {}


def gateway_headers(request: IncomingRequest, identity: GatewayIdentity) -> list[tuple[str, str]]:
    """The request's headers as API Gateway passes them on: ``Host`` is the domain the client called
    (the custom domain or the execute-api host, not the emulator's 127.0.0.1:port), and the gateway's
    ``X-Forwarded-For`` (the client's address appended), ``X-Forwarded-Port`` and ``X-Forwarded-Proto``
    (HTTPS on 443: API Gateway serves nothing else)."""
    gateway_set = {"host", "x-forwarded-for", "x-forwarded-port", "x-forwarded-proto"}
    forwarded_for = [v for k, v in request.headers if k.lower() == "x-forwarded-for"]
    headers = [(name, value) for name, value in request.headers if name.lower() not in gateway_set]
    return [
        ("Host", identity.domain_name),
        *headers,
        ("X-Forwarded-For", ", ".join([*forwarded_for, request.source_ip])),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ]


def _is_text(headers: list[tuple[str, str]], body: bytes) -> bool:
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    if not body:
        return True
    if content_type and not (
        content_type.startswith("text/")
        or "json" in content_type
        or "xml" in content_type
        or "x-www-form-urlencoded" in content_type
    ):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _resource_id(resource: str) -> str:
    """A stable id per resource path, as a REST API's resource ids are."""
    return uuid.uuid5(uuid.NAMESPACE_URL, resource).hex[:6]


def request_context(request: IncomingRequest, identity: GatewayIdentity, resource: str) -> dict[str, Any]:
    user_agent = next((v for k, v in request.headers if k.lower() == "user-agent"), None)
    when = datetime.fromtimestamp(request.received_at, UTC)
    return {
        "accountId": identity.account_id,
        "apiId": identity.api_id,
        "domainName": identity.domain_name,
        "domainPrefix": identity.domain_prefix,
        "extendedRequestId": request.request_id,
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.source_ip,
            "user": None,
            "userAgent": user_agent,
            "userArn": None,
        },
        "path": identity.request_path(request.path),
        "protocol": "HTTP/1.1",
        "requestId": request.request_id,
        "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(request.received_at * 1000),
        "resourceId": _resource_id(resource),
        "resourcePath": resource,
        "stage": identity.stage,
    }


def proxy_event(
    request: IncomingRequest,
    match: RouteMatch,
    identity: GatewayIdentity,
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The Lambda proxy integration event API Gateway (REST) sends to the function."""
    headers, multi_headers = _header_maps(gateway_headers(request, identity))
    query, multi_query = _multi(parse_qsl(request.query, keep_blank_values=True))
    text = _is_text(request.headers, request.body)
    body: str | None
    if not request.body:
        body = None
    elif text:
        body = request.body.decode("utf-8")
    else:
        body = base64.b64encode(request.body).decode("ascii")
    context = request_context(request, identity, match.route.path)
    if authorizer is not None:
        context["authorizer"] = dict(authorizer)
    return {
        "resource": match.route.path,
        "path": identity.event_path(request.path),
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": match.path_parameters or None,
        "stageVariables": None,
        "requestContext": context,
        "body": body,
        "isBase64Encoded": bool(body) and not text,
    }


def authorizer_event(
    request: IncomingRequest, match: RouteMatch, identity: GatewayIdentity
) -> dict[str, Any]:
    """The REQUEST authorizer event (REST API): the request's parts plus ``methodArn``, no body."""
    headers, multi_headers = _header_maps(gateway_headers(request, identity))
    query, multi_query = _multi(parse_qsl(request.query, keep_blank_values=True))
    return {
        "type": "REQUEST",
        "methodArn": identity.method_arn(request.method, request.path),
        "resource": match.route.path,
        "path": identity.event_path(request.path),
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or {},
        "multiValueQueryStringParameters": multi_query or {},
        "pathParameters": match.path_parameters,
        "stageVariables": {},
        "requestContext": request_context(request, identity, match.route.path),
    }


# ---------------------------------------------------------------------------------------------- responses
@dataclass
class GatewayAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


_CONTEXT_HEADERS = tuple(GATEWAY_RESPONSE_CONTEXT_HEADERS.items())


def gateway_error(response_type: str, request_id: str, *, default_status: int = 500) -> GatewayAnswer:
    """A gateway response from ``api_contract.GATEWAY_RESPONSES``, rendered as API Gateway would."""
    response = gateway_response(response_type)
    body = response.template().replace("$context.requestId", request_id)
    headers = [
        ("Content-Type", "application/json"),
        ("x-amzn-RequestId", request_id),
        ("x-amzn-ErrorType", _ERROR_TYPES.get(response_type, "")),
        *response.headers.items(),
        # The declared context headers (X-Request-ID: context.requestId), filled in as the gateway does.
        *((name, {"context.requestId": request_id}[source]) for name, source in _CONTEXT_HEADERS),
    ]
    return GatewayAnswer(response.status_code or default_status, headers, body.encode())


_ERROR_TYPES = {
    "UNAUTHORIZED": "UnauthorizedException",
    "ACCESS_DENIED": "AccessDeniedException",
    "AUTHORIZER_FAILURE": "AuthorizerFailureException",
    "AUTHORIZER_CONFIGURATION_ERROR": "AuthorizerConfigurationException",
    "MISSING_AUTHENTICATION_TOKEN": "MissingAuthenticationTokenException",
    "REQUEST_TOO_LARGE": "RequestTooLargeException",
    "BAD_REQUEST_BODY": "BadRequestException",
    "INTEGRATION_TIMEOUT": "InternalServerErrorException",
    "DEFAULT_5XX": "InternalServerErrorException",
}


class MalformedProxyResponse(ValueError):
    pass


def proxy_answer(result: Any, request_id: str) -> GatewayAnswer:
    """The HTTP answer for a Lambda proxy result; malformed results raise MalformedProxyResponse."""
    if not isinstance(result, Mapping):
        raise MalformedProxyResponse(f"function returned {type(result).__name__}, not an object")
    status = result.get("statusCode")
    if not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name), str(value)))
    single_names = {name.lower() for name, _ in headers}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if str(name).lower() in single_names:
            continue
        headers.extend((str(name), str(value)) for value in _as_list(values))
    body = result.get("body")
    if body is None:
        raw = b""
    elif not isinstance(body, str):
        raise MalformedProxyResponse("body is not a string")
    elif result.get("isBase64Encoded"):
        raw = base64.b64decode(body)
    else:
        raw = body.encode("utf-8")
    headers.append(("x-amzn-RequestId", request_id))
    return GatewayAnswer(status, headers, raw)


# ---------------------------------------------------------------------------------------------- gateway
# invoke(function, event, request_id) -> the function's result. It raises what the invocation raised:
# an exception whose message is exactly "Unauthorized" from the authorizer is a 401; TimeoutError is
# the integration timeout; anything else is a failed invocation.
Invoke = Callable[[str, dict[str, Any], str], Any]
BodyCheck = Callable[[Route, IncomingRequest], list[str]]


class Gateway:
    """Turns an incoming request into authorizer + function invocations and one HTTP answer."""

    def __init__(
        self,
        invoke: Invoke,
        identity: GatewayIdentity,
        *,
        log: Callable[[str], None] | None = None,
        limiter: Any = None,
        body_errors: BodyCheck | None = None,
    ) -> None:
        self._invoke = invoke
        self.identity = identity
        self.log = log or (lambda _line: None)
        # Usage plans (local.usage_plans.UsageLimiter): check(usageIdentifierKey) -> None or the
        # THROTTLED / QUOTA_EXCEEDED gateway response, as API Gateway applies the key's plan.
        self.limiter = limiter
        # The request validator (the emulator's draft-04 subset); None: bodies are not validated.
        self.body_errors = body_errors

    def handle(self, request: IncomingRequest) -> GatewayAnswer:
        request_id = request.request_id
        match = match_route(request.method, request.path)
        if match is None:
            known = known_path(request.path)
            if known is not None:
                return method_not_allowed(request.method, known, request_id)
            return gateway_error("MISSING_AUTHENTICATION_TOKEN", request_id)
        if len(request.body) > MAX_PAYLOAD_BYTES:
            return gateway_error("REQUEST_TOO_LARGE", request_id)
        authorizer: dict[str, Any] | None = None
        if match.route.authorized:
            outcome = self._authorize(request, match)
            if isinstance(outcome, GatewayAnswer):
                return outcome
            authorizer = outcome
        rejected = self.body_errors(match.route, request) if self.body_errors else []
        if rejected:
            # What the gateway's execution log says; the client gets only the gateway response.
            self.log(f"{match.route.path}: request body does not match its model: {'; '.join(rejected)}")
            return gateway_error("BAD_REQUEST_BODY", request_id)
        event = proxy_event(request, match, self.identity, authorizer)
        try:
            result = self._invoke(match.route.function, event, request_id)
            return proxy_answer(result, request_id)
        except InvocationRejected as error:  # throttled: the function never ran
            self.log(f"{match.route.function}: invocation rejected: {error}")
            return gateway_error("DEFAULT_5XX", request_id, default_status=500)
        except TimeoutError:
            self.log(f"{match.route.function}: integration timeout")
            return gateway_error("INTEGRATION_TIMEOUT", request_id)
        except MalformedProxyResponse as error:
            self.log(f"{match.route.function}: malformed Lambda proxy response: {error}")
            return gateway_error("DEFAULT_5XX", request_id, default_status=502)
        except Exception as error:  # the function crashed: API Gateway answers 502
            self.log(f"{match.route.function}: invocation failed: {type(error).__name__}: {error}")
            return gateway_error("DEFAULT_5XX", request_id, default_status=502)

    def _authorize(self, request: IncomingRequest, match: RouteMatch) -> dict[str, Any] | GatewayAnswer:
        request_id = request.request_id
        event = authorizer_event(request, match, self.identity)
        started = time.perf_counter()
        try:
            answer = self._invoke("authorizer", event, request_id)
        except TimeoutError:
            self.log("authorizer: timed out")
            return gateway_error("AUTHORIZER_FAILURE", request_id)
        except Exception as error:
            if str(error) == "Unauthorized":
                return gateway_error("UNAUTHORIZED", request_id)
            self.log(f"authorizer: failed: {type(error).__name__}: {error}")
            return gateway_error("AUTHORIZER_FAILURE", request_id)
        try:
            if not isinstance(answer, Mapping) or not isinstance(answer.get("policyDocument"), Mapping):
                raise PolicyError("authorizer answer has no policyDocument")
            allowed = policy_allows(answer["policyDocument"], event["methodArn"])
            context = authorizer_context(answer, round((time.perf_counter() - started) * 1000))
        except PolicyError as error:
            self.log(f"authorizer: invalid answer: {error}")
            return gateway_error("AUTHORIZER_CONFIGURATION_ERROR", request_id)
        if not allowed:
            return gateway_error("ACCESS_DENIED", request_id)
        limited = self.limiter.check(answer.get("usageIdentifierKey")) if self.limiter else None
        if limited:
            return gateway_error(limited, request_id)
        return context
