"""One bad message fails its own publish only; the others in flight are confirmed (issue 16).

Every publish of a `Publisher` shares one confirm channel. These tests put one message the broker
refuses (no exchange, unroutable) among hundreds of valid ones on the same publisher, and check
that the bad one alone fails, that every valid one is reported ok, and that what the queue holds
is exactly what was reported ok (each id at least once: a message caught in the channel the
broker closed may be sent again with its id).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import aio_pika
import pytest
import yaml

from svcinfra.messaging import (
    ExchangeNotFoundError,
    MessageNackedError,
    MessageReturnedError,
    Publisher,
    PublishFailedError,
    declare_topology,
)
from svcinfra.messaging.contract import Contract, contract_from_document
from svcinfra.messaging.publisher import Backoff, PublishReceipt
from svcinfra.messaging.topology import Topology
from svcinfra.testing import FaultProxy, capture_logs, metric_value, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.rabbitmq

GOOD = Path(__file__).parents[1] / "assets" / "asyncapi" / "good"
EVENT = "user.registered.v1"
DELETED = "user.deleted.v1"
FAST = Backoff(initial=0.01, maximum=0.1)


def registered() -> dict[str, object]:
    return {
        "user_id": str(uuid.uuid4()),
        "email": "ada@example.com",
        "registered_at": "2026-11-26T08:00:00Z",
    }


def deleted() -> dict[str, object]:
    return {"user_id": str(uuid.uuid4()), "deleted_at": "2026-11-26T08:00:00Z"}


def contracts(prefix: str, *, deleted_exchange: str | None = None) -> tuple[Contract, Contract]:
    """The users contract (optionally `user.deleted.v1` on another exchange) and notifications'."""
    users = yaml.safe_load((GOOD / "users.yaml").read_text(encoding="utf-8").replace(
        "users.events", f"{prefix}.users.events"))  # fmt: skip
    if deleted_exchange is not None:
        users["channels"]["userDeletedV1"]["bindings"]["amqp"]["exchange"]["name"] = (
            deleted_exchange
        )
    notifications = yaml.safe_load(
        (GOOD / "notifications.yaml").read_text(encoding="utf-8")
        .replace("users.events", f"{prefix}.users.events")
        .replace("notifications.user-events", f"{prefix}.notifications.user-events")
    )  # fmt: skip
    return contract_from_document(users), contract_from_document(notifications)


class Queue:
    """The notifications work queue of this test, bound to `user.registered.v1` only."""

    def __init__(self, connection: aio_pika.abc.AbstractConnection, name: str) -> None:
        self.connection = connection
        self.name = name

    async def ids(self) -> Counter[str]:
        """How many copies of each message_id the queue holds (drained and acked)."""
        channel = await self.connection.channel()
        queue = await channel.declare_queue(self.name, passive=True)
        found: Counter[str] = Counter()
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            found[str(message.message_id)] += 1
        await channel.close()
        return found


@pytest.fixture(name="setup")
async def _setup(
    amqp_server: str, amqp_names: str
) -> AsyncIterator[tuple[Contract, Queue, aio_pika.abc.AbstractConnection]]:
    missing = f"{amqp_names}.nobody-declared-this"
    users, notifications = contracts(amqp_names, deleted_exchange=missing)
    connection = await aio_pika.connect(amqp_server)
    async with connection:
        topology = Topology.from_contract(notifications)
        # Only the users' exchange: the one `user.deleted.v1` goes to is never declared.
        await declare_topology(connection, Topology.from_contract(contracts(amqp_names)[0]))
        await declare_topology(connection, topology)
        yield users, Queue(connection, f"{amqp_names}.notifications.user-events"), connection
        channel = await connection.channel()
        for queue in topology.queues:
            await channel.queue_delete(queue.name)
        await channel.exchange_delete(f"{amqp_names}.users.events")


async def _outcomes(
    publisher: Publisher, calls: list[tuple[str, dict[str, object]]]
) -> list[PublishReceipt | BaseException]:
    return await asyncio.gather(
        *(publisher.publish(name, body) for name, body in calls), return_exceptions=True
    )


async def test_a_missing_exchange_fails_its_own_publish_among_300(
    setup: tuple[Contract, Queue, aio_pika.abc.AbstractConnection], amqp_server: str
) -> None:
    """300 valid publishes + 1 to a missing exchange: only that one fails; queue == reported ok.

    The publisher checks an exchange (passive declare, on a channel of its own) before its first
    publish to it, so the bad message never reaches the shared confirm channel: no valid publish
    is even retried, and the connection stays.
    """
    users, queue, _ = setup
    calls = [(EVENT, registered()) for _ in range(150)]
    calls.append((DELETED, deleted()))  # its exchange does not exist
    calls += [(EVENT, registered()) for _ in range(150)]

    with capture_logs() as logs:
        # A confirm timeout far beyond any confirm: every retry here would be the bad message's.
        publisher = Publisher(
            users, url=amqp_server, confirm_timeout=60, deadline=120, backoff=FAST
        )
        async with publisher:
            outcomes = await _outcomes(publisher, calls)

    failed = [(name, o) for (name, _), o in zip(calls, outcomes, strict=True)
              if isinstance(o, BaseException)]  # fmt: skip
    assert [(name, type(error)) for name, error in failed] == [(DELETED, ExchangeNotFoundError)]
    assert not failed[0][1].temporary  # type: ignore[union-attr]
    ok = {o.message_id for o in outcomes if isinstance(o, PublishReceipt)}
    assert len(ok) == 300
    held = await queue.ids()
    assert set(held) == ok  # every message reported ok is in the queue, and nothing else
    assert sum(held.values()) == 300  # exactly once each: nothing had to be sent again
    assert len(logs.find("amqp publisher connected")) == 1
    assert not logs.find("amqp publish retry")


async def test_an_exchange_deleted_mid_stream_fails_its_publishes_only(
    setup: tuple[Contract, Queue, aio_pika.abc.AbstractConnection],
    amqp_server: str,
    amqp_names: str,
) -> None:
    """The exchange of one message is deleted after it was checked: the broker closes the shared
    channel under 200 valid publishes in flight. Only the publishes to the deleted exchange fail;
    every valid one is resent (same id) and reported ok, and the queue holds exactly those ids
    (some possibly twice: at least once)."""
    _, queue, connection = setup
    other = f"{amqp_names}.deleted-later"
    users, _ = contracts(amqp_names, deleted_exchange=other)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(other, "topic", durable=True)
    await (await channel.declare_queue(f"{other}.q", exclusive=True)).bind(exchange, DELETED)

    async with Publisher(users, url=amqp_server, deadline=30, backoff=FAST) as publisher:
        await publisher.publish(DELETED, deleted())  # checked and used once
        await exchange.delete()
        calls = [(EVENT, registered()) for _ in range(100)]
        calls.append((DELETED, deleted()))
        calls += [(EVENT, registered()) for _ in range(100)]
        outcomes = await _outcomes(publisher, calls)
    await channel.close()

    failed = [(name, type(o)) for (name, _), o in zip(calls, outcomes, strict=True)
              if isinstance(o, BaseException)]  # fmt: skip
    assert failed == [(DELETED, ExchangeNotFoundError)]
    ok = {o.message_id for o in outcomes if isinstance(o, PublishReceipt)}
    assert len(ok) == 200
    assert set(await queue.ids()) == ok


async def test_an_unroutable_message_is_returned_to_its_own_publish_only(
    setup: tuple[Contract, Queue, aio_pika.abc.AbstractConnection],
    amqp_server: str,
    amqp_names: str,
) -> None:
    """A return (mandatory, no queue bound) answers its own publish; 200 others are confirmed."""
    _, queue, _ = setup
    users, _ = contracts(amqp_names)  # user.deleted.v1 on the declared exchange, no queue bound
    calls = [(EVENT, registered()) for _ in range(100)]
    calls.append((DELETED, deleted()))
    calls += [(EVENT, registered()) for _ in range(100)]

    publisher = Publisher(users, url=amqp_server, confirm_timeout=60, deadline=120, backoff=FAST)
    async with publisher:
        outcomes = await _outcomes(publisher, calls)

    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert [type(e) for e in errors] == [MessageReturnedError]
    assert isinstance(errors[0], PublishFailedError)
    assert errors[0].routing_key == DELETED
    assert errors[0].attempts == 1
    ok = {o.message_id for o in outcomes if isinstance(o, PublishReceipt)}
    assert all(o.attempts == 1 for o in outcomes if isinstance(o, PublishReceipt))
    held = await queue.ids()
    assert held == dict.fromkeys(ok, 1)  # nothing was resent: exactly once each


async def test_nacks_fail_their_own_publishes_only(
    setup: tuple[Contract, Queue, aio_pika.abc.AbstractConnection],
    amqp_server: str,
    amqp_names: str,
) -> None:
    """A queue capped at 10 with `reject-publish` nacks what does not fit, among 150 valid
    publishes in flight: each nack fails its own publish; the channel it came on takes no new
    publish (issue 20) but is not closed under the others, so every other publish is confirmed
    once: the queues hold exactly what was reported ok, each id once."""
    _, queue, connection = setup
    users, _ = contracts(amqp_names)  # user.deleted.v1 on the declared exchange
    channel = await connection.channel()
    capped = await channel.declare_queue(
        f"{amqp_names}.capped", exclusive=True,
        arguments={"x-max-length": 10, "x-overflow": "reject-publish"},
    )  # fmt: skip
    await capped.bind(f"{amqp_names}.users.events", DELETED)
    calls = [(EVENT, registered()) for _ in range(50)]
    calls += [(DELETED, deleted()) for _ in range(30)]
    calls += [(EVENT, registered()) for _ in range(100)]

    publisher = Publisher(users, url=amqp_server, confirm_timeout=60, deadline=120, backoff=FAST)
    async with publisher:
        outcomes = await _outcomes(publisher, calls)

    errors = [(name, type(o)) for (name, _), o in zip(calls, outcomes, strict=True)
              if isinstance(o, BaseException)]  # fmt: skip
    assert errors == [(DELETED, MessageNackedError)] * 20
    ok = {name: set() for name in (EVENT, DELETED)}
    for (name, _), o in zip(calls, outcomes, strict=True):
        if isinstance(o, PublishReceipt):
            assert o.attempts == 1
            ok[name].add(o.message_id)
    assert len(ok[EVENT]) == 150
    assert await queue.ids() == dict.fromkeys(ok[EVENT], 1)
    held: Counter[str] = Counter()
    while (message := await capped.get(fail=False)) is not None:
        await message.ack()
        held[str(message.message_id)] += 1
    assert held == dict.fromkeys(ok[DELETED], 1)
    await channel.close()


async def test_late_confirms_retry_their_publishes_without_dropping_the_connection(
    setup: tuple[Contract, Queue, aio_pika.abc.AbstractConnection],
) -> None:
    """Confirms later than the confirm timeout (a slow link): the probe finds the connection alive.

    The late publishes are sent again (same ids) on the same connection once the link is fast
    again; none fails, and the connection is never replaced (before issue 16 every confirm
    timeout dropped it for all publishes in flight).
    """
    users, queue, _ = setup
    labels = {"publisher": "late-confirms", "outcome": "alive"}
    alive = metric_value("svcinfra_amqp_publisher_connection_probes_total", **labels)

    async with FaultProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/?heartbeat=0"
        with capture_logs() as logs:
            publisher = Publisher(users, url=url, name="late-confirms", confirm_timeout=0.2,
                                  connect_timeout=10, deadline=60, backoff=FAST)  # fmt: skip
            async with publisher:
                await publisher.publish(EVENT, registered())  # connected, exchange checked
                proxy.latency = 0.3  # each way: every confirm comes after 0.6 s
                batch = [(EVENT, registered()) for _ in range(50)]
                calls = asyncio.create_task(_outcomes(publisher, batch))
                await until(lambda: metric_value(
                    "svcinfra_amqp_publisher_connection_probes_total", **labels) > alive,
                    timeout=30)  # fmt: skip
                proxy.latency = 0
                outcomes = await calls

    assert not [o for o in outcomes if isinstance(o, BaseException)]
    receipts = [o for o in outcomes if isinstance(o, PublishReceipt)]
    assert max(r.attempts for r in receipts) >= 2  # the late ones were sent again
    assert len(logs.find("amqp publisher connected")) == 1
    assert not logs.find("amqp publisher connection dead after a confirm timeout")
    assert {r.message_id for r in receipts} <= set(await queue.ids())
