"""`svcinfra migrate`: a drop-in for the goose CLI, and the same group for a service's own CLI.

goose's own command line works as it is (docs/goose.md):

    svcinfra migrate [-dir DIR] [-table T] [-allow-missing] [-no-versioning] [-s] [-v]
                     [-timeout 1m30s] [DRIVER DBSTRING] COMMAND [ARG]

Flags are read as Go's `flag` package reads them (`-dir x`, `--dir=x`, up to the first
positional); `DRIVER` is `postgres` or `pgx`. Without `DRIVER DBSTRING` the database is
`--dsn` / `GOOSE_DBSTRING`, or the service's settings. `--dir`, `--table` default to
`GOOSE_MIGRATION_DIR`, `GOOSE_TABLE` (goose reads `GOOSE_TABLE` since v3.24.3).

Output is goose v3.21's: every message, result lines included (`OK   1_a.sql (51.68ms)`,
`goose: version 3`, the status table, `goose: no migrations to run. current version: 3`), goes to
stderr with the `YYYY/MM/DD HH:MM:SS ` prefix of Go's `log`, in goose's words; a failure is
`goose run: ...`. stdout carries only the structured log events (`migrate.applied`, ...), so the
two never mix. A service embeds its migrations as package data and wires the group in three lines:

    from importlib.resources import files
    from svcinfra.postgres.migrate import migrate_group
    cli.add_command(migrate_group(migrations=files("users.cli") / "migrations",
                                  settings=lambda: load_config(UsersConfig).postgres))

Exit status: 0 on success, 1 when a migration or the database fails (goose's `log.Fatalf`), 2 on
bad usage, 78 when the service's configuration is invalid. Messages never contain a password.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from svcinfra.config import ConfigError, mask_url_credentials

from ._errors import (
    MigrateError,
    MigrationFailedError,
    MigrationFileError,
    MigrationParseError,
    MissingMigrationsError,
    NoMigrationError,
)
from ._migrator import MigrationResult, MigrationStatus, Migrator
from ._noversion import NoVersioning
from ._source import MigrationSet, create_migration, load_migrations
from ._store import DEFAULT_TABLE

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping
    from datetime import datetime
    from importlib.resources.abc import Traversable

    from svcinfra.config import PostgresSettings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = getattr(os, "EX_CONFIG", 78)
_T = TypeVar("_T")

DRIVERS = frozenset({"postgres", "pgx"})
"""goose's driver names that mean PostgreSQL (goose maps both to pgx)."""
COMMANDS = frozenset(
    {
        "up",
        "up-by-one",
        "up-to",
        "down",
        "down-to",
        "redo",
        "reset",
        "status",
        "version",
        "create",
        "validate",
    },
)
# goose's flags (cmd/goose/main.go): name -> our option, and whether it takes a value.
_GO_FLAGS: dict[str, tuple[str | None, bool]] = {
    "dir": ("--dir", True),
    "table": ("--table", True),
    "allow-missing": ("--allow-missing", False),
    "no-versioning": ("--no-versioning", False),
    "s": ("--sequential", False),
    "v": ("--verbose", False),
    "timeout": ("--timeout", True),
    "h": ("--help", False),
    "help": ("--help", False),
    "dsn": ("--dsn", True),
    "lock-timeout": ("--lock-timeout", True),
    # MySQL-only or cosmetic in goose: accepted and ignored, as goose ignores them for Postgres.
    "certfile": (None, True),
    "ssl-cert": (None, True),
    "ssl-key": (None, True),
    "no-color": (None, False),
}
_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_GO_DURATION = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def goose_argv(args: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """Translate goose's command line into this group's options (Go `flag` rules).

    Go flags take one or two dashes and `=value` or a separate value; a boolean flag takes
    only `=value`; parsing stops at `--` or the first positional. Then `DRIVER DBSTRING COMMAND`
    becomes `--dsn DBSTRING COMMAND`; with `GOOSE_DBSTRING` set, `DRIVER COMMAND` is enough,
    as goose's `mergeArgs` allows.

    Raises:
        click.UsageError: an unknown driver, a flag without its value, a bad boolean.
    """
    env = os.environ if environ is None else environ
    out, rest = _go_flags(args)
    if rest and rest[0] not in COMMANDS and rest[0] not in DRIVERS and env.get("GOOSE_DRIVER"):
        rest.insert(0, env["GOOSE_DRIVER"])
    if rest and rest[0] not in COMMANDS:
        driver = rest.pop(0)
        if driver not in DRIVERS:
            raise click.UsageError(
                f"{driver!r} is neither a command nor a PostgreSQL driver (postgres, pgx): "
                f"svcinfra migrate runs goose's PostgreSQL migrations only; commands: "
                f"{', '.join(sorted(COMMANDS))}",
            )
        if rest and rest[0] not in COMMANDS:
            out.extend(["--dsn", rest.pop(0)])
        elif not env.get("GOOSE_DBSTRING"):
            raise click.UsageError("DRIVER must be followed by DBSTRING, then COMMAND")
    return out + rest


def _go_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """Split goose's leading flags (translated to our options) from the positionals."""
    out: list[str] = []
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        token = rest.pop(0)
        if token == "--":  # noqa: S105  (Go's end-of-flags marker, not a secret)
            break
        name, equals, value = token.lstrip("-").partition("=")
        if token.startswith("---") or name not in _GO_FLAGS:
            out.append(token)  # click reports it ("No such option") with the usage
            continue
        option, takes_value = _GO_FLAGS[name]
        if takes_value and not equals:
            if not rest:
                raise click.UsageError(f"flag needs an argument: -{name}")
            value = rest.pop(0)
        elif not takes_value:
            if equals and value not in _GO_TRUE | _GO_FALSE:
                raise click.UsageError(f'invalid boolean value "{value}" for -{name}')
            if equals and value in _GO_FALSE:
                continue
        if option is not None:
            out.extend([option, value] if takes_value else [option])
    return out, rest


def go_duration(text: str) -> float:
    """Parse a Go `time.ParseDuration` string (`1h13m`, `90s`, `1.5m`) into seconds.

    Raises:
        click.BadParameter: not a Go duration.
    """
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    for match in _GO_DURATION.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise click.BadParameter(f'time: invalid duration "{text}"', param_hint="-timeout")
    return sign * total


def go_duration_string(seconds: float) -> str:
    """Format a run's duration as goose prints it: `truncateDuration`, then Go's `String()`."""
    ns = round(seconds * 1e9)
    for unit in (10**9, 10**6, 10**3):
        if ns > unit:
            step = unit // 100
            ns = (ns + step // 2) // step * step
            break
    if ns < 10**3:
        return f"{ns}ns"
    if ns < 10**6:
        return _fraction(ns, 10**3) + "µs"
    if ns < 10**9:
        return _fraction(ns, 10**6) + "ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    text = _fraction(rest, 10**9) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    return f"{hours}h{text}" if hours else text


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def ansic(when: datetime) -> str:
    """Go's `time.ANSIC` layout, `Mon Jan _2 15:04:05 2006`, as goose's status prints it."""
    return f"{when:%a %b} {when.day:>2} {when:%H:%M:%S %Y}"


def say(message: str) -> None:
    """Print one goose message: stderr, with Go `log`'s local-time prefix."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S")
    click.echo(f"{stamp} {mask_url_credentials(message)}", err=True)


def _fail(message: str, code: int = EXIT_FAILED, *, prefix: str = "goose run") -> NoReturn:
    say(f"{prefix}: {message}")
    sys.exit(code)


def goose_error(exc: MigrateError, directory: object = None) -> str:
    """Our error in goose's wording: goose's fixed prefix, then our message (file and line)."""
    if isinstance(exc, MigrationParseError):
        return f"ERROR {exc.source}: failed to parse SQL migration file: {exc}"
    if isinstance(exc, MigrationFailedError):
        return f"ERROR {exc.source}: failed to run SQL migration: {exc}"
    if isinstance(exc, MissingMigrationsError):
        where = "" if directory is None else f"{directory}/"
        lines = "\n\t".join(
            f"version {v}: {where}{f}" for v, f in zip(exc.versions, exc.files, strict=True)
        )
        return (
            f"error: found {len(exc.files)} missing migrations before current version "
            f"{exc.db_max}:\n\t{lines}"
        )
    return str(exc)


@dataclass(frozen=True, slots=True)
class _Options:
    directory: Path | Traversable | None
    dsn: str | None
    table: str
    allow_missing: bool
    no_versioning: bool
    sequential: bool
    verbose: bool
    timeout: float | None
    lock_timeout: float
    settings: Callable[[], PostgresSettings] | None

    def load(self, collect: str = "") -> MigrationSet:
        """Collect the files as goose does: every name must parse, and there must be one.

        `collect` is the context goose puts before a collection error (`status`, `reset`:
        "failed to collect migrations: ").
        """
        if self.directory is None:
            _fail("no migration directory: pass -dir or set GOOSE_MIGRATION_DIR", EXIT_USAGE)
        try:
            migrations = load_migrations(self.directory, parse=False)
        except MigrationFileError as exc:
            _fail(f"{collect}could not parse SQL migration file: {exc}")
        except MigrateError as exc:
            _fail(f"{collect}{goose_error(exc)}")
        if not len(migrations):
            _fail(f"{collect}no migration files found")
        return migrations

    def dsn_value(self) -> tuple[str | None, PostgresSettings | None]:
        if self.dsn:
            return self.dsn, None
        if self.settings is None:
            _fail("no database: pass DRIVER DBSTRING, --dsn or set GOOSE_DBSTRING", EXIT_USAGE)
        try:
            return None, self.settings()
        except ConfigError as exc:
            _fail(str(exc), EXIT_CONFIG)

    def migrator(self, collect: str | None = "") -> Migrator:
        """The migrator for a command; `collect=None`: the command reads no file (`version`)."""
        if collect is None:
            migrations = MigrationSet(location=str(self.directory), migrations=())
        else:
            migrations = self.load(collect)
        options: dict[str, Any] = {
            "table": self.table,
            "allow_missing": self.allow_missing,
            "lock_timeout": self.lock_timeout,
        }
        dsn, settings = self.dsn_value()
        try:
            if dsn is not None:
                migrator = Migrator(migrations, dsn, **options)
            else:
                assert settings is not None  # noqa: S101  (dsn_value returns one of the two)
                migrator = Migrator.from_settings(migrations, settings, **options)
        except MigrateError as exc:
            _fail(goose_error(exc))
        migrator.on_result = _report
        return migrator

    def unversioned(self) -> NoVersioning:
        migrations = self.load()
        dsn, settings = self.dsn_value()
        if dsn is None:
            assert settings is not None  # noqa: S101
            return NoVersioning(
                migrations, settings.dsn(), settings.connect_timeout, report=_report, say=say
            )
        return NoVersioning(migrations, dsn, report=_report, say=say)

    def run(self, work: Coroutine[object, object, _T], migrator: Migrator | None = None) -> _T:
        async def bounded() -> _T:
            if self.timeout:
                async with asyncio.timeout(self.timeout):
                    return await work
            return await work

        try:
            return asyncio.run(bounded())
        except TimeoutError:
            running = migrator.running if migrator is not None else None
            where = f"ERROR {running}: failed to run SQL migration: {running}: " if running else ""
            _fail(f"{where}timeout: context deadline exceeded (-timeout {self.timeout:g}s)")
        except MigrateError as exc:
            _fail(goose_error(exc, self.directory))


def _report(result: MigrationResult) -> None:
    word = "OK  " if result.statements else "EMPTY"
    say(f"{word} {result.name} ({go_duration_string(result.duration_s)})")


def render_status(rows: list[MigrationStatus]) -> str:
    """Render `status` as goose does (without the log prefix): `Applied At`, then `-- file`."""
    lines = [
        "    Applied At                  Migration",
        "    =======================================",
    ]
    for row in rows:
        if not row.applied:
            applied = "Pending"
        elif row.applied_at is None:
            applied = "applied (no timestamp)"
        else:
            applied = ansic(row.applied_at)
        lines.append(f"    {applied:<24} -- {row.name}")
    return "\n".join(lines)


class _GooseGroup(click.Group):
    """A click group that first translates goose's command line (`goose_argv`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            translated = goose_argv(args)
        except click.UsageError as exc:
            exc.ctx = ctx
            raise
        return super().parse_args(ctx, translated)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            _fail(f'"{args[0]}": no such command')  # goose's words and exit status
        return super().resolve_command(ctx, args)


def migrate_group(
    *,
    name: str = "migrate",
    migrations: Path | Traversable | None = None,
    settings: Callable[[], PostgresSettings] | None = None,
) -> click.Group:
    """Build the `migrate` click group; a service passes its embedded migrations and settings.

    Args:
        name: the command's name.
        migrations: the default migration directory (a service's package data); `-dir` and
            `GOOSE_MIGRATION_DIR` override it.
        settings: returns the service's `PostgresSettings`, used when no DBSTRING is given.
    """

    @click.group(
        name=name,
        cls=_GooseGroup,
        options_metavar="[OPTIONS] [DRIVER DBSTRING]",
    )
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
        "--no-versioning",
        is_flag=True,
        help="Run the files in order without reading or writing the version table.",
    )
    @click.option("--sequential", "-s", is_flag=True, help="create: number files 00001, ...")
    @click.option("--verbose", "-v", is_flag=True, help="validate: print the table of files.")
    @click.option("--timeout", help="Deadline for the whole command, Go syntax (1h13m).")
    @click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        default=300.0,
        show_default=True,
        help="Seconds to wait for another runner's advisory lock.",
    )
    @click.pass_context
    def group(  # noqa: PLR0917  (one parameter per option)
        ctx: click.Context,
        directory: Path | None,
        dsn: str | None,
        table: str,
        timeout: str | None,
        lock_timeout: float,
        *,
        allow_missing: bool,
        no_versioning: bool,
        sequential: bool,
        verbose: bool,
    ) -> None:
        """Run goose-compatible SQL migrations (PG-2, PG-3); goose's command line works too."""
        default = Path() if migrations is None and settings is None else migrations
        ctx.obj = _Options(
            directory=directory if directory is not None else default,
            dsn=dsn,
            table=table,
            allow_missing=allow_missing,
            no_versioning=no_versioning,
            sequential=sequential,
            verbose=verbose,
            timeout=go_duration(timeout) if timeout else None,
            lock_timeout=lock_timeout,
            settings=settings,
        )

    _add_commands(group)
    return group


def _version_arg(command: str, value: str | None) -> int:
    if value is None:
        _fail(f"{command} must be of form: goose [OPTIONS] DRIVER DBSTRING {command} VERSION")
    try:
        return int(value, 10)
    except ValueError:
        _fail(f"version must be a number (got '{value}')")


def _add_commands(group: click.Group) -> None:  # noqa: C901, PLR0915  (one function per command)
    pass_options = click.make_pass_decorator(_Options)

    async def _up(m: Migrator, target: int | None) -> list[MigrationResult]:
        results = await (m.up() if target is None else m.up_to(target))
        if results:
            say(f"goose: successfully migrated database to version: {results[-1].version}")
        else:
            say(f"goose: no migrations to run. current version: {await m.version()}")
        return results

    @group.command()
    @pass_options
    def up(options: _Options) -> None:
        """Apply every pending migration."""
        if options.no_versioning:
            options.run(options.unversioned().up(None))
            return
        migrator = options.migrator()
        options.run(_up(migrator, None), migrator)

    @group.command("up-to")
    @click.argument("version", required=False)
    @pass_options
    def up_to(options: _Options, version: str | None) -> None:
        """Apply pending migrations up to VERSION."""
        target = _version_arg("up-to", version)
        if options.no_versioning:
            options.run(options.unversioned().up(target))
            return
        migrator = options.migrator()
        options.run(_up(migrator, target), migrator)

    @group.command("up-by-one")
    @pass_options
    def up_by_one(options: _Options) -> None:
        """Apply the next pending migration."""
        if options.no_versioning:
            options.run(options.unversioned().up(None, by_one=True))
            return
        migrator = options.migrator()

        async def work() -> None:
            try:
                await migrator.up_by_one()
            except NoMigrationError:
                say(f"goose: no migrations to run. current version: {await migrator.version()}")
                _fail("no next version found")

        options.run(work(), migrator)

    @group.command()
    @pass_options
    def down(options: _Options) -> None:
        """Roll back the most recently applied migration."""
        if options.no_versioning:
            options.run(options.unversioned().down(None))
            return
        migrator = options.migrator()

        async def work() -> None:
            try:
                await migrator.down()
            except NoMigrationError:
                _fail(f"migration {await migrator.version()}: no current version found")

        options.run(work(), migrator)

    @group.command("down-to")
    @click.argument("version", required=False)
    @pass_options
    def down_to(options: _Options, version: str | None) -> None:
        """Roll back every migration applied above VERSION."""
        target = _version_arg("down-to", version)
        if options.no_versioning:
            options.run(options.unversioned().down(target))
            return
        migrator = options.migrator()

        async def work() -> None:
            await migrator.down_to(target)
            say(f"goose: no migrations to run. current version: {await migrator.version()}")

        options.run(work(), migrator)

    @group.command()
    @pass_options
    def redo(options: _Options) -> None:
        """Roll back the most recent migration and apply it again."""
        if options.no_versioning:
            options.run(options.unversioned().redo())
            return
        migrator = options.migrator()

        async def work() -> None:
            try:
                await migrator.redo()
            except NoMigrationError:
                _fail("no current version found")

        options.run(work(), migrator)

    @group.command()
    @pass_options
    def reset(options: _Options) -> None:
        """Roll back every applied migration."""
        if options.no_versioning:
            options.run(options.unversioned().down(0))
            return
        migrator = options.migrator(collect="failed to collect migrations: ")
        options.run(migrator.reset(), migrator)

    @group.command()
    @pass_options
    def status(options: _Options) -> None:
        """Show every migration file: when applied, or Pending (no file is parsed)."""
        if options.no_versioning:
            for line in options.unversioned().status():
                say(line)
            return
        migrator = options.migrator(collect="failed to collect migrations: ")
        for line in render_status(options.run(migrator.status())).split("\n"):
            say(line)

    @group.command()
    @pass_options
    def version(options: _Options) -> None:
        """Print the database's current version (the most recently applied)."""
        if options.no_versioning:
            say(f"goose: file version {options.unversioned().file_version()}")
            return
        migrator = options.migrator(collect=None)
        say(f"goose: version {options.run(migrator.version())}")

    @group.command()
    @click.argument("name", required=False)
    @click.argument("kind", required=False, default="sql")
    @pass_options
    def create(options: _Options, name: str | None, kind: str) -> None:
        """Create NAME's migration, named and templated as goose does (`-s`: 00001, ...).

        goose's default KIND is `go`; Go migrations cannot run from Python, so here it is `sql`.
        """
        if name is None:
            _fail("create must be of form: goose [OPTIONS] DRIVER DBSTRING create NAME [go|sql]")
        if kind != "sql":
            _fail(f"create {name} {kind}: only sql migrations run from Python", EXIT_USAGE)
        if not isinstance(options.directory, Path):
            _fail("create writes files: pass -dir with a real directory", EXIT_USAGE)
        try:
            path = create_migration(options.directory, name, sequential=options.sequential)
        except MigrateError as exc:
            _fail(str(exc))
        say(f"Created new file: {path}")

    @group.command()
    @pass_options
    def validate(options: _Options) -> None:
        """Parse every migration file, both directions; no database needed.

        As goose's `validate`: silent on success, the table of files on stdout with `-v`.
        """
        migrations = options.load()
        rows: list[tuple[str, ...]] = [
            ("Type", "Txn", "Up", "Down", "Name"),
            ("────", "───", "──", "────", "────"),
        ]
        for migration in migrations:
            try:
                parsed = migration.parse()
            except MigrationParseError as exc:
                where = f"{migrations.location}/{migration.name}"
                _fail(f'failed to parse file "{where}": {exc}', prefix="goose validate")
            rows.append(
                (
                    "sql",
                    "✔" if parsed.use_tx else "✘",
                    str(len(parsed.up)),
                    str(len(parsed.down)),
                    migration.name,
                ),
            )
        if options.verbose:
            click.echo(tabwriter(rows))


def tabwriter(rows: list[tuple[str, ...]]) -> str:
    """Go's `tabwriter.NewWriter(w, 0, 0, 3, ' ', TabIndent)` of tab-terminated cells."""
    widths = [max(len(row[i]) for row in rows) + 3 for i in range(len(rows[0]))]
    return "\n".join("".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


migrate = migrate_group()
"""The `svcinfra migrate` group (working directory and GOOSE_* variables as defaults)."""
