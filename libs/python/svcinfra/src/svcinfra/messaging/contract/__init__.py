"""The AsyncAPI 3.0 contract as the source of truth for messaging (MQ-1, MQ-2, MQ-10).

    contract = load_package_contract("users")          # users/api/server/asyncapi.yaml
    contract.publication("user.registered.v1")         # exchange, routing key, message
    contract.validator("user.registered.v1").problems(payload)

A contract is checked against the official AsyncAPI 3.0.0 JSON schema (vendored from
`@asyncapi/specs` 6.11.1, AMQP bindings 0.3.0), then against rules the schema cannot state:
every message has a versioned name (`user.registered.v1`) and a JSON payload schema; every
consumed queue has a DLQ; operations reference channels and messages that exist; queue bindings
deliver the messages the queue claims, and routing keys end in the version of their messages.

AMQP bindings cannot describe queue arguments, bindings, retry tiers or DLQs, so these `x-`
extensions carry them:

* on an `is: queue` channel: `x-amqp-bindings: [{exchange: users.events, routingKey: user.*.v1}]`
  and `x-amqp-queue-arguments: {x-queue-type: quorum}`;
* on a `receive` operation: `x-retry: {maxAttempts: 4, backoff: [1s, 10s, 60s]}` and
  `x-dead-letter: {$ref: '#/channels/<dlq channel>'}` (mandatory);
* on a `send` operation: `x-publisher-confirms: true` (false is refused: MQ-5).
"""

from svcinfra.messaging._errors import ContractError, ContractProblem

from ._loader import (
    DEFAULT_RESOURCE,
    contract_from_document,
    load_contract,
    load_package_contract,
    parse_contract,
    read_document,
)
from ._model import (
    Consumption,
    Contract,
    ExchangeSpec,
    MessageSpec,
    PayloadValidator,
    Publication,
    QueueBinding,
    QueueSpec,
    RetryPolicy,
)
from ._names import MessageName, format_duration, parse_duration, topic_matches

__all__ = [
    "DEFAULT_RESOURCE",
    "Consumption",
    "Contract",
    "ContractError",
    "ContractProblem",
    "ExchangeSpec",
    "MessageName",
    "MessageSpec",
    "PayloadValidator",
    "Publication",
    "QueueBinding",
    "QueueSpec",
    "RetryPolicy",
    "contract_from_document",
    "format_duration",
    "load_contract",
    "load_package_contract",
    "parse_contract",
    "parse_duration",
    "read_document",
    "topic_matches",
]
