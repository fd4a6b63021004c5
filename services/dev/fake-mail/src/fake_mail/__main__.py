"""The `fake-mail` command: `fake-mail serve` runs the dev-only mail API double (CI-6)."""

from __future__ import annotations

import click

from svcinfra.app import run

from .app import setup
from .config import FakeMailConfig


@click.group()
def main() -> None:
    """Dev-only double of the external mail API; configured only from the environment."""


@main.command()
def serve() -> None:
    """Serve the API on API_PORT and livez / readyz / metrics on TECH_PORT until a signal."""
    run(FakeMailConfig, setup)


if __name__ == "__main__":
    main()
