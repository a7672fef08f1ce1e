"""Fixtures shared by the drift, canary and doctor tests: a deploy-like moto environment and the API.

The API is the real one: the local stack (``local/stack.py``) with the four functions behind the API
Gateway emulator, one per test module. Its moto server and the session's (``moto_server``) run in this
process and so share moto's state: a deployment made through either is seen through both.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from local.deployment import Deployment, deploy
from local.moto_server import MotoServer
from local.stack import LocalStack
from tests.helpers import running_stack

# The canary's and hokusai doctor's own variables (hokusai.config.CanarySettings). The local stack
# sets them for its in-process canary; in these tests they come from the test, as from an operator.
CANARY_VARIABLES = (
    "API_BASE_URL",
    "EXPECTED_STATE_PARAMETER",
    "CANARY_KEY_SECRET_ARN",
    "ALERT_TOPIC_ARN",
    "CANARY_MODEL_ID",
    "CANARY_TIMEOUT_MS",
)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


@pytest.fixture
def deployment(moto_env: MotoServer) -> Deployment:
    return deploy(moto_env.endpoint_url)


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    """The real functions behind the API Gateway emulator, with their own redis-server; one per module.

    HEALTH_DEADLINE_MS 2000: these tests are about the canary and the doctor, not health's 300 ms
    deadline (tests/e2e/test_faults.py), which the first calls on this shared 2-core box can overrun.
    The functions are loaded (one health and one predict request) while the process environment is
    the stack's, as their containers would be; then the canary's variables are removed, so each test
    gives the canary and the doctor only what it means to.
    """
    with running_stack(HEALTH_DEADLINE_MS="2000") as started, pytest.MonkeyPatch.context() as env:
        api_key = started.deployment.canary_api_key
        assert requests.get(f"{started.base_url}/health", timeout=30).json()["status"] == "healthy"
        warm = requests.post(
            f"{started.base_url}/v1/models/21/predict",
            json={"inputs": {"company_size": 1000}},
            headers={"X-API-Key": api_key},
            timeout=30,
        )
        assert warm.status_code == 200, warm.text
        for name in CANARY_VARIABLES:
            env.delenv(name, raising=False)
        yield started


class FaultyPipe:
    """A pipe in front of the real API that injects, when a test asks, a failure the real handlers
    cannot produce; with no fault set it forwards each request and returns the real answer unchanged.

    Faults (attributes): ``fail_status`` (the pipe answers every request with it, as an API failing on
    every route, even the keyless predict the real authorizer refuses with 401 before any I/O);
    ``delay_seconds`` (the answer held back: a slow API); ``redirect_to`` (a 301 to that URL: a moved
    API, a wrong stage); ``trickle`` (the real answer sent one byte every 0.1 s, which defeats a
    per-read timeout); ``require_key = False`` (a keyless request gets ``api_key`` added before it is
    forwarded: an authorizer that lets requests without a key through).
    ``requests``: (method, path, whether it carried ``api_key``) for every request the pipe received.
    """

    def __init__(self, target_base_url: str, api_key: str) -> None:
        target = urlsplit(target_base_url)
        self.target_host, self.target_port = target.hostname or "127.0.0.1", int(target.port or 80)
        self.api_key = api_key
        self.fail_status: int | None = None
        self.delay_seconds = 0.0
        self.redirect_to: str | None = None
        self.trickle = False
        self.require_key = True
        self.requests: list[tuple[str, str, bool]] = []
        pipe = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                pipe._answer(self)

            def do_POST(self) -> None:
                pipe._answer(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}{target.path}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FaultyPipe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        headers = {name: value for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP}
        authorization = request.headers.get("Authorization") or ""
        presented = (
            authorization[7:] if authorization.startswith("Bearer ") else request.headers.get("X-API-Key")
        )
        self.requests.append((request.command, request.path, presented == self.api_key))
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        if self.redirect_to is not None:
            self._send(request, 301, [("Location", self.redirect_to)], b"")
            return
        if self.fail_status is not None:
            payload = json.dumps({"message": "Internal server error"}).encode()
            self._send(request, self.fail_status, [("Content-Type", "application/json")], payload)
            return
        if not self.require_key and presented is None:
            headers["X-API-Key"] = self.api_key
        connection = http.client.HTTPConnection(self.target_host, self.target_port, timeout=30)
        try:
            connection.request(request.command, request.path, body=body, headers=headers)
            answer = connection.getresponse()
            answer_headers = [(n, v) for n, v in answer.getheaders() if n.lower() not in HOP_BY_HOP]
            self._send(request, answer.status, answer_headers, answer.read())
        finally:
            connection.close()

    def _send(
        self, request: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], payload: bytes
    ) -> None:
        try:
            request.send_response(status)
            for name, value in headers:
                request.send_header(name, value)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            if not self.trickle:
                request.wfile.write(payload)
                return
            for byte in payload:
                request.wfile.write(bytes([byte]))
                request.wfile.flush()
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):  # the canary gave up first (timeout tests)
            return


@pytest.fixture
def api(stack: LocalStack, deployment: Deployment) -> Iterator[FaultyPipe]:
    """The real API (through a :class:`FaultyPipe`, no fault set) and a canary key for ``deployment``.

    The key is made in the stack's keys table for model 21 and stored in the deployment's canary key
    secret, as the stack's CanaryKey custom resource does: the canary's predict passes the real
    authorizer with it. ``deployment.canary_api_key`` holds it so tests can check it never leaks.
    """
    api_key, _ = stack.create_key("canary", models=["21"])
    deployment.client("secretsmanager").put_secret_value(
        SecretId=deployment.secret_arns["canary_key"], SecretString=api_key
    )
    deployment.canary_api_key = api_key
    pipe = FaultyPipe(stack.base_url, api_key).start()
    yield pipe
    pipe.stop()


@pytest.fixture
def stack_redis(stack: LocalStack) -> Iterator[Any]:
    """The stack's own redis-server, which the test may kill; running and answering again afterwards."""
    server = stack.redis_server
    assert server is not None
    yield server
    if server._process is None or server._process.poll() is not None:
        server.start()
    wait_until_healthy(stack)


def wait_until_healthy(stack: LocalStack, timeout: float = 15) -> None:
    """After a test broke and repaired the stack: its /health says healthy again (or this fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if requests.get(f"{stack.base_url}/health", timeout=10).json()["status"] == "healthy":
            return
        time.sleep(0.1)
    raise AssertionError(f"the stack's /health is not healthy again after {timeout} s")
