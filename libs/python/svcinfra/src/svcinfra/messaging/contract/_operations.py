"""The rules of `send` and `receive` operations (MQ-1, MQ-5, MQ-7, MQ-9, MQ-10)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._model import (
    Consumption,
    ExchangeSpec,
    MessageSpec,
    Publication,
    QueueSpec,
    RetryPolicy,
)
from ._names import parse_duration
from ._paths import json_path, pointer_parts

if TYPE_CHECKING:
    from svcinfra.messaging._errors import ContractProblem

Json = Mapping[str, Any]


class OperationRules:
    """Reads and checks a contract's operations; the contract builder supplies the state."""

    doc: Json
    problems: list[ContractProblem]
    messages: dict[str, MessageSpec]
    exchange_channels: dict[str, tuple[ExchangeSpec, str]]
    queue_channels: dict[str, QueueSpec]

    def problem(self, path: str, message: str, rule: str) -> None:
        """Record a broken rule."""
        raise NotImplementedError

    def channel_messages(self, channel_id: str) -> dict[str, str]:
        """Return the channel's message keys mapped to message names."""
        raise NotImplementedError

    def operation_channel(self, op_id: str, op: Json) -> str | None:
        """Return the operation's channel id, or report that it references none (MQ-1)."""
        ref = op.get("channel", {}).get("$ref", "")
        parts = pointer_parts(ref)
        if parts is None or len(parts) != 2 or parts[0] != "channels":  # noqa: PLR2004  (#/channels/<id>)
            self.problem(
                json_path("operations", op_id, "channel"),
                f"{ref!r} must reference a channel of this document ('#/channels/<id>')",
                "MQ-1",
            )
            return None
        return parts[1]

    def operation_messages(self, op_id: str, op: Json, channel_id: str) -> list[str]:
        """Return the names of the operation's messages, each checked to be its channel's."""
        in_channel = self.channel_messages(channel_id)
        refs = op.get("messages")
        if refs is None:  # the spec: no `messages` means all of the channel's
            return list(in_channel.values())
        written = self.doc["channels"][channel_id].get("messages", {})
        names = []
        for index, raw in enumerate(refs):
            parts = pointer_parts(raw.get("$ref", ""))
            if is_channel_message(parts, channel_id) and parts[3] in written:  # type: ignore[index]
                if parts[3] in in_channel:  # type: ignore[index]
                    names.append(in_channel[parts[3]])  # type: ignore[index]
                continue  # a message that is in the channel but broken was reported already
            self.problem(
                json_path("operations", op_id, "messages", index),
                "must reference a message of its channel "
                f"('#/channels/{channel_id}/messages/<key>')",
                "MQ-1",
            )
        if not names and not self.problems:
            self.problem(json_path("operations", op_id), "has no messages", "MQ-1")
        return names

    def read_sends(self) -> dict[str, Publication]:
        publications: dict[str, Publication] = {}
        for op_id, op in self.doc.get("operations", {}).items():
            if op.get("action") != "send":
                continue
            path = ("operations", op_id)
            channel_id = self.operation_channel(op_id, op)
            if channel_id is None:
                continue
            if channel_id not in self.exchange_channels:
                self.problem(
                    json_path(*path, "channel"),
                    "a send operation publishes to an "
                    "exchange: its channel needs `is: routingKey` and an exchange",
                    "MQ-1",
                )
                continue
            amqp = op.get("bindings", {}).get("amqp", {})
            if amqp.get("deliveryMode", 2) != 2:  # noqa: PLR2004  (AMQP persistent)
                self.problem(
                    json_path(*path, "bindings", "amqp", "deliveryMode"),
                    "messages are published persistent (2)",
                    "MQ-5",
                )
            # A task must reach its queue: unroutable is an error (the default). An event may
            # have no subscriber yet, and says so with `mandatory: false` (MQ-2).
            mandatory = amqp.get("mandatory", True)
            if not isinstance(mandatory, bool):
                self.problem(
                    json_path(*path, "bindings", "amqp", "mandatory"),
                    "mandatory is true (a task: unroutable is an error) or false (an event that"
                    " may have no subscriber)",
                    "MQ-2",
                )
                mandatory = True
            if op.get("x-publisher-confirms", True) is not True:
                self.problem(
                    json_path(*path, "x-publisher-confirms"),
                    "every publish awaits its confirm",
                    "MQ-5",
                )
            exchange, routing_key = self.exchange_channels[channel_id]
            for name in self.operation_messages(op_id, op, channel_id):
                publication = Publication(
                    op_id, self.messages[name], exchange, routing_key, mandatory=mandatory
                )
                known = publications.setdefault(name, publication)
                if (known.exchange, known.routing_key) != (exchange, routing_key):
                    self.problem(
                        json_path(*path),
                        f"{name} is also sent to {known.exchange.name}"
                        f" / {known.routing_key} by {known.operation}",
                        "MQ-1",
                    )
        return publications

    def read_receives(self) -> list[Consumption]:
        consumptions = []
        for op_id, op in self.doc.get("operations", {}).items():
            if op.get("action") != "receive":
                continue
            path = ("operations", op_id)
            channel_id = self.operation_channel(op_id, op)
            if channel_id is None:
                continue
            queue = self.queue_channels.get(channel_id)
            if queue is None:
                self.problem(
                    json_path(*path, "channel"),
                    "a receive operation consumes a queue: its channel needs `is: queue`",
                    "MQ-7",
                )
                continue
            names = self.operation_messages(op_id, op, channel_id)
            dead_letter = self.read_dead_letter(op_id, op, queue)
            retry = self.read_retry(op_id, op)
            if dead_letter is not None and retry is not None:
                consumptions.append(
                    Consumption(
                        operation=op_id,
                        queue=queue,
                        messages=tuple(self.messages[name] for name in names),
                        retry=retry,
                        dead_letter=dead_letter,
                    ),
                )
        return consumptions

    def read_dead_letter(self, op_id: str, op: Json, queue: QueueSpec) -> QueueSpec | None:
        """Every consumed queue has a DLQ: another durable queue of this contract (MQ-10)."""
        path = ("operations", op_id, "x-dead-letter")
        raw = op.get("x-dead-letter")
        if raw is None:
            self.problem(
                json_path("operations", op_id),
                f"consumes {queue.name!r} but has no x-dead-letter: {{$ref: '#/channels/<dlq>'}}",
                "MQ-10",
            )
            return None
        parts = pointer_parts(raw.get("$ref", "")) if isinstance(raw, Mapping) else None
        target = parts[1] if parts and len(parts) == 2 and parts[0] == "channels" else None  # noqa: PLR2004
        dlq = self.queue_channels.get(target or "")
        if dlq is None:
            self.problem(
                json_path(*path),
                "must reference a channel with `is: queue` ('#/channels/<dlq>')",
                "MQ-10",
            )
            return None
        if dlq.name == queue.name:
            self.problem(
                json_path(*path), "the DLQ must be another queue than the one consumed", "MQ-10"
            )
            return None
        return dlq

    def read_retry(self, op_id: str, op: Json) -> RetryPolicy | None:
        """`x-retry: {maxAttempts: N, backoff: [1s, 10s]}`: tiers for temporary failures (MQ-9)."""
        raw = op.get("x-retry")
        if raw is None:
            return RetryPolicy()
        path = ("operations", op_id, "x-retry")
        attempts = raw.get("maxAttempts") if isinstance(raw, Mapping) else None
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            self.problem(
                json_path(*path, "maxAttempts"),
                "must be a whole number from 1 (deliveries in all, the first included)",
                "MQ-9",
            )
            return None
        backoff = raw.get("backoff", [])
        delays = []
        for index, text in enumerate(backoff if isinstance(backoff, list) else [backoff]):
            try:
                delays.append(parse_duration(str(text)))
            except ValueError as exc:
                self.problem(json_path(*path, "backoff", index), str(exc), "MQ-9")
                return None
        if attempts > 1 and not delays:
            self.problem(json_path(*path, "backoff"), "retries need at least one delay", "MQ-9")
            return None
        if len(delays) > attempts - 1:
            self.problem(
                json_path(*path, "backoff"),
                f"{len(delays)} delays but only {attempts - 1} retries ever happen",
                "MQ-9",
            )
            return None
        return RetryPolicy(max_attempts=attempts, delays_ms=tuple(delays))


def is_channel_message(parts: tuple[str, ...] | None, channel_id: str) -> bool:
    """Whether a pointer has the shape `#/channels/<channel_id>/messages/<key>`."""
    return (
        parts is not None
        and len(parts) == 4  # noqa: PLR2004  (the four keys of that shape)
        and parts[:2] == ("channels", channel_id)
        and parts[2] == "messages"
    )
