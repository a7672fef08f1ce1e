"""Revoking a key: mark it revoked in the table, then delete its L2 entry.

``hokusai keys revoke`` deletes the entry itself when it can reach Redis (``REDIS_URL``); in a
deployment it cannot (Redis is in the VPC), so the keys table's DynamoDB stream does it: every change
that makes a cached entry stale (the key revoked or otherwise not active, removed, or a cached field
changed) reaches ``functions/revocation`` (in the VPC, the functions security group), which deletes
``auth_entry_key(digest, prefix)`` with :class:`StaleEntryPurger`; a Redis failure fails that record,
and Lambda retries it until Redis answers (partial batch response). This is the fast path: whether or
not the delete happens, no authorizer trusts a cached allow longer than ``AUTH_REVOCATION_BOUND_SECONDS``
after its keys-table read (``hokusai.auth.chain``), so the key is refused within the bound anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hokusai.cache.redis_cache import DEFAULT_KEY_PREFIX, CacheOutcome, RedisCache, auth_entry_key
from hokusai.config import RedisSettings
from hokusai.keys.schema import KEY_HASH_ATTRIBUTE, KEY_ID_ATTRIBUTE
from hokusai.keys.store import KeyRecord, KeyStore


@dataclass(frozen=True)
class Revocation:
    record: KeyRecord
    redis_entry_deleted: bool
    message: str


def revoke_key(
    store: KeyStore, key_id: str, redis: RedisSettings | None, redis_password: str | None = None
) -> Revocation:
    """Raises KeyNotFound for an unknown key_id; a Redis failure only shows in the message."""
    record = store.revoke(key_id)
    if redis is None or not redis.url:
        return Revocation(
            record,
            False,
            "REDIS_URL not set: the keys table's stream deletes the Redis entry (functions/revocation)",
        )
    result = RedisCache.from_settings(redis, redis_password).delete(
        auth_entry_key(record.key_hash, redis.key_prefix)
    )
    if result.outcome is CacheOutcome.DELETED:
        return Revocation(record, True, "Redis entry deleted")
    return Revocation(
        record,
        False,
        f"Redis entry NOT deleted here ({result.error}); the keys table's stream deletes it "
        "(functions/revocation)",
    )


# --------------------------------------------------------------------------------------------------
# The keys table's stream (NEW_AND_OLD_IMAGES) -> the stale Redis entries
# --------------------------------------------------------------------------------------------------

# The item's attributes the authorizer's cached entry is made of (KeyRecord.to_cache): a change to any
# of them makes the entry stale (a narrowed scope must not wait for the L2 TTL either).
# What the authorizer caches of a key (KeyRecord.to_cache): a change to any of them makes the entry
# stale. usage_key_value is the usageIdentifierKey API Gateway applies the plan by (`keys set-plan`).
CACHED_ATTRIBUTES = ("status", "models", "user_id", "expires_at", KEY_ID_ATTRIBUTE, "plan", "usage_key_value")


class RedisEntryNotDeleted(Exception):
    """A stale entry could not be deleted (Redis error, breaker open): the record is retried.

    The message names the digest's first 8 characters and the error class, never a key."""


@dataclass(frozen=True)
class StaleEntry:
    digest: str
    key_id: str | None  # the public identifier, for logs
    reason: str  # "removed" | "not active" | "changed"

    @property
    def digest_prefix(self) -> str:
        return self.digest[:8]


def _string(image: Mapping[str, Any] | None, attribute: str) -> str | None:
    value = (image or {}).get(attribute)
    return value.get("S") if isinstance(value, Mapping) else None


def stale_entry(record: Mapping[str, Any]) -> StaleEntry | None:
    """The cached entry a stream record (the Lambda event's shape) makes stale, or None.

    REMOVE: the item is gone. MODIFY: the new image is not ``active``, or one of
    :data:`CACHED_ATTRIBUTES` changed (or the view carries no images: then stale, to be safe).
    INSERT: nothing cached can be stale (a new key's digest was never seen). A record without a
    ``key_hash`` is not about a key: None.
    """
    change = record.get("dynamodb") or {}
    digest = _string(change.get("Keys"), KEY_HASH_ATTRIBUTE)
    if not digest:
        return None
    new, old = change.get("NewImage"), change.get("OldImage")
    key_id = _string(new, KEY_ID_ATTRIBUTE) or _string(old, KEY_ID_ATTRIBUTE)
    event = record.get("eventName")
    if event == "REMOVE":
        return StaleEntry(digest, key_id, "removed")
    if event != "MODIFY":
        return None
    if new is None or old is None:
        return StaleEntry(digest, key_id, "changed")
    if _string(new, "status") != "active":
        return StaleEntry(digest, key_id, "not active")
    if any(old.get(attribute) != new.get(attribute) for attribute in CACHED_ATTRIBUTES):
        return StaleEntry(digest, key_id, "changed")
    return None


class StaleEntryPurger:
    """Deletes the Redis entries stream records make stale, one record at a time.

    ``cache`` None: no Redis configured, so nothing is cached and nothing needs deleting.
    ``log(message, **fields)`` is told what was deleted: key_id and digest prefix, never the key.
    """

    def __init__(
        self,
        cache: RedisCache | None,
        prefix: str = DEFAULT_KEY_PREFIX,
        log: Callable[..., None] | None = None,
    ) -> None:
        self.cache = cache
        self.prefix = prefix
        self._log = log or (lambda _message, **_fields: None)

    def handle(self, record: Mapping[str, Any]) -> StaleEntry | None:
        """The entry deleted (None: the record makes nothing stale). Raises
        :class:`RedisEntryNotDeleted` when Redis did not confirm the delete."""
        stale = stale_entry(record)
        if stale is None or self.cache is None:
            return stale
        result = self.cache.delete(auth_entry_key(stale.digest, self.prefix))
        if result.outcome is not CacheOutcome.DELETED:
            raise RedisEntryNotDeleted(
                f"Redis entry of digest {stale.digest_prefix}... not deleted "
                f"({result.outcome.value}: {result.error or 'breaker open'})"
            )
        self._log(
            "Stale auth entry deleted",
            key_id=stale.key_id,
            digest_prefix=stale.digest_prefix,
            reason=stale.reason,
        )
        return stale
