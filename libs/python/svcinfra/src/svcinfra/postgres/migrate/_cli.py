"""`svcinfra migrate`: a drop-in for the goose CLI, and the same group for a service's own CLI.

    svcinfra migrate [--dir DIR] [--dsn DSN] [--table T] [--allow-missing] COMMAND [ARG]

`--dir`, `--dsn` and `--table` default to goose's `GOOSE_MIGRATION_DIR`, `GOOSE_DBSTRING` and
`GOOSE_TABLE`. A service embeds its migrations as package data and wires the group in three lines:

    from importlib.resources import files
    from svcinfra.postgres.migrate import migrate_group
    cli.add_command(migrate_group(migrations=files("users.cli") / "migrations",
                                  settings=lambda: load_config(UsersConfig).postgres))

Exit status: 0 on success, 1 when a migration or the database fails, 2 on bad usage, 78 when the
service's configuration is invalid. Messages go to stderr and never contain a password.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from svcinfra.config import ConfigError, mask_url_credentials

from ._errors import MigrateError
from ._migrator import MigrationResult, MigrationStatus, Migrator
from ._source import MigrationSet, create_migration, load_migrations
from ._store import DEFAULT_TABLE

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from importlib.resources.abc import Traversable

    from svcinfra.config import PostgresSettings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = getattr(os, "EX_CONFIG", 78)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Options:
    directory: Path | Traversable | None
    dsn: str | None
    table: str
    allow_missing: bool
    lock_timeout: float
    settings: Callable[[], PostgresSettings] | None

    def load(self) -> MigrationSet:
        if self.directory is None:
            _fail("no migration directory: pass --dir or set GOOSE_MIGRATION_DIR", EXIT_USAGE)
        return load_migrations(self.directory)

    def migrator(self) -> Migrator:
        migrations = self.load()
        options: dict[str, object] = {
            "table": self.table,
            "allow_missing": self.allow_missing,
            "lock_timeout": self.lock_timeout,
        }
        if self.dsn:
            return Migrator(migrations, self.dsn, **options)  # type: ignore[arg-type]
        if self.settings is None:
            _fail("no database: pass --dsn or set GOOSE_DBSTRING", EXIT_USAGE)
        try:
            settings = self.settings()
        except ConfigError as exc:
            _fail(str(exc), EXIT_CONFIG)
        return Migrator.from_settings(migrations, settings, **options)


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"migrate: {mask_url_credentials(message)}", err=True)
    sys.exit(code)


def _run(options: _Options, work: Callable[[Migrator], Coroutine[object, object, _T]]) -> _T:
    try:
        return asyncio.run(work(options.migrator()))
    except MigrateError as exc:
        _fail(str(exc))


def _echo_results(results: list[MigrationResult]) -> None:
    for r in results:
        click.echo(f"OK   {r.direction:<4} {r.name} ({r.duration_s * 1000:.1f}ms)")


def render_status(rows: list[MigrationStatus]) -> str:
    """Render `status` as an aligned table: version, file, applied at or pending."""
    table = [("VERSION", "FILE", "APPLIED AT")]
    for row in rows:
        if not row.applied:
            applied = "pending"
        elif row.applied_at is None:
            applied = "applied (no timestamp)"
        else:
            applied = row.applied_at.strftime("%Y-%m-%d %H:%M:%S")
        table.append((str(row.version), row.name or "(no file: applied, file missing)", applied))
    widths = [max(len(r[i]) for r in table) for i in range(2)]
    return "\n".join(f"{v:<{widths[0]}}  {f:<{widths[1]}}  {a}".rstrip() for v, f, a in table)


def migrate_group(
    *,
    name: str = "migrate",
    migrations: Path | Traversable | None = None,
    settings: Callable[[], PostgresSettings] | None = None,
) -> click.Group:
    """Build the `migrate` click group; a service passes its embedded migrations and settings.

    Args:
        name: the command's name.
        migrations: the default migration directory (a service's package data); `--dir` and
            `GOOSE_MIGRATION_DIR` override it.
        settings: returns the service's `PostgresSettings`, used when no `--dsn` is given.
    """

    @click.group(name=name)
    @click.option(
        "--dir",
        "directory",
        envvar="GOOSE_MIGRATION_DIR",
        type=click.Path(path_type=Path, file_okay=False),
        help="Migration directory [env GOOSE_MIGRATION_DIR].",
    )
    @click.option("--dsn", envvar="GOOSE_DBSTRING", help="Database URL [env GOOSE_DBSTRING].")
    @click.option(
        "--table",
        envvar="GOOSE_TABLE",
        default=DEFAULT_TABLE,
        show_default=True,
        help="Version table, optionally schema.table [env GOOSE_TABLE].",
    )
    @click.option("--allow-missing", is_flag=True, help="Apply out-of-order migrations too.")
    @click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        default=300.0,
        show_default=True,
        help="Seconds to wait for another runner's advisory lock.",
    )
    @click.pass_context
    def group(
        ctx: click.Context,
        directory: Path | None,
        dsn: str | None,
        table: str,
        lock_timeout: float,
        *,
        allow_missing: bool,
    ) -> None:
        """Run goose-compatible SQL migrations (PG-2, PG-3)."""
        default = Path() if migrations is None and settings is None else migrations
        ctx.obj = _Options(
            directory=directory if directory is not None else default,
            dsn=dsn,
            table=table,
            allow_missing=allow_missing,
            lock_timeout=lock_timeout,
            settings=settings,
        )

    _add_commands(group)
    return group


def _add_commands(group: click.Group) -> None:  # noqa: C901  (one small function per command)
    pass_options = click.make_pass_decorator(_Options)

    @group.command()
    @pass_options
    def up(options: _Options) -> None:
        """Apply every pending migration."""
        results = _run(options, Migrator.up)
        _echo_results(results)
        click.echo(f"applied {len(results)} migration(s)" if results else "no migrations to run")

    @group.command("up-by-one")
    @pass_options
    def up_by_one(options: _Options) -> None:
        """Apply the next pending migration."""
        _echo_results(_run(options, Migrator.up_by_one))

    @group.command("up-to")
    @click.argument("version", type=int)
    @pass_options
    def up_to(options: _Options, version: int) -> None:
        """Apply pending migrations up to VERSION."""
        _echo_results(_run(options, lambda m: m.up_to(version)))

    @group.command()
    @pass_options
    def down(options: _Options) -> None:
        """Roll back the most recently applied migration."""
        _echo_results(_run(options, Migrator.down))

    @group.command("down-to")
    @click.argument("version", type=int)
    @pass_options
    def down_to(options: _Options, version: int) -> None:
        """Roll back every migration applied above VERSION."""
        _echo_results(_run(options, lambda m: m.down_to(version)))

    @group.command()
    @pass_options
    def redo(options: _Options) -> None:
        """Roll back the most recent migration and apply it again."""
        _echo_results(_run(options, Migrator.redo))

    @group.command()
    @pass_options
    def reset(options: _Options) -> None:
        """Roll back every applied migration."""
        _echo_results(_run(options, Migrator.reset))

    @group.command()
    @pass_options
    def status(options: _Options) -> None:
        """Show every migration: version, file, when applied or pending."""
        click.echo(render_status(_run(options, Migrator.status)))

    @group.command()
    @pass_options
    def version(options: _Options) -> None:
        """Print the database's current version."""
        click.echo(f"version {_run(options, Migrator.version)}")

    @group.command()
    @click.argument("name")
    @pass_options
    def create(options: _Options, name: str) -> None:
        """Create a timestamped NAME migration with an Up/Down skeleton."""
        if not isinstance(options.directory, Path):
            _fail("create writes files: pass --dir with a real directory", EXIT_USAGE)
        try:
            path = create_migration(options.directory, name)
        except MigrateError as exc:
            _fail(str(exc))
        click.echo(f"created {path}")

    @group.command()
    @pass_options
    def validate(options: _Options) -> None:
        """Parse every migration file; no database needed."""
        try:
            migrations = options.load()
        except MigrateError as exc:
            _fail(str(exc))
        click.echo(f"{len(migrations)} migration(s) valid in {migrations.location}")


migrate = migrate_group()
"""The `svcinfra migrate` group (working directory and GOOSE_* variables as defaults)."""
