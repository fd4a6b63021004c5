"""`svcinfra asyncapi validate` and `svcinfra amqp declare`: the contract and topology from a shell.

    svcinfra asyncapi validate PATH [PATH ...]
    svcinfra amqp declare CONTRACT [--url URL | --config MODULE:CLASS] [--dry-run]

CONTRACT is a file, or a package whose `api/server/asyncapi.yaml` ships as package data
(`users`, or `users:path/to/asyncapi.yaml`). Exit status: 0 when valid / declared, 1 when the
contract has problems or the broker's topology clashes with it, 2 on bad usage, 69 when the
broker is unreachable, 78 when the service's configuration is invalid. No password is printed.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import aio_pika
import click

from svcinfra.config import AmqpSettings, Config, ConfigError, load_config, mask_url_credentials

from ._connect import connect_amqp
from ._errors import BrokerUnavailableError, ContractError, TopologyError
from .contract import Contract, load_contract, load_package_contract
from .contract._loader import DEFAULT_RESOURCE, check_document, parse_document
from .topology import DeclareReport, Topology, declare_topology

if TYPE_CHECKING:
    from pydantic import SecretStr

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = getattr(os, "EX_UNAVAILABLE", 69)
EXIT_CONFIG = getattr(os, "EX_CONFIG", 78)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `message` to stderr and exit with `code`."""
    click.echo(message, err=True)
    sys.exit(code)


@click.group()
def asyncapi() -> None:
    """Check AsyncAPI contracts (MQ-1, MQ-2, MQ-10)."""


@asyncapi.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
def validate(paths: tuple[Path, ...]) -> None:
    """Validate each contract: the official AsyncAPI 3.0 schema, then svcinfra's rules.

    Prints every problem as `FILE: JSON-PATH: message [rule]`; exits 1 when there is one.
    """
    failed = False
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{path}: cannot read: {exc.strerror}", EXIT_USAGE)
        document, problems = parse_document(text)
        contract = None
        if document is not None:
            contract, problems = check_document(document, str(path))
        if problems:
            failed = True
            for problem in problems:
                click.echo(f"{path}: {problem}")
            continue
        assert contract is not None  # noqa: S101  (no problems means a contract)
        click.echo(
            f"{path}: valid ({len(contract.messages)} messages, {len(contract.publications)} "
            f"sent, {len(contract.consumptions)} consumed)",
        )
    if failed:
        sys.exit(EXIT_FAILED)


@click.group()
def amqp() -> None:
    """Manage the RabbitMQ topology a contract describes (MQ-1, MQ-9, MQ-10)."""


@amqp.command("declare")
@click.argument("contract_source", metavar="CONTRACT")
@click.option(
    "--url",
    envvar="SVCINFRA_AMQP_URL",
    help="AMQP URL (or SVCINFRA_AMQP_URL); default: the AMQP section of --config.",
)
@click.option(
    "--config",
    "config_target",
    metavar="MODULE:CLASS",
    help="The service's Config class; its AMQP settings are read from the environment.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be declared; connect to nothing.")
def declare(
    contract_source: str, url: str | None, config_target: str | None, *, dry_run: bool
) -> None:
    """Declare the exchanges, queues, retry tiers, DLQs and bindings of CONTRACT, idempotently."""
    contract = load_source(contract_source)
    topology = Topology.from_contract(contract)
    for line in topology.describe():
        click.echo(line)
    if dry_run:
        return
    broker = amqp_url(url, config_target)
    try:
        report = asyncio.run(_declare(broker, topology))
    except BrokerUnavailableError as exc:
        fail(mask_url_credentials(str(exc)), EXIT_UNAVAILABLE)
    except TopologyError as exc:
        fail(str(exc))
    click.echo(
        f"declared {report.exchanges} exchanges, {report.queues} queues, "
        f"{report.bindings} bindings",
    )


def load_source(source: str) -> Contract:
    """Load a contract from a file, or from a package's data (`users[:resource]`)."""
    try:
        if Path(source).is_file():
            return load_contract(source)
        package, _, resource = source.partition(":")
        try:
            return load_package_contract(package, resource or DEFAULT_RESOURCE)
        except (ModuleNotFoundError, FileNotFoundError, TypeError) as exc:
            fail(
                f"{source}: neither a file nor a package with {resource or DEFAULT_RESOURCE}"
                f" ({exc})",
                EXIT_USAGE,
            )
    except ContractError as exc:
        fail(str(exc))


def amqp_url(url: str | None, config_target: str | None) -> str:
    """Return the broker URL: `--url`, else the AMQP section of the `--config` class."""
    if url:
        return url
    if not config_target:
        fail(
            "no broker: pass --url (or set SVCINFRA_AMQP_URL) or --config MODULE:CLASS", EXIT_USAGE
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
    for section in config.sections():
        value = getattr(config, section)
        if isinstance(value, AmqpSettings):
            secret: SecretStr = value.url()
            return secret.get_secret_value()
    fail(f"{config_target} has no AmqpSettings section", EXIT_USAGE)


async def _declare(url: str, topology: Topology) -> DeclareReport:
    try:
        connection = await connect_amqp(url, timeout=10)
    except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as exc:
        raise BrokerUnavailableError(f"cannot connect to {url}: {exc!r}") from exc
    async with connection:
        return await declare_topology(connection, topology)
