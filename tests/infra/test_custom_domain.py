"""A custom domain from context: the seed's clients keep https://<domain>/api/v1/... ."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Match
from hokusai import api_contract

from stacks.settings import ContextError
from tests.infra.conftest import synthesize

STACK = "HokusaiService"
ZONE = "Z0123456789ABC"
DOMAIN = "api.hokus.ai"
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"


def test_domain_with_base_path_api_on_the_stage_and_an_alias_record(tmp_path: Path) -> None:
    synthesized = synthesize(
        tmp_path / "cdk.out",
        domainName=DOMAIN,
        certificateArn=CERTIFICATE,
        hostedZoneId=ZONE,
    )
    template = synthesized.templates[STACK]
    template.has_resource_properties(
        "AWS::ApiGateway::DomainName",
        {
            "DomainName": DOMAIN,
            "RegionalCertificateArn": CERTIFICATE,
            "EndpointConfiguration": {"Types": ["REGIONAL"]},
            "SecurityPolicy": "TLS_1_2",
        },
    )
    template.has_resource_properties(
        "AWS::ApiGateway::BasePathMapping",
        {
            "BasePath": api_contract.STAGE_NAME,
            "Stage": {"Ref": Match.string_like_regexp("ApiDeploymentStage")},
        },
    )
    template.has_resource_properties(
        "AWS::Route53::RecordSet",
        {
            "Name": "api.hokus.ai.",
            "Type": "A",
            "HostedZoneId": ZONE,
            "AliasTarget": Match.any_value(),
        },
    )
    outputs = synthesized.raw[STACK]["Outputs"]
    assert outputs["CustomDomainBaseUrl"]["Value"] == "https://api.hokus.ai/api"


def test_no_domain_by_default(synthesized: object) -> None:
    template = synthesized.templates[STACK]  # type: ignore[attr-defined]
    template.resource_count_is("AWS::ApiGateway::DomainName", 0)
    template.resource_count_is("AWS::ApiGateway::BasePathMapping", 0)


@pytest.mark.parametrize(
    ("context", "key"),
    [
        ({"certificateArn": CERTIFICATE}, "certificateArn"),
        ({"domainName": DOMAIN}, "certificateArn"),
        ({"domainName": "API.hokus.ai", "certificateArn": CERTIFICATE}, "domainName"),
        (
            {"domainName": DOMAIN, "certificateArn": CERTIFICATE, "hostedZoneId": "nope"},
            "hostedZoneId",
        ),
    ],
)
def test_bad_domain_context_fails_synth_naming_the_key(tmp_path: Path, context: dict, key: str) -> None:
    with pytest.raises(ContextError) as refused:
        synthesize(tmp_path / "cdk.out", **context)
    assert str(refused.value).startswith(f"Invalid CDK context: {key} must be")


def _canary_base_url(synthesized: object) -> object:
    functions = synthesized.resources("HokusaiMonitoring", "AWS::Lambda::Function")  # type: ignore[attr-defined]
    (canary,) = [f for f in functions.values() if f["Properties"].get("FunctionName") == "hokusai-canary"]
    return canary["Properties"]["Environment"]["Variables"]["API_BASE_URL"]


def test_with_a_domain_the_canary_calls_the_url_clients_use(tmp_path: Path) -> None:
    """A broken mapping, certificate or DNS record fails the canary's synthetic checks and pages."""
    synthesized = synthesize(tmp_path / "cdk.out", domainName=DOMAIN, certificateArn=CERTIFICATE)
    assert _canary_base_url(synthesized) == f"https://{DOMAIN}/{api_contract.CUSTOM_DOMAIN_BASE_PATH}/"


def test_without_a_domain_the_canary_calls_the_execute_api_url(synthesized: object) -> None:
    url = _canary_base_url(synthesized)
    assert isinstance(url, dict)
    parts = url["Fn::Join"][1]
    assert parts[0] == "https://" and ".execute-api." in parts and parts[-1] == "/"
    assert "ApiDeploymentStage" in str(parts[-2])
