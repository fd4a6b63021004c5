"""Migration files: goose's naming rule, loading from a folder or package data, `create` (PG-3).

A migration is `<version>_<name>.sql` where the version is the text before the first `_`, a
base-10 integer >= 1 (goose `NumericComponent`). Files are ordered by version, numerically.
Loading is all-or-nothing: every file is read and parsed before anything touches a database, so
a broken file later in the set cannot leave a half-applied run behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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

TEMPLATE = "-- +goose Up\nSELECT 'up SQL query';\n\n-- +goose Down\nSELECT 'down SQL query';\n"
"""What `create` writes: goose v3.27's SQL template."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One parsed migration file."""

    version: int
    name: str
    up: tuple[Statement, ...]
    down: tuple[Statement, ...]
    use_tx: bool


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


def load_migrations(
    location: Path | Traversable | str,
    *,
    env: Mapping[str, str] | None = None,
) -> MigrationSet:
    """Read and parse every `*.sql` migration of a folder or of a package-data directory.

    `location` is a path, or a `Traversable` such as
    `importlib.resources.files("users.cli") / "migrations"` (the embedded set a service ships in
    its wheel). Files that are not `.sql` are ignored, except goose's `.go` migrations, which
    cannot run here and are reported.

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
        parsed = _parse_file(entry, env)
        by_version[version] = Migration(
            version=version,
            name=entry.name,
            up=parsed.up,
            down=parsed.down,
            use_tx=parsed.use_tx,
        )
    if problems:
        raise MigrationFileError(f"{root}: " + "; ".join(problems) + " (PG-3)")
    migrations = tuple(by_version[v] for v in sorted(by_version))
    return MigrationSet(location=str(root), migrations=migrations)


def _parse_file(entry: Path | Traversable, env: Mapping[str, str] | None) -> ParsedSQL:
    try:
        text = entry.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationFileError(f"{entry.name}: cannot read: {exc}") from exc
    return parse_sql(text, source=entry.name, env=env)


def snake_case(name: str) -> str:
    """Turn a migration name into goose's file-name form: `AddUsers`, `add users` -> `add_users`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name.strip())
    return re.sub(r"[^0-9A-Za-z]+", "_", spaced).strip("_").lower()


def create_migration(directory: Path, name: str, *, now: datetime | None = None) -> Path:
    """Write `<UTC YYYYMMDDhhmmss>_<name>.sql` with goose's Up/Down skeleton; return its path.

    Raises:
        MigrationFileError: empty name, missing directory, or the file already exists.
    """
    slug = snake_case(name)
    if not slug:
        raise MigrationFileError(f"{name!r}: a migration name needs letters or digits")
    if not directory.is_dir():
        raise MigrationFileError(f"{directory}: migration directory not found")
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime(_TIMESTAMP)
    path = directory / f"{stamp}_{slug}.sql"
    try:
        with path.open("x", encoding="utf-8") as file:
            file.write(TEMPLATE)
    except FileExistsError as exc:
        raise MigrationFileError(f"{path}: already exists") from exc
    return path
