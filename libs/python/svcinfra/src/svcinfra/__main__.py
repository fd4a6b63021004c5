"""The `svcinfra` command line."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from svcinfra.config import Config, ConfigError, load_config, render_env_example

EX_CONFIG = getattr(os, "EX_CONFIG", 78)


def _config_class(target: str) -> type[Config]:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise click.BadParameter("expected MODULE:CLASS, e.g. users.config:UsersConfig")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {target}: {exc}") from exc
    if not (isinstance(obj, type) and issubclass(obj, Config)):
        raise click.BadParameter(f"{target} is not a svcinfra.config.Config subclass")
    return obj


class _LazyGroup(click.Group):
    """A group whose subcommands are imported only when run.

    Each area's commands need that area's driver (asyncpg, aio-pika, ...), which is an optional
    extra; `svcinfra config` must work without them, and `--help` should not import them all.
    """

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        self._lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self._lazy.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attr = target.partition(":")
        try:
            command = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            raise click.ClickException(
                f"`svcinfra {cmd_name}` needs {exc.name}: install svcinfra with its extra",
            ) from exc
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command


@click.group(
    cls=_LazyGroup,
    lazy={
        "amqp": "svcinfra.messaging.cli:amqp",
        "asyncapi": "svcinfra.messaging.cli:asyncapi",
        "check": "svcinfra.check:check",
        "dlq": "svcinfra.messaging.dlq:dlq",
        "env": "svcinfra.envtool:env",
        "migrate": "svcinfra.postgres.migrate:migrate",
        "monitoring": "svcinfra.monitoring:monitoring",
        "new": "svcinfra.newservice:new",
        "outbox": "svcinfra.messaging.outbox._cli:outbox",
        "provision": "svcinfra.provision._cli:provision",
    },
)
@click.version_option(package_name="svcinfra")
def main() -> None:
    """Infrastructure integration rules for Python services."""


@main.group()
def config() -> None:
    """Inspect a service's configuration schema and environment (CF-*)."""


@config.command("example")
@click.argument("target")
@click.option("--env-prefix", default="", help="The service's ENV_PREFIX, e.g. USERS_.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here, not stdout.")
@click.option("--check", is_flag=True, help="Exit 1 if OUTPUT differs from the schema.")
def config_example(target: str, env_prefix: str, output: Path | None, *, check: bool) -> None:
    """Render .env.example for the Config class TARGET (MODULE:CLASS)."""
    text = render_env_example(_config_class(target), env_prefix)
    if output is None:
        click.echo(text, nl=False)
        return
    if check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            click.echo(f"{output} is out of date; regenerate it without --check", err=True)
            sys.exit(1)
        return
    output.write_text(text, encoding="utf-8")


@config.command("validate")
@click.argument("target")
def config_validate(target: str) -> None:
    """Validate the current environment against TARGET; list every problem, never a value."""
    try:
        loaded = load_config(_config_class(target))
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EX_CONFIG)
    click.echo(f"configuration is valid ({len(loaded.safe_dump())} variables)")


if __name__ == "__main__":
    main()
