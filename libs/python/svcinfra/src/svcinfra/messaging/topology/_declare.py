"""Idempotent declaration of a topology, with argument clashes reported instead of crash loops."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import aiormq.exceptions
import structlog

from svcinfra.messaging._errors import (
    BrokerUnavailableError,
    TopologyConflict,
    TopologyConflictError,
    TopologyError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aio_pika.abc import AbstractChannel, AbstractConnection

    from ._plan import BindingDeclaration, ExchangeDeclaration, QueueDeclaration, Topology

_log = structlog.get_logger("svcinfra.messaging")
_T = TypeVar("_T")

# RabbitMQ's text for a redeclaration with other properties (it names the first difference only).
_INEQUIVALENT = re.compile(
    r"inequivalent arg '(?P<argument>[^']+)' for (?P<kind>queue|exchange) '(?P<name>.*)' in vhost"
    r" '[^']*': received (?P<wanted>.+?) but current is (?P<existing>.+)$",
)


@dataclass(frozen=True, slots=True)
class DeclareReport:
    """What `declare_topology` declared (each entity either existed identically or was created)."""

    exchanges: int
    queues: int
    bindings: int


async def declare_topology(
    connection: AbstractConnection,
    topology: Topology,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109  (a per-operation RPC timeout, not the call's deadline)
) -> DeclareReport:
    """Declare every exchange, queue and binding of `topology`; safe to run on every start-up.

    Declaring an entity that exists with the same properties changes nothing, so services run
    this at start-up and `svcinfra amqp declare` runs the same code. An entity that exists with
    other properties is left untouched: RabbitMQ answers PRECONDITION_FAILED and closes the
    channel, so this opens a fresh channel, goes on with the rest, and raises one
    TopologyConflictError naming every clashing queue or exchange and the argument that differs
    (the broker names the first difference of each entity).

    Args:
        connection: an open connection; a channel of its own is opened and closed here.
        topology: what to declare, usually `Topology.from_contract(contract)`.
        timeout: seconds each declaration may take.

    Raises:
        TopologyConflictError: existing entities differ from the topology.
        TopologyError: the broker refused a declaration for another reason (access, limits).
        BrokerUnavailableError: the connection failed while declaring.
    """
    declarer = _Declarer(connection, timeout)
    try:
        for exchange in topology.exchanges:
            await declarer.run("exchange", exchange.name, _declare_exchange, exchange)
        for queue in topology.queues:
            await declarer.run("queue", queue.name, _declare_queue, queue)
        for binding in topology.bindings:
            await declarer.run("binding", f"{binding.exchange} -> {binding.queue}", _bind, binding)
    except (aiormq.exceptions.AMQPConnectionError, ConnectionError, TimeoutError) as exc:
        raise BrokerUnavailableError(f"the connection failed while declaring: {exc}") from exc
    finally:
        await declarer.close()
    if declarer.conflicts:
        _log.error(
            "amqp topology conflicts with the broker",
            conflicts=[str(conflict) for conflict in declarer.conflicts],
        )
        raise TopologyConflictError(declarer.conflicts)
    report = DeclareReport(len(topology.exchanges), len(topology.queues), len(topology.bindings))
    _log.info(
        "amqp topology declared",
        exchanges=report.exchanges,
        queues=report.queues,
        bindings=report.bindings,
    )
    return report


class _Declarer:
    def __init__(self, connection: AbstractConnection, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.channel: AbstractChannel | None = None
        self.conflicts: list[TopologyConflict] = []

    async def run(
        self,
        kind: str,
        name: str,
        action: Callable[[AbstractChannel, _T, float], Awaitable[None]],
        item: _T,
    ) -> None:
        if self.channel is None or self.channel.is_closed:
            # Plain channel: declarations need no confirms.
            self.channel = await self.connection.channel(publisher_confirms=False)
        try:
            await action(self.channel, item, self.timeout)
        except aiormq.exceptions.ChannelPreconditionFailed as exc:
            self.channel = None  # the broker closed it
            self.conflicts.append(_conflict(kind, name, exc))
        except aiormq.exceptions.ChannelClosed as exc:
            self.channel = None
            raise TopologyError(f"the broker refused to declare {kind} {name!r}: {exc}") from exc

    async def close(self) -> None:
        if self.channel is not None and not self.channel.is_closed:
            await self.channel.close()


async def _declare_exchange(
    channel: AbstractChannel,
    exchange: ExchangeDeclaration,
    timeout: float,  # noqa: ASYNC109  (a per-RPC timeout)
) -> None:
    await channel.declare_exchange(
        exchange.name,
        exchange.type,
        durable=exchange.durable,
        auto_delete=exchange.auto_delete,
        timeout=timeout,
    )


async def _declare_queue(
    channel: AbstractChannel,
    queue: QueueDeclaration,
    timeout: float,  # noqa: ASYNC109  (a per-RPC timeout)
) -> None:
    await channel.declare_queue(
        queue.name, durable=queue.durable, arguments=dict(queue.arguments), timeout=timeout
    )


async def _bind(
    channel: AbstractChannel,
    binding: BindingDeclaration,
    timeout: float,  # noqa: ASYNC109  (a per-RPC timeout)
) -> None:
    # ensure=False: bind by name, without a passive declare that could close the channel.
    queue = await channel.get_queue(binding.queue, ensure=False)
    await queue.bind(binding.exchange, binding.routing_key, timeout=timeout)


def _conflict(kind: str, name: str, exc: Exception) -> TopologyConflict:
    text = str(exc.args[0]) if exc.args else str(exc)
    match = _INEQUIVALENT.search(text)
    if match is None:
        return TopologyConflict(kind, name, "properties", "(see the broker)", text)
    return TopologyConflict(
        match["kind"],
        match["name"],
        match["argument"],
        _unquote(match["wanted"]),
        _unquote(match["existing"]),
    )


def _unquote(value: str) -> str:
    # "'1000'", "the value '1000' of type 'long'", "none"
    found = re.match(r"(?:the value )?'(?P<v>[^']*)'(?: of type '(?P<t>[^']*)')?$", value)
    return found["v"] if found else value
