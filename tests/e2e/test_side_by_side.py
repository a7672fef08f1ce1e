"""Predict and /health side by side for a minute on the local stack: no answer meant for the other.

When every function shared the ``make dev`` process, Powertools' class-level state (the current event)
leaked between them: with /health polled at 13 rps beside predict, 6 of 3,005 predicts answered a
spurious ``403 API key not allowed for model '21'`` for a ``*``-scoped key (issue 22). Each function
instance is a process of its own now. Here a ``*`` key predicts back to back from two clients while a
third polls /health at about 13 rps; every answer must be the one its request asked for: the route's
status and shape, and the request's own X-Request-ID.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import requests
from hokusai.drift.synthetic import SEED_INPUTS

from local.stack import LocalStack
from tests.helpers import running_stack

DURATION_SECONDS = 60.0
HEALTH_INTERVAL = 1 / 13  # the polling rate
MAX_REQUESTS_PER_CLIENT = 50_000  # a bound whatever the machine's speed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(DURATION_SECONDS + 180)]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with running_stack() as started:
        yield started


@dataclass
class Seen:
    answers: Counter[str] = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, problem: str | None) -> None:
        with self.lock:
            self.answers[kind] += 1
            if problem:
                self.wrong.append(problem)


def predict_problem(response: requests.Response, sent_id: str) -> str | None:
    """Anything but a prediction for this request. A 503 with Retry-After (the authorizer or the model
    briefly unavailable on a machine this test shares) is not an answer meant for /health; a 403 is."""
    body = response.json()
    if response.status_code == 503 and response.headers.get("Retry-After") and "services" not in body:
        return None
    if response.status_code != 200:
        return f"predict {sent_id}: {response.status_code} {response.text[:200]}"
    if response.headers.get("X-Request-ID") != sent_id:
        return f"predict {sent_id}: answered with X-Request-ID {response.headers.get('X-Request-ID')}"
    if body.get("model_id") != "21" or "predictions" not in body or "services" in body:
        return f"predict {sent_id}: not a prediction: {response.text[:200]}"
    return None


def health_problem(response: requests.Response, sent_id: str) -> str | None:
    """Anything but /health's own report for this request: 200, or 503 when a check overran health's
    300 ms deadline on a busy machine (still its report, with its X-Request-ID)."""
    if response.status_code not in (200, 503):
        return f"health {sent_id}: {response.status_code} {response.text[:200]}"
    body = response.json()
    if response.headers.get("X-Request-ID") != sent_id:
        return f"health {sent_id}: answered with X-Request-ID {response.headers.get('X-Request-ID')}"
    if body.get("status") not in ("healthy", "degraded", "unhealthy") or "services" not in body:
        return f"health {sent_id}: not a health answer: {response.text[:200]}"
    if "predictions" in body:
        return f"health {sent_id}: a prediction: {response.text[:200]}"
    return None


def loop(
    send: Callable[[requests.Session, str], requests.Response],
    check: Callable[[requests.Response, str], str | None],
    kind: str,
    seen: Seen,
    *,
    until: float,
    interval: float = 0.0,
) -> None:
    session = requests.Session()
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        if time.monotonic() >= until:
            return
        sent_id = f"{kind}-{uuid.uuid4()}"
        try:
            response = send(session, sent_id)
        except requests.RequestException as error:
            seen.note(kind, f"{kind} {sent_id}: {type(error).__name__}: {error}")
            continue
        seen.note(kind, check(response, sent_id))
        if interval:
            time.sleep(interval)


def test_predict_and_health_for_a_minute_side_by_side(stack: LocalStack) -> None:
    api_key, _ = stack.create_key("side-by-side", ["*"])
    base = stack.base_url

    def predict(session: requests.Session, sent_id: str) -> requests.Response:
        return session.post(
            f"{base}/v1/models/21/predict",
            json={"inputs": SEED_INPUTS},
            headers={"X-API-Key": api_key, "X-Request-ID": sent_id},
            timeout=30,
        )

    def health(session: requests.Session, sent_id: str) -> requests.Response:
        return session.get(f"{base}/health", headers={"X-Request-ID": sent_id}, timeout=30)

    seen = Seen()
    until = time.monotonic() + DURATION_SECONDS
    clients = [
        threading.Thread(
            target=loop, args=(predict, predict_problem, "predict", seen), kwargs={"until": until}
        ),
        threading.Thread(
            target=loop, args=(predict, predict_problem, "predict", seen), kwargs={"until": until}
        ),
        threading.Thread(
            target=loop,
            args=(health, health_problem, "health", seen),
            kwargs={"until": until, "interval": HEALTH_INTERVAL},
        ),
    ]
    for client in clients:
        client.start()
    for client in clients:
        client.join(DURATION_SECONDS + 120)
    spurious_403 = [line for line in seen.wrong if "API key not allowed for model" in line]
    assert spurious_403 == [], spurious_403[:5]  # the case, by name
    assert seen.wrong == [], (len(seen.wrong), seen.wrong[:10])
    # Enough of both to mean something (counts, not speed: a slow machine still sends hundreds).
    assert seen.answers["predict"] >= 100 and seen.answers["health"] >= 100, seen.answers
