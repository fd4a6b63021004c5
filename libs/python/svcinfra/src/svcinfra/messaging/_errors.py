"""Errors of `svcinfra.messaging`: a contract that cannot be used, a topology, a publish.

```
MessagingError                 the root: anything the messaging layer raises on purpose
├── ContractError              the AsyncAPI contract breaks rules; `.problems` lists each (MQ-1)
├── BrokerUnavailableError     the broker could not be reached (connect refused, timed out)
├── BrokerBlockedError         the broker blocks publishing now (a memory or disk alarm)
├── TopologyError              declaring exchanges, queues or bindings failed
│   └── TopologyConflictError  an existing queue or exchange differs from the contract
└── PublishFailedError         a message was not confirmed by the broker (MQ-4, MQ-5)
    ├── InvalidMessageError    refused before sending: nothing was published
    │   ├── UnknownMessageError       the contract has no send operation for that message name
    │   └── PayloadValidationError    the payload violates the message's schema (names the field)
    ├── MessageReturnedError   the broker returned it: unroutable under `mandatory`
    ├── ExchangeNotFoundError  the exchange does not exist (the topology was never declared)
    ├── MessageNackedError     the broker refused responsibility for it (basic.nack)
    └── PublishDeadlineError   transient failures (connection, confirm timeout) outlasted it
```

Control-flow signals of the consumer (retry, reject) are not errors and do not live here.
Every `PublishFailedError` names the message, its `message_id`, the exchange and routing key,
and how many attempts were made; none carries the payload.
"""

from __future__ import annotations

from dataclasses import dataclass


class MessagingError(Exception):
    """The root of every error `svcinfra.messaging` raises on purpose."""


@dataclass(frozen=True, slots=True)
class ContractProblem:
    """One broken rule in a contract, at a JSON path (`$.channels.userEvents.address`).

    Attributes:
        path: where in the document, as a JSON path starting at `$`.
        message: what is wrong, in one sentence.
        rule: the spec rule it breaks (`MQ-1`, `MQ-2`, `MQ-10`) or `asyncapi` for the schema.
    """

    path: str
    message: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.rule}]"


class ContractError(MessagingError):
    """The AsyncAPI contract cannot be used; `problems` lists every problem found (MQ-1)."""

    def __init__(self, source: str, problems: list[ContractProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        count = len(self.problems)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}\n{lines}")


class BrokerUnavailableError(MessagingError):
    """The broker could not be reached within the connect timeout (refused, reset, timed out)."""


class BrokerBlockedError(MessagingError):
    """The broker blocks the publisher's connection (`connection.blocked`: a memory or disk alarm).

    Raised by `Publisher.check()` (readiness) only: publishes wait for the block to end, each
    within its own deadline.
    """


class TopologyError(MessagingError):
    """Declaring the contract's exchanges, queues or bindings failed."""


@dataclass(frozen=True, slots=True)
class TopologyConflict:
    """An entity that exists on the broker with other properties than the contract declares.

    Attributes:
        kind: `queue` or `exchange`.
        name: the entity's name.
        argument: the differing argument as the broker names it (`x-message-ttl`, `type`, ...).
        wanted: the value the contract declares, as the broker reported it (or ours).
        existing: the value the entity has on the broker.
    """

    kind: str
    name: str
    argument: str
    wanted: str
    existing: str

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.name!r} exists with {self.argument}={self.existing}, "
            f"the contract declares {self.argument}={self.wanted}"
        )


class TopologyConflictError(TopologyError):
    """Existing queues or exchanges differ from the contract; nothing about them was changed.

    RabbitMQ never changes an existing queue's arguments: redeclaring it with others closes the
    channel (PRECONDITION_FAILED). Retrying cannot help, so a service must stop with this error
    rather than restart in a loop; an operator deletes or migrates the entity, or fixes the
    contract.
    """

    def __init__(self, conflicts: list[TopologyConflict]) -> None:
        self.conflicts = tuple(conflicts)
        lines = "\n".join(f"  {conflict}" for conflict in self.conflicts)
        super().__init__(
            "the broker's topology differs from the contract (RabbitMQ keeps existing "
            "arguments; delete or migrate these entities, or fix the contract):\n" + lines,
        )


class PublishFailedError(MessagingError):
    """A message was not confirmed by the broker; the root of every publish error (MQ-4).

    Attributes:
        message_name: the contract's message name (`user.registered.v1`).
        message_id: the id the message had on every attempt (MQ-6).
        exchange: the exchange it was published to.
        routing_key: its routing key.
        attempts: how many times it was sent (0 when it was refused before sending).
    """

    def __init__(
        self,
        text: str,
        *,
        message_name: str,
        message_id: str | None = None,
        exchange: str | None = None,
        routing_key: str | None = None,
        attempts: int = 0,
    ) -> None:
        self.message_name = message_name
        self.message_id = message_id
        self.exchange = exchange
        self.routing_key = routing_key
        self.attempts = attempts
        where = f" to {exchange!r} with routing key {routing_key!r}" if exchange is not None else ""
        ident = f" (message_id {message_id}, {attempts} attempt{'s' if attempts != 1 else ''})"
        super().__init__(f"{message_name}{where}: {text}{ident if message_id else ''}")

    @property
    def temporary(self) -> bool:
        """Whether publishing the same message later may succeed."""
        return isinstance(self, PublishDeadlineError | MessageNackedError)


class InvalidMessageError(PublishFailedError):
    """The message was refused before sending (name, payload or headers); nothing was published."""


class UnknownMessageError(InvalidMessageError):
    """The contract has no send operation for this message name (MQ-1)."""


@dataclass(frozen=True, slots=True)
class PayloadProblem:
    """One schema violation in a payload: the field (JSON path) and what is wrong with it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class PayloadValidationError(InvalidMessageError):
    """The payload violates the message's schema in the contract (MQ-2); nothing was published."""

    def __init__(self, *, message_name: str, problems: list[PayloadProblem]) -> None:
        self.problems = tuple(problems)
        listed = "; ".join(str(problem) for problem in self.problems)
        super().__init__(
            f"payload violates the contract's schema: {listed}",
            message_name=message_name,
        )


class MessageReturnedError(PublishFailedError):
    """The broker returned the message: no queue is bound for its routing key (`mandatory`)."""


class ExchangeNotFoundError(PublishFailedError):
    """The exchange does not exist on the broker: declare the topology first."""


class MessageNackedError(PublishFailedError):
    """The broker nacked the message (a full queue rejecting publishes, an internal error)."""


class PublishDeadlineError(PublishFailedError):
    """Transient failures (connection lost, refused, confirm timeout) outlasted the deadline.

    The message may or may not have reached the broker: publishing it again with the same
    `message_id` is safe, because consumers deduplicate by it (MQ-3).
    """
