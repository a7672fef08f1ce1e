"""The keys table (DynamoDB): the source of truth for API keys.

Clients are bounded (connect/read timeouts, attempts from KeysTableSettings): botocore's defaults
(60 s timeouts, retries) would turn a slow table into incident 1 again. ``AWS_ENDPOINT_URL`` is
honoured by boto3 itself (moto in tests, the local stack).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hokusai.config import KeysTableSettings
from hokusai.keys import schema
from hokusai.keys.format import generate_key, key_digest, new_key_id

ACTIVE = "active"
REVOKED = "revoked"


@dataclass(frozen=True)
class UsageKey:
    """A key's companion API Gateway API key, on its usage plan (never the hk_ key itself)."""

    plan: str
    key_id: str
    value: str = field(repr=False)


class StoreUnavailable(Exception):
    """The keys table could not be read (timeout, refused, throttled, access denied ...)."""


class KeyNotFound(LookupError):
    pass


class KeyNotActive(ValueError):
    """The key is revoked or expired: it gets no plan."""

    def __init__(self, key_id: str, status: str) -> None:
        super().__init__(f"key {key_id} is {status}: only an active key can be put on a plan")
        self.key_id = key_id
        self.status = status


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    user_id: str
    models: tuple[str, ...]
    status: str = ACTIVE
    created_at: str = ""
    expires_at: int | None = None
    description: str = ""
    key_hash: str = field(default="", repr=False)
    plan: str = ""
    usage_key_id: str = ""
    # The companion API Gateway API key's value: the authorizer's usageIdentifierKey. A secret (it
    # spends the key's quota), so never in a repr, a log line or the CLI's output.
    usage_key_value: str = field(default="", repr=False)

    def is_expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (time.time() if now is None else now)

    def is_usable(self, now: float | None = None) -> bool:
        return self.status == ACTIVE and not self.is_expired(now)

    def allows_all_models(self) -> bool:
        return schema.ALL_MODELS in self.models

    def to_cache(self) -> dict[str, Any]:
        """The cached form (no digest: the cache key already is the digest)."""
        return {
            "key_id": self.key_id,
            "user_id": self.user_id,
            "models": list(self.models),
            "status": self.status,
            "expires_at": self.expires_at,
            "usage_key_value": self.usage_key_value,
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> KeyRecord:
        expires = data.get("expires_at")
        return cls(
            key_id=str(data["key_id"]),
            user_id=str(data["user_id"]),
            models=tuple(str(m) for m in data["models"]),
            # Required: a record that does not say it is active is not (never default to an allow).
            status=str(data["status"]),
            expires_at=int(expires) if expires is not None else None,
            usage_key_value=str(data.get("usage_key_value") or ""),
        )


def bounded_dynamodb_client(settings: KeysTableSettings, region: str | None = None) -> Any:
    from hokusai.aws import Budget, client

    budget = Budget.from_ms(settings.connect_timeout_ms, settings.read_timeout_ms, settings.max_attempts)
    return client("dynamodb", budget, region)


def _item_to_record(item: dict[str, Any]) -> KeyRecord:
    expires = item.get("expires_at", {}).get("N")
    return KeyRecord(
        key_id=item[schema.KEY_ID_ATTRIBUTE]["S"],
        user_id=item.get("user_id", {}).get("S", ""),
        models=tuple(m["S"] for m in item.get("models", {}).get("L", [])),
        status=item.get("status", {}).get("S", REVOKED),
        created_at=item.get("created_at", {}).get("S", ""),
        expires_at=int(float(expires)) if expires is not None else None,
        description=item.get("description", {}).get("S", ""),
        key_hash=item[schema.KEY_HASH_ATTRIBUTE]["S"],
        plan=item.get("plan", {}).get("S", ""),
        usage_key_id=item.get("usage_key_id", {}).get("S", ""),
        usage_key_value=item.get("usage_key_value", {}).get("S", ""),
    )


@dataclass(frozen=True)
class UnreadableItem:
    """A stored item that is not a readable key (a missing field, a malformed or out-of-range value).

    ``hokusai keys list`` reports it by key id, instead of failing the whole listing."""

    key_id: str
    problem: str


REQUIRED_ATTRIBUTES = (
    (schema.KEY_HASH_ATTRIBUTE, "S"),
    (schema.KEY_ID_ATTRIBUTE, "S"),
    ("user_id", "S"),
    ("models", "L"),
    ("status", "S"),
)


def read_item(item: dict[str, Any]) -> KeyRecord | UnreadableItem:
    """The record of a stored item, or what makes it unreadable (never raises)."""
    key_id = item.get(schema.KEY_ID_ATTRIBUTE, {}).get("S") if isinstance(item, dict) else None
    shown_id = str(key_id) if key_id else "(no key_id)"
    missing = [name for name, kind in REQUIRED_ATTRIBUTES if kind not in (item.get(name) or {})]
    if missing:
        return UnreadableItem(shown_id, f"missing {', '.join(missing)}")
    try:
        record = _item_to_record(item)
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        return UnreadableItem(shown_id, f"malformed item ({type(error).__name__})")
    if record.expires_at is not None:
        try:
            datetime.fromtimestamp(record.expires_at, UTC)
        except (OverflowError, ValueError, OSError):
            return UnreadableItem(shown_id, f"expires_at {record.expires_at} is out of range")
    return record


class KeyStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    @classmethod
    def from_settings(cls, settings: KeysTableSettings, region: str | None = None) -> KeyStore:
        return cls(bounded_dynamodb_client(settings, region), settings.table_name)

    def get(self, digest: str) -> KeyRecord | None:
        """The record for a digest, None if unknown; StoreUnavailable if the table cannot answer."""
        try:
            reply = self._client.get_item(
                TableName=self.table_name,
                Key={schema.KEY_HASH_ATTRIBUTE: {"S": digest}},
                ConsistentRead=True,  # a revocation is visible on the next miss
            )
        except Exception as error:
            raise StoreUnavailable(type(error).__name__) from None
        item = reply.get("Item")
        return _item_to_record(item) if item else None

    def create(
        self,
        user_id: str,
        models: Sequence[str],
        *,
        expires_at: int | None = None,
        description: str = "",
        usage_key: UsageKey | None = None,
        key_id: str | None = None,
    ) -> tuple[str, KeyRecord]:
        """A new key: returns the key (to be shown once) and its record. Only the digest is stored.

        ``usage_key``: the companion API Gateway key on the key's usage plan (hokusai.keys.usage)."""
        api_key = generate_key()
        record = KeyRecord(
            key_id=key_id or new_key_id(),
            user_id=user_id,
            models=tuple(models),
            created_at=datetime.now(UTC).isoformat(),
            expires_at=expires_at,
            description=description,
            key_hash=key_digest(api_key),
            plan=usage_key.plan if usage_key else "",
            usage_key_id=usage_key.key_id if usage_key else "",
            usage_key_value=usage_key.value if usage_key else "",
        )
        item: dict[str, Any] = {
            schema.KEY_HASH_ATTRIBUTE: {"S": record.key_hash},
            schema.KEY_ID_ATTRIBUTE: {"S": record.key_id},
            "user_id": {"S": user_id},
            "models": {"L": [{"S": m} for m in record.models]},
            "status": {"S": ACTIVE},
            "created_at": {"S": record.created_at},
        }
        if expires_at is not None:
            item["expires_at"] = {"N": str(expires_at)}
        if description:
            item["description"] = {"S": description}
        if usage_key is not None:
            item["plan"] = {"S": usage_key.plan}
            item["usage_key_id"] = {"S": usage_key.key_id}
            item["usage_key_value"] = {"S": usage_key.value}
        self._client.put_item(
            TableName=self.table_name,
            Item=item,
            ConditionExpression="attribute_not_exists(#h)",
            ExpressionAttributeNames={"#h": schema.KEY_HASH_ATTRIBUTE},
        )
        return api_key, record

    def find_by_key_id(self, key_id: str) -> KeyRecord:
        return _item_to_record(self._item_by_key_id(key_id))

    def find_item_by_key_id(self, key_id: str) -> KeyRecord | UnreadableItem:
        """Like :meth:`find_by_key_id`, but an unreadable item is answered, not raised."""
        return read_item(self._item_by_key_id(key_id))

    def _item_by_key_id(self, key_id: str) -> dict[str, Any]:
        reply = self._client.query(
            TableName=self.table_name,
            IndexName=schema.KEY_ID_INDEX,
            KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": schema.KEY_ID_ATTRIBUTE},
            ExpressionAttributeValues={":k": {"S": key_id}},
        )
        items = reply.get("Items", [])
        if not items:
            raise KeyNotFound(key_id)
        # The index may project only keys: read the full item by its digest.
        digest = items[0][schema.KEY_HASH_ATTRIBUTE]["S"]
        reply = self._client.get_item(
            TableName=self.table_name,
            Key={schema.KEY_HASH_ATTRIBUTE: {"S": digest}},
            ConsistentRead=True,
        )
        item: dict[str, Any] | None = reply.get("Item")
        if not item:
            raise KeyNotFound(key_id)
        return item

    def revoke(self, key_id: str) -> KeyRecord:
        """Marks the key revoked; works on an unreadable item too (only its digest is needed)."""
        item = self._item_by_key_id(key_id)
        readable = read_item(item)
        record = (
            readable
            if isinstance(readable, KeyRecord)
            else KeyRecord(
                key_id=key_id,
                user_id=str(item.get("user_id", {}).get("S", "")),
                models=(),
                key_hash=item[schema.KEY_HASH_ATTRIBUTE]["S"],
                usage_key_id=str(item.get("usage_key_id", {}).get("S", "")),
            )
        )
        self._client.update_item(
            TableName=self.table_name,
            Key={schema.KEY_HASH_ATTRIBUTE: {"S": record.key_hash}},
            UpdateExpression="SET #s = :r, revoked_at = :t",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":r": {"S": REVOKED}, ":t": {"S": datetime.now(UTC).isoformat()}},
        )
        return KeyRecord(**{**record.__dict__, "status": REVOKED})

    def set_usage_key(self, key_id: str, usage_key: UsageKey) -> KeyRecord:
        """The active key's companion key (and so its plan) becomes ``usage_key``; returns the record
        as it was (its previous companion key, if any, is the caller's to delete). Raises
        ``KeyNotActive`` when the key is revoked or expired, also if that happened meanwhile."""
        record = self.find_by_key_id(key_id)
        if not record.is_usable():
            raise KeyNotActive(key_id, "expired" if record.status == ACTIVE else record.status)
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={schema.KEY_HASH_ATTRIBUTE: {"S": record.key_hash}},
                UpdateExpression="SET #p = :p, usage_key_id = :i, usage_key_value = :v",
                ConditionExpression="#s = :active",
                ExpressionAttributeNames={"#p": "plan", "#s": "status"},
                ExpressionAttributeValues={
                    ":p": {"S": usage_key.plan},
                    ":i": {"S": usage_key.key_id},
                    ":v": {"S": usage_key.value},
                    ":active": {"S": ACTIVE},
                },
            )
        except Exception as error:
            if (
                getattr(error, "response", {}).get("Error", {}).get("Code")
                == "ConditionalCheckFailedException"
            ):
                raise KeyNotActive(key_id, "revoked") from None
            raise
        return record

    def scan(self) -> Iterator[KeyRecord | UnreadableItem]:
        """Every item: its record, or an :class:`UnreadableItem` (one bad item spoils no listing)."""
        paginator = self._client.get_paginator("scan")
        for page in paginator.paginate(TableName=self.table_name):
            for item in page.get("Items", []):
                yield read_item(item)
