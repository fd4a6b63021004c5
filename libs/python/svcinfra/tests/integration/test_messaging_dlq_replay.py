"""A DLQ replay reaches the queue that dead-lettered the message and no other (issue 16, MQ-10).

Two queues are bound to the same exchange and routing key: the contract's work queue, which
dead-letters (its consumer rejected the messages), and another team's queue, which processed
them. Replaying the DLQ must not hand the other team a second copy.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import aio_pika
import pytest
import yaml

from svcinfra.messaging import Publisher, declare_topology
from svcinfra.messaging import headers as hdr
from svcinfra.messaging.contract import contract_from_document
from svcinfra.messaging.dlq import replay
from svcinfra.messaging.topology import Topology

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.rabbitmq

GOOD = Path(__file__).parents[1] / "assets" / "asyncapi" / "good"
EVENT = "user.registered.v1"


@pytest.fixture(name="connection")
async def _connection(amqp_server: str) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    async with await aio_pika.connect(amqp_server) as connection:
        yield connection


async def _take(
    channel: aio_pika.abc.AbstractChannel, queue: str
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    declared = await channel.declare_queue(queue, passive=True)
    taken = []
    while (message := await declared.get(fail=False)) is not None:
        taken.append(message)
    return taken


@pytest.mark.parametrize("queue_type", ["quorum", "classic"])
async def test_a_replay_reaches_only_the_queue_that_dead_lettered(
    connection: aio_pika.abc.AbstractConnection, amqp_server: str, amqp_names: str, queue_type: str
) -> None:
    """The work queue gets the replay (same ids, `replayed-from`); the other bound queue nothing."""
    text = (GOOD / "notifications.yaml").read_text(encoding="utf-8")
    text = text.replace("users.events", f"{amqp_names}.users.events")
    text = text.replace("notifications.user-events", f"{amqp_names}.work")
    document = yaml.safe_load(text)
    document["channels"]["notificationsUserEvents"]["x-amqp-queue-arguments"] = {
        "x-queue-type": queue_type
    }
    notifications = contract_from_document(document)
    users = contract_from_document(yaml.safe_load(
        (GOOD / "users.yaml").read_text(encoding="utf-8")
        .replace("users.events", f"{amqp_names}.users.events")))  # fmt: skip
    topology = Topology.from_contract(notifications)
    work, dlq, other = f"{amqp_names}.work", f"{amqp_names}.work.dlq", f"{amqp_names}.other"
    await declare_topology(connection, Topology.from_contract(users))
    await declare_topology(connection, topology)
    channel = await connection.channel()

    async def depth(queue: str) -> int:
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)

    other_queue = await channel.declare_queue(other, durable=True)
    await other_queue.bind(f"{amqp_names}.users.events", EVENT)
    try:
        async with Publisher(users, url=amqp_server) as publisher:
            ids = [
                (await publisher.publish(EVENT, {
                    "user_id": str(uuid.uuid4()), "email": "ada@example.com",
                    "registered_at": "2026-11-26T08:00:00Z",
                })).message_id
                for _ in range(3)
            ]  # fmt: skip
        for message in await _take(channel, other):
            await message.ack()  # the other team processed them
        for message in await _take(channel, work):
            await message.reject(requeue=False)  # the broker dead-letters them to the DLQ
        # Quorum queues dead-letter asynchronously (at least once): wait until all arrived.
        for _ in range(300):
            if await depth(dlq) == 3:
                break
            await asyncio.sleep(0.1)

        report = await replay(connection, dlq)  # the target from x-death: the work queue
        replayed = await _take(channel, work)
        again = await _take(channel, other)
        for message in replayed:
            await message.ack()
    finally:
        for queue in [*(q.name for q in topology.queues), other]:
            await channel.queue_delete(queue)
        await channel.exchange_delete(f"{amqp_names}.users.events")

    assert sorted(report.replayed) == sorted(ids)
    assert report.failed == ()
    assert sorted(str(m.message_id) for m in replayed) == sorted(ids)
    assert again == []  # nothing reached the other queue bound to the same routing key
    for message in replayed:
        headers = message.headers or {}
        assert headers[hdr.REPLAYED_FROM] == dlq
        assert hdr.REPLAYED_AT in headers
        assert headers[hdr.ORIGINAL_ROUTING_KEY] == EVENT
        assert message.routing_key == work
        assert message.type == EVENT


async def test_a_message_without_a_known_origin_stays_in_the_dlq(
    connection: aio_pika.abc.AbstractConnection, amqp_names: str
) -> None:
    """No x-death and no `to_queue`: the message is reported failed and left in the DLQ."""
    dlq = f"{amqp_names}.lost.dlq"
    channel = await connection.channel()
    await channel.declare_queue(dlq, durable=True)
    try:
        await channel.default_exchange.publish(
            aio_pika.Message(b"{}", message_id="m-1"), routing_key=dlq
        )
        report = await replay(connection, dlq)
        left = await _take(channel, dlq)
    finally:
        await channel.queue_delete(dlq)

    assert (report.replayed, report.failed) == ((), ("m-1",))
    assert [m.message_id for m in left] == ["m-1"]
