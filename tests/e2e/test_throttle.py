"""Predict past its reserved concurrency on the local stack: the answer API Gateway gives when Lambda
throttles the function, while requests within the limit keep answering 200.

Lambda refuses an invocation past the reserved concurrency (429 TooManyRequestsException) and API
Gateway answers that as an internal error, 500 (AWS Lambda developer guide, "Handling Lambda errors with
an API Gateway API"): here the declared DEFAULT_5XX gateway response, JSON with X-Request-ID
(docs/local.md, "Functions as Lambda runs them"). cdk.json reserves 50 for predict; these stacks
reserve 1 and 2, so the limit is reached without 50 processes.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import requests
from hokusai.drift.synthetic import SEED_INPUTS

from local.stack import LocalStack

THROTTLE_DETAIL = "The service failed to answer, retry shortly"


def local_stack(reserved: int) -> LocalStack:
    return LocalStack(
        name=f"hokusai-test-{uuid.uuid4().hex[:6]}",
        overrides={"POWERTOOLS_LOG_LEVEL": "WARNING"},
        reserved_concurrency={"predict": reserved},
    )


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    started = local_stack(reserved=1).start()
    try:
        yield started
    finally:
        started.stop()


def predict(stack: LocalStack, api_key: str, timeout: float = 30) -> requests.Response:
    return requests.post(
        f"{stack.base_url}/v1/models/21/predict",
        json={"inputs": SEED_INPUTS},
        headers={"X-API-Key": api_key},
        timeout=timeout,
    )


def assert_throttled(response: requests.Response) -> None:
    assert response.status_code == 500, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["detail"] == THROTTLE_DETAIL
    assert body["request_id"] and response.headers["X-Request-ID"] == body["request_id"]
    assert response.headers["x-amzn-ErrorType"] == "InternalServerErrorException"


def test_past_the_reserved_concurrency_the_throttle_answer_within_it_200(stack: LocalStack) -> None:
    api_key, _ = stack.create_key("throttle-user", ["21"])
    assert predict(stack, api_key).status_code == 200
    pool = stack.host.pool("predict")
    (pid,) = pool.pids()  # reserved concurrency 1: one instance
    os.kill(pid, signal.SIGSTOP)  # its invocation stays in flight until SIGCONT
    held: list[requests.Response] = []
    holder = threading.Thread(target=lambda: held.append(predict(stack, api_key)))
    try:
        holder.start()
        deadline = time.monotonic() + 30
        while pool.stats().in_flight < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pool.stats().in_flight == 1
        assert_throttled(predict(stack, api_key, timeout=10))  # the second concurrent one
        assert requests.get(f"{stack.base_url}/health", timeout=10).status_code == 200  # others unaffected
    finally:
        os.kill(pid, signal.SIGCONT)
        holder.join(timeout=60)
    assert held and held[0].status_code == 200, held  # the one within the limit answered
    for _ in range(5):
        assert predict(stack, api_key).status_code == 200  # within the limit again
    assert pool.stats().throttles == 1 and pool.stats().instances == 1


def test_parallel_clients_past_the_limit_get_200_or_the_throttle_answer_only() -> None:
    stack = local_stack(reserved=2).start()
    try:
        api_key, _ = stack.create_key("throttle-load", ["21"])
        session_answers: Counter[int] = Counter()
        other: list[str] = []
        until = time.monotonic() + 5

        def client() -> None:
            session = requests.Session()
            for _ in range(2_000):  # bounded whatever the machine's speed
                if time.monotonic() > until:
                    return
                response = session.post(
                    f"{stack.base_url}/v1/models/21/predict",
                    json={"inputs": SEED_INPUTS},
                    headers={"X-API-Key": api_key},
                    timeout=30,
                )
                session_answers[response.status_code] += 1
                if response.status_code == 500:
                    assert_throttled(response)
                elif response.status_code != 200:
                    other.append(response.text)

        with concurrent.futures.ThreadPoolExecutor(10) as clients:
            for future in [clients.submit(client) for _ in range(10)]:
                future.result()
        assert other == []
        assert session_answers[200] > 0
        stats = stack.host.pool("predict").stats()
        assert stats.instances <= 2 and stats.throttles == session_answers[500]
        assert predict(stack, api_key).status_code == 200
    finally:
        stack.stop()
