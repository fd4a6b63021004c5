"""Migration runs under faults (PG-2): concurrent runners, lock timeout, killed link, no server."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import asyncpg
import pytest

from svcinfra.postgres.migrate import (
    GOOSE_LOCK_ID,
    DatabaseUnavailableError,
    LockTimeoutError,
    Migrator,
    load_migrations,
)
from svcinfra.testing import FaultProxy

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.postgres


def write_set(
    directory: Path, versions: list[int], *, sleep_in: int | None = None, sleep: float = 0.0
) -> Path:
    for v in versions:
        pause = f"SELECT pg_sleep({sleep});\n" if v == sleep_in else ""
        (directory / f"{v}_t{v}.sql").write_text(
            f"-- +goose Up\nCREATE TABLE t{v} (id int);\n{pause}-- +goose Down\nDROP TABLE t{v};\n",
            encoding="utf-8",
        )
    return directory


async def versions(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            r[0] for r in await conn.fetch("SELECT version_id FROM goose_db_version ORDER BY id")
        ]
    finally:
        await conn.close()


async def wait_for_version(dsn: str, version: int, *, limit: float = 10.0) -> None:
    """Poll the table (no timing assertion: just wait until the runner got there)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        conn = await asyncpg.connect(dsn)
        try:
            if await conn.fetchval("SELECT to_regclass('goose_db_version') IS NOT NULL") and (
                await conn.fetchval(
                    "SELECT count(*) FROM goose_db_version WHERE version_id = $1", version
                )
            ):
                return
        finally:
            await conn.close()
        await asyncio.sleep(0.02)
    pytest.fail(f"version {version} was never applied")


async def test_two_concurrent_runners_never_apply_twice(postgres_db, tmp_path: Path) -> None:
    """Two runners at once: one applies all, the other waits for the lock and finds it done."""
    migrations = load_migrations(write_set(tmp_path, [1, 2, 3], sleep_in=2, sleep=0.3))
    first = Migrator(migrations, postgres_db.dsn, lock_poll_interval=0.05)
    second = Migrator(migrations, postgres_db.dsn, lock_poll_interval=0.05)

    results = await asyncio.gather(first.up(), second.up())

    assert sorted(len(r) for r in results) == [0, 3]
    assert await versions(postgres_db.dsn) == [0, 1, 2, 3]


async def test_lock_held_too_long_is_a_clear_timeout(postgres_db, tmp_path: Path) -> None:
    """While another session holds goose's lock id, a runner gives up after its lock timeout."""
    holder = await asyncpg.connect(postgres_db.dsn)
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", GOOSE_LOCK_ID)
        migrator = Migrator(
            load_migrations(write_set(tmp_path, [1])),
            postgres_db.dsn,
            lock_timeout=0.3,
            lock_poll_interval=0.05,
        )
        with pytest.raises(
            LockTimeoutError, match=f"advisory lock {GOOSE_LOCK_ID} for more than 0.3 s"
        ):
            await migrator.up()
    finally:
        await holder.close()
    conn = await asyncpg.connect(postgres_db.dsn)
    try:  # nothing was bootstrapped without the lock
        assert await conn.fetchval("SELECT to_regclass('goose_db_version')") is None
    finally:
        await conn.close()


async def test_up_to_date_runner_does_not_queue_behind_the_lock(
    postgres_db, tmp_path: Path
) -> None:
    """With nothing pending, `up` returns at once even while another runner holds the lock."""
    migrations = load_migrations(write_set(tmp_path, [1]))
    await Migrator(migrations, postgres_db.dsn).up()
    holder = await asyncpg.connect(postgres_db.dsn)
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", GOOSE_LOCK_ID)
        quick = Migrator(migrations, postgres_db.dsn, lock_timeout=0.2, lock_poll_interval=0.05)
        assert await quick.up() == []
        with pytest.raises(LockTimeoutError):
            await quick.status()
    finally:
        await holder.close()


async def test_lock_is_released_after_a_run(postgres_db, tmp_path: Path) -> None:
    """After a run the advisory lock is free again for goose or another runner."""
    await Migrator(load_migrations(write_set(tmp_path, [1])), postgres_db.dsn).up()
    conn = await asyncpg.connect(postgres_db.dsn)
    try:
        assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", GOOSE_LOCK_ID)
    finally:
        await conn.close()


async def test_connection_killed_mid_migration_is_clear_and_table_consistent(
    postgres_db,
    tmp_path: Path,
) -> None:
    """A reset during migration 2 names it; 1 stays applied, 2 left no row; a re-run heals."""
    migrations = load_migrations(write_set(tmp_path, [1, 2, 3], sleep_in=2, sleep=1.0))
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/{postgres_db.name}"
        run = asyncio.create_task(Migrator(migrations, dsn).up())
        await wait_for_version(postgres_db.dsn, 1)
        await asyncio.sleep(0.2)  # migration 2 is inside pg_sleep now
        assert proxy.reset_all() >= 1
        with pytest.raises(DatabaseUnavailableError) as caught:
            await run

    message = str(caught.value)
    assert "connection lost while running 2_t2.sql:" in message
    assert "no version row was written for 2_t2.sql" in message
    assert await versions(postgres_db.dsn) == [0, 1]
    retry = Migrator(migrations, postgres_db.dsn, lock_poll_interval=0.05)
    assert [r.version for r in await retry.up()] == [2, 3]
    assert await versions(postgres_db.dsn) == [0, 1, 2, 3]


async def test_backend_terminated_mid_migration_is_clear(
    postgres_db, postgres_server, tmp_path: Path
) -> None:
    """pg_terminate_backend during a migration gives a clear error and no version row for it."""
    migrations = load_migrations(write_set(tmp_path, [1, 2], sleep_in=2, sleep=5.0))
    run = asyncio.create_task(Migrator(migrations, postgres_db.dsn).up())
    await wait_for_version(postgres_db.dsn, 1)
    admin = await asyncpg.connect(postgres_server)
    try:
        killed = 0
        for _ in range(200):
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND application_name = 'svcinfra-migrate' "
                "AND query LIKE 'SELECT pg_sleep%'",
                postgres_db.name,
            )
            if killed:
                break
            await asyncio.sleep(0.02)
        assert killed == 1
    finally:
        await admin.close()

    with pytest.raises(
        DatabaseUnavailableError, match=r"connection lost while running 2_t2\.sql:3"
    ):
        await run
    assert await versions(postgres_db.dsn) == [0, 1]


async def test_server_down_is_a_clear_error_without_the_password(
    postgres_db, tmp_path: Path
) -> None:
    """With the server refusing connections, the error says where and never shows the password."""
    migrations = load_migrations(write_set(tmp_path, [1]))
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        await proxy.refuse()
        dsn = f"postgresql://postgres:hunter2@127.0.0.1:{proxy.port}/{postgres_db.name}"
        with pytest.raises(
            DatabaseUnavailableError, match="cannot connect to postgresql://"
        ) as caught:
            await Migrator(migrations, dsn).up()
    assert "hunter2" not in str(caught.value)


async def test_hung_server_times_out_on_connect(postgres_db, tmp_path: Path) -> None:
    """A server that accepts but never answers fails after the connect timeout, not forever."""
    migrations = load_migrations(write_set(tmp_path, [1]))
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        proxy.stall()
        dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/{postgres_db.name}"
        with pytest.raises(DatabaseUnavailableError, match=r"no answer within 0\.3 s"):
            await Migrator(migrations, dsn, connect_timeout=0.3).up()
        proxy.unstall()
