"""`svcinfra outbox list | show | retry | purge`: the outbox's parked rows from a shell.

    svcinfra outbox list [--dsn URL | --config MODULE:CLASS]
    svcinfra outbox show [--message NAME] [--limit N] [--body]
    svcinfra outbox retry [--message NAME] [--limit N] [--message-id ID ...]
    svcinfra outbox purge [--message NAME] [--message-id ID ...] --yes

As `svcinfra dlq` does for dead letters: payloads are not printed unless asked (`--body`), they
may hold personal data. Exit status as `svcinfra dlq`: 0 done, 1 failed (no row matched a
retry or purge of given ids), 2 bad usage, 69 database unreachable, 78 invalid configuration.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import unquote, urlsplit

import click
from pydantic import SecretStr, ValidationError

from svcinfra.config import Config, ConfigError, PostgresSettings, load_config
from svcinfra.messaging._errors import MessagingError
from svcinfra.messaging.cli import EXIT_CONFIG, EXIT_FAILED, EXIT_UNAVAILABLE, EXIT_USAGE, fail
from svcinfra.postgres import Database, DatabaseError, TemporarilyUnavailable

from ._parked import check_ids, parked_rows, parked_summary, purge_parked, retry_parked

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")

_NOT_MIGRATED = (
    ": the outbox migrations are not all applied to this database "
    "(svcinfra_outbox and svcinfra_outbox_parking; see svcinfra.messaging.storage)"
)

_dsn_option = click.option(
    "--dsn",
    envvar="SVCINFRA_POSTGRES_DSN",
    help="postgresql:// URL of the service's database (or SVCINFRA_POSTGRES_DSN); "
    "default: the Postgres section of --config.",
)
_config_option = click.option(
    "--config",
    "config_target",
    metavar="MODULE:CLASS",
    help="The service's Config class; its Postgres settings are read from the environment.",
)
_message_option = click.option("--message", "message_name", help="Only rows of this message.")


@click.group()
def outbox() -> None:
    """Inspect, retry and purge the outbox rows the relay parked (MQ-4, issue 16)."""


@outbox.command("list")
@_dsn_option
@_config_option
def list_command(dsn: str | None, config_target: str | None) -> None:
    """List the parked rows by message: how many, parked since when."""
    groups = _run(_settings(dsn, config_target), parked_summary)
    click.echo(f"{'message':<40} {'parked':>8}  {'oldest':<25}  newest")
    for group in groups:
        click.echo(
            f"{group.message_name:<40} {group.parked:>8}  "
            f"{group.oldest.isoformat(timespec='seconds'):<25}  "
            f"{group.newest.isoformat(timespec='seconds')}"
        )


@outbox.command("show")
@_message_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--body", is_flag=True, help="Print payloads too (they may hold personal data).")
@_dsn_option
@_config_option
def show_command(
    message_name: str | None,
    limit: int,
    dsn: str | None,
    config_target: str | None,
    *,
    body: bool,
) -> None:
    """Print the oldest parked rows and why each is parked; they stay parked."""
    rows = _run(
        _settings(dsn, config_target),
        lambda db: parked_rows(db, limit=limit, message_name=message_name),
    )
    click.echo(f"showing {len(rows)} parked row(s)")
    for row in rows:
        click.echo(
            f"- message_id={row.id} message={row.message_name} "
            f"correlation_id={row.correlation_id}\n"
            f"  parked at {row.parked_at.isoformat(timespec='seconds')} after {row.failures} "
            f"failure(s) in {row.attempts} attempt(s), written "
            f"{row.created_at.isoformat(timespec='seconds')}: {row.last_error}"
        )
        if body:
            click.echo(f"  payload: {row.payload}")


@outbox.command("retry")
@_message_option
@click.option("--limit", type=click.IntRange(min=1), help="Retry at most N rows.")
@click.option("--message-id", "message_ids", multiple=True, help="Retry only these ids.")
@_dsn_option
@_config_option
def retry_command(
    message_name: str | None,
    limit: int | None,
    message_ids: tuple[str, ...],
    dsn: str | None,
    config_target: str | None,
) -> None:
    """Hand parked rows back to the relay, which publishes them with their own message_id."""
    _check_ids(message_ids)
    retried = _run(
        _settings(dsn, config_target),
        lambda db: retry_parked(
            db, ids=message_ids or None, message_name=message_name, limit=limit
        ),
    )
    click.echo(f"retried {len(retried)} parked row(s)")
    _report_missing(message_ids, retried, "not retried (not parked)")


@outbox.command("purge")
@_message_option
@click.option("--message-id", "message_ids", multiple=True, help="Purge only these ids.")
@click.option("--yes", is_flag=True, help="Confirm: the rows are deleted for good.")
@_dsn_option
@_config_option
def purge_command(
    message_name: str | None,
    message_ids: tuple[str, ...],
    dsn: str | None,
    config_target: str | None,
    *,
    yes: bool,
) -> None:
    """Delete parked rows (all, of --message, or --message-id ones) for good (needs --yes)."""
    if not yes:
        fail("purging deletes the parked rows for good; add --yes", EXIT_USAGE)
    _check_ids(message_ids)
    purged = _run(
        _settings(dsn, config_target),
        lambda db: purge_parked(db, ids=message_ids or None, message_name=message_name),
    )
    click.echo(f"purged {len(purged)} parked row(s)")
    _report_missing(message_ids, purged, "not purged (not parked)")


def _check_ids(message_ids: tuple[str, ...]) -> None:
    try:
        check_ids(message_ids)
    except MessagingError as exc:
        fail(f"--message-id: {exc}", EXIT_USAGE)


def _report_missing(wanted: tuple[str, ...], done: list[str], what: str) -> None:
    missing = sorted({m.lower() for m in wanted} - set(done))
    for message_id in missing:
        click.echo(f"  {what}: {message_id}", err=True)
    if missing:
        raise SystemExit(EXIT_FAILED)


def _settings(dsn: str | None, config_target: str | None) -> PostgresSettings:
    """The database: `--dsn`, else the Postgres section of the `--config` class."""
    if dsn:
        return _from_url(dsn)
    if not config_target:
        fail(
            "no database: pass --dsn (or set SVCINFRA_POSTGRES_DSN) or --config MODULE:CLASS",
            EXIT_USAGE,
        )
    module_name, _, attr = config_target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        fail(f"cannot load {config_target}: {exc}", EXIT_USAGE)
    if not (isinstance(cls, type) and issubclass(cls, Config)):
        fail(f"{config_target} is not a svcinfra.config.Config subclass", EXIT_USAGE)
    try:
        config = load_config(cls)
    except ConfigError as exc:
        fail(str(exc), EXIT_CONFIG)
    values = (getattr(config, section) for section in config.sections())
    found = next((v for v in values if isinstance(v, PostgresSettings)), None)
    if found is None:
        fail(f"{config_target} has no PostgresSettings section", EXIT_USAGE)
    return found.model_copy(update={"pool_min_size": 1, "pool_max_size": 1})


def _from_url(dsn: str) -> PostgresSettings:
    url = urlsplit(dsn)
    if url.scheme not in {"postgres", "postgresql"} or not url.path.strip("/"):
        fail("--dsn: expected postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE", EXIT_USAGE)
    query = dict(part.partition("=")[::2] for part in url.query.split("&") if part)
    try:
        return PostgresSettings(
            host=url.hostname or "localhost",
            port=url.port or 5432,
            user=unquote(url.username or "postgres"),
            password=SecretStr(unquote(url.password or "")),
            db=unquote(url.path.strip("/")),
            sslmode=query.get("sslmode", "prefer"),
            # libpq's names of the TLS files (issue 17).
            ca_file=unquote(query["sslrootcert"]) if "sslrootcert" in query else None,
            cert_file=unquote(query["sslcert"]) if "sslcert" in query else None,
            keyfile=unquote(query["sslkey"]) if "sslkey" in query else None,
            pool_min_size=1,
            pool_max_size=1,
        )
    except (ValidationError, ValueError) as exc:  # never echo the URL: it holds the password
        fail(f"--dsn: not a usable database URL ({type(exc).__name__})", EXIT_USAGE)


def _run(settings: PostgresSettings, action: Callable[[Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = await Database.connect(settings, application_name="svcinfra-outbox")
        try:
            return await action(db)
        finally:
            await db.close(timeout=5.0)

    try:
        return asyncio.run(main())
    except TemporarilyUnavailable as exc:
        fail(f"cannot reach the database {settings.db} on {settings.host}: {exc}", EXIT_UNAVAILABLE)
    except (MessagingError, DatabaseError) as exc:
        missing = any(code in str(exc) for code in ("42P01", "42703"))  # no such table, column
        fail(f"{exc}{_NOT_MIGRATED if missing else ''}")
