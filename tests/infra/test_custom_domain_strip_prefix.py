"""The custom domain's base path, declared once: the stack maps it and the functions strip it.

Through a base path mapping API Gateway keeps the base path in the proxy event's ``path``; predict and
health strip ``api_contract.STRIP_PREFIXES``. Should the two ever disagree, every route on the custom
domain answers the functions' own 404.
"""

from __future__ import annotations

from pathlib import Path

from hokusai import api_contract

from tests.infra.conftest import synthesize

STACK = "HokusaiService"
DOMAIN = "api.hokus.ai"
CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0f0e0d0c-0b0a-0908-0706-050403020100"


def test_the_functions_strip_the_base_path_the_stack_maps(tmp_path: Path) -> None:
    synthesized = synthesize(tmp_path / "cdk.out", domainName=DOMAIN, certificateArn=CERTIFICATE)
    mappings = synthesized.templates[STACK].find_resources("AWS::ApiGateway::BasePathMapping")
    assert len(mappings) == 1, mappings
    (mapping,) = mappings.values()
    base_path = mapping["Properties"]["BasePath"]
    assert base_path == api_contract.CUSTOM_DOMAIN_BASE_PATH
    assert (f"/{base_path}",) == api_contract.STRIP_PREFIXES
    # Clients keep https://<domain>/api/v1/...: the base path is the one their URLs already have.
    outputs = synthesized.raw[STACK]["Outputs"]
    assert outputs["CustomDomainBaseUrl"]["Value"] == f"https://{DOMAIN}/{base_path}"


def test_both_resolvers_are_given_the_declared_prefixes() -> None:
    """The handlers pass ``api_contract.STRIP_PREFIXES`` itself (not a copy of its value)."""
    root = Path(__file__).resolve().parents[2]
    for function in ("predict", "health"):
        source = (root / "functions" / function / "handler.py").read_text()
        assert "strip_prefixes=[*api_contract.STRIP_PREFIXES]" in source, function
