"""Synthetic checks: call the API over real HTTP the way a client does, with strict timeouts.

Three requests per run (docs/operations.md, the canary): ``GET /health``; an authenticated predict with the
canary key and the seed's body; the same predict without a key, which must get 401. Each records
pass/fail and latency; an answer slower than the budget fails even when it is correct (docs/incidents.md
section 5: every endpoint answers within 2 s).

urllib only: the canary runs outside the VPC on the plain Lambda runtime, and needs no extra wheels.
The canary key is sent in a header and never logged or put in a result.
"""

from __future__ import annotations

import enum
import json
import shlex
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The seed's curl body (docs/incidents.md section 5): what real clients send.
SEED_INPUTS: dict[str, Any] = {
    "company_size": 1000,
    "industry": "Technology",
    "engagement_score": 75,
    "website_visits": 10,
    "email_opens": 5,
    "content_downloads": 3,
    "demo_requested": True,
    "budget_confirmed": False,
    "decision_timeline": "Q2 2025",
    "title": "VP of Sales",
}

HEALTH = "health"
PREDICT = "predict"
UNAUTHENTICATED = "unauthenticated"
RECOMMENDATIONS = {"Hot", "Warm", "Cold"}
MAX_BODY_BYTES = 64 * 1024


class SyntheticStatus(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # could not run (no key configured): no metric, no alert


@dataclass(frozen=True)
class SyntheticResult:
    name: str
    method: str
    url: str
    status: SyntheticStatus
    latency_ms: float
    http_status: int | None
    reason: str
    reproduce: str  # a curl command that repeats the request (key as $HOKUSAI_API_KEY, never inline)

    @property
    def passed(self) -> bool:
        return self.status is SyntheticStatus.PASSED


@dataclass(frozen=True)
class HttpAnswer:
    status: int | None  # None: no HTTP answer at all (timeout, refused, DNS)
    body: bytes
    latency_ms: float
    error: str | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to report (a moved or misrouted API), not something to follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect())


def http_request(
    method: str, url: str, headers: dict[str, str], body: bytes | None, timeout_s: float
) -> HttpAnswer:
    """One request with a hard total deadline: no retries, no redirects followed; errors become an
    answer.

    urllib's timeout bounds each socket operation, not the request: a server that trickles a byte
    every second would hold it for ever. The request runs in a daemon thread that is abandoned at
    the deadline.
    """
    result: list[HttpAnswer] = []
    started = time.perf_counter()
    worker = threading.Thread(
        target=lambda: result.append(_http_request(method, url, headers, body, timeout_s)),
        name="canary-http",
        daemon=True,
    )
    worker.start()
    worker.join(timeout_s + 0.05)
    if result:
        return result[0]
    return HttpAnswer(None, b"", (time.perf_counter() - started) * 1000, f"timed out after {timeout_s:.1f} s")


def _http_request(
    method: str, url: str, headers: dict[str, str], body: bytes | None, timeout_s: float
) -> HttpAnswer:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)  # noqa: S310 - https/http URL from validated settings
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            payload = response.read(MAX_BODY_BYTES)
            return HttpAnswer(response.status, payload, (time.perf_counter() - started) * 1000)
    except urllib.error.HTTPError as error:
        payload = error.read(MAX_BODY_BYTES) if error.fp is not None else b""
        return HttpAnswer(error.code, payload, (time.perf_counter() - started) * 1000)
    except TimeoutError as error:
        return HttpAnswer(None, b"", (time.perf_counter() - started) * 1000, f"timed out ({error})")
    except urllib.error.URLError as error:
        reason = error.reason
        text = "timed out" if isinstance(reason, TimeoutError) else f"{type(reason).__name__}: {reason}"
        return HttpAnswer(None, b"", (time.perf_counter() - started) * 1000, text)
    except (OSError, ValueError) as error:
        return HttpAnswer(
            None, b"", (time.perf_counter() - started) * 1000, f"{type(error).__name__}: {error}"
        )


HttpClient = Callable[[str, str, dict[str, str], bytes | None, float], HttpAnswer]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def _snippet(body: bytes) -> str:
    return body[:200].decode("utf-8", "replace").replace("\n", " ")


class SyntheticChecks:
    def __init__(
        self,
        base_url: str,
        *,
        model_id: str = "21",
        timeout_ms: int = 2000,
        api_key: Callable[[], str | None] = lambda: None,
        http: HttpClient = http_request,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model_id = model_id
        self.timeout_ms = timeout_ms
        self._api_key = api_key
        self._http = http

    def run(self) -> list[SyntheticResult]:
        """All three checks, each on its own: one failing never stops the others."""
        return [self.check_health(), self.check_predict(), self.check_unauthenticated()]

    @property
    def predict_url(self) -> str:
        return f"{self.base_url}/v1/models/{self.model_id}/predict"

    def _call(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> HttpAnswer:
        headers = {"Accept": "application/json", "User-Agent": "hokusai-canary/1.0", **headers}
        headers.setdefault("X-Request-ID", f"canary-{uuid.uuid4()}")
        return self._http(method, url, headers, body, self.timeout_ms / 1000)

    def _result(
        self,
        name: str,
        *,
        method: str,
        url: str,
        answer: HttpAnswer,
        problem: str | None,
        reproduce: str,
        ok_reason: str = "ok",
    ) -> SyntheticResult:
        if problem is None and answer.latency_ms > self.timeout_ms:
            problem = f"answered in {answer.latency_ms:.0f} ms, over the {self.timeout_ms} ms budget"
        return SyntheticResult(
            name=name,
            method=method,
            url=url,
            status=SyntheticStatus.FAILED if problem else SyntheticStatus.PASSED,
            latency_ms=answer.latency_ms,
            http_status=answer.status,
            reason=problem or ok_reason,
            reproduce=reproduce,
        )

    def check_health(self) -> SyntheticResult:
        url = f"{self.base_url}/health"
        answer = self._call("GET", url, {}, None)
        reproduce = shlex.join(["curl", "-sS", "-i", url])
        ok_reason = "healthy"
        problem: str | None = None
        if answer.status is None:
            problem = f"no answer: {answer.error}"
        else:
            body = _json(answer.body)
            status = body.get("status") if isinstance(body, dict) else None
            if answer.status == 200 and status in {"healthy", "degraded"}:
                if status == "degraded":
                    failing = [n for n, s in (body.get("services") or {}).items() if s != "healthy"]
                    ok_reason = f"degraded (serving): {', '.join(failing) or 'unnamed dependency'}"
            elif answer.status == 503 and isinstance(body, dict):
                unhealthy = {
                    name: check.get("reason")
                    for name, check in (body.get("checks") or {}).items()
                    if isinstance(check, dict) and check.get("status") not in {"healthy", "skipped"}
                }
                problem = f"HTTP 503 unhealthy: {json.dumps(unhealthy)[:300]}"
            else:
                problem = f"HTTP {answer.status}, status {status!r}: {_snippet(answer.body)}"
        return self._result(
            HEALTH,
            method="GET",
            url=url,
            answer=answer,
            problem=problem,
            reproduce=reproduce,
            ok_reason=ok_reason,
        )

    def check_predict(self) -> SyntheticResult:
        url = self.predict_url
        reproduce = (
            f"curl -sS -i -X POST {shlex.quote(url)} -H 'Content-Type: application/json' "
            '-H "Authorization: Bearer $HOKUSAI_API_KEY" '
            f"-d {shlex.quote(json.dumps({'inputs': SEED_INPUTS}))}"
        )
        try:
            key = self._api_key()
        except Exception as error:  # the secret could not be read: the check fails, the run goes on
            return SyntheticResult(
                PREDICT, "POST", url, SyntheticStatus.FAILED, 0.0, None,
                f"could not read the canary key: {type(error).__name__}: {str(error)[:200]}", reproduce,
            )  # fmt: skip
        if not key:
            return SyntheticResult(
                PREDICT, "POST", url, SyntheticStatus.SKIPPED, 0.0, None,
                "no canary key configured (CANARY_KEY_SECRET_ARN)", reproduce,
            )  # fmt: skip
        answer = self._call(
            "POST",
            url,
            {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            json.dumps({"inputs": SEED_INPUTS}).encode(),
        )
        del key
        problem: str | None = None
        if answer.status is None:
            problem = f"no answer: {answer.error}"
        elif answer.status != 200:
            problem = f"HTTP {answer.status}: {_snippet(answer.body)}"
        else:
            problem = _prediction_problem(_json(answer.body), self.model_id)
        return self._result(
            PREDICT, method="POST", url=url, answer=answer, problem=problem, reproduce=reproduce
        )

    def check_unauthenticated(self) -> SyntheticResult:
        url = self.predict_url
        reproduce = (
            f"curl -sS -i -X POST {shlex.quote(url)} -H 'Content-Type: application/json' "
            f"-d {shlex.quote(json.dumps({'inputs': SEED_INPUTS}))}"
        )
        answer = self._call(
            "POST", url, {"Content-Type": "application/json"}, json.dumps({"inputs": SEED_INPUTS}).encode()
        )
        problem: str | None = None
        if answer.status is None:
            problem = f"no answer: {answer.error}"
        elif answer.status != 401:
            if 200 <= answer.status < 300:
                problem = f"HTTP {answer.status}: the API answered a request WITHOUT an API key"
            else:
                problem = f"HTTP {answer.status} instead of 401: {_snippet(answer.body)}"
        else:
            body = _json(answer.body)
            if not isinstance(body, dict) or not body.get("detail"):
                problem = f"401 without the JSON error body: {_snippet(answer.body)}"
        return self._result(
            UNAUTHENTICATED,
            method="POST",
            url=url,
            answer=answer,
            problem=problem,
            reproduce=reproduce,
            ok_reason="401 as expected",
        )


def _prediction_problem(body: Any, model_id: str) -> str | None:
    if not isinstance(body, dict):
        return "HTTP 200 but the body is not a JSON object"
    predictions = body.get("predictions")
    if isinstance(predictions, list):  # a batch answer: the canary sends one lead
        predictions = predictions[0] if predictions else None
    if not isinstance(predictions, dict):
        return "HTTP 200 without predictions"
    score = predictions.get("lead_score")
    probability = predictions.get("conversion_probability")
    if not isinstance(score, int | float) or not 0 <= score <= 100:
        return f"lead_score {score!r} is not a number in 0-100"
    if not isinstance(probability, int | float) or not 0 <= probability <= 1:
        return f"conversion_probability {probability!r} is not in 0-1"
    if predictions.get("recommendation") not in RECOMMENDATIONS:
        return f"recommendation {predictions.get('recommendation')!r} is not Hot/Warm/Cold"
    if str(body.get("model_id")) != model_id:
        return f"model_id {body.get('model_id')!r}, expected {model_id!r}"
    return None
