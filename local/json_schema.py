"""JSON Schema draft-04 validation for the API Gateway emulator: the request validator's job.

Only the keywords in :data:`KEYWORDS` (what ``hokusai.api_contract``'s models use, and a few of their
neighbours); a schema with any other keyword raises :class:`UnsupportedKeyword` instead of passing
bodies API Gateway would refuse. No dependency: ``jsonschema`` is only in the venv through moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

# Annotations: they never reject anything.
ANNOTATIONS = frozenset({"$schema", "title", "description"})
KEYWORDS = frozenset(
    {
        "type",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "oneOf",
        "anyOf",
    }
)

_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    # JSON true is not the number 1; 1.0 is a number, not an integer (as Jackson parses it).
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, int | float) and not isinstance(value, bool),
}


class UnsupportedKeyword(ValueError):
    """The schema uses a keyword this validator does not implement."""


class InvalidJson(ValueError):
    pass


def parse(body: bytes) -> Any:
    """The body as API Gateway's JSON parser reads it: UTF-8, strict (no NaN/Infinity), not empty."""

    def refuse(constant: str) -> Any:
        raise InvalidJson(f"{constant} is not JSON")

    try:
        return json.loads(body.decode("utf-8"), parse_constant=refuse)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidJson(str(error)) from None
    except RecursionError:  # nested past the interpreter's limit (~1,000; Jackson's default is 1,000 too)
        raise InvalidJson("nested too deeply") from None


def check(schema: Mapping[str, Any], where: str = "/") -> None:
    """Raise :class:`UnsupportedKeyword` if the schema, or any schema in it, uses another keyword."""
    unknown = set(schema) - KEYWORDS - ANNOTATIONS
    if unknown:
        raise UnsupportedKeyword(f"schema keyword(s) {sorted(unknown)} at {where}")
    for name, subschema in schema.get("properties", {}).items():
        check(subschema, f"{where.rstrip('/')}/properties/{name}")
    for keyword in ("items", "additionalProperties"):
        if isinstance(schema.get(keyword), Mapping):
            check(schema[keyword], f"{where.rstrip('/')}/{keyword}")
    for keyword in ("oneOf", "anyOf"):
        for index, subschema in enumerate(schema.get(keyword, [])):
            check(subschema, f"{where.rstrip('/')}/{keyword}/{index}")


def validate(instance: Any, schema: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``instance`` against ``schema`` (draft-04 semantics); empty when valid."""
    check(schema)
    return _errors(instance, schema, "")


def _errors(instance: Any, schema: Mapping[str, Any], where: str) -> list[str]:
    found: list[str] = []
    here = where or "/"
    if "type" in schema:
        allowed = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_TYPES[name](instance) for name in allowed):
            found.append(f"{here}: instance type does not match any allowed type {allowed}")
            return found  # as validators do: the other keywords would only repeat it
    if isinstance(instance, dict):
        found += _object_errors(instance, schema, where)
    if isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            found.append(f"{here}: array has {len(instance)} items, fewer than {schema['minItems']}")
        if "maxItems" in schema and len(instance) > schema["maxItems"]:
            found.append(f"{here}: array has {len(instance)} items, more than {schema['maxItems']}")
        if "items" in schema:
            for index, item in enumerate(instance):
                found += _errors(item, schema["items"], f"{where}/{index}")
    if "anyOf" in schema and not any(not _errors(instance, option, where) for option in schema["anyOf"]):
        found.append(f"{here}: instance matches none of anyOf")
    if "oneOf" in schema:
        matching = sum(1 for option in schema["oneOf"] if not _errors(instance, option, where))
        if matching != 1:
            found.append(f"{here}: instance matches {matching} of oneOf, not exactly one")
    return found


def _object_errors(instance: dict[str, Any], schema: Mapping[str, Any], where: str) -> list[str]:
    found = [
        f"{where or '/'}: object has missing required property {name!r}"
        for name in schema.get("required", [])
        if name not in instance
    ]
    properties = schema.get("properties", {})
    for name, value in instance.items():
        if name in properties:
            found += _errors(value, properties[name], f"{where}/{name}")
            continue
        extra = schema.get("additionalProperties", True)
        if extra is False:
            found.append(f"{where or '/'}: property {name!r} is not allowed")
        elif isinstance(extra, Mapping):
            found += _errors(value, extra, f"{where}/{name}")
    return found
