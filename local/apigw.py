"""A small API Gateway (REST API, Lambda proxy + REQUEST authorizer) emulator on 127.0.0.1.

It serves exactly ``hokusai.api_contract.ROUTES`` under the stage prefix ``/api`` (the table the CDK
stack builds the RestApi from) and behaves like the gateway where our functions can tell:

* every request becomes a REST API proxy event of the real shape (headers and multiValueHeaders,
  query strings, pathParameters, requestContext with stage ``api``, requestId, resourcePath,
  identity.sourceIp, accountId, apiId; body and isBase64Encoded);
* an authorized route first calls the authorizer handler with a REQUEST event whose ``methodArn`` is
  ``arn:aws:execute-api:<region>:<account>:<apiId>/api/<METHOD>/<path>``, enforces the returned IAM
  policy against that ARN (``*``/``?`` wildcards, explicit Deny wins) and passes the policy's context
  (values as strings, plus principalId) as ``requestContext.authorizer``;
* the gateway's own rejections use ``api_contract.GATEWAY_RESPONSES``: ``Exception("Unauthorized")``
  -> UNAUTHORIZED 401, no Allow -> ACCESS_DENIED 403, any other authorizer failure ->
  AUTHORIZER_FAILURE 503 + Retry-After, a malformed authorizer answer ->
  AUTHORIZER_CONFIGURATION_ERROR, unknown route -> MISSING_AUTHENTICATION_TOKEN (404 here),
  body over 10 MB -> REQUEST_TOO_LARGE 413, a crashing or malformed function -> DEFAULT_5XX 502,
  a function slower than the integration timeout -> INTEGRATION_TIMEOUT 504;
* a route with a request model (``Route.body``) checks the body against its schema after the
  authorizer, as the gateway's request validator does: a body of the model's content type (no
  Content-Type counts as application/json) that is not JSON or fails the schema ->
  BAD_REQUEST_BODY 400, and the function is not invoked.

One lock per function: like one warm Lambda container each, a function handles one event at a time
(Powertools' Logger/Metrics singletons assume it).
"""

from __future__ import annotations

import base64
import concurrent.futures
import importlib.util
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from hokusai.api_contract import (
    GATEWAY_RESPONSE_CONTEXT_HEADERS,
    JSON_CONTENT_TYPE,
    METHOD_NOT_ALLOWED,
    ROUTES,
    STAGE_NAME,
    Route,
    gateway_response,
)

from local import json_schema

ROOT = Path(__file__).resolve().parents[1]
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # API Gateway's hard payload limit
INTEGRATION_TIMEOUT_SECONDS = 29.0  # API Gateway's default integration timeout

Invoker = Callable[[str, dict[str, Any]], Any]


class Unauthorized(Exception):
    """What the authorizer raised to say 401 (Lambda's error message is exactly "Unauthorized")."""


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
    """The route for ``path`` (relative to the stage, e.g. ``/v1/models/21/predict``), or None."""
    for route, pattern in _ROUTE_PATTERNS:
        found = pattern.match(path)
        if found and route.method == method.upper():
            return RouteMatch(route, dict(found.groupdict()))
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


def body_errors(route: Route, request: IncomingRequest) -> list[str]:
    """What API Gateway's request validator finds wrong with the body (empty: nothing, or the route
    has no model for the body's content type, which the gateway then does not validate)."""
    model = route.body
    content_type = next((v for k, v in request.headers if k.lower() == "content-type"), JSON_CONTENT_TYPE)
    if model is None or content_type.split(";", 1)[0].strip().lower() != model.content_type:
        return []
    try:
        instance = json_schema.parse(request.body)
    except json_schema.InvalidJson as error:
        return [f"invalid JSON: {error}"]
    return json_schema.validate(instance, model.schema)


# ---------------------------------------------------------------------------------------------- policy
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


def authorizer_context(answer: Mapping[str, Any]) -> dict[str, str]:
    """``requestContext.authorizer`` as a REST API passes it: context values as strings, principalId."""
    context = answer.get("context") or {}
    if not isinstance(context, Mapping):
        raise PolicyError("authorizer context is not an object")
    passed: dict[str, str] = {}
    for key, value in context.items():
        if isinstance(value, bool):
            passed[str(key)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            passed[str(key)] = str(value)
        else:  # API Gateway rejects nested objects and arrays in the context
            raise PolicyError(f"authorizer context value {key!r} is not a string, number or boolean")
    passed["principalId"] = str(answer.get("principalId", ""))
    return passed


# ---------------------------------------------------------------------------------------------- events
@dataclass(frozen=True)
class GatewayIdentity:
    region: str = "eu-west-1"
    account_id: str = "123456789012"
    api_id: str = "hokusailoc"
    stage: str = STAGE_NAME

    def method_arn(self, method: str, path: str) -> str:
        return (
            f"arn:aws:execute-api:{self.region}:{self.account_id}:{self.api_id}/"
            f"{self.stage}/{method.upper()}/{path.lstrip('/')}"
        )


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


def request_context(request: IncomingRequest, identity: GatewayIdentity, resource: str) -> dict[str, Any]:
    user_agent = next((v for k, v in request.headers if k.lower() == "user-agent"), None)
    when = datetime.fromtimestamp(request.received_at, UTC)
    return {
        "accountId": identity.account_id,
        "apiId": identity.api_id,
        "domainName": "127.0.0.1",
        "domainPrefix": "127",
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
        "path": f"/{identity.stage}{request.path}",
        "protocol": "HTTP/1.1",
        "requestId": request.request_id,
        "requestTime": when.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "requestTimeEpoch": int(request.received_at * 1000),
        "resourceId": uuid.uuid5(uuid.NAMESPACE_URL, resource).hex[:6],
        "resourcePath": resource,
        "stage": identity.stage,
    }


def proxy_event(
    request: IncomingRequest,
    match: RouteMatch,
    identity: GatewayIdentity,
    authorizer: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Lambda proxy integration event API Gateway (REST) sends to the function."""
    headers, multi_headers = _header_maps(request.headers)
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
        "path": request.path,
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
    headers, multi_headers = _header_maps(request.headers)
    query, multi_query = _multi(parse_qsl(request.query, keep_blank_values=True))
    return {
        "type": "REQUEST",
        "methodArn": identity.method_arn(request.method, request.path),
        "resource": match.route.path,
        "path": request.path,
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


# ---------------------------------------------------------------------------------------------- functions
class LocalLambdaContext:
    """The Lambda context attributes Powertools reads, per invocation."""

    def __init__(
        self, function_name: str, request_id: str, timeout_seconds: float, identity: GatewayIdentity
    ):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{identity.region}:{identity.account_id}:function:{function_name}"
        )
        self.memory_limit_in_mb = 1024
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionHost:
    """Loads ``functions/<name>/handler.py`` once (a warm container) and invokes it, one event at a time.

    A handler whose import fails stays failed until :meth:`reload` (a container that cannot init).
    """

    def __init__(
        self,
        identity: GatewayIdentity,
        *,
        functions_dir: Path = ROOT / "functions",
        function_names: Mapping[str, str] | None = None,
        timeout_seconds: float = INTEGRATION_TIMEOUT_SECONDS,
    ) -> None:
        self.identity = identity
        self.functions_dir = functions_dir
        self.function_names = dict(function_names or {})
        self.timeout_seconds = timeout_seconds
        self._modules: dict[str, ModuleType | BaseException] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def load(self, name: str) -> ModuleType:
        with self._lock(name):
            return self._load_locked(name)

    def _load_locked(self, name: str) -> ModuleType:
        loaded = self._modules.get(name)
        if isinstance(loaded, ModuleType):
            return loaded
        if isinstance(loaded, BaseException):
            raise loaded
        path = self.functions_dir / name / "handler.py"
        module_name = f"hokusai_local_{name}_{uuid.uuid4().hex[:8]}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"no handler at {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except BaseException as error:  # an init failure, as Lambda reports it on every invoke
            self._modules[name] = error
            raise
        self._modules[name] = module
        return module

    def reload(self, name: str | None = None) -> None:
        """Forget loaded handlers (a cold start next time), e.g. after changing the environment."""
        with self._guard:
            for key in [name] if name else list(self._modules):
                self._modules.pop(key, None)

    def invoke(self, name: str, event: dict[str, Any], request_id: str) -> Any:
        with self._lock(name):
            module = self._load_locked(name)
            context = LocalLambdaContext(
                self.function_names.get(name, f"hokusai-local-{name}"),
                request_id,
                self.timeout_seconds,
                self.identity,
            )
            return module.lambda_handler(event, context)


# ---------------------------------------------------------------------------------------------- gateway
class Gateway:
    """Turns an incoming request into authorizer + function invocations and one HTTP answer."""

    def __init__(
        self, host: FunctionHost, *, log: Callable[[str], None] | None = None, limiter: Any = None
    ) -> None:
        self.host = host
        self.identity = host.identity
        self.log = log or (lambda _line: None)
        # Usage plans (local.usage_plans.UsageLimiter): check(usageIdentifierKey) -> None or the
        # THROTTLED / QUOTA_EXCEEDED gateway response, as API Gateway applies the key's plan.
        self.limiter = limiter
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="lambda")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _invoke(self, name: str, event: dict[str, Any], request_id: str) -> Any:
        future = self._pool.submit(self.host.invoke, name, event, request_id)
        return future.result(timeout=self.host.timeout_seconds)

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
        authorizer: dict[str, str] | None = None
        if match.route.authorized:
            outcome = self._authorize(request, match)
            if isinstance(outcome, GatewayAnswer):
                return outcome
            authorizer = outcome
        rejected = body_errors(match.route, request)
        if rejected:
            # What the gateway's execution log says; the client gets only the gateway response.
            self.log(f"{match.route.path}: request body does not match its model: {'; '.join(rejected)}")
            return gateway_error("BAD_REQUEST_BODY", request_id)
        event = proxy_event(request, match, self.identity, authorizer)
        try:
            result = self._invoke(match.route.function, event, request_id)
            return proxy_answer(result, request_id)
        except concurrent.futures.TimeoutError:
            self.log(f"{match.route.function}: integration timeout after {self.host.timeout_seconds:g} s")
            return gateway_error("INTEGRATION_TIMEOUT", request_id)
        except MalformedProxyResponse as error:
            self.log(f"{match.route.function}: malformed Lambda proxy response: {error}")
            return gateway_error("DEFAULT_5XX", request_id, default_status=502)
        except Exception as error:  # the function crashed: API Gateway answers 502
            self.log(f"{match.route.function}: invocation failed: {type(error).__name__}: {error}")
            return gateway_error("DEFAULT_5XX", request_id, default_status=502)

    def _authorize(self, request: IncomingRequest, match: RouteMatch) -> dict[str, str] | GatewayAnswer:
        request_id = request.request_id
        event = authorizer_event(request, match, self.identity)
        try:
            answer = self._invoke("authorizer", event, request_id)
        except concurrent.futures.TimeoutError:
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
            context = authorizer_context(answer)
        except PolicyError as error:
            self.log(f"authorizer: invalid answer: {error}")
            return gateway_error("AUTHORIZER_CONFIGURATION_ERROR", request_id)
        if not allowed:
            return gateway_error("ACCESS_DENIED", request_id)
        limited = self.limiter.check(answer.get("usageIdentifierKey")) if self.limiter else None
        if limited:
            return gateway_error(limited, request_id)
        return context


# ---------------------------------------------------------------------------------------------- HTTP
class _BodyRejected(Exception):
    """The body cannot be read as sent: answered with ``response_type`` before any function runs."""

    def __init__(self, response_type: str) -> None:
        super().__init__(response_type)
        self.response_type = response_type


class _RequestHandler(BaseHTTPRequestHandler):
    server: GatewayServer
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes; without TCP_NODELAY, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.access_log:
            sys.stderr.write("apigw: " + (format % args) + "\n")

    def _serve(self) -> None:
        gateway = self.server.gateway
        split = urlsplit(self.path)
        prefix = f"/{gateway.identity.stage}"
        request_id = str(uuid.uuid4())
        try:
            body = self._read_body()
        except _BodyRejected as rejected:
            # The rest of the body is unread (or unreadable): close the connection after answering.
            self.close_connection = True
            self._send(gateway_error(rejected.response_type, request_id, default_status=400))
            return
        if split.path != prefix and not split.path.startswith(prefix + "/"):
            self._send(gateway_error("MISSING_AUTHENTICATION_TOKEN", request_id))
            return
        request = IncomingRequest(
            method=self.command,
            path=split.path[len(prefix) :] or "/",
            query=split.query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            request_id=request_id,
        )
        self._send(gateway.handle(request))

    def _read_body(self) -> bytes:
        """The request body (Content-Length or chunked), refused past the 10 MB payload limit."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit():  # also negative: rfile.read(-1) would wait for the client to close
            raise _BodyRejected("DEFAULT_4XX")
        length = int(declared)
        if length > MAX_PAYLOAD_BYTES:  # don't read 10+ MB we will refuse
            raise _BodyRejected("REQUEST_TOO_LARGE")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BodyRejected("DEFAULT_4XX") from None
            if size < 0:
                raise _BodyRejected("DEFAULT_4XX")
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers, up to the blank line
                    pass
                return bytes(body)
            if len(body) + size > MAX_PAYLOAD_BYTES:
                raise _BodyRejected("REQUEST_TOO_LARGE")
            body += self.rfile.read(size)
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _send(self, answer: GatewayAnswer) -> None:
        self.send_response(answer.status)
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve


class GatewayServer(ThreadingHTTPServer):
    # A thread per connection, daemonic so Ctrl-C does not wait for an idle keep-alive client.
    daemon_threads = True
    # A restarted `make dev` binds the port its last run left in TIME_WAIT (local.aws.port_is_free).
    allow_reuse_address = True
    # The listen backlog. socketserver's default of 5 let the kernel drop the SYNs of the 7th and later
    # of 50 parallel clients, which then retried after 1 s, 3 s, ... (p90 4.5-8.5 s, issue 11); 128 is
    # what moto's werkzeug server uses, and holds every connection of a 50-client benchmark.
    request_queue_size = 128

    def __init__(self, gateway: Gateway, port: int = 0, *, access_log: bool = False) -> None:
        self.gateway = gateway
        self.access_log = access_log
        super().__init__(("127.0.0.1", port), _RequestHandler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.gateway.identity.stage}"

    def start(self) -> GatewayServer:
        self._thread = threading.Thread(target=self.serve_forever, name="apigw", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.gateway.close()
