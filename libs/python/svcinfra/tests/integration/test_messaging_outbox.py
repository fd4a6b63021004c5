"""The transactional outbox and its relay on the real database and broker (MQ-4..MQ-6, PG-12)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest

from svcinfra.messaging import (
    InvalidMessageError,
    PayloadValidationError,
    Publisher,
    UnknownMessageError,
    declare_topology,
)
from svcinfra.messaging.outbox import Outbox, Relay
from svcinfra.messaging.storage import migrations, write_migrations
from svcinfra.messaging.topology import Topology
from svcinfra.postgres.migrate import Migrator, load_migrations
from svcinfra.testing import FaultProxy

KIT = str(Path(__file__).parents[1] / "assets" / "messaging")
if KIT not in sys.path:
    sys.path.insert(0, KIT)
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

REGISTERED = msgkit.REGISTERED


@pytest.fixture(name="svc")
async def _svc(amqp_server: str, amqp_names: str, postgres_db, tmp_path: Path):
    async with msgkit.service(amqp_names, postgres_db.name, tmp_path, url=amqp_server) as svc:
        yield svc


async def fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    """Rows of a verification query (the test reads the tables directly)."""
    con = await asyncpg.connect(dsn)
    try:
        return await con.fetch(query, *args)
    finally:
        await con.close()


async def add_many(svc: msgkit.Service, count: int, **options: Any) -> list[str]:
    """Write `count` events in one transaction; return their ids."""
    outbox = Outbox(svc.contract)
    async with svc.db.transaction() as tx:
        return [
            await outbox.add(tx, REGISTERED, msgkit.registered(), **options) for _ in range(count)
        ]


@asynccontextmanager
async def relaying(*relays: Relay) -> AsyncIterator[None]:
    """Run relays until the block ends."""
    tasks = [asyncio.create_task(relay.run()) for relay in relays]
    try:
        yield
    finally:
        for relay in relays:
            relay.stop()
        await asyncio.gather(*tasks)


async def test_the_migrations_apply_and_roll_back_with_the_migrator(postgres_db, tmp_path) -> None:
    """The shipped goose files create and drop both tables; copies get fresh timestamp names."""
    migrator = Migrator(load_migrations(migrations()), postgres_db.dsn)
    await migrator.up()
    tables = "SELECT tablename FROM pg_tables WHERE tablename LIKE 'svcinfra_%' ORDER BY 1"
    assert [r[0] for r in await fetch(postgres_db.dsn, tables)] == [
        "svcinfra_inbox", "svcinfra_outbox",
    ]  # fmt: skip
    await migrator.reset()
    assert await fetch(postgres_db.dsn, tables) == []

    written = write_migrations(tmp_path)
    assert [p.name.partition("_")[2] for p in written] == [
        "svcinfra_outbox.sql", "svcinfra_inbox.sql", "svcinfra_outbox_parking.sql",
    ]  # fmt: skip
    versions = load_migrations(tmp_path).versions
    assert versions[0] < versions[1] < versions[2]  # one second apart, across a minute too
    assert versions[0] > 20261206000001


async def test_add_checks_the_message_inside_the_callers_transaction(svc) -> None:
    """An unknown name, a schema violation or a reserved header raises; nothing is written."""
    outbox = Outbox(svc.contract)
    async with svc.db.transaction() as tx:
        with pytest.raises(UnknownMessageError):
            await outbox.add(tx, "user.email-changed.v1", msgkit.registered())
        with pytest.raises(PayloadValidationError, match=r"\$\.email"):
            await outbox.add(tx, REGISTERED, msgkit.registered(email="nope"))
        with pytest.raises(InvalidMessageError, match="reserved"):
            await outbox.add(tx, REGISTERED, msgkit.registered(), headers={"retry-count": 1})
    rows = await fetch(_dsn(svc), "SELECT count(*) FROM svcinfra_outbox")
    assert rows[0][0] == 0


def _dsn(svc: msgkit.Service) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{svc.dbname}"


async def test_a_committed_row_is_relayed_on_notify_with_its_id_and_marked_sent(svc) -> None:
    """With polling made hourly, the commit's NOTIFY wakes the relay; the row's id is the id."""
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relay = Relay(svc.db, publisher, listen_dsn=_dsn(svc), poll_interval=3600)
        async with relaying(relay):
            await msgkit.until(lambda: relay.listening)
            (mid,) = await add_many(svc, 1, correlation_id="req-9", headers={"tenant": "acme"})
            await msgkit.until(lambda: svc.depth(svc.queue))

    (message,) = await svc.take(svc.queue)
    assert (message.message_id, message.correlation_id) == (mid, "req-9")
    assert (message.type, message.headers["tenant"]) == (REGISTERED, "acme")
    (row,) = await fetch(_dsn(svc), "SELECT sent_at, attempts, claimed_until FROM svcinfra_outbox")
    assert row["sent_at"] is not None
    assert (row["attempts"], row["claimed_until"]) == (1, None)


async def test_a_relayed_message_carries_its_rows_commit_time_and_the_claim_is_timed(
    svc,
) -> None:
    """`outbox-committed-at` is the row's created_at in microseconds (an int: an AMQP float has
    32 bits); a row claimed for the first time is counted in the claim lag histogram (issue 19).
    """
    from prometheus_client import REGISTRY  # noqa: PLC0415

    def claims() -> float:
        return REGISTRY.get_sample_value("svcinfra_amqp_outbox_claim_lag_seconds_count") or 0.0

    before = claims()
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relay = Relay(svc.db, publisher, listen_dsn=_dsn(svc), poll_interval=3600)
        async with relaying(relay):
            await msgkit.until(lambda: relay.listening)
            (mid,) = await add_many(svc, 1)
            await msgkit.until(lambda: svc.depth(svc.queue))

    (message,) = await svc.take(svc.queue)
    (row,) = await fetch(_dsn(svc), "SELECT created_at FROM svcinfra_outbox WHERE id = $1", mid)
    stamped = message.headers["outbox-committed-at"]
    assert isinstance(stamped, int)
    assert stamped == round(row["created_at"].timestamp() * 1e6)
    assert claims() == before + 1


async def test_a_rolled_back_row_is_never_sent(svc) -> None:
    """An event of a transaction that rolls back is not in the outbox to relay."""
    outbox = Outbox(svc.contract)

    async def fail_after_adding() -> None:
        async with svc.db.transaction() as tx:
            await outbox.add(tx, REGISTERED, msgkit.registered())
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        await fail_after_adding()
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        assert await Relay(svc.db, publisher).relay_batch() == 0
    assert await svc.depth(svc.queue) == 0


async def test_polling_relays_without_a_listen_connection(svc) -> None:
    """Without LISTEN, the relay's polling finds committed rows."""
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relay = Relay(svc.db, publisher, poll_interval=0.05)
        async with relaying(relay):
            ids = await add_many(svc, 5)
            await msgkit.until(lambda: _equals(svc.depth(svc.queue), 5))
        assert not relay.listening
    assert sorted(m.message_id for m in await svc.take(svc.queue)) == sorted(ids)


async def _equals(value: Any, expected: int) -> bool:
    return await value == expected


async def test_relays_side_by_side_publish_each_row_once(svc) -> None:
    """Three relays on 300 rows claim disjoint batches: 300 messages, no duplicate."""
    ids = await add_many(svc, 300)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relays = [
            Relay(svc.db, publisher, listen_dsn=_dsn(svc), batch_size=10, poll_interval=0.05)
            for _ in range(3)
        ]
        async with relaying(*relays):
            await msgkit.until(lambda: _equals(svc.depth(svc.queue), 300))
            await msgkit.until(_all_sent(svc))

    delivered = [m.message_id for m in await svc.take(svc.queue)]
    assert sorted(delivered) == sorted(ids)


def _all_sent(svc: msgkit.Service) -> Any:
    async def check() -> bool:
        rows = await fetch(_dsn(svc), "SELECT count(*) FROM svcinfra_outbox WHERE sent_at IS NULL")
        return rows[0][0] == 0

    return check


async def test_broker_closed_connections_during_relaying_lose_nothing(svc) -> None:
    """`rabbitmqctl close_connection` on the relay's publisher mid-stream: every row arrives."""
    name = f"{svc.prefix}-relay-publisher"
    ids = await add_many(svc, 400)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL, name=name) as publisher:
        relay = Relay(svc.db, publisher, batch_size=20, poll_interval=0.05)
        async with relaying(relay):
            await msgkit.until(lambda: _at_least(svc.depth(svc.queue), 40))
            closed = await asyncio.to_thread(msgkit.close_connections_named, name)
            await msgkit.until(_all_sent(svc))

    assert closed == 1
    delivered = [m.message_id for m in await svc.take(svc.queue)]
    assert set(delivered) == set(ids)  # a re-publish keeps its id: duplicates, never losses


async def _at_least(value: Any, expected: int) -> bool:
    return await value >= expected


async def test_a_failed_publish_is_released_and_retried_later(svc) -> None:
    """A publish that fails (no exchange) keeps the row unsent with its error, until it works."""
    (mid,) = await add_many(svc, 1)
    channel = await svc.connection.channel()
    await channel.exchange_delete(svc.exchange)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relay = Relay(svc.db, publisher, retry_delay=0.1)
        assert await relay.relay_batch() == 0
        (row,) = await fetch(_dsn(svc), "SELECT last_error, sent_at FROM svcinfra_outbox")
        assert "ExchangeNotFoundError" in row["last_error"]
        assert row["sent_at"] is None
        await declare_topology(svc.connection, Topology.from_contract(svc.contract))
        await msgkit.until(relay.relay_batch)

    assert [m.message_id for m in await svc.take(svc.queue)] == [mid]


async def test_a_relay_that_died_before_marking_is_covered_by_the_next_one(svc) -> None:
    """A batch published but never marked is re-published after its lease, with the same ids."""

    class Crashing(Relay):
        async def _mark_sent(self, ids: list[str]) -> None:  # noqa: ARG002
            raise asyncio.CancelledError  # the process died here

    ids = await add_many(svc, 3)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        with pytest.raises(asyncio.CancelledError):
            await Crashing(svc.db, publisher, lease=0.2).relay_batch()
        survivor = Relay(svc.db, publisher, lease=0.2)
        await msgkit.until(survivor.relay_batch)

    delivered = sorted(m.message_id for m in await svc.take(svc.queue))
    assert delivered == sorted(ids * 2)
    assert uuid.UUID(ids[0]).version == 4


async def test_stop_mid_batch_finishes_the_batch_and_starts_no_other(svc) -> None:
    """Issue 17: a relay stopped at shutdown publishes and marks the batch it claimed.

    The broker is behind a proxy adding 0.1 s a chunk, so `stop` lands while the first batch of
    50 (of 80 rows) is being published: `run` returns once those 50 are confirmed and marked
    sent; the other 30 stay unclaimed for the next relay, and nothing is left half-claimed.
    """
    ids = await add_many(svc, 80)
    async with FaultProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        async with Publisher(svc.contract, url=url) as publisher:
            proxy.latency = 0.1
            relay = Relay(svc.db, publisher, batch_size=50, poll_interval=3600)
            run = asyncio.create_task(relay.run())
            claimed = "SELECT count(*) FROM svcinfra_outbox WHERE claimed_until IS NOT NULL"
            await msgkit.until(lambda: _claimed(svc, claimed))
            relay.stop()
            await asyncio.wait_for(run, timeout=30)

    rows = await fetch(_dsn(svc), "SELECT id, sent_at, claimed_until FROM svcinfra_outbox")
    sent = {str(row["id"]) for row in rows if row["sent_at"] is not None}
    assert len(sent) == 50
    assert sent <= set(ids)
    assert [row for row in rows if row["sent_at"] is None and row["claimed_until"]] == []
    assert await svc.depth(svc.queue) == 50


async def _claimed(svc: msgkit.Service, query: str) -> bool:
    return (await fetch(_dsn(svc), query))[0][0] > 0
