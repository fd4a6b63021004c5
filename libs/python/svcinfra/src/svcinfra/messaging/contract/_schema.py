"""Validation against the official AsyncAPI 3.0.0 JSON schema, vendored as package data (MQ-1)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from jsonschema import Draft7Validator

from svcinfra.messaging._errors import ContractProblem

from ._formats import ASYNCAPI_FORMATS
from ._paths import resolve

if TYPE_CHECKING:
    from collections.abc import Iterator

    from jsonschema.exceptions import ValidationError

SCHEMA_RESOURCE = "asyncapi-3.0.0.json"
ASYNCAPI_VERSION = "3.0.0"
_MESSAGE_LIMIT = 200


# Definitions whose `format`s the official parser does not check: it drops `uri-reference` from
# the Reference Object (a JSON pointer like `#/a/[0]` is no RFC 3986 URI) and replaces the
# vendored draft-07 meta-schema with ajv's own, which checks no formats inside payload schemas.
_UNCHECKED_FORMATS = (
    "http://asyncapi.com/definitions/3.0.0/ReferenceObject.json",
    "http://json-schema.org/draft-07/schema",
)


_DEFINITIONS = "http://asyncapi.com/definitions/3.0.0/"
_MAX_HOPS = 32


@cache
def asyncapi_validator(*, resolved: bool = False) -> Draft7Validator:
    """Return the validator of the vendored schema (`@asyncapi/specs` 6.11.1), built once.

    String formats (`email`, `uri`, ...) are checked as the official parser checks them. The
    `resolved` one validates a document whose `$ref`s were replaced by their targets: where the
    schema demands a Reference (an operation's channel and messages, a channel's servers) it
    demands the object referenced instead, as the official parser's `prepareV3ResolvedSchema`.
    """
    text = (files(__package__) / "schemas" / SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema = json.loads(text)
    definitions = schema["definitions"]
    for name in _UNCHECKED_FORMATS:
        _drop_formats(definitions[name])
    if resolved:
        channel = definitions[f"{_DEFINITIONS}channel.json"]["properties"]
        channel["servers"]["items"] = {"$ref": f"{_DEFINITIONS}server.json"}
        for name in ("operation.json", "operationReply.json"):
            properties = definitions[f"{_DEFINITIONS}{name}"]["properties"]
            properties["channel"] = {"$ref": f"{_DEFINITIONS}channel.json"}
            properties["messages"]["items"] = {"$ref": f"{_DEFINITIONS}messageObject.json"}
    return Draft7Validator(schema, format_checker=ASYNCAPI_FORMATS)


def resolved_problems(document: Mapping[str, Any]) -> list[ContractProblem]:
    """Return where `document`, its local `$ref`s replaced by their targets, breaks the schema.

    The official parser validates the document twice, as written and resolved; a `$ref` to the
    wrong kind of object (a payload pointing at a string, a channel at a message) only shows
    resolved. Problems are reported at the path of the `$ref` that brought the wrong object.
    Call it on a document whose references all resolve (`reference_problems` is empty).
    """
    view = _resolved(document, document, ())
    if not isinstance(view, Mapping):  # the root is a mapping the schema accepted
        return []
    return _problems(asyncapi_validator(resolved=True), view, skip_refs=True)


def _drop_formats(node: object) -> None:
    if isinstance(node, dict):
        if isinstance(node.get("format"), str):
            del node["format"]
        for value in node.values():
            _drop_formats(value)
    elif isinstance(node, list):
        for value in node:
            _drop_formats(value)


def schema_problems(document: Mapping[str, Any]) -> list[ContractProblem]:
    """Return every place where `document` breaks the official AsyncAPI 3.0.0 schema.

    The schema is full of `oneOf` (a Reference or an object; one AMQP binding shape or another),
    whose own message ("... is not valid under any of the given schemas") names no field. Each
    such error is replaced by the errors of the alternative that came closest, recursively, so
    every problem points at the field that is wrong.
    """
    if document.get("asyncapi") != ASYNCAPI_VERSION:
        found = document.get("asyncapi")
        return [
            ContractProblem(
                "$.asyncapi",
                f"must be {ASYNCAPI_VERSION!r} (the vendored schema's version), found {found!r}",
                "MQ-1",
            ),
        ]
    return _problems(asyncapi_validator(), document, skip_refs=False)


def _problems(
    validator: Draft7Validator, document: Mapping[str, Any], *, skip_refs: bool
) -> list[ContractProblem]:
    seen: set[tuple[str, str]] = set()
    problems = []
    for error in validator.iter_errors(document):
        for leaf in _leaves(error):
            if skip_refs and isinstance(leaf.instance, Mapping) and "$ref" in leaf.instance:
                continue  # a reference left in place (a cycle): checked as written
            key = (leaf.json_path, leaf.message)
            if key not in seen:
                seen.add(key)
                problems.append(ContractProblem(leaf.json_path, _short(leaf), "asyncapi"))
    return sorted(problems, key=lambda problem: problem.path)


def _resolved(
    document: Mapping[str, Any],
    node: object,
    following: tuple[str, ...],
) -> object:
    """`node` with every local `$ref` replaced by its target; a cycle's `$ref` stays as it is."""
    if isinstance(node, list):
        return [_resolved(document, item, following) for item in node]
    if not isinstance(node, Mapping):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and ref not in following and len(following) < _MAX_HOPS:
        target = resolve(document, ref)
        if target is not None:
            return _resolved(document, target, (*following, ref))
    return {key: _resolved(document, value, following) for key, value in node.items()}


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    if not error.context:
        yield error
        return
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    # The "it could also be a Reference" alternative only ever says `$ref` is missing.
    real = [b for b in branches.values() if not all(_is_missing_ref(sub) for sub in b)]
    if not real:
        yield error
        return
    closest = max(real, key=lambda b: (max(len(sub.absolute_path) for sub in b), -len(b)))
    for sub in closest:
        yield from _leaves(sub)


def _is_missing_ref(error: ValidationError) -> bool:
    return error.validator == "required" and "'$ref'" in error.message


def _short(error: ValidationError) -> str:
    """Return the error's message without echoing a whole sub-document back."""
    if error.validator in {"oneOf", "anyOf", "not"}:
        return "matches none of the shapes the AsyncAPI schema allows here"
    text: str = error.message
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 3] + "..."
