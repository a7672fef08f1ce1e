"""The emulator as a hostile client meets it, over raw sockets (issue 22's list): every answer the gateway
gives on its own is a gateway response as JSON with ``X-Request-ID`` (4xx/5xx), or the connection is
closed after a bounded timeout; never an HTML page, a dropped connection without an answer, or a hang.

The local stack as ``make dev`` runs it, with its read and idle timeouts shortened so the timeouts can
be waited for (``LocalStack(read_timeout=..., idle_timeout=...)``; make dev's are 10 s and 30 s).
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from local.stack import LocalStack

READ_TIMEOUT = 1.5
IDLE_TIMEOUT = 2.0
SLACK = 10.0  # a bound, never a speed: the answer must come, on a shared machine


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    started = LocalStack(
        name=f"hokusai-test-{uuid.uuid4().hex[:6]}",
        overrides={"POWERTOOLS_LOG_LEVEL": "WARNING"},
        read_timeout=READ_TIMEOUT,
        idle_timeout=IDLE_TIMEOUT,
    )
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def api_key(stack: LocalStack) -> str:
    return stack.create_key("hostile-user")[0]


@dataclass
class Answer:
    status: int | None  # None: closed without an answer
    headers: dict[str, str]
    body: bytes
    seconds: float  # from the last byte sent to the connection's end
    closed: bool

    def json(self) -> Any:
        return json.loads(self.body)


def exchange(stack: LocalStack, data: bytes, *, wait: float = READ_TIMEOUT + SLACK) -> Answer:
    """Send ``data`` and read until the server closes the connection or ``wait`` passes."""
    with socket.create_connection(("127.0.0.1", stack.server.port), timeout=wait) as connection:
        connection.sendall(data)
        sent = time.monotonic()
        received = b""
        closed = False
        connection.settimeout(0.2)
        while time.monotonic() - sent < wait:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                if _complete(received):
                    break  # a whole answer on a connection kept open
                continue
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            received += chunk
        seconds = time.monotonic() - sent
    if not received:
        return Answer(None, {}, b"", seconds, closed)
    head, _, body = received.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (ln.partition(":") for ln in lines[1:])
    }
    return Answer(int(lines[0].split()[1]), headers, body, seconds, closed)


def _complete(received: bytes) -> bool:
    head, separator, body = received.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return True


def assert_gateway_json(answer: Answer, status: int, *, closed: bool | None = None) -> dict[str, Any]:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    assert b"<html" not in answer.body.lower()
    body = answer.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["request_id"] and answer.headers["x-request-id"] == body["request_id"]
    if closed is not None:
        assert answer.closed is closed, answer
    return dict(body)


def request(method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [
        f"{method} {target} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# ------------------------------------------------------------------------------ methods
@pytest.mark.parametrize("method", ["TRACE", "FOO", "PROPFIND", "DELETE", "PUT"])
def test_unknown_and_unserved_methods_are_a_json_405(stack: LocalStack, method: str) -> None:
    answer = exchange(stack, request(method, "/api/health", {"Connection": "close"}))
    body = assert_gateway_json(answer, 405)
    assert body["detail"] == f"Method {method} not allowed on /health; use GET"
    assert answer.headers["allow"] == "GET"


def test_connect_is_a_json_404(stack: LocalStack) -> None:
    answer = exchange(stack, request("CONNECT", "example.test:443", {"Connection": "close"}))
    assert_gateway_json(answer, 404)


# ------------------------------------------------------------------------------ sizes
@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("a 64 KB header", request("GET", "/api/health", {"X-Big": "a" * 65536}), 431),
        ("500 headers", request("GET", "/api/health", {f"X-H{i}": "v" * 20 for i in range(500)}), 431),
        ("a 70 KB request line", request("GET", "/api/health?" + "q" * 70_000), 414),
    ],
    ids=["64KB-header", "500-headers", "70KB-request-line"],
)
def test_oversize_heads_are_json_and_the_connection_closes(
    stack: LocalStack, name: str, data: bytes, status: int
) -> None:
    assert_gateway_json(exchange(stack, data), status, closed=True)


def test_a_body_over_10_mb_is_a_json_413_before_it_is_read(stack: LocalStack) -> None:
    head = request("POST", "/api/v1/models/21/predict", {"Content-Length": str(10 * 1024 * 1024 + 1)})
    answer = exchange(stack, head + b"{")
    body = assert_gateway_json(answer, 413, closed=True)
    assert body["detail"] == "Request body too large"


# ------------------------------------------------------------------------------ malformed
@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /api/health HTTP/9.9\r\nHost: x\r\n\r\n",
        b"GET  HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /api/health HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /api/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET /api/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",  # a TLS hello
    ],
    ids=[
        "no-method",
        "http-9.9",
        "no-target",
        "space-in-name",
        "two-lengths",
        "bad-chunk",
        "not-ascii",
        "tls",
    ],
)
def test_malformed_requests_are_a_json_400(stack: LocalStack, data: bytes) -> None:
    assert_gateway_json(exchange(stack, data), 400, closed=True)


def test_json_nested_2000_deep_is_the_gateways_400(stack: LocalStack, api_key: str) -> None:
    deep = b'{"inputs": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    headers = {"X-API-Key": api_key, "Content-Type": "application/json", "Content-Length": str(len(deep))}
    answer = exchange(
        stack, request("POST", "/api/v1/models/21/predict", {**headers, "Connection": "close"}, deep)
    )
    body = assert_gateway_json(answer, 400)
    assert body["detail"].startswith("Request body is not valid")


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"NaN", b""])
def test_invalid_json_is_the_gateways_400(stack: LocalStack, api_key: str, body: bytes) -> None:
    headers = {"X-API-Key": api_key, "Content-Type": "application/json", "Content-Length": str(len(body))}
    answer = exchange(
        stack, request("POST", "/api/v1/models/21/predict", {**headers, "Connection": "close"}, body)
    )
    assert_gateway_json(answer, 400)


# ------------------------------------------------------------------------------ slow and idle
def test_a_body_shorter_than_its_content_length_is_a_json_408_after_the_read_timeout(
    stack: LocalStack,
) -> None:
    head = request("POST", "/api/v1/models/21/predict", {"Content-Length": "100", "X-API-Key": "x"})
    answer = exchange(stack, head + b'{"inputs": ')
    assert_gateway_json(answer, 408, closed=True)
    assert READ_TIMEOUT * 0.5 <= answer.seconds < READ_TIMEOUT + SLACK


def test_a_head_that_stalls_is_a_json_408_after_the_read_timeout(stack: LocalStack) -> None:
    answer = exchange(stack, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    assert_gateway_json(answer, 408, closed=True)
    assert answer.seconds < READ_TIMEOUT + SLACK


def test_a_head_sent_a_byte_at_a_time_is_cut_off_too(stack: LocalStack) -> None:
    """The read timeout runs from the head's first byte, not from the last one (slowloris)."""
    data = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    with socket.create_connection(("127.0.0.1", stack.server.port), timeout=1) as connection:
        started = time.monotonic()
        answer = b""
        for byte in data:
            try:
                connection.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
            connection.settimeout(0.01)
            try:
                answer += connection.recv(65536)
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
            if b"\r\n\r\n" in answer:
                break
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert time.monotonic() - started < READ_TIMEOUT + SLACK


def test_an_idle_connection_is_closed_after_the_idle_timeout(stack: LocalStack) -> None:
    answer = exchange(stack, b"", wait=IDLE_TIMEOUT + SLACK)
    assert answer.status is None and answer.closed
    assert answer.seconds < IDLE_TIMEOUT + SLACK


def test_a_keep_alive_connection_serves_again_then_idles_out(stack: LocalStack) -> None:
    with socket.create_connection(
        ("127.0.0.1", stack.server.port), timeout=IDLE_TIMEOUT + SLACK
    ) as connection:
        for _ in range(2):
            connection.sendall(request("GET", "/api/health"))
            received = b""
            while not _complete(received):
                received += connection.recv(65536)
            assert received.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        assert connection.recv(65536) == b""  # closed by the server, no answer
        assert time.monotonic() - started < IDLE_TIMEOUT + SLACK


def test_the_stack_still_answers_after_all_that(stack: LocalStack, api_key: str) -> None:
    answer = exchange(
        stack, request("GET", "/api/v1/models/21/info", {"X-API-Key": api_key, "Connection": "close"})
    )
    assert answer.status == 200, answer
