"""Each migration runs in a session that carries nothing of the one before it (PG-2, issue 14).

The shipped outbox/inbox migrations limit themselves with `SET LOCAL lock_timeout` /
`statement_timeout`, which end with their transaction; and `Migrator` runs every file on a fresh
connection while the run's first connection holds the advisory lock, so even a user's
session-level `SET` stops at the end of its file.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncpg
import pytest

from svcinfra.messaging.storage import migrations
from svcinfra.postgres.migrate import Migrator, load_migrations

if TYPE_CHECKING:
    from pathlib import Path

    from svcinfra.testing.pytest_plugin import PostgresDatabase

pytestmark = pytest.mark.postgres

# the user's files come right after the newest shipped one
BACKFILL = 1 + max(
    int(item.name.split("_", 1)[0]) for item in migrations().iterdir() if item.name.endswith(".sql")
)
SHIPPED_TIMEOUT_S = 5  # the shipped files' `SET LOCAL statement_timeout = '5s'`


def shipped_then(directory: Path, files: dict[int, str]) -> Path:
    """The library's outbox and inbox migrations, then `files` (version -> Up body)."""
    for item in migrations().iterdir():
        if item.name.endswith(".sql"):
            (directory / item.name).write_text(item.read_text(encoding="utf-8"), encoding="utf-8")
    for version, body in files.items():
        (directory / f"{version}_user_{version}.sql").write_text(
            f"-- +goose Up\n{body}\n-- +goose Down\nSELECT 1;\n", encoding="utf-8"
        )
    return directory


async def test_a_long_migration_after_the_shipped_ones_is_not_cut_short(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    """A backfill longer than the shipped files' 5 s statement_timeout, right after them, runs
    to the end (it failed with `statement timeout` when their `SET` was session-level)."""
    folder = shipped_then(tmp_path, {BACKFILL: f"SELECT pg_sleep({SHIPPED_TIMEOUT_S + 1});"})
    results = await Migrator(load_migrations(folder), postgres_db.dsn).up()
    assert [r.version for r in results][-1] == BACKFILL
    assert results[-1].duration_s > SHIPPED_TIMEOUT_S


async def test_a_users_session_set_stops_at_the_end_of_its_file(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    """A user's migration with a session-level `SET statement_timeout = '1s'` does not cut the
    next, longer one short; nor do its `search_path`, custom GUC and temp table reach it."""
    folder = shipped_then(
        tmp_path,
        {
            BACKFILL: "SET statement_timeout = '1s';\nSET search_path = pg_temp, public;\n"
            "SELECT set_config('app.step', 'first', false);\n"
            "CREATE TEMP TABLE leftover (id int);",
            BACKFILL + 1: "SELECT pg_sleep(1.5);\n"
            "CREATE TABLE public.seen AS SELECT current_setting('statement_timeout') AS timeout,\n"
            "    current_setting('search_path') AS path,\n"
            "    coalesce(current_setting('app.step', true), '') AS step,\n"
            "    to_regclass('pg_temp.leftover') IS NULL AS no_temp;",
        },
    )
    await Migrator(load_migrations(folder), postgres_db.dsn).up()
    conn = await asyncpg.connect(postgres_db.dsn)
    try:
        fresh = await conn.fetchrow(
            "SELECT current_setting('statement_timeout') AS timeout, "
            "current_setting('search_path') AS path"
        )
        seen = await conn.fetchrow("SELECT timeout, path, step, no_temp FROM seen")
    finally:
        await conn.close()
    assert (seen["timeout"], seen["path"]) == (fresh["timeout"], fresh["path"])
    assert seen["step"] == ""
    assert seen["no_temp"] is True


async def test_create_index_concurrently_after_them_waits_and_is_valid(
    postgres_db: PostgresDatabase, tmp_path: Path
) -> None:
    """A `NO TRANSACTION` `CREATE INDEX CONCURRENTLY` after the shipped files and a user's
    session-level `SET statement_timeout = '300ms'` waits for an older transaction as long as
    it takes and leaves a valid index (a leaked timeout cancelled it, leaving it INVALID)."""
    folder = shipped_then(
        tmp_path,
        {
            BACKFILL: "CREATE TABLE events (id int, kind text);\n"
            "INSERT INTO events SELECT g, 'k' FROM generate_series(1, 1000) g;\n"
            "SET statement_timeout = '300ms';",
        },
    )
    (folder / f"{BACKFILL + 1}_index.sql").write_text(
        "-- +goose NO TRANSACTION\n-- +goose Up\n"
        "CREATE INDEX CONCURRENTLY events_kind ON events (kind);\n"
        "-- +goose Down\nDROP INDEX CONCURRENTLY events_kind;\n",
        encoding="utf-8",
    )
    migrator = Migrator(load_migrations(folder), postgres_db.dsn)
    older = await asyncpg.connect(postgres_db.dsn)
    watcher = await asyncpg.connect(postgres_db.dsn)  # pg_stat_activity is frozen in a transaction
    try:
        # A transaction with a snapshot, older than the index build: CIC must wait for it. All
        # the files run in one `up`, so the SET of the one before shares its run.
        snapshot = older.transaction(isolation="repeatable_read")
        await snapshot.start()
        await older.fetchval("SELECT 1")
        run = asyncio.create_task(migrator.up())
        async with asyncio.timeout(10):
            while not await watcher.fetchval(  # noqa: ASYNC110  (the server has no event for it)
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'"
            ):
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)  # twice the leaked timeout: the build must still be waiting
        if run.done():  # cancelled by a timeout the run carried over
            raise AssertionError(f"the index build ended early: {run.exception()!r}")
        await snapshot.commit()
        results = await run
        valid = await watcher.fetchval(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'events_kind'::regclass"
        )
    finally:
        await older.close()
        await watcher.close()
    assert [r.version for r in results][-2:] == [BACKFILL, BACKFILL + 1]
    assert valid is True
