"""The broker topology a contract implies: exchanges, queues, retry tiers, DLQs and bindings.

For every consumed work queue `Q` with DLQ `D` and retry delays `d1, d2, ...` (MQ-9, MQ-10):

```
exchange --binding--> Q  (x-dead-letter-exchange "", x-dead-letter-routing-key D)
                      |  the consumer republishes a temporary failure, with `retry-count` + 1,
                      v  to the wait queue of its tier through the default exchange
                      Q.retry.<d>  (x-message-ttl d, x-dead-letter-exchange "",
                      |             x-dead-letter-routing-key Q): expired -> back to Q
                      '- after the last attempt, a permanent error or an invalid payload, the
                         consumer publishes to D with the reason headers, then acks
D  (durable; also receives whatever Q rejects without requeue, e.g. a quorum delivery-limit)
```

One wait queue per delay, never per-message TTL in a shared queue: expiry happens only at the
head of a queue, so messages with different delays would block each other. Wait queues take the
work queue's `x-queue-type`. All dead-lettering goes through the default exchange (routing key =
queue name), so no extra exchange can be missing (a missing DLX silently drops messages).

Work queues, wait queues and DLQs are quorum queues unless the contract's
`x-amqp-queue-arguments` names another `x-queue-type` (a DLQ and the wait queues take their work
queue's type; issue 16): a classic queue dead-letters
at most once, so a message moving from a wait queue back to its work queue (or to the DLQ) could
vanish when the broker has trouble at that moment. A quorum queue that dead-letters gets
`x-dead-letter-strategy: at-least-once` with `x-overflow: reject-publish` (RabbitMQ 3.10+; the
strategy needs that overflow mode): the message leaves the source queue only once the target
queue confirmed it. A queue's type cannot change in place; see docs/messaging.md for migrating
an existing classic queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from svcinfra.messaging.contract import format_duration

if TYPE_CHECKING:
    from collections.abc import Mapping

    from svcinfra.messaging.contract import Contract

DEFAULT_EXCHANGE = ""
RETRY_INFIX = ".retry."
QUEUE_TYPE = "x-queue-type"
DEFAULT_QUEUE_TYPE = "quorum"
# What a quorum queue that dead-letters gets unless the contract says otherwise (issue 16).
AT_LEAST_ONCE: Mapping[str, str] = {
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


class QueueRole(StrEnum):
    """Why a queue exists."""

    WORK = "work"
    """Consumed by a receive operation of the contract."""
    RETRY = "retry"
    """A TTL wait queue of one retry tier; expired messages go back to the work queue."""
    DEAD_LETTER = "dead-letter"
    """A DLQ: messages that failed for good, with the reason in their headers."""
    PLAIN = "plain"
    """Described by the contract, consumed by another application."""


@dataclass(frozen=True, slots=True)
class ExchangeDeclaration:
    """An exchange to declare."""

    name: str
    type: str
    durable: bool = True
    auto_delete: bool = False


@dataclass(frozen=True, slots=True)
class QueueDeclaration:
    """A durable queue to declare, with the arguments it must have."""

    name: str
    role: QueueRole
    arguments: Mapping[str, Any] = field(default_factory=dict)
    durable: bool = True


@dataclass(frozen=True, slots=True)
class BindingDeclaration:
    """A binding of a queue to an exchange."""

    queue: str
    exchange: str
    routing_key: str


@dataclass(frozen=True, slots=True)
class Topology:
    """Everything to declare on the broker, in declaration order (exchanges, queues, bindings)."""

    exchanges: tuple[ExchangeDeclaration, ...]
    queues: tuple[QueueDeclaration, ...]
    bindings: tuple[BindingDeclaration, ...]

    @classmethod
    def from_contract(cls, contract: Contract) -> Topology:
        """Derive the topology of `contract` (the contract is the single source, MQ-1)."""
        exchanges = tuple(
            ExchangeDeclaration(ex.name, ex.type, durable=ex.durable, auto_delete=ex.auto_delete)
            for ex in contract.exchanges.values()
            if ex.type != "default"
        )
        roles: dict[str, QueueRole] = dict.fromkeys(contract.queues, QueueRole.PLAIN)
        arguments: dict[str, dict[str, Any]] = {
            name: dict(queue.arguments) for name, queue in contract.queues.items()
        }
        retry_queues: dict[str, QueueDeclaration] = {}
        for consumption in contract.consumptions:
            work, dlq = consumption.queue, consumption.dead_letter
            roles[work.name] = QueueRole.WORK
            roles.setdefault(dlq.name, QueueRole.DEAD_LETTER)
            if roles[dlq.name] is QueueRole.PLAIN:
                roles[dlq.name] = QueueRole.DEAD_LETTER
            arguments[work.name] = _dead_lettering(
                arguments[work.name]
                | {
                    "x-dead-letter-exchange": DEFAULT_EXCHANGE,
                    "x-dead-letter-routing-key": dlq.name,
                },
            )
            # The DLQ takes the work queue's type unless its own channel names one.
            arguments[dlq.name] = {QUEUE_TYPE: arguments[work.name][QUEUE_TYPE]} | arguments[
                dlq.name
            ]
            for delay in sorted(set(consumption.retry.delays_ms)):
                wait = retry_queue_name(work.name, delay)
                retry_queues[wait] = QueueDeclaration(
                    wait,
                    QueueRole.RETRY,
                    _dead_lettering(_retry_arguments(work.name, arguments[work.name], delay)),
                )
        queues = [QueueDeclaration(name, roles[name], arguments[name]) for name in contract.queues]
        bindings = tuple(
            BindingDeclaration(queue.name, binding.exchange, binding.routing_key)
            for queue in contract.queues.values()
            for binding in queue.bindings
        )
        return cls(exchanges, (*queues, *retry_queues.values()), bindings)

    def describe(self) -> list[str]:
        """Return one human-readable line per entity, for the CLI and logs."""
        lines = [f"exchange {ex.name} ({ex.type})" for ex in self.exchanges]
        for queue in self.queues:
            args = ", ".join(f"{k}={v!r}" for k, v in sorted(queue.arguments.items()))
            lines.append(f"queue {queue.name} [{queue.role}]" + (f" {{{args}}}" if args else ""))
        lines += [f"binding {b.exchange} --{b.routing_key}--> {b.queue}" for b in self.bindings]
        return lines


def retry_queue_name(work_queue: str, delay_ms: int) -> str:
    """Return the wait queue of one retry tier: `notifications.user-events.retry.10s`."""
    return f"{work_queue}{RETRY_INFIX}{format_duration(delay_ms)}"


def _retry_arguments(
    work_queue: str, work_arguments: Mapping[str, Any], delay_ms: int
) -> dict[str, Any]:
    """A wait queue: expired messages go back to the work queue, whose type it takes."""
    return {
        QUEUE_TYPE: work_arguments[QUEUE_TYPE],
        "x-message-ttl": delay_ms,
        "x-dead-letter-exchange": DEFAULT_EXCHANGE,
        "x-dead-letter-routing-key": work_queue,
    }


def _dead_lettering(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """A queue that dead-letters: quorum by default, and then at-least-once (issue 16)."""
    result = {QUEUE_TYPE: DEFAULT_QUEUE_TYPE} | dict(arguments)
    if result[QUEUE_TYPE] == "quorum":
        result = dict(AT_LEAST_ONCE) | result
    return result
