"""`svcinfra migrate` without a database (PG-3): validate, create, usage errors, exit codes."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from svcinfra.__main__ import main
from svcinfra.postgres.migrate._cli import go_duration, go_duration_string, goose_argv

GOOSE_STYLE = Path(__file__).parents[1] / "assets" / "migrations" / "goose_style"


@pytest.fixture(name="runner")
def _runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("GOOSE_DBSTRING", "GOOSE_MIGRATION_DIR", "GOOSE_TABLE", "GOOSE_DRIVER"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_validate_parses_every_file_without_a_database(runner: CliRunner) -> None:
    """`validate` parses the whole set and exits 0 with no database configured, silently."""
    result = runner.invoke(main, ["migrate", "--dir", str(GOOSE_STYLE), "validate"])
    assert result.exit_code == 0, result.output
    assert result.output == ""


def test_validate_verbose_prints_goose_table_on_stdout(runner: CliRunner, tmp_path: Path) -> None:
    """`-v validate` prints goose v3.21.1's table on stdout, byte for byte (observed)."""
    (tmp_path / "00001_a.sql").write_text(
        "-- +goose Up\nSELECT 1;\nSELECT 2;\n-- +goose Down\nSELECT 3;\n", encoding="utf-8"
    )
    (tmp_path / "00002_longer_name.sql").write_text(
        "-- +goose Up\n-- +goose NO TRANSACTION\nCREATE INDEX CONCURRENTLY i ON t (a);\n",
        encoding="utf-8",
    )
    result = runner.invoke(main, ["migrate", "-dir", str(tmp_path), "-v", "validate"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Type   Txn   Up   Down   Name                    \n"
        "────   ───   ──   ────   ────                    \n"
        "sql    ✔     2    1      00001_a.sql             \n"
        "sql    ✘     1    0      00002_longer_name.sql   \n"
    )
    assert result.stderr == ""


def test_validate_reads_goose_migration_dir(runner: CliRunner) -> None:
    """GOOSE_MIGRATION_DIR is honoured when --dir is not given."""
    result = runner.invoke(
        main, ["migrate", "-v", "validate"], env={"GOOSE_MIGRATION_DIR": str(GOOSE_STYLE)}
    )
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2 + 4  # header, rule, the four files


def test_validate_reports_file_and_line_and_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    """A grammar error exits 1 with goose's words, then `file:line: reason`, on stderr."""
    (tmp_path / "3_bad.sql").write_text("-- +goose Up\n-- +goose Up\n", encoding="utf-8")
    result = runner.invoke(main, ["migrate", "--dir", str(tmp_path), "validate"])
    assert result.exit_code == 1
    assert (
        f'goose validate: failed to parse file "{tmp_path}/3_bad.sql": '
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
    (tmp_path / "1_a.sql").write_text("-- +goose Up\nSELECT 1;\n", encoding="utf-8")
    result = runner.invoke(main, ["migrate", "--dir", str(tmp_path), "up"])
    assert result.exit_code == 2
    assert "pass DRIVER DBSTRING, --dsn or set GOOSE_DBSTRING" in result.stderr


def test_bad_table_name_is_refused_before_connecting(runner: CliRunner, tmp_path: Path) -> None:
    """An injectable GOOSE_TABLE fails with exit 1 before any connection is tried."""
    (tmp_path / "1_a.sql").write_text("-- +goose Up\nSELECT 1;\n", encoding="utf-8")
    result = runner.invoke(
        main,
        ["migrate", "--dir", str(tmp_path), "status"],
        env={"GOOSE_DBSTRING": "postgresql://u:secret@127.0.0.1:1/x", "GOOSE_TABLE": "t; drop"},
    )
    assert result.exit_code == 1
    assert "PG-6" in result.stderr
    assert "secret" not in result.stderr


# --- goose's command line (issue 15): Go `flag` rules, then DRIVER DBSTRING COMMAND -------------
@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (
            ["-dir", "m", "postgres", "postgres://h/db", "status"],
            {},
            ["--dir", "m", "--dsn", "postgres://h/db", "status"],
        ),
        (
            ["--dir=m", "-table", "s.v", "-allow-missing", "pgx", "dsn", "up-to", "3"],
            {},
            ["--dir", "m", "--table", "s.v", "--allow-missing", "--dsn", "dsn", "up-to", "3"],
        ),
        (
            ["-s", "-v=true", "-no-versioning=false", "-timeout", "1m", "create", "X", "sql"],
            {},
            ["--sequential", "--verbose", "--timeout", "1m", "create", "X", "sql"],
        ),
        (["-certfile", "ca.pem", "-no-color", "status"], {}, ["status"]),
        (["status"], {"GOOSE_DRIVER": "postgres", "GOOSE_DBSTRING": "dsn"}, ["status"]),
        (["postgres", "status"], {"GOOSE_DBSTRING": "dsn"}, ["status"]),
        (["-dir", "m", "--", "status"], {}, ["--dir", "m", "status"]),
        (["--dsn", "d", "--lock-timeout", "5", "up"], {},
         ["--dsn", "d", "--lock-timeout", "5", "up"]),
    ],
    ids=["goose-form", "equals-and-pgx", "booleans", "mysql-only-ignored", "env-driver",
         "env-dbstring", "end-of-flags", "our-own-options"],
)  # fmt: skip
def test_goose_argv_reads_goose_command_lines(
    argv: list[str], env: dict[str, str], expected: list[str]
) -> None:
    """goose's flags and positionals become this group's options, as Go's flag package reads."""
    assert goose_argv(argv, env) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mysql", "dsn", "up"], "neither a command nor a PostgreSQL driver"),
        (["postgres", "up"], "DRIVER must be followed by DBSTRING"),
        (["-dir"], "flag needs an argument: -dir"),
        (["-v=maybe", "up"], 'invalid boolean value "maybe" for -v'),
    ],
    ids=["other-driver", "no-dbstring", "flag-without-value", "bad-boolean"],
)
def test_goose_argv_refuses_what_goose_refuses(argv: list[str], message: str) -> None:
    """A command line goose cannot run either is a usage error naming what is wrong."""
    with pytest.raises(click.UsageError, match=re.escape(message)):
        goose_argv(argv, {})


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h13m", 4380.0), ("90s", 90.0), ("1.5m", 90.0), ("250ms", 0.25), ("0", 0.0)],
)
def test_timeout_takes_go_durations(text: str, seconds: float) -> None:
    """`-timeout` takes Go's time.ParseDuration syntax."""
    assert go_duration(text) == pytest.approx(seconds)


def test_timeout_refuses_a_bare_number() -> None:
    """Go wants a unit: `-timeout 5` is an error, as in goose."""
    with pytest.raises(click.BadParameter, match="invalid duration"):
        go_duration("5")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.05168, "51.68ms"),  # observed: "OK   1_a.sql (51.68ms)"
        (0.000834674, "834.67µs"),
        (1.234567, "1.23s"),
        (75.5, "1m15.5s"),
        (0.0000005, "500ns"),
    ],
)
def test_durations_print_as_goose_prints_them(seconds: float, text: str) -> None:
    """goose's truncateDuration (two decimals of the unit), then Go's Duration.String."""
    assert go_duration_string(seconds) == text


def test_goose_messages_go_to_stderr_with_the_log_prefix(runner: CliRunner, tmp_path: Path) -> None:
    """`-s create` numbers 00001 and prints goose's line, time-prefixed, on stderr only."""
    (tmp_path / "00001_first.sql").write_text("-- +goose Up\nSELECT 1;\n", encoding="utf-8")
    result = runner.invoke(main, ["migrate", "-dir", str(tmp_path), "-s", "create", "Next Step"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert re.fullmatch(
        rf"\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d Created new file: {re.escape(str(tmp_path))}"
        r"/00002_next_step\.sql\n",
        result.stderr,
    )


def test_unknown_command_is_goose_run_error(runner: CliRunner) -> None:
    """An unknown command after DRIVER DBSTRING exits 1 with goose's words (observed)."""
    result = runner.invoke(main, ["migrate", "postgres", "postgresql://h:1/x", "frob"])
    assert result.exit_code == 1
    assert result.stderr.endswith('goose run: "frob": no such command\n')


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up-to"], "up-to must be of form: goose [OPTIONS] DRIVER DBSTRING up-to VERSION"),
        (["up-to", "x"], "version must be a number (got 'x')"),
        (["down-to"], "down-to must be of form: goose [OPTIONS] DRIVER DBSTRING down-to VERSION"),
        (
            ["create"],
            "create must be of form: goose [OPTIONS] DRIVER DBSTRING create NAME [go|sql]",
        ),
    ],
    ids=["up-to", "up-to-x", "down-to", "create"],
)
def test_missing_arguments_read_as_goose_reads_them(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    """goose's own usage messages and exit status 1 (observed with goose v3.21.1)."""
    result = runner.invoke(main, ["migrate", "-dir", str(tmp_path), "postgres", "dsn", *args])
    assert result.exit_code == 1
    assert result.stderr.endswith(f"goose run: {message}\n")
