"""Revoking a key: mark it revoked in the table, then delete its L2 entry (best effort).

Used by ``hokusai keys revoke`` and by the local stack. After this, only warm containers' L1 caches
(``AUTH_L1_TTL_SECONDS``) can still accept the key.
"""

from __future__ import annotations

from dataclasses import dataclass

from hokusai.cache.redis_cache import CacheOutcome, RedisCache, auth_entry_key
from hokusai.config import RedisSettings
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
            record, False, "REDIS_URL not set: no Redis entry deleted (expires within the L2 TTL)"
        )
    result = RedisCache.from_settings(redis, redis_password).delete(
        auth_entry_key(record.key_hash, redis.key_prefix)
    )
    if result.outcome is CacheOutcome.DELETED:
        return Revocation(record, True, "Redis entry deleted")
    return Revocation(
        record, False, f"Redis entry NOT deleted ({result.error}); it expires within the L2 TTL"
    )
