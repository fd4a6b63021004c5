"""The AsyncAPI 3.0 contract as the source of truth for messaging (MQ-1, MQ-2, MQ-10).

    contract = load_package_contract("users")          # users/api/server/asyncapi.yaml
    contract.publication("user.registered.v1")         # exchange, routing key, message
    contract.validator("user.registered.v1").problems(payload)

A contract is read and judged as the official `@asyncapi/parser` (3.6.6) reads and judges it,
then against svcinfra's own rules:

1. the text is YAML 1.2 (the core schema: `on` and `2024-01-01` are strings), duplicate keys
   and keys that are not strings are refused (`_yaml.py`); `read_document` is the one reader
   of contract text, for code that rewrites a contract before validating it;
2. the official AsyncAPI 3.0.0 JSON schema (vendored from `@asyncapi/specs` 6.11.1, AMQP
   bindings 0.3.0), string formats (`email`, `uri`, ...) checked as ajv-formats checks them
   (`_formats.py`);
3. every `$ref` is local and points at something: `#/...` is percent-decoded, then read as a
   JSON pointer (RFC 6901: `Sent%20Payload`, `a~1b`); then the document with its references
   replaced by their targets is validated again, so a `$ref` to the wrong kind of object fails;
4. the official parser's `asyncapi3-*` rules (`_asyncapi3.py`): channel parameters match the
   address, channel servers come from `#/servers/`, channel keys have no `?` or `#`,
   operations' messages belong to their channel;
5. svcinfra's rules, which the official parser does not have: every message has a versioned
   name (`user.registered.v1`), JSON content and a payload whose `pattern`s compile (MQ-2);
   every consumed queue has a DLQ (MQ-10); operations reference channels and messages that
   exist; queue bindings deliver the messages the queue claims, and routing keys end in the
   version of their messages (MQ-1, MQ-2); retry tiers (MQ-9), publisher confirms (MQ-5).

A step reports its problems and stops; every problem has a JSON path and a rule (`asyncapi`
for the official schema and rules), never a traceback. The e2e test
`test_messaging_mutations.py` runs over a hundred one-change variants of a contract through the
official parser and this package: the verdicts agree except where a project rule, named in the
test, refuses on purpose. Where the official parser accepts and svcinfra refuses: unversioned
names, non-JSON content, a payload pattern Python cannot compile (MQ-2); a queue that is not
durable, no DLQ (MQ-10); confirms off (MQ-5); retry without delays (MQ-9); a channel without an
AMQP binding, an alias inside its own anchor (a contract is a tree), AsyncAPI other than 3.0.0,
`x-` extensions of the wrong shape (MQ-1).

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
