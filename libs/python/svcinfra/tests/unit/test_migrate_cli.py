"""`svcinfra migrate` without a database (PG-3): validate, create, usage errors, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from svcinfra.__main__ import main

GOOSE_STYLE = Path(__file__).parents[1] / "assets" / "migrations" / "goose_style"


@pytest.fixture(name="runner")
def _runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("GOOSE_DBSTRING", "GOOSE_MIGRATION_DIR", "GOOSE_TABLE"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_validate_parses_every_file_without_a_database(runner: CliRunner) -> None:
    """`validate` parses the whole set and exits 0 with no database configured."""
    result = runner.invoke(main, ["migrate", "--dir", str(GOOSE_STYLE), "validate"])
    assert result.exit_code == 0, result.output
    assert "4 migration(s) valid" in result.output


def test_validate_reads_goose_migration_dir(runner: CliRunner) -> None:
    """GOOSE_MIGRATION_DIR is honoured when --dir is not given."""
    result = runner.invoke(
        main, ["migrate", "validate"], env={"GOOSE_MIGRATION_DIR": str(GOOSE_STYLE)}
    )
    assert result.exit_code == 0, result.output


def test_validate_reports_file_and_line_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    """A grammar error exits 1 with `file:line: reason` on stderr."""
    (tmp_path / "3_bad.sql").write_text("-- +goose Up\n-- +goose Up\n", encoding="utf-8")
    result = runner.invoke(main, ["migrate", "--dir", str(tmp_path), "validate"])
    assert result.exit_code == 1
    assert (
        "goose validate: ERROR 3_bad.sql: failed to parse SQL migration file: "
        "3_bad.sql:2: duplicate '-- +goose Up'"
    ) in result.stderr


def test_create_writes_a_skeleton_into_dir(runner: CliRunner, tmp_path: Path) -> None:
    """`create NAME` names the file as goose v3.21.1 did (observed: `_addthings.sql`)."""
    result = runner.invoke(main, ["migrate", "-dir", str(tmp_path), "create", "AddThings", "sql"])
    assert result.exit_code == 0, result.output
    (created,) = tmp_path.iterdir()
    assert created.name.endswith("_addthings.sql")
    assert len(created.name.split("_", 1)[0]) == 14
    assert f"Created new file: {created}" in result.stderr
    assert result.stdout == ""


def test_a_command_needing_the_database_without_a_dsn_is_a_usage_error(
    runner: CliRunner,
    tmp_path: Path,
) -> None:
    """Without --dsn or GOOSE_DBSTRING, `up` exits 2 and says how to give one."""
    result = runner.invoke(main, ["migrate", "--dir", str(tmp_path), "up"])
    assert result.exit_code == 2
    assert "pass DRIVER DBSTRING, --dsn or set GOOSE_DBSTRING" in result.stderr


def test_bad_table_name_is_refused_before_connecting(runner: CliRunner, tmp_path: Path) -> None:
    """An injectable GOOSE_TABLE fails with exit 1 before any connection is tried."""
    result = runner.invoke(
        main,
        ["migrate", "--dir", str(tmp_path), "status"],
        env={"GOOSE_DBSTRING": "postgresql://u:secret@127.0.0.1:1/x", "GOOSE_TABLE": "t; drop"},
    )
    assert result.exit_code == 1
    assert "PG-6" in result.stderr
    assert "secret" not in result.stderr
