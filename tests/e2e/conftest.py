"""The e2e tests' HTTP client of the local stack (``local/``), which each module starts in-process on
free ports with its own redis-server (``tests.helpers.running_stack``).

Each test module gets its own stack (unique resource names: moto's state is per process and shared
with the integration tests' server), so a module may kill, pause or restart its Redis, or stop its
local AWS, without touching the others.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from hokusai.drift.synthetic import SEED_INPUTS  # the seed's curl body, as the canary sends it

from local.stack import LocalStack

# The two URLs clients call, as the emulator builds the functions' events for each: the execute-api URL
# (path relative to the stage) and a custom domain's base path mapping (path keeps /api; make dev's
# HOKUSAI_DEV_CUSTOM_DOMAIN). The same requests and answers through both.
URL_STYLES: dict[str, str | None] = {"execute-api": None, "custom-domain": "api.example.test"}


@contextlib.contextmanager
def running_stack_as(url_style: str, **overrides: str) -> Iterator[LocalStack]:
    """``tests.helpers.running_stack`` (unique names, its own redis-server), with the emulator building
    events as API Gateway does for ``url_style`` (a key of :data:`URL_STYLES`)."""
    stack = LocalStack(
        name=f"hokusai-test-{uuid.uuid4().hex[:6]}",
        redis_url=None,
        overrides={"POWERTOOLS_LOG_LEVEL": "WARNING", **overrides},
        custom_domain=URL_STYLES[url_style],
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def raw_get(base_url: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
    """GET ``path`` byte for byte: requests re-quotes URLs (``%32`` becomes ``2``), http.client does not."""
    split = urlsplit(base_url)
    connection = http.client.HTTPConnection(split.hostname or "127.0.0.1", split.port, timeout=10)
    try:
        connection.request("GET", split.path + path, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


class Client:
    """A plain HTTP client of the emulator, as the seed's curl commands and third-party client are."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.get(self.base_url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.session.post(self.base_url + path, **kwargs)

    def predict(self, api_key: str | None, inputs: Any = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if api_key is not None:
            headers.setdefault("X-API-Key", api_key)
        body = {"inputs": SEED_INPUTS if inputs is None else inputs}
        return self.post("/v1/models/21/predict", json=body, headers=headers, **kwargs)


def assert_error(response: requests.Response, status: int, detail: str | None = None) -> dict[str, Any]:
    """Every error is JSON ``{"detail": ..., "request_id": ...}``, never a stack trace."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str | list) and body["detail"]
    assert isinstance(body["request_id"], str) and body["request_id"]
    assert "Traceback" not in response.text
    if detail is not None:
        assert body["detail"] == detail
    return dict(body)
