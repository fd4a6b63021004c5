"""Contracts read and judged as the official AsyncAPI parser reads and judges them (MQ-1, issue 15).

YAML 1.2 scalars and keys, duplicate keys, string formats (ajv-formats), JSON pointers in URI
fragments (RFC 6901), the `asyncapi3-*` rules and payload patterns: each a problem at a JSON
path, never an exception. `tests/e2e/test_messaging_mutations.py` compares the verdicts with the
official parser itself; these tests pin the details without node.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest

from svcinfra.messaging import ContractError
from svcinfra.messaging.contract import contract_from_document, read_document
from svcinfra.messaging.contract._formats import is_email, is_uri, is_uri_reference
from svcinfra.messaging.contract._loader import check_document, parse_document
from svcinfra.messaging.contract._paths import pointer_parts, pointer_ref

ROOT = Path(__file__).resolve().parents[5]
BASE = ROOT / "services/internal/notifications/src/notifications/api/server/asyncapi.yaml"


def base() -> dict[str, Any]:
    return read_document(BASE.read_text(encoding="utf-8"), source="notifications")


def problems_of(document: dict[str, Any]) -> set[tuple[str, str]]:
    contract, problems = check_document(document, "test")
    assert contract is None
    return {(problem.path, problem.rule) for problem in problems}


def test_plain_scalars_follow_the_yaml_1_2_core_schema() -> None:
    """`on`, `yes` and dates are strings; `017` is decimal; `0o17`, `0x1F`, `.inf` are numbers."""
    document, problems = parse_document(
        "a: on\nb: yes\nc: 2024-01-01\nd: 017\ne: 0o17\nf: 0x1F\ng: ~\nh: 1.5\ni: -.inf\n"
        "j: True\nk: '404'\nl: !!str 12\nm: 1e3\nn: .NaN\n"
    )
    assert problems == []
    assert document is not None
    assert {key: document[key] for key in "abcdefghijklm"} == {
        "a": "on", "b": "yes", "c": "2024-01-01", "d": 17, "e": 15, "f": 31, "g": None,
        "h": 1.5, "i": -math.inf, "j": True, "k": "404", "l": "12", "m": 1000.0,
    }  # fmt: skip
    assert math.isnan(document["n"])


@pytest.mark.parametrize(
    ("text", "path", "words"),
    [
        ("info:\n  title: a\n  title: b\n", "$.info.title", "duplicate key 'title' (line 3)"),
        ("a: {x: 1, x: 2}\n", "$.a.x", "duplicate key 'x'"),
        ("schemas:\n  404: {}\n", "$.schemas['404']", "is a int in YAML 1.2, not a string"),
        ("schemas:\n  true: {}\n", "$.schemas.true", "is a bool in YAML 1.2"),
        ("schemas:\n  ~: {}\n", "$.schemas['~']", "is a null in YAML 1.2"),
        ("a: !custom x\n", "$.a", "tag '!custom' is not supported"),
        ("a: !!int x\n", "$.a", "'x' is not a valid !!int"),
        ("a: &x [*x]\n", "$.a[0]", "an alias refers to a collection that contains it"),
        ("a: {<<: 3}\n", "$.a['<<']", "`<<` merges mappings only"),
        ("? [a]\n: b\n", "$", "a mapping key must be a string, not a collection"),
        ("a: [oops\n", "$", "is not valid YAML at line 2"),
        ("- a\n", "$", "is not a YAML mapping"),
    ],
)
def test_malformed_yaml_is_a_problem_at_its_path(text: str, path: str, words: str) -> None:
    """Every malformed input is a problem with its JSON path (MQ-1), never a traceback."""
    document, problems = parse_document(text)
    assert document is None
    assert [(problem.path, problem.rule) for problem in problems] == [(path, "MQ-1")]
    assert words in problems[0].message


def test_every_duplicate_and_every_non_string_key_is_reported_in_one_run() -> None:
    document, problems = parse_document("a: 1\na: 2\nb:\n  404: x\n  c: 1\n  c: 2\n")
    assert document is None
    assert [problem.path for problem in problems] == ["$.a", "$.b['404']", "$.b.c"]


def test_aliases_share_their_anchor_so_an_alias_bomb_stays_small() -> None:
    """Nine levels of ten aliases each are 10**9 leaves as a tree, one list each as built."""
    lines = ["a0: &a0 [x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    document, problems = parse_document("\n".join(lines) + "\n")
    assert problems == []
    assert document is not None
    assert document["a9"][0] is document["a9"][1] is document["a8"]


def test_merge_keys_merge_and_written_keys_win() -> None:
    document, problems = parse_document("base: &b {x: 1, y: 2}\nm: {<<: *b, y: 3}\n")
    assert problems == []
    assert document == {"base": {"x": 1, "y": 2}, "m": {"x": 1, "y": 3}}


def test_read_document_raises_contract_error_listing_the_problem() -> None:
    with pytest.raises(ContractError, match=r"\$\.a\.b: duplicate key 'b'"):
        read_document("a:\n  b: 1\n  b: 2\n", source="x.yaml")


@pytest.mark.parametrize(
    ("check", "value", "valid"),
    [
        (is_email, "team@example.com", True),
        (is_email, "team", False),
        (is_email, "team @example.com", False),
        (is_uri, "https://example.com/terms", True),
        (is_uri, "urn:example:notifications", True),
        (is_uri, "example.com/terms", False),
        (is_uri, "see the wiki", False),
        (is_uri_reference, "#/components/schemas/Sent%20Payload", True),
        (is_uri_reference, "#/components/schemas/Sent Payload", False),
        (is_email, 42, True),  # formats apply to strings only
    ],
)
def test_formats_are_ajv_formats_full_mode(check: Any, value: object, *, valid: bool) -> None:
    assert check(value) is valid


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (("info", "contact", {"email": "team"}), "$.info.contact.email"),
        (("info", "license", {"name": "MIT", "url": "mit"}), "$.info.license.url"),
        (("info", "termsOfService", "the wiki"), "$.info.termsOfService"),
        (
            ("info", "tags", [{"name": "a", "externalDocs": {"url": "x"}}]),
            "$.info.tags[0].externalDocs.url",
        ),
        ((None, "id", "notifications"), "$.id"),
    ],
)
def test_string_formats_of_the_document_are_checked(
    change: tuple[Any, str, Any], path: str
) -> None:
    """Accepted before (no format checker), refused by the official parser: now refused here."""
    parent, key, value = change
    document = base()
    (document[parent] if parent else document)[key] = value
    assert (path, "asyncapi") in problems_of(document)


def test_json_pointers_are_percent_decoded_then_unescaped() -> None:
    """RFC 6901 section 6: `%20` is a space, then `~1` a slash and `~0` a tilde."""
    assert pointer_parts("#/a/Sent%20Payload/b~1c~0d/~01") == ("a", "Sent Payload", "b/c~d", "~1")
    assert pointer_parts("#") == ()
    assert pointer_parts("other.yaml#/a") is None
    parts = ("components", "schemas", "a/b c~%")
    assert pointer_parts(pointer_ref(parts)) == parts


def test_a_percent_encoded_payload_reference_validates_payloads() -> None:
    """`#/components/schemas/Sent%20Payload` is the schema `Sent Payload`, at check and publish."""
    document = base()
    schemas = document["components"]["schemas"]
    schemas["Sent Payload"] = schemas.pop("NotificationSentV1Payload")
    schemas["Sent Payload"]["properties"]["kind"] = {"$ref": "#/components/schemas/a~1b%20c"}
    schemas["a/b c"] = {"type": "string", "enum": ["welcome"]}
    message = document["components"]["messages"]["NotificationSentV1"]
    message["payload"] = {"$ref": "#/components/schemas/Sent%20Payload"}
    validator = contract_from_document(document).validator("notification.sent.v1")
    uuid = "8d3e6f0a-4b1c-4a8e-9d2f-1a2b3c4d5e6f"
    payload = {
        "notification_id": uuid, "user_id": uuid, "email": "a@example.com", "kind": "welcome",
        "provider_message_id": "m-1", "sent_at": "2026-01-01T00:00:00Z",
    }  # fmt: skip
    assert validator.problems(payload) == []
    assert [p.path for p in validator.problems({**payload, "kind": "other"})] == ["$.kind"]


def test_the_asyncapi3_rules_of_the_official_parser() -> None:
    """Channel parameters, servers from `#/servers`, keys without `?`/`#`, operation messages."""
    document = base()
    channels = document["channels"]
    channels["notificationSentV1"]["parameters"] = {"userId": {}}
    document["components"]["servers"] = {"prod": {"host": "mq:5672", "protocol": "amqp"}}
    channels["notificationSentV1"]["servers"] = [{"$ref": "#/components/servers/prod"}]
    channels["queued?x"] = copy.deepcopy(channels["userRegisteredDlq"])
    document["operations"]["publishNotificationSentV1"]["messages"] = [
        {"$ref": "#/channels/userRegisteredV1/messages/userRegisteredV1"}
    ]
    contract, problems = check_document(document, "test")
    assert contract is None
    found = {(problem.path, problem.message.rsplit("(", 1)[1]) for problem in problems}
    assert found == {
        ("$.channels.notificationSentV1.parameters.userId", "asyncapi3-channel-parameters)"),
        (
            "$.channels.notificationSentV1.servers[0]['$ref']",
            "asyncapi3-required-channel-servers-unambiguity)",
        ),
        ("$.channels['queued?x']", "asyncapi3-channel-no-query-nor-fragment)"),
        (
            "$.operations.publishNotificationSentV1.messages[0]",
            "asyncapi3-operation-messages-from-referred-channel)",
        ),
    }


def test_a_payload_pattern_python_cannot_compile_is_an_mq2_problem() -> None:
    """The official parser accepts `pattern: '('`; every publish would fail, so MQ-2 refuses it."""
    document = base()
    payload = document["components"]["schemas"]["NotificationSentV1Payload"]
    payload["properties"]["kind"]["pattern"] = "("
    assert problems_of(document) == {
        ("$.components.schemas.NotificationSentV1Payload.properties.kind.pattern", "MQ-2")
    }


def test_a_reference_to_the_wrong_kind_of_object_is_a_schema_problem() -> None:
    """The resolved document is validated too: a payload `$ref` to a string is no schema."""
    document = base()
    document["components"]["messages"]["NotificationSentV1"]["payload"] = {"$ref": "#/info/title"}
    assert ("$.components.messages.NotificationSentV1.payload", "asyncapi") in problems_of(document)
