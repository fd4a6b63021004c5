"""Migration files (PG-3): goose's naming rule, loading from folders and package data, create."""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from svcinfra.postgres.migrate import (
    MigrationFileError,
    MigrationParseError,
    MigrationStatus,
    VersionTable,
    VersionTableError,
    create_migration,
    load_migrations,
    parse_sql,
    parse_version,
    render_status,
)
from svcinfra.postgres.migrate._connect import normalize_dsn
from svcinfra.postgres.migrate._errors import DatabaseUnavailableError
from svcinfra.postgres.migrate._source import TEMPLATE, snake_case

if TYPE_CHECKING:
    from types import ModuleType

ASSETS = Path(__file__).parents[1] / "assets"
GOOSE_STYLE = ASSETS / "migrations" / "goose_style"
UP_DOWN = "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 2;\n"


def write(directory: Path, files_: dict[str, str]) -> Path:
    for name, text in files_.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("00001_init.sql", 1),
        ("20260822101500_add_users.sql", 20260822101500),
        ("7_a_b_c.sql", 7),
        ("+5_plus.sql", 5),
        ("9223372036854775807_max.sql", 2**63 - 1),
    ],
    ids=["sequential", "timestamp", "underscores", "plus-sign", "int64-max"],
)
def test_version_is_the_number_before_the_first_underscore(name: str, version: int) -> None:
    """The version is the base-10 integer before the first `_`, as goose's NumericComponent."""
    assert parse_version(name) == version


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("init.sql", "no '_'"),
        ("v1_init.sql", "not an integer"),
        ("0_zero.sql", "between 1 and"),
        ("-3_neg.sql", "between 1 and"),
        ("9223372036854775808_big.sql", "between 1 and"),
        ("\u0661_arabic_digit.sql", "not an integer"),
    ],
    ids=["no-separator", "letters", "zero", "negative", "overflow", "non-ascii-digit"],
)
def test_bad_file_names_are_rejected(name: str, message: str) -> None:
    """Names goose cannot version are errors naming the file."""
    with pytest.raises(MigrationFileError, match=message) as caught:
        parse_version(name)
    assert name in str(caught.value)


def test_goose_style_fixture_loads_in_numeric_order() -> None:
    """The goose-style fixture set loads sorted by version, with its NO TRANSACTION file marked."""
    migrations = load_migrations(GOOSE_STYLE, env={})
    assert [m.version for m in migrations] == [20260101000001 + i for i in range(4)]
    assert [m.use_tx for m in migrations] == [True, True, False, True]
    assert len(migrations.migrations[1].up) == 2


def test_versions_sort_numerically_not_lexically(tmp_path: Path) -> None:
    """Version 10 comes after version 9 although "10_" sorts before "9_" as text."""
    write(tmp_path, {"9_nine.sql": UP_DOWN, "10_ten.sql": UP_DOWN, "notes.txt": "ignored"})
    assert load_migrations(tmp_path).versions == (9, 10)


def test_every_bad_name_and_duplicate_is_listed_at_once(tmp_path: Path) -> None:
    """Bad names, duplicate versions and Go migrations are all reported in one error."""
    write(
        tmp_path,
        {
            "1_a.sql": UP_DOWN,
            "01_b.sql": UP_DOWN,
            "init.sql": UP_DOWN,
            "2_go.go": "package migrations",
        },
    )
    with pytest.raises(MigrationFileError) as caught:
        load_migrations(tmp_path)
    message = str(caught.value)
    assert "1_a.sql: version 1 is also 01_b.sql" in message
    assert "init.sql: no '_'" in message
    assert "2_go.go: Go migrations cannot run from Python" in message


def test_a_broken_file_fails_the_whole_load_with_file_and_line(tmp_path: Path) -> None:
    """One file breaking the grammar fails loading, naming that file and its line."""
    write(tmp_path, {"1_ok.sql": UP_DOWN, "2_bad.sql": "-- +goose Up\nSELECT 1\n"})
    with pytest.raises(MigrationParseError, match=r"^2_bad\.sql:2: unfinished SQL statement"):
        load_migrations(tmp_path)


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    """A missing migration directory is reported with its path."""
    with pytest.raises(MigrationFileError, match="migration directory not found"):
        load_migrations(tmp_path / "nope")


@pytest.fixture(name="fixture_package")
def _fixture_package(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(ASSETS / "migrate_pkg"))
    sys.modules.pop("svcfixture_migrations.cli", None)
    return importlib.import_module("svcfixture_migrations.cli")


def test_package_data_loads_through_importlib_resources(fixture_package: ModuleType) -> None:
    """A service's embedded migrations load from a Traversable, as a wheel ships them."""
    migrations = load_migrations(files(fixture_package) / "migrations")
    assert [m.name for m in migrations] == [
        "20260201000000_init.sql",
        "20260202000000_add_author.sql",
    ]


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        # observed with goose v3.21.1 `create NAME sql` (issue 15)
        ("AddThings", "addthings"),
        ("add_more_Things", "add_more_things"),
        ("two words-x.y", "two_words_x_y"),
        ("HTTPServer ID", "httpserver_id"),
        # goose's helpers_test.go, and its trailing-separator quirk
        ("_$$_This is some text, OK?!", "this_is_some_text_ok"),
        ("a-", "a_"),
        ("a--", "a"),
    ],
    ids=["camel", "underscores", "punctuation", "acronym", "goose-test", "one-trailing", "two"],
)
def test_create_snake_cases_the_name(name: str, slug: str) -> None:
    """`create NAME` turns the name into goose's snake_case file-name form."""
    assert snake_case(name) == slug


def test_create_writes_a_utc_timestamped_skeleton_that_parses(tmp_path: Path) -> None:
    """`create` writes `YYYYMMDDhhmmss_name.sql` (UTC) with goose's Up/Down template."""
    now = datetime(2026, 8, 22, 10, 15, 0, tzinfo=UTC)
    path = create_migration(tmp_path, "AddUsers", now=now)
    assert path.name == "20260822101500_addusers.sql"
    assert path.read_text(encoding="utf-8") == TEMPLATE
    parsed = parse_sql(TEMPLATE, env={})
    assert [s.sql for s in parsed.up] == ["SELECT 'up SQL query';"]
    assert [s.sql for s in parsed.down] == ["SELECT 'down SQL query';"]
    with pytest.raises(MigrationFileError, match="already exists"):
        create_migration(tmp_path, "addUsers", now=now)


def test_create_rejects_an_empty_name(tmp_path: Path) -> None:
    """A name without letters or digits cannot make a file name."""
    with pytest.raises(MigrationFileError, match="needs letters or digits"):
        create_migration(tmp_path, " -- ")


@pytest.mark.parametrize(
    "name",
    ["goose_db_version", "custom.versions", "_v1"],
    ids=["default", "schema-qualified", "underscore"],
)
def test_table_names_goose_accepts_are_accepted(name: str) -> None:
    """Plain and schema-qualified identifiers are valid version table names."""
    assert VersionTable(name).name == name


@pytest.mark.parametrize(
    "name",
    ["goose; DROP TABLE users", 'a"b', "a.b.c", "1table", ""],
    ids=["injection", "quote", "three-parts", "digit-first", "empty"],
)
def test_table_names_that_could_inject_sql_are_refused(name: str) -> None:
    """The table name goes into SQL unquoted, so anything but an identifier is refused (PG-6)."""
    with pytest.raises(VersionTableError, match="PG-6"):
        VersionTable(name)


@pytest.mark.parametrize(
    ("dsn", "url"),
    [
        ("postgresql://u:p@h:5/d", "postgresql://u:p@h:5/d"),
        (
            "host=db port=6432 user=app password='p w' dbname=app sslmode=disable",
            "postgresql://app:p%20w@db:6432/app?sslmode=disable",
        ),
        ("host=localhost dbname=test", "postgresql://localhost:5432/test"),
    ],
    ids=["url", "key-value", "no-user"],
)
def test_goose_dbstring_forms_become_urls(dsn: str, url: str) -> None:
    """GOOSE_DBSTRING may be a URL or libpq key=value pairs; both become a URL for asyncpg."""
    assert normalize_dsn(dsn) == url


def test_unknown_dsn_keys_are_refused_without_echoing_the_password() -> None:
    """A DSN with an unsupported key fails with the key's name, never the password."""
    with pytest.raises(DatabaseUnavailableError, match="'frobnicate'") as caught:
        normalize_dsn("password=hunter2 frobnicate=1")
    assert "hunter2" not in str(caught.value)


def test_status_renders_goose_table() -> None:
    """`status` renders goose v3.21.1's lines (observed): ANSIC time or Pending, then the file."""
    applied = datetime(2026, 1, 2, 3, 4, 5)  # noqa: DTZ001  (goose's tstamp column is naive)
    text = render_status(
        [
            MigrationStatus(1, "00001_a.sql", applied, applied=True),
            MigrationStatus(2, "00002_bb.sql", None, applied=False),
        ],
    )
    assert text.splitlines() == [
        "    Applied At                  Migration",
        "    =======================================",
        "    Fri Jan  2 03:04:05 2026 -- 00001_a.sql",
        "    Pending                  -- 00002_bb.sql",
    ]
