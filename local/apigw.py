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

import asyncio
import concurrent.futures
import importlib.util
import logging
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from types import ModuleType
from typing import Any

import h11
import uvicorn
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
from uvicorn.protocols.http.h11_impl import H11Protocol

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
        if getattr(self.host, "enforces_timeouts", False):  # local.lambda_pool: one process per instance
            return self.host.invoke(name, event, request_id)
        future = self._pool.submit(self.host.invoke, name, event, request_id)
        try:
            return future.result(timeout=self.host.timeout_seconds)
        except concurrent.futures.TimeoutError:
            self.log(f"{name}: no answer within {self.host.timeout_seconds:g} s")
            raise TimeoutError(name) from None


# ---------------------------------------------------------------------------------------------- HTTP
# The HTTP layer is uvicorn's h11 protocol (a maintained server on asyncio; bench/http_servers.py and
# docs/local.md say why it was chosen over waitress), bent in three places only: what it answers on
# its own (h11's refusals, and requests that stall) is a gateway response as JSON with X-Request-ID
# instead of a text/plain 400; a request whose head or body stalls is answered 408 after
# ``read_timeout``; and the header names reach the events with the case the client sent.

# API Gateway's REST API quota for the request line and headers together, 10,240 bytes: h11 refuses a
# head that does not fit (431, or 414 for a request line alone over it).
MAX_HEAD_BYTES = 10 * 1024
READ_TIMEOUT_SECONDS = 10.0  # the request's head, then its body, must arrive within this
IDLE_TIMEOUT_SECONDS = 30.0  # a keep-alive connection with no request is closed after this
# Threads that wait on the functions, one per request with them; past it requests wait here, in arrival
# order. More threads only made the GIL the bottleneck: at 100 parallel clients 128 threads answered 265
# predicts/s with p99 461 ms, 16 threads 410/s and 267 ms (bench/make_dev.py's load, same conditions).
GATEWAY_THREADS = 32
LISTEN_BACKLOG = 1024  # 50 and more parallel clients connect at once (issue 11: the default 5 did not)

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive"}

_quiet = logging.getLogger("uvicorn.error")
_quiet.addHandler(logging.NullHandler())
_quiet.propagate = False  # its warnings repeat what the gateway answers; the answers say it all


def http_bytes(answer: GatewayAnswer, *, close: bool, head_only: bool = False) -> bytes:
    """An answer as bytes on the wire, for what is answered below the ASGI app (then the connection
    closes: the request was not read to its end)."""
    lines = [f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}"]
    lines += [f"{name}: {value}" for name, value in answer.headers if name.lower() not in _HOP_BY_HOP]
    lines.append(f"Content-Length: {len(answer.body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else answer.body)


def refused(status: int) -> GatewayAnswer:
    """What the gateway answers a request it cannot read (DEFAULT_4XX, with the status that says why)."""
    return gateway_error("DEFAULT_4XX", str(uuid.uuid4()), default_status=status)


class _Connection(h11.Connection):
    """h11's connection, remembering what the protocol below needs: the last refusal and the header
    names as sent (h11 hands them on lower-cased; API Gateway keeps the client's case)."""

    def __init__(self, max_incomplete_event_size: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_incomplete_event_size)
        self.last_error: h11.RemoteProtocolError | None = None
        self.raw_headers: list[tuple[bytes, bytes]] = []

    def next_event(self) -> Any:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as error:
            self.last_error = error
            raise
        if isinstance(event, h11.Request):
            self.raw_headers = list(event.headers.raw_items())
        return event


class _GatewayProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with the gateway's own answers and timeouts (see above)."""

    read_timeout: float = READ_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn: _Connection = _Connection(self.config.h11_max_incomplete_event_size or MAX_HEAD_BYTES)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        # uvicorn arms its keep-alive timer after each answer; a connection that never sends gets it too.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        try:
            super().data_received(data)
        except Exception:  # bytes the HTTP layer could not take apart (e.g. not ASCII in the target)
            self._refuse(400)
            return
        if self.transport.is_closing():
            self._cancel_head_timer()
            return
        # A chunk declared over the payload limit is refused before its first byte is read.
        reader = getattr(self.conn, "_reader", None)
        if getattr(reader, "_bytes_in_chunk", 0) > MAX_PAYLOAD_BYTES:
            self._refuse(413, gateway_error("REQUEST_TOO_LARGE", str(uuid.uuid4())))
            return
        waiting_for_head = self.conn.their_state is h11.IDLE and bool(self.conn.trailing_data[0])
        if waiting_for_head and self._head_timer is None:
            self._head_timer = self.loop.call_later(self.read_timeout, self._head_timed_out)
        elif not waiting_for_head:
            self._cancel_head_timer()

    def handle_events(self) -> None:
        super().handle_events()
        if self.scope is not None and "hokusai.raw_headers" not in self.scope:
            self.scope["hokusai.raw_headers"] = self.conn.raw_headers  # type: ignore[typeddict-unknown-key]

    def send_400_response(self, msg: str) -> None:
        """h11 refused the request: 431 (head over MAX_HEAD_BYTES), 414 (the request line alone over
        it), else 400; JSON, and the connection closes."""
        error = self.conn.last_error
        status = 400
        if error is not None and error.error_status_hint == 431:
            buffered = self.conn.trailing_data[0]
            line_end = buffered.find(b"\n")
            status = 414 if line_end < 0 or line_end > MAX_HEAD_BYTES else 431
        self._refuse(status)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        self._refuse(408)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, status: int, answer: GatewayAnswer | None = None) -> None:
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            if self.cycle.response_started:  # too late for an answer: end the connection
                self.transport.close()
                return
            self.cycle.disconnected = True  # the app's own answer, if any, goes nowhere
            self.cycle.message_event.set()
        self.transport.write(http_bytes(answer or refused(status), close=True))
        self.transport.close()


class _App:
    """The ASGI application: reads the request (bounded in size and time) and answers it through the
    gateway on a thread, since the functions' invocations block."""

    def __init__(self, server: GatewayServer) -> None:
        self.server = server

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        try:
            answer, close = await self._answer(scope, receive)
        except Exception as error:  # never uvicorn's text/plain 500
            self.server.gateway.log(f"emulator: {type(error).__name__}: {error}")
            answer, close = gateway_error("DEFAULT_5XX", str(uuid.uuid4()), default_status=502), True
        if answer is None:
            return  # the client went away
        headers = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in answer.headers
            if name.lower() not in _HOP_BY_HOP
        ]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else answer.body
        await send({"type": "http.response.body", "body": body, "more_body": False})
        if self.server.access_log:
            sys.stderr.write(
                f"apigw: {scope['method']} {scope['raw_path'].decode('latin-1')} {answer.status}\n"
            )

    async def _answer(self, scope: dict[str, Any], receive: Any) -> tuple[GatewayAnswer | None, bool]:
        gateway = self.server.gateway
        request_id = str(uuid.uuid4())
        raw_headers = scope.get("hokusai.raw_headers") or scope["headers"]
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw_headers]
        if scope["http_version"] not in ("1.0", "1.1"):  # h11 reads any HTTP/1.x as 1.1
            return gateway_error("DEFAULT_4XX", request_id, default_status=400), True
        # h11 bounds only a head still arriving; one that came whole is measured here.
        target = len(scope["raw_path"]) + (len(scope["query_string"]) + 1 if scope["query_string"] else 0)
        head = len(scope["method"]) + target + 11 + sum(len(n) + len(v) + 4 for n, v in raw_headers)
        if target > MAX_HEAD_BYTES or head > MAX_HEAD_BYTES:
            return gateway_error(
                "DEFAULT_4XX", request_id, default_status=414 if target > MAX_HEAD_BYTES else 431
            ), True
        declared = next((v for k, v in headers if k.lower() == "content-length"), None)
        if declared is not None and declared.strip().isdigit() and int(declared) > MAX_PAYLOAD_BYTES:
            return gateway_error("REQUEST_TOO_LARGE", request_id), True  # not read: close after it
        body = bytearray()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.server.read_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None, True
                    body += message.get("body", b"")
                    if len(body) > MAX_PAYLOAD_BYTES:
                        return gateway_error("REQUEST_TOO_LARGE", request_id), True
                    if not message.get("more_body", False):
                        break
        except TimeoutError:  # shorter than its Content-Length, or a stalled chunked body
            return gateway_error("DEFAULT_4XX", request_id, default_status=408), True
        path = scope["raw_path"].decode("latin-1")
        prefix = gateway.identity.url_prefix  # the stage, or the custom domain's base path (the same)
        if path != prefix and not path.startswith(prefix + "/"):
            return gateway_error("MISSING_AUTHENTICATION_TOKEN", request_id), False
        client = scope.get("client") or ("127.0.0.1", 0)
        request = IncomingRequest(
            method=scope["method"],
            path=path[len(prefix) :] or "/",
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=bytes(body),
            source_ip=client[0],
            request_id=request_id,
        )
        answer = await loop.run_in_executor(self.server.executor, gateway.handle, request)
        if not all(_TOKEN.fullmatch(name) for name, _ in answer.headers) or any(
            not _header_value_ok(value) for _, value in answer.headers
        ):  # what a function's malformed header would be at API Gateway: a malformed proxy answer
            gateway.log("emulator: the function answered a header HTTP cannot carry")
            return gateway_error("DEFAULT_5XX", request_id, default_status=502), False
        return answer, False


def _header_value_ok(value: str) -> bool:
    if any(char in value for char in "\r\n\0"):
        return False
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


class GatewayServer:
    """The emulator's HTTP server on 127.0.0.1: uvicorn on an event loop of its own thread.

    Bound and listening once constructed (so a caller can connect before :meth:`start`), serving after
    :meth:`start`, stopped (connections closed, threads ended) by :meth:`stop` within a few seconds."""

    def __init__(
        self,
        gateway: Gateway,
        port: int = 0,
        *,
        access_log: bool = False,
        read_timeout: float = READ_TIMEOUT_SECONDS,
        idle_timeout: float = IDLE_TIMEOUT_SECONDS,
        threads: int = GATEWAY_THREADS,
    ) -> None:
        self.gateway = gateway
        self.access_log = access_log
        self.read_timeout = read_timeout
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and an
        # answer's head and body leave in two writes (Nagle + delayed ACK added 40 ms to each request).
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        # A restarted `make dev` binds the port its last run left in TIME_WAIT (local.aws.port_is_free).
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.socket.bind(("127.0.0.1", port))
            self.socket.listen(LISTEN_BACKLOG)
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[str, int] = self.socket.getsockname()
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="apigw")
        protocol = type("GatewayProtocol", (_GatewayProtocol,), {"read_timeout": read_timeout})
        config = uvicorn.Config(
            _App(self),
            http=protocol,
            ws="none",
            loop="uvloop",  # libuv's event loop (uvicorn's run() sets it up; asyncio.run() would not)
            lifespan="off",
            interface="asgi3",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=int(max(1, idle_timeout)),
            timeout_graceful_shutdown=1,
            h11_max_incomplete_event_size=MAX_HEAD_BYTES,
            backlog=LISTEN_BACKLOG,
        )
        self._uvicorn = uvicorn.Server(config)
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

    def start(self, timeout: float = 10.0) -> GatewayServer:
        self._thread = threading.Thread(
            # uvicorn's run: the event loop of its `loop` setting (uvloop), on this thread.
            target=lambda: self._uvicorn.run(sockets=[self.socket]),
            name="apigw",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API Gateway emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving: idle connections close at once, answers in progress get a second, then every
        connection is closed; the gateway's threads are released."""
        if self._thread is not None:
            self._uvicorn.should_exit = True
            self._thread.join(timeout=3)
            if self._thread.is_alive():
                self._uvicorn.force_exit = True
                self._thread.join(timeout=2)
            self._thread = None
        self.socket.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.gateway.close()
