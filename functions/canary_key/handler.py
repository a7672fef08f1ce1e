"""The ``CanaryKey`` custom resource (CloudFormation invokes it on deploy; outside the VPC).

Creates, rotates and revokes the canary's API key; the logic and the request/rotation sequence are in
``hokusai.keys.provisioner``. This file only wires the AWS clients and answers CloudFormation.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from hokusai import aws
from hokusai.keys.provisioner import handle, response_body, send_response
from hokusai.keys.store import KeyStore
from hokusai.observability import logger

# botocore logs request bodies at DEBUG, and PutSecretValue's body is the key: never let a DEBUG
# setting (root logger, boto3.set_stream_logger) put it into CloudWatch.
logging.getLogger("botocore").setLevel(logging.INFO)

# Bounded calls: a deploy waits on this function, and a hung call would hold it for the service
# timeout. Slower than the authorizer's budget: nobody is waiting on a request here.
dynamodb = aws.client("dynamodb", aws.DEPLOYMENT)
secretsmanager = aws.client("secretsmanager", aws.DEPLOYMENT)
apigateway = aws.client("apigateway", aws.DEPLOYMENT)


def _store(table_name: str) -> KeyStore:
    return KeyStore(dynamodb, table_name)


# log_event=False: the event carries a pre-signed ResponseURL (anyone holding it can answer for us).
@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = handle(
        event, store_for=_store, secrets_client=secretsmanager, logger=logger, apigateway=apigateway
    )
    try:
        send_response(str(event["ResponseURL"]), response_body(event, outcome))
    except Exception as error:
        # Not re-raised: an asynchronous retry would run Create again and make a second key.
        # CloudFormation gives up at the resource's service timeout instead.
        logger.error(
            "Could not send the response to CloudFormation", extra={"error_kind": type(error).__name__}
        )
    return {"Status": outcome.status, "PhysicalResourceId": outcome.physical_resource_id}
