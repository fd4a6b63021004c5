"""What only a broker of the test's own can show: a memory alarm, a broker killed (issue 16).

The node is a `PrivateRabbitNode` (own node name, ports 16610-16612, data directory), started
once for this module; the machine's shared broker is never alarmed, stopped or restarted.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import aio_pika
import pytest
import yaml

from svcinfra.messaging import (
    BrokerBlockedError,
    PublishDeadlineError,
    Publisher,
    declare_topology,
)
from svcinfra.messaging.contract import Contract, contract_from_document
from svcinfra.messaging.publisher import Backoff, PublishReceipt
from svcinfra.messaging.topology import QueueRole, Topology
from svcinfra.testing import capture_logs, free_port, metric_value, until
from svcinfra.testing._rabbitnode import PrivateRabbitNode

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.rabbitmq

GOOD = Path(__file__).parents[1] / "assets" / "asyncapi" / "good"
EVENT = "user.registered.v1"
FAST = Backoff(initial=0.01, maximum=0.2)
# ports of this run's own (free now, never handed out twice), so concurrent runs cannot collide
AMQP_PORT, DIST_PORT, CTL_PORT = free_port(), free_port(), free_port()
DLX_RETRY_MS = 1000


@pytest.fixture(scope="module", name="node")
def _node(run_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbitNode]:
    base = tmp_path_factory.mktemp("rabbit")
    with PrivateRabbitNode(
        f"svcinfra-test-{run_id}-1",
        AMQP_PORT,
        DIST_PORT,
        base,
        ctl_dist_port=CTL_PORT,
        # At-least-once dead-lettering retries a refused hop after this many ms (default 3 min).
        erl_args=f"-rabbit dead_letter_worker_publisher_confirm_timeout {DLX_RETRY_MS}",
    ) as node:
        yield node


@pytest.mark.parametrize("name", ["rabbit", "rabbit@localhost", "x@localhost", ""])
def test_the_kit_refuses_names_that_could_be_the_shared_node(name: str, tmp_path: Path) -> None:
    """`PrivateRabbitNode` takes a short name of its own; the shared node's cannot be given."""
    with pytest.raises(ValueError, match="short name"):
        PrivateRabbitNode(name, AMQP_PORT, DIST_PORT, tmp_path)


def contracts(
    prefix: str, work_arguments: dict[str, object] | None = None
) -> tuple[Contract, Contract]:
    """The users contract and notifications' with its queues left to the defaults (quorum),
    or with `work_arguments` as the work queue's `x-amqp-queue-arguments`."""
    users = yaml.safe_load(
        (GOOD / "users.yaml").read_text(encoding="utf-8").replace("users.events", f"{prefix}.ue")
    )
    notifications = yaml.safe_load(
        (GOOD / "notifications.yaml").read_text(encoding="utf-8")
        .replace("users.events", f"{prefix}.ue")
        .replace("notifications.user-events", f"{prefix}.nue")
    )  # fmt: skip
    work = notifications["channels"]["notificationsUserEvents"]
    del work["x-amqp-queue-arguments"]
    if work_arguments is not None:
        work["x-amqp-queue-arguments"] = work_arguments
    return contract_from_document(users), contract_from_document(notifications)


def registered() -> dict[str, object]:
    return {
        "user_id": str(uuid.uuid4()),
        "email": "ada@example.com",
        "registered_at": "2026-11-26T08:00:00Z",
    }


async def declare(url: str, *contracts: Contract) -> None:
    async with await aio_pika.connect(url) as connection:
        for contract in contracts:
            await declare_topology(connection, Topology.from_contract(contract))


async def drain(url: str, queue: str, *, expect: set[str], timeout: float) -> Counter[str]:
    """Take messages (acked) from `queue` until every id of `expect` came (or `timeout` passed),
    and then whatever else the queue holds; return how often each id came."""
    found: Counter[str] = Counter()
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            message = await declared.get(fail=False)
            if message is not None:
                await message.ack()
                found[str(message.message_id)] += 1
            elif expect <= set(found) or loop.time() >= end:
                return found
            else:
                await asyncio.sleep(0.1)


async def test_a_memory_alarm_makes_publishes_wait_then_resume_without_loss(
    node: PrivateRabbitNode,
) -> None:
    """Memory alarm raised under load, then lifted: publishes wait (no reconnect loop), a publish
    whose deadline ends first fails with PublishDeadlineError, readiness says blocked, and
    after the alarm every publish is confirmed and every id is in the queue (issue 16)."""
    prefix = secrets.token_hex(3)
    users, notifications = contracts(prefix)
    await declare(node.url, users, notifications)
    name = f"blocked-{prefix}"
    periods = metric_value("svcinfra_amqp_publisher_blocked_total", publisher=name)

    with capture_logs() as logs:
        publisher = Publisher(users, url=node.url, name=name, deadline=120, backoff=FAST)
        short = Publisher(users, url=node.url, name=f"{name}-short", confirm_timeout=0.5,
                          deadline=3, backoff=FAST)  # fmt: skip
        async with publisher, short:
            before = [await publisher.publish(EVENT, registered()) for _ in range(10)]
            await asyncio.to_thread(node.set_memory_alarm, raised=True)
            batch = asyncio.gather(*(publisher.publish(EVENT, registered()) for _ in range(50)))
            await until(lambda: publisher.blocked, timeout=60)
            with pytest.raises(BrokerBlockedError, match="blocks publishing"):
                await publisher.check()
            with pytest.raises(PublishDeadlineError) as late:
                await short.publish(EVENT, registered())
            await asyncio.sleep(2)  # blocked for a while: nothing may reconnect meanwhile
            await asyncio.to_thread(node.set_memory_alarm, raised=False)
            during = await batch
            await until(lambda: not publisher.blocked, timeout=30)
            await publisher.check()  # ready again
            after = await publisher.publish(EVENT, registered())

    ok = {r.message_id for r in [*before, *during, after] if isinstance(r, PublishReceipt)}
    assert len(ok) == 61
    held = await drain(node.url, f"{prefix}.nue", expect=ok, timeout=30)
    assert ok <= set(held)
    assert set(held) - ok <= {late.value.message_id}  # the short one may have got in after all
    main = [line for line in logs.entries if line.get("name") == name]
    assert [
        line["event"] for line in main if line["event"].startswith("amqp publisher blocked")
    ] == ["amqp publisher blocked by the broker"]
    assert len([line for line in main if line["event"] == "amqp publisher connected"]) == 1
    assert metric_value("svcinfra_amqp_publisher_blocked_total", publisher=name) == periods + 1
    assert metric_value("svcinfra_amqp_publisher_blocked_now", publisher=name) == 0


async def test_messages_waiting_in_a_retry_tier_survive_a_killed_broker(
    node: PrivateRabbitNode,
) -> None:
    """Wait queues are quorum queues: confirmed messages waiting in a retry tier survive a
    SIGKILLed broker and all reach the work queue afterwards (at-least-once dead-lettering)."""
    prefix = secrets.token_hex(3)
    users, notifications = contracts(prefix)
    await declare(node.url, users, notifications)
    topology = Topology.from_contract(notifications)
    wait = next(q for q in topology.queues if q.role is QueueRole.RETRY and q.name.endswith("10s"))
    types = dict(
        line.split("\t")
        for line in node.ctl("list_queues", "name", "type", "--no-table-headers").splitlines()
        if line.startswith(prefix)
    )
    assert set(types.values()) == {"quorum"}
    assert len(types) == len(topology.queues)

    ids = {str(uuid.uuid4()) for _ in range(100)}
    async with await aio_pika.connect(node.url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        for message_id in ids:
            await channel.default_exchange.publish(
                aio_pika.Message(b"{}", message_id=message_id,
                                 delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=wait.name,
            )  # fmt: skip

    await asyncio.to_thread(node.kill)
    await asyncio.to_thread(node.start)

    held = await drain(node.url, f"{prefix}.nue", expect=ids, timeout=90)
    assert set(held) == ids


@pytest.mark.parametrize(
    ("queue_type", "arrive"),
    [("quorum", 25), ("classic", 5)],
)
async def test_a_full_work_queue_holds_back_expired_retries_instead_of_dropping_them(
    node: PrivateRabbitNode, queue_type: str, arrive: int
) -> None:
    """Nothing lost between queues: 20 messages expire from a wait queue into a work queue that
    is full (`x-max-length` 5, reject-publish). A quorum wait queue dead-letters at least once:
    it keeps them and retries until the work queue has room, so all 25 arrive. A classic one
    (shown for contrast) dead-letters at most once: the 20 are dropped."""
    prefix = secrets.token_hex(3)
    arguments: dict[str, object] = {"x-max-length": 5}
    if queue_type == "classic":
        arguments |= {"x-queue-type": "classic", "x-overflow": "reject-publish"}
    users, notifications = contracts(prefix, arguments)
    await declare(node.url, users, notifications)
    work = f"{prefix}.nue"
    wait = f"{work}.retry.1s"
    first = {str(uuid.uuid4()) for _ in range(5)}
    retried = {str(uuid.uuid4()) for _ in range(20)}
    async with await aio_pika.connect(node.url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        for queue, ids in ((work, first), (wait, retried)):
            for message_id in ids:
                await channel.default_exchange.publish(
                    aio_pika.Message(b"{}", message_id=message_id,
                                     delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key=queue,
                )  # fmt: skip
    await asyncio.sleep(5)  # every retry expired meanwhile (TTL 1 s), into the full work queue

    held = await drain(node.url, work, expect=first | retried, timeout=40 if arrive == 25 else 5)

    assert set(held) <= first | retried
    assert len(set(held)) == arrive
    assert first <= set(held)
