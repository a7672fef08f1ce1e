"""The HuggingFace Hub as the last artifact layer: real ``huggingface_hub`` client, hard deadline.

Why a hard deadline around the client (shared PITFALLS.md): huggingface_hub retries 5 times with
backoff, and against a Hub that accepts and never answers even ``etag_timeout`` did not bound it (one
read hung for minutes). So the download runs in a daemon thread that we stop waiting for after
``timeout_seconds``; the caller gets a clear error in bounded time and the thread is abandoned.
Production does not need the Hub on the request path: `make deploy` stages every model in S3.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from hokusai.aws import SecretUnreadable, read_secret
from hokusai.models.artifacts import SourceError
from hokusai.models.registry import ModelSpec

TokenProvider = Callable[[], str]


class TokenNotConfiguredError(SourceError):
    pass


def secrets_manager_token(client: Any, secret_arn: str | None) -> TokenProvider:
    """Read the HF token from Secrets Manager by ARN, once, on first use (not at import)."""
    cache: dict[str, str] = {}

    def provide() -> str:
        if "token" in cache:
            return cache["token"]
        if not secret_arn:
            raise TokenNotConfiguredError(
                "HuggingFace token not configured: HF_TOKEN_SECRET_ARN is not set for this function"
            )
        try:
            token = read_secret(client, secret_arn)
        except SecretUnreadable as error:
            raise TokenNotConfiguredError(f"HuggingFace token not configured: {error}") from None
        cache["token"] = token
        return token

    return provide


class HubSource:
    name = "hub"

    def __init__(
        self,
        token_provider: TokenProvider,
        cache_dir: str,
        endpoint: str | None = None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._token_provider = token_provider
        self.cache_dir = cache_dir
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds

    def fetch(self, spec: ModelSpec) -> bytes | None:
        token = self._token_provider()
        outcome: dict[str, Any] = {}

        def download() -> None:
            try:
                # One request first, no retries: a refusal or a server error is named at once, where
                # the client would retry a 5xx for ~23 s (past the deadline) and say only "unreachable".
                probe(spec, token, self.endpoint, self.timeout_seconds)
                outcome["path"] = _download(spec, token, self.cache_dir, self.endpoint, self.timeout_seconds)
            except BaseException as error:
                outcome["error"] = error

        worker = threading.Thread(target=download, name=f"hub-download-{spec.model_id}", daemon=True)
        worker.start()
        worker.join(self.timeout_seconds)
        if worker.is_alive():
            raise SourceError(f"HuggingFace Hub did not answer within {self.timeout_seconds:g} s")
        if "error" in outcome:
            if isinstance(outcome["error"], SourceError):
                raise outcome["error"]
            raise SourceError(_describe(outcome["error"], spec)) from None
        with open(outcome["path"], "rb") as handle:
            return handle.read()

    def discard(self, spec: ModelSpec) -> None:
        # The Hub's copy is the origin; the local HF cache file is removed so a retry downloads again.
        import glob

        for path in glob.glob(os.path.join(self.cache_dir, "**", spec.filename), recursive=True):
            try:
                os.unlink(path)
            except OSError:
                continue


DEFAULT_ENDPOINT = "https://huggingface.co"
# What the Hub's X-Error-Code says on a 404, as the operator should read it.
_NOT_FOUND = {
    "RepoNotFound": "repository",
    "RevisionNotFound": "revision",
    "EntryNotFound": "file",
}


class HubRefusedError(SourceError):
    """The Hub answered, and the answer is final for this spec (retrying will not help) or a server
    error: ``kind`` is token | access | repository | revision | file | server."""

    def __init__(self, kind: str, message: str, status: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def classify(status: int, error_code: str | None, spec: ModelSpec) -> HubRefusedError | None:
    """None for a success; otherwise the named refusal for one HTTP answer of the resolve URL."""
    where = f"{spec.repo_id}@{spec.revision[:12]}/{spec.filename}"
    if status < 400:
        return None
    if status == 401:
        return HubRefusedError(
            "token",
            f"HuggingFace Hub refused the token (HTTP 401) for {where}: check the HF token secret",
            401,
        )
    if status == 403:
        return HubRefusedError(
            "access", f"HuggingFace Hub denied access (HTTP 403) to {where}: the token cannot read it", 403
        )
    if status == 404:
        kind = _NOT_FOUND.get(error_code or "", "file")
        named = {
            "repository": f"no repository {spec.repo_id} (or the token cannot see it)",
            "revision": f"no revision {spec.revision} in {spec.repo_id}",
            "file": f"no file {spec.filename} at {spec.repo_id}@{spec.revision[:12]}",
        }[kind]
        return HubRefusedError(kind, f"HuggingFace Hub has {named} (HTTP 404): fix the registry pin", 404)
    if status >= 500:
        return HubRefusedError(
            "server", f"HuggingFace Hub failed (HTTP {status}) for {where}: retry later", status
        )
    return HubRefusedError("server", f"HuggingFace Hub answered HTTP {status} for {where}", status)


def probe(spec: ModelSpec, token: str, endpoint: str | None, timeout: float) -> None:
    """HEAD the resolve URL once (no retries, no redirects followed) and raise the named refusal."""
    import http.client
    import urllib.error
    import urllib.parse
    import urllib.request

    base = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    quote = urllib.parse.quote
    url = f"{base}/{spec.repo_id}/resolve/{quote(spec.revision)}/{quote(spec.filename)}"
    if not url.startswith(("http://", "https://")):
        raise SourceError(f"HuggingFace endpoint is not an http(s) URL: {base}")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, method="HEAD", headers=headers)  # noqa: S310 - http(s) checked

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None  # a 3xx (the Hub's CDN) is success for the probe

    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        refusal = classify(error.code, error.headers.get("X-Error-Code"), spec)
        if refusal is not None and error.code >= 400:
            raise refusal from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
        reason = getattr(error, "reason", error)
        raise SourceError(f"HuggingFace Hub unreachable ({type(reason).__name__})") from None


def _download(spec: ModelSpec, token: str, cache_dir: str, endpoint: str | None, timeout: float) -> str:
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(
        repo_id=spec.repo_id,
        filename=spec.filename,
        revision=spec.revision,
        token=token,
        cache_dir=cache_dir,
        endpoint=endpoint,
        etag_timeout=min(timeout, 5.0),
    )
    return str(path)


def _describe(error: BaseException, spec: ModelSpec) -> str:
    name = type(error).__name__
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status in {401, 403}:
        return f"HuggingFace Hub refused the token for {spec.repo_id} (HTTP {status})"
    if status == 404 or name in {"RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError"}:
        return f"HuggingFace Hub has no {spec.filename} at {spec.repo_id}@{spec.revision[:12]} ({name})"
    if status is not None:
        return f"HuggingFace Hub answered HTTP {status} ({name})"
    return f"HuggingFace Hub unreachable ({name})"
