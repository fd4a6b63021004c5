"""goose-compatible SQL migrations: same files, same `goose_db_version`, same lock (PG-2, PG-3).

A Go service running goose and a Python service running this take turns on one database:

    migrations = load_migrations(files("users.cli") / "migrations")   # or a Path
    await Migrator.from_settings(migrations, config.postgres).up()

The CLI (`svcinfra migrate ...`, or `migrate_group(...)` in a service's own CLI) offers goose's
commands: up, up-by-one, up-to, down, down-to, redo, reset, status, version, create, validate.
"""

from ._cli import migrate, migrate_group, render_status
from ._connect import GOOSE_LOCK_ID
from ._errors import (
    DatabaseUnavailableError,
    LockTimeoutError,
    MigrateError,
    MigrationFailedError,
    MigrationFileError,
    MigrationParseError,
    MigrationSourceError,
    MigrationStateError,
    MissingMigrationsError,
    NoMigrationError,
    PoolerError,
    VersionTableError,
)
from ._migrator import MigrationResult, MigrationStatus, Migrator
from ._parser import ParsedSQL, Statement, ends_with_semicolon, parse_direction, parse_sql
from ._source import (
    Migration,
    MigrationSet,
    create_migration,
    load_migrations,
    parse_version,
)
from ._store import DEFAULT_TABLE, AppliedVersion, DatabaseState, VersionTable

__all__ = [
    "DEFAULT_TABLE",
    "GOOSE_LOCK_ID",
    "AppliedVersion",
    "DatabaseState",
    "DatabaseUnavailableError",
    "LockTimeoutError",
    "MigrateError",
    "Migration",
    "MigrationFailedError",
    "MigrationFileError",
    "MigrationParseError",
    "MigrationResult",
    "MigrationSet",
    "MigrationSourceError",
    "MigrationStateError",
    "MigrationStatus",
    "Migrator",
    "MissingMigrationsError",
    "NoMigrationError",
    "ParsedSQL",
    "PoolerError",
    "Statement",
    "VersionTable",
    "VersionTableError",
    "create_migration",
    "ends_with_semicolon",
    "load_migrations",
    "migrate",
    "migrate_group",
    "parse_direction",
    "parse_sql",
    "parse_version",
    "render_status",
]
