"""The `notifications` command: `consume`, `relay` and `migrate` (PG-2: migrations from cli/).

    notifications migrate up|down|status      goose-compatible, from the embedded migrations
    notifications consume                     user.registered.v1 -> welcome email
    notifications relay                       outbox -> notification.sent.v1

Every command reads its configuration from the environment only (CF-1) and exits 78 listing
every problem when it is invalid (CF-6).
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING

import click

from notifications.app import setup_consume, setup_relay
from notifications.config import NotificationsConfig
from svcinfra.app import run
from svcinfra.config import PostgresSettings, load_config
from svcinfra.postgres.migrate import migrate_group

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def migrations_folder() -> Traversable:
    """The service's goose migrations, shipped as package data (PG-2)."""
    return files("notifications.cli") / "migrations"


def _postgres() -> PostgresSettings:
    # The same variables as the service's: a migration job shares its ConfigMap and Secret.
    return load_config(NotificationsConfig).postgres


@click.group(name="notifications")
def cli() -> None:
    """The notifications service: welcome emails for registered users."""


@cli.command()
def consume() -> None:
    """Consume user.registered.v1: send the welcome email, record it, announce it."""
    run(NotificationsConfig, setup_consume)


@cli.command()
def relay() -> None:
    """Publish the outbox's notification.sent.v1 rows with publisher confirms."""
    run(NotificationsConfig, setup_relay)


cli.add_command(migrate_group(migrations=migrations_folder(), settings=_postgres))
