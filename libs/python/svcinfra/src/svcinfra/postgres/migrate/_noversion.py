"""goose's `-no-versioning`: run the files in version order, with no version table and no lock.

As goose v3.21 does (`upToNoVersioning`, `downToNoVersioning`): `up` runs every file up to the
target, `up-by-one` the first file again and again, `down` the last file's Down part, `down-to V`
the Down parts above V newest first, `status` lists the files as `no versioning`, `version` is
the last file's version. Nothing is recorded, so running it twice runs the SQL twice: it is for
seed data and scratch databases, never for a service's schema (PG-2). Each file's statements run
in one transaction unless it says NO TRANSACTION, and every file of a run is parsed first.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Literal

import asyncpg
from pydantic import SecretStr

from ._connect import connection
from ._errors import DatabaseUnavailableError, MigrationFailedError
from ._migrator import MigrationResult

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._source import Migration, MigrationSet


class NoVersioning:
    """Apply or roll back files without goose's version table (goose `-no-versioning`)."""

    def __init__(
        self,
        migrations: MigrationSet,
        dsn: str | SecretStr,
        connect_timeout: float = 10.0,
        *,
        report: Callable[[MigrationResult], None] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.migrations = migrations
        self._dsn = dsn if isinstance(dsn, SecretStr) else SecretStr(dsn)
        self.connect_timeout = connect_timeout
        self.report = report
        self.say = say

    def status(self) -> list[str]:
        """The status lines goose prints for `-no-versioning` (without the log prefix)."""
        header = [
            "    Applied At                  Migration",
            "    =======================================",
        ]
        return header + [f"    {'no versioning':<24} -- {m.name}" for m in self.migrations]

    def file_version(self) -> int:
        """The highest file version (0 without files): goose's `file version`."""
        return self.migrations.versions[-1] if len(self.migrations) else 0

    async def up(self, target: int | None, *, by_one: bool = False) -> list[MigrationResult]:
        """Run the Up part of every file up to `target` (`by_one`: the first file only)."""
        plan = [m for m in self.migrations if target is None or m.version <= target]
        if by_one:
            plan = plan[:1]
        results = await self._run(plan, up=True)
        self._say(f"goose: up to current file version: {plan[-1].version if plan else 0}")
        return results

    async def down(self, target: int | None) -> list[MigrationResult]:
        """Run the Down parts above `target` newest first (`None`: the last file only)."""
        files = list(self.migrations)
        if target is None:
            target = files[-1].version - 1 if files else 0
        plan = [m for m in reversed(files) if m.version > target]
        final = next((m.version for m in reversed(files) if m.version <= target), 0)
        results = await self._run(plan, up=False)
        self._say(f"goose: down to current file version: {final}")
        return results

    async def redo(self) -> list[MigrationResult]:
        """Run the last file's Down part, then its Up part."""
        files = list(self.migrations)
        if not files:
            return []
        return [
            *await self._run(files[-1:], up=False),
            *await self._run(files[-1:], up=True),
        ]

    def _say(self, message: str) -> None:
        if self.say is not None:
            self.say(message)

    async def _run(self, plan: list[Migration], *, up: bool) -> list[MigrationResult]:
        for migration in plan:
            migration.parse()
        results: list[MigrationResult] = []
        async with connection(self._dsn.get_secret_value(), self.connect_timeout) as conn:
            for migration in plan:
                results.append(await self._apply(conn, migration, up=up))
                if self.report is not None:
                    self.report(results[-1])
        return results

    async def _apply(self, conn: asyncpg.Connection, m: Migration, *, up: bool) -> MigrationResult:
        statements = m.up if up else m.down
        direction: Literal["up", "down"] = "up" if up else "down"
        started = time.perf_counter()
        done = 0
        try:
            async with conn.transaction() if m.use_tx else contextlib.nullcontext():
                for statement in statements:
                    if statement.sql:  # goose's empty Begin/End pair; asyncpg fails on ""
                        await conn.execute(statement.sql)
                    done += 1
        except (OSError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailableError(
                f"connection lost while running {m.name}: {exc}"
            ) from exc
        except asyncpg.PostgresError as exc:
            line = statements[done].line if done < len(statements) else 1
            raise MigrationFailedError(
                m.name,
                line,
                getattr(exc, "message", None) or str(exc),
                sqlstate=getattr(exc, "sqlstate", None),
                partial=not m.use_tx and done > 0,
            ) from exc
        return MigrationResult(
            version=m.version,
            name=m.name,
            direction=direction,
            duration_s=time.perf_counter() - started,
            statements=done,
        )
