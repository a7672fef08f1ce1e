"""AUTH_SERVICE_URL: the HTTP auth service as source of truth, bounded, behind the same chain."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hokusai.auth.chain import HttpAuthService
from hokusai.keys.format import generate_key, key_digest
from hokusai.keys.store import StoreUnavailable

from local.faults import refused_port, silent_server
from local.handlers import LambdaContext, load_handler
from tests.integration.test_authorizer import event_with

pytestmark = pytest.mark.timeout(60)


class AuthService:
    """A tiny auth service: GET /v1/keys/<digest> -> 200 record | 404; counts requests."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.paths: list[str] = []
        self.status_override: int | None = None
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                service.paths.append(self.path)
                digest = self.path.rsplit("/", 1)[-1]
                status = service.status_override or (200 if digest in service.records else 404)
                body = json.dumps(service.records.get(digest, {"detail": "not found"})).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, models: list[str]) -> str:
        key = generate_key()
        self.records[key_digest(key)] = {
            "key_id": "key_svc",
            "user_id": "svc-user",
            "models": models,
            "status": "active",
        }
        return key

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service() -> Iterator[AuthService]:
    s = AuthService()
    yield s
    s.close()


def test_http_service_answers(service: AuthService) -> None:
    client = HttpAuthService(service.url, 500)
    key = service.add(["21"])
    record = client.get(key_digest(key))
    assert record is not None and record.user_id == "svc-user" and record.models == ("21",)
    assert client.get(key_digest(generate_key())) is None
    assert all(key not in path for path in service.paths)  # only the digest travels
    service.status_override = 500
    with pytest.raises(StoreUnavailable):
        client.get(key_digest(key))


def test_http_service_silent_or_refused_is_bounded_unavailable() -> None:
    with silent_server() as silent:
        started = time.perf_counter()
        with pytest.raises(StoreUnavailable):
            HttpAuthService(f"http://127.0.0.1:{silent.port}", 200).get("0" * 64)
        assert time.perf_counter() - started < 1.0
    with refused_port() as port, pytest.raises(StoreUnavailable):
        HttpAuthService(f"http://127.0.0.1:{port}", 200).get("0" * 64)


def test_handler_uses_the_service_and_caches_it(
    service: AuthService, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "KEYS_TABLE_NAME": "unused-with-auth-service",
        "AUTH_SERVICE_URL": service.url,
        "AUTH_SERVICE_TIMEOUT_MS": "300",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    handler = load_handler("authorizer")
    key = service.add(["21"])
    for _ in range(3):
        answer = handler.lambda_handler(event_with(key), LambdaContext())
        assert answer["context"]["user_id"] == "svc-user"
    assert len(service.paths) == 1  # the service is not called again for a cached key
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler.lambda_handler(event_with(generate_key()), LambdaContext())
    service.close()
    with pytest.raises(Exception) as unavailable:
        handler.lambda_handler(event_with(generate_key()), LambdaContext())
    assert str(unavailable.value) != "Unauthorized"


def test_a_record_without_a_status_is_unavailable_never_an_allow(service: AuthService) -> None:
    key = service.add(["21"])
    del service.records[key_digest(key)]["status"]
    with pytest.raises(StoreUnavailable, match=r"^KeyError$"):
        HttpAuthService(service.url, 500).get(key_digest(key))


def test_the_base_url_may_end_in_a_slash_and_only_the_digest_is_in_the_path(service: AuthService) -> None:
    key = service.add(["21"])
    record = HttpAuthService(service.url + "/", 500).get(key_digest(key))
    assert record is not None and record.status == "active"
    assert service.paths == [f"/v1/keys/{key_digest(key)}"]


@pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
def test_every_other_status_is_unavailable_naming_it(service: AuthService, status: int) -> None:
    service.status_override = status
    with pytest.raises(StoreUnavailable, match=rf"^HTTP {status}$"):
        HttpAuthService(service.url, 500).get(key_digest(service.add(["21"])))


@pytest.mark.parametrize(
    "url", ["http://auth.internal", "http://10.0.0.5:8080", "ftp://auth.internal", "https://"]
)
def test_a_service_a_network_away_must_be_https(url: str) -> None:
    with pytest.raises(ValueError, match=r"must be https:// \(or http:// to a loopback address\)"):
        HttpAuthService(url, 500)
