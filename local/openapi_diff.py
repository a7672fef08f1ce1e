"""Breaking changes between two OpenAPI documents: what a client of the first could rely on that the
second no longer promises (docs/api.md, "What may change within /v1").

Breaking: a route (path + method) removed; a status removed from a route; a declared response header
removed; a field (an object's property) removed, from a request or an answer; an enum value removed;
an alternative of ``anyOf``/``oneOf`` removed; a field, parameter or request body that becomes
required. Additions (routes, statuses, optional fields, enum values, headers) are not breaking: a
client of /v1 must ignore what it does not know. Each document resolves its own ``$ref``s.

Used by tests/unit/test_openapi_breaking.py to hold the served document to the committed
docs/openapi.json: a breaking change fails unless docs/openapi.json changes in the same commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass
class _Walk:
    old_doc: dict[str, Any]
    new_doc: dict[str, Any]
    found: list[str] = field(default_factory=list)
    seen: set[tuple[str, str, bool]] = field(default_factory=set)

    def resolve(self, doc: dict[str, Any], schema: Any) -> tuple[Any, str]:
        """The schema behind any chain of ``$ref``s, and the last reference's name ('' when none)."""
        name = ""
        while isinstance(schema, dict) and "$ref" in schema:
            name = str(schema["$ref"])
            target: Any = doc
            for part in name.removeprefix("#/").split("/"):
                target = target[part]
            schema = target
        return schema, name

    def schema(self, where: str, old: Any, new: Any, request: bool) -> None:
        old, old_name = self.resolve(self.old_doc, old)
        new, new_name = self.resolve(self.new_doc, new)
        if not isinstance(old, dict) or not isinstance(new, dict):
            return
        if old_name and new_name:  # a component is compared once per direction (and cycles end)
            if (old_name, new_name, request) in self.seen:
                return
            self.seen.add((old_name, new_name, request))
        self._properties(where, old, new, request)
        old_values: list[Any] = old.get("enum", [])
        new_values: list[Any] = new.get("enum", old_values)  # no enum any more: every value is taken
        removed_values = [value for value in old_values if value not in new_values]
        if removed_values:
            self.found.append(f"{where}: enum value(s) removed: {removed_values}")
        for keyword in ("items", "additionalProperties"):
            if isinstance(old.get(keyword), dict) and isinstance(new.get(keyword), dict):
                self.schema(f"{where}[{keyword}]", old[keyword], new[keyword], request)
        for keyword in ("anyOf", "oneOf", "allOf"):
            if keyword in old:
                self._alternatives(where, keyword, old[keyword], new.get(keyword, [new]), request)

    def _properties(self, where: str, old: dict[str, Any], new: dict[str, Any], request: bool) -> None:
        old_properties, new_properties = old.get("properties", {}), new.get("properties", {})
        for name, sub in old_properties.items():
            if name not in new_properties:
                self.found.append(f"{where}: field {name!r} removed")
            else:
                self.schema(f"{where}.{name}", sub, new_properties[name], request)
        if request:
            added = sorted(set(new.get("required", [])) - set(old.get("required", [])))
            if added:
                self.found.append(f"{where}: field(s) newly required: {added}")

    def _alternatives(self, where: str, keyword: str, old: list[Any], new: list[Any], request: bool) -> None:
        def label(doc: dict[str, Any], option: Any) -> str:
            resolved, name = self.resolve(doc, option)
            if name:
                return name.rsplit("/", 1)[-1]
            return str(resolved.get("type", "?")) if isinstance(resolved, dict) else "?"

        new_by_label = {label(self.new_doc, option): option for option in new}
        for option in old:
            name = label(self.old_doc, option)
            if name not in new_by_label:
                self.found.append(f"{where}: {keyword} alternative {name!r} removed")
            else:
                self.schema(f"{where}<{name}>", option, new_by_label[name], request)


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in doc.get("paths", {}).items()
        for method, operation in item.items()
        if method in METHODS
    }


def _parameters(walk: _Walk, route: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    def by_key(doc: dict[str, Any], operation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        resolved = [walk.resolve(doc, parameter)[0] for parameter in operation.get("parameters", [])]
        return {(str(p.get("in")), str(p.get("name")).lower()): p for p in resolved}

    old_parameters = by_key(walk.old_doc, old)
    for key, parameter in by_key(walk.new_doc, new).items():
        was = old_parameters.get(key, {})
        if parameter.get("required") and not was.get("required"):
            walk.found.append(f"{route}: {key[0]} parameter {key[1]!r} newly required")
        if was:
            walk.schema(
                f"{route} {key[0]} parameter {key[1]!r}", was.get("schema"), parameter.get("schema"), True
            )
    old_body = walk.resolve(walk.old_doc, old.get("requestBody", {}))[0]
    new_body = walk.resolve(walk.new_doc, new.get("requestBody", {}))[0]
    if new_body.get("required") and not old_body.get("required"):
        walk.found.append(f"{route}: request body newly required")
    for media, content in old_body.get("content", {}).items():
        if media not in new_body.get("content", {}):
            walk.found.append(f"{route}: request body {media} no longer accepted")
        else:
            walk.schema(
                f"{route} request", content.get("schema"), new_body["content"][media].get("schema"), True
            )


def _responses(walk: _Walk, route: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    new_responses = new.get("responses", {})
    for status, old_response in old.get("responses", {}).items():
        if status not in new_responses:
            walk.found.append(f"{route}: status {status} removed")
            continue
        was = walk.resolve(walk.old_doc, old_response)[0]
        now = walk.resolve(walk.new_doc, new_responses[status])[0]
        now_headers = {name.lower() for name in now.get("headers", {})}
        for header in was.get("headers", {}):
            if header.lower() not in now_headers:
                walk.found.append(f"{route} {status}: header {header} removed")
        for media, content in was.get("content", {}).items():
            if media not in now.get("content", {}):
                walk.found.append(f"{route} {status}: {media} answer removed")
            else:
                new_schema = now["content"][media].get("schema")
                walk.schema(f"{route} {status}", content.get("schema"), new_schema, False)


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What ``new`` breaks of ``old``'s promises, one line each (empty: nothing)."""
    walk = _Walk(old, new)
    new_operations = _operations(new)
    for (method, path), operation in _operations(old).items():
        route = f"{method} {path}"
        if (method, path) not in new_operations:
            walk.found.append(f"{route}: route removed")
            continue
        _parameters(walk, route, operation, new_operations[(method, path)])
        _responses(walk, route, operation, new_operations[(method, path)])
    return list(dict.fromkeys(walk.found))
