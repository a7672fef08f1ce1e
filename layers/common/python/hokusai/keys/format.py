"""API key format, generation and hashing.

A key is ``hk_`` followed by at least 32 characters of the url-safe base64 alphabet. The format is
checked before any I/O, so garbage costs a regular-expression match and never reaches a cache or
the keys table. Keys are only ever kept as their SHA-256 hex digest.
"""

from __future__ import annotations

import hashlib
import re
import secrets

KEY_PREFIX = "hk_"
MIN_KEY_BODY_CHARS = 32
MAX_KEY_CHARS = 256  # far above any generated key; bounds the work done on hostile input
_KEY_PATTERN = re.compile(r"hk_[A-Za-z0-9_\-]{32,253}")


def generate_key() -> str:
    """A new API key: 32 random bytes, url-safe (43 characters after the prefix)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def is_well_formed(candidate: object) -> bool:
    return (
        isinstance(candidate, str)
        and len(candidate) <= MAX_KEY_CHARS
        and bool(_KEY_PATTERN.fullmatch(candidate))
    )


def key_digest(api_key: str) -> str:
    """SHA-256 hex digest: the keys table's partition key and the cache key."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def new_key_id() -> str:
    """The public identifier of a key (safe to log and show)."""
    return "key_" + secrets.token_hex(8)


def short_digest(digest: str) -> str:
    """What list/show print instead of a full digest."""
    return digest[:8] + "…"
