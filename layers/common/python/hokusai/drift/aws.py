"""AWS plumbing shared by the drift checks: bounded clients and API errors turned into findings."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    """A boto3 client with bounded timeouts and standard-mode retries (throttling is retried).

    The canary is not on a request path, but it must finish well inside its Lambda timeout even
    when an endpoint hangs. ``AWS_ENDPOINT_URL`` / ``AWS_PROFILE`` are honoured by boto3 itself.
    """
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=3, read_timeout=5, retries={"total_max_attempts": 3, "mode": "standard"})
    aws_client: BaseClient = boto3.client(service, config=config)
    return aws_client


def error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


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
