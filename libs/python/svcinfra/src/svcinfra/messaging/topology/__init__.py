"""The broker topology derived from the contract, declared idempotently at start-up.

    topology = Topology.from_contract(contract)
    await declare_topology(connection, topology)   # TopologyConflictError names any clash

Exchanges, durable queues and bindings come from the contract; each consumed queue also gets
one TTL wait queue per retry tier (`<queue>.retry.<delay>`) that dead-letters back to it, and
dead-letters to its DLQ itself (MQ-9, MQ-10). `svcinfra amqp declare CONTRACT` runs the same.
"""

from svcinfra.messaging._errors import TopologyConflict, TopologyConflictError, TopologyError

from ._declare import DeclareReport, declare_topology
from ._plan import (
    DEFAULT_EXCHANGE,
    BindingDeclaration,
    ExchangeDeclaration,
    QueueDeclaration,
    QueueRole,
    Topology,
    retry_queue_name,
)

__all__ = [
    "DEFAULT_EXCHANGE",
    "BindingDeclaration",
    "DeclareReport",
    "ExchangeDeclaration",
    "QueueDeclaration",
    "QueueRole",
    "Topology",
    "TopologyConflict",
    "TopologyConflictError",
    "TopologyError",
    "declare_topology",
    "retry_queue_name",
]
