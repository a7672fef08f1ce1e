"""Allow policies: the declared authorized routes, method by method, for the key's models only (API
Gateway answers 403 for the rest).

Derived from ``hokusai.api_contract.ROUTES``: a route that is not declared (a future admin DELETE under
a model, say) is allowed to no key until it is declared, and then only with its own method. Built on
the routes, not the one ``methodArn``: a policy reused for another route (authorizer cache) must still
mean "this key's models" and nothing more.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    HttpVerb,
)

from hokusai import api_contract
from hokusai.keys import schema
from hokusai.keys.store import KeyRecord

MODEL_PARAMETER = "{model_id}"
_SAFE_MODEL_ID = re.compile(r"[A-Za-z0-9._-]+")


def route_resources(models: tuple[str, ...]) -> list[tuple[str, str]]:
    """(method, resource path after ``<stage>/<method>/``) for every declared authorized route the
    key's scopes reach: routes without a model for any key, routes under a model for its models."""
    if schema.ALL_MODELS in models:
        allowed = ["*"]
    else:
        # An id outside the path alphabet cannot be a route; never let it widen a pattern. fullmatch:
        # ``$`` would accept a trailing newline.
        allowed = [model_id for model_id in models if _SAFE_MODEL_ID.fullmatch(model_id)]
    resources: list[tuple[str, str]] = []
    for route in api_contract.ROUTES:
        if not route.authorized:
            continue
        path = route.path.lstrip("/")
        if MODEL_PARAMETER in path:
            resources += [(route.method, path.replace(MODEL_PARAMETER, model_id)) for model_id in allowed]
        else:
            resources.append((route.method, path))
    return resources


def allow_policy(method_arn: str, record: KeyRecord) -> dict[str, Any]:
    context = {
        "key_id": record.key_id,
        "user_id": record.user_id,
        "scopes": ",".join(record.models),
    }
    response = APIGatewayAuthorizerResponse.from_route_arn(
        method_arn, principal_id=record.user_id, context=context
    )
    for method, resource in route_resources(record.models):
        response.allow_route(HttpVerb[method].value, resource)
    answer = response.asdict()
    if record.usage_key_value:
        # The key's usage plan key (ApiKeySourceType AUTHORIZER): its rate, burst and daily quota.
        # Without one, API Gateway answers 403 on methods that require a key (a key made before plans).
        answer["usageIdentifierKey"] = record.usage_key_value
    return answer
