"""The compiled payload check agrees with jsonschema, or steps aside (MQ-2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator, FormatChecker

from svcinfra.messaging.contract import load_contract
from svcinfra.messaging.contract._fastcheck import compile_check

GOOD = Path(__file__).parents[1] / "assets" / "asyncapi" / "good"
FORMATS = FormatChecker()
CONTRACT = load_contract(GOOD / "users.yaml")
DOCUMENT = dict(CONTRACT.document)

# A schema exercising every keyword the compiled check implements.
RICH: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "kind": {"enum": ["a", "b"]},
        "label": {"type": ["string", "null"], "minLength": 2, "maxLength": 5, "pattern": "^x"},
        "count": {"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
        "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "flag": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 2},
        "meta": {"type": "object", "additionalProperties": {"type": "integer"}},
        "ref": {"$ref": "#/components/schemas/UserDeletedV1Payload"},
    },
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=12),
    st.floats(min_value=-1, max_value=2, allow_nan=False),
    st.sampled_from(["a", "b", "x", "xy", "xyzabc", "ada@example.com", "2026-11-26T08:00:00Z",
                     "3b241101-e2bb-4255-8caf-4136c566a962", "3b241101e2bb42558caf4136c566a962"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b"]), inner),
    max_leaves=6,
)
random_payloads = st.deferred(lambda: st.dictionaries(keys, values, max_size=8) | values)
keys = st.sampled_from(
    ["id", "kind", "label", "count", "ratio", "flag", "tags", "meta", "ref", "user_id", "email",
     "registered_at", "display_name", "deleted_at", "other"],
)  # fmt: skip
UUID = "3b241101-e2bb-4255-8caf-4136c566a962"
WHEN = "2026-11-26T08:00:00Z"
# Valid payloads of every schema; mutating one field at a time probes the boundaries.
VALID: dict[str, Any] = {
    "id": UUID, "kind": "a", "label": "xy", "count": 3, "ratio": 0.5, "flag": True,
    "tags": ["t"], "meta": {"a": 1}, "ref": {"user_id": UUID, "deleted_at": WHEN},
    "user_id": UUID, "email": "ada@example.com", "registered_at": WHEN, "changed_at": WHEN,
    "deleted_at": WHEN, "display_name": "Ada",
}  # fmt: skip


def base_payload(name: str) -> dict[str, Any]:
    """A payload valid for schema `name` (the rich schema forbids other keys)."""
    if name == "rich":
        return {k: v for k, v in VALID.items() if k in RICH["properties"]}
    return {k: v for k, v in VALID.items() if k not in RICH["properties"]}


@st.composite
def near_valid(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """A valid payload with one field replaced, removed or added."""
    payload = dict(base)
    key = draw(keys)
    action = draw(st.sampled_from(["replace", "remove", "keep"]))
    if action == "replace":
        payload[key] = draw(values)
    elif action == "remove":
        payload.pop(key, None)
    return payload


def _schemas() -> list[tuple[str, Any]]:
    named = [(name, f"#/components/messages/{spec.component}/payload")
             for name, spec in CONTRACT.messages.items()]  # fmt: skip
    return [(name, {"$ref": ref}) for name, ref in named] + [("rich", RICH)]


@pytest.mark.parametrize(("name", "schema"), _schemas(), ids=[n for n, _ in _schemas()])
@settings(max_examples=300)
@given(data=st.data())
def test_the_compiled_check_agrees_with_jsonschema(
    name: str, schema: Any, data: st.DataObject
) -> None:
    """For any payload, the compiled check says valid exactly when jsonschema does."""
    payload = data.draw(near_valid(base_payload(name)) | random_payloads)
    check = compile_check(schema, DOCUMENT, FORMATS.conforms)
    validator = Draft7Validator(
        schema | {"components": DOCUMENT["components"]}, format_checker=FORMATS
    )

    assert check is not None, name
    assert check(payload) == validator.is_valid(payload)


@pytest.mark.parametrize(("name", "schema"), _schemas(), ids=[n for n, _ in _schemas()])
def test_the_valid_sample_is_valid_for_every_schema(name: str, schema: Any) -> None:
    """The property test's base payload is valid, so its mutations sit at the boundary."""
    check = compile_check(schema, DOCUMENT, FORMATS.conforms)
    assert check is not None
    assert check(base_payload(name)), name


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": "object", "patternProperties": {"^x": {"type": "string"}}},
        {"enum": [1, True]},
        {"type": "array", "items": [{"type": "string"}]},
        {"$ref": "#/nowhere"},
        {"type": "string", "multipleOf": 2},
    ],
    ids=["anyOf", "patternProperties", "numeric-enum", "tuple-items", "dangling-ref", "multipleOf"],
)
def test_schemas_outside_the_subset_are_left_to_jsonschema(schema: dict[str, Any]) -> None:
    """Anything the compiled check does not implement makes it step aside (None)."""
    assert compile_check(schema, DOCUMENT, FORMATS.conforms) is None


def test_a_recursive_schema_is_left_to_jsonschema() -> None:
    """A schema that references itself is not compiled (it would never finish)."""
    node = {"type": "object", "properties": {"next": {"$ref": "#/components/schemas/Node"}}}
    document = {"components": {"schemas": {"Node": node}}}

    assert compile_check({"$ref": "#/components/schemas/Node"}, document, FORMATS.conforms) is None


def test_contract_validators_use_the_compiled_check() -> None:
    """Every fixture message's schema is within the subset, so publishing skips jsonschema."""
    assert all(validator.compiled for validator in CONTRACT.validators.values())


def test_the_check_leaves_the_payload_as_it_was() -> None:
    """fastjsonschema fills in defaults unless told not to: the check must only look (MQ-2)."""
    schema = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "default": "welcome"},
            "meta": {"type": "object", "default": {}, "properties": {"n": {"default": 1}}},
        },
    }
    payload: dict[str, Any] = {"meta": {}}
    check = compile_check(schema, DOCUMENT, FORMATS.conforms)

    assert check is not None
    assert check(payload)
    assert payload == {"meta": {}}
