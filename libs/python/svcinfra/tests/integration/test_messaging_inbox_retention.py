"""The consumer's inbox purge job: old rows go in batches, replicas share the work (issue 16).

Before, `Inbox.purge` had no caller and `svcinfra_inbox` grew by one row per message forever.
Real PostgreSQL (and RabbitMQ for the lifecycle test); the purge's cut-off comes from an
injected clock, so "two hours later" takes no time (MQ-3).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from svcinfra.messaging.consumer import Consumer
from svcinfra.testing import metric_value

KIT = str(Path(__file__).parents[1] / "assets" / "messaging")
if KIT not in sys.path:
    sys.path.insert(0, KIT)
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

HOUR = 3600.0


class Clock:
    """Wall-clock seconds that move only when told to."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="svc")
async def _svc(
    amqp_server: str, amqp_names: str, postgres_db: Any, tmp_path: Path
) -> AsyncIterator[msgkit.Service]:
    async with msgkit.service(amqp_names, postgres_db.name, tmp_path, url=amqp_server) as svc:
        yield svc


def dsn(svc: msgkit.Service) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{svc.dbname}"


async def processed(svc: msgkit.Service, consumer: str, count: int, *, hours_ago: float) -> None:
    """Inbox rows of `consumer`, as if processed `hours_ago` hours ago (database time)."""
    con = await asyncpg.connect(dsn(svc))
    try:
        await con.execute(
            "INSERT INTO svcinfra_inbox (consumer, message_id, message_name, processed_at) "
            "SELECT $1, gen_random_uuid()::text, 'user.registered.v1', "
            "now() - make_interval(secs => $2) FROM generate_series(1, $3)",
            consumer,
            hours_ago * HOUR,
            count,
        )
    finally:
        await con.close()


async def left(svc: msgkit.Service, consumer: str) -> int:
    con = await asyncpg.connect(dsn(svc))
    try:
        return int(
            await con.fetchval("SELECT count(*) FROM svcinfra_inbox WHERE consumer = $1", consumer)
        )
    finally:
        await con.close()


def make(svc: msgkit.Service, name: str, clock: Clock, **options: Any) -> Consumer:
    consumer = Consumer(
        svc.contract,
        svc.db,
        url=msgkit.AMQP_URL,
        name=name,
        inbox_retention=HOUR,
        clock=clock,
        **options,
    )
    handler = msgkit.make_recorder(msgkit.effects_queries())
    consumer.on(msgkit.REGISTERED, handler)
    consumer.on(msgkit.DELETED, handler)
    return consumer


class CountingBatches:
    """Stands in for a consumer's inbox, counting the purge statements it passes on."""

    def __init__(self, consumer: Consumer) -> None:
        self.calls = 0
        self._real = consumer._inbox
        consumer._inbox = self  # type: ignore[assignment]

    async def purge_batch(self, *args: Any, **kwargs: Any) -> int:
        self.calls += 1
        return await self._real.purge_batch(*args, **kwargs)


async def test_rows_older_than_the_retention_go_in_batches_and_only_this_consumers(
    svc: msgkit.Service,
) -> None:
    """250 old rows at 100 a batch: three statements; recent rows and another consumer's stay."""
    name = f"{svc.prefix}-a"
    await processed(svc, name, 250, hours_ago=2)
    await processed(svc, name, 50, hours_ago=0)
    await processed(svc, f"{svc.prefix}-other", 100, hours_ago=5)
    clock = Clock()
    consumer = make(svc, name, clock, inbox_purge_batch=100)
    batches = CountingBatches(consumer)
    before = metric_value("svcinfra_amqp_inbox_purged_total", consumer=name)

    assert await consumer.purge_inbox() == 250
    assert batches.calls == 3
    assert await left(svc, name) == 50
    assert await left(svc, f"{svc.prefix}-other") == 100
    assert metric_value("svcinfra_amqp_inbox_purged_total", consumer=name) == before + 250

    assert await consumer.purge_inbox() == 0  # nothing is old enough yet
    clock.now += HOUR + 60  # the recent rows are now past the retention
    assert await consumer.purge_inbox() == 50
    assert await left(svc, name) == 0
    assert metric_value("svcinfra_amqp_inbox_purged_total", consumer=name) == before + 300


async def test_replicas_purging_at_once_share_the_rows_and_skip_locked_ones(
    svc: msgkit.Service,
) -> None:
    """Three replicas on 3000 old rows delete each once; a row a transaction holds is skipped."""
    name = f"{svc.prefix}-b"
    await processed(svc, name, 3000, hours_ago=3)
    clock = Clock()
    replicas = [make(svc, name, clock, inbox_purge_batch=50) for _ in range(3)]
    holder = await asyncpg.connect(dsn(svc))
    try:
        tx = holder.transaction()
        await tx.start()
        held = await holder.fetchval(
            "SELECT message_id FROM svcinfra_inbox WHERE consumer = $1 LIMIT 1 FOR UPDATE", name
        )
        counts = await asyncio.wait_for(
            asyncio.gather(*(r.purge_inbox() for r in replicas)), timeout=30
        )
        assert sum(counts) == 2999  # none waited for the held row, none deleted a row twice
        assert await left(svc, name) == 1
        await tx.rollback()
    finally:
        await holder.close()

    assert held is not None
    assert await replicas[0].purge_inbox() == 1
    assert await left(svc, name) == 0


async def test_the_purge_job_runs_in_the_consumers_lifecycle(svc: msgkit.Service) -> None:
    """A running consumer purges at start and every interval, and keeps consuming meanwhile."""
    name = f"{svc.prefix}-c"
    await processed(svc, name, 120, hours_ago=2)
    await processed(svc, name, 30, hours_ago=0)
    clock = Clock()
    consumer = make(svc, name, clock, inbox_purge_interval=0.05, inbox_purge_batch=40)
    task = asyncio.create_task(consumer.run())
    try:
        await msgkit.until(lambda: _left_is(svc, name, 30))
        mid = await svc.publish_json(msgkit.registered())
        await msgkit.until(lambda: _left_is(svc, name, 31))  # the new message's row
        clock.now += 2 * HOUR
        await msgkit.until(lambda: _left_is(svc, name, 0))
    finally:
        consumer.stop()
        await asyncio.wait_for(task, timeout=10)
    assert mid is not None
    assert task.exception() is None


async def _left_is(svc: msgkit.Service, consumer: str, expected: int) -> bool:
    return await left(svc, consumer) == expected
