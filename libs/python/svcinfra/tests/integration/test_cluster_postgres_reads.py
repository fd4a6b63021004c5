"""Reads declared `-- route: standby` on a real streaming standby (issue 20, read routing).

A `PrivatePostgres` primary and its standby (`pg_basebackup`, streaming), one multi-host
`POSTGRES_HOST` and `POSTGRES_STANDBY_READS=true`: the declared reads run on the standby, every
other query and every transaction on the primary; a standby that stops sends its reads to the
primary (counted, nothing raised) and gets them back once it is up. The replication delay a
routed read can show is measured and printed (docs/clusters.md quotes it).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg
import pytest
from prometheus_client import REGISTRY
from pydantic import SecretStr

from svcinfra.config import PostgresSettings
from svcinfra.postgres import Database, NotFound, Query
from svcinfra.postgres import _database as database_module
from svcinfra.postgres._loader import parse_file
from svcinfra.testing import PrivatePostgres, free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

pytestmark = [pytest.mark.postgres]

DB = "reads"


def _query(text: str) -> Query:
    query = parse_file(text, source="probe/sql/q.sql", folder="probe")
    assert isinstance(query, Query)
    return query


WHERE_ROUTED = _query(
    "-- name: probe__where_routed :one\n-- route: standby\nSELECT pg_is_in_recovery() AS standby\n"
)
WHERE_PLAIN = _query("-- name: probe__where_plain :one\nSELECT pg_is_in_recovery() AS standby\n")
GET_ROUTED = _query(
    "-- name: probe__get :one\n-- route: standby\nSELECT id, body FROM items WHERE id = $1\n"
)
ADD = _query("-- name: probe__add :exec\nINSERT INTO items (id, body) VALUES ($1, $2)\n")


@dataclass(frozen=True, slots=True)
class Where:
    """Whether the query ran on a server in recovery."""

    standby: bool


@dataclass(frozen=True, slots=True)
class Item:
    """A row of `items`."""

    id: int
    body: str


@pytest.fixture(name="pair", scope="module")
def _pair() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    with PrivatePostgres(free_port()) as primary:
        asyncio.run(_create(primary))
        with primary.standby(free_port()) as standby:
            yield primary, standby


async def _create(primary: PrivatePostgres) -> None:
    admin = await asyncpg.connect(primary.dsn)
    try:
        await admin.execute(f"CREATE DATABASE {DB}")
    finally:
        await admin.close()
    con = await asyncpg.connect(primary.dsn_for(DB))
    try:
        await con.execute("CREATE TABLE items (id bigint PRIMARY KEY, body text NOT NULL)")
    finally:
        await con.close()


def _settings(
    pair: tuple[PrivatePostgres, PrivatePostgres], **overrides: object
) -> PostgresSettings:
    primary, standby = pair
    values: dict[str, object] = {
        "host": f"127.0.0.1:{primary.port},127.0.0.1:{standby.port}",
        "user": "postgres",
        "password": SecretStr(""),
        "db": DB,
        "sslmode": "disable",
        "standby_reads": True,
        "connect_timeout": 2.0,
    }
    return PostgresSettings.model_validate(values | overrides)


@pytest.fixture(name="db")
async def _db(pair: tuple[PrivatePostgres, PrivatePostgres]) -> AsyncIterator[Database]:
    db = await Database.connect(_settings(pair))
    try:
        yield db
    finally:
        await db.close()


def _fallbacks(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "svcinfra_db_standby_fallbacks_total", {"db": DB, "reason": reason}
    )
    return value or 0.0


async def test_declared_reads_run_on_the_standby_and_the_rest_on_the_primary(db: Database) -> None:
    """The declaration routes; without it, and inside any transaction, the primary answers."""
    assert (await db.one(WHERE_ROUTED, row=Where)).standby is True
    assert (await db.one(WHERE_PLAIN, row=Where)).standby is False
    async with db.transaction(readonly=True) as tx:
        # Read-your-writes inside a transaction: it is one connection, to the primary.
        assert (await tx.one(WHERE_ROUTED, row=Where)).standby is False


async def test_without_the_setting_a_declared_read_runs_on_the_primary(
    pair: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    """The declaration is a permission, not an order: off by default, every read is primary."""
    db = await Database.connect(_settings(pair, standby_reads=False))
    try:
        assert (await db.one(WHERE_ROUTED, row=Where)).standby is False
    finally:
        await db.close()


async def test_the_replication_delay_a_routed_read_can_show(db: Database) -> None:
    """A row committed on the primary, then read through the standby until it shows: the
    window in which a routed read is stale. Printed, not asserted (no timing in tests); the
    test checks that every row does show and that the stale answers were `NotFound`."""
    windows: list[float] = []
    stale = 0
    for item_id in range(1, 201):
        await db.exec(ADD, item_id, f"body {item_id}")
        committed = time.perf_counter()
        while True:
            try:
                item = await db.one(GET_ROUTED, item_id, row=Item)
            except NotFound:
                stale += 1
                if time.perf_counter() - committed > 10:
                    pytest.fail(f"row {item_id} did not reach the standby within 10 s")
                await asyncio.sleep(0)
                continue
            assert item.body == f"body {item_id}"
            windows.append((time.perf_counter() - committed) * 1000)
            break
    windows.sort()
    print(  # noqa: T201  (docs/clusters.md quotes it; -s shows it)
        f"\nstandby read after a commit: p50 {statistics.median(windows):.2f} ms, "
        f"p99 {windows[int(len(windows) * 0.99) - 1]:.2f} ms, max {windows[-1]:.2f} ms; "
        f"{stale} stale answers (NotFound) over {len(windows)} rows"
    )


async def test_a_stopped_standby_sends_its_reads_to_the_primary_and_gets_them_back(
    pair: tuple[PrivatePostgres, PrivatePostgres],
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kill the standby mid-use: reads keep answering (from the primary, counted), nothing is
    raised; once it is up again and the rest period is over, reads go back to it."""
    monkeypatch.setattr(database_module, "STANDBY_RETRY", 0.5)
    _, standby = pair
    assert (await db.one(WHERE_ROUTED, row=Where)).standby is True
    unavailable, resting = _fallbacks("unavailable"), _fallbacks("resting")
    standby.kill()
    try:
        answers = [(await db.one(WHERE_ROUTED, row=Where)).standby for _ in range(20)]
        assert answers == [False] * 20  # every read answered, by the primary
        assert _fallbacks("unavailable") > unavailable  # the connection it held broke
        assert _fallbacks("resting") > resting  # then the standby was left alone
        await asyncio.sleep(0.6)
        # The rest is over, the standby still down: one more try, a refused connect, primary.
        assert (await db.one(WHERE_ROUTED, row=Where)).standby is False
    finally:
        await asyncio.to_thread(standby.start)
    deadline = time.monotonic() + 30
    while not (await db.one(WHERE_ROUTED, row=Where)).standby:
        assert time.monotonic() < deadline, "reads did not go back to the restarted standby"
        await asyncio.sleep(0.2)
