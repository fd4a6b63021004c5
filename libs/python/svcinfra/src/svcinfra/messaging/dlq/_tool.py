"""Operations on the contract's dead-letter queues: list, peek, replay, purge (MQ-10)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aio_pika
import aiormq.exceptions
import structlog

from svcinfra.messaging import headers as hdr
from svcinfra.messaging._errors import MessagingError

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

    from svcinfra.messaging.contract import Consumption, Contract

_log = structlog.get_logger("svcinfra.messaging")

# What a replay drops: the failure's own headers (a fresh attempt counter) and broker-owned ones.
# `original-exchange` / `original-routing-key` stay: the copy arrives through the default
# exchange, and a later failure must still name where the message was first published.
_FAILURE_HEADERS = frozenset(
    {
        hdr.RETRY_COUNT,
        hdr.ERROR_CLASS,
        hdr.ERROR_TYPE,
        hdr.ERROR_MESSAGE,
        hdr.FAILED_AT,
        hdr.CONSUMER,
        hdr.ATTEMPTS,
        hdr.DEFERRED_SINCE,
        hdr.DEFERRALS,
        hdr.REPLAYED_FROM,
        hdr.REPLAYED_AT,
    },
)


@dataclass(frozen=True, slots=True)
class DeadLetterQueue:
    """A DLQ of the contract, its work queue, and how many messages wait in it now."""

    name: str
    work_queue: str
    messages: int
    consumers: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message in a DLQ with the reason it is there (its body only on request)."""

    message_id: str | None
    message_type: str | None
    correlation_id: str | None
    error_class: str | None
    error_type: str | None
    error_message: str | None
    failed_at: str | None
    attempts: int | None
    original_exchange: str | None
    original_routing_key: str | None
    consumer: str | None
    body: bytes = field(repr=False)

    @classmethod
    def of(cls, message: AbstractIncomingMessage) -> DeadLetter:
        """Read a delivered DLQ message (headers of our consumer, or the broker's x-death)."""
        headers = dict(message.headers or {})
        exchange, routing_key = _origin(message, headers)
        return cls(
            message_id=message.message_id,
            message_type=message.type,
            correlation_id=message.correlation_id,
            error_class=_text(headers.get(hdr.ERROR_CLASS)),
            error_type=_text(headers.get(hdr.ERROR_TYPE) or headers.get("x-first-death-reason")),
            error_message=_text(headers.get(hdr.ERROR_MESSAGE)),
            failed_at=_text(headers.get(hdr.FAILED_AT)),
            attempts=_int(headers.get(hdr.ATTEMPTS)),
            original_exchange=exchange,
            original_routing_key=routing_key,
            consumer=_text(headers.get(hdr.CONSUMER)),
            body=message.body,
        )


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What `replay` did: message ids replayed, and those that failed (left in the DLQ)."""

    replayed: tuple[str, ...]
    failed: tuple[str, ...]


def dead_letter_queue(contract: Contract, name: str) -> Consumption:
    """Return the consumption whose DLQ (or work queue) is `name`.

    Raises:
        MessagingError: the contract has no such DLQ: nothing else may be purged or replayed.
    """
    for consumption in contract.consumptions:
        if name in {consumption.dead_letter.name, consumption.queue.name}:
            return consumption
    known = sorted(c.dead_letter.name for c in contract.consumptions)
    raise MessagingError(f"{name!r} is no dead-letter queue of the contract (DLQs: {known})")


async def list_queues(connection: AbstractConnection, contract: Contract) -> list[DeadLetterQueue]:
    """Return every DLQ of the contract with its depth, by passive declare."""
    result = []
    channel = await connection.channel(publisher_confirms=False)
    try:
        for consumption in contract.consumptions:
            name = consumption.dead_letter.name
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity as exc:
                raise MessagingError(f"{name}: not declared on the broker") from exc
            declared = queue.declaration_result
            result.append(
                DeadLetterQueue(
                    name,
                    consumption.queue.name,
                    int(declared.message_count or 0),
                    int(declared.consumer_count or 0),
                )
            )
    finally:
        if not channel.is_closed:
            await channel.close()
    return result


async def peek(connection: AbstractConnection, queue: str, *, limit: int) -> list[DeadLetter]:
    """Return up to `limit` messages from the head of `queue`, leaving every one in it."""
    channel = await connection.channel(publisher_confirms=False)
    letters: list[DeadLetter] = []
    try:
        declared = await channel.declare_queue(queue, passive=True)
        while len(letters) < limit:
            message = await declared.get(no_ack=False, fail=False)
            if message is None:
                break
            letters.append(DeadLetter.of(message))
    finally:
        # Unacked messages go back to the queue, in order, when their channel closes.
        await channel.close()
    return letters


async def replay(
    connection: AbstractConnection,
    queue: str,
    *,
    to_queue: str | None = None,
    limit: int | None = None,
    message_ids: Collection[str] | None = None,
    confirm_timeout: float = 5.0,
) -> ReplayReport:
    """Republish DLQ messages to the queue that dead-lettered them, only, then remove them.

    A copy goes through the default exchange with the work queue's name as routing key, so it
    reaches that queue alone: other queues bound to the message's original routing key (other
    teams' consumers) do not get it a second time (issue 16). It keeps its body, message_id
    (consumers' inboxes recognise a message that was processed after all), correlation_id,
    type and `original-exchange` / `original-routing-key`, loses the failure headers, so it
    starts again at attempt 1, and gets `replayed-from` (the DLQ) and `replayed-at`. Only
    messages present when the call starts are considered, so a message that fails again and
    returns to the DLQ is not replayed twice.

    Args:
        connection: an open connection.
        queue: the DLQ.
        to_queue: the work queue the DLQ serves (the contract knows it: `svcinfra dlq replay`
            passes it). None: per message, the queue the broker's `x-death` names; a message
            without one is not replayed (it stays in the DLQ and is reported failed).
        limit: replay at most this many; all when None.
        message_ids: replay only these; the others stay in the DLQ.
        confirm_timeout: seconds each republish waits for its confirm.
    """
    channel = await connection.channel(publisher_confirms=False)
    confirms = await connection.channel(publisher_confirms=True, on_return_raises=True)
    replayed: list[str] = []
    failed: list[str] = []
    try:
        declared = await channel.declare_queue(queue, passive=True)
        present = int(declared.declaration_result.message_count or 0)
        for _ in range(present):
            if limit is not None and len(replayed) >= limit:
                break
            message = await declared.get(no_ack=False, fail=False)
            if message is None:
                break
            if message_ids is not None and message.message_id not in message_ids:
                continue  # left unacked: back in the DLQ when the channel closes
            try:
                await _republish(confirms, message, queue, to_queue, confirm_timeout)
            except (
                aiormq.exceptions.AMQPError,
                aio_pika.exceptions.AMQPError,
                MessagingError,
            ) as exc:
                failed.append(str(message.message_id))
                _log.error("dlq replay failed", message_id=message.message_id, error=repr(exc))
                if confirms.is_closed:
                    confirms = await connection.channel(
                        publisher_confirms=True, on_return_raises=True
                    )
                continue
            await message.ack()
            replayed.append(str(message.message_id))
    finally:
        await channel.close()
        if not confirms.is_closed:
            await confirms.close()
    _log.info("dlq replayed", queue=queue, replayed=len(replayed), failed=len(failed))
    return ReplayReport(tuple(replayed), tuple(failed))


async def purge(connection: AbstractConnection, queue: str) -> int:
    """Delete every message in `queue`; return how many."""
    channel = await connection.channel(publisher_confirms=False)
    try:
        declared = await channel.declare_queue(queue, passive=True)
        result = await declared.purge()
    finally:
        await channel.close()
    count = int(result.message_count or 0)
    _log.warning("dlq purged", queue=queue, messages=count)
    return count


async def _republish(
    channel: aio_pika.abc.AbstractChannel,
    message: AbstractIncomingMessage,
    dlq: str,
    to_queue: str | None,
    confirm_timeout: float,
) -> None:
    headers = dict(message.headers or {})
    target = to_queue or _dead_lettered_by(headers)
    if target is None:
        raise MessagingError(
            f"message {message.message_id}: no queue to replay it to (no x-death; give to_queue)"
        )
    exchange, routing_key = _origin(message, headers)
    kept = {
        k: v for k, v in headers.items() if k not in _FAILURE_HEADERS and not k.startswith("x-")
    }
    kept.setdefault(hdr.ORIGINAL_EXCHANGE, exchange or "")
    kept.setdefault(hdr.ORIGINAL_ROUTING_KEY, routing_key or "")
    kept[hdr.REPLAYED_FROM] = dlq
    kept[hdr.REPLAYED_AT] = datetime.now(UTC).isoformat(timespec="milliseconds")
    copy = aio_pika.Message(
        message.body,
        headers=kept,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type,
        timestamp=message.timestamp,
        app_id=message.app_id,
    )
    # The default exchange routes by queue name: the copy reaches `target` and no other queue.
    await channel.default_exchange.publish(copy, target, mandatory=True, timeout=confirm_timeout)


def _dead_lettered_by(headers: Mapping[str, Any]) -> str | None:
    """The queue that dead-lettered the message, as the broker's newest `x-death` names it."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return _text(deaths[0].get("queue"))
    return None


def _origin(
    message: AbstractIncomingMessage, headers: Mapping[str, Any]
) -> tuple[str | None, str | None]:
    """Where the message was first published: our headers, else the broker's first death."""
    exchange = _text(headers.get(hdr.ORIGINAL_EXCHANGE))
    routing_key = _text(headers.get(hdr.ORIGINAL_ROUTING_KEY))
    if exchange is None:
        exchange = _text(headers.get("x-first-death-exchange"))
        deaths = headers.get("x-death")
        if isinstance(deaths, list) and deaths and isinstance(deaths[-1], dict):
            keys = deaths[-1].get("routing-keys")
            if isinstance(keys, list) and keys:
                routing_key = _text(keys[0])
    return exchange or message.exchange, routing_key or message.routing_key


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
