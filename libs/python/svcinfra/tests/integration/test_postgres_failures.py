"""Each domain error produced by a real server condition, and recovery afterwards (PG-5, PG-7)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from svcinfra.postgres import (
    Conflict,
    Database,
    InvalidArgument,
    Queries,
    TemporarilyUnavailable,
    Timeout,
    TransactionAborted,
    _database,
)
from svcinfra.testing import FaultProxy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = [pytest.mark.postgres, pytest.mark.postgres_routes]

ASSETS = Path(__file__).parents[1] / "assets" / "queries"
sys.path.insert(0, str(ASSETS))  # the fixture service package and its kit

from pgkit import User, create_schema, good_queries  # noqa: E402  (needs the path above)


@pytest.fixture(name="queries", scope="module")
def _queries() -> Queries:
    return good_queries()


@pytest.fixture(name="schema")
async def _schema(postgres_db):
    await create_schema(postgres_db.dsn)
    return postgres_db


@pytest.fixture(name="db")
async def _db(schema) -> AsyncIterator[Database]:
    db = await Database.connect(schema.settings(statement_timeout=0.3, pool_max_size=2))
    yield db
    await db.close()


@pytest.fixture(name="proxy")
async def _proxy() -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        yield proxy


async def test_unique_violation_is_a_conflict(db: Database, queries: Queries) -> None:
    """A duplicate username raises Conflict with the constraint's name and no value."""
    create = queries.query("users__create")
    await db.one(create, None, "ann", "ann@secret.example", "active", row=User)
    with pytest.raises(Conflict) as caught:
        await db.one(create, None, "ann", "ann@secret.example", "active", row=User)
    error = caught.value
    assert (error.sqlstate, error.constraint, error.query) == (
        "23505",
        "users_username_key",
        "users__create",
    )
    assert "ann" not in str(error)
    assert isinstance(error.__cause__, asyncpg.UniqueViolationError)


async def test_foreign_key_violation_is_a_conflict(db: Database, queries: Queries) -> None:
    """A user in a team that does not exist raises Conflict naming the foreign key."""
    with pytest.raises(Conflict) as caught:
        await db.one(queries.query("users__create"), 99, "bob", "b@x", "active", row=User)
    assert (caught.value.sqlstate, caught.value.constraint) == ("23503", "users_team_id_fkey")


@pytest.mark.parametrize(
    ("name", "args", "sqlstate"),
    [
        ("users__create", (None, "cid", "c@x", "gone"), "23514"),
        ("users__insert_null_email", ("dan",), "23502"),
        ("users__parse_number", ("twelve",), "22P02"),
    ],
    ids=["check", "not-null", "invalid-text"],
)
async def test_bad_data_is_an_invalid_argument(
    db: Database, queries: Queries, name: str, args: tuple[object, ...], sqlstate: str
) -> None:
    """Check, not-null and data-exception errors raise InvalidArgument with their SQLSTATE."""
    query = queries.query(name)
    if query.kind == ":exec":
        call = db.exec(query, *args)
    else:
        call = db.one(query, *args, row=User if name == "users__create" else int)
    with pytest.raises(InvalidArgument) as caught:
        await call
    assert caught.value.sqlstate == sqlstate
    assert "twelve" not in str(caught.value)


async def test_argument_of_the_wrong_type_is_an_invalid_argument(
    db: Database, queries: Queries
) -> None:
    """An argument the driver cannot encode raises InvalidArgument without quoting it."""
    with pytest.raises(InvalidArgument) as caught:
        await db.one(queries.query("users__get_by_id"), "secret-id", row=User)
    assert "secret-id" not in str(caught.value)


async def test_statement_timeout_is_a_timeout(
    db: Database, queries: Queries, postgres_route: str
) -> None:
    """A statement running past statement_timeout raises Timeout: the server's (57014) direct;
    behind a transaction pooler the client's cancel at the same deadline (no startup timeout)."""
    with pytest.raises(Timeout) as caught:
        await db.exec(queries.query("users__sleep"), 5.0)
    assert caught.value.sqlstate == ("57014" if postgres_route == "direct" else None)
    await db.ping(timeout=2)


@dataclass(frozen=True, slots=True)
class Timeouts:
    statement_timeout: str
    idle_in_transaction_session_timeout: str


async def test_server_timeouts_come_from_the_settings(
    schema, queries: Queries, postgres_route: str
) -> None:
    """Every pooled session runs with the configured statement and idle-in-transaction timeouts;
    behind a transaction pooler every transaction does (SET LOCAL), and the server session keeps
    its own defaults outside it."""
    db = await Database.connect(
        schema.settings(statement_timeout=1.5, idle_in_transaction_session_timeout=0.25)
    )
    try:
        async with db.transaction() as tx:
            timeouts = await tx.one(queries.query("session__timeouts"), row=Timeouts)
        assert timeouts == Timeouts("1500ms", "250ms")
        outside = await db.one(queries.query("session__timeouts"), row=Timeouts)
        assert outside == (timeouts if postgres_route == "direct" else Timeouts("0", "0"))
    finally:
        await db.close()


async def test_idle_transaction_is_ended_by_the_server(schema, queries: Queries) -> None:
    """A transaction left idle past idle_in_transaction_session_timeout loses its session: its
    next query raises TemporarilyUnavailable, and the pool serves the next caller (PG-12)."""
    db = await Database.connect(schema.settings(idle_in_transaction_session_timeout=0.2))

    async def idle_in_transaction() -> None:
        async with db.transaction() as tx:
            await tx.one(queries.query("users__count"), row=int)
            await asyncio.sleep(1.0)  # e.g. a network call inside the transaction: PG-12
            await tx.one(queries.query("users__count"), row=int)

    try:
        with pytest.raises(TemporarilyUnavailable):
            await idle_in_transaction()
        assert await db.one(queries.query("users__count"), row=int) == 0
    finally:
        await db.close()


async def test_hung_server_is_a_client_timeout(schema, queries: Queries, proxy: FaultProxy) -> None:
    """When the server stops answering, the command timeout raises Timeout; the pool recovers."""
    db = await Database.connect(
        schema.settings(port=proxy.port, command_timeout=0.3, pool_max_size=1)
    )
    try:
        proxy.stall()
        with pytest.raises(Timeout, match="command timeout"):
            await db.one(queries.query("users__count"), row=int)
        with pytest.raises(TemporarilyUnavailable, match=r"no answer within 0\.3s"):
            await db.ping(timeout=0.3)
        proxy.unstall()
        proxy.reset_all()
        assert await db.one(queries.query("users__count"), row=int) == 0
    finally:
        await db.close(timeout=1)


async def test_terminated_backend_is_temporarily_unavailable(
    db: Database, queries: Queries, postgres_server: str
) -> None:
    """pg_terminate_backend on a pooled connection mid-query raises TemporarilyUnavailable; the
    next query runs on a fresh connection."""
    sleeping = asyncio.create_task(db.exec(queries.query("users__sleep"), 0.25))
    admin = await asyncpg.connect(postgres_server)
    pids: list[asyncpg.Record] = []
    try:
        for _ in range(100):
            pids = await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep%'"
                " AND pid <> pg_backend_pid()",
                db.namespace,
            )
            if pids:
                break
            await asyncio.sleep(0.01)
        assert pids, "the sleeping query never showed in pg_stat_activity"
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pids[0]["pid"])
    finally:
        await admin.close()
    with pytest.raises(TemporarilyUnavailable) as caught:
        await sleeping
    assert caught.value.query == "users__sleep"
    assert await db.one(queries.query("users__count"), row=int) == 0


async def test_exhausted_pool_is_temporarily_unavailable(schema, queries: Queries) -> None:
    """With every connection held, a query waits pool_acquire_timeout and then gives up."""
    db = await Database.connect(
        schema.settings(pool_min_size=1, pool_max_size=1, pool_acquire_timeout=0.2)
    )
    try:
        async with db.transaction() as tx:
            await tx.one(queries.query("users__count"), row=int)
            with pytest.raises(TemporarilyUnavailable, match="pool exhausted"):
                await db.one(queries.query("users__count"), row=int)
            assert db.pool_stats() == (1, 0, 1, 0)
        assert await db.one(queries.query("users__count"), row=int) == 0
    finally:
        await db.close()


async def test_waiters_are_served_in_arrival_order(schema, queries: Queries) -> None:
    """Queries waiting for the only connection get it first come, first served."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    order: list[int] = []

    async def count(number: int) -> None:
        await db.one(queries.query("users__count"), row=int)
        order.append(number)

    try:
        async with db.transaction() as tx:
            tasks = []
            for number in range(5):
                tasks.append(asyncio.create_task(count(number)))
                await asyncio.sleep(0.01)
            assert db.pool_stats()[3] == 5
            await tx.one(queries.query("users__count"), row=int)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]
    finally:
        await db.close()


async def test_cancelled_waiters_lose_no_connection(schema, queries: Queries) -> None:
    """Queries cancelled while waiting for the connection, one of them just as it was handed
    over, leave the pool whole: the next query gets the connection at once."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    count = queries.query("users__count")
    try:
        async with db.transaction() as tx:
            await tx.one(count, row=int)
            early, handed, last = (asyncio.create_task(db.one(count, row=int)) for _ in range(3))
            await asyncio.sleep(0.01)
            assert db.pool_stats()[3] == 3
            early.cancel()
            await asyncio.sleep(0)
            assert db.pool_stats()[3] == 2
        # The transaction's release handed the connection to `handed`, which has not run yet.
        handed.cancel()
        assert await last == 0
        for task in (early, handed):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert await asyncio.wait_for(db.one(count, row=int), 1) == 0
        assert db.pool_stats() == (1, 1, 0, 0)
    finally:
        await db.close()


class CountingReleases:
    """Stands in front of the asyncpg pool and counts the connections released through it."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        self._pool = db._pool
        db._pool = self

    def __getattr__(self, name: str) -> object:
        return getattr(self._pool, name)

    async def release(self, con: object) -> None:
        self.count += 1
        await self._pool.release(con)


async def test_clean_connection_goes_straight_to_the_next_waiter(schema, queries: Queries) -> None:
    """Under contention a query that ended cleanly hands its connection to the oldest waiter,
    in arrival order, without the pool's release and acquire in between."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    releases = CountingReleases(db)
    order: list[int] = []

    async def count(number: int) -> None:
        assert await db.one(queries.query("users__count"), row=int) == 0
        order.append(number)

    try:
        await asyncio.gather(*(count(number) for number in range(20)))
        assert order == list(range(20))
        assert releases.count == 1  # the last query, with nobody left waiting
        assert db.pool_stats() == (1, 1, 0, 0)
    finally:
        await db.close()


async def test_streak_of_hand_overs_is_bounded(
    schema, queries: Queries, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every MAX_STREAK hand-overs the connection goes back through the pool once, so that the
    pool's checks on release (max_queries, expired connections) still run."""
    monkeypatch.setattr(_database, "MAX_STREAK", 3)
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    releases = CountingReleases(db)
    try:
        results = await asyncio.gather(
            *(db.one(queries.query("users__count"), row=int) for _ in range(20))
        )
        assert results == [0] * 20
        assert releases.count == 5  # 1 query from the pool + 3 hand-overs, 5 times
    finally:
        await db.close()


async def test_failed_or_dirty_connection_goes_back_through_the_pool(
    schema, queries: Queries
) -> None:
    """A query that failed or changed the session releases its connection through the pool
    (which resets it) even with queries waiting; the next one gets a clean session."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    releases = CountingReleases(db)
    try:
        failing = db.one(queries.query("users__parse_number"), "x", row=int)
        dirty = db.exec(queries.query("session__set_name"))
        name = db.one(queries.query("session__app_name"), row=str)
        outcomes = await asyncio.gather(failing, dirty, name, return_exceptions=True)
        assert isinstance(outcomes[0], InvalidArgument)
        assert outcomes[2] != "svcinfra_dirty"
        assert releases.count == 3
        assert db.resets == 1
    finally:
        await db.close()


async def test_a_committed_transaction_hands_its_connection_to_the_next_waiter(
    schema, queries: Queries
) -> None:
    """Under contention a transaction that committed hands its connection to the oldest
    waiter, as a clean query does: no pool release and acquire in between. The waiter, a query
    or another transaction, sees the commit and starts outside any transaction."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    releases = CountingReleases(db)
    get, put = queries.query("counters__get"), queries.query("counters__set")

    async def in_a_transaction() -> int:
        async with db.transaction() as tx:
            value = await tx.one(get, 1, row=int)
            await tx.exec(put, 1, value + 1)
            return value + 1

    try:
        async with db.transaction() as tx:
            await tx.exec(put, 1, 7)
            query = asyncio.create_task(db.one(get, 1, row=int))
            transaction = asyncio.create_task(in_a_transaction())
            await asyncio.sleep(0.01)
            assert db.pool_stats()[3] == 2
        assert await query == 7
        assert await transaction == 8
        assert releases.count == 1  # the last one, with nobody left waiting
        assert db.pool_stats() == (1, 1, 0, 0)
        assert await db.one(get, 1, row=int) == 8
    finally:
        await db.close()


async def test_a_rolled_back_transaction_hands_over_a_connection_that_kept_nothing(
    schema, queries: Queries
) -> None:
    """A transaction whose block raised is rolled back; its connection goes to the waiter,
    which sees none of what it wrote."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    releases = CountingReleases(db)
    get, put = queries.query("counters__get"), queries.query("counters__set")
    waiters: list[asyncio.Task[int]] = []

    async def failing() -> None:
        async with db.transaction() as tx:
            await tx.exec(put, 1, 9)
            waiters.append(asyncio.create_task(db.one(get, 1, row=int)))
            await asyncio.sleep(0.01)
            raise RuntimeError("the block failed")

    try:
        with pytest.raises(RuntimeError, match="the block failed"):
            await failing()
        assert await waiters[0] == 0
        assert releases.count == 1
    finally:
        await db.close()


async def test_a_transaction_that_changed_the_session_goes_back_through_the_pool(
    schema, queries: Queries
) -> None:
    """A session `SET` inside a transaction outlives its COMMIT; such a connection is not
    handed over even with a query waiting: the pool resets it first."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    releases = CountingReleases(db)
    try:
        async with db.transaction() as tx:
            await tx.exec(queries.query("session__set_name"))
            name = asyncio.create_task(db.one(queries.query("session__app_name"), row=str))
            await asyncio.sleep(0.01)
            assert db.pool_stats()[3] == 1
        assert await name != "svcinfra_dirty"
        assert db.resets == 1
        assert releases.count == 2
    finally:
        await db.close()


async def test_a_transaction_that_did_not_commit_cleanly_leaves_the_waiter_a_clean_connection(
    schema, queries: Queries
) -> None:
    """A COMMIT that rolled back (a caught error earlier) releases its connection through the
    pool even with a query waiting. A transaction cancelled in the middle of a statement waits
    for the server's cancel before its ROLLBACK (asyncpg does), and only a ROLLBACK that
    succeeded hands the connection over. Either way the waiter gets a working connection outside
    any transaction, which sees nothing of what was written."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    releases = CountingReleases(db)
    get, put = queries.query("counters__get"), queries.query("counters__set")
    waiters: list[asyncio.Task[int]] = []

    async def aborted() -> None:
        async with db.transaction() as tx:
            await tx.exec(put, 1, 5)
            with pytest.raises(InvalidArgument):
                await tx.one(queries.query("users__parse_number"), "x", row=int)
            waiters.append(asyncio.create_task(db.one(get, 1, row=int)))
            await asyncio.sleep(0.01)

    try:
        with pytest.raises(TransactionAborted):
            await aborted()
        assert await waiters[0] == 0
        assert releases.count == 2

        async def sleeping() -> None:
            async with db.transaction() as tx:
                await tx.exec(put, 1, 6)
                await tx.exec(queries.query("users__sleep"), 5)

        task = asyncio.create_task(sleeping())
        await asyncio.sleep(0.2)  # the sleep is running on the server
        second = asyncio.create_task(db.one(get, 1, row=int))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.wait_for(second, 5) == 0
        async with db.transaction() as tx:  # the connection is outside any transaction
            assert await tx.one(get, 1, row=int) == 0
        assert db.pool_stats() == (1, 1, 0, 0)
    finally:
        await db.close()


async def test_streak_of_transaction_hand_overs_is_bounded(
    schema, queries: Queries, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transactions hand a connection over at most MAX_STREAK times in a row, as queries do."""
    monkeypatch.setattr(_database, "MAX_STREAK", 3)
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    releases = CountingReleases(db)

    async def count() -> int:
        async with db.transaction() as tx:
            return await tx.one(queries.query("users__count"), row=int)

    try:
        assert await asyncio.gather(*(count() for _ in range(20))) == [0] * 20
        assert releases.count == 5  # 1 from the pool + 3 hand-overs, 5 times
    finally:
        await db.close()


async def test_stopped_server_is_temporarily_unavailable(
    schema,
    queries: Queries,
    proxy: FaultProxy,
) -> None:
    """With the server gone (connections killed, connects refused) queries and the readiness
    check raise TemporarilyUnavailable; when it is back, queries work again."""
    db = await Database.connect(schema.settings(port=proxy.port, pool_max_size=1))
    count = queries.query("users__count")
    try:
        assert await db.one(count, row=int) == 0
        await proxy.refuse()
        proxy.reset_all()
        for _ in range(2):
            with pytest.raises(TemporarilyUnavailable):
                await db.one(count, row=int)
        with pytest.raises(TemporarilyUnavailable):
            await db.ping(timeout=1)
        await proxy.accept()
        assert await db.one(count, row=int) == 0
    finally:
        await db.close(timeout=1)


async def test_connect_to_a_stopped_server_is_temporarily_unavailable(
    schema,
    proxy: FaultProxy,
) -> None:
    """Opening the pool while the server refuses connections raises TemporarilyUnavailable."""
    await proxy.refuse()
    with pytest.raises(TemporarilyUnavailable, match="cannot open the pool"):
        await Database.connect(schema.settings(port=proxy.port))
