"""The emulator's functions as Lambda runs them (local/lambda_pool.py): a process per instance, warm reuse,
scale-out up to the reserved concurrency, the throttle past it, crashes and timeouts answered 502/504
with the instance replaced, INIT/REPORT lines. Stand-in functions (written here) behind the real
gateway and HTTP server, so no moto or Redis is needed."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.apigw import Gateway, GatewayIdentity, GatewayServer
from local.lambda_pool import CpuMeter, ProcessFunctionHost

ALLOW_ALL = """
def lambda_handler(event, context):
    return {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "*"}]}}
"""
# Answers its process id and how many events this instance has seen; the body says what else to do.
PREDICT = """
import json, os, time
SEEN = []
def lambda_handler(event, context):
    SEEN.append(event["requestContext"]["requestId"])
    order = json.loads(event["body"] or "{}")
    if order.get("crash"):
        os._exit(3)
    if order.get("raise"):
        raise ValueError("asked to fail")
    time.sleep(order.get("sleep", 0))
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"pid": os.getpid(), "seen": len(SEEN),
                                "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"]})}
"""
HEALTH = """
import json, os
def lambda_handler(event, context):
    return {"statusCode": 200, "body": json.dumps({"pid": os.getpid(), "function": "health"})}
"""
PREDICT_PATH = "/api/v1/models/21/predict"
FUNCTION_TIMEOUT = 6.0


@pytest.fixture(scope="module")
def functions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root: Path = tmp_path_factory.mktemp("functions")
    for name, source in {"authorizer": ALLOW_ALL, "predict": PREDICT, "health": HEALTH}.items():
        (root / name).mkdir()
        (root / name / "handler.py").write_text(textwrap.dedent(source))
    return root


class Stack:
    def __init__(self, functions: Path, tmp_path: Path, **host: Any) -> None:
        self.lines: list[str] = []
        self.host = ProcessFunctionHost(
            GatewayIdentity(),
            functions=("authorizer", "predict", "health"),
            functions_dir=functions,
            log=self.lines.append,
            stdout=None,
            log_dir=tmp_path / "logs",
            **host,
        )
        self.host.configure({"POWERTOOLS_TRACE_DISABLED": "1"})
        self.server = GatewayServer(Gateway(self.host, log=self.lines.append)).start()
        self.url = f"http://127.0.0.1:{self.server.port}"

    def predict(self, order: dict[str, Any] | None = None, timeout: float = 30) -> requests.Response:
        body = json.dumps({"inputs": {}, **(order or {})})
        return requests.post(
            self.url + PREDICT_PATH, data=body, headers={"Content-Type": "application/json"}, timeout=timeout
        )

    def stop(self) -> None:
        self.server.stop()
        self.host.stop()


class NeverSaturated(CpuMeter):
    """The pool scales out whatever else runs on this machine (it holds back while the CPU is saturated)."""

    def saturated(self) -> bool:
        return False


@pytest.fixture
def stack(functions: Path, tmp_path: Path) -> Iterator[Stack]:
    started = Stack(
        functions,
        tmp_path,
        timeouts={"predict": FUNCTION_TIMEOUT},
        reserved={"predict": 3},
        cpu=NeverSaturated(),
    )
    yield started
    started.stop()


def assert_gateway_error(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["detail"] and body["request_id"] == response.headers["X-Request-ID"]
    return dict(body)


def test_each_function_instance_is_a_process_of_its_own_reused_warm(stack: Stack) -> None:
    first, second = stack.predict().json(), stack.predict().json()
    health = requests.get(stack.url + "/api/health", timeout=30).json()
    assert first["pid"] == second["pid"] != os.getpid()  # one warm instance, reused
    assert (first["seen"], second["seen"]) == (1, 2)
    assert health["pid"] not in (first["pid"], os.getpid())  # no process shared between functions
    assert first["function"] == "hokusai-local-predict"
    assert any(line.startswith("INIT_START predict instance 1") for line in stack.lines)
    reports = [line for line in stack.lines if line.startswith("REPORT predict instance 1 ")]
    assert len(reports) == 1 and "Init Duration: " in reports[0]  # only the cold start is reported


def test_busy_instances_scale_out_up_to_the_reserved_concurrency(stack: Stack) -> None:
    # Each holds its instance long enough for the pool to see them all busy and start the others.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: stack.predict({"sleep": 4}), range(3)))
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert len({answer.json()["pid"] for answer in answers}) == 3  # three at once: three instances
    assert stack.host.stats()["predict"].instances == 3


def test_past_the_reserved_concurrency_the_answer_is_api_gateways_to_a_throttled_lambda(stack: Stack) -> None:
    stack.predict()  # one warm instance
    stack.host.pool("predict").reserved = 1
    (pid,) = stack.host.pool("predict").pids()
    os.kill(pid, signal.SIGSTOP)  # the only instance allowed is busy until SIGCONT
    held: list[requests.Response] = []
    holder = threading.Thread(target=lambda: held.append(stack.predict()))
    try:
        holder.start()
        for _ in range(200):  # until the held invocation is in flight
            if stack.host.stats()["predict"].in_flight:
                break
            threading.Event().wait(0.05)
        throttled = stack.predict(timeout=10)
        # Lambda refused the invocation: API Gateway answers 500 (DEFAULT_5XX), not a 429.
        body = assert_gateway_error(throttled, 500)
        assert body["detail"] == "The service failed to answer, retry shortly"
        assert throttled.headers["x-amzn-ErrorType"] == "InternalServerErrorException"
        assert requests.get(stack.url + "/api/health", timeout=10).status_code == 200  # other functions
    finally:
        os.kill(pid, signal.SIGCONT)
        holder.join(timeout=30)
    assert held[0].status_code == 200  # the invocation within the limit answered
    assert stack.predict().status_code == 200
    assert stack.host.stats()["predict"].throttles == 1
    assert any("throttled" in line for line in stack.lines)


def test_a_crash_is_a_502_and_the_instance_is_replaced(stack: Stack) -> None:
    before = stack.predict().json()["pid"]
    assert_gateway_error(stack.predict({"crash": True}), 502)
    after = stack.predict().json()
    assert after["pid"] != before and after["seen"] == 1  # a fresh instance, a cold start
    assert any("Runtime.ExitError" in line for line in stack.lines)
    assert stack.host.stats()["predict"].replaced == 1


def test_a_handler_exception_is_a_502_and_the_instance_stays_warm(stack: Stack) -> None:
    before = stack.predict().json()
    assert_gateway_error(stack.predict({"raise": True}), 502)
    after = stack.predict().json()
    assert after["pid"] == before["pid"] and after["seen"] == before["seen"] + 2


def test_past_the_function_timeout_a_502_and_the_instance_is_killed(stack: Stack) -> None:
    before = stack.predict().json()["pid"]
    assert_gateway_error(stack.predict({"sleep": FUNCTION_TIMEOUT + 30}), 502)  # "Task timed out"
    with pytest.raises(ProcessLookupError):
        os.kill(before, 0)
    assert stack.predict().json()["pid"] != before
    assert any("Status: timeout" in line for line in stack.lines)


def test_past_the_integration_timeout_a_504(functions: Path, tmp_path: Path) -> None:
    slow = Stack(functions, tmp_path, timeouts={"predict": 60.0}, timeout_seconds=1.0)
    try:
        body = assert_gateway_error(slow.predict({"sleep": 30}), 504)
        assert body["detail"] == "The service took too long to answer"
        assert slow.predict().status_code == 200
    finally:
        slow.stop()


def test_stop_ends_every_instance(functions: Path, tmp_path: Path) -> None:
    stack = Stack(functions, tmp_path)
    stack.predict()
    requests.get(stack.url + "/api/health", timeout=30)
    pids = stack.host.pids()
    assert len(pids) == 3  # authorizer, predict, health
    stack.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_no_scale_out_while_the_cpu_is_saturated(functions: Path, tmp_path: Path) -> None:
    """A new instance would only take CPU from the busy ones: the invocations wait for the first free one."""

    class Saturated(CpuMeter):
        def saturated(self) -> bool:
            return True

    stack = Stack(functions, tmp_path, reserved={"predict": 3}, cpu=Saturated())
    try:
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: stack.predict({"sleep": 0.3}), range(3)))
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        assert len({answer.json()["pid"] for answer in answers}) == 1  # one instance served all three
        assert stack.host.stats()["predict"].instances == 1
    finally:
        stack.stop()
