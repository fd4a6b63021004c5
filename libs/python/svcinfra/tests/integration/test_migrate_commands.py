"""Every migrate command against the real server, and the goose_db_version goose writes (PG-2).

What goose writes, from its source (`internal/dialects/postgres.go`, `provider_run.go`): the table
`goose_db_version(id integer identity, version_id bigint, is_applied boolean, tstamp timestamp NOT
NULL DEFAULT now())`; at bootstrap one row `(0, true)`; on each Up, inside the migration's own
transaction, one row `(version, true)`; on each Down, `DELETE ... WHERE version_id=$1`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg
import pytest

from svcinfra.postgres.migrate import (
    MigrationFailedError,
    Migrator,
    MissingMigrationsError,
    NoMigrationError,
    VersionTableError,
    load_migrations,
)

pytestmark = pytest.mark.postgres

GOOSE_STYLE = Path(__file__).parents[1] / "assets" / "migrations" / "goose_style"
V = [20260101000001, 20260101000002, 20260101000003, 20260101000004]


def write_set(directory: Path, versions: list[int], *, body: str = "") -> Path:
    """Write `<v>_t<v>.sql` files creating and dropping table t<v>."""
    for v in versions:
        (directory / f"{v}_t{v}.sql").write_text(
            f"-- +goose Up\nCREATE TABLE t{v} (id int);\n{body}\n"
            f"-- +goose Down\nDROP TABLE t{v};\n",
            encoding="utf-8",
        )
    return directory


async def rows(dsn: str, table: str = "goose_db_version") -> list[tuple[int, int, bool]]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            (r["id"], r["version_id"], r["is_applied"])
            for r in await conn.fetch(
                f"SELECT id, version_id, is_applied FROM {table} ORDER BY id",  # noqa: S608  (test's own table name)
            )
        ]
    finally:
        await conn.close()


async def fetchval(dsn: str, query: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query)
    finally:
        await conn.close()


@pytest.fixture(name="goose_style")
def _goose_style(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SVCINFRA_TEST_USERS_COMMENT", "people who sign in")
    return load_migrations(GOOSE_STYLE)


async def test_up_writes_exactly_the_rows_and_table_goose_writes(postgres_db, goose_style) -> None:
    """`up` of the goose-style set leaves goose's table shape and rows (0,true),(v,true)..."""
    results = await Migrator(goose_style, postgres_db.dsn).up()

    assert [r.version for r in results] == V
    assert await rows(postgres_db.dsn) == [(1, 0, True)] + [
        (i + 2, v, True) for i, v in enumerate(V)
    ]
    conn = await asyncpg.connect(postgres_db.dsn)
    try:
        columns = await conn.fetch(
            "SELECT column_name, data_type, is_nullable, column_default, identity_generation "
            "FROM information_schema.columns WHERE table_name = 'goose_db_version' "
            "ORDER BY ordinal_position",
        )
        assert [tuple(c.values()) for c in columns] == [
            ("id", "integer", "NO", None, "BY DEFAULT"),
            ("version_id", "bigint", "NO", None, None),
            ("is_applied", "boolean", "NO", None, None),
            ("tstamp", "timestamp without time zone", "NO", "now()", None),
        ]
        assert (
            await conn.fetchval("SELECT count(*) FROM goose_db_version WHERE tstamp IS NULL") == 0
        )
        # What the files did: plpgsql trigger works, the concurrent index is valid, ENVSUB ran.
        await conn.execute("UPDATE users SET name = 'x'")
        assert await conn.fetchval("SELECT updated_at > created_at FROM users")
        assert await conn.fetchval(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_key'::regclass",
        )
        assert (
            await conn.fetchval("SELECT obj_description('users'::regclass)") == "people who sign in"
        )
        assert (
            await conn.fetchval(
                "SELECT col_description('users'::regclass, 3)",
            )
            == "${not substituted}"
        )
    finally:
        await conn.close()


async def test_down_runs_the_down_section_and_deletes_the_row(postgres_db, goose_style) -> None:
    """`down` undoes the newest migration and deletes its row; no `is_applied=false` row appears."""
    migrator = Migrator(goose_style, postgres_db.dsn)
    await migrator.up()

    results = await migrator.down()

    assert [(r.version, r.direction) for r in results] == [(V[3], "down")]
    assert [v for _, v, _ in await rows(postgres_db.dsn)] == [0, *V[:3]]
    assert await fetchval(postgres_db.dsn, "SELECT obj_description('users'::regclass)") is None
    assert (
        await fetchval(
            postgres_db.dsn, "SELECT count(*) FROM goose_db_version WHERE NOT is_applied"
        )
        == 0
    )


async def test_up_by_one_up_to_and_version(postgres_db, tmp_path: Path) -> None:
    """`up-by-one` applies one, `up-to V` stops at V, `version` reports the latest applied."""
    migrator = Migrator(load_migrations(write_set(tmp_path, [1, 2, 3, 4])), postgres_db.dsn)
    assert await migrator.version() == 0

    assert [r.version for r in await migrator.up_by_one()] == [1]
    assert [r.version for r in await migrator.up_to(3)] == [2, 3]
    assert await migrator.version() == 3
    assert await migrator.up_to(3) == []
    assert [r.version for r in await migrator.up()] == [4]
    with pytest.raises(NoMigrationError, match="no next version to apply: database is at 4"):
        await migrator.up_by_one()


async def test_down_to_redo_and_reset(postgres_db, tmp_path: Path) -> None:
    """`down-to V` keeps V, `redo` re-applies the newest, `reset` undoes everything but row 0."""
    migrator = Migrator(load_migrations(write_set(tmp_path, [1, 2, 3, 4])), postgres_db.dsn)
    await migrator.up()

    assert [r.version for r in await migrator.down_to(2)] == [4, 3]
    redo = await migrator.redo()
    assert [(r.version, r.direction) for r in redo] == [(2, "down"), (2, "up")]
    assert [v for _, v, _ in await rows(postgres_db.dsn)] == [0, 1, 2]
    assert [r.version for r in await migrator.reset()] == [2, 1]
    assert [v for _, v, _ in await rows(postgres_db.dsn)] == [0]
    with pytest.raises(NoMigrationError, match="database is at version 0"):
        await migrator.down()
    with pytest.raises(NoMigrationError, match="no migration to redo"):
        await migrator.redo()


async def test_status_lists_applied_and_pending(postgres_db, tmp_path: Path) -> None:
    """`status` gives every file with its applied time, or pending."""
    migrator = Migrator(load_migrations(write_set(tmp_path, [1, 2])), postgres_db.dsn)
    await migrator.up_by_one()

    status = await migrator.status()

    assert [(s.version, s.name, s.applied) for s in status] == [
        (1, "1_t1.sql", True),
        (2, "2_t2.sql", False),
    ]
    assert isinstance(status[0].applied_at, dt.datetime)
    assert status[1].applied_at is None


async def test_failure_half_way_keeps_earlier_and_leaves_no_trace_of_the_failed_one(
    postgres_db,
    tmp_path: Path,
) -> None:
    """A failing statement rolls its migration back entirely; earlier ones stay applied."""
    write_set(tmp_path, [1, 3])
    (tmp_path / "2_broken.sql").write_text(
        "-- +goose Up\nCREATE TABLE half (id int);\n\nINSERT INTO\n  no_such_table VALUES (1);\n"
        "-- +goose Down\nDROP TABLE half;\n",
        encoding="utf-8",
    )
    migrator = Migrator(load_migrations(tmp_path), postgres_db.dsn)

    with pytest.raises(MigrationFailedError) as caught:
        await migrator.up()

    assert caught.value.source == "2_broken.sql"
    assert caught.value.line == 5  # the statement starts on line 4; the bad name is on line 5
    assert caught.value.sqlstate == "42P01"
    assert '2_broken.sql:5: relation "no_such_table" does not exist' in str(caught.value)
    assert [v for _, v, _ in await rows(postgres_db.dsn)] == [0, 1]
    assert await fetchval(postgres_db.dsn, "SELECT to_regclass('half')") is None
    assert await fetchval(postgres_db.dsn, "SELECT to_regclass('t3')") is None


async def test_out_of_order_files_are_listed_unless_allowed(postgres_db, tmp_path: Path) -> None:
    """A file below the applied maximum fails `up`, naming it; --allow-missing applies it."""
    await Migrator(load_migrations(write_set(tmp_path, [1, 3])), postgres_db.dsn).up()
    migrations = load_migrations(write_set(tmp_path, [2, 4]))

    with pytest.raises(MissingMigrationsError) as caught:
        await Migrator(migrations, postgres_db.dsn).up()
    assert caught.value.files == ("2_t2.sql",)
    assert (
        "found 1 missing (out-of-order) migration lower than the database's current max "
        "version (3): 2_t2.sql" in str(caught.value)
    )
    assert [v for _, v, _ in await rows(postgres_db.dsn)] == [0, 1, 3]

    applied = await Migrator(migrations, postgres_db.dsn, allow_missing=True).up()
    assert [r.version for r in applied] == [2, 4]
    # Down follows application order (id DESC), as goose's Provider does: 4, then 2, then 3.
    assert [r.version for r in await Migrator(migrations, postgres_db.dsn).down_to(1)] == [4, 2, 3]


async def test_pre_3_22_table_shape_is_read_and_written(postgres_db, tmp_path: Path) -> None:
    """A table from goose before v3.22 (serial id, nullable tstamp, false rows) still works."""
    conn = await asyncpg.connect(postgres_db.dsn)
    try:
        await conn.execute(
            "CREATE TABLE goose_db_version (id serial NOT NULL, version_id bigint NOT NULL, "
            "is_applied boolean NOT NULL, tstamp timestamp NULL default now(), PRIMARY KEY(id))",
        )
        # Old goose wrote (v, false) on down; only the newest row of a version counts.
        await conn.execute(
            "INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES "
            "(0, true, NULL), (1, true, NULL), (2, true, now()), (2, false, now())",
        )
        await conn.execute("CREATE TABLE t1 (id int)")
    finally:
        await conn.close()
    migrator = Migrator(load_migrations(write_set(tmp_path, [1, 2, 3])), postgres_db.dsn)

    status = await migrator.status()
    assert [(s.version, s.applied, s.applied_at) for s in status] == [
        (1, True, None),
        (2, False, None),
        (3, False, None),
    ]
    assert [r.version for r in await migrator.up()] == [2, 3]
    assert await migrator.version() == 3
    assert [r.version for r in await migrator.down()] == [3]
    assert [(v, a) for _, v, a in await rows(postgres_db.dsn)] == [
        (0, True),
        (1, True),
        (2, True),
        (2, False),
        (2, True),
    ]


async def test_table_without_the_zero_row_is_refused(postgres_db, tmp_path: Path) -> None:
    """An existing but empty version table is goose's errMissingZeroVersion, not a silent start."""
    conn = await asyncpg.connect(postgres_db.dsn)
    try:
        await conn.execute(
            "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, "
            "is_applied boolean NOT NULL, tstamp timestamp)",
        )
    finally:
        await conn.close()
    with pytest.raises(VersionTableError, match="not even the version-0 bootstrap row"):
        await Migrator(load_migrations(write_set(tmp_path, [1])), postgres_db.dsn).up()


async def test_schema_qualified_table_like_goose_table(postgres_db, tmp_path: Path) -> None:
    """GOOSE_TABLE=schema.table puts the version table in that schema."""
    await fetchval(postgres_db.dsn, "CREATE SCHEMA ops")
    migrator = Migrator(
        load_migrations(write_set(tmp_path, [1])), postgres_db.dsn, table="ops.versions"
    )
    await migrator.up()
    await migrator.up()
    assert [v for _, v, _ in await rows(postgres_db.dsn, "ops.versions")] == [0, 1]
    assert await fetchval(postgres_db.dsn, "SELECT to_regclass('goose_db_version')") is None


async def test_down_of_a_version_without_file_is_refused(postgres_db, tmp_path: Path) -> None:
    """Rolling back an applied version whose file is gone fails before anything runs."""
    await Migrator(load_migrations(write_set(tmp_path, [1, 2])), postgres_db.dsn).up()
    (tmp_path / "2_t2.sql").unlink()
    migrator = Migrator(load_migrations(tmp_path), postgres_db.dsn)
    with pytest.raises(NoMigrationError, match="version 2 is applied but has no file"):
        await migrator.reset()
    assert [v for _, v, _ in await rows(postgres_db.dsn)] == [0, 1, 2]
    # goose's status lists files only (observed, goose v3.21.1); version still reports 2
    assert [(s.version, s.name) for s in await migrator.status()] == [(1, "1_t1.sql")]
    assert await migrator.version() == 2
