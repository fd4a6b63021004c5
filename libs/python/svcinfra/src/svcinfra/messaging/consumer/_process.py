"""One delivery from check to settlement: handler, inbox, retry tier or DLQ, ack (MQ-3, 8..11)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aio_pika
import structlog
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from svcinfra.messaging.topology import retry_queue_name

from . import _telemetry as tm
from ._delivery import Delivery, Envelope, ErrorClass, Failure, decode
from ._failure import broker_retries, classify, exhausted, failure_headers, retry_count

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
    from opentelemetry.trace import Span, Tracer

    from svcinfra.messaging.contract import Consumption, Contract, MessageSpec
    from svcinfra.messaging.inbox import Inbox
    from svcinfra.postgres import Database

_log = structlog.get_logger("svcinfra.messaging")

Outcome = Literal["processed", "duplicate"]


@dataclass(frozen=True, slots=True)
class Route:
    """How one message name is handled: the mode, the handler, and the external mode's record."""

    mode: Literal["transactional", "external"]
    handler: Callable[..., Any]
    record: Callable[..., Any] | None = None


class Processor:
    """Settles one delivery: checks, runs its route, acks, or sends it to a retry tier or DLQ."""

    def __init__(
        self,
        contract: Contract,
        db: Database,
        inbox: Inbox,
        *,
        name: str,
        routes: Mapping[str, Route],
        handler_timeout: float,
        confirm_timeout: float,
        max_body_bytes: int,
        permanent: tuple[type[BaseException], ...],
        tracer: Tracer,
    ) -> None:
        self._contract = contract
        self._db = db
        self._inbox = inbox
        self._name = name
        self._routes = routes
        self._handler_timeout = handler_timeout
        self._confirm_timeout = confirm_timeout
        self._max_body = max_body_bytes
        self._permanent = permanent
        self._tracer = tracer
        self._messages: dict[str, Mapping[str, MessageSpec]] = {
            c.queue.name: {m.name: m for m in c.messages} for c in contract.consumptions
        }

    async def process(
        self,
        message: AbstractIncomingMessage,
        consumption: Consumption,
        republish: AbstractChannel,
    ) -> None:
        """Settle `message`: ack after success, or republish to a tier or the DLQ, then ack."""
        queue = consumption.queue.name
        headers: dict[str, Any] = dict(message.headers or {})
        retries = retry_count(headers)
        seen_by_broker = broker_retries(headers, queue)
        if seen_by_broker and not retries:
            # Our header was lost (a tool stripped it); the broker's count is better than none.
            _log.warning(
                "amqp retry-count missing but x-death shows retries",
                message_id=message.message_id,
                queue=queue,
                broker_retries=seen_by_broker,
            )
            retries = seen_by_broker
        attempt = retries + 1
        decoded = decode(
            Envelope(
                body=message.body,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                message_type=message.type,
                message_id=message.message_id,
                headers=headers,
            ),
            self._messages[queue],
            self._contract,
            max_body_bytes=self._max_body,
        )
        label = _name_of(message, consumption)
        tm.CONSUMED.labels(label, queue).inc()
        log = _log.bind(
            consumer=self._name,
            message=label,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            routing_key=headers.get("original-routing-key", message.routing_key),
            queue=queue,
            attempt=attempt,
        )
        producer = trace.get_current_span(propagate.extract(headers)).get_span_context()
        with self._tracer.start_as_current_span(
            f"process {queue}",
            kind=SpanKind.CONSUMER,
            links=[Link(producer)] if producer.is_valid else None,
            attributes=_span_attributes(message, queue, attempt),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            if isinstance(decoded, Failure):
                await self._dead_letter(
                    message, consumption, republish, decoded, attempt=attempt, log=log
                )
                _fail_span(span, decoded)
                return
            spec, payload = decoded
            delivery = Delivery(
                name=spec.name,
                version=spec.version,
                payload=payload,
                message_id=str(message.message_id),
                correlation_id=message.correlation_id,
                attempt=attempt,
                headers=headers,
                routing_key=str(headers.get("original-routing-key", message.routing_key or "")),
                exchange=str(headers.get("original-exchange", message.exchange or "")),
                queue=queue,
                consumer=self._name,
                redelivered=bool(message.redelivered),
            )
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self._handler_timeout):
                    outcome = await self._run(self._routes[spec.name], delivery)
            except Exception as exc:  # noqa: BLE001  (every failure is settled, none escapes)
                tm.HANDLER_DURATION.labels(spec.name, "failed").observe(
                    time.perf_counter() - started
                )
                failure = classify(exc, permanent=self._permanent)
                log.warning(
                    "amqp handler failed",
                    error_class=str(failure.error_class),
                    error_type=failure.error_type,
                    error=repr(exc),
                )
                _fail_span(span, failure)
                if failure.error_class is ErrorClass.TRANSIENT and attempt < (
                    consumption.retry.max_attempts
                ):
                    await self._retry(
                        message, consumption, republish, failure, attempt=attempt, log=log
                    )
                    return
                if failure.error_class is ErrorClass.TRANSIENT:
                    failure = exhausted(failure, attempt)
                await self._dead_letter(
                    message, consumption, republish, failure, attempt=attempt, log=log
                )
                return
            tm.HANDLER_DURATION.labels(spec.name, outcome).observe(time.perf_counter() - started)
            await message.ack()
            tm.ACKED.labels(spec.name, queue, outcome).inc()
            if outcome == "duplicate":
                log.info("amqp duplicate acked without effect")
            else:
                log.debug("amqp message processed")

    async def _run(self, route: Route, delivery: Delivery) -> Outcome:
        inbox, consumer, message_id = self._inbox, self._name, delivery.message_id
        if route.mode == "transactional":
            async with self._db.transaction() as tx:
                # First, so that a duplicate in flight waits on the key, then finds the row.
                if not await inbox.add(
                    tx, consumer=consumer, message_id=message_id, message_name=delivery.name
                ):
                    return "duplicate"
                await route.handler(tx, delivery)
            return "processed"
        if await inbox.seen(self._db, consumer=consumer, message_id=message_id):
            return "duplicate"
        result = await route.handler(delivery)  # no transaction is open here (PG-12)
        async with self._db.transaction() as tx:
            added = await inbox.add(
                tx,
                consumer=consumer,
                message_id=message_id,
                message_name=delivery.name,
                result=result,
            )
            if added and route.record is not None:
                await route.record(tx, delivery, result)
        return "processed" if added else "duplicate"

    async def _retry(
        self,
        message: AbstractIncomingMessage,
        consumption: Consumption,
        republish: AbstractChannel,
        failure: Failure,
        *,
        attempt: int,
        log: Any,  # noqa: ANN401  (a bound structlog logger)
    ) -> None:
        delay = consumption.retry.delay_ms(attempt)
        target = retry_queue_name(consumption.queue.name, delay)
        await self._send(message, republish, target, failure, retries=attempt, attempts=None)
        await message.ack()
        tm.RETRIED.labels(_name_of(message, consumption), consumption.queue.name,
                          failure.error_type).inc()  # fmt: skip
        log.warning("amqp message retried", retry_queue=target, delay_ms=delay,
                    error_type=failure.error_type)  # fmt: skip

    async def _dead_letter(
        self,
        message: AbstractIncomingMessage,
        consumption: Consumption,
        republish: AbstractChannel,
        failure: Failure,
        *,
        attempt: int,
        log: Any,  # noqa: ANN401  (a bound structlog logger)
    ) -> None:
        target = consumption.dead_letter.name
        await self._send(message, republish, target, failure, retries=attempt - 1,
                         attempts=attempt)  # fmt: skip
        await message.ack()
        tm.DEAD_LETTERED.labels(_name_of(message, consumption), consumption.queue.name,
                                failure.error_type).inc()  # fmt: skip
        log.error("amqp message dead-lettered", dead_letter_queue=target,
                  error_class=str(failure.error_class), error_type=failure.error_type,
                  error_message=failure.message)  # fmt: skip

    async def _send(
        self,
        message: AbstractIncomingMessage,
        channel: AbstractChannel,
        queue: str,
        failure: Failure,
        *,
        retries: int,
        attempts: int | None,
    ) -> None:
        """Publish a copy to `queue` through the default exchange and await its confirm.

        The copy keeps the body, message_id, correlation_id and type; the original is acked
        only after this returns, so a crash in between leaves a duplicate, never a loss.
        """
        headers = failure_headers(
            dict(message.headers or {}),
            failure,
            retries=retries,
            attempts=attempts,
            exchange=message.exchange or "",
            routing_key=message.routing_key or "",
            consumer=self._name,
        )
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            content_encoding=message.content_encoding,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            type=message.type,
            timestamp=message.timestamp,
            app_id=message.app_id,
        )
        await channel.default_exchange.publish(
            copy, routing_key=queue, mandatory=True, timeout=self._confirm_timeout
        )


def _name_of(message: AbstractIncomingMessage, consumption: Consumption) -> str:
    known = {m.name for m in consumption.messages}
    return message.type if message.type in known else tm.UNKNOWN


def _span_attributes(
    message: AbstractIncomingMessage, queue: str, attempt: int
) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": queue,
        "messaging.rabbitmq.destination.routing_key": message.routing_key or "",
        "messaging.message.body.size": len(message.body),
        "svcinfra.messaging.attempt": attempt,
    }
    if message.message_id:
        attributes["messaging.message.id"] = message.message_id
    if message.correlation_id:
        attributes["messaging.message.conversation_id"] = message.correlation_id
    return attributes


def _fail_span(span: Span, failure: Failure) -> None:
    span.set_attribute("error.type", failure.error_type)
    span.set_status(Status(StatusCode.ERROR, failure.error_class))
