"""Declaring the service's part of the broker's topology, idempotently, at start-up (MQ-1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from svcinfra.messaging import DeclareReport, Topology, connect_amqp, declare_topology

if TYPE_CHECKING:
    from svcinfra.config import AmqpSettings
    from svcinfra.messaging import Contract


def consumer_topology(contract: Contract) -> Topology:
    """Everything the consumer needs: exchanges, work queue, binding, retry tiers and DLQ."""
    return Topology.from_contract(contract)


def relay_topology(contract: Contract) -> Topology:
    """What the relay needs: the exchanges the service publishes to, nothing it consumes."""
    published = {publication.exchange.name for publication in contract.publications.values()}
    full = Topology.from_contract(contract)
    return Topology(
        exchanges=tuple(ex for ex in full.exchanges if ex.name in published),
        queues=(),
        bindings=(),
    )


async def declare(settings: AmqpSettings, topology: Topology, *, name: str) -> DeclareReport:
    """Declare `topology` on its own short-lived connection; safe on every start.

    Raises:
        TopologyConflictError: an entity exists with other properties (nothing is changed).
        aio_pika.exceptions.AMQPConnectionError: the broker cannot be reached.
    """
    connection = await connect_amqp(
        settings.url().get_secret_value(),
        timeout=settings.connect_timeout,
        client_properties={"connection_name": f"{name}-declare"},
    )
    async with connection:
        return await declare_topology(connection, topology)
