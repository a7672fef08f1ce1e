"""The keys table's shape, shared by the store, the CDK stack and the local stack.

One item per key, addressed by the SHA-256 hex digest of the key (the key itself is never stored):
``key_hash`` (partition key), ``key_id`` (public identifier, ``key_...``), ``user_id``, ``models``
(list of model ids, or ``["*"]``), ``status`` (``active`` | ``revoked``), ``created_at`` (ISO 8601),
``expires_at`` (epoch seconds, optional), ``description`` (optional).
"""

KEY_HASH_ATTRIBUTE = "key_hash"
KEY_ID_ATTRIBUTE = "key_id"
KEY_ID_INDEX = "key_id-index"
ALL_MODELS = "*"
# The table's DynamoDB stream: revocation reaches Redis through it (functions/revocation); both images,
# so a consumer can tell whether a change makes the authorizer's cached entry stale.
STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"


# Every companion API Gateway key (hokusai.keys.usage) is tagged with who made it: the CLI, or the
# canary-key provisioner of one deployment, whose IAM role may delete only keys with its own tag
# (stacks/monitoring_stack.py).
CREATED_BY_TAG = "hokusai:created-by"
CLI_CREATOR = "keys-cli"


def canary_key_creator(usage_plan_id: str) -> str:
    """The tag value of the canary's companion keys: per deployment (its plan id), so one prefix's
    provisioner cannot delete another's canary key either."""
    return f"canary-key:{usage_plan_id}"


def create_table_arguments(table_name: str) -> dict[str, object]:
    """``dynamodb.create_table`` arguments for the keys table, as the stateful stack declares it.

    Used by the local stack and the tests, so every table they make has the deployed shape.
    """
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": KEY_HASH_ATTRIBUTE, "AttributeType": "S"},
            {"AttributeName": KEY_ID_ATTRIBUTE, "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": KEY_HASH_ATTRIBUTE, "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": KEY_ID_INDEX,
                "KeySchema": [{"AttributeName": KEY_ID_ATTRIBUTE, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE},
    }
