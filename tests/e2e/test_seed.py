"""The seed's own requests, verbatim, over HTTP through the local API Gateway emulator.

Twice: with the functions' events built as through the execute-api URL and as through the custom
domain's base path mapping (``path`` keeps ``/api``; ``HOKUSAI_DEV_CUSTOM_DOMAIN``), which the
functions must answer alike.
"""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from hokusai.api_contract import BAD_REQUEST_BODY_DETAIL

from local.stack import LocalStack
from tests.e2e.conftest import SEED_INPUTS, URL_STYLES, Client, assert_error, raw_get, running_stack_as

MAX_BODY_BYTES = 262_144  # predict's default body limit (hokusai/environment.py, docs/models.md)


@pytest.fixture(scope="module", params=sorted(URL_STYLES))
def stack(request: pytest.FixtureRequest) -> Iterator[LocalStack]:
    with running_stack_as(request.param) as started:
        yield started


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Client:
    return Client(stack.base_url)


@pytest.fixture(scope="module")
def demo_key(stack: LocalStack) -> tuple[str, str]:
    return stack.create_demo_key(user_id="seed-user")


def test_health_answers_in_the_seed_shape(client: Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    assert body["version"] == "1.0.0"
    assert body["services"]["redis"] == "healthy"
    assert body["services"]["keys_table"] == "healthy"
    assert set(body["checks"]) >= {"redis", "keys_table", "model", "configuration"}
    assert response.elapsed.total_seconds() < 2


def test_unknown_route_is_a_json_404(client: Client) -> None:
    assert_error(client.get("/v2/nothing"), 404, "Not found")


def test_a_known_path_with_the_wrong_method_is_405_with_allow(client: Client) -> None:
    response = client.get("/v1/models/21/predict")
    assert_error(response, 405, "Method GET not allowed on /v1/models/{model_id}/predict; use POST")
    assert response.headers["Allow"] == "POST"
    assert response.headers["X-Request-ID"] == response.json()["request_id"]


def test_missing_key_is_401_api_key_required(client: Client) -> None:
    response = client.predict(None)
    body = assert_error(response, 401, "API key required")
    assert response.headers["x-amzn-RequestId"] == body["request_id"]
    assert response.elapsed.total_seconds() < 1


def test_invalid_key_is_401(client: Client) -> None:
    assert_error(client.predict("hk_" + secrets.token_urlsafe(32)), 401, "API key required")
    assert_error(client.predict("not-a-key"), 401, "API key required")
    response = client.predict(None, headers={"Authorization": "Bearer " + "hk_" + secrets.token_urlsafe(32)})
    assert_error(response, 401, "API key required")


def test_predict_with_x_api_key_as_operators_curl(client: Client, demo_key: tuple[str, str]) -> None:
    api_key, key_id = demo_key
    response = client.predict(api_key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "21"
    predictions = body["predictions"]
    assert 0 <= predictions["lead_score"] <= 100
    assert 0.0 <= predictions["conversion_probability"] <= 1.0
    assert predictions["recommendation"] in {"Hot", "Warm", "Cold"}
    assert isinstance(predictions["factors"], list)
    assert 0.0 <= predictions["confidence"] <= 1.0
    assert body["metadata"]["user_id"] == "seed-user"
    assert body["metadata"]["api_key_id"] == key_id
    assert body["timestamp"]
    assert api_key not in response.text


def test_predict_with_bearer_and_request_id_as_the_third_party_client(
    client: Client, demo_key: tuple[str, str]
) -> None:
    api_key, _ = demo_key
    response = client.post(
        "/v1/models/21/predict",
        data=json.dumps({"inputs": SEED_INPUTS}),
        headers={
            "Authorization": f"Bearer {api_key}",
            "X-Request-ID": "client-req-42",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == "client-req-42"
    assert response.json()["model_id"] == "21"


def test_both_headers_give_the_same_prediction(client: Client, demo_key: tuple[str, str]) -> None:
    api_key, _ = demo_key
    by_header = client.predict(api_key).json()["predictions"]
    by_bearer = client.predict(None, headers={"Authorization": f"Bearer {api_key}"}).json()["predictions"]
    assert by_header == by_bearer


def test_info(client: Client, demo_key: tuple[str, str]) -> None:
    response = client.get("/v1/models/21/info", headers={"X-API-Key": demo_key[0]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_id"] == "21"
    assert "company_size" in json.dumps(body["features"])


def test_partial_inputs_get_defaults(client: Client, demo_key: tuple[str, str]) -> None:
    response = client.predict(demo_key[0], {"company_size": 1000})
    assert response.status_code == 200, response.text
    assert 0 <= response.json()["predictions"]["lead_score"] <= 100


def test_batch(client: Client, demo_key: tuple[str, str]) -> None:
    leads = [
        SEED_INPUTS,
        {"company_size": 5},
        {**SEED_INPUTS, "engagement_score": 5, "demo_requested": False},
    ]
    response = client.predict(demo_key[0], leads)
    assert response.status_code == 200, response.text
    body = response.json()
    predictions = body["predictions"]
    assert isinstance(predictions, list) and len(predictions) == 3
    single = client.predict(demo_key[0]).json()["predictions"]
    assert predictions[0] == single  # the batch scores each lead as a single request would


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        # Not JSON, or no inputs: API Gateway's request validator answers (BAD_REQUEST_BODY,
        # hokusai.api_contract.PREDICT_REQUEST) before predict runs; predict answers the rest.
        ("not json", 400, BAD_REQUEST_BODY_DETAIL),
        ('{"inputs": {"company_size": "a thousand"}}', 400, "Invalid request"),
        ('{"inputs": {"engagement_score": -5}}', 400, "Invalid request"),
        ('{"wrong": {}}', 400, BAD_REQUEST_BODY_DETAIL),
        ('{"inputs": []}', 400, "inputs must hold 1 to 100 leads (got 0)"),
        # 101 small leads fit in the body limit: refused for their number (MAX_BATCH_SIZE 100).
        (json.dumps({"inputs": [{}] * 101}), 400, "inputs must hold 1 to 100 leads (got 101)"),
        # 1000 seed leads are ~245 KB, under MAX_BODY_BYTES (256 KiB): refused for their number too.
        (json.dumps({"inputs": [SEED_INPUTS] * 1000}), 400, "inputs must hold 1 to 100 leads (got 1000)"),
        # 2000 are ~490 KB: refused for their size, before the body is parsed.
        (
            json.dumps({"inputs": [SEED_INPUTS] * 2000}),
            413,
            f"Request body larger than {MAX_BODY_BYTES} bytes",
        ),
    ],
    ids=[
        "not-json",
        "wrong-type",
        "below-minimum",
        "no-inputs",
        "empty-batch",
        "101-leads",
        "1000-leads",
        "2000-leads",
    ],
)
def test_bad_bodies_are_clear_json_errors(
    client: Client, demo_key: tuple[str, str], body: str, status: int, detail: str
) -> None:
    response = client.post(
        "/v1/models/21/predict",
        data=body,
        headers={"X-API-Key": demo_key[0], "Content-Type": "application/json"},
    )
    assert_error(response, status, detail)


def test_oversized_bodies_are_413(stack: LocalStack, client: Client, demo_key: tuple[str, str]) -> None:
    assert stack.environment["MAX_BODY_BYTES"] == str(MAX_BODY_BYTES)  # the stack runs the default
    padding = "x" * (MAX_BODY_BYTES + 1)  # over the function's MAX_BODY_BYTES
    response = client.predict(demo_key[0], {"company_size": 1000, "title": padding})
    assert_error(response, 413, f"Request body larger than {MAX_BODY_BYTES} bytes")
    huge = b"{" + b" " * (10 * 1024 * 1024 + 10) + b"}"  # over API Gateway's 10 MB
    response = client.post("/v1/models/21/predict", data=huge, headers={"X-API-Key": demo_key[0]})
    assert_error(response, 413, "Request body too large")


def test_unknown_model_is_404(client: Client, demo_key: tuple[str, str]) -> None:
    response = client.post("/v1/models/999/predict", json={"inputs": {}}, headers={"X-API-Key": demo_key[0]})
    # The key is good for every model ("*"), so the authorizer lets it through and predict says 404.
    assert_error(response, 404, "Model '999' not found")


def test_key_limited_to_other_models_is_403(stack: LocalStack, client: Client) -> None:
    api_key, _ = stack.create_key("limited", models=["7"])
    assert_error(client.predict(api_key), 403, "API key not allowed for this resource")
    # Its own model passes the authorizer; predict then answers for it (no model 7 is registered).
    own = client.post("/v1/models/7/predict", json={"inputs": {}}, headers={"X-API-Key": api_key})
    assert_error(own, 404, "Model '7' not found")


def test_openapi_document_needs_no_key(client: Client) -> None:
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200, response.text
    assert "/v1/models/{model_id}/predict" in json.dumps(response.json())


CLUMSY_LEAD = json.dumps({"inputs": {"industry": "technology"}}).encode()


@pytest.mark.parametrize(
    ("headers", "raw", "status", "detail"),
    [
        ({"Content-Type": "Application/JSON"}, CLUMSY_LEAD, 200, None),
        ({"Content-Type": "application/vnd.api+json"}, CLUMSY_LEAD, 200, None),
        (
            {"Content-Type": "text/plain"},
            CLUMSY_LEAD,
            415,
            "Content-Type text/plain is not supported: send the body as JSON with "
            "Content-Type: application/json",
        ),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"inputs=1",
            415,
            "Content-Type application/x-www-form-urlencoded is not supported (what curl -d sends; add "
            "-H 'Content-Type: application/json'): send the body as JSON with Content-Type: application/json",
        ),
        (
            {"Content-Type": "application/octet-stream"},
            "\u00e9".encode("latin-1"),
            415,
            "Content-Type application/octet-stream is not supported: send the body as JSON with "
            "Content-Type: application/json",
        ),
        (
            {"Content-Type": "application/json"},
            b'{"inputs": ' + b"[" * 1000 + b"]" * 1000 + b"}",
            400,
            "Request body nests arrays and objects more than 32 levels deep",
        ),
        # The gateway's request validator cannot parse it as JSON: its 400, the function never runs.
        ({"Content-Type": "application/json"}, "\u00e9".encode("latin-1"), 400, BAD_REQUEST_BODY_DETAIL),
    ],
)
def test_clumsy_clients_get_a_4xx_naming_what_to_send(
    client: Client,
    demo_key: tuple[str, str],
    headers: dict[str, str],
    raw: bytes,
    *,
    status: int,
    detail: str | None,
) -> None:
    api_key, _ = demo_key
    response = client.post(
        "/v1/models/21/predict",
        data=raw,
        headers={"X-API-Key": api_key, "X-Request-ID": "clumsy-1", **headers},
    )
    assert response.status_code == status, response.text
    if detail is None:
        prediction = response.json()["predictions"]
        assert "warnings" not in prediction  # "technology" is the model's "Technology"
        assert response.headers["X-Request-ID"] == "clumsy-1"
    else:
        # One id per answer: the header is the body's request_id (the gateway's own answer uses its id).
        assert_error(response, status, detail)
        assert response.headers["X-Request-ID"] == response.json()["request_id"]


def test_the_functions_see_the_events_of_the_url_style(
    stack: LocalStack, client: Client, demo_key: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, dict[str, Any]] = {}
    host = stack.server.gateway.host
    invoke = host.invoke

    def spy(name: str, event: dict[str, Any], request_id: str) -> Any:
        seen[name] = copy.deepcopy(event)
        return invoke(name, event, request_id)

    monkeypatch.setattr(host, "invoke", spy)
    response = client.get("/v1/models/21/info", headers={"X-API-Key": demo_key[0]})
    assert response.status_code == 200, response.text
    identity = stack.server.gateway.identity
    custom = stack.custom_domain_url is not None
    assert custom is (identity.custom_domain is not None)
    domain = identity.custom_domain or f"{identity.api_id}.execute-api.{identity.region}.amazonaws.com"
    for name in ("authorizer", "predict"):
        event = seen[name]
        assert event["path"] == ("/api" if custom else "") + "/v1/models/21/info", name
        assert event["resource"] == "/v1/models/{model_id}/info"
        assert event["headers"]["Host"] == event["requestContext"]["domainName"] == domain
        assert event["requestContext"]["path"] == "/api/v1/models/21/info"
    assert seen["authorizer"]["methodArn"].endswith(f"{identity.api_id}/api/GET/v1/models/21/info")


def test_an_url_encoded_model_id_is_the_model(client: Client, demo_key: tuple[str, str]) -> None:
    """API Gateway decodes path parameters: /v1/models/%32%31/info is model 21's info."""
    headers = {"X-API-Key": demo_key[0], "X-Request-ID": "encoded-1"}
    assert raw_get(client.base_url, "/v1/models/%32%31/info", headers) == raw_get(
        client.base_url, "/v1/models/21/info", headers
    )
    status, body = raw_get(client.base_url, "/v1/models/%39%39/info", headers)
    assert (status, body["detail"]) == (404, "Model '99' not found")
