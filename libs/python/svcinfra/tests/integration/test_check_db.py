"""`svcinfra check --db`: migrate a temporary database and PREPARE every query for real."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from pathlib import Path

import asyncpg
import pytest
import structlog
from click.testing import CliRunner

from svcinfra.check import DatabaseCheckError, run_check
from svcinfra.check._cli import check

ASSETS = Path(__file__).parents[1] / "assets" / "check"
P = "services/internal/users/src/users"
SQL = f"{P}/repository/postgres/users/sql"

pytestmark = pytest.mark.postgres


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(ASSETS / "good", repo)
    return repo


async def _check_databases(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database")
    finally:
        await conn.close()
    return {row["datname"] for row in rows if row["datname"].startswith("svcinfra_check_")}


def test_good_queries_prepare(postgres_server: str, tmp_path: Path) -> None:
    """The good repo's queries prepare on its migrated schema and map onto User exactly."""
    report = run_check(_repo(tmp_path), select=["query-prepares"], dsn=postgres_server)
    assert report.findings == ()
    assert report.results[0].checked == 2


def test_json_output_is_only_the_report(postgres_server: str, tmp_path: Path) -> None:
    """With --db, stdout is the JSON report alone: the migrations applied log nothing there."""
    structlog_config, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        result = CliRunner().invoke(
            check,
            [str(_repo(tmp_path)), "--format", "json", "--db", postgres_server],
            catch_exceptions=False,
        )
    finally:  # the command configures logging for its process: leave the next tests theirs
        structlog.configure(**structlog_config)
        root.handlers = handlers
        root.setLevel(level)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "migrate.applied" not in result.stdout


def test_bad_queries_are_reported(postgres_server: str, tmp_path: Path) -> None:
    """Unknown column, wrong parameter count and a column set that is not the dataclass's."""
    repo = _repo(tmp_path)
    (repo / SQL / "get_by_id.sql").write_text(
        "-- name: users__get_by_id :one\nSELECT id, email FROM users WHERE id = $1;\n"
    )
    (repo / SQL / "by_email.sql").write_text(
        "-- name: users__by_email :many\nSELECT id, mail FROM users WHERE email = $1;\n"
    )
    (repo / SQL / "create.sql").write_text(
        "-- name: users__create :one\n"
        "INSERT INTO users (email) VALUES ($1) RETURNING id, email, created_at, $2::text AS x;\n"
    )
    report = run_check(repo, select=["query-prepares"], dsn=postgres_server)
    got = {(f.rule, f.path.replace(P, "P"), f.line) for f in report.findings}
    assert got == {
        ("PG-10", "P/repository/postgres/users/sql/by_email.sql", 2),
        ("PG-8", "P/repository/postgres/users/sql/get_by_id.sql", 1),
        ("PG-8", "P/repository/postgres/users/sql/create.sql", 1),
        ("PG-6", "P/repository/postgres/users/repository.py", 22),
    }
    messages = " ".join(f.message for f in report.findings)
    assert "42703" in messages
    assert asyncio.run(_check_databases(postgres_server)) == set()


def test_unreachable_server_is_a_configuration_error(tmp_path: Path) -> None:
    """--db with a server that does not answer exits 2 (DatabaseCheckError), not 1."""
    with pytest.raises(DatabaseCheckError, match="cannot connect"):
        run_check(
            _repo(tmp_path), select=["query-prepares"], dsn="postgresql://postgres@127.0.0.1:1/x"
        )
