"""How the synthetic checks judge an answer. The HTTP client is injected here (no network); the
integration tests drive the same checks over real HTTP."""

from __future__ import annotations

import json
from typing import Any

from hokusai.drift.synthetic import HttpAnswer, SyntheticChecks, SyntheticStatus

SCORES: dict[str, Any] = {
    "lead_score": 70,
    "conversion_probability": 0.7,
    "recommendation": "Hot",
    "factors": ["Demo requested"],
    "confidence": 0.7,
}
PREDICTION: dict[str, Any] = {"model_id": "21", "predictions": SCORES}


class Recorder:
    def __init__(self, answers: dict[str, HttpAnswer]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def __call__(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float
    ) -> HttpAnswer:
        self.calls.append((method, url, headers))
        key = "auth" if "Authorization" in headers else method
        return self.answers[key]


def answer(
    status: int | None, body: object = None, latency_ms: float = 10.0, error: str | None = None
) -> HttpAnswer:
    return HttpAnswer(status, json.dumps(body).encode() if body is not None else b"", latency_ms, error)


def checks(answers: dict[str, HttpAnswer], key: str | None = "k", timeout_ms: int = 2000) -> SyntheticChecks:
    return SyntheticChecks(
        "https://api.example/api/", timeout_ms=timeout_ms, api_key=lambda: key, http=Recorder(answers)
    )


GOOD = {
    "GET": answer(200, {"status": "healthy", "services": {}}),
    "auth": answer(200, PREDICTION),
    "POST": answer(401, {"detail": "API key required", "request_id": "r"}),
}


def test_all_pass_and_urls_follow_the_contract() -> None:
    synthetic = checks(GOOD)
    results = synthetic.run()
    assert [r.status for r in results] == [SyntheticStatus.PASSED] * 3
    recorder = synthetic._http
    assert isinstance(recorder, Recorder)
    urls = [url for _, url, _ in recorder.calls]
    assert urls == [
        "https://api.example/api/health",
        "https://api.example/api/v1/models/21/predict",
        "https://api.example/api/v1/models/21/predict",
    ]
    assert recorder.calls[1][2]["Authorization"] == "Bearer k"
    assert "Authorization" not in recorder.calls[2][2]
    assert all(headers["X-Request-ID"].startswith("canary-") for _, _, headers in recorder.calls)
    assert "$HOKUSAI_API_KEY" in results[1].reproduce and "Bearer k" not in results[1].reproduce


def test_bad_predictions_are_named() -> None:
    for broken, expected in [
        ({**PREDICTION, "predictions": {**SCORES, "lead_score": 170}}, "lead_score 170"),
        (
            {**PREDICTION, "predictions": {**SCORES, "recommendation": "Lukewarm"}},
            "Lukewarm",
        ),
        ({**PREDICTION, "model_id": "22"}, "model_id '22'"),
        ({"model_id": "21"}, "without predictions"),
    ]:
        result = checks({**GOOD, "auth": answer(200, broken)}).check_predict()
        assert result.status is SyntheticStatus.FAILED
        assert expected in result.reason


def test_slow_but_correct_answer_fails_on_the_budget() -> None:
    result = checks({**GOOD, "GET": answer(200, {"status": "healthy"}, latency_ms=2500)}).check_health()
    assert result.status is SyntheticStatus.FAILED
    assert result.reason == "answered in 2500 ms, over the 2000 ms budget"


def test_no_answer_and_401_without_json() -> None:
    result = checks({**GOOD, "GET": answer(None, error="timed out")}).check_health()
    assert result.reason == "no answer: timed out"
    bare = HttpAnswer(401, b"Unauthorized", 3.0)
    result = checks({**GOOD, "POST": bare}).check_unauthenticated()
    assert result.status is SyntheticStatus.FAILED
    assert "401 without the JSON error body" in result.reason


def test_predict_is_skipped_without_a_key_and_fails_when_the_key_cannot_be_read() -> None:
    assert checks(GOOD, key=None).check_predict().status is SyntheticStatus.SKIPPED

    def unreadable() -> str:
        raise PermissionError("AccessDeniedException: not allowed")

    synthetic = SyntheticChecks("https://api.example/api", api_key=unreadable, http=Recorder(GOOD))
    result = synthetic.check_predict()
    assert result.status is SyntheticStatus.FAILED
    assert "could not read the canary key: PermissionError" in result.reason


def test_synthetic_requests_use_routes_the_api_contract_declares() -> None:
    from hokusai.api_contract import ROUTES

    routes = {(r.method, r.path): r.authorized for r in ROUTES}
    assert routes[("GET", "/health")] is False  # health is probed without a key
    assert routes[("POST", "/v1/models/{model_id}/predict")] is True  # so a missing key must get 401
    synthetic = checks(GOOD)
    synthetic.run()
    recorder = synthetic._http
    assert isinstance(recorder, Recorder)
    paths = {(method, url.removeprefix("https://api.example/api")) for method, url, _ in recorder.calls}
    assert paths == {("GET", "/health"), ("POST", "/v1/models/21/predict")}
