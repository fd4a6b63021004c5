"""The service's AsyncAPI contract: its topology names, the test overrides, and the consumer
contract with the users service (MQ-1, MQ-2, MQ-9, MQ-10)."""

from __future__ import annotations

import copy
import string
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from notifications.mq import load_service_contract
from notifications.mq.contract import contract_document
from notifications.mq.topology import consumer_topology, relay_topology

from svcinfra.messaging import load_contract

REGISTERED = "user.registered.v1"
USERS_CONTRACT = (
    Path(__file__).resolve().parents[3]
    / "users"
    / "src"
    / "users"
    / "api"
    / "server"
    / "asyncapi.yaml"
)


def test_the_consumer_topology_is_the_documented_one() -> None:
    """Queue, binding, three retry tiers and the DLQ, as the README and the launcher expect."""
    topology = consumer_topology(load_service_contract())
    assert {ex.name for ex in topology.exchanges} == {"users.events", "notifications.events"}
    assert all(ex.type == "topic" and ex.durable for ex in topology.exchanges)
    assert [q.name for q in topology.queues] == [
        "notifications.user-registered",
        "notifications.user-registered.dlq",
        "notifications.user-registered.retry.1s",
        "notifications.user-registered.retry.5s",
        "notifications.user-registered.retry.30s",
    ]
    [binding] = topology.bindings
    assert (binding.queue, binding.exchange, binding.routing_key) == (
        "notifications.user-registered",
        "users.events",
        REGISTERED,
    )
    [consumption] = load_service_contract().consumptions
    assert consumption.retry.max_attempts == 4
    assert consumption.dead_letter.name == "notifications.user-registered.dlq"


def test_the_relay_declares_only_the_exchange_it_publishes_to() -> None:
    """The relay owns no queue: it declares notifications.events and nothing else."""
    topology = relay_topology(load_service_contract())
    assert [ex.name for ex in topology.exchanges] == ["notifications.events"]
    assert topology.queues == ()
    assert topology.bindings == ()


def test_a_prefix_and_short_tiers_rename_everything_and_keep_a_valid_contract() -> None:
    """The test and dev-slot overrides touch every name and only the retry tiers."""
    contract = load_service_contract(prefix="t1", backoff=("100ms", "200ms"))
    topology = consumer_topology(contract)
    names = [q.name for q in topology.queues] + [ex.name for ex in topology.exchanges]
    assert all(name.startswith("t1.") for name in names)
    assert "t1.notifications.user-registered.retry.100ms" in names
    [consumption] = contract.consumptions
    assert consumption.retry.max_attempts == 3
    assert contract.publication("notification.sent.v1").exchange.name == "t1.notifications.events"
    assert contract_document()["channels"]["userRegisteredQueue"]["address"] == (
        "notifications.user-registered"
    )


def test_the_published_event_schema_rejects_what_it_does_not_promise() -> None:
    """notification.sent.v1: every field required, kind only `welcome`, nothing extra (MQ-2)."""
    validator = load_service_contract().validator("notification.sent.v1")
    good = {
        "notification_id": "8e1f6a49-56a4-4c53-9a43-2c6c5d5e1f00",
        "user_id": "8e1f6a49-56a4-4c53-9a43-2c6c5d5e1f01",
        "email": "ada@example.com",
        "kind": "welcome",
        "provider_message_id": "p-1",
        "sent_at": "2026-11-26T08:00:01Z",
    }
    assert validator.problems(good) == []
    assert validator.problems(good | {"kind": "reminder"})
    assert validator.problems(good | {"extra": 1})
    assert validator.problems({k: v for k, v in good.items() if k != "sent_at"})


# --- the consumer contract: our copy of user.registered.v1 accepts all the users service sends


def _resolved(document: dict[str, Any], node: Any) -> Any:
    """`node` with every local `$ref` of `document` inlined."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return _resolved(document, target)
        return {key: _resolved(document, value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(document, item) for item in node]
    return node


def _payload_schema(contract_path: Path | None) -> dict[str, Any]:
    contract = load_contract(contract_path) if contract_path else load_service_contract()
    document = copy.deepcopy(dict(contract.document))
    for message in document["components"]["messages"].values():
        if message.get("name") == REGISTERED:
            return _resolved(document, message["payload"])
    raise AssertionError(f"{contract_path}: no {REGISTERED} message")


@pytest.fixture(scope="module")
def users_contract() -> Path:
    assert USERS_CONTRACT.is_file(), f"the users service's contract is missing: {USERS_CONTRACT}"
    return USERS_CONTRACT


_ALLOWED_MORE = {"description", "title", "examples"}


def test_our_schema_is_at_least_as_permissive_as_the_producers(users_contract) -> None:
    """Structurally: we require no field the producer may omit, know every field it may send,
    and add no constraint it does not have (same type and format, nothing stricter)."""
    theirs, ours = _payload_schema(users_contract), _payload_schema(None)
    assert set(ours.get("required", [])) <= set(theirs.get("required", []))
    if ours.get("additionalProperties") is False:
        assert set(theirs["properties"]) <= set(ours["properties"])
    for name, mine in ours["properties"].items():
        their = theirs["properties"].get(name)
        assert their is not None, f"{name}: we read a field the producer never sends"
        for keyword, value in mine.items():
            if keyword in _ALLOWED_MORE:
                continue
            assert their.get(keyword) == value, f"{name}.{keyword}: {value!r} vs {their!r}"


_USERNAME = st.text(alphabet=string.ascii_lowercase + string.digits + "_", min_size=3, max_size=32)
_DISPLAY = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=100
)


@pytest.fixture(scope="module")
def validators(users_contract):
    """The producer's and our validators of user.registered.v1, compiled once."""
    return (
        load_contract(users_contract).validator(REGISTERED),
        load_service_contract().validator(REGISTERED),
    )


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    user_id=st.uuids().map(str),
    email=st.emails().filter(lambda e: len(e) <= 254),
    username=_USERNAME,
    display_name=_DISPLAY,
    registered_at=st.datetimes(timezones=st.just(UTC)).map(
        lambda d: d.isoformat().replace("+00:00", "Z")
    ),
)
def test_every_payload_the_producer_may_send_is_valid_for_us(  # noqa: PLR0917  (hypothesis)
    validators, user_id, email, username, display_name, registered_at
) -> None:
    """Generated payloads the users contract accepts are accepted by ours (no drift)."""
    payload = {
        "user_id": user_id,
        "email": email,
        "username": username,
        "display_name": display_name,
        "registered_at": registered_at,
    }
    theirs, ours = validators
    assume(not theirs.problems(payload))
    assert ours.problems(payload) == []


def test_notification_sent_is_an_event_published_without_mandatory() -> None:
    """Nothing may subscribe to notification.sent.v1 yet: no return, no retries, no parking."""
    publication = load_service_contract().publication("notification.sent.v1")
    assert publication.mandatory is False
