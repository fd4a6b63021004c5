"""RabbitMQ messaging driven by the AsyncAPI contract (MQ-1 .. MQ-11).

    contract = load_package_contract("users")               # api/server/asyncapi.yaml
    async with await connect_amqp(url) as connection:  # a cluster's host list fails over
        await declare_topology(connection, Topology.from_contract(contract))
    async with Publisher.from_settings(contract, config.amqp, name="users") as publisher:
        await publisher.publish("user.registered.v1", {"user_id": ..., ...})

Subpackages by role: `contract` (load and validate the AsyncAPI document), `topology` (exchanges,
queues, retry tiers, DLQs, declared idempotently), `publisher` (confirmed publishing), and, with
the `postgres` extra (they live in the service's database, so they are imported on their own):
`outbox` (transactional outbox, its relay, parked rows: `svcinfra outbox ...`), `consumer`
(prefetch, inbox and its purge job, retry tiers, DLQ), `inbox`, `storage` (their migrations and
queries) and `dlq` (`svcinfra dlq ...`). Header names
shared by publisher and consumer are in `svcinfra.messaging.headers`. Errors form one tree
rooted at `MessagingError` (see `svcinfra.messaging._errors`); a handler's `Retry` / `Reject`
are control-flow signals, apart from it.
"""

from . import headers
from ._connect import connect_amqp
from ._errors import (
    BrokerBlockedError,
    BrokerUnavailableError,
    ContractError,
    ContractProblem,
    ExchangeNotFoundError,
    InvalidMessageError,
    MessageNackedError,
    MessageReturnedError,
    MessagingError,
    PayloadProblem,
    PayloadValidationError,
    PublishDeadlineError,
    PublishFailedError,
    TopologyConflict,
    TopologyConflictError,
    TopologyError,
    UnknownMessageError,
)
from .contract import Contract, load_contract, load_package_contract, parse_contract
from .publisher import Backoff, Publisher, PublishReceipt
from .topology import DeclareReport, Topology, declare_topology

__all__ = [
    "Backoff",
    "BrokerBlockedError",
    "BrokerUnavailableError",
    "Contract",
    "ContractError",
    "ContractProblem",
    "DeclareReport",
    "ExchangeNotFoundError",
    "InvalidMessageError",
    "MessageNackedError",
    "MessageReturnedError",
    "MessagingError",
    "PayloadProblem",
    "PayloadValidationError",
    "PublishDeadlineError",
    "PublishFailedError",
    "PublishReceipt",
    "Publisher",
    "Topology",
    "TopologyConflict",
    "TopologyConflictError",
    "TopologyError",
    "UnknownMessageError",
    "connect_amqp",
    "declare_topology",
    "headers",
    "load_contract",
    "load_package_contract",
    "parse_contract",
]
