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
