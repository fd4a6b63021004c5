"""A compiled yes/no check of a payload schema, for the publish and consume hot paths (MQ-2).

jsonschema walks a schema on every call (~50 us for a four-field event), more than the rest of
a confirmed publish. fastjsonschema compiles a schema into Python code once; `compile_check`
hands it the payload schemas that stay within the subset whose meaning both libraries share
(`type`, `required`, `properties`, `additionalProperties`, `items`, string enums, lengths,
bounds, `pattern`, `format` and local `$ref`s, inlined here; property-tested against jsonschema
in tests/unit/test_messaging_fastcheck.py). Anything outside it returns None and the caller
keeps using jsonschema alone. It replaced a hand-written compiler of the same subset, which
was no faster at the service level (issue 19, `bench/fastpaths_bench.py`).

The check only ever answers "valid" or "not sure": `PayloadValidator` asks jsonschema for the
problems whenever it says no, and jsonschema stays the judge of what is valid. Formats are
checked by the same `FormatChecker` jsonschema uses, so both agree on `uuid`, `email`, ...;
fastjsonschema never fills in defaults here (`default` is dropped, `use_default=False`): the
check must not change the payload it looks at.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

import fastjsonschema

from ._paths import resolve

Check = Callable[[object], bool]

# Keywords that never change validity (annotations) and those both libraries read alike.
_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "$comment", "deprecated", "readOnly",
     "writeOnly", "$id", "$schema"},
)  # fmt: skip
_SUPPORTED = frozenset(
    {"type", "required", "properties", "additionalProperties", "items", "enum", "const",
     "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
     "pattern", "format", "minItems", "maxItems"},
)  # fmt: skip
_SUBSCHEMAS = frozenset({"additionalProperties", "items"})
_MAX_DEPTH = 32


class _Unsupported(Exception):  # noqa: N818  (an internal signal, never raised to callers)
    """The schema uses something outside the subset."""


def compile_check(
    schema: object,
    document: Mapping[str, Any],
    conforms: Callable[[object, str], bool],
) -> Check | None:
    """Compile `schema` (refs resolved in `document`) into a check, or None if unsupported.

    Args:
        schema: a draft-7 JSON schema (a mapping, or a boolean schema).
        document: the contract, where local `$ref`s point.
        conforms: `FormatChecker.conforms`, so formats mean what they mean to jsonschema.
    """
    formats: set[str] = set()
    try:
        inlined = _inline(schema, document, formats, 0)
        validate = fastjsonschema.compile(
            inlined,
            formats={name: functools.partial(_conforms, conforms, name) for name in formats},
            use_default=False,
            detailed_exceptions=False,
        )
    except (_Unsupported, fastjsonschema.JsonSchemaDefinitionException, re.error):
        return None

    def check(payload: object) -> bool:
        try:
            validate(payload)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True

    return check


def _conforms(conforms: Callable[[object, str], bool], name: str, value: object) -> bool:
    return conforms(value, name)


def _inline(
    schema: object,
    document: Mapping[str, Any],
    formats: set[str],
    depth: int,
) -> dict[str, Any] | bool:
    """Return `schema` with its local `$ref`s inlined and annotations dropped, if in the subset."""
    if depth > _MAX_DEPTH:
        raise _Unsupported  # a recursive schema
    if schema is True:
        return True
    if not isinstance(schema, Mapping):
        raise _Unsupported
    if "$ref" in schema:  # draft 7: a $ref's siblings are ignored
        ref = schema["$ref"]
        target = resolve(document, ref) if isinstance(ref, str) else None
        if target is None:
            raise _Unsupported
        return _inline(target, document, formats, depth + 1)
    return {
        key: _keyword(key, value, document, formats, depth)
        for key, value in schema.items()
        if key not in _ANNOTATIONS and not key.startswith("x-")
    }


def _keyword(
    key: str,
    value: object,
    document: Mapping[str, Any],
    formats: set[str],
    depth: int,
) -> object:
    """Return one keyword's value, its subschemas inlined; raise if outside the subset."""
    if key not in _SUPPORTED:
        raise _Unsupported
    if key in {"enum", "const"}:
        allowed = value if key == "enum" else [value]
        if not (isinstance(allowed, list) and all(isinstance(v, str) for v in allowed)):
            raise _Unsupported  # jsonschema's equality of numbers and booleans is subtle
    elif key == "format":
        if not isinstance(value, str):
            raise _Unsupported
        formats.add(value)
    elif key == "properties":
        if not isinstance(value, Mapping):
            raise _Unsupported
        return {name: _inline(sub, document, formats, depth + 1) for name, sub in value.items()}
    elif key in _SUBSCHEMAS and not isinstance(value, bool):
        return _inline(value, document, formats, depth + 1)  # a list of items: unsupported
    return value
