"""A compiled yes/no check for the JSON-schema subset event payloads use, for the publish hot path.

jsonschema walks a schema on every call (~50-120 us for a four-field event on the CI machine),
more than the rest of a confirmed publish. Most payload schemas use a small subset: `type`,
`required`, `properties`, `additionalProperties`, `items`, string enums, lengths, bounds,
`pattern`, `format` and local `$ref`s. `compile_check` turns such a schema into nested closures
once; anything outside the subset returns None and the caller keeps using jsonschema.

The check only ever answers "valid" or "not sure": `PayloadValidator` asks jsonschema for the
problems whenever it says no, and jsonschema stays the judge of what is valid. Formats are
checked by the same `FormatChecker` jsonschema uses, so both agree on `uuid`, `email`, ...
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._paths import resolve

Check = Callable[[object], bool]

# Keywords that never change validity (annotations) and those this module implements.
_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "default", "$comment", "deprecated", "readOnly",
     "writeOnly", "$id", "$schema"},
)  # fmt: skip
_SUPPORTED = frozenset(
    {"type", "required", "properties", "additionalProperties", "items", "enum", "const",
     "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
     "pattern", "format", "minItems", "maxItems"},
)  # fmt: skip
_MAX_DEPTH = 32


class _Unsupported(Exception):  # noqa: N818  (an internal signal, never raised to callers)
    """The schema uses something this module does not compile."""


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
    try:
        return _compile(schema, document, conforms, 0)
    except _Unsupported:
        return None


def _compile(  # noqa: C901, PLR0912  (one branch per keyword reads better than a table of lambdas)
    schema: object,
    document: Mapping[str, Any],
    conforms: Callable[[object, str], bool],
    depth: int,
) -> Check:
    if depth > _MAX_DEPTH:
        raise _Unsupported  # a recursive schema
    if schema is True:
        return _always
    if schema is False or not isinstance(schema, Mapping):
        raise _Unsupported
    if "$ref" in schema:  # draft 7: a $ref's siblings are ignored
        ref = schema["$ref"]
        target = resolve(document, ref) if isinstance(ref, str) else None
        if target is None:
            raise _Unsupported
        return _compile(target, document, conforms, depth + 1)
    unknown = schema.keys() - _SUPPORTED - _ANNOTATIONS
    if any(not key.startswith("x-") for key in unknown):
        raise _Unsupported
    checks: list[Check] = []
    if "type" in schema:
        checks.append(_type_check(schema["type"]))
    if "enum" in schema or "const" in schema:
        allowed = schema["enum"] if "enum" in schema else [schema["const"]]
        if not (isinstance(allowed, list) and all(isinstance(v, str) for v in allowed)):
            raise _Unsupported  # jsonschema's equality of numbers and booleans is subtle
        values = frozenset(allowed)
        checks.append(lambda v: isinstance(v, str) and v in values)
    checks += _string_checks(schema, conforms)
    checks += _number_checks(schema)
    if {"properties", "required", "additionalProperties"} & schema.keys():
        checks.append(_object_check(schema, document, conforms, depth))
    if {"items", "minItems", "maxItems"} & schema.keys():
        checks.append(_array_check(schema, document, conforms, depth))
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _always(_: object) -> bool:
    return True


def _type_check(declared: object) -> Check:
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list) or not names:
        raise _Unsupported
    tests = [_TYPES.get(name) for name in names] if all(isinstance(n, str) for n in names) else []
    if not tests or any(test is None for test in tests):
        raise _Unsupported
    if len(tests) == 1:
        return tests[0]  # type: ignore[return-value]  # checked not None above
    return lambda value: any(test(value) for test in tests)  # type: ignore[misc]


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _string_checks(
    schema: Mapping[str, Any], conforms: Callable[[object, str], bool]
) -> list[Check]:
    checks: list[Check] = []
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None or high is not None:
        lo = low or 0
        hi = high if high is not None else float("inf")
        checks.append(lambda v: not isinstance(v, str) or lo <= len(v) <= hi)
    if "pattern" in schema:
        try:
            regex = re.compile(schema["pattern"])
        except (re.error, TypeError) as exc:
            raise _Unsupported from exc  # the contract check reports it (MQ-2)
        checks.append(lambda v: not isinstance(v, str) or regex.search(v) is not None)
    if "format" in schema:
        name = schema["format"]
        checks.append(lambda v: conforms(v, name))
    return checks


def _number_checks(schema: Mapping[str, Any]) -> list[Check]:
    bounds = {
        "minimum": operator.ge,
        "maximum": operator.le,
        "exclusiveMinimum": operator.gt,
        "exclusiveMaximum": operator.lt,
    }
    checks: list[Check] = []
    for keyword, compare in bounds.items():
        bound = schema.get(keyword)
        if bound is None:
            continue
        if not _is_number(bound):
            raise _Unsupported
        checks.append(_bounded(compare, bound))
    return checks


def _bounded(compare: Callable[[Any, Any], bool], bound: float) -> Check:
    return lambda value: not _is_number(value) or compare(value, bound)


def _object_check(
    schema: Mapping[str, Any],
    document: Mapping[str, Any],
    conforms: Callable[[object, str], bool],
    depth: int,
) -> Check:
    required = tuple(schema.get("required", ()))
    properties = {
        name: _compile(sub, document, conforms, depth + 1)
        for name, sub in schema.get("properties", {}).items()
    }
    extra = schema.get("additionalProperties", True)
    extra_check = (
        None if isinstance(extra, bool) else _compile(extra, document, conforms, depth + 1)
    )
    forbid_extra = extra is False

    def check(value: object) -> bool:
        if not isinstance(value, dict):
            return True
        if any(name not in value for name in required):
            return False
        for key, item in value.items():
            sub = properties.get(key)
            if sub is not None:
                if not sub(item):
                    return False
            elif forbid_extra or (extra_check is not None and not extra_check(item)):
                return False
        return True

    return check


def _array_check(
    schema: Mapping[str, Any],
    document: Mapping[str, Any],
    conforms: Callable[[object, str], bool],
    depth: int,
) -> Check:
    items = schema.get("items", True)
    if isinstance(items, list):
        raise _Unsupported  # tuple validation
    each = _compile(items, document, conforms, depth + 1)
    low, high = schema.get("minItems", 0), schema.get("maxItems", float("inf"))

    def check(value: object) -> bool:
        if not isinstance(value, list):
            return True
        return low <= len(value) <= high and all(each(item) for item in value)

    return check
