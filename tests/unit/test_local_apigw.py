"""The API Gateway emulator's policy matcher, event builders and gateway responses (no network)."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import pytest
from hokusai.api_contract import ROUTES, STAGE_NAME, gateway_response

from local.apigw import (
    MAX_PAYLOAD_BYTES,
    FunctionHost,
    Gateway,
    GatewayIdentity,
    IncomingRequest,
    PolicyError,
    authorizer_context,
    authorizer_event,
    match_route,
    policy_allows,
    proxy_answer,
    proxy_event,
)

IDENTITY = GatewayIdentity(region="eu-west-1", account_id="123456789012", api_id="abc123")
PREDICT_ARN = IDENTITY.method_arn("POST", "/v1/models/21/predict")


def statement(effect: str, resource: str | list[str], action: str = "execute-api:Invoke") -> dict:
    return {"Effect": effect, "Action": action, "Resource": resource}


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_method_arn_has_the_gateway_shape() -> None:
    assert PREDICT_ARN == "arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/v1/models/21/predict"


@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        (PREDICT_ARN, True),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/api/*", True),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/v1/models/*/predict", True),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/v1/models/2?/predict", True),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/v1/models/2/predict", False),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/api/GET/*", False),
        ("arn:aws:execute-api:eu-west-1:123456789012:other/api/*", False),
        ("arn:aws:execute-api:*:*:abc123/*", True),
        ("arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/v1/models/?/predict", False),
        ("*", True),
    ],
)
def test_allow_resource_wildcards(resource: str, allowed: bool) -> None:
    assert policy_allows(policy(statement("Allow", resource)), PREDICT_ARN) is allowed


def test_regex_characters_in_resources_are_literal() -> None:
    dotted = "arn:aws:execute-api:eu-west-1:123456789012:abc123/api/POST/v1/models/21/predict."
    assert policy_allows(policy(statement("Allow", dotted.replace("21", ".."))), PREDICT_ARN) is False


def test_explicit_deny_wins_over_allow() -> None:
    document = policy(statement("Allow", "*"), statement("Deny", PREDICT_ARN))
    assert policy_allows(document, PREDICT_ARN) is False
    other = IDENTITY.method_arn("GET", "/v1/models/21/info")
    assert policy_allows(document, other) is True


def test_no_statement_for_the_method_is_not_allowed() -> None:
    assert policy_allows(policy(), PREDICT_ARN) is False


def test_resource_lists_and_action_wildcards() -> None:
    info = IDENTITY.method_arn("GET", "/v1/models/21/info")
    document = policy(statement("Allow", [info, PREDICT_ARN], action="execute-api:*"))
    assert policy_allows(document, PREDICT_ARN)
    assert not policy_allows(policy(statement("Allow", "*", action="s3:GetObject")), PREDICT_ARN)


@pytest.mark.parametrize(
    "document",
    [{}, {"Statement": "Allow"}, {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}],
)
def test_malformed_policies_are_configuration_errors(document: dict) -> None:
    with pytest.raises(PolicyError):
        policy_allows(document, PREDICT_ARN)


def test_context_values_become_strings_and_nested_values_are_refused() -> None:
    answer = {"principalId": "user-1", "context": {"key_id": "key_1", "n": 3, "ok": True}}
    assert authorizer_context(answer) == {"key_id": "key_1", "n": "3", "ok": "true", "principalId": "user-1"}
    with pytest.raises(PolicyError):
        authorizer_context({"principalId": "u", "context": {"scopes": ["21"]}})


def test_every_contract_route_matches_and_nothing_else() -> None:
    for route in ROUTES:
        path = route.path.replace("{model_id}", "21")
        found = match_route(route.method, path)
        assert found is not None and found.route == route
    assert match_route("GET", "/v1/models/21/predict") is None
    assert match_route("POST", "/v1/models/21/predict/extra") is None
    assert match_route("GET", "/nothing") is None
    predict = match_route("POST", "/v1/models/21/predict")
    assert predict is not None and predict.path_parameters == {"model_id": "21"}


def request(method: str = "POST", path: str = "/v1/models/21/predict", **kwargs: object) -> IncomingRequest:
    defaults: dict = {
        "query": "a=1&a=2&b=",
        "headers": [
            ("Content-Type", "application/json"),
            ("X-Request-ID", "r-1"),
            ("X-Multi", "1"),
            ("X-Multi", "2"),
        ],
        "body": b'{"inputs": {"company_size": 1000}}',
    }
    defaults.update(kwargs)
    return IncomingRequest(method=method, path=path, **defaults)


def test_proxy_event_has_the_rest_api_shape() -> None:
    incoming = request()
    match = match_route(incoming.method, incoming.path)
    assert match is not None
    event = proxy_event(incoming, match, IDENTITY, {"key_id": "key_1", "principalId": "u"})
    assert event["resource"] == "/v1/models/{model_id}/predict"
    assert event["path"] == "/v1/models/21/predict"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"model_id": "21"}
    assert event["headers"]["X-Multi"] == "2" and event["multiValueHeaders"]["X-Multi"] == ["1", "2"]
    assert event["queryStringParameters"] == {"a": "2", "b": ""}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""]}
    assert json.loads(event["body"]) == {"inputs": {"company_size": 1000}}
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["stage"] == STAGE_NAME and context["requestId"] == incoming.request_id
    assert context["resourcePath"] == "/v1/models/{model_id}/predict"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert (context["accountId"], context["apiId"]) == ("123456789012", "abc123")
    assert context["path"] == "/api/v1/models/21/predict"
    assert context["authorizer"] == {"key_id": "key_1", "principalId": "u"}


def test_powertools_reads_the_proxy_event() -> None:
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

    incoming = request()
    match = match_route(incoming.method, incoming.path)
    assert match is not None
    event = APIGatewayProxyEvent(proxy_event(incoming, match, IDENTITY, {"user_id": "u", "principalId": "u"}))
    assert event.headers.get("x-request-id") == "r-1"
    assert event.path_parameters == {"model_id": "21"}
    assert event.request_context.authorizer.get("user_id") == "u"
    assert event.json_body == {"inputs": {"company_size": 1000}}


def test_binary_bodies_are_base64_and_empty_bodies_null() -> None:
    incoming = request(headers=[("Content-Type", "application/octet-stream")], body=b"\x00\xff")
    match = match_route(incoming.method, incoming.path)
    assert match is not None
    event = proxy_event(incoming, match, IDENTITY)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"\x00\xff"
    empty = proxy_event(request(method="GET", path="/health", body=b"", query=""), match, IDENTITY)
    assert empty["body"] is None and empty["queryStringParameters"] is None


def test_authorizer_event_is_a_request_event_with_the_method_arn() -> None:
    incoming = request(headers=[("Authorization", "Bearer x")])
    match = match_route(incoming.method, incoming.path)
    assert match is not None
    event = authorizer_event(incoming, match, IDENTITY)
    assert event["type"] == "REQUEST" and event["methodArn"] == PREDICT_ARN
    assert event["headers"] == {
        "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "Authorization": "Bearer x",
        "X-Forwarded-For": "127.0.0.1",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    }
    assert "body" not in event


def test_proxy_answer_reads_single_multi_and_base64() -> None:
    answer = proxy_answer(
        {
            "statusCode": 201,
            "headers": {"X-A": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a", "b"], "X-A": ["ignored"]},
            "body": base64.b64encode(b"raw").decode(),
            "isBase64Encoded": True,
        },
        "rid",
    )
    assert answer.status == 201 and answer.body == b"raw"
    assert ("Set-Cookie", "a") in answer.headers and ("Set-Cookie", "b") in answer.headers
    assert ("X-A", "ignored") not in answer.headers


# ---------------------------------------------------------------- the gateway with real handler files
AUTHORIZER = """
def lambda_handler(event, context):
    header = event["headers"].get("X-API-Key")
    if header is None:
        raise Exception("Unauthorized")
    if header == "boom":
        raise RuntimeError("table unreachable")
    if header == "nested":
        return {"principalId": "u", "policyDocument": {"Statement": []}, "context": {"a": [1]}}
    arn = event["methodArn"]
    effect = "Deny" if header == "deny" else "Allow"
    return {
        "principalId": "user-1",
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": effect, "Action": "execute-api:Invoke", "Resource": arn.rsplit("/", 4)[0] + "/*"}]},
        "context": {"key_id": "key_1", "user_id": "user-1"},
    }
"""
FUNCTION = """
import json
def lambda_handler(event, context):
    if "crash" in (event["body"] or ""):
        raise ValueError("boom")
    if "malformed" in (event["body"] or ""):
        return {"body": "no status"}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"authorizer": event["requestContext"].get("authorizer"),
                                "request_id": context.aws_request_id})}
"""


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    for name, source in {"authorizer": AUTHORIZER, "predict": FUNCTION, "health": FUNCTION}.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "handler.py").write_text(textwrap.dedent(source))
    return Gateway(FunctionHost(IDENTITY, functions_dir=tmp_path))


def call(
    gateway: Gateway, key: str | None, body: bytes = b'{"inputs": {}}', path: str = "/v1/models/21/predict"
):
    headers = [("X-API-Key", key)] if key is not None else []
    answer = gateway.handle(IncomingRequest(method="POST", path=path, query="", headers=headers, body=body))
    return answer, json.loads(answer.body) if answer.body else None


def test_allowed_request_reaches_the_function_with_the_context(gateway: Gateway) -> None:
    answer, body = call(gateway, "good")
    assert answer.status == 200
    latency = body["authorizer"].pop("integrationLatency")
    assert isinstance(latency, int) and latency >= 0  # the authorizer's latency in ms, a number
    assert body["authorizer"] == {"key_id": "key_1", "user_id": "user-1", "principalId": "user-1"}
    assert ("x-amzn-RequestId", body["request_id"]) in answer.headers


RETRY = {"Retry-After": "5"}


@pytest.mark.parametrize(
    ("key", "status", "detail", "extra_headers"),
    [
        (None, 401, "API key required", {"WWW-Authenticate": "Bearer"}),
        ("deny", 403, "API key not allowed for this resource", {}),
        ("boom", 503, "Authentication temporarily unavailable, retry shortly", RETRY),
        ("nested", 503, "Authentication temporarily unavailable, retry shortly", RETRY),
    ],
)
def test_authorizer_outcomes_use_the_gateway_responses(
    gateway: Gateway, key: str | None, status: int, detail: str, extra_headers: dict[str, str]
) -> None:
    answer, body = call(gateway, key)
    headers = dict(answer.headers)
    assert answer.status == status
    assert body["detail"] == detail
    assert body["request_id"] == headers["x-amzn-RequestId"]
    # Each outcome carries exactly its own headers: Retry-After only on 503, WWW-Authenticate only on 401.
    assert headers.get("Retry-After") == extra_headers.get("Retry-After")
    assert headers.get("WWW-Authenticate") == extra_headers.get("WWW-Authenticate")
    # One request id per answer: the declared X-Request-ID (context.requestId) is the body's request_id.
    assert headers["X-Request-ID"] == body["request_id"] == headers["x-amzn-RequestId"]


@pytest.mark.parametrize("body", [b'{"inputs": ["crash"]}', b'{"inputs": ["malformed"]}'])
def test_function_failures_are_502_json(gateway: Gateway, body: bytes) -> None:
    answer, payload = call(gateway, "good", body)
    assert answer.status == 502
    assert payload["detail"] == "The service failed to answer, retry shortly"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/v1/models/21/info", "GET"),
        ("DELETE", "/v1/models/21/predict", "POST"),
        ("PUT", "/health", "GET"),
    ],
)
def test_a_known_path_with_another_method_is_405_naming_the_allowed_ones(
    gateway: Gateway, method: str, path: str, allow: str
) -> None:
    answer = gateway.handle(IncomingRequest(method=method, path=path, query="", headers=[], body=b""))
    body = json.loads(answer.body)
    headers = dict(answer.headers)
    assert answer.status == 405
    assert headers["Allow"] == allow
    assert headers["X-Request-ID"] == body["request_id"]
    resource = path.replace("/21/", "/{model_id}/")
    assert body["detail"] == f"Method {method} not allowed on {resource}; use {allow}"


def test_unknown_route_and_oversized_body(gateway: Gateway) -> None:
    answer, body = call(gateway, "good", path="/v2/nothing")
    assert answer.status == 404 and body["detail"] == "Not found"
    answer, body = call(gateway, "good", body=b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert answer.status == 413 and body["detail"] == "Request body too large"


def test_missing_handler_is_a_502_not_a_crash(tmp_path: Path) -> None:
    gateway = Gateway(FunctionHost(IDENTITY, functions_dir=tmp_path))
    answer = gateway.handle(IncomingRequest(method="GET", path="/health", query="", headers=[], body=b""))
    assert answer.status == 502
    assert json.loads(answer.body)["detail"] == "The service failed to answer, retry shortly"


# ---------------------------------------------------------------- request bodies: the gateway's validator
@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"wrong": {}}', []),  # no Content-Type: API Gateway takes application/json
        (b'{"inputs": 42}', [("Content-Type", "application/json; charset=utf-8")]),
        (b"not json", [("Content-Type", "application/json")]),
        (b"", []),
    ],
)
def test_a_body_the_model_refuses_gets_the_declared_bad_request_body(
    gateway: Gateway, body: bytes, headers: list[tuple[str, str]]
) -> None:
    """The same status, body and headers as API Gateway's BAD_REQUEST_BODY response (api_contract)."""
    request = IncomingRequest(
        method="POST",
        path="/v1/models/21/predict",
        query="",
        headers=[("X-API-Key", "good"), *headers],
        body=body,
    )
    answer = gateway.handle(request)
    declared = gateway_response("BAD_REQUEST_BODY")
    assert answer.status == declared.status_code == 400
    assert json.loads(answer.body) == json.loads(
        declared.template().replace("$context.requestId", request.request_id)
    )
    assert ("Content-Type", "application/json") in answer.headers
    assert ("x-amzn-ErrorType", "BadRequestException") in answer.headers
    assert "authorizer" not in json.loads(answer.body)  # the function never ran


def test_the_authorizer_answers_before_the_body_is_validated(gateway: Gateway) -> None:
    answer, body = call(gateway, None, body=b"not json")
    assert answer.status == 401 and body["detail"] == "API key required"


def test_bodies_of_another_content_type_are_not_validated(gateway: Gateway) -> None:
    """No model for text/plain: API Gateway passes the body to the function as it is."""
    headers = [("X-API-Key", "good"), ("Content-Type", "text/plain")]
    request = IncomingRequest(
        method="POST", path="/v1/models/21/predict", query="", headers=headers, body=b"hi"
    )
    assert gateway.handle(request).status == 200


@pytest.mark.parametrize(
    ("response_type", "status"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", 404),
        ("REQUEST_TOO_LARGE", 413),
        ("THROTTLED", 429),
        ("ACCESS_DENIED", 403),
    ],
)
def test_every_gateway_response_carries_the_request_id(response_type: str, status: int) -> None:
    from local.apigw import gateway_error

    answer = gateway_error(response_type, "req-42")
    assert answer.status == status
    assert dict(answer.headers)["X-Request-ID"] == json.loads(answer.body)["request_id"] == "req-42"


# ---------------------------------------------------------------- events as AWS sends them (tests/events)
# The published shapes (tests/events/SOURCES.md): the emulator's events must have the same keys and
# value types, so it cannot drift from what the deployed functions receive.
DATA_MAPS = frozenset(
    {
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
    }
)
CUSTOM_DOMAIN = "api.example.test"
CUSTOM_IDENTITY = GatewayIdentity(
    region="eu-west-1", account_id="123456789012", api_id="abc123", custom_domain=CUSTOM_DOMAIN
)
SEED_BODY = json.dumps({"inputs": {"company_size": 1000}})


def shape(value: object, key: str | None = None) -> object:
    """Keys and value types; the request's own maps (headers, query, path parameters) by value type."""
    if key in DATA_MAPS:
        assert value is None or isinstance(value, dict), key
        return None if value is None else ("map", sorted({type(v).__name__ for v in value.values()}))
    if isinstance(value, dict):
        return {name: shape(item, name) for name, item in value.items()}
    return type(value).__name__


def aws_event(name: str) -> dict:
    from local.handlers import load_event

    return load_event(name)


def incoming(
    method: str, path: str, *, query: str = "", headers: tuple = (), body: bytes = b""
) -> IncomingRequest:
    pairs = [("Accept", "*/*"), ("Host", "127.0.0.1:8080"), ("User-Agent", "curl/8.5.0"), *headers]
    return IncomingRequest(
        method=method, path=path, query=query, headers=pairs, body=body, source_ip="203.0.113.10"
    )


def emulated_proxy_event(identity: GatewayIdentity, request: IncomingRequest, authorized: bool) -> dict:
    match = match_route(request.method, request.path)
    assert match is not None
    answer = {"principalId": "acme-crm", "context": {"key_id": "key_1", "user_id": "acme-crm", "scopes": "*"}}
    return proxy_event(request, match, identity, authorizer_context(answer, 14) if authorized else None)


JSON_KEY_HEADERS = (("Content-Type", "application/json"), ("X-API-Key", "hk_x"))


@pytest.mark.parametrize(
    ("fixture", "identity", "request_", "authorized"),
    [
        ("apigw_docs_health.json", IDENTITY, incoming("GET", "/health"), False),
        (
            "apigw_custom_domain_predict.json",
            CUSTOM_IDENTITY,
            incoming("POST", "/v1/models/21/predict", headers=JSON_KEY_HEADERS, body=SEED_BODY.encode()),
            True,
        ),
        (
            "apigw_encoded_path_info.json",
            IDENTITY,
            incoming("GET", "/v1/models/%32%31/info", headers=(("X-API-Key", "hk_x"),)),
            True,
        ),
    ],
    ids=["execute-api-health", "custom-domain-predict", "encoded-path-info"],
)
def test_proxy_events_have_the_keys_and_types_aws_sends(
    fixture: str, identity: GatewayIdentity, request_: IncomingRequest, authorized: bool
) -> None:
    expected = aws_event(fixture)
    event = emulated_proxy_event(identity, request_, authorized)
    assert shape(event) == shape(expected)
    # And the values that say which URL was called and which resource matched, as AWS sets them.
    for key in ("resource", "path", "httpMethod", "pathParameters", "isBase64Encoded"):
        assert event[key] == expected[key], key
    for key in ("domainName", "domainPrefix", "path", "resourcePath", "stage", "httpMethod", "apiId"):
        assert event["requestContext"][key] == expected["requestContext"][key], key
    assert event["headers"]["Host"] == expected["headers"]["Host"]
    assert event["multiValueHeaders"]["Host"] == expected["multiValueHeaders"]["Host"]


def test_the_sam_sample_has_nothing_the_emulator_lacks() -> None:
    """aws-sam-cli's aws-proxy sample leaves out domainName & co.; every key it has, ours has."""
    sam = aws_event("apigw_sam_aws_proxy_predict.json")
    request_ = incoming("POST", "/v1/models/21/predict", query="foo=bar", body=b"\xff\xfe")
    event = emulated_proxy_event(IDENTITY, request_, authorized=True)
    assert set(sam) == set(event)
    assert set(sam["requestContext"]) <= set(event["requestContext"])
    assert set(sam["requestContext"]["identity"]) <= set(event["requestContext"]["identity"])
    for key in ("requestTimeEpoch", "requestTime", "resourceId", "path", "stage"):
        assert type(event["requestContext"][key]) is type(sam["requestContext"][key]), key
    assert event["isBase64Encoded"] is True and isinstance(event["body"], str)


def test_the_authorizer_event_has_the_keys_and_types_aws_sends() -> None:
    expected = aws_event("authorizer_request_aws_docs.json")
    request_ = incoming("GET", "/v1/models/21/info", headers=(("X-API-Key", "hk_x"),))
    match = match_route(request_.method, request_.path)
    assert match is not None
    event = authorizer_event(request_, match, IDENTITY)
    assert shape({k: v for k, v in event.items() if k != "requestContext"}) == shape(
        {k: v for k, v in expected.items() if k != "requestContext"}
    )
    # The published sample abridges requestContext ("API Gateway may add new keys"): each of its keys,
    # with the same type; the emulator passes the proxy event's whole requestContext.
    context, sample = event["requestContext"], expected["requestContext"]
    for key, value in sample.items():
        if key == "identity":
            for name, item in value.items():
                assert type(context["identity"][name]) is type(item), name
        else:
            assert type(context[key]) is type(value), key
    assert event["methodArn"] == expected["methodArn"]
    for key in ("resource", "path", "httpMethod", "pathParameters"):
        assert event[key] == expected[key], key
    assert context["path"] == sample["path"]


@pytest.mark.parametrize("identity", [IDENTITY, CUSTOM_IDENTITY], ids=["execute-api", "custom-domain"])
def test_url_styles_differ_where_api_gateway_differs(identity: GatewayIdentity) -> None:
    request_ = incoming("POST", "/v1/models/21/predict", body=SEED_BODY.encode())
    match = match_route(request_.method, request_.path)
    assert match is not None
    event = proxy_event(request_, match, identity)
    authorizer = authorizer_event(request_, match, identity)
    custom = identity.custom_domain is not None
    domain = CUSTOM_DOMAIN if custom else "abc123.execute-api.eu-west-1.amazonaws.com"
    path = "/api/v1/models/21/predict" if custom else "/v1/models/21/predict"
    for built in (event, authorizer):
        assert built["path"] == path
        assert built["resource"] == "/v1/models/{model_id}/predict"
        assert built["headers"]["Host"] == domain and built["multiValueHeaders"]["Host"] == [domain]
        context = built["requestContext"]
        assert context["domainName"] == domain
        assert context["domainPrefix"] == domain.split(".")[0]
        assert context["path"] == "/api/v1/models/21/predict"  # the path the client asked for
        assert context["stage"] == STAGE_NAME
    # The method ARN names the stage and the path relative to it, whichever URL the client called.
    assert authorizer["methodArn"] == PREDICT_ARN


def test_path_parameters_arrive_decoded_and_the_path_keeps_the_escapes() -> None:
    found = match_route("GET", "/v1/models/%32%31/info")
    assert found is not None and found.path_parameters == {"model_id": "21"}
    spaced = match_route("POST", "/v1/models/a%20b/predict")
    assert spaced is not None and spaced.path_parameters == {"model_id": "a b"}
    event = proxy_event(incoming("GET", "/v1/models/%32%31/info"), found, IDENTITY)
    assert event["path"] == "/v1/models/%32%31/info"
    assert event["requestContext"]["path"] == "/api/v1/models/%32%31/info"
    assert event["pathParameters"] == {"model_id": "21"}


def test_the_gateway_sets_host_and_forwarded_headers() -> None:
    request_ = incoming(
        "GET", "/health", headers=(("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "http"))
    )
    match = match_route("GET", "/health")
    assert match is not None
    headers = proxy_event(request_, match, CUSTOM_IDENTITY)["headers"]
    assert headers["Host"] == CUSTOM_DOMAIN
    assert headers["X-Forwarded-For"] == "198.51.100.7, 203.0.113.10"  # the client's address appended
    assert (headers["X-Forwarded-Port"], headers["X-Forwarded-Proto"]) == ("443", "https")
    assert headers["User-Agent"] == "curl/8.5.0"


ECHO = """
import json
def lambda_handler(event, context):
    if event.get("type") == "REQUEST":
        return {"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": event["methodArn"]}]},
            "context": {"seen_path": event["path"], "seen_arn": event["methodArn"]}}
    return {"statusCode": 200, "body": json.dumps(event)}
"""


@pytest.mark.parametrize("identity", [IDENTITY, CUSTOM_IDENTITY], ids=["execute-api", "custom-domain"])
def test_the_gateway_hands_both_functions_the_url_styles_events(
    tmp_path: Path, identity: GatewayIdentity
) -> None:
    for name in ("authorizer", "predict"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "handler.py").write_text(textwrap.dedent(ECHO))
    gateway = Gateway(FunctionHost(identity, functions_dir=tmp_path))
    try:
        answer = gateway.handle(
            IncomingRequest(method="GET", path="/v1/models/%32%31/info", query="", headers=[], body=b"")
        )
    finally:
        gateway.close()
    assert answer.status == 200
    event = json.loads(answer.body)
    prefix = "/api" if identity.custom_domain else ""
    assert event["path"] == f"{prefix}/v1/models/%32%31/info"
    assert event["pathParameters"] == {"model_id": "21"}
    assert event["requestContext"]["domainName"] == identity.domain_name
    assert event["requestContext"]["authorizer"]["seen_path"] == event["path"]
    assert event["requestContext"]["authorizer"]["seen_arn"] == IDENTITY.method_arn(
        "GET", "/v1/models/%32%31/info"
    )
