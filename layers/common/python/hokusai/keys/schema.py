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
