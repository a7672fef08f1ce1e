"""CORS, decided (issue 23 item 7; docs/api.md "Browsers and CORS"): the API does not serve browsers
cross-origin, because its only credential is a long-lived company key that a web page would show to
every visitor. So the stack declares no preflight method and no ``Access-Control-*`` header anywhere,
and a preflight (OPTIONS) on a declared path reaches the MOCK ``ANY`` method: a JSON 405 with Allow."""

from __future__ import annotations

import json

from hokusai import api_contract

from tests.infra.conftest import Synthesized

STACK = "HokusaiService"


def test_no_preflight_method_and_no_cors_header_anywhere(synthesized: Synthesized) -> None:
    methods = synthesized.resources(STACK, "AWS::ApiGateway::Method").values()
    assert "OPTIONS" not in {method["Properties"]["HttpMethod"] for method in methods}
    declared = {
        "methods": list(methods),
        "gateway responses": list(synthesized.resources(STACK, "AWS::ApiGateway::GatewayResponse").values()),
        "api": list(synthesized.resources(STACK, "AWS::ApiGateway::RestApi").values()),
    }
    assert "access-control-" not in json.dumps(declared).lower()


def test_a_preflight_on_any_declared_path_gets_the_json_405(synthesized: Synthesized) -> None:
    methods = synthesized.resources(STACK, "AWS::ApiGateway::Method").values()
    mocks = [method["Properties"] for method in methods if method["Properties"]["HttpMethod"] == "ANY"]
    assert len(mocks) == len({route.path for route in api_contract.ROUTES})
    for properties in mocks:
        (answer,) = properties["Integration"]["IntegrationResponses"]
        assert answer["StatusCode"] == "405"
        assert (
            '"detail": "Method $context.httpMethod not allowed'
            in answer["ResponseTemplates"]["application/json"]
        )
