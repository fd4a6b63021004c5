"""The `fake-mail` command: `fake-mail serve` runs the dev-only mail API double (CI-6)."""

from __future__ import annotations

import click

from svcinfra.app import run

from .app import setup
from .config import FakeMailConfig
from .transport.http import openapi_yaml


@click.group()
def main() -> None:
    """Dev-only double of the external mail API; configured only from the environment."""


@main.command()
def serve() -> None:
    """Serve the API on API_PORT and livez / readyz / metrics on TECH_PORT until a signal."""
    run(FakeMailConfig, setup)


@main.command()
def openapi() -> None:
    """Print the OpenAPI document of the API (fake_mail/api/server/api.yaml holds it)."""
    click.echo(openapi_yaml(), nl=False)


if __name__ == "__main__":
    main()
