"""The broker side of the users events: the contract and its exchange, declared idempotently."""

from __future__ import annotations

from typing import TYPE_CHECKING

import aio_pika

from svcinfra.messaging import (
    BrokerUnavailableError,
    Contract,
    DeclareReport,
    Topology,
    connect_amqp,
    declare_topology,
    load_package_contract,
)

if TYPE_CHECKING:
    from svcinfra.config import AmqpSettings


def events_contract() -> Contract:
    """The users service's AsyncAPI contract (users/api/server/asyncapi.yaml, MQ-1)."""
    return load_package_contract("users")


async def declare_events(settings: AmqpSettings, contract: Contract) -> DeclareReport:
    """Declare the contract's exchange; changes nothing when it exists as described.

    Raises:
        BrokerUnavailableError: the broker cannot be reached.
        TopologyConflictError: the exchange exists with other properties.
    """
    try:
        connection = await connect_amqp(
            settings.url().get_secret_value(),
            timeout=settings.connect_timeout,
            client_properties={"connection_name": "users-declare"},
        )
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        raise BrokerUnavailableError(
            f"cannot connect to the broker to declare the topology ({type(exc).__name__})"
        ) from exc
    async with connection:
        return await declare_topology(connection, Topology.from_contract(contract))
