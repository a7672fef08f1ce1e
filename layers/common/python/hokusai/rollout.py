"""A release's pre-traffic check: the canary's synthetic requests, made to the new versions.

A release publishes a new version of the authorizer, predict and health functions behind their
``live`` aliases, and CodeDeploy shifts each alias to its new version (docs/deploy.md, "Rolling out a
release"). Before any client request reaches a new version, CodeDeploy invokes the pre-traffic hook
(``functions/pre_traffic``), which runs here:

* the canary's three checks (``hokusai.drift.synthetic.SyntheticChecks``: ``GET /health`` answers
  200, an authenticated predict with the canary key answers a valid prediction, the same predict
  without a key answers 401 with its JSON body), unchanged;
* sent not over HTTP to the API, whose aliases still point at the old versions, but through
  ``hokusai.gateway`` (the same gateway model ``make dev`` serves) to the release's *version ARNs*
  with Lambda's Invoke API: the authorizer's new version decides, the new predict or health answers;
* and the verdict reported to CodeDeploy (``PutLifecycleEventHookExecutionStatus``): ``Succeeded``
  only when every check passed, ``Failed`` otherwise, also when the hook itself fails, so a deployment
  never waits out the hook's hour-long timeout.

A check the canary would skip (no canary key) fails here: a release nobody could check is not let
through. Latency is not judged here (a new version's first answer includes its cold start): the
per-version alarms watch latency during the canary window.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hokusai import declared, gateway
from hokusai.drift.synthetic import HttpAnswer, HttpClient, SyntheticChecks, SyntheticResult, SyntheticStatus

if TYPE_CHECKING:
    from botocore.client import BaseClient

# The functions a release changes traffic for (each behind a `live` alias and a deployment group).
RELEASED_FUNCTIONS = ("authorizer", "predict", "health")
LIVE_ALIAS = declared.LIVE_ALIAS
# Where the synthetic requests pretend to go: only the path after it is used.
CHECK_BASE_URL = "https://pre-traffic.invalid/api"
SUCCEEDED = "Succeeded"
FAILED = "Failed"


class FunctionError(Exception):
    """The invoked version raised: Lambda's ``errorMessage`` is this exception's message (exactly
    ``Unauthorized`` when the authorizer refuses a request, which the gateway answers with 401)."""


@dataclass(frozen=True)
class Release:
    """The version ARNs of one release, by function (``RELEASED_FUNCTIONS``)."""

    versions: Mapping[str, str]

    def target(self, function: str) -> str:
        try:
            return self.versions[function]
        except KeyError:
            raise FunctionError(f"no released version of {function!r} to invoke") from None


def lambda_invoke(lambda_client: BaseClient, release: Release) -> gateway.Invoke:
    """``hokusai.gateway``'s invoke seam over Lambda's Invoke API, to the release's versions."""

    def invoke(function: str, event: dict[str, Any], request_id: str) -> Any:
        answer = lambda_client.invoke(
            FunctionName=release.target(function),
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            message = payload.get("errorMessage") if isinstance(payload, dict) else None
            raise FunctionError(str(message or answer["FunctionError"]))
        return payload

    return invoke


def gateway_transport(gw: gateway.Gateway, base_url: str = CHECK_BASE_URL) -> HttpClient:
    """An ``HttpClient`` for ``SyntheticChecks`` that hands each request to ``gw`` instead of a socket."""
    prefix = urlsplit(base_url).path.rstrip("/")

    def http(
        method: str, url: str, headers: dict[str, str], body: bytes | None, timeout_s: float
    ) -> HttpAnswer:
        del timeout_s  # each invocation is bounded by the invoked function's own timeout
        split = urlsplit(url)
        request = gateway.IncomingRequest(
            method=method,
            path=split.path[len(prefix) :] or "/",
            query=split.query,
            headers=list(headers.items()),
            body=body or b"",
            source_ip="127.0.0.1",
        )
        started = time.perf_counter()
        answer = gw.handle(request)
        return HttpAnswer(answer.status, answer.body, (time.perf_counter() - started) * 1000)

    return http


def check_release(
    invoke: gateway.Invoke,
    identity: gateway.GatewayIdentity,
    *,
    api_key: Callable[[], str | None],
    model_id: str,
    log: Callable[[str], None] | None = None,
) -> list[SyntheticResult]:
    """The canary's checks against the release ``invoke`` reaches; a skipped check counts as failed."""
    checks = SyntheticChecks(
        CHECK_BASE_URL,
        model_id=model_id,
        # No latency verdict (see the module docstring): a budget no correct answer exceeds.
        timeout_ms=15 * 60 * 1000,
        api_key=api_key,
        http=gateway_transport(gateway.Gateway(invoke, identity, log=log)),
    )
    return [_skipped_is_failed(result) for result in checks.run()]


def _skipped_is_failed(result: SyntheticResult) -> SyntheticResult:
    if result.status is not SyntheticStatus.SKIPPED:
        return result
    return SyntheticResult(
        result.name, result.method, result.url, SyntheticStatus.FAILED, result.latency_ms,
        result.http_status, f"{result.reason}: the release cannot be checked", result.reproduce,
    )  # fmt: skip


def verdict(results: list[SyntheticResult]) -> str:
    return SUCCEEDED if results and all(result.passed for result in results) else FAILED


@dataclass(frozen=True)
class HookInvocation:
    """What CodeDeploy sends a lifecycle hook; None from :meth:`from_event` for a manual invocation
    (``aws lambda invoke``), which checks the release and reports to nobody."""

    deployment_id: str
    hook_execution_id: str

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> HookInvocation | None:
        deployment_id = event.get("DeploymentId")
        hook_execution_id = event.get("LifecycleEventHookExecutionId")
        if isinstance(deployment_id, str) and isinstance(hook_execution_id, str):
            return cls(deployment_id, hook_execution_id)
        return None

    def report(self, codedeploy: BaseClient, status: str) -> None:
        codedeploy.put_lifecycle_event_hook_execution_status(
            deploymentId=self.deployment_id,
            lifecycleEventHookExecutionId=self.hook_execution_id,
            status=status,
        )


def result_for_log(result: SyntheticResult) -> dict[str, Any]:
    """A check's outcome as logged and returned (the reproduce command names $HOKUSAI_API_KEY only)."""
    return {
        "check": result.name,
        "status": result.status.value,
        "http_status": result.http_status,
        "reason": result.reason,
        "latency_ms": round(result.latency_ms, 1),
    }
