"""``HttpAuthService`` (an HTTP auth service as the source of truth), with ``urlopen`` replaced: the
request it makes (URL, header, timeout), the body it reads, and the error classes it turns into
``StoreUnavailable`` (never an allow). The real HTTP round trip is in
tests/integration/test_authorizer_http_service.py (unit tests run with the network blocked)."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request

import pytest
from hokusai.auth.chain import HttpAuthService, is_secure_auth_service_url
from hokusai.keys.store import KeyRecord, StoreUnavailable

DIGEST = "d" * 64
RECORD = {
    "key_id": "key_0123456789abcdef",
    "user_id": "acme",
    "models": ["21"],
    "status": "active",
    "expires_at": 1_900_000_000,
    "usage_key_value": "",
}


class Response:
    """What ``urlopen`` returns: ``read(n)`` gives at most n bytes, as http.client's response does."""

    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)

    def read(self, amount: int | None = None) -> bytes:
        return self._body.read(amount)

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class Urlopen:
    """Records each request and its timeout; answers ``body`` or raises ``error``."""

    def __init__(self, body: bytes = b"", error: BaseException | None = None) -> None:
        self.body = body
        self.error = error
        self.calls: list[tuple[urllib.request.Request, object]] = []

    def __call__(self, request: urllib.request.Request, timeout: object = "missing") -> Response:
        self.calls.append((request, timeout))
        if self.error is not None:
            raise self.error
        return Response(self.body)


def _serve(monkeypatch: pytest.MonkeyPatch, body: bytes = b"", error: BaseException | None = None) -> Urlopen:
    urlopen = Urlopen(body, error)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return urlopen


def _http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("https://auth.example/v1/keys/x", code, "status", None, io.BytesIO(b"{}"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------- the URL
@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://auth.example", True),
        ("https://auth.example:8443/base/", True),
        ("HTTPS://auth.example", True),  # schemes are case-insensitive
        ("https://", False),  # no host
        ("https:///v1", False),
        ("http://127.0.0.1:8080", True),  # the digest never leaves the machine
        ("http://localhost:8080/", True),
        ("HTTP://localhost", True),
        ("http://[::1]:8080", True),
        ("http://auth.example", False),
        ("http://127.0.0.2", False),
        ("http://localhost.example", False),
        ("http://", False),
        ("ftp://localhost", False),
        ("localhost:8080", False),
        ("", False),
    ],
)
def test_only_https_or_loopback_http_is_accepted(url: str, secure: bool) -> None:
    assert is_secure_auth_service_url(url) is secure
    if secure:
        HttpAuthService(url, 100)
    else:
        with pytest.raises(
            ValueError, match=r"^the auth service URL must be https:// \(or http:// to a loopback address\)$"
        ):
            HttpAuthService(url, 100)


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("https://auth.example", f"https://auth.example/v1/keys/{DIGEST}"),
        ("https://auth.example/", f"https://auth.example/v1/keys/{DIGEST}"),
        ("https://auth.example//", f"https://auth.example/v1/keys/{DIGEST}"),
        ("https://auth.example/XX/", f"https://auth.example/XX/v1/keys/{DIGEST}"),  # only slashes go
        ("http://127.0.0.1:8080/keys-api", f"http://127.0.0.1:8080/keys-api/v1/keys/{DIGEST}"),
    ],
)
def test_the_request_is_one_get_of_the_digest_with_the_timeout(
    monkeypatch: pytest.MonkeyPatch, base: str, url: str
) -> None:
    urlopen = _serve(monkeypatch, json.dumps(RECORD).encode())
    HttpAuthService(base, 250).get(DIGEST)
    [(request, timeout)] = urlopen.calls
    assert request.full_url == url
    assert request.get_method() == "GET"
    assert request.header_items() == [("Accept", "application/json")]
    assert request.data is None
    assert timeout == 0.25  # seconds: timeout_ms / 1000, one attempt


# ------------------------------------------------------------------------------------- the answers
def test_200_with_a_record_is_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, json.dumps(RECORD).encode())
    assert HttpAuthService("https://auth.example", 100).get(DIGEST) == KeyRecord(
        key_id="key_0123456789abcdef", user_id="acme", models=("21",), expires_at=1_900_000_000
    )


def test_the_body_is_read_up_to_64_kib(monkeypatch: pytest.MonkeyPatch) -> None:
    """A record padded to exactly 64 KiB is read and what follows is not; a record that starts past
    64 KiB is never reached."""
    record = json.dumps(RECORD).encode()
    padded = record + b" " * (65536 - len(record))
    _serve(monkeypatch, padded + b"garbage that is not JSON")
    assert HttpAuthService("https://auth.example", 100).get(DIGEST) is not None
    _serve(monkeypatch, b" " * 65536 + record)
    with pytest.raises(StoreUnavailable, match=r"^JSONDecodeError$"):
        HttpAuthService("https://auth.example", 100).get(DIGEST)


def test_404_is_an_unknown_key(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve(monkeypatch, error=_http_error(404))
    assert HttpAuthService("https://auth.example", 100).get(DIGEST) is None


@pytest.mark.parametrize("code", [400, 401, 403, 405, 429, 500, 502, 503])
def test_any_other_http_status_is_unavailable_and_named(monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    _serve(monkeypatch, error=_http_error(code))
    with pytest.raises(StoreUnavailable) as raised:
        HttpAuthService("https://auth.example", 100).get(DIGEST)
    assert str(raised.value) == f"HTTP {code}"
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (TimeoutError("timed out"), "TimeoutError"),
        (urllib.error.URLError("connection refused"), "URLError"),
        (ConnectionResetError(), "ConnectionResetError"),
    ],
)
def test_a_transport_error_is_unavailable_named_by_its_class(
    monkeypatch: pytest.MonkeyPatch, error: BaseException, name: str
) -> None:
    _serve(monkeypatch, error=error)
    with pytest.raises(StoreUnavailable) as raised:
        HttpAuthService("https://auth.example", 100).get(DIGEST)
    assert str(raised.value) == name


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b"not json", "JSONDecodeError"),
        (b"", "JSONDecodeError"),
        (json.dumps({k: v for k, v in RECORD.items() if k != "status"}).encode(), "KeyError"),
        (json.dumps({k: v for k, v in RECORD.items() if k != "key_id"}).encode(), "KeyError"),
        (b"null", "AttributeError"),
        (b"[]", "AttributeError"),
    ],
)
def test_a_body_that_is_not_a_whole_record_is_unavailable_never_an_allow(
    monkeypatch: pytest.MonkeyPatch, body: bytes, name: str
) -> None:
    _serve(monkeypatch, body)
    with pytest.raises(StoreUnavailable) as raised:
        HttpAuthService("https://auth.example", 100).get(DIGEST)
    assert str(raised.value) == name
