"""The topology a contract implies: work queue, retry tiers, DLQ, bindings (MQ-9, MQ-10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from svcinfra.messaging.contract import contract_from_document, load_contract, read_document
from svcinfra.messaging.topology import QueueRole, Topology, retry_queue_name

GOOD = Path(__file__).parents[1] / "assets" / "asyncapi" / "good"
WORK = "notifications.user-events"
DLQ = "notifications.user-events.dlq"


@pytest.fixture(name="topology")
def _topology() -> Topology:
    return Topology.from_contract(load_contract(GOOD / "notifications.yaml"))


def test_the_work_queue_dead_letters_to_its_dlq(topology: Topology) -> None:
    """A rejected message leaves the work queue for its DLQ through the default exchange."""
    (work,) = [q for q in topology.queues if q.role is QueueRole.WORK]

    assert work.name == WORK
    assert work.durable
    assert dict(work.arguments) == {
        "x-queue-type": "classic",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": DLQ,
    }


def test_each_retry_tier_is_a_ttl_queue_that_returns_to_the_work_queue(topology: Topology) -> None:
    """One wait queue per delay; expired messages dead-letter back to the work queue (MQ-9)."""
    tiers = {q.name: dict(q.arguments) for q in topology.queues if q.role is QueueRole.RETRY}

    assert tiers == {
        f"{WORK}.retry.{label}": {
            "x-message-ttl": ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": WORK,
            "x-queue-type": "classic",
        }
        for label, ms in [("1s", 1_000), ("10s", 10_000), ("1m", 60_000)]
    }


def test_the_dlq_and_the_binding_come_from_the_contract(topology: Topology) -> None:
    """The DLQ is a plain durable queue; the work queue is bound as the contract says."""
    roles = {q.name: q.role for q in topology.queues}

    assert roles[DLQ] is QueueRole.DEAD_LETTER
    assert [(b.exchange, b.routing_key, b.queue) for b in topology.bindings] == [
        ("users.events", "user.registered.v1", WORK),
    ]
    assert [(e.name, e.type, e.durable) for e in topology.exchanges] == [
        ("users.events", "topic", True),
    ]


def test_a_publisher_contract_declares_only_its_exchange() -> None:
    """The users service owns an exchange and no queue."""
    topology = Topology.from_contract(load_contract(GOOD / "users.yaml"))

    assert [e.name for e in topology.exchanges] == ["users.events"]
    assert topology.queues == ()
    assert topology.bindings == ()


def test_repeated_delays_share_one_wait_queue() -> None:
    """Attempts beyond the tiers reuse the last one; equal delays give one wait queue."""
    document = read_document((GOOD / "notifications.yaml").read_text(encoding="utf-8"))
    document["operations"]["consumeUserRegisteredV1"]["x-retry"] = {
        "maxAttempts": 6,
        "backoff": ["500ms", "500ms", "2s"],
    }
    contract = contract_from_document(document)

    tiers = [q.name for q in Topology.from_contract(contract).queues if q.role is QueueRole.RETRY]
    retry = contract.consumptions[0].retry

    assert tiers == [retry_queue_name(WORK, 500), retry_queue_name(WORK, 2_000)]
    assert [retry.delay_ms(n) for n in range(1, 6)] == [500, 500, 2_000, 2_000, 2_000]


def test_describe_lists_every_entity(topology: Topology) -> None:
    """The CLI's plan names each exchange, queue (with role) and binding."""
    lines = topology.describe()

    assert lines[0] == "exchange users.events (topic)"
    assert any(line.startswith(f"queue {WORK}.retry.10s [retry]") for line in lines)
    assert lines[-1] == f"binding users.events --user.registered.v1--> {WORK}"
    assert len(lines) == 1 + 5 + 1


def _without_queue_type() -> Topology:
    """The fixture contract with its `x-queue-type: classic` removed: the defaults apply."""
    document = read_document((GOOD / "notifications.yaml").read_text(encoding="utf-8"))
    del document["channels"]["notificationsUserEvents"]["x-amqp-queue-arguments"]
    return Topology.from_contract(contract_from_document(document))


def test_queues_default_to_quorum_with_at_least_once_dead_lettering() -> None:
    """Work, wait and DLQ are quorum; those that dead-letter do it at least once (issue 16)."""
    queues = {q.name: dict(q.arguments) for q in _without_queue_type().queues}

    at_least_once = {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-dead-letter-exchange": "",
    }
    assert queues[WORK] == at_least_once | {"x-dead-letter-routing-key": DLQ}
    assert queues[f"{WORK}.retry.10s"] == at_least_once | {
        "x-dead-letter-routing-key": WORK,
        "x-message-ttl": 10_000,
    }
    assert queues[DLQ] == {"x-queue-type": "quorum"}


def test_a_classic_work_queue_keeps_classic_wait_queues_and_dlq(topology: Topology) -> None:
    """`x-queue-type: classic` on the work queue: no quorum-only arguments anywhere."""
    queues = {q.name: dict(q.arguments) for q in topology.queues}

    assert {args["x-queue-type"] for args in queues.values()} == {"classic"}
    assert not any("x-dead-letter-strategy" in args for args in queues.values())


def test_the_contract_overrides_a_default_argument() -> None:
    """An argument the contract states wins over the default (here: at-most-once on purpose)."""
    document = read_document((GOOD / "notifications.yaml").read_text(encoding="utf-8"))
    document["channels"]["notificationsUserEvents"]["x-amqp-queue-arguments"] = {
        "x-queue-type": "quorum",
        "x-dead-letter-strategy": "at-most-once",
    }
    queues = {q.name: dict(q.arguments) for q in Topology.from_contract(
        contract_from_document(document)).queues}  # fmt: skip

    assert queues[WORK]["x-dead-letter-strategy"] == "at-most-once"
    assert queues[f"{WORK}.retry.1s"]["x-dead-letter-strategy"] == "at-least-once"
