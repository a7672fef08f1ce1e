"""The e2e tests' HTTP client of the local stack (``local/``), which each module starts in-process on
free ports with its own redis-server (``tests.helpers.running_stack``).

Each test module gets its own stack (unique resource names: moto's state is per process and shared
with the integration tests' server), so a module may kill, pause or restart its Redis, or stop its
local AWS, without touching the others.
"""

from __future__ import annotations

from typing import Any

import requests
from hokusai.drift.synthetic import SEED_INPUTS  # the seed's curl body, as the canary sends it


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
