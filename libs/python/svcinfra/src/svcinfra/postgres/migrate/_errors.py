"""Errors of the goose-compatible migrator (PG-2, PG-3).

Every message names what went wrong and where (file, line, version), never a password and never a
parameter value. The tree:

    MigrateError
    ├── MigrationSourceError          the migration files themselves are wrong (no database needed)
    │   ├── MigrationParseError       goose grammar violated: file and line
    │   └── MigrationFileError        bad file name, duplicate version, unreadable or missing file
    ├── MigrationStateError           files and database disagree
    │   ├── MissingMigrationsError    out-of-order files below the applied maximum
    │   ├── NoMigrationError          nothing to roll back / no next version for up-by-one
    │   └── VersionTableError         the version table is malformed (no version-0 row, bad name)
    ├── MigrationFailedError          a statement failed; its transaction was rolled back
    ├── PoolerError                   the database is reached through a connection pooler
    └── DatabaseUnavailableError      cannot connect, connection lost mid-run, timeout
        └── LockTimeoutError          another runner held the advisory lock for too long
"""

from __future__ import annotations


class MigrateError(Exception):
    """Root of every migrator error; `str()` is a complete, user-facing message."""


class MigrationSourceError(MigrateError):
    """The migration files are wrong; found without touching a database."""


class MigrationParseError(MigrationSourceError):
    """A file breaks goose's SQL grammar (PG-3)."""

    def __init__(self, source: str, line: int, message: str) -> None:
        self.source = source
        self.line = line
        self.reason = message
        super().__init__(f"{source}:{line}: {message} (PG-3)")


class MigrationFileError(MigrationSourceError):
    """A file name is not `<version>_<name>.sql`, a version repeats, or a file cannot be read."""


class MigrationStateError(MigrateError):
    """The files and the database's version table disagree."""


class MissingMigrationsError(MigrationStateError):
    """Files below the highest applied version were never applied (out-of-order)."""

    def __init__(self, files: tuple[str, ...], versions: tuple[int, ...], db_max: int) -> None:
        self.files = files
        self.versions = versions
        self.db_max = db_max
        plural = "s" if len(files) > 1 else ""
        super().__init__(
            f"found {len(files)} missing (out-of-order) migration{plural} lower than the "
            f"database's current max version ({db_max}): {', '.join(files)}; "
            "apply them with --allow-missing or renumber them above it (PG-2)",
        )


class NoMigrationError(MigrationStateError):
    """There is nothing to do where the command needs exactly one migration."""


class VersionTableError(MigrationStateError):
    """The version table cannot be used as goose's `goose_db_version`."""


class MigrationFailedError(MigrateError):
    """A statement of a migration failed; its transaction (if any) was rolled back."""

    def __init__(
        self,
        source: str,
        line: int,
        reason: str,
        *,
        sqlstate: str | None = None,
        partial: bool = False,
    ) -> None:
        self.source = source
        self.line = line
        self.sqlstate = sqlstate
        self.partial = partial
        state = f" [SQLSTATE {sqlstate}]" if sqlstate else ""
        outcome = (
            "NO TRANSACTION migration: statements before this one stay applied and no version "
            "row was written; fix the file and make it re-runnable"
            if partial
            else "its transaction was rolled back and no version row was written"
        )
        super().__init__(f"{source}:{line}: {reason}{state}; {outcome}")


class PoolerError(MigrateError):
    """The connection goes through a pooler, where goose's session advisory lock does not hold.

    The lock (and the migration's own session) must live on one server session for the whole
    run; a transaction pooler (pgbouncer pool_mode=transaction) hands each transaction to any
    server session. Migrations run on a direct connection to the server (docs/pgbouncer.md).
    """


class DatabaseUnavailableError(MigrateError):
    """The database could not be reached, or the connection died mid-run."""


class LockTimeoutError(DatabaseUnavailableError):
    """Another runner held goose's advisory lock longer than the lock timeout."""
