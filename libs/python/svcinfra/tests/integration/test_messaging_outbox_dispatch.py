"""The writer publishes its own outbox rows (`Dispatcher`), on the real database and broker.

Issue 19: a process that commits outbox rows publishes them itself right after the commit, the
rows leased to it and written without the NOTIFY, and hands the relay whatever it could not send.
What must hold (MQ-4..MQ-6, PG-12): every committed row reaches the broker at least once with its
own message_id and correlation_id whatever fails (the broker unreachable, a publish refused, the
connection killed mid-publish, a writer that dies or closes after the commit); nothing is sent
for a transaction that rolls back; no network call happens inside the writer's transaction; a
row the writer sent gets no relay copy; and the writer's marks are batched.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from svcinfra.messaging import (
    BrokerUnavailableError,
    InvalidMessageError,
    PayloadValidationError,
    Publisher,
    declare_topology,
)
from svcinfra.messaging.outbox import Dispatched, Dispatcher, Outbox, OutboxMessage, Relay
from svcinfra.messaging.storage import NOTIFY_CHANNEL
from svcinfra.messaging.topology import Topology
from svcinfra.postgres import Database
from svcinfra.testing import FaultProxy

KIT = str(Path(__file__).parents[1] / "assets" / "messaging")
if KIT not in sys.path:
    sys.path.insert(0, KIT)
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

REGISTERED = msgkit.REGISTERED
ROWS = """
SELECT
    id::text AS id, sent_at, status, attempts, claimed_until,
    coalesce(claimed_until > now(), false) AS leased
FROM svcinfra_outbox
"""


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


def _dsn(svc: msgkit.Service) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{svc.dbname}"


async def rows_of(svc: msgkit.Service) -> dict[str, asyncpg.Record]:
    """Every outbox row by id."""
    return {row["id"]: row for row in await fetch(_dsn(svc), ROWS)}


async def add(svc: msgkit.Service, outbox: Outbox, count: int = 1, **options: Any) -> list[str]:
    """Write `count` events in one transaction through `outbox`; return their ids."""
    async with svc.db.transaction() as tx:
        return [
            await outbox.add(tx, REGISTERED, msgkit.registered(), **options) for _ in range(count)
        ]


async def delivered(svc: msgkit.Service) -> list[str]:
    """The message_ids now in the work queue (taken off it)."""
    return [message.message_id for message in await svc.take(svc.queue)]


@asynccontextmanager
async def dispatching(dispatcher: Dispatcher) -> AsyncIterator[Dispatcher]:
    """Run the dispatcher (`run` connects its publisher) until the block ends, then close it."""
    run = asyncio.create_task(dispatcher.run())
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        await dispatcher.close()
        await asyncio.wait_for(run, timeout=10)


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


@asynccontextmanager
async def notifications(svc: msgkit.Service) -> AsyncIterator[list[str]]:
    """The notifications on the outbox channel while the block runs, as a relay LISTENs."""
    con = await asyncpg.connect(_dsn(svc))
    heard: list[str] = []
    await con.add_listener(NOTIFY_CHANNEL, lambda *args: heard.append(args[-1]))
    try:
        yield heard
    finally:
        await con.close()


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _queries(name: str) -> float:
    """How many times the named query ran, in this process (the database layer's histogram)."""
    return _metric("svcinfra_db_query_duration_seconds_count", query=name)


def _published(svc: msgkit.Service) -> float:
    """Publishes started (once per message) to this test's exchange, by any publisher."""
    return _metric(
        "svcinfra_amqp_messages_published_total", message=REGISTERED, exchange=svc.exchange
    )


def _handed_back() -> float:
    """Rows handed back to the relay by a writer, whatever the reason."""
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "svcinfra_amqp_outbox_handed_back"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("message") == REGISTERED
    )


def _settled(dispatcher: Dispatcher) -> bool:
    """No publish, hand-back or mark running, and no confirmed row waiting for its mark."""
    return dispatcher.in_flight == 0 and not dispatcher._to_mark


def _all_sent(svc: msgkit.Service) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = await fetch(_dsn(svc), "SELECT count(*) FROM svcinfra_outbox WHERE sent_at IS NULL")
        return rows[0][0] == 0

    return check


async def _at_least(value: Awaitable[int], expected: int) -> bool:
    return await value >= expected


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_accepted_row_is_sent_by_its_writer_once_without_notify(svc) -> None:
    """Sent once by its writer, ids kept, marked sent at attempt 1; no NOTIFY, no relay copy."""
    relayed = _metric("svcinfra_amqp_outbox_relayed_total", message=REGISTERED)
    dispatched = _metric("svcinfra_amqp_outbox_dispatched_total", message=REGISTERED)
    async with (
        Publisher(svc.contract, url=msgkit.AMQP_URL, name=f"{svc.prefix}-writer") as publisher,
        Publisher(svc.contract, url=msgkit.AMQP_URL, name=f"{svc.prefix}-relay") as direct,
        dispatching(Dispatcher(svc.db, publisher)) as dispatcher,
        notifications(svc) as heard,
    ):
        relay = Relay(svc.db, direct, listen_dsn=_dsn(svc), poll_interval=0.05)
        outbox = Outbox(svc.contract, dispatcher=dispatcher)
        async with relaying(relay):
            await msgkit.until(lambda: relay.listening and dispatcher.accepting)
            (mid,) = await add(svc, outbox, correlation_id="req-19", headers={"tenant": "acme"})
            await msgkit.until(_all_sent(svc))
            claims = _queries("outbox__claim")
            await msgkit.until(lambda: _queries("outbox__claim") >= claims + 3)  # it looked again
        assert heard == []
        # The listener works: a row written for the relay is heard.
        await add(svc, Outbox(svc.contract))
        await msgkit.until(lambda: heard == [""])

    (message,) = await svc.take(svc.queue)
    assert (message.message_id, message.correlation_id) == (mid, "req-19")
    assert (message.type, message.headers["tenant"]) == (REGISTERED, "acme")
    (row,) = await fetch(_dsn(svc), ROWS + " WHERE id = $1", mid)
    (created,) = await fetch(_dsn(svc), "SELECT created_at FROM svcinfra_outbox WHERE id = $1", mid)
    assert message.headers["outbox-committed-at"] == round(created[0].timestamp() * 1e6)
    assert row["sent_at"] is not None
    assert (row["status"], row["attempts"], row["claimed_until"]) == ("sent", 1, None)
    assert _metric("svcinfra_amqp_outbox_relayed_total", message=REGISTERED) == relayed
    assert _metric("svcinfra_amqp_outbox_dispatched_total", message=REGISTERED) == dispatched + 1


async def test_a_rolled_back_transaction_dispatches_nothing(svc) -> None:
    """A taken row whose transaction rolls back is neither kept nor published nor in flight."""
    async with (
        Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher,
        dispatching(Dispatcher(svc.db, publisher)) as dispatcher,
    ):
        await msgkit.until(lambda: dispatcher.accepting)
        outbox = Outbox(svc.contract, dispatcher=dispatcher)
        published = _published(svc)

        async def fail_after_adding() -> None:
            async with svc.db.transaction() as tx:
                await outbox.add(tx, REGISTERED, msgkit.registered())
                assert dispatcher.in_flight == 0  # nothing leaves before the commit
                raise RuntimeError("the business change failed")

        with pytest.raises(RuntimeError, match="business change"):
            await fail_after_adding()
        assert dispatcher.in_flight == 0
        (mid,) = await add(svc, outbox)
        await msgkit.until(_all_sent(svc))
        await msgkit.until(lambda: _settled(dispatcher))
        assert _published(svc) == published + 1

    assert await delivered(svc) == [mid]
    assert list(await rows_of(svc)) == [mid]


async def test_a_writer_without_a_broker_leaves_its_rows_to_the_relay(svc) -> None:
    """Broker unreachable: not accepting, `add` writes the ordinary row, a relay sends it."""
    down = Publisher(
        svc.contract, url=f"amqp://guest:guest@127.0.0.1:{_free_port()}/", connect_timeout=1.0
    )
    try:
        with pytest.raises(BrokerUnavailableError):
            await down.start()
        dispatcher = Dispatcher(svc.db, down, reconnect_interval=0.05)
        async with dispatching(dispatcher), notifications(svc) as heard:
            attempts = down._connect_attempts
            await msgkit.until(lambda: down._connect_attempts >= attempts + 2)  # run keeps trying
            assert not dispatcher.accepting
            assert not dispatcher.take()
            outbox = Outbox(svc.contract, dispatcher=dispatcher)
            (mid,) = await add(svc, outbox, correlation_id="req-3")
            await msgkit.until(lambda: len(heard) == 1)
            assert dispatcher.in_flight == 0
    finally:
        await down.close()

    row = (await rows_of(svc))[mid]
    assert (row["claimed_until"], row["attempts"], row["sent_at"]) == (None, 0, None)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        assert await Relay(svc.db, publisher).relay_batch() == 1
    (message,) = await svc.take(svc.queue)
    assert (message.message_id, message.correlation_id) == (mid, "req-3")
    assert (await rows_of(svc))[mid]["status"] == "sent"


async def test_a_publish_that_fails_hands_the_row_back_to_the_relay(svc) -> None:
    """A failed publish hands the row back (unleased, NOTIFY); the relay sends it, same id."""
    reason = {"message": REGISTERED, "reason": "ExchangeNotFoundError"}
    handed_back = _metric("svcinfra_amqp_outbox_handed_back_total", **reason)
    async with (
        Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher,
        dispatching(Dispatcher(svc.db, publisher)) as dispatcher,
    ):
        await msgkit.until(lambda: dispatcher.accepting)
        channel = await svc.connection.channel()
        await channel.exchange_delete(svc.exchange)
        await channel.close()
        async with notifications(svc) as heard:
            outbox = Outbox(svc.contract, dispatcher=dispatcher)
            (mid,) = await add(svc, outbox, correlation_id="req-4")
            await msgkit.until(lambda: len(heard) == 1)  # the hand-back's: the add sends none
            await msgkit.until(lambda: _settled(dispatcher))
        row = (await rows_of(svc))[mid]
        assert (row["claimed_until"], row["sent_at"]) == (None, None)
        assert (row["status"], row["attempts"]) == ("pending", 1)  # the writer's attempt
        assert _metric("svcinfra_amqp_outbox_handed_back_total", **reason) == handed_back + 1
        assert publisher.connected
        assert not dispatcher.accepting  # a failure no retry changes pauses the writer

    await declare_topology(svc.connection, Topology.from_contract(svc.contract))
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        assert await Relay(svc.db, publisher).relay_batch() == 1
    (message,) = await svc.take(svc.queue)
    assert (message.message_id, message.correlation_id) == (mid, "req-4")
    row = (await rows_of(svc))[mid]
    assert (row["status"], row["attempts"]) == ("sent", 2)


class _DiedAfterCommit(Dispatcher):
    """A writer whose process died right after the commit, before publishing anything."""

    def dispatch(self, row: Dispatched) -> None:
        pass


async def test_rows_of_a_writer_that_died_after_the_commit_are_sent_after_the_lease(svc) -> None:
    """A dead writer's row is left alone until its lease ends, then relayed with its id."""
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        dead = _DiedAfterCommit(svc.db, publisher, lease=1.0)
        (mid,) = await add(svc, Outbox(svc.contract, dispatcher=dead))
        relay = Relay(svc.db, publisher)
        assert await relay.relay_batch() == 0  # leased to its writer
        assert (await rows_of(svc))[mid]["leased"]
        await msgkit.until(relay.relay_batch)
        await dead.close()

    assert await delivered(svc) == [mid]
    (row,) = await fetch(_dsn(svc), "SELECT created_at, sent_at, attempts FROM svcinfra_outbox")
    assert row["sent_at"] - row["created_at"] >= timedelta(seconds=1)
    assert row["attempts"] == 2


async def test_a_connection_killed_mid_publish_loses_no_row(svc) -> None:
    """Connection killed mid-publish: unconfirmed rows go back unleased; every row arrives, sent."""
    handed_back = _handed_back()
    async with FaultProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        async with (
            Publisher(svc.contract, url=url, deadline=1.0) as publisher,
            dispatching(Dispatcher(svc.db, publisher, max_rate=1000, reconnect_interval=0.1)) as d,
        ):
            outbox = Outbox(svc.contract, dispatcher=d)
            await msgkit.until(lambda: d.accepting)
            ids = await add(svc, outbox)  # the exchange is checked before the latency
            await msgkit.until(_all_sent(svc))
            proxy.latency = 0.1

            async def write(count: int) -> list[str]:
                written: list[str] = []
                for _ in range(count):
                    written += await add(svc, outbox)
                    await asyncio.sleep(0.02)
                return written

            writer = asyncio.create_task(write(20))
            await msgkit.until(lambda: _at_least(svc.depth(svc.queue), 6))
            in_flight = d.in_flight
            await proxy.refuse()
            proxy.reset_all()
            ids += await writer
            await msgkit.until(lambda: _settled(d))
            assert in_flight > 0
            unsent = [row for row in (await rows_of(svc)).values() if row["sent_at"] is None]
            assert unsent  # what was in flight at the cut, and what was written after it
            assert [row["id"] for row in unsent if row["claimed_until"] is not None] == []

    assert _handed_back() > handed_back
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as direct:
        relay = Relay(svc.db, direct, listen_dsn=_dsn(svc), poll_interval=0.05)
        async with relaying(relay):
            await msgkit.until(_all_sent(svc))

    assert len(ids) == 21
    assert set(await delivered(svc)) == set(ids)  # duplicates at most, never a loss
    rows = await rows_of(svc)
    assert set(rows) == set(ids)
    assert {row["status"] for row in rows.values()} == {"sent"}


async def _in_flight_through(
    svc: msgkit.Service, proxy: FaultProxy, dispatcher: Dispatcher, latency: float
) -> tuple[str, list[str]]:
    """One row sent (the exchange checked), then ten publishing behind `latency` seconds."""
    outbox = Outbox(svc.contract, dispatcher=dispatcher)
    (warm,) = await add(svc, outbox)
    await msgkit.until(_all_sent(svc))
    await msgkit.until(lambda: _settled(dispatcher))
    proxy.latency = latency
    published = _published(svc)
    ids = await add(svc, outbox, 10)
    await msgkit.until(lambda: _published(svc) == published + 10)  # all ten are publishing
    assert dispatcher.in_flight == 10
    return warm, ids


async def _after_close(svc: msgkit.Service, dispatcher: Dispatcher) -> str:
    """A closed dispatcher does not accept: `add` writes an ordinary row, with its NOTIFY."""
    assert not dispatcher.accepting
    async with notifications(svc) as heard:
        (late,) = await add(svc, Outbox(svc.contract, dispatcher=dispatcher))
        await msgkit.until(lambda: len(heard) == 1)
    row = (await rows_of(svc))[late]
    assert (row["claimed_until"], row["attempts"]) == (None, 0)
    return late


async def test_close_waits_for_the_publishes_in_flight(svc) -> None:
    """`close` returns once the rows in flight are confirmed and marked; then `add` is ordinary."""
    async with FaultProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        async with Publisher(svc.contract, url=url) as publisher:
            dispatcher = Dispatcher(svc.db, publisher, max_rate=1000, close_timeout=10.0)
            warm, ids = await _in_flight_through(svc, proxy, dispatcher, latency=0.1)
            await dispatcher.close()
            assert dispatcher.in_flight == 0
            rows = await rows_of(svc)  # right after close: nothing more to wait for
            assert {rows[mid]["status"] for mid in ids} == {"sent"}
            assert {rows[mid]["attempts"] for mid in ids} == {1}
            late = await _after_close(svc, dispatcher)

    assert sorted(await delivered(svc)) == sorted([warm, *ids])
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as direct:
        assert await Relay(svc.db, direct).relay_batch() == 1
    assert await delivered(svc) == [late]


async def test_close_cancels_publishes_past_its_timeout_and_leaves_them_leased(svc) -> None:
    """Publishes past `close_timeout` are cancelled, unmarked and leased; the relay sends them."""
    async with FaultProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        async with Publisher(svc.contract, url=url) as publisher:
            dispatcher = Dispatcher(svc.db, publisher, lease=3.0, max_rate=1000, close_timeout=0.2)
            warm, ids = await _in_flight_through(svc, proxy, dispatcher, latency=0.5)
            await dispatcher.close()
            assert dispatcher.in_flight == 0
            rows = await rows_of(svc)
            assert [mid for mid in ids if rows[mid]["sent_at"] is not None] == []
            assert all(rows[mid]["leased"] for mid in ids)
            late = await _after_close(svc, dispatcher)

    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as direct:
        relay = Relay(svc.db, direct, poll_interval=0.05)
        async with relaying(relay):
            await msgkit.until(_all_sent(svc))
    assert set(await delivered(svc)) == {warm, *ids, late}


async def test_a_row_committed_after_close_is_handed_back_at_once(svc) -> None:
    """A row taken before `close` and committed after it is handed back at once, not published."""
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        dispatcher = Dispatcher(svc.db, publisher)
        outbox = Outbox(svc.contract, dispatcher=dispatcher)
        published = _published(svc)
        async with notifications(svc) as heard:
            async with svc.db.transaction() as tx:
                mid = await outbox.add(tx, REGISTERED, msgkit.registered())
                await dispatcher.close()
            await msgkit.until(lambda: len(heard) == 1)
            await msgkit.until(lambda: _settled(dispatcher))
    row = (await rows_of(svc))[mid]
    assert (row["claimed_until"], row["sent_at"], row["attempts"]) == (None, None, 1)
    assert _published(svc) == published
    assert await svc.depth(svc.queue) == 0


async def test_the_rate_bound_takes_one_row_per_fifth_of_a_second(svc) -> None:
    """max_rate=5 takes one row, the next 0.2 s later, a burst of one; the rest is the relay's."""
    now = [0.0]
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        dispatcher = Dispatcher(svc.db, publisher, max_rate=5, clock=lambda: now[0])
        assert dispatcher.accepting
        assert dispatcher.take()
        assert not dispatcher.accepting
        assert not dispatcher.take()
        now[0] = 0.1
        assert not dispatcher.take()
        now[0] = 0.19
        assert not dispatcher.take()
        now[0] = 0.2
        assert dispatcher.take()
        assert not dispatcher.take()
        now[0] = 60.0  # idle: the burst does not grow past one
        assert dispatcher.take()
        assert not dispatcher.take()

        now[0] = 120.0
        outbox = Outbox(svc.contract, dispatcher=dispatcher)
        async with svc.db.transaction() as tx:
            taken = await outbox.add(tx, REGISTERED, msgkit.registered())
            for_relay = await outbox.add(tx, REGISTERED, msgkit.registered())
        await msgkit.until(lambda: _settled(dispatcher))
        await dispatcher.close()

    rows = await rows_of(svc)
    assert (rows[taken]["status"], rows[taken]["attempts"]) == ("sent", 1)
    assert (rows[for_relay]["sent_at"], rows[for_relay]["claimed_until"]) == (None, None)
    assert rows[for_relay]["attempts"] == 0
    assert await delivered(svc) == [taken]


async def test_rows_beyond_max_in_flight_go_to_the_relay(svc) -> None:
    """With max_in_flight publishes hanging the writer does not accept; the row is the relay's."""
    async with FaultProxy("127.0.0.1", 5672) as proxy:
        url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
        async with Publisher(svc.contract, url=url) as publisher:
            dispatcher = Dispatcher(svc.db, publisher, max_in_flight=2, max_rate=1000)
            outbox = Outbox(svc.contract, dispatcher=dispatcher)
            (warm,) = await add(svc, outbox)  # the exchange is checked before the stall
            await msgkit.until(lambda: _settled(dispatcher))
            proxy.stall()
            (first,) = await add(svc, outbox)
            assert dispatcher.accepting
            (second,) = await add(svc, outbox)
            assert dispatcher.in_flight == 2
            assert not dispatcher.accepting
            (third,) = await add(svc, outbox)
            proxy.unstall()
            await msgkit.until(lambda: _settled(dispatcher))
            assert dispatcher.accepting
            await dispatcher.close()

    rows = await rows_of(svc)
    assert {rows[mid]["status"] for mid in (warm, first, second)} == {"sent"}
    assert (rows[third]["sent_at"], rows[third]["claimed_until"]) == (None, None)
    assert rows[third]["attempts"] == 0
    assert sorted(await delivered(svc)) == sorted([warm, first, second])


async def test_the_marks_of_rows_confirmed_together_are_batched(svc) -> None:
    """Thirty rows committed together are marked sent in fewer statements than rows."""
    dispatched = _metric("svcinfra_amqp_outbox_dispatched_total", message=REGISTERED)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        dispatcher = Dispatcher(svc.db, publisher, max_rate=1000)
        outbox = Outbox(svc.contract, dispatcher=dispatcher)
        marks = _queries("outbox__mark_sent")
        ids = await add(svc, outbox, 30)
        await msgkit.until(_all_sent(svc))
        await msgkit.until(lambda: _settled(dispatcher))
        statements = _queries("outbox__mark_sent") - marks
        await dispatcher.close()

    assert 1 <= statements < 30
    rows = await rows_of(svc)
    assert set(rows) == set(ids)
    assert {(row["status"], row["attempts"]) for row in rows.values()} == {("sent", 1)}
    assert sorted(await delivered(svc)) == sorted(ids)
    assert _metric("svcinfra_amqp_outbox_dispatched_total", message=REGISTERED) == dispatched + 30


async def test_close_is_bounded_when_a_mark_hangs(svc) -> None:
    """A mark due while `close` waits for a publish, on a hung database, does not hold `close`
    past its timeout (and a second): it is cancelled, its rows left to their lease."""
    async with (
        FaultProxy("127.0.0.1", 5672) as amqp,
        FaultProxy("127.0.0.1", 5432) as pg,
    ):
        settings = msgkit.settings(svc.dbname, port=pg.port, command_timeout=2.0)
        marks_db = await Database.connect(settings)
        try:
            url = f"amqp://guest:guest@127.0.0.1:{amqp.port}/"
            async with Publisher(svc.contract, url=url) as publisher:
                dispatcher = Dispatcher(
                    marks_db, publisher, max_rate=1000, mark_linger=1.0, close_timeout=2.0
                )
                outbox = Outbox(svc.contract, dispatcher=dispatcher)
                await add(svc, outbox)  # the exchange is checked
                await msgkit.until(lambda: _settled(dispatcher))
                await add(svc, outbox)
                await msgkit.until(lambda: dispatcher._to_mark)  # confirmed; its mark lingers 1 s
                amqp.stall()
                published = _published(svc)
                await add(svc, outbox)
                await msgkit.until(lambda: _published(svc) == published + 1)  # hanging
                pg.stall()  # the mark, due while close waits for that publish, hangs
                started = time.monotonic()
                await dispatcher.close()
                closed_in = time.monotonic() - started
                left_running = dispatcher.in_flight
                pg.unstall()
                amqp.unstall()
                await msgkit.until(lambda: _settled(dispatcher))
        finally:
            await marks_db.close()

    assert left_running <= 1  # the cancelled mark, waiting for the driver to give up
    # Bounded: close does not wait for a query on a hung server to end at its command timeout.
    assert closed_in < 2.0 + 1.5
    assert settings.command_timeout >= 2.0


@asynccontextmanager
async def holding(db: Database, count: int) -> AsyncIterator[None]:
    """`count` other transactions of `db` holding their connections until the block ends."""
    release = asyncio.Event()

    async def hold() -> None:
        async with db.transaction():
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(count)]
    try:
        yield
    finally:
        release.set()
        await asyncio.gather(*tasks)


async def test_a_saturated_process_leaves_its_rows_to_the_relay(svc) -> None:
    """A query waiting for a connection of the pool (the process is saturated): rows go to the
    relay; every connection lent but none awaited, the writer still takes them."""
    small = await Database.connect(msgkit.settings(svc.dbname, pool_max_size=2))
    try:
        async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
            dispatcher = Dispatcher(small, publisher, max_rate=1000)
            outbox = Outbox(svc.contract, dispatcher=dispatcher)
            taken: list[str] = []
            for_relay: list[str] = []
            async with holding(small, 1), small.transaction() as tx:
                await msgkit.until(lambda: small.pool_stats()[2] == 2)
                taken.append(await outbox.add(tx, REGISTERED, msgkit.registered()))  # all lent
                waiting = asyncio.create_task(small.ping(timeout=30))
                await msgkit.until(lambda: small.pool_stats()[3] == 1)
                assert not dispatcher.accepting
                for_relay.append(await outbox.add(tx, REGISTERED, msgkit.registered()))
            await waiting
            assert small.pool_stats()[3] == 0
            assert dispatcher.accepting
            async with small.transaction() as tx:
                taken.append(await outbox.add(tx, REGISTERED, msgkit.registered()))
            await msgkit.until(lambda: _settled(dispatcher))
            await dispatcher.close()
    finally:
        await small.close()

    rows = await rows_of(svc)
    assert set(rows) == {*taken, *for_relay}
    assert {(rows[mid]["status"], rows[mid]["attempts"]) for mid in taken} == {("sent", 1)}
    assert {(rows[mid]["claimed_until"], rows[mid]["attempts"]) for mid in for_relay} == {(None, 0)}
    assert sorted(await delivered(svc)) == sorted(taken)


# --- Outbox.add_many: several rows in one statement (the consumer's recording group) ---


def _many(count: int, **options: Any) -> list[OutboxMessage]:
    return [OutboxMessage(REGISTERED, msgkit.registered(), **options) for _ in range(count)]


async def test_add_many_writes_the_rows_in_one_statement_and_one_notify(svc) -> None:
    """Three rows, one `outbox__add_many` and one NOTIFY; the relay sends each with its ids."""
    async with (
        Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher,
        notifications(svc) as heard,
    ):
        relay = Relay(svc.db, publisher, listen_dsn=_dsn(svc), poll_interval=3600)
        async with relaying(relay):
            await msgkit.until(lambda: relay.listening)
            statements = _queries("outbox__add_many"), _queries("outbox__add")
            async with svc.db.transaction() as tx:
                ids = await Outbox(svc.contract).add_many(
                    tx, _many(3, correlation_id="req-7", headers={"tenant": "acme"})
                )
                assert heard == []  # delivered at the commit, not before
            await msgkit.until(_all_sent(svc))
        assert (_queries("outbox__add_many"), _queries("outbox__add")) == (
            statements[0] + 1, statements[1],
        )  # fmt: skip
        assert heard == [""]

    messages = await svc.take(svc.queue)
    assert sorted(m.message_id for m in messages) == sorted(ids)
    assert len(set(ids)) == 3
    assert {(m.correlation_id, m.type, m.headers["tenant"]) for m in messages} == {
        ("req-7", REGISTERED, "acme")
    }
    rows = await rows_of(svc)
    assert {(r["status"], r["attempts"]) for r in rows.values()} == {("sent", 1)}


async def test_add_many_checks_every_message_before_writing_any(svc) -> None:
    """One bad message among good ones: the error names it, no row and no statement; [] is []."""
    outbox = Outbox(svc.contract)
    statements = _queries("outbox__add_many")
    async with svc.db.transaction() as tx:
        bad = [*_many(2), OutboxMessage(REGISTERED, msgkit.registered(email="nope"))]
        with pytest.raises(PayloadValidationError, match=r"\$\.email"):
            await outbox.add_many(tx, bad)
        reserved = [*_many(1), *_many(1, headers={"retry-count": 1})]
        with pytest.raises(InvalidMessageError, match="reserved"):
            await outbox.add_many(tx, reserved)
        assert await outbox.add_many(tx, []) == []
    assert _queries("outbox__add_many") == statements
    assert await rows_of(svc) == {}


async def test_add_many_leases_what_the_dispatcher_takes_and_leaves_the_rest_to_the_relay(
    svc,
) -> None:
    """The rate bound takes one of three: that row is the writer's, sent once after the commit
    (attempt 1, no NOTIFY for it); the other two are ordinary rows with one NOTIFY. Rolled back,
    a taken row is neither kept nor published."""
    now = [0.0]
    async with (
        Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher,
        notifications(svc) as heard,
    ):
        dispatcher = Dispatcher(svc.db, publisher, max_rate=5, clock=lambda: now[0])
        outbox = Outbox(svc.contract, dispatcher=dispatcher)
        published = _published(svc)

        async def fail_after_adding() -> None:
            async with svc.db.transaction() as tx:
                await outbox.add_many(tx, _many(3))
                raise RuntimeError("the business change failed")

        with pytest.raises(RuntimeError, match="business change"):
            await fail_after_adding()
        assert dispatcher.in_flight == 0
        now[0] = 1.0
        async with svc.db.transaction() as tx:
            taken, *for_relay = await outbox.add_many(tx, _many(3, correlation_id="req-8"))
            assert dispatcher.in_flight == 0  # nothing leaves before the commit
        await msgkit.until(lambda: _settled(dispatcher))
        await dispatcher.close()
        await msgkit.until(lambda: heard == [""])
        assert _published(svc) == published + 1

    rows = await rows_of(svc)
    assert sorted(rows) == sorted([taken, *for_relay])
    assert (rows[taken]["status"], rows[taken]["attempts"]) == ("sent", 1)
    for mid in for_relay:
        assert (rows[mid]["sent_at"], rows[mid]["claimed_until"], rows[mid]["attempts"]) == (
            None, None, 0,
        )  # fmt: skip
    (message,) = await svc.take(svc.queue)
    assert (message.message_id, message.correlation_id) == (taken, "req-8")
