"""A small API Gateway (REST API, Lambda proxy + REQUEST authorizer) emulator on 127.0.0.1.

It serves exactly ``hokusai.api_contract.ROUTES`` under the stage prefix ``/api`` (the table the CDK
stack builds the RestApi from) and behaves like the gateway where our functions can tell:

* every request becomes a REST API proxy event of the real shape (headers and multiValueHeaders with
  the gateway's ``Host`` and ``X-Forwarded-*``, query strings, URL-decoded pathParameters beside the
  raw path, requestContext with stage ``api``, requestId, resourcePath, domainName, identity.sourceIp,
  accountId, apiId; body and isBase64Encoded), the same keys and value types as the published AWS
  samples in ``tests/events`` (a unit test compares them);
* as called on the execute-api URL (``path`` relative to the stage, ``domainName``
  ``<apiId>.execute-api.<region>.amazonaws.com``) or, with ``GatewayIdentity.custom_domain`` set
  (``HOKUSAI_DEV_CUSTOM_DOMAIN``), on a custom domain through its base path mapping ``api``: ``path``
  keeps ``/api``, ``domainName`` and ``Host`` are the custom domain; the method ARN is the same;
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

import concurrent.futures
import importlib.util
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from hokusai import gateway
from hokusai.api_contract import JSON_CONTENT_TYPE, Route

# The gateway itself lives in hokusai.gateway (the rollout's pre-traffic hook uses it too); these
# names are re-exported because the emulator's users and tests know them from here.
from hokusai.gateway import (  # noqa: F401
    INTEGRATION_TIMEOUT_SECONDS,
    MAX_PAYLOAD_BYTES,
    GatewayAnswer,
    GatewayIdentity,
    IncomingRequest,
    MalformedProxyResponse,
    PolicyError,
    RouteMatch,
    Unauthorized,
    authorizer_context,
    authorizer_event,
    gateway_error,
    known_path,
    match_route,
    method_not_allowed,
    policy_allows,
    proxy_answer,
    proxy_event,
    request_context,
)

from local import json_schema

ROOT = Path(__file__).resolve().parents[1]


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
class Gateway(gateway.Gateway):
    """``hokusai.gateway.Gateway`` over a :class:`FunctionHost`: each invocation on a worker thread,
    bounded by the host's integration timeout; bodies checked as the stack's request validator does."""

    def __init__(
        self, host: FunctionHost, *, log: Callable[[str], None] | None = None, limiter: Any = None
    ) -> None:
        super().__init__(
            self._invoke_on_pool, host.identity, log=log, limiter=limiter, body_errors=body_errors
        )
        self.host = host
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="lambda")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _invoke_on_pool(self, name: str, event: dict[str, Any], request_id: str) -> Any:
        future = self._pool.submit(self.host.invoke, name, event, request_id)
        try:
            return future.result(timeout=self.host.timeout_seconds)
        except concurrent.futures.TimeoutError:
            self.log(f"{name}: no answer within {self.host.timeout_seconds:g} s")
            raise TimeoutError(name) from None


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
        prefix = gateway.identity.url_prefix  # the stage, or the custom domain's base path (the same)
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
        return f"http://127.0.0.1:{self.port}{self.gateway.identity.url_prefix}"

    @property
    def custom_domain_url(self) -> str | None:
        """The clients' base URL on the custom domain being emulated (None: execute-api style).
        Not served under that name: requests reach :attr:`base_url` and are seen as sent to it."""
        identity = self.gateway.identity
        return f"https://{identity.custom_domain}{identity.url_prefix}" if identity.custom_domain else None

    def start(self) -> GatewayServer:
        self._thread = threading.Thread(target=self.serve_forever, name="apigw", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.gateway.close()
