"""The fair gate in front of the pool: first come, first served, and no permit lost (PG-5); and
`Database` handing connections from query to query through it, on a stand-in pool."""

from __future__ import annotations

import asyncio

import pytest

from svcinfra.postgres import Database
from svcinfra.postgres._gate import FairGate
from svcinfra.postgres._loader import parse_file
from svcinfra.postgres._query import Query


async def test_waiters_get_permits_in_arrival_order() -> None:
    """Released permits go to the oldest waiter, and a newcomer cannot overtake the line."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    order: list[int] = []

    async def wait(number: int) -> None:
        await gate.enter()
        order.append(number)
        gate.leave()

    tasks = [asyncio.create_task(wait(n)) for n in range(4)]
    await asyncio.sleep(0)
    assert gate.waiting == 4
    assert not gate.try_enter()
    gate.leave()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]
    assert (gate.free, gate.waiting) == (1, 0)


async def test_timeout_leaves_the_line() -> None:
    """A wait that times out raises TimeoutError and no longer counts as waiting."""
    gate = FairGate(1, timeout=0.01)
    assert gate.try_enter()
    with pytest.raises(TimeoutError):
        await gate.enter()
    assert gate.waiting == 0
    gate.leave()
    assert gate.free == 1


async def test_cancelled_waiter_passes_a_handed_permit_on() -> None:
    """A waiter cancelled just after being handed a permit gives it to the next one."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # hands the permit to `first`, which has not run yet
    first.cancel()
    await second
    assert first.cancelled()
    assert (gate.free, gate.waiting) == (0, 0)
    gate.leave()
    assert gate.free == 1


async def test_cancelled_waiter_leaves_the_line() -> None:
    """A waiter cancelled before its turn is forgotten; the permit goes to the next."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    assert gate.waiting == 1
    gate.leave()
    await second
    assert (gate.free, gate.waiting) == (0, 0)


async def test_join_and_abandon_are_enter_in_two_halves() -> None:
    """The query path awaits `join()`'s future itself: permits still come in arrival order."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    first, second = gate.join(), gate.join()
    assert gate.waiting == 2
    gate.leave()
    assert first.done()
    assert not second.done()
    gate.leave()
    assert second.done()
    gate.leave()
    assert (gate.free, gate.waiting) == (1, 0)


async def test_abandoned_waiter_with_a_permit_passes_it_on() -> None:
    """A waiter handed a permit whose wait was cut short gives the permit to the next in line."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    first, second = gate.join(), gate.join()
    gate.leave()  # to `first`
    gate.abandon(first)  # its wait was cancelled before it ran
    assert second.done()
    assert (gate.free, gate.waiting) == (0, 0)


async def test_abandoned_waiter_without_a_permit_leaves_the_line() -> None:
    """A waiter abandoned before its turn is skipped; the next permit goes to the one behind."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    first, second = gate.join(), gate.join()
    gate.abandon(first)
    assert first.cancelled()
    assert gate.waiting == 1
    gate.leave()
    assert second.done()


async def test_joined_waiter_times_out() -> None:
    """The future of a waiter nobody serves fails with TimeoutError after the gate's timeout."""
    gate = FairGate(1, timeout=0.01)
    assert gate.try_enter()
    waiter = gate.join()
    with pytest.raises(TimeoutError):
        await waiter
    assert gate.waiting == 0


async def test_hand_over_gives_the_item_to_the_oldest_live_waiter() -> None:
    """`hand_over` passes permit and item to the oldest waiter still waiting; with nobody
    waiting it says no and the caller keeps both."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    assert not gate.hand_over("connection")
    gone, first = gate.join(), gate.join()
    gone.cancel()
    assert gate.hand_over("connection")
    assert first.result() == "connection"
    assert (gate.free, gate.waiting) == (0, 0)


async def test_abandon_returns_an_item_it_was_handed() -> None:
    """A waiter whose wait is cut short after an item came returns it to its caller, who owns
    it and the permit; the gate does not pass the permit on by itself then."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    waiter, behind = gate.join(), gate.join()
    assert gate.hand_over("connection")
    assert gate.abandon(waiter) == "connection"
    assert not behind.done()


class FakeRecord(tuple):
    """A one-column stand-in for asyncpg.Record."""

    __slots__ = ()

    def keys(self) -> list[str]:
        return ["n"]


class FakeConnection:
    """What `Database` asks of a pooled connection on the query path."""

    async def fetchrow(self, _sql: str, *_args: object) -> FakeRecord:
        await asyncio.sleep(0)  # a round trip: other tasks run meanwhile
        return FakeRecord((1,))

    def is_closed(self) -> bool:
        return False

    def is_in_transaction(self) -> bool:
        return False


class FakePool:
    """Lends one connection and records what comes back."""

    def __init__(self) -> None:
        self.connection = FakeConnection()
        self.released: list[FakeConnection] = []

    async def acquire(self) -> FakeConnection:
        return self.connection

    async def release(self, con: FakeConnection) -> None:
        self.released.append(con)


def _database() -> tuple[Database, FakePool, Query]:
    db = Database(namespace="app", acquire_timeout=5, max_size=1)
    pool = db._pool = FakePool()
    query = parse_file("-- name: users__count :one\nSELECT 1", source="count.sql")
    assert isinstance(query, Query)
    return db, pool, query


async def test_connection_handed_to_a_cancelled_query_goes_to_the_next() -> None:
    """A query cancelled just as a connection was handed to it passes it to the next in line,
    which runs on it and, with nobody left waiting, releases it to the pool."""
    db, pool, query = _database()
    assert db._gate.try_enter()  # another query holds the only connection
    cut_short = asyncio.create_task(db.one(query, row=int))
    next_one = asyncio.create_task(db.one(query, row=int))
    await asyncio.sleep(0)
    assert db._gate.hand_over((pool.connection, 0))
    cut_short.cancel()
    assert await next_one == 1
    with pytest.raises(asyncio.CancelledError):
        await cut_short
    assert pool.released == [pool.connection]
    assert (db._gate.free, db._gate.waiting) == (1, 0)


async def test_connection_handed_to_a_cancelled_query_alone_goes_back_to_the_pool() -> None:
    """With nobody else waiting, the connection a cancelled query was handed is released to the
    pool and the permit freed: nothing is lost."""
    db, pool, query = _database()
    assert db._gate.try_enter()
    cut_short = asyncio.create_task(db.one(query, row=int))
    await asyncio.sleep(0)
    assert db._gate.hand_over((pool.connection, 0))
    cut_short.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cut_short
    for _ in range(3):
        await asyncio.sleep(0)
    assert pool.released == [pool.connection]
    assert db._gate.free == 1


@pytest.mark.parametrize(("handoff", "releases"), [(True, 1), (False, 2)], ids=["open", "closing"])
async def test_no_hand_over_once_closing(handoff: bool, releases: int) -> None:  # noqa: FBT001  (parametrized)
    """Two queries on one connection: the first hands it to the second, unless the Database is
    closing, when every connection goes back to the pool."""
    db, pool, query = _database()
    db._handoff = handoff  # close() sets it to False before it waits for the pool
    assert await asyncio.gather(db.one(query, row=int), db.one(query, row=int)) == [1, 1]
    assert len(pool.released) == releases
    assert db._gate.free == 1
