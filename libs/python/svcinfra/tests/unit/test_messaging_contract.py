"""Loading AsyncAPI contracts: the official schema, then our own rules (MQ-1, MQ-2, MQ-10)."""

from __future__ import annotations

import hashlib
import re
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from svcinfra.messaging import ContractError
from svcinfra.messaging.contract import (
    RetryPolicy,
    contract_from_document,
    load_contract,
    load_package_contract,
    parse_contract,
    read_document,
)

ASSETS = Path(__file__).parents[1] / "assets" / "asyncapi"
GOOD = ASSETS / "good"
BAD = ASSETS / "bad"
PAYLOAD = {
    "user_id": "3b241101-e2bb-4255-8caf-4136c566a962",
    "email": "ada@example.com",
    "registered_at": "2026-11-26T08:00:00Z",
}

# Each broken fixture: a problem that must be reported (JSON path, rule).
BROKEN = {
    "missing-payload": ("$.components.messages.UserRegisteredV1", "MQ-2"),
    "unversioned-name": ("$.components.messages.UserRegisteredV1.name", "MQ-2"),
    "duplicate-name": ("$.components.messages.UserDeletedV1.name", "MQ-2"),
    "no-dead-letter": ("$.operations.consumeUserRegisteredV1", "MQ-10"),
    "dead-letter-not-a-queue": ("$.operations.consumeUserRegisteredV1['x-dead-letter']", "MQ-10"),
    "derived-argument": (
        "$.channels.notificationsUserEvents['x-amqp-queue-arguments']['x-dead-letter-exchange']",
        "MQ-10",
    ),
    "dangling-channel": ("$.operations.consumeUserRegisteredV1.channel['$ref']", "MQ-1"),
    "message-not-in-channel": (
        "$.operations.consumeUserRegisteredV1.messages[0]",
        "asyncapi",
    ),  # asyncapi3-operation-messages-from-referred-channel
    "routing-key-version": ("$.channels.userRegisteredV1.address", "MQ-2"),
    "binding-unknown-exchange": (
        "$.channels.notificationsUserEvents['x-amqp-bindings'][0].exchange",
        "MQ-1",
    ),
    "binding-matches-nothing": (
        "$.channels.notificationsUserEvents['x-amqp-bindings'][0].routingKey",
        "MQ-1",
    ),
    "receive-from-exchange": ("$.operations.consumeUserRegisteredV1.channel", "MQ-7"),
    "retry-bad-delay": ("$.operations.consumeUserRegisteredV1['x-retry'].backoff[1]", "MQ-9"),
    "transient-delivery": ("$.operations.publishUserDeletedV1.bindings.amqp.deliveryMode", "MQ-5"),
    "not-yaml": ("$", "MQ-1"),
}


def test_the_users_contract_describes_what_users_publishes() -> None:
    """The publisher-side fixture yields three versioned messages on the users.events exchange."""
    contract = load_contract(GOOD / "users.yaml")

    assert sorted(contract.publications) == [
        "user.deleted.v1",
        "user.email-changed.v1",
        "user.registered.v1",
    ]
    publication = contract.publication("user.registered.v1")
    assert (publication.exchange.name, publication.exchange.type) == ("users.events", "topic")
    assert publication.routing_key == "user.registered.v1"
    assert (publication.message.base, publication.message.version) == ("user.registered", 1)
    assert contract.consumptions == ()


def test_the_notifications_contract_describes_queue_retry_and_dlq() -> None:
    """The consumer-side fixture yields its work queue, bindings, retry tiers and DLQ."""
    contract = load_contract(GOOD / "notifications.yaml")

    (consumption,) = contract.consumptions
    assert consumption.queue.name == "notifications.user-events"
    assert [(b.exchange, b.routing_key) for b in consumption.queue.bindings] == [
        ("users.events", "user.registered.v1"),
    ]
    assert consumption.retry == RetryPolicy(max_attempts=4, delays_ms=(1_000, 10_000, 60_000))
    assert consumption.dead_letter.name == "notifications.user-events.dlq"
    assert [m.name for m in consumption.messages] == ["user.registered.v1"]


@pytest.mark.parametrize("name", sorted(BROKEN), ids=str)
def test_each_broken_fixture_reports_its_rule_at_its_path(name: str) -> None:
    """Every semantic rule has a fixture that breaks it, reported with its JSON path and rule."""
    expected_path, expected_rule = BROKEN[name]

    with pytest.raises(ContractError) as caught:
        load_contract(BAD / f"{name}.yaml")

    found = {(problem.path, problem.rule) for problem in caught.value.problems}
    assert (expected_path, expected_rule) in found
    assert expected_path in str(caught.value)


def test_every_bad_fixture_is_in_the_table() -> None:
    """No broken fixture is left untested (the schema one is checked on its own)."""
    on_disk = {path.stem for path in BAD.glob("*.yaml")}

    assert on_disk - {"schema-violations"} == set(BROKEN)


def test_schema_violations_are_each_reported_at_the_field() -> None:
    """The official schema's errors point at the wrong fields, not at an unhelpful oneOf."""
    with pytest.raises(ContractError) as caught:
        load_contract(BAD / "schema-violations.yaml")

    problems = {(p.path, p.rule) for p in caught.value.problems}
    assert {
        ("$.operations.publishUserDeletedV1.bindings.amqp.deliveryMode", "asyncapi"),
        ("$.operations.publishUserEmailChangedV1.action", "asyncapi"),
        ("$.channels.userDeletedV1.bindings.amqp.is", "asyncapi"),
    } <= problems


@pytest.mark.parametrize(
    ("version", "problem"),
    [("2.6.0", "must be '3.0.0'"), (None, "must be '3.0.0'")],
    ids=["asyncapi-2", "missing"],
)
def test_only_asyncapi_3_0_0_is_accepted(version: str | None, problem: str) -> None:
    """A document of another AsyncAPI version is refused with one clear problem."""
    document = read_document((GOOD / "users.yaml").read_text(encoding="utf-8"))
    document["asyncapi"] = version

    with pytest.raises(ContractError, match=re.escape(problem)):
        contract_from_document(document)


def test_an_external_reference_is_refused() -> None:
    """Only local `#/...` references resolve: a contract is one self-contained file (MQ-1)."""
    text = (
        (GOOD / "users.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "'#/components/schemas/UserDeletedV1Payload'", "'common.yaml#/UserDeletedV1Payload'"
        )
    )

    with pytest.raises(ContractError, match="is not a local reference"):
        parse_contract(text)


def test_a_valid_payload_has_no_problems() -> None:
    """The compiled validator accepts a payload that satisfies the schema."""
    contract = load_contract(GOOD / "users.yaml")

    assert contract.validator("user.registered.v1").problems(PAYLOAD) == []


@pytest.mark.parametrize(
    ("change", "path", "text"),
    [
        ({"email": "not-an-address"}, "$.email", "is not a 'email'"),
        ({"user_id": "42"}, "$.user_id", "is not a 'uuid'"),
        ({"user_id": 42}, "$.user_id", "is not of type 'string'"),
        ({"registered_at": None}, "$.registered_at", "is not of type 'string'"),
        ({"display_name": "x" * 101}, "$.display_name", "is too long"),
    ],
    ids=["email-format", "uuid-format", "type", "null", "max-length"],
)
def test_payload_problems_name_the_field(change: dict[str, object], path: str, text: str) -> None:
    """Each violation names the field's JSON path and what is wrong with it (MQ-2)."""
    validator = load_contract(GOOD / "users.yaml").validator("user.registered.v1")

    problems = validator.problems(PAYLOAD | change)

    assert [(p.path, text in p.message) for p in problems] == [(path, True)]


def test_a_missing_required_field_is_named() -> None:
    """A payload without a required field gets a problem that names that field."""
    validator = load_contract(GOOD / "users.yaml").validator("user.registered.v1")

    (problem,) = validator.problems({k: v for k, v in PAYLOAD.items() if k != "email"})

    assert "'email' is a required property" in problem.message


def test_a_contract_loads_from_package_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service's contract is read from `<package>/api/server/asyncapi.yaml` inside the package."""
    package = tmp_path / "svc_fixture_pkg"
    (package / "api" / "server").mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "api" / "server" / "asyncapi.yaml").write_bytes((GOOD / "users.yaml").read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "svc_fixture_pkg", raising=False)

    contract = load_package_contract("svc_fixture_pkg")

    assert contract.source == "svc_fixture_pkg:api/server/asyncapi.yaml"
    assert "user.registered.v1" in contract.publications


def test_the_vendored_schema_is_the_documented_release() -> None:
    """The shipped AsyncAPI schema is byte-identical to the one its README names (checksum)."""
    schemas = files("svcinfra.messaging.contract") / "schemas"
    readme = (schemas / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((schemas / "asyncapi-3.0.0.json").read_bytes()).hexdigest()

    assert f"sha256: `{digest}`" in readme
    assert "6.11.1" in readme
    assert (schemas / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")
