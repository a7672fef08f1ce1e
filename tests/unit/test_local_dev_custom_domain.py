"""``HOKUSAI_DEV_CUSTOM_DOMAIN``: read and checked as the stack's ``domainName``, shown in the banner."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from local.dev import _custom_domain, banner


def test_unset_or_empty_is_execute_api_style() -> None:
    assert _custom_domain({}) is None
    assert _custom_domain({"HOKUSAI_DEV_CUSTOM_DOMAIN": "  "}) is None


def test_a_dns_name_is_taken() -> None:
    assert _custom_domain({"HOKUSAI_DEV_CUSTOM_DOMAIN": "api.example.test"}) == "api.example.test"


@pytest.mark.parametrize(
    "raw", ["API.example.test", "https://api.example.test", "api", "api.example.test/api"]
)
def test_anything_else_names_the_variable(raw: str) -> None:
    with pytest.raises(SystemExit, match="HOKUSAI_DEV_CUSTOM_DOMAIN must be a lower-case DNS name"):
        _custom_domain({"HOKUSAI_DEV_CUSTOM_DOMAIN": raw})


def fake_stack(custom_domain_url: str | None) -> SimpleNamespace:
    aws = SimpleNamespace(endpoint_url="http://127.0.0.1:5000", env=lambda: {"AWS_REGION": "eu-west-1"})
    deployment = SimpleNamespace(
        parameter_name="/hokusai-local/expected-state",
        secret_arns={"canary_key": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:canary"},
        group_ids={"redis": "sg-0123"},
    )
    return SimpleNamespace(
        base_url="http://127.0.0.1:8080/api",
        custom_domain_url=custom_domain_url,
        aws=aws,
        deployment=deployment,
        operator_env=lambda: {"KEYS_TABLE_NAME": "t", "REDIS_URL": "redis://x", "REDIS_KEY_PREFIX": "p:"},
        environment={"REDIS_URL": "redis://x", "KEYS_TABLE_NAME": "t", "MODEL_BUCKET": "b"},
        redis_answered=True,
    )


@pytest.mark.parametrize("custom", [None, "https://api.example.test/api"])
def test_the_banner_shows_the_custom_domain_base_url_when_set(custom: str | None) -> None:
    out = io.StringIO()
    banner(fake_stack(custom), "hk_demo", "key_1", out)  # type: ignore[arg-type]
    text = out.getvalue()
    assert "  API            http://127.0.0.1:8080/api" in text
    assert ("custom domain  https://api.example.test/api" in text) is (custom is not None)
