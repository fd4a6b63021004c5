"""`svcinfra dlq list | show | replay | purge`: the contract's dead-letter queues from a shell.

    svcinfra dlq list CONTRACT [--url URL | --config MODULE:CLASS]
    svcinfra dlq show CONTRACT QUEUE [--limit N] [--body]
    svcinfra dlq replay CONTRACT QUEUE [--limit N] [--message-id ID ...]
    svcinfra dlq purge CONTRACT QUEUE --yes

QUEUE is a DLQ of the contract (or its work queue, meaning that queue's DLQ). Bodies are not
printed unless asked (`--body`): they may hold personal data. Exit status as `svcinfra amqp`:
0 done, 1 failed (a replay left messages behind), 2 bad usage, 69 broker unreachable.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

import aio_pika
import click

from svcinfra.config import mask_url_credentials
from svcinfra.messaging._connect import connect_amqp
from svcinfra.messaging._errors import BrokerUnavailableError, MessagingError
from svcinfra.messaging.cli import (
    EXIT_FAILED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    amqp_url,
    fail,
    load_source,
)

from ._tool import dead_letter_queue, list_queues, peek, purge, replay

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aio_pika.abc import AbstractConnection

    from svcinfra.messaging.contract import Consumption

T = TypeVar("T")

_url_option = click.option(
    "--url",
    envvar="SVCINFRA_AMQP_URL",
    help="AMQP URL (or SVCINFRA_AMQP_URL); default: the AMQP section of --config.",
)
_config_option = click.option(
    "--config",
    "config_target",
    metavar="MODULE:CLASS",
    help="The service's Config class; its AMQP settings are read from the environment.",
)


@click.group()
def dlq() -> None:
    """Inspect, replay and purge the contract's dead-letter queues (MQ-10)."""


@dlq.command("list")
@click.argument("contract_source", metavar="CONTRACT")
@_url_option
@_config_option
def list_command(contract_source: str, url: str | None, config_target: str | None) -> None:
    """List each DLQ of CONTRACT with its work queue and depth."""
    contract = load_source(contract_source)
    queues = _run(amqp_url(url, config_target), lambda c: list_queues(c, contract))
    click.echo(f"{'dead-letter queue':<50} {'messages':>8} {'consumers':>9}  work queue")
    for queue in queues:
        click.echo(f"{queue.name:<50} {queue.messages:>8} {queue.consumers:>9}  {queue.work_queue}")


@dlq.command("show")
@click.argument("contract_source", metavar="CONTRACT")
@click.argument("queue")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--body", is_flag=True, help="Print bodies too (they may hold personal data).")
@_url_option
@_config_option
def show_command(
    contract_source: str,
    queue: str,
    limit: int,
    url: str | None,
    config_target: str | None,
    *,
    body: bool,
) -> None:
    """Print the first messages of a DLQ and why each is there; they stay in the queue."""
    name = _dlq_name(contract_source, queue)
    letters = _run(amqp_url(url, config_target), lambda c: peek(c, name, limit=limit))
    click.echo(f"{name}: showing {len(letters)} message(s)")
    for letter in letters:
        click.echo(
            f"- message_id={letter.message_id} type={letter.message_type} "
            f"correlation_id={letter.correlation_id}\n"
            f"  {letter.error_class}/{letter.error_type} after {letter.attempts} attempt(s) "
            f"at {letter.failed_at} in {letter.consumer}: {letter.error_message}\n"
            f"  from exchange {letter.original_exchange!r} "
            f"routing key {letter.original_routing_key!r}"
        )
        if body:
            click.echo(f"  body: {letter.body.decode('utf-8', errors='replace')}")


@dlq.command("replay")
@click.argument("contract_source", metavar="CONTRACT")
@click.argument("queue")
@click.option("--limit", type=click.IntRange(min=1), help="Replay at most N messages.")
@click.option("--message-id", "message_ids", multiple=True, help="Replay only these ids.")
@_url_option
@_config_option
def replay_command(  # noqa: PLR0917  (click passes each option)
    contract_source: str,
    queue: str,
    limit: int | None,
    message_ids: tuple[str, ...],
    url: str | None,
    config_target: str | None,
) -> None:
    """Republish DLQ messages to their work queue only, with a fresh attempt counter."""
    consumption = _consumption(contract_source, queue)
    name, work_queue = consumption.dead_letter.name, consumption.queue.name
    report = _run(
        amqp_url(url, config_target),
        lambda c: replay(
            c, name, to_queue=work_queue, limit=limit, message_ids=set(message_ids) or None
        ),
    )
    click.echo(f"{name}: replayed {len(report.replayed)}, failed {len(report.failed)}")
    for message_id in report.failed:
        click.echo(f"  not replayed (still in the DLQ): {message_id}", err=True)
    if report.failed:
        raise SystemExit(EXIT_FAILED)


@dlq.command("purge")
@click.argument("contract_source", metavar="CONTRACT")
@click.argument("queue")
@click.option("--yes", is_flag=True, help="Confirm: the messages are deleted for good.")
@_url_option
@_config_option
def purge_command(
    contract_source: str, queue: str, url: str | None, config_target: str | None, *, yes: bool
) -> None:
    """Delete every message of a DLQ (needs --yes)."""
    name = _dlq_name(contract_source, queue)
    if not yes:
        fail(f"{name}: purging deletes its messages for good; add --yes", EXIT_USAGE)
    count = _run(amqp_url(url, config_target), lambda c: purge(c, name))
    click.echo(f"{name}: purged {count} message(s)")


def _dlq_name(contract_source: str, queue: str) -> str:
    return _consumption(contract_source, queue).dead_letter.name


def _consumption(contract_source: str, queue: str) -> Consumption:
    try:
        return dead_letter_queue(load_source(contract_source), queue)
    except MessagingError as exc:
        fail(str(exc), EXIT_USAGE)


def _run(url: str, action: Callable[[AbstractConnection], Awaitable[T]]) -> T:
    async def main() -> T:
        try:
            connection = await connect_amqp(url, timeout=10)
        except (OSError, aio_pika.exceptions.AMQPError, TimeoutError) as exc:
            raise BrokerUnavailableError(f"cannot connect to {url}: {exc!r}") from exc
        async with connection:
            return await action(connection)

    try:
        return asyncio.run(main())
    except BrokerUnavailableError as exc:
        fail(mask_url_credentials(str(exc)), EXIT_UNAVAILABLE)
    except MessagingError as exc:
        fail(str(exc))
    except aio_pika.exceptions.AMQPError as exc:
        fail(f"the broker refused: {exc}")
