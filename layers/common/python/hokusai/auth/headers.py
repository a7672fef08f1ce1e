"""Where the key comes from: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hokusai.keys.format import MAX_KEY_CHARS, is_well_formed


def extract_key(headers: Mapping[str, Any] | None) -> str | None:
    """The well-formed key in the headers, or None (missing or malformed: both are 401).

    Header names are case-insensitive. ``Authorization`` wins over ``X-API-Key`` when both carry a
    well-formed key. Never raises, whatever the input.
    """
    if not isinstance(headers, Mapping):
        return None
    authorization: Any = None
    x_api_key: Any = None
    for name, value in headers.items():
        if not isinstance(name, str):
            continue
        lowered = name.lower()
        if lowered == "authorization":
            authorization = value
        elif lowered == "x-api-key":
            x_api_key = value
    if isinstance(authorization, str) and len(authorization) <= MAX_KEY_CHARS + 16:
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() == "bearer" and is_well_formed(credentials):
            return credentials
    if isinstance(x_api_key, str):
        candidate = x_api_key.strip()
        if is_well_formed(candidate):
            return candidate
    return None
