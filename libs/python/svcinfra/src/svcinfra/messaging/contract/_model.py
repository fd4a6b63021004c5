"""The contract as values: messages, exchanges, queues, what is published and what is consumed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from svcinfra.messaging._errors import PayloadProblem, UnknownMessageError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from jsonschema import Draft7Validator


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """One version of one message (MQ-2): `user.registered.v1` and its payload schema.

    Attributes:
        name: the versioned name; also the AMQP `type` and, on its exchange, the routing key.
        base: the name without its version (`user.registered`).
        version: the version (1 for `.v1`).
        component: the key of the message in `components.messages` (`UserRegisteredV1`).
        payload: the payload's JSON schema as written in the contract (`$ref`s unresolved).
    """

    name: str
    base: str
    version: int
    component: str
    payload: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    """An exchange the contract describes (`is: routingKey` channel binding)."""

    name: str
    type: str
    durable: bool = True
    auto_delete: bool = False


@dataclass(frozen=True, slots=True)
class QueueBinding:
    """A binding of a queue to an exchange with a routing key or pattern (`x-amqp-bindings`)."""

    exchange: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """A queue the contract describes (`is: queue` channel binding).

    Attributes:
        name: the queue's name (the channel's `address`).
        channel: the id of the channel that describes it.
        durable: survives a broker restart.
        arguments: extra declare arguments (`x-amqp-queue-arguments`), e.g. `x-queue-type`.
        bindings: where it receives messages from (`x-amqp-bindings`).
    """

    name: str
    channel: str
    durable: bool = True
    exclusive: bool = False
    auto_delete: bool = False
    arguments: Mapping[str, Any] = field(default_factory=dict)
    bindings: tuple[QueueBinding, ...] = ()


@dataclass(frozen=True, slots=True)
class Publication:
    """Where a message is sent (a `send` operation): its exchange and routing key.

    `mandatory` (the operation's AMQP binding, true unless it says false): whether a message no
    queue is bound for is returned, and so a `MessageReturnedError`, or dropped by the broker.
    """

    operation: str
    message: MessageSpec
    exchange: ExchangeSpec
    routing_key: str
    mandatory: bool = True


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a consumer retries temporary failures (`x-retry`, MQ-9).

    Attributes:
        max_attempts: deliveries in all, the first included; 1 means no retry.
        delays_ms: the wait of each retry tier in milliseconds; retry N waits
            `delays_ms[min(N, len) - 1]`, so the last tier repeats when attempts outnumber tiers.
    """

    max_attempts: int = 1
    delays_ms: tuple[int, ...] = ()

    def delay_ms(self, retry: int) -> int:
        """Return the wait before retry number `retry` (1 for the first retry)."""
        if not self.delays_ms or retry < 1:
            raise ValueError("no retry tier for this attempt")
        return self.delays_ms[min(retry, len(self.delays_ms)) - 1]


@dataclass(frozen=True, slots=True)
class Consumption:
    """What a `receive` operation consumes, how it retries, and where failures go (MQ-9, MQ-10)."""

    operation: str
    queue: QueueSpec
    messages: tuple[MessageSpec, ...]
    retry: RetryPolicy
    dead_letter: QueueSpec


class PayloadValidator:
    """A message's payload schema, compiled once; validates payloads before they are sent.

    jsonschema is the judge of validity and the source of the problem messages. When the schema
    stays within the subset `_fastcheck` compiles, a valid payload (the common case) is accepted
    by the compiled check alone; any doubt is settled by jsonschema.
    """

    __slots__ = ("_fast", "_message", "_validator")

    def __init__(
        self,
        message: str,
        validator: Draft7Validator,
        fast: Callable[[object], bool] | None = None,
    ) -> None:
        self._message = message
        self._validator = validator
        self._fast = fast

    @property
    def compiled(self) -> bool:
        """Whether valid payloads are accepted by the compiled check, without jsonschema."""
        return self._fast is not None

    def problems(self, payload: object) -> list[PayloadProblem]:
        """Return every violation, each with the JSON path of the field; empty when valid."""
        if self._fast is not None:
            if self._fast(payload):
                return []
        elif self._validator.is_valid(payload):
            return []
        return sorted(
            (
                PayloadProblem(error.json_path, error.message)
                for error in self._validator.iter_errors(payload)
            ),
            key=lambda problem: problem.path,
        )


@dataclass(frozen=True, slots=True)
class Contract:
    """A loaded, validated AsyncAPI contract (MQ-1): the single source of the messaging topology.

    Attributes:
        source: where it was loaded from (a path or `package:resource`).
        title: `info.title`.
        version: `info.version` (the document's version; messages carry their own).
        messages: every message, by versioned name.
        exchanges: every exchange, by name.
        queues: every queue, by name.
        publications: what this application sends, by message name.
        consumptions: what this application receives.
        document: the parsed YAML, as written.
    """

    source: str
    title: str
    version: str
    messages: Mapping[str, MessageSpec]
    exchanges: Mapping[str, ExchangeSpec]
    queues: Mapping[str, QueueSpec]
    publications: Mapping[str, Publication]
    consumptions: tuple[Consumption, ...]
    document: Mapping[str, Any] = field(repr=False)
    validators: Mapping[str, PayloadValidator] = field(repr=False)

    def publication(self, message_name: str) -> Publication:
        """Return where `message_name` is sent; raise UnknownMessageError if it is not sent."""
        try:
            return self.publications[message_name]
        except KeyError:
            known = ", ".join(sorted(self.publications)) or "none"
            raise UnknownMessageError(
                f"the contract {self.source} has no send operation for it (sends: {known})",
                message_name=message_name,
            ) from None

    def validator(self, message_name: str) -> PayloadValidator:
        """Return the compiled payload validator of `message_name`."""
        try:
            return self.validators[message_name]
        except KeyError:
            raise UnknownMessageError(
                f"the contract {self.source} has no such message",
                message_name=message_name,
            ) from None
