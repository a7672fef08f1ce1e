"""Allow policies on resource wildcards: the key's models only (API Gateway answers 403 for the rest).

Built on the route, not the one ``methodArn``: a policy reused for another route (authorizer cache)
must still mean "this key's models" and nothing more.
"""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools.utilities.data_classes.api_gateway_authorizer_event import (
    APIGatewayAuthorizerResponse,
    HttpVerb,
)

from hokusai.keys import schema
from hokusai.keys.store import KeyRecord

MODELS_LIST_RESOURCE = "v1/models"
_SAFE_MODEL_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def model_resources(models: tuple[str, ...]) -> list[str]:
    """The resource paths (after ``<stage>/<method>/``) a key's scopes allow, every method."""
    if schema.ALL_MODELS in models:
        return ["v1/models/*"]
    # An id with characters outside the path alphabet cannot be a route; never let it widen a pattern.
    return [f"v1/models/{model_id}/*" for model_id in models if _SAFE_MODEL_ID.match(model_id)]


def allow_policy(method_arn: str, record: KeyRecord) -> dict[str, Any]:
    context = {
        "key_id": record.key_id,
        "user_id": record.user_id,
        "scopes": ",".join(record.models),
    }
    response = APIGatewayAuthorizerResponse.from_route_arn(
        method_arn, principal_id=record.user_id, context=context
    )
    response.allow_route(HttpVerb.GET.value, MODELS_LIST_RESOURCE)
    for resource in model_resources(record.models):
        response.allow_route(HttpVerb.ALL.value, resource)
    answer = response.asdict()
    if record.usage_key_value:
        # The key's usage plan key (ApiKeySourceType AUTHORIZER): its rate, burst and daily quota.
        # Without one, API Gateway answers 403 on methods that require a key (a key made before plans).
        answer["usageIdentifierKey"] = record.usage_key_value
    return answer
