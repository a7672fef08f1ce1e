"""Property: whatever headers and body a client sends, predict answers without a 5xx or an ERROR log.

The handler runs in-process (``local.handlers.load_handler``) with the shipped model in a temp EFS
directory, as in ``test_predict_handler.py``. Hypothesis generates the Content-Type (JSON and not,
any case, parameters, garbage), the Content-Encoding, the X-Request-ID and the body: random bytes,
random JSON, lead-shaped JSON with random values, deep nesting, huge integers, JSON in Latin-1 or
UTF-16, delivered as text or base64 (``isBase64Encoded``) as API Gateway does. Derandomized and
without deadlines: the same examples every run, nothing depends on the machine's speed.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from hokusai.models.features import FEATURES
from hokusai.models.registry import ModelSpec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from local.handlers import LambdaContext, load_event
from tests.helpers import predict_handler_on_efs


class _Levels(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def handler(demo_model: tuple[bytes, ModelSpec], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield predict_handler_on_efs(demo_model, tmp_path_factory, max_body_bytes=65536)


@pytest.fixture(scope="module")
def levels() -> Iterator[_Levels]:
    from hokusai.observability import logger

    capture = _Levels()
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)


def _case(value: str, flips: list[bool]) -> str:
    return "".join(
        c.upper() if flip else c.lower() for c, flip in zip(value, flips + [False] * len(value), strict=False)
    )


media_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/vnd.api+json",
            "application/problem+json",
            "text/plain",
            "text/json",
            "application/octet-stream",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
        ]
    ),
    st.text(max_size=40),
)
parameters = st.sampled_from(
    [
        "",
        "; charset=utf-8",
        ";charset=UTF-8",
        '; charset="utf-8"',
        "; charset=latin-1",
        "; charset=utf-16",
        "; x=1",
        ";",
    ]
)
content_types = st.one_of(
    st.none(),
    st.just("application/json"),
    st.just("Application/JSON; charset=UTF-8"),
    st.builds(
        lambda media, flips, params: _case(media, flips) + params,
        media_types,
        st.lists(st.booleans()),
        parameters,
    ),
)
encodings = st.one_of(
    st.none(),
    st.none(),
    st.none(),
    st.sampled_from(["gzip", "GZIP", "identity", "deflate, gzip", "br", ""]),
    st.text(max_size=10),
)
request_ids = st.one_of(
    st.none(), st.text(max_size=140), st.from_regex(r"[A-Za-z0-9._:/+=-]{1,128}", fullmatch=True)
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5), st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)
feature_names = st.sampled_from([feature.name for feature in FEATURES] + ["compnay_size", ""])
leads = st.dictionaries(feature_names, json_values, max_size=6)


def _valid_value(feature: Any) -> st.SearchStrategy[Any]:
    if feature.kind == "integer":
        return st.integers(min_value=int(feature.minimum), max_value=int(feature.maximum))
    if feature.kind == "number":
        return st.floats(min_value=feature.minimum, max_value=feature.maximum)
    if feature.kind == "boolean":
        return st.booleans()
    spellings = ["Technology", " technology ", "FINANCE", "Biotech", "VP of Sales", "q1 2025", "Unknown", ""]
    return st.one_of(st.sampled_from(spellings), st.text(max_size=feature.max_length))


valid_leads = st.fixed_dictionaries({}, optional={f.name: _valid_value(f) for f in FEATURES})
documents = st.one_of(
    st.builds(lambda inputs: {"inputs": inputs}, st.one_of(valid_leads, st.lists(valid_leads, max_size=6))),
    json_values,
    st.builds(lambda inputs: {"inputs": inputs}, st.one_of(leads, st.lists(leads, max_size=7), json_values)),
)
json_texts = st.builds(json.dumps, documents)
bodies = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda text: text.encode(), json_texts),
    st.builds(
        lambda text, codec: text.encode(codec, "replace"),
        json_texts,
        st.sampled_from(["latin-1", "utf-16", "utf-16-le", "utf-32"]),
    ),
    st.builds(lambda n: (b"[" * n) + (b"]" * n), st.integers(min_value=1, max_value=5000)),
    st.builds(
        lambda n: b'{"inputs": {"company_size": 1' + b"0" * n + b"}}",
        st.integers(min_value=0, max_value=6000),
    ),
    st.sampled_from(
        [
            b"",
            b"inputs=%7B%7D",
            b'{"inputs": {"engagement_score": NaN}}',
            b"\xef\xbb\xbf{}",
            b'{"inputs": {}}',
        ]
    ),
)


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    content_type=content_types,
    encoding=encodings,
    client_request_id=request_ids,
    raw=bodies,
    as_base64=st.booleans(),
)
def test_no_client_input_gets_a_5xx_or_an_error_log(
    handler: Any,
    levels: _Levels,
    *,
    content_type: str | None,
    encoding: str | None,
    client_request_id: str | None,
    raw: bytes,
    as_base64: bool,
) -> None:
    request = load_event("predict_seed.json")
    headers = {k: v for k, v in request["headers"].items() if k not in ("Content-Type", "X-Request-ID")}
    for name, value in (
        ("Content-Type", content_type),
        ("Content-Encoding", encoding),
        ("X-Request-ID", client_request_id),
    ):
        if value is not None:
            headers[name] = value
    request["headers"] = headers
    request["multiValueHeaders"] = {name: [value] for name, value in headers.items()}
    if as_base64:
        request["body"], request["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    else:  # a text body: the gateway's string (undecodable bytes replaced)
        request["body"], request["isBase64Encoded"] = raw.decode("utf-8", "replace"), False
    levels.records.clear()

    answer = handler.lambda_handler(request, LambdaContext())

    status = answer["statusCode"]
    body = json.loads(answer["body"])
    event(f"status {status}")
    assert 200 <= status < 500, body
    assert answer["headers"]["X-Request-ID"]
    if status == 200:
        assert "predictions" in body
    else:
        assert isinstance(body["detail"], str) and body["detail"]
        assert body["request_id"] == answer["headers"]["X-Request-ID"]
    assert [r.getMessage() for r in levels.records if r.levelno >= logging.ERROR] == []
