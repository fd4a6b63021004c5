"""The `users` command line: the processes (serve, relay), migrations and the OpenAPI document.

The goose migrations in `users/cli/migrations/` ship as package data (PG-2); the outbox table's
migration is the library's (`svcinfra.messaging.storage.write_migrations`), committed here as the
service's own file, so goose and `users migrate` apply the same set.
"""

from __future__ import annotations

from importlib.resources import files

import click

from svcinfra.config import PostgresSettings, load_config
from svcinfra.postgres.migrate import migrate_group
from users import app
from users.config import UsersConfig
from users.transport.http import openapi_yaml


def _postgres() -> PostgresSettings:
    return load_config(UsersConfig).postgres


@click.group()
def cli() -> None:
    """The users service: HTTP API on PostgreSQL, a Redis profile cache, events via the outbox."""


@cli.command()
def serve() -> None:
    """Serve the HTTP API on API_PORT and the tech port on TECH_PORT."""
    app.serve()


@cli.command()
def relay() -> None:
    """Declare the events exchange and publish committed outbox rows (publisher confirms)."""
    app.relay()


@cli.command()
def openapi() -> None:
    """Print the OpenAPI document of the HTTP API (users/api/server/api.yaml holds it)."""
    click.echo(openapi_yaml(), nl=False)


cli.add_command(migrate_group(migrations=files("users.cli") / "migrations", settings=_postgres))
