"""Migration files: goose's naming rule, loading from a folder or package data, `create` (PG-3).

A migration is `<version>_<name>.sql` where the version is the text before the first `_`, a
base-10 integer >= 1 (goose `NumericComponent`). Files are ordered by version, numerically.
Names and versions are checked for every file when loading, as goose's `CollectMigrations` does.
Parsing is per file and cached: `load_migrations` parses every file at once by default (a service
applying its own set wants all-or-nothing), and with `parse=False` a file is parsed when it is
first run, so `status`, `version` and `up-to` below a broken file work as in goose (issue 15).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import MigrationFileError
from ._parser import ParsedSQL, Statement, parse_sql

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from importlib.resources.abc import Traversable

_VERSION = re.compile(r"[+-]?[0-9]+")
_MAX_VERSION = 2**63 - 1  # goose parses versions as int64
_TIMESTAMP = "%Y%m%d%H%M%S"  # goose's timestampFormat "20060102150405", always UTC since v3.17

TEMPLATE = """-- +goose Up
-- +goose StatementBegin
SELECT 'up SQL query';
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
SELECT 'down SQL query';
-- +goose StatementEnd
"""
"""What `create` writes: goose v3.21's SQL template (`create.go`, `sqlMigrationTemplate`)."""
_SEQUENTIAL = "{:05d}"  # goose's seqVersionTemplate "%05v"


@dataclass(frozen=True, slots=True, eq=False)
class Migration:
    """One migration file; its SQL is parsed (both directions) on first use and cached."""

    version: int
    name: str
    text: str = field(repr=False)
    env: Mapping[str, str] | None = field(default=None, repr=False)
    _parsed: list[ParsedSQL] = field(default_factory=list, repr=False)

    def parse(self) -> ParsedSQL:
        """Parse both directions, as goose's Provider does before running a file.

        Raises:
            MigrationParseError: the file breaks goose's grammar (file and line in the message).
        """
        if not self._parsed:
            self._parsed.append(parse_sql(self.text, source=self.name, env=self.env))
        return self._parsed[0]

    @property
    def up(self) -> tuple[Statement, ...]:
        """The Up statements (parses the file)."""
        return self.parse().up

    @property
    def down(self) -> tuple[Statement, ...]:
        """The Down statements (parses the file)."""
        return self.parse().down

    @property
    def use_tx(self) -> bool:
        """False when the file says `-- +goose NO TRANSACTION` (parses the file)."""
        return self.parse().use_tx


@dataclass(frozen=True, slots=True)
class MigrationSet:
    """Every migration of a folder, ordered by version; versions are unique."""

    location: str
    migrations: tuple[Migration, ...]

    def __iter__(self) -> Iterator[Migration]:
        return iter(self.migrations)

    def __len__(self) -> int:
        return len(self.migrations)

    def get(self, version: int) -> Migration | None:
        """Return the migration with this version, if there is a file for it."""
        for migration in self.migrations:
            if migration.version == version:
                return migration
        return None

    @property
    def versions(self) -> tuple[int, ...]:
        """The versions, ascending."""
        return tuple(m.version for m in self.migrations)


def parse_version(filename: str) -> int:
    """Return the version of a migration file name, as goose's `NumericComponent` does.

    Raises:
        MigrationFileError: no `_`, a non-numeric prefix, or a version below 1.
    """
    prefix, separator, _ = filename.partition("_")
    if not separator:
        raise MigrationFileError(f"{filename}: no '_' after the version (expected V_name.sql)")
    if not _VERSION.fullmatch(prefix):
        raise MigrationFileError(f"{filename}: version {prefix!r} is not an integer (PG-3)")
    version = int(prefix)
    if not 1 <= version <= _MAX_VERSION:
        raise MigrationFileError(f"{filename}: version must be between 1 and {_MAX_VERSION}")
    return version


def load_migrations(  # noqa: C901  (goose's collect rules, one loop)
    location: Path | Traversable | str,
    *,
    env: Mapping[str, str] | None = None,
    parse: bool = True,
) -> MigrationSet:
    """Read and parse every `*.sql` migration of a folder or of a package-data directory.

    `location` is a path, or a `Traversable` such as
    `importlib.resources.files("users.cli") / "migrations"` (the embedded set a service ships in
    its wheel). Files that are not `.sql` are ignored, except goose's `.go` migrations, which
    cannot run here and are reported. With `parse=False` the SQL is parsed when first used.

    Raises:
        MigrationFileError: the folder is missing, a name is wrong or a version repeats.
        MigrationParseError: a file breaks goose's grammar (file and line in the message).
    """
    root: Path | Traversable = Path(location) if isinstance(location, str) else location
    if not root.is_dir():
        raise MigrationFileError(f"{root}: migration directory not found")
    problems: list[str] = []
    by_version: dict[int, Migration] = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.is_file() or not entry.name.endswith((".sql", ".go")):
            continue
        if entry.name.endswith(".go"):
            if entry.name[:1].isdigit():
                problems.append(f"{entry.name}: Go migrations cannot run from Python")
            continue
        try:
            version = parse_version(entry.name)
        except MigrationFileError as exc:
            problems.append(str(exc))
            continue
        if version in by_version:
            problems.append(
                f"{entry.name}: version {version} is also {by_version[version].name}",
            )
            continue
        by_version[version] = Migration(
            version=version,
            name=entry.name,
            text=_read(entry),
            env=env,
        )
    if problems:
        raise MigrationFileError(f"{root}: " + "; ".join(problems) + " (PG-3)")
    migrations = tuple(by_version[v] for v in sorted(by_version))
    if parse:
        for migration in migrations:
            migration.parse()
    return MigrationSet(location=str(root), migrations=migrations)


def _read(entry: Path | Traversable) -> str:
    try:
        return entry.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationFileError(f"{entry.name}: cannot read: {exc}") from exc


def snake_case(name: str) -> str:
    """Turn a migration name into goose's file-name form, as goose's `snakeCase` does.

    Runs of letters and digits are lowercased, each run of other characters becomes one `_`, and
    case changes are not word breaks: `AddThings` -> `addthings`, `add users` -> `add_users`,
    `HTTPServer ID` -> `httpserver_id`. Quirk kept: one trailing separator stays (`a-` -> `a_`),
    two or more are dropped (`a--` -> `a`).
    """
    out: list[str] = []
    state = "idle"
    for char in name:
        alnum = char.isalpha() or char.isnumeric()
        if state in {"idle", "delimiter"}:
            state = "first" if alnum else "idle"
        elif state == "first":
            state = "alnum" if alnum else "delimiter"
        elif not alnum:
            state = "delimiter"
        if state in {"first", "alnum"}:
            out.append(char.lower())
        elif state == "delimiter":
            out.append("_")
    slug = "".join(out)
    return slug.removesuffix("_") if state == "idle" else slug


def _next_sequential(directory: Path) -> str:
    """The version `-s` gives: one above the highest non-timestamp version, from 00001."""
    highest = 0
    for entry in directory.iterdir():
        if not entry.name.endswith((".sql", ".go")):
            continue
        try:
            version = parse_version(entry.name)
        except MigrationFileError:
            continue
        try:
            datetime.strptime(str(version), _TIMESTAMP)  # noqa: DTZ007  (only: is it a date?)
        except ValueError:
            highest = max(highest, version)
        else:
            if len(str(version)) != 14:  # noqa: PLR2004  (goose's layout is 14 digits)
                highest = max(highest, version)
    return _SEQUENTIAL.format(highest + 1)


def create_migration(
    directory: Path,
    name: str,
    *,
    now: datetime | None = None,
    sequential: bool = False,
) -> Path:
    """Write `<UTC YYYYMMDDhhmmss>_<name>.sql` with goose's template; return its path.

    The name is goose's `snakeCase` of `name` (`AddThings` -> `addthings`); `sequential` numbers
    the file `00001`, `00002`, ... as goose's `-s` does.

    Raises:
        MigrationFileError: empty name, missing directory, or the file already exists.
    """
    slug = snake_case(name)
    if not slug:
        raise MigrationFileError(f"{name!r}: a migration name needs letters or digits")
    if not directory.is_dir():
        raise MigrationFileError(f"{directory}: migration directory not found")
    if sequential:
        stamp = _next_sequential(directory)
    else:
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_TIMESTAMP)
    path = directory / f"{stamp}_{slug}.sql"
    try:
        with path.open("x", encoding="utf-8") as file:
            file.write(TEMPLATE)
    except FileExistsError as exc:
        raise MigrationFileError(f"{path}: already exists") from exc
    return path
