"""`svcinfra migrate` and a service's own `migrate` group against the real server (PG-2)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from importlib.resources import files
from pathlib import Path

import asyncpg
import click
import pytest
from click.testing import CliRunner, Result

from svcinfra.__main__ import main
from svcinfra.config import PostgresSettings
from svcinfra.postgres.migrate import Migrator, load_migrations, migrate_group

pytestmark = pytest.mark.postgres

ASSETS = Path(__file__).parents[1] / "assets"
GOOSE_STYLE = ASSETS / "migrations" / "goose_style"


async def invoke(command: click.Command, args: list[str], env: dict[str, str | None]) -> Result:
    """Run the CLI in a thread: its commands call asyncio.run themselves, as from a shell."""
    return await asyncio.to_thread(CliRunner().invoke, command, args, env=env)


async def test_goose_cli_session_with_goose_environment(postgres_db) -> None:
    """up, status, version, down, redo, reset through GOOSE_DBSTRING/DIR/TABLE; exit 0 each.

    Every line is goose v3.21.1's (issue 15), on stderr; stdout has only our log events.
    """
    env: dict[str, str | None] = {
        "GOOSE_DBSTRING": f"host=127.0.0.1 port=5432 user=postgres dbname={postgres_db.name}",
        "GOOSE_MIGRATION_DIR": str(GOOSE_STYLE),
        "GOOSE_TABLE": "goose_db_version",
        "SVCINFRA_TEST_USERS_COMMENT": "from the cli",
    }
    up = await invoke(main, ["migrate", "up"], env)
    assert up.exit_code == 0, up.output
    assert " OK   20260101000003_users_email_index.sql (" in up.stderr
    assert "goose: successfully migrated database to version: 20260101000004" in up.stderr
    assert "OK" not in up.stdout

    status = await invoke(main, ["migrate", "status"], env)
    assert status.exit_code == 0, status.output
    lines = [line[20:] for line in status.stderr.splitlines()]  # after "YYYY/MM/DD HH:MM:SS "
    assert lines[:2] == [
        "    Applied At                  Migration",
        "    =======================================",
    ]
    assert len(lines) == 6
    assert "Pending" not in status.stderr

    for args, expected in [
        (["version"], "goose: version 20260101000004"),
        (["down"], "OK   20260101000004_envsub_comment.sql"),
        (["redo"], "OK   20260101000003_users_email_index.sql"),
        (["up-to", "20260101000004"], "OK   20260101000004_envsub_comment.sql"),
        (["down-to", "20260101000002"], "OK   20260101000003_users_email_index.sql"),
        (["up-by-one"], "OK   20260101000003_users_email_index.sql"),
        (["reset"], "OK   20260101000001_create_users.sql"),
        (["up"], "goose: successfully migrated database to version: 20260101000004"),
        (["up"], "goose: no migrations to run. current version: 20260101000004"),
    ]:
        result = await invoke(main, ["migrate", *args], env)
        assert result.exit_code == 0, (args, result.output)
        assert expected in result.stderr, (args, result.output)


async def test_cli_failure_exits_1_with_file_and_line(postgres_db, tmp_path: Path) -> None:
    """A failing migration exits 1 and prints `file:line: reason [SQLSTATE ...]` on stderr."""
    (tmp_path / "1_bad.sql").write_text("-- +goose Up\nSELECT 1;\nSELEC 2;\n", encoding="utf-8")
    result = await invoke(
        main,
        ["migrate", "--dir", str(tmp_path), "--dsn", postgres_db.dsn, "up"],
        {"GOOSE_DBSTRING": None},
    )
    assert result.exit_code == 1
    assert (
        "goose run: ERROR 1_bad.sql: failed to run SQL migration: "
        '1_bad.sql:3: syntax error at or near "SELEC" [SQLSTATE 42601]'
    ) in result.stderr


async def test_out_of_order_on_cli_needs_allow_missing(postgres_db, tmp_path: Path) -> None:
    """The CLI lists out-of-order files and exits 1; with --allow-missing it applies them."""
    for v in (1, 3):
        (tmp_path / f"{v}_x.sql").write_text("-- +goose Up\nSELECT 1;\n", encoding="utf-8")
    base = ["migrate", "--dir", str(tmp_path), "--dsn", postgres_db.dsn]
    assert (await invoke(main, [*base, "up"], {})).exit_code == 0
    (tmp_path / "2_x.sql").write_text("-- +goose Up\nSELECT 1;\n", encoding="utf-8")

    refused = await invoke(main, [*base, "up"], {})
    assert refused.exit_code == 1
    assert "goose run: error: found 1 missing migrations before current version 3:" in (
        refused.stderr
    )
    assert f"\tversion 2: {tmp_path}/2_x.sql" in refused.stderr  # goose prints dir/file
    allowed = await invoke(main, [*base, "-allow-missing", "up"], {})
    assert allowed.exit_code == 0, allowed.output
    assert "OK   2_x.sql" in allowed.stderr


async def test_server_down_on_cli_exits_1_without_password(tmp_path: Path) -> None:
    """An unreachable server exits 1 with where it tried, and the password masked."""
    (tmp_path / "1_x.sql").write_text("-- +goose Up\nSELECT 1;\n", encoding="utf-8")
    result = await invoke(
        main,
        ["migrate", "--dir", str(tmp_path), "status"],
        {"GOOSE_DBSTRING": "postgresql://postgres:hunter2@127.0.0.1:1/none"},
    )
    assert result.exit_code == 1
    assert "cannot connect to postgresql://postgres:" in result.stderr
    assert "hunter2" not in result.stderr


@pytest.fixture(name="service_cli")
def _service_cli(monkeypatch: pytest.MonkeyPatch, postgres_db) -> click.Group:
    monkeypatch.syspath_prepend(str(ASSETS / "migrate_pkg"))
    sys.modules.pop("svcfixture_migrations.cli", None)
    package = importlib.import_module("svcfixture_migrations.cli")
    settings = PostgresSettings(
        host="127.0.0.1",
        user="postgres",
        password="unused-with-trust-auth",  # noqa: S106  (trust auth on the test server)
        db=postgres_db.name,
        sslmode="disable",
    )

    @click.group()
    def cli() -> None:
        """A service's own CLI."""

    # The three lines a service writes:
    cli.add_command(
        migrate_group(migrations=files(package) / "migrations", settings=lambda: settings)
    )
    return cli


async def test_service_cli_runs_its_embedded_migrations(
    service_cli: click.Group, postgres_db
) -> None:
    """`<svc>-cli migrate up` applies the package-data set using the service's PostgresSettings."""
    result = await invoke(
        service_cli, ["migrate", "up"], {"GOOSE_DBSTRING": None, "GOOSE_MIGRATION_DIR": None}
    )
    assert result.exit_code == 0, result.output
    assert "goose: successfully migrated database to version: 20260202000000" in result.stderr
    conn = await asyncpg.connect(postgres_db.dsn)
    try:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes'"
            )
            == 3
        )
    finally:
        await conn.close()


async def test_migrator_from_settings_with_package_data(
    postgres_db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python API takes a Traversable and PostgresSettings, as a service's start-up would."""
    monkeypatch.syspath_prepend(str(ASSETS / "migrate_pkg"))
    sys.modules.pop("svcfixture_migrations.cli", None)
    package = importlib.import_module("svcfixture_migrations.cli")
    settings = PostgresSettings(
        host="127.0.0.1",
        user="postgres",
        password="x",  # noqa: S106  (trust auth on the test server)
        db=postgres_db.name,
        sslmode="disable",
    )
    migrator = Migrator.from_settings(load_migrations(files(package) / "migrations"), settings)
    assert [r.version for r in await migrator.up()] == [20260201000000, 20260202000000]
    assert migrator.connect_timeout == settings.connect_timeout
