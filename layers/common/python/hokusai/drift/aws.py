"""AWS plumbing of the drift checks: clients on the operator budget, API errors turned into findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hokusai import aws
from hokusai.aws import error_code
from hokusai.drift.findings import Finding, Kind, Severity

if TYPE_CHECKING:
    from botocore.client import BaseClient

# Errors that will not go away by themselves: the canary's role lacks a permission.
PERMISSION_ERRORS = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
}


def client(service: str) -> BaseClient:
    """A client on the operator budget (``hokusai.aws.OPERATOR``): the canary is not on a request
    path, but it must finish well inside its Lambda timeout even when an endpoint hangs."""
    return aws.client(service, aws.OPERATOR)


def error_text(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        details = response.get("Error", {})
        message = str(details.get("Message") or "").strip().splitlines()
        code = details.get("Code") or type(error).__name__
        return f"{code}: {message[0]}"[:300] if message else str(code)
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}"[:300] if text else type(error).__name__


def api_error_finding(action: str, resource: str, error: BaseException) -> Finding:
    """An AWS API error as a finding of its own: the check could not run, so nothing was verified.

    Permission errors are critical (they persist, and hide drift until fixed); throttling and
    network errors are warnings (the next run will likely succeed).
    """
    code = error_code(error)
    if code in PERMISSION_ERRORS:
        return Finding(
            Kind.CHECK_ERROR,
            Severity.CRITICAL,
            resource,
            f"{action} was denied ({error_text(error)}): this part of the deployment was not checked",
            f"grant {action} to the canary's IAM role (monitoring stack), then run `hokusai doctor` again",
        )
    return Finding(
        Kind.CHECK_ERROR,
        Severity.WARNING,
        resource,
        f"{action} failed ({error_text(error)}): this part of the deployment was not checked",
        "retry: `hokusai doctor`; if it persists, check the AWS service health and the canary's network",
    )
