"""The predict request body as API Gateway hands it over, checked before anything parses it.

A client's mistake gets a 4xx whose detail says what to send, never a parser's exception (a 5xx):

| what the client sent | answer |
|---|---|
| a body larger than ``MAX_BODY_BYTES`` (after base64 decoding) | 413 |
| ``Content-Encoding`` other than ``identity`` (e.g. gzip): bodies are not decompressed | 415 |
| ``Content-Type`` that is not JSON (``text/plain``, form-encoded as ``curl -d`` sends, octet-stream) | 415 |
| ``Content-Type`` JSON with a charset other than utf-8 | 415 |
| bytes that are not UTF-8 (Latin-1, UTF-16) | 400 |
| no body; not JSON; NaN/Infinity | 400 |
| JSON nested deeper than :data:`MAX_JSON_DEPTH` | 400 |
| an integer longer than :data:`MAX_INT_DIGITS` digits | 400 |

Media types are parsed as HTTP defines them (RFC 9110 section 8.3): type and subtype are
case-insensitive, parameters follow ``;``; ``application/json`` and any ``application/<x>+json`` are
JSON. No Content-Type counts as JSON, as it does for API Gateway's request validator.

Standard library only (the predict handler runs it before pydantic sees the body).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_JSON_DEPTH = 32  # a batch of leads is 3 deep: {"inputs": [{...}]}
MAX_INT_DIGITS = 32  # the largest integer feature has 8 digits
JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"  # noqa: S105 (RFC 9110 token characters, not a secret)
_MEDIA_TYPE = re.compile(rf"\s*({_TOKEN})/({_TOKEN})\s*(.*)", re.DOTALL)
_PARAMETER = re.compile(rf'\s*;\s*(?:({_TOKEN})=({_TOKEN}|"(?:[^"\\]|\\.)*"))?\s*', re.DOTALL)
_SEND_JSON = "send the body as JSON with Content-Type: application/json"


class BodyError(ValueError):
    """The body cannot be served as sent: ``status`` (4xx) and a ``detail`` saying what to send."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class MediaType:
    type: str  # lower case
    subtype: str  # lower case
    parameters: dict[str, str]  # names lower case, values unquoted

    @property
    def essence(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def is_json(self) -> bool:
        return self.type == "application" and (self.subtype == "json" or self.subtype.endswith("+json"))


def parse_media_type(value: str) -> MediaType | None:
    """``type/subtype *( ; name=value )`` (RFC 9110), or None when ``value`` is not one."""
    found = _MEDIA_TYPE.fullmatch(value)
    if found is None:
        return None
    parameters: dict[str, str] = {}
    rest = found.group(3)
    position = 0
    while position < len(rest):
        parameter = _PARAMETER.match(rest, position)
        if parameter is None or parameter.end() == position:
            return None
        name, raw = parameter.group(1), parameter.group(2)
        if name is not None:
            unquoted = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
            parameters.setdefault(name.lower(), unquoted)
        position = parameter.end()
    return MediaType(found.group(1).lower(), found.group(2).lower(), parameters)


def _header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if str(key).lower() == wanted:
            return None if value is None else str(value)
    return None


def _shown(value: str) -> str:
    """A header value as the detail quotes it: bounded, printable."""
    return repr(value[:80] + ("..." if len(value) > 80 else ""))


def check_encoding(headers: Mapping[str, Any] | None) -> None:
    encoding = _header(headers, "Content-Encoding")
    if encoding is None:
        return
    codings = [part.strip().lower() for part in encoding.split(",")]
    if any(coding not in ("", "identity") for coding in codings):
        raise BodyError(
            415,
            f"Content-Encoding {_shown(encoding)} is not supported: send the JSON body uncompressed "
            "(no Content-Encoding header)",
        )


def check_media_type(headers: Mapping[str, Any] | None) -> None:
    value = _header(headers, "Content-Type")
    if value is None:
        return  # no Content-Type counts as JSON (API Gateway's request validator does the same)
    media = parse_media_type(value)
    if media is None:
        raise BodyError(415, f"Content-Type {_shown(value)} is not a media type: {_SEND_JSON}")
    if not media.is_json:
        hint = (
            " (what curl -d sends; add -H 'Content-Type: application/json')"
            if media.essence == FORM_MEDIA_TYPE
            else ""
        )
        raise BodyError(415, f"Content-Type {media.essence} is not supported{hint}: {_SEND_JSON}")
    charset = media.parameters.get("charset")
    if charset is not None and charset.lower() != "utf-8":
        raise BodyError(
            415,
            f"charset {_shown(charset)} is not supported: send the body as UTF-8 "
            "(charset=utf-8 or no charset)",
        )


def raw_bytes(body: str | None, is_base64: bool) -> bytes:
    """The bytes the client sent: API Gateway base64-encodes a body it treats as binary."""
    if not body:
        return b""
    if is_base64:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BodyError(400, "Request body is marked base64-encoded but is not base64") from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the gateway could not decode the bytes as UTF-8
        raise BodyError(400, "Request body is not valid UTF-8: send the JSON encoded as UTF-8") from None


def decode_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BodyError(
            400,
            f"Request body is not valid UTF-8 (byte {error.start} is 0x{raw[error.start]:02x}; Latin-1 "
            "and UTF-16 are not accepted): send the JSON encoded as UTF-8",
        ) from None
    if "\x00" in text:  # JSON never holds a raw NUL; UTF-16 text of ASCII characters is half NULs
        raise BodyError(
            400,
            "Request body holds NUL bytes (UTF-16?), it is not UTF-8 JSON: send the JSON encoded as UTF-8",
        )
    return text.removeprefix("\ufeff")  # a UTF-8 byte order mark may be ignored (RFC 8259 section 8.1)


class _TooManyDigits(ValueError):
    pass


class _NotFinite(ValueError):
    pass


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise _TooManyDigits(digits)
    return int(text)


def _no_constants(text: str) -> Any:
    raise _NotFinite(text)


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_JSON_DEPTH:
            return level
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


_TOO_DEEP = f"Request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"


def parse_json(text: str) -> Any:
    """``text`` as JSON within the limits above (a BodyError otherwise)."""
    if not text.strip():
        raise BodyError(400, 'Request body is empty: send {"inputs": {...}} as JSON')
    try:
        value = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constants)
    except RecursionError:
        raise BodyError(400, _TOO_DEEP) from None
    except _TooManyDigits as error:
        raise BodyError(
            400,
            f"Request body holds an integer of {error.args[0]} digits; integers may have at most "
            f"{MAX_INT_DIGITS} digits",
        ) from None
    except _NotFinite as error:
        raise BodyError(
            400,
            f"Request body is not valid JSON: {error.args[0]} is not a JSON number (send a finite number)",
        ) from None
    except json.JSONDecodeError as error:
        raise BodyError(
            400, f"Request body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise BodyError(400, _TOO_DEEP)
    return value


def checked_text(headers: Mapping[str, Any] | None, body: str | None, is_base64: bool, max_bytes: int) -> str:
    """The body as UTF-8 JSON text, safe to parse with ``json.loads``, or a :class:`BodyError`."""
    raw = raw_bytes(body, is_base64)
    if len(raw) > max_bytes:
        raise BodyError(413, f"Request body larger than {max_bytes} bytes")
    check_encoding(headers)
    check_media_type(headers)
    text = decode_text(raw)
    parse_json(text)
    return text
