"""Declaring the contract's topology on the real broker: idempotent, clashes named (MQ-9, MQ-10)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import aio_pika
import pytest
import yaml
from click.testing import CliRunner

from svcinfra.__main__ import main
from svcinfra.messaging import TopologyConflictError, declare_topology
from svcinfra.messaging.contract import Contract, contract_from_document, read_document
from svcinfra.messaging.topology import QueueRole, Topology

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.rabbitmq

GOOD = Path(__file__).parents[1] / "assets" / "asyncapi" / "good"


def prefixed(name: str, prefix: str, *, backoff: list[str] | None = None) -> Contract:
    """The fixture contract with every exchange and queue name under this test's prefix."""
    text = (GOOD / name).read_text(encoding="utf-8")
    text = text.replace("users.events", f"{prefix}.users.events")
    text = text.replace("notifications.user-events", f"{prefix}.notifications.user-events")
    document = read_document(text)
    if backoff is not None:
        document["operations"]["consumeUserRegisteredV1"]["x-retry"]["backoff"] = backoff
    return contract_from_document(document, source=name)


@pytest.fixture(name="connection")
async def _connection(amqp_server: str) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    connection = await aio_pika.connect(amqp_server)
    async with connection:
        yield connection


@pytest.fixture(name="cleanup")
async def _cleanup(connection) -> AsyncIterator[list[Topology]]:
    """Topologies registered here have their queues and exchanges deleted after the test."""
    topologies: list[Topology] = []
    yield topologies
    channel = await connection.channel()
    for topology in topologies:
        for queue in topology.queues:
            await channel.queue_delete(queue.name)
        for exchange in topology.exchanges:
            await channel.exchange_delete(exchange.name)
    await channel.close()


async def test_declare_creates_every_entity_and_is_idempotent(
    connection, cleanup: list[Topology], amqp_names: str
) -> None:
    """The exchange and every queue exist after declaring; declaring again changes nothing."""
    topology = Topology.from_contract(prefixed("notifications.yaml", amqp_names))
    cleanup.append(topology)

    first = await declare_topology(connection, topology)
    second = await declare_topology(connection, topology)

    assert first == second
    assert (first.exchanges, first.queues, first.bindings) == (1, 5, 1)
    channel = await connection.channel()
    for queue in topology.queues:
        await channel.declare_queue(queue.name, passive=True)  # raises if missing
    await channel.get_exchange(f"{amqp_names}.users.events", ensure=True)
    await channel.close()


async def test_a_published_event_reaches_the_bound_work_queue(
    connection, cleanup: list[Topology], amqp_names: str
) -> None:
    """The binding derived from x-amqp-bindings routes the event to the consumer's queue."""
    topology = Topology.from_contract(prefixed("notifications.yaml", amqp_names))
    cleanup.append(topology)
    await declare_topology(connection, topology)
    channel = await connection.channel()
    exchange = await channel.get_exchange(f"{amqp_names}.users.events")

    await exchange.publish(aio_pika.Message(b"{}", message_id="m1"), "user.registered.v1")
    work = await channel.declare_queue(f"{amqp_names}.notifications.user-events", passive=True)
    message = await work.get(timeout=5)

    assert message.message_id == "m1"
    await message.ack()
    await channel.close()


async def test_retry_tiers_return_to_the_work_queue_and_rejects_reach_the_dlq(
    connection, cleanup: list[Topology], amqp_names: str
) -> None:
    """A wait-queue message returns to the work queue after its TTL; a reject goes to the DLQ."""
    contract = prefixed("notifications.yaml", amqp_names, backoff=["200ms", "400ms", "600ms"])
    topology = Topology.from_contract(contract)
    cleanup.append(topology)
    await declare_topology(connection, topology)
    work_name = f"{amqp_names}.notifications.user-events"
    channel = await connection.channel()
    work = await channel.declare_queue(work_name, passive=True)
    dlq = await channel.declare_queue(f"{work_name}.dlq", passive=True)

    # The consumer (part 2) republishes a temporary failure to its tier via the default exchange.
    await channel.default_exchange.publish(
        aio_pika.Message(b"{}", message_id="m2", headers={"retry-count": 1}),
        f"{work_name}.retry.200ms",
    )
    back = await _get_eventually(work)
    assert back.message_id == "m2"
    assert back.headers["retry-count"] == 1
    (death,) = back.headers["x-death"]
    assert (death["queue"], death["reason"]) == (f"{work_name}.retry.200ms", "expired")

    await back.reject(requeue=False)
    dead = await _get_eventually(dlq)
    assert dead.message_id == "m2"
    assert dead.headers["x-first-death-reason"] == "expired"
    await dead.ack()
    await channel.close()


async def test_a_clashing_queue_is_named_with_its_argument_and_the_rest_is_declared(
    connection, cleanup: list[Topology], amqp_names: str
) -> None:
    """A queue existing with other arguments is named in one error; the rest is still declared."""
    topology = Topology.from_contract(prefixed("notifications.yaml", amqp_names))
    cleanup.append(topology)
    work_name = f"{amqp_names}.notifications.user-events"
    channel = await connection.channel()
    await channel.declare_queue(work_name, durable=True, arguments={"x-message-ttl": 5000})
    await channel.close()

    with pytest.raises(TopologyConflictError) as caught:
        await declare_topology(connection, topology)

    (conflict,) = caught.value.conflicts
    assert (conflict.kind, conflict.name) == ("queue", work_name)
    assert conflict.argument in {"x-dead-letter-exchange", "x-dead-letter-routing-key",
                                 "x-message-ttl", "x-queue-type"}  # fmt: skip
    assert work_name in str(caught.value)
    assert "delete or migrate" in str(caught.value)
    check = await connection.channel()  # the connection survived the closed channels
    for queue in topology.queues:
        if queue.role is not QueueRole.WORK:
            await check.declare_queue(queue.name, passive=True)
    await check.close()


async def test_a_clashing_exchange_type_is_reported(
    connection, cleanup: list[Topology], amqp_names: str
) -> None:
    """An exchange that exists with another type is named with both types."""
    topology = Topology.from_contract(prefixed("users.yaml", amqp_names))
    cleanup.append(topology)
    channel = await connection.channel()
    await channel.declare_exchange(f"{amqp_names}.users.events", "direct", durable=True)
    await channel.close()

    with pytest.raises(TopologyConflictError) as caught:
        await declare_topology(connection, topology)

    (conflict,) = caught.value.conflicts
    assert (conflict.kind, conflict.argument, conflict.wanted, conflict.existing) == (
        "exchange",
        "type",
        "topic",
        "direct",
    )


async def test_the_declare_command_declares_and_reports_clashes(
    amqp_server: str, connection, cleanup: list[Topology], amqp_names: str, tmp_path: Path
) -> None:
    """`svcinfra amqp declare` exits 0 on a fresh broker, then 1 naming a clashing queue."""
    contract = prefixed("notifications.yaml", amqp_names)
    cleanup.append(Topology.from_contract(contract))
    path = tmp_path / "asyncapi.yaml"
    path.write_text(yaml.safe_dump(dict(contract.document)), encoding="utf-8")
    runner = CliRunner()

    ok = await asyncio.to_thread(
        runner.invoke, main, ["amqp", "declare", str(path), "--url", amqp_server]
    )
    assert ok.exit_code == 0, ok.output
    assert "declared 1 exchanges, 5 queues, 1 bindings" in ok.output

    channel = await connection.channel()
    await channel.queue_delete(f"{amqp_names}.notifications.user-events.dlq")
    await channel.declare_queue(f"{amqp_names}.notifications.user-events.dlq", durable=False)
    await channel.close()
    clash = await asyncio.to_thread(
        runner.invoke, main, ["amqp", "declare", str(path), "--url", amqp_server]
    )
    assert clash.exit_code == 1
    assert (
        f"queue '{amqp_names}.notifications.user-events.dlq' exists with durable=" in clash.output
    )


async def test_the_declare_command_reports_an_unreachable_broker() -> None:
    """A broker that refuses connections is exit 69 with the URL's password masked."""
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["amqp", "declare", str(GOOD / "users.yaml"), "--url", "amqp://guest:s3cret@127.0.0.1:1/"],
    )

    assert result.exit_code == 69
    assert "s3cret" not in result.output


async def _get_eventually(
    queue: aio_pika.abc.AbstractQueue,
) -> aio_pika.abc.AbstractIncomingMessage:
    """The next message of `queue`, polling until it arrives (TTLs are measured by the broker)."""
    for _ in range(100):
        message = await queue.get(fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no message arrived in {queue.name}")
