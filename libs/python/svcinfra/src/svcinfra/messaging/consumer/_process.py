"""One delivery from check to settlement: handler, inbox, retry tier or DLQ, ack (MQ-3, 8..11)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import aio_pika
import structlog
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from svcinfra.messaging import headers as hdr
from svcinfra.messaging.topology import retry_queue_name

from . import _telemetry as tm
from ._batch import BatchFailed
from ._delivery import Delivery, Envelope, ErrorClass, Failure, decode
from ._external import record_alone
from ._failure import (
    broker_retries,
    classify,
    defer_delay_ms,
    deferrals,
    deferred_since,
    deferred_too_long,
    exhausted,
    failure_headers,
    retry_count,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from contextlib import AbstractContextManager

    from aio_pika.abc import AbstractChannel
    from opentelemetry.trace import Span, Tracer

    from svcinfra.messaging.contract import Consumption, Contract, MessageSpec
    from svcinfra.messaging.inbox import Inbox
    from svcinfra.postgres import Database

    from ._acks import Acks
    from ._batch import Batcher
    from ._external import ExternalGroups
    from ._incoming import Incoming

_log = structlog.get_logger("svcinfra.messaging")
_NO_SPAN = contextlib.nullcontext(trace.INVALID_SPAN)  # reusable: it holds no state
_TRACING_RECHECK = 1.0  # seconds between two looks for a tracer provider while there is none

Outcome = Literal["processed", "duplicate"]


@dataclass(frozen=True, slots=True)
class Route:
    """How one message name is handled: the mode, the handler, and the external mode's record."""

    mode: Literal["transactional", "external"]
    handler: Callable[..., Any]
    record: Callable[..., Any] | None = None
    record_many: Callable[..., Any] | None = None  # or this one, for a group's messages at once


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
        explicit_tracer: bool = False,
        batcher: Batcher | None = None,
        external: ExternalGroups | None = None,
        max_deferral: float = 0.0,
        clock: Callable[[], float] = time.time,
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
        self._batcher = batcher
        self._external = external
        self._max_deferral = max_deferral
        self._clock = clock
        self._messages: dict[str, Mapping[str, MessageSpec]] = {
            c.queue.name: {m.name: m for m in c.messages} for c in contract.consumptions
        }
        self._known = {queue: frozenset(names) for queue, names in self._messages.items()}
        # A tracer given explicitly is used as given; the global one is checked (`_tracing`).
        self._traced = explicit_tracer
        self._untraced_until = 0.0

    async def process(
        self,
        message: Incoming,
        consumption: Consumption,
        republish: AbstractChannel,
        acks: Acks,
    ) -> None:
        """Settle `message`: ack after success, or republish to a tier or the DLQ, then ack.

        The ack of a success goes through `acks` (sent at the end of the event-loop pass, with
        others); that of a republished message is sent and awaited here, then noted there.
        """
        queue = consumption.queue.name
        headers: dict[str, Any] = dict(message.headers or {})
        retries = retry_count(headers)
        # x-death is a cross-check only (MQ-9), and only on a message back from a wait queue
        # (the broker dead-letters it through the default exchange): one published to the
        # source exchange carries whatever x-death its publisher wrote.
        seen_by_broker = broker_retries(headers, queue) if message.exchange == "" else 0
        # A `retry-count` of 0 is ours too: deferred before its first attempt (`_defer`).
        if seen_by_broker and not retries and headers.get(hdr.RETRY_COUNT) != 0:
            # Our header was lost (a tool stripped it); the broker's count is better than none.
            _log.warning(
                "amqp retry-count missing but x-death shows retries",
                message_id=message.message_id,
                queue=queue,
                broker_retries=seen_by_broker,
            )
            retries = seen_by_broker
        attempt = retries + 1
        if attempt == 1:  # a retry's lag is its tier's delay
            _observe_delivery_lag(headers, queue)
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
        label = message.type if message.type in self._known[queue] else tm.UNKNOWN
        tm.consumed(label, queue).inc()
        log = _log.bind(
            consumer=self._name,
            message=label,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            routing_key=headers.get("original-routing-key", message.routing_key),
            queue=queue,
            attempt=attempt,
        )
        with self._span(message, headers, queue, attempt) as span:
            if isinstance(decoded, Failure):
                await self._dead_letter(
                    message, consumption, republish, decoded, attempt=attempt, log=log, acks=acks
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
                outcome = await self._settle(self._routes[spec.name], delivery, span)
            except BatchFailed as exc:
                # Not acked: back to the queue, redelivered, then settled alone (MQ-3).
                tm.handler_duration(spec.name, "requeued").observe(time.perf_counter() - started)
                log.warning("amqp message requeued: its batch failed", error=repr(exc.error))
                span.set_attribute("error.type", type(exc.error).__name__)
                tm.REQUEUED.labels(queue).inc()
                await message.nack(requeue=True)
                acks.settled(message.delivery_tag)
                return
            except Exception as exc:  # noqa: BLE001  (every failure is settled, none escapes)
                await self._failed(
                    exc, message, consumption, republish, span, name=spec.name,
                    started=started, attempt=attempt, log=log, acks=acks,
                )  # fmt: skip
                return
            tm.handler_duration(spec.name, outcome).observe(time.perf_counter() - started)
            message.settled = True  # the ack is on its way, batched
            acks.ack(message.delivery_tag)
            tm.acked(spec.name, queue, outcome).inc()
            if outcome == "duplicate":
                log.info("amqp duplicate acked without effect")
            else:
                log.debug("amqp message processed")

    def _span(
        self, message: Incoming, headers: Mapping[str, Any], queue: str, attempt: int
    ) -> AbstractContextManager[Span]:
        """The message's CONSUMER span, linked to the producer's; a no-op one when untraced.

        Without a configured tracer provider the span would be a no-op anyway: the trace
        context is then not even extracted, nor the attributes built (~15 us a message).
        """
        if not self._tracing():
            return _NO_SPAN
        producer = trace.get_current_span(propagate.extract(headers)).get_span_context()
        return self._tracer.start_as_current_span(
            f"process {queue}",
            kind=SpanKind.CONSUMER,
            links=[Link(producer)] if producer.is_valid else None,
            attributes=_span_attributes(message, queue, attempt),
            record_exception=False,
            set_status_on_exception=False,
        )

    def _tracing(self) -> bool:
        """Whether a real tracer provider is configured (asked at most every few seconds).

        Once one is, it stays (OpenTelemetry sets the global provider once); until then the
        question is asked again at most every `_TRACING_RECHECK` seconds, not per message.
        """
        if self._traced:
            return True
        now = time.monotonic()
        if now < self._untraced_until:
            return False
        if isinstance(
            trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
        ):
            self._untraced_until = now + _TRACING_RECHECK
            return False
        self._traced = True
        return True

    async def _settle(self, route: Route, delivery: Delivery, span: Span) -> Outcome:
        """Run `route` for `delivery` grouped with others (`_batch`, `_external`) or alone.

        A transactional first delivery joins its queue's batch; a redelivered one runs alone.
        An external-mode message's inbox check and recording join the consumer's groups. The
        handler timeout applies to the handler (with its inbox check); the wait for a batch's
        or group's commit is not the handler's, and that transaction has a timeout of its own.
        """
        batcher = self._batcher
        if batcher is not None and route.mode == "transactional" and not delivery.redelivered:
            context = contextvars.copy_context() if span.is_recording() else None
            return await batcher.submit(route, delivery, context)
        external = self._external
        if external is not None and route.mode == "external":
            async with asyncio.timeout(self._handler_timeout):
                if await external.seen(delivery.message_id):
                    return "duplicate"
                result = await route.handler(delivery)  # no transaction is open here (PG-12)
            context = contextvars.copy_context() if span.is_recording() else None
            return await external.record(route, delivery, result, context)
        async with asyncio.timeout(self._handler_timeout):
            return await self._run(route, delivery)

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
        return await record_alone(self._db, inbox, consumer, route, delivery, result=result)

    async def _failed(
        self,
        exc: Exception,
        message: Incoming,
        consumption: Consumption,
        republish: AbstractChannel,
        span: Span,
        *,
        name: str,
        started: float,
        attempt: int,
        log: Any,  # noqa: ANN401  (a bound structlog logger)
        acks: Acks,
    ) -> None:
        """Settle a message whose handler raised: defer, retry or dead-letter it (`classify`)."""
        failure = classify(exc, permanent=self._permanent)
        deferred = self._deferrable(failure, consumption)
        tm.handler_duration(name, "deferred" if deferred else "failed").observe(
            time.perf_counter() - started
        )
        log.warning(
            "amqp handler failed",
            error_class=str(failure.error_class),
            error_type=failure.error_type,
            refused_by=failure.refused_by,
            error=repr(exc),
        )
        _fail_span(span, failure)
        if deferred:
            await self._defer(message, consumption, republish, failure, attempt=attempt,
                              log=log, acks=acks)  # fmt: skip
            return
        if failure.error_class is ErrorClass.TRANSIENT and attempt < consumption.retry.max_attempts:
            await self._retry(message, consumption, republish, failure, attempt=attempt, log=log,
                              acks=acks)  # fmt: skip
            return
        if failure.error_class is ErrorClass.TRANSIENT:
            failure = exhausted(failure, attempt)
        await self._dead_letter(message, consumption, republish, failure, attempt=attempt,
                                log=log, acks=acks)  # fmt: skip

    def _deferrable(self, failure: Failure, consumption: Consumption) -> bool:
        """Whether `failure` is deferred rather than counted: no attempt, and a tier to wait in."""
        return (
            failure.not_attempted
            and failure.error_class is ErrorClass.TRANSIENT
            and self._max_deferral > 0
            and bool(consumption.retry.delays_ms)
        )

    async def _defer(
        self,
        message: Incoming,
        consumption: Consumption,
        republish: AbstractChannel,
        failure: Failure,
        *,
        attempt: int,
        log: Any,  # noqa: ANN401  (a bound structlog logger)
        acks: Acks,
    ) -> None:
        """Send a message whose handler was refused before sending to a tier, uncounted.

        The tier is the shortest that waits at least the refusal's `retry_after` (the longest
        when none does); `retry-count` stays, `deferrals` grows, and `deferred-since` keeps
        the first deferral's time. Past `max_deferral` seconds from it, the DLQ.
        """
        headers = message.headers or {}
        now = self._clock()
        since = deferred_since(headers)
        times = deferrals(headers)
        if since is not None and now - since.timestamp() >= self._max_deferral:
            failure = deferred_too_long(
                failure, waited=now - since.timestamp(), limit=self._max_deferral, times=times
            )
            await self._dead_letter(
                message, consumption, republish, failure, attempt=attempt, log=log, acks=acks,
                attempts=attempt - 1,
            )  # fmt: skip
            return
        delay = defer_delay_ms(consumption.retry.delays_ms, failure.retry_after)
        target = retry_queue_name(consumption.queue.name, delay)
        first = since or datetime.fromtimestamp(now, UTC)
        extra = {
            hdr.DEFERRED_SINCE: first.isoformat(timespec="milliseconds"),
            hdr.DEFERRALS: times + 1,
        }
        await self._send(message, republish, target, failure, retries=attempt - 1,
                         attempts=None, extra=extra)  # fmt: skip
        await message.ack()
        acks.settled(message.delivery_tag)
        tm.DEFERRED.labels(_name_of(message, consumption), consumption.queue.name,
                           str(failure.refused_by)).inc()  # fmt: skip
        log.warning("amqp message deferred: not attempted", retry_queue=target, delay_ms=delay,
                    refused_by=failure.refused_by, retry_after=failure.retry_after,
                    deferrals=times + 1)  # fmt: skip

    async def _retry(
        self,
        message: Incoming,
        consumption: Consumption,
        republish: AbstractChannel,
        failure: Failure,
        *,
        attempt: int,
        log: Any,  # noqa: ANN401  (a bound structlog logger)
        acks: Acks,
    ) -> None:
        delay = consumption.retry.delay_ms(attempt)
        target = retry_queue_name(consumption.queue.name, delay)
        await self._send(message, republish, target, failure, retries=attempt, attempts=None)
        await message.ack()
        acks.settled(message.delivery_tag)
        tm.RETRIED.labels(_name_of(message, consumption), consumption.queue.name,
                          failure.error_type).inc()  # fmt: skip
        log.warning("amqp message retried", retry_queue=target, delay_ms=delay,
                    error_type=failure.error_type)  # fmt: skip

    async def _dead_letter(
        self,
        message: Incoming,
        consumption: Consumption,
        republish: AbstractChannel,
        failure: Failure,
        *,
        attempt: int,
        log: Any,  # noqa: ANN401  (a bound structlog logger)
        acks: Acks,
        attempts: int | None = None,
    ) -> None:
        """Send to the DLQ; `attempts`: the attempts made, when this delivery was none."""
        target = consumption.dead_letter.name
        await self._send(message, republish, target, failure, retries=attempt - 1,
                         attempts=attempt if attempts is None else attempts)  # fmt: skip
        await message.ack()
        acks.settled(message.delivery_tag)
        tm.DEAD_LETTERED.labels(_name_of(message, consumption), consumption.queue.name,
                                failure.error_type).inc()  # fmt: skip
        log.error("amqp message dead-lettered", dead_letter_queue=target,
                  error_class=str(failure.error_class), error_type=failure.error_type,
                  error_message=failure.message)  # fmt: skip

    async def _send(
        self,
        message: Incoming,
        channel: AbstractChannel,
        queue: str,
        failure: Failure,
        *,
        retries: int,
        attempts: int | None,
        extra: Mapping[str, Any] | None = None,
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
            extra=extra,
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


def _name_of(message: Incoming, consumption: Consumption) -> str:
    known = {m.name for m in consumption.messages}
    return message.type if message.type in known else tm.UNKNOWN


def _observe_delivery_lag(headers: Mapping[str, Any], queue: str) -> None:
    """The outbox row's commit (the relay's header) -> now, when the message has the header."""
    committed = headers.get(hdr.OUTBOX_COMMITTED_AT)
    if isinstance(committed, int) and not isinstance(committed, bool):
        tm.DELIVERY_LAG.labels(queue).observe(max(time.time() - committed / 1e6, 0.0))


def _span_attributes(message: Incoming, queue: str, attempt: int) -> dict[str, str | int]:
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
