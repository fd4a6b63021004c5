"""`Migrator`: goose's commands under one locked connection (PG-2, PG-3).

Each command is one run: connect, take goose's advisory lock, create the version table with its
version-0 row if it is missing, read the state as goose does, act, unlock, close. Each migration
runs on a fresh connection of its own while the lock is held (`Migrator._apply`), as goose's
Provider runs it (`provider_run.go:runIndividually`): its statements one by one,
then the version row (INSERT `(version, true)` going up, DELETE going down), all in one
transaction unless the file says `NO TRANSACTION`. Down and down-to undo in application order
(`id DESC`), not version order, as goose's Provider does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

import asyncpg
import structlog
from pydantic import SecretStr

from ._connect import GOOSE_LOCK_ID, connection, locked_connection
from ._errors import (
    DatabaseUnavailableError,
    MigrationFailedError,
    MissingMigrationsError,
    NoMigrationError,
    PoolerError,
    VersionTableError,
)
from ._store import DEFAULT_TABLE, DatabaseState, VersionTable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    from svcinfra.config import PostgresSettings

    from ._parser import Statement
    from ._source import Migration, MigrationSet

_log = structlog.get_logger("svcinfra.postgres.migrate")
_LOST_SQLSTATES = ("08", "57P01", "57P02", "57P03")
_MAX_VERSION = 2**63 - 1
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """One migration applied or rolled back."""

    version: int
    name: str
    direction: Literal["up", "down"]
    duration_s: float
    statements: int


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """One line of `status`: a file, or an applied version whose file is gone."""

    version: int
    name: str | None
    applied_at: datetime | None
    applied: bool


class Migrator:
    """Run goose-compatible migrations against one PostgreSQL database.

    Example: `await Migrator.from_settings(load_migrations(path), config.postgres).up()`.
    """

    def __init__(
        self,
        migrations: MigrationSet,
        dsn: str | SecretStr,
        *,
        table: str = DEFAULT_TABLE,
        allow_missing: bool = False,
        connect_timeout: float = 10.0,
        lock_timeout: float = 300.0,
        lock_poll_interval: float = 1.0,
        lock_id: int = GOOSE_LOCK_ID,
    ) -> None:
        self.migrations = migrations
        self._dsn = dsn if isinstance(dsn, SecretStr) else SecretStr(dsn)
        self.table = VersionTable(table)
        self.allow_missing = allow_missing
        self.connect_timeout = connect_timeout
        self.lock_timeout = lock_timeout
        self.lock_poll_interval = lock_poll_interval
        self.lock_id = lock_id
        self.on_result: Callable[[MigrationResult], None] | None = None
        """Called after each migration of a run, as it finishes (the CLI prints goose's line)."""
        self.running: str | None = None
        """The file being applied or rolled back, while it runs."""

    @classmethod
    def from_settings(
        cls,
        migrations: MigrationSet,
        settings: PostgresSettings,
        **options: object,
    ) -> Migrator:
        """Build a migrator for a service's own database from its `PostgresSettings` (CF-4).

        Raises:
            PoolerError: the settings say the server is behind a transaction pooler.
        """
        if settings.pooler != "none":
            raise PoolerError(
                f"POSTGRES_POOLER={settings.pooler}: migrations need a direct connection to "
                "the server (goose's session advisory lock does not survive a transaction "
                "pooler); run them with the server's POSTGRES_HOST and POSTGRES_PORT and "
                "POSTGRES_POOLER=none, or --dsn / GOOSE_DBSTRING",
            )
        options.setdefault("connect_timeout", settings.connect_timeout)
        return cls(migrations, settings.dsn(), **options)  # type: ignore[arg-type]

    async def up(self) -> list[MigrationResult]:
        """Apply every pending migration; out-of-order files fail unless `allow_missing`."""
        if not await self._has_pending(_MAX_VERSION):
            return []
        return await self._run(lambda c, s: self._up(c, s, target=_MAX_VERSION, by_one=False))

    async def up_by_one(self) -> list[MigrationResult]:
        """Apply the next pending migration only."""
        return await self._run(lambda c, s: self._up(c, s, target=_MAX_VERSION, by_one=True))

    async def up_to(self, version: int) -> list[MigrationResult]:
        """Apply pending migrations up to and including `version`."""
        if version < 1:
            raise NoMigrationError(f"up-to needs a version >= 1, got {version}")
        if not await self._has_pending(version):
            return []
        return await self._run(lambda c, s: self._up(c, s, target=version, by_one=False))

    async def down(self) -> list[MigrationResult]:
        """Roll back the most recently applied migration."""
        return await self._run(lambda c, s: self._down(c, s, to=0, by_one=True))

    async def down_to(self, version: int) -> list[MigrationResult]:
        """Roll back, newest application first, every migration above `version`."""
        if version < 0:
            raise NoMigrationError(f"down-to needs a version >= 0, got {version}")
        return await self._run(lambda c, s: self._down(c, s, to=version, by_one=False))

    async def redo(self) -> list[MigrationResult]:
        """Roll back the most recently applied migration and apply it again."""
        return await self._run(self._redo)

    async def reset(self) -> list[MigrationResult]:
        """Roll back every applied migration (down-to 0)."""
        return await self._run(lambda c, s: self._down(c, s, to=0, by_one=False))

    async def status(self) -> list[MigrationStatus]:
        """List every file with when it was applied, as goose's status does (no file parsed)."""
        return await self._run(self._status)

    async def version(self) -> int:
        """Return the most recently applied version (0 when none), as `goose version` prints."""
        return await self._run(self._version)

    async def _has_pending(self, target: int) -> bool:
        """Check without the lock whether `up` has work, as goose's Provider does (v3.20, #751).

        A pod whose migrations are all applied then starts at once instead of queueing behind
        a newer pod's long migration. Any doubt (no table yet, out-of-order files) says yes.
        """
        async with connection(self._dsn.get_secret_value(), self.connect_timeout) as conn:
            try:
                if not await self.table.exists(conn):
                    return True
                state = await self.table.state(conn)
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
                raise _table_error(exc, self.table.name) from exc
        applied = state.versions
        return any(
            m.version not in applied and (m.version < state.max_version or m.version <= target)
            for m in self.migrations
        )

    async def _run(
        self,
        action: Callable[[asyncpg.Connection, DatabaseState], Awaitable[_T]],
    ) -> _T:
        async with locked_connection(
            self._dsn.get_secret_value(),
            connect_timeout=self.connect_timeout,
            lock_id=self.lock_id,
            lock_timeout=self.lock_timeout,
            lock_poll_interval=self.lock_poll_interval,
        ) as conn:
            try:
                if not await self.table.exists(conn):
                    await self.table.create(conn)
                    _log.info("migrate.version_table_created", table=self.table.name)
                state = await self.table.state(conn)
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
                raise _table_error(exc, self.table.name) from exc
            return await action(conn, state)

    async def _version(self, _conn: asyncpg.Connection, state: DatabaseState) -> int:
        return state.current

    async def _status(
        self,
        _conn: asyncpg.Connection,
        state: DatabaseState,
    ) -> list[MigrationStatus]:
        # goose's status lists the files only: an applied version whose file is gone is not
        # shown (`version` still reports it), and no file is parsed (issue 15).
        applied = {a.version: a for a in state.applied if a.version}
        return [
            MigrationStatus(
                version=m.version,
                name=m.name,
                applied_at=applied[m.version].applied_at if m.version in applied else None,
                applied=m.version in applied,
            )
            for m in self.migrations
        ]

    async def _up(
        self,
        conn: asyncpg.Connection,
        state: DatabaseState,
        *,
        target: int,
        by_one: bool,
    ) -> list[MigrationResult]:
        applied, db_max = state.versions, state.max_version
        # goose's up-to collects only the files up to its target, missing ones included.
        missing = [
            m
            for m in self.migrations
            if m.version not in applied and m.version < db_max and m.version <= target
        ]
        if missing and not self.allow_missing:
            raise MissingMigrationsError(
                tuple(m.name for m in missing),
                tuple(m.version for m in missing),
                db_max,
            )
        plan = missing + [
            m for m in self.migrations if m.version not in applied and db_max < m.version <= target
        ]
        if by_one:
            if not plan:
                raise NoMigrationError(f"no next version to apply: database is at {db_max}")
            plan = plan[:1]
        if not plan:
            _log.info("migrate.up_to_date", version=state.current)
        _parse_first(plan)
        return [await self._done(m, self._apply(conn, m, up=True)) for m in plan]

    async def _down(
        self,
        conn: asyncpg.Connection,
        state: DatabaseState,
        *,
        to: int,
        by_one: bool,
    ) -> list[MigrationResult]:
        versions: list[int] = []
        for applied in state.applied:
            if applied.version <= to:
                break
            versions.append(applied.version)
        if by_one:
            if not versions:
                raise NoMigrationError("no migration to roll back: the database is at version 0")
            versions = versions[:1]
        plan = [self._file(v) for v in versions]
        _parse_first(plan)
        return [await self._done(m, self._apply(conn, m, up=False)) for m in plan]

    async def _redo(
        self,
        conn: asyncpg.Connection,
        state: DatabaseState,
    ) -> list[MigrationResult]:
        if not state.current:
            raise NoMigrationError("no migration to redo: the database is at version 0")
        migration = self._file(state.current)
        _parse_first([migration])
        return [
            await self._done(migration, self._apply(conn, migration, up=False)),
            await self._done(migration, self._apply(conn, migration, up=True)),
        ]

    async def _done(self, m: Migration, applying: Awaitable[MigrationResult]) -> MigrationResult:
        self.running = m.name
        result = await applying
        self.running = None
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _file(self, version: int) -> Migration:
        migration = self.migrations.get(version)
        if migration is None:
            raise NoMigrationError(
                f"version {version} is applied but has no file in {self.migrations.location}; "
                "cannot roll it back",
            )
        return migration

    async def _apply(
        self, _locked: asyncpg.Connection, m: Migration, *, up: bool
    ) -> MigrationResult:
        """Run one migration on a connection of its own, opened for it and closed after it.

        The run's first connection only holds the advisory lock. Each migration gets a fresh
        session, so nothing one file leaves in its session (a session-level `SET
        statement_timeout`, a `search_path`, a temp table, an advisory lock of its own, a custom
        GUC) reaches the next: a later backfill or `CREATE INDEX CONCURRENTLY` runs with the
        server's defaults, whatever came before it. A reset between files on the locked
        connection could not do as much: `pg_advisory_unlock_all()` would drop the run's own lock,
        and a custom GUC, once set, stays known to the session. A connection per file costs a few
        milliseconds, nothing beside DDL (issue 14).
        """
        statements = m.up if up else m.down
        direction: Literal["up", "down"] = "up" if up else "down"
        started = time.perf_counter()
        done = 0
        async with connection(self._dsn.get_secret_value(), self.connect_timeout) as conn:
            try:
                if m.use_tx:
                    async with conn.transaction():
                        done = await self._execute(conn, m, statements, up=up)
                else:
                    done = await self._execute(conn, m, statements, up=up)
            except _StatementError as failure:
                raise failure.translate(m) from failure.exc
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
                # The transaction's own exit failed: COMMIT, or ROLLBACK on a dead connection
                # after a statement failed (then the statement's failure is the one to report).
                cause = exc.__context__
                if not isinstance(cause, _StatementError):
                    line = statements[-1].line if statements else 1
                    cause = _StatementError(exc, None, len(statements), line=line)
                raise cause.translate(m) from cause.exc
        result = MigrationResult(
            version=m.version,
            name=m.name,
            direction=direction,
            duration_s=time.perf_counter() - started,
            statements=done,
        )
        _log.info(
            "migrate.applied" if up else "migrate.rolled_back",
            version=m.version,
            file=m.name,
            duration_ms=round(result.duration_s * 1000, 3),
        )
        return result

    async def _execute(
        self,
        conn: asyncpg.Connection,
        m: Migration,
        statements: tuple[Statement, ...],
        *,
        up: bool,
    ) -> int:
        for index, statement in enumerate(statements):
            try:
                if statement.sql:  # goose's empty Begin/End pair; asyncpg fails on ""
                    await conn.execute(statement.sql)
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
                raise _StatementError(exc, statement, index) from exc
        line = statements[-1].line if statements else 1
        try:
            await (self.table.insert if up else self.table.delete)(conn, m.version)
        except (OSError, asyncpg.InterfaceError, asyncpg.PostgresError) as exc:
            raise _StatementError(exc, None, len(statements), line=line) from exc
        return len(statements)


class _StatementError(Exception):
    """A failure inside `_execute`, carried out of the transaction block."""

    def __init__(
        self,
        exc: BaseException,
        statement: Statement | None,
        index: int,
        *,
        line: int = 1,
    ) -> None:
        super().__init__(str(exc))
        self.exc = exc
        self.statement = statement
        self.index = index
        self.line = statement.line if statement else line

    def translate(self, m: Migration) -> Exception:
        exc = self.exc
        line = self.line
        position = getattr(exc, "position", None)
        if self.statement is not None and position and str(position).isdigit():
            line += self.statement.sql[: int(position) - 1].count("\n")
        where = f"{m.name}:{line}"
        if _is_lost(exc):
            partial = "" if m.use_tx else " (NO TRANSACTION: earlier statements stay applied)"
            return DatabaseUnavailableError(
                f"connection lost while running {where}: {type(exc).__name__}: {exc}; the "
                f"server rolls back the open transaction, so no version row was written for "
                f"{m.name}{partial}; migrations finished before it stay applied; run `status`, "
                "then run the command again",
            )
        if self.statement is None:
            reason = f"updating version table failed: {exc}"
        else:
            reason = getattr(exc, "message", None) or str(exc)
        return MigrationFailedError(
            m.name,
            line,
            reason,
            sqlstate=getattr(exc, "sqlstate", None),
            partial=not m.use_tx and self.index > 0,
        )


def _parse_first(plan: list[Migration]) -> None:
    """Parse every file a command will run, both directions, before running any (issue 15).

    goose's Provider does this; goose's CLI parses a file only when it reaches it, so it applies
    the files before a broken one and stops there. A run here applies all of its plan or none
    of it; files outside the plan (above an up-to target) are never parsed, as in goose.

    Raises:
        MigrationParseError: a planned file breaks goose's grammar.
    """
    for migration in plan:
        migration.parse()


def _is_lost(exc: BaseException) -> bool:
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError):
        return True
    sqlstate = getattr(exc, "sqlstate", None) or ""
    return sqlstate.startswith(_LOST_SQLSTATES)


def _table_error(exc: BaseException, table: str) -> Exception:
    if _is_lost(exc):
        return DatabaseUnavailableError(f"connection lost reading version table {table}: {exc}")
    return VersionTableError(f"cannot use version table {table}: {exc}")
