"""`Consumer`: the contract's queues, consumed with prefetch, an inbox, retry tiers and a DLQ."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import aiormq.exceptions
import structlog
from opentelemetry import trace
from pydantic import SecretStr

from svcinfra.config import ConfigError, ConfigProblem
from svcinfra.messaging._connect import connect_amqp
from svcinfra.messaging._errors import MessagingError
from svcinfra.messaging.inbox import Inbox
from svcinfra.messaging.topology import retry_queue_name

from . import _telemetry as tm
from ._acks import Acks
from ._batch import MAX_BATCH_SIZE, Batcher
from ._external import ExternalGroups
from ._incoming import Incoming
from ._process import Processor, Route

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    import aio_pika
    from aio_pika.abc import AbstractChannel, AbstractConnection
    from aiormq.abc import DeliveredMessage
    from opentelemetry.trace import TracerProvider

    from svcinfra.config import AmqpSettings
    from svcinfra.messaging.contract import Consumption, Contract
    from svcinfra.postgres import Database, Transaction

    from ._delivery import Delivery

    TxHandler = Callable[[Transaction, Delivery], Awaitable[None]]
    ExternalHandler = Callable[[Delivery], Awaitable[object]]
    Recorder = Callable[[Transaction, Delivery, object], Awaitable[None]]
    BatchRecorder = Callable[[Transaction, Sequence[tuple[Delivery, object]]], Awaitable[None]]

_log = structlog.get_logger("svcinfra.messaging")
_AMQP_DOWN = (
    aiormq.exceptions.AMQPError,
    aiormq.exceptions.ChannelInvalidStateError,  # an ack or nack on a channel that closed
    ConnectionError,
    OSError,
    TimeoutError,
)


def redelivery_horizon(
    consumption: Consumption, handler_timeout: float, max_deferral: float = 0.0
) -> float:
    """Seconds from a message's first delivery to its last possible one on `consumption`'s queue.

    Every attempt may run for `handler_timeout`, and each retry waits its tier's delay (MQ-9);
    deferrals (a call refused before sending) add up to `max_deferral` plus the longest tier;
    an inbox row kept for less could be gone when a duplicate of its message arrives (MQ-3).
    """
    retry = consumption.retry
    waits = sum(retry.delay_ms(n) for n in range(1, retry.max_attempts)) / 1000
    if max_deferral > 0 and retry.delays_ms:
        waits += max_deferral + max(retry.delays_ms) / 1000
    return waits + retry.max_attempts * handler_timeout


@dataclass(frozen=True, slots=True)
class _Subscription:
    queue: aio_pika.abc.AbstractQueue
    tag: str


class Consumer:
    """Consumes the contract's queues and settles every message exactly once in effect (MQ-3).

        consumer = Consumer.from_settings(contract, db, config.amqp, name="notifications")
        consumer.on("user.registered.v1", save_welcome)            # (tx, delivery) -> None
        consumer.on_external("user.deleted.v1", call_mail_api)     # (delivery) -> result
        lifecycle.add_task("consumer", consumer.run, stop=consumer.stop)
        lifecycle.add_readiness_check("amqp-consumer", consumer.ready)

    Each queue of the contract's receive operations gets its own channel with its prefetch
    (MQ-7). A message is checked (message_id, size, content type, type and version, JSON,
    schema) and handed to the handler registered for its name, which runs under the handler
    timeout in one of two modes:

    * `on`: the handler's effects and the inbox row `(consumer, message_id)` commit in one
      transaction; a duplicate finds the row and is acked without effect. The messages of a
      queue that arrive together share that transaction (at most `batch_size`, gathered for at
      most `batch_linger` seconds after the first, longer only while the queue's previous
      batch is still committing): one inbox insert for the batch, a savepoint per message, so a
      failing handler rolls back alone and goes the way below, and the acks only after the
      commit. A failed commit acks none: all are returned to the queue, and a redelivered
      message always runs in a transaction of its own (`_batch`);
    * `on_external`: for an effect outside the database (PG-12): an inbox check, the handler
      outside any transaction (`delivery.idempotency_key` goes on the external call), then a
      short transaction that records the result, the inbox row and the service's `record`.
      With batching on, the inbox checks of messages arriving together are one statement,
      and the recordings of calls ending together one transaction (a group commit, at most
      `batch_size`; a group that fails is redone message by message, `_external`).

    Success acks. A temporary failure (`Retry`, a timeout, an outage) is republished with
    `retry-count` + 1 to the wait queue of its tier through the default exchange, confirmed,
    then acked; after the last attempt, and at once for a permanent failure (`Reject`, an
    invalid message), it goes to the DLQ the same way with the reason headers (MQ-8..MQ-10).
    A failure that was no attempt (the handler's call refused before sending: an open circuit
    breaker, `classify`) is deferred to the tier that waits its `retry_after`, `retry-count`
    unchanged, for at most `max_deferral` seconds, then the DLQ (`deferred-too-long`).

    `stop` cancels the subscriptions, lets in-flight handlers finish within `drain_timeout`, and
    returns the rest to their queues. A lost connection is reopened after `reconnect_delay`
    (on any node of a cluster's URL, then backing off while none answers, issue 20);
    the broker redelivers what was unacked, and the inbox absorbs what was already done.

    While it runs, a purge job deletes the consumer's inbox rows older than `inbox_retention`
    every `inbox_purge_interval` seconds, in batches of `inbox_purge_batch` rows that replicas
    share without waiting on each other (`svcinfra_amqp_inbox_purged_total`). The retention
    must exceed the longest redelivery horizon of the consumed queues' retry tiers
    (`redelivery_horizon`); a shorter one is refused when the consumer is created. Keep it
    longer than a dead letter may wait for its replay, too: a replay keeps the message_id.
    """

    def __init__(
        self,
        contract: Contract,
        db: Database,
        *,
        url: str | SecretStr,
        name: str,
        queues: tuple[str, ...] | None = None,
        prefetch: int | Mapping[str, int] = 10,
        handler_timeout: float = 30.0,
        drain_timeout: float = 20.0,
        confirm_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        reconnect_delay: float = 1.0,
        sample_interval: float = 15.0,
        max_body_bytes: int = 1 << 20,
        permanent: tuple[type[BaseException], ...] = (),
        tracer_provider: TracerProvider | None = None,
        inbox_retention: float = 7 * 86_400.0,
        inbox_purge_interval: float = 600.0,
        inbox_purge_batch: int = 1000,
        batch_size: int = 50,
        batch_linger: float = 0.002,
        max_deferral: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Create a consumer; handlers are registered next, `run` starts it.

        Args:
            contract: the loaded contract; its receive operations name the queues.
            db: the service's database, holding the inbox (and the handlers' tables).
            url: the AMQP URL (a SecretStr keeps the password out of reprs).
            name: the consumer's name: the inbox key, the `consumer` header, the connection name.
            queues: the work queues to consume; all of the contract's when None.
            prefetch: unacked messages per queue (MQ-7), one number or one per queue name.
            handler_timeout: seconds one message may take, inbox and transaction included.
            drain_timeout: seconds `stop` waits for in-flight messages before returning them.
            confirm_timeout: seconds a republish to a retry tier or the DLQ waits for its confirm.
            connect_timeout: seconds one connection attempt may take.
            reconnect_delay: seconds before reconnecting; while no node answers, a jittered
                wait that doubles up to 30 times this.
            sample_interval: seconds between samples of queue depths and consumer counts.
            max_body_bytes: larger bodies go to the DLQ unparsed.
            permanent: exception types that are permanent failures in this service.
            tracer_provider: where spans go; the global provider when None.
            inbox_retention: seconds an inbox row is kept; longer than `redelivery_horizon`.
            inbox_purge_interval: seconds between two runs of the inbox purge job.
            inbox_purge_batch: inbox rows deleted by one statement.
            batch_size: transactional messages of one queue settled in one transaction, a
                savepoint each, and external-mode messages checked or recorded together
                (1..64; 1: a transaction per message, no batching).
            batch_linger: seconds a batch waits for more messages after its first one.
            max_deferral: seconds a message may keep being deferred, from its first deferral,
                while its handler's call is refused before sending (an open circuit breaker);
                then the DLQ (`deferred-too-long`). 0: no deferral, a refusal is an attempt.
            clock: wall-clock seconds (the purge's cut-off and the deferrals' age; tests move
                it).

        Raises:
            ConfigError: `inbox_retention` is not longer than a queue's redelivery horizon.
        """
        consumptions = tuple(
            c for c in contract.consumptions if queues is None or c.queue.name in queues
        )
        unknown = set(queues or ()) - {c.queue.name for c in consumptions}
        if unknown:
            raise MessagingError(f"the contract consumes no queue named {sorted(unknown)}")
        if not consumptions:
            raise MessagingError(f"the contract {contract.source} has no receive operation")
        if min(handler_timeout, drain_timeout, confirm_timeout, reconnect_delay) <= 0:
            raise ValueError("timeouts and delays must be positive")
        if max_deferral < 0:
            raise ValueError("max_deferral must not be negative")
        if inbox_purge_interval <= 0 or inbox_purge_batch < 1:
            raise ValueError("inbox_purge_interval and inbox_purge_batch must be positive")
        if not 1 <= batch_size <= MAX_BATCH_SIZE or batch_linger < 0:
            raise ValueError(
                f"batch_size must be 1..{MAX_BATCH_SIZE} (PostgreSQL caches {MAX_BATCH_SIZE} "
                "subtransactions per transaction) and batch_linger not negative"
            )
        _check_retention(consumptions, handler_timeout, inbox_retention, max_deferral)
        self._contract = contract
        self._consumptions = consumptions
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self._name = name
        self._prefetch = {
            c.queue.name: prefetch if isinstance(prefetch, int) else prefetch.get(c.queue.name, 10)
            for c in consumptions
        }
        self._drain_timeout = drain_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_delay = reconnect_delay
        self._sample_interval = sample_interval
        self._routes: dict[str, Route] = {}
        self._batcher = (
            None
            if batch_size == 1
            else Batcher(
                db,
                Inbox(),
                name=name,
                size=batch_size,
                linger=batch_linger,
                handler_timeout=handler_timeout,
                prefetch=self._prefetch,
            )
        )
        self._external = (
            None
            if batch_size == 1
            else ExternalGroups(
                db, Inbox(), name=name, size=batch_size, handler_timeout=handler_timeout
            )
        )
        self._processor = Processor(
            contract,
            db,
            Inbox(),
            name=name,
            routes=self._routes,
            handler_timeout=handler_timeout,
            confirm_timeout=confirm_timeout,
            max_body_bytes=max_body_bytes,
            permanent=permanent,
            tracer=(tracer_provider or trace.get_tracer_provider()).get_tracer(
                "svcinfra.messaging"
            ),
            explicit_tracer=tracer_provider is not None,
            batcher=self._batcher,
            external=self._external,
            max_deferral=max_deferral,
            clock=clock,
        )
        self._inbox = Inbox()
        self._inbox_retention = inbox_retention
        self._inbox_purge_interval = inbox_purge_interval
        self._inbox_purge_batch = inbox_purge_batch
        self._db = db
        self._clock = clock
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._subscriptions: list[_Subscription] = []
        self._connection: AbstractConnection | None = None

    @classmethod
    def from_settings(
        cls,
        contract: Contract,
        db: Database,
        settings: AmqpSettings,
        *,
        name: str,
        **options: Any,  # noqa: ANN401  (the keyword options of __init__)
    ) -> Self:
        """Create a consumer from the service's `AmqpSettings`."""
        return cls(
            contract,
            db,
            url=settings.url(),
            name=name,
            connect_timeout=settings.connect_timeout,
            confirm_timeout=settings.publish_confirm_timeout,
            **options,
        )

    @property
    def name(self) -> str:
        """The consumer's name (the inbox key)."""
        return self._name

    def on(self, message_name: str, handler: TxHandler) -> None:
        """Handle `message_name` in one transaction with its inbox row: `handler(tx, delivery)`.

        The handler's effects go through `tx` only (it may run again after a failure, and a
        duplicate is dropped by the inbox row of the same transaction).
        """
        self._register(message_name, Route("transactional", handler))

    def on_external(
        self,
        message_name: str,
        handler: ExternalHandler,
        *,
        record: Recorder | None = None,
        record_many: BatchRecorder | None = None,
    ) -> None:
        """Handle `message_name` outside any transaction: `handler(delivery) -> result` (PG-12).

        The handler makes its external call with `delivery.idempotency_key`, so a repeat after a
        crash is recognised by the other side. Its JSON-serialisable result is stored with the
        inbox row; `record(tx, delivery, result)` may write the service's own rows in that
        short transaction.

        `record_many(tx, [(delivery, result), ...])` instead records every new message of a
        recording group with one call (the messages whose calls ended together share one
        transaction, see `_external`), so its writes can be one statement per table for the
        group rather than one per message. It gets the group's new messages of this name in
        order (duplicates left out), or one message when it is recorded alone (no batching, or
        the redo of a failed group). With more than one message it runs outside their spans.

        Raises:
            MessagingError: `record` and `record_many` are both given, or the name is not
                consumed or has a handler already.
        """
        if record is not None and record_many is not None:
            raise MessagingError(f"{message_name}: give record or record_many, not both")
        self._register(message_name, Route("external", handler, record, record_many))

    @property
    def consuming(self) -> bool:
        """Whether every queue has an active subscription now."""
        connection = self._connection
        return (
            not self._stopping.is_set()
            and connection is not None
            and not connection.is_closed
            and len(self._subscriptions) == len(self._consumptions)
        )

    async def ready(self) -> bool:
        """The readiness check (`Lifecycle.add_readiness_check`): True while `consuming`."""
        return self.consuming

    def stop(self) -> None:
        """Ask `run` to stop taking messages, drain in-flight ones and return (non-blocking)."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop`, reconnecting after a lost connection.

        Raises:
            MessagingError: a message of a consumed queue has no handler (checked first).
        """
        self._check_routes()
        purger = asyncio.create_task(self._purge_inbox_periodically())
        try:
            await self._consume_until_stopped()
        finally:
            if self._batcher is not None:
                await self._batcher.close()
            if self._external is not None:
                await self._external.close()
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
        _log.info("amqp consumer stopped", consumer=self._name)

    async def purge_inbox(self) -> int:
        """Delete this consumer's inbox rows older than `inbox_retention`; return how many.

        Batch after batch until one comes back short (nothing older left, or the rest is held
        by a replica purging at the same time), so no statement runs long or locks much.

        Raises:
            DatabaseError: a batch failed (the rows deleted before it stay deleted).
        """
        before = datetime.fromtimestamp(self._clock() - self._inbox_retention, UTC)
        purged = 0
        while True:
            deleted = await self._inbox.purge_batch(
                self._db, consumer=self._name, before=before, limit=self._inbox_purge_batch
            )
            purged += deleted
            tm.INBOX_PURGED.labels(self._name).inc(deleted)
            if deleted < self._inbox_purge_batch or self._stopping.is_set():
                break
        if purged:
            _log.info(
                "inbox purged",
                consumer=self._name,
                rows=purged,
                older_than=before.isoformat(timespec="seconds"),
            )
        return purged

    async def _purge_inbox_periodically(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.purge_inbox()
            except Exception as exc:  # noqa: BLE001  (the next run tries again; consuming goes on)
                _log.warning("inbox purge failed", consumer=self._name, error=repr(exc))
            await self._pause(self._inbox_purge_interval)

    async def _consume_until_stopped(self) -> None:
        failed = 0  # connection rounds failed in a row: every node of the URL refused
        while not self._stopping.is_set():
            try:
                connection = await connect_amqp(
                    self._url.get_secret_value(),
                    timeout=self._connect_timeout,
                    client_properties={"connection_name": self._name},
                )
            except _AMQP_DOWN as exc:
                _log.warning("amqp consumer cannot connect", consumer=self._name, error=repr(exc))
                failed += 1
                # Jittered and doubling up to 30x, so that a fleet does not return in lockstep.
                ceiling = self._reconnect_delay * min(2 ** (failed - 1), 30)
                await self._pause(random.uniform(self._reconnect_delay / 2, ceiling))  # noqa: S311
                continue
            failed = 0
            self._connection = connection
            try:
                await self._consume(connection)
            except _AMQP_DOWN as exc:
                _log.warning(
                    "amqp consumer connection failed", consumer=self._name, error=repr(exc)
                )
            finally:
                self._subscriptions.clear()
                self._connection = None
                with contextlib.suppress(*_AMQP_DOWN, asyncio.CancelledError):
                    async with asyncio.timeout(2.0):
                        await connection.close()
            if not self._stopping.is_set():
                await self._pause(self._reconnect_delay)

    async def _consume(self, connection: AbstractConnection) -> None:
        lost = asyncio.Event()
        connection.close_callbacks.add(lambda *_: lost.set())
        republish = await connection.channel(publisher_confirms=True, on_return_raises=True)
        republish.close_callbacks.add(lambda *_: lost.set())
        all_acks: list[Acks] = []
        for consumption in self._consumptions:
            channel = await connection.channel(publisher_confirms=False)
            channel.close_callbacks.add(lambda *_: lost.set())
            await channel.set_qos(prefetch_count=self._prefetch[consumption.queue.name])
            queue = await channel.get_queue(consumption.queue.name, ensure=False)
            underlay = await channel.get_underlay_channel()
            acks = Acks(underlay, prefetch=self._prefetch[consumption.queue.name])
            all_acks.append(acks)

            async def deliver(
                delivered: DeliveredMessage,
                consumption: Consumption = consumption,
                acks: Acks = acks,
            ) -> None:
                acks.delivered(delivered.delivery_tag)  # first: see `Acks`
                message = Incoming(delivered)
                await self._deliver(message, consumption, republish, acks)

            # aiormq's own subscription: it runs each delivery in a task of its own, where
            # `Queue.consume` would wrap it in a second task (~20 us a message).
            consume_ok = await underlay.basic_consume(consumption.queue.name, deliver, no_ack=False)
            tag = consume_ok.consumer_tag
            if tag is None:  # pamqp's type allows it; the broker always names the consumer
                raise MessagingError(f"{consumption.queue.name}: the broker named no consumer")
            self._subscriptions.append(_Subscription(queue, tag))
        _log.info(
            "amqp consumer started",
            consumer=self._name,
            queues=[c.queue.name for c in self._consumptions],
            prefetch=self._prefetch,
        )
        sampler = asyncio.create_task(self._sample(connection))
        stopping = asyncio.create_task(self._stopping.wait())
        broken = asyncio.create_task(lost.wait())
        try:
            await asyncio.wait({stopping, broken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sampler, stopping, broken):
                task.cancel()
        if self._stopping.is_set() and not lost.is_set():
            await self._drain()
            for acks in all_acks:
                await acks.close()
        for acks in all_acks:
            acks.cancel()

    async def _drain(self) -> None:
        """Cancel the subscriptions, wait for in-flight messages, return the rest to the queue."""
        for subscription in self._subscriptions:
            with contextlib.suppress(*_AMQP_DOWN):
                await subscription.queue.cancel(subscription.tag)
        if self._in_flight:
            _, pending = await asyncio.wait(set(self._in_flight), timeout=self._drain_timeout)
            for task in pending:
                task.cancel()  # `_deliver` returns the message to its queue
            if pending:
                _log.warning(
                    "amqp consumer drain timed out; returning messages",
                    consumer=self._name,
                    returned=len(pending),
                )
                await asyncio.wait(pending, timeout=2.0)

    async def _deliver(
        self,
        message: Incoming,
        consumption: Consumption,
        republish: AbstractChannel,
        acks: Acks,
    ) -> None:
        queue = consumption.queue.name
        if self._stopping.is_set():
            await self._requeue(message, queue, acks)
            return
        task = asyncio.current_task()
        assert task is not None  # noqa: S101  (a callback always runs in a task)
        self._in_flight.add(task)
        gauge = tm.in_flight(queue)
        gauge.inc()
        try:
            await self._processor.process(message, consumption, republish, acks)
        except asyncio.CancelledError:
            await self._requeue(message, queue, acks)
            raise
        except _AMQP_DOWN as exc:
            # The republish or the ack failed: the broker still holds the message unacked
            # and redelivers it; the inbox makes the repeat harmless.
            _log.warning(
                "amqp message left unsettled",
                consumer=self._name,
                message_id=message.message_id,
                queue=queue,
                error=repr(exc),
            )
            # A pause first: a broker refusing the republish would otherwise get it right back.
            await self._pause(self._reconnect_delay)
            await self._requeue(message, queue, acks)
        finally:
            gauge.dec()
            self._in_flight.discard(task)

    async def _requeue(self, message: Incoming, queue: str, acks: Acks) -> None:
        tag = message.delivery_tag
        if not acks.unsettled(tag):
            return  # acked already (the ack is on its way) or settled by a republish
        tm.REQUEUED.labels(queue).inc()
        with contextlib.suppress(*_AMQP_DOWN):
            await message.nack(requeue=True)
        acks.settled(tag)

    async def _sample(self, connection: AbstractConnection) -> None:
        """Sample queue depths and consumer counts by passive declare (MQ-11)."""
        names = []
        for consumption in self._consumptions:
            names.append(consumption.queue.name)
            names.append(consumption.dead_letter.name)
            names += [
                retry_queue_name(consumption.queue.name, d)
                for d in sorted(set(consumption.retry.delays_ms))
            ]
        channel: AbstractChannel | None = None
        while True:
            for name in names:
                try:
                    if channel is None or channel.is_closed:
                        channel = await connection.channel(publisher_confirms=False)
                    queue = await channel.declare_queue(name, passive=True)
                except aiormq.exceptions.ChannelNotFoundEntity:
                    channel = None  # the broker closed the channel; the queue is missing
                    continue
                except _AMQP_DOWN:
                    return  # the connection is going; the next one samples again
                result = queue.declaration_result
                tm.QUEUE_MESSAGES.labels(name).set(result.message_count or 0)
                tm.QUEUE_CONSUMERS.labels(name).set(result.consumer_count or 0)
            await asyncio.sleep(self._sample_interval)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()

    def _register(self, message_name: str, route: Route) -> None:
        consumed = {m.name for c in self._consumptions for m in c.messages}
        if message_name not in consumed:
            raise MessagingError(
                f"{message_name}: not consumed by {self._name} "
                f"(the contract's queues carry {sorted(consumed)})"
            )
        if message_name in self._routes:
            raise MessagingError(f"{message_name}: a handler is registered already")
        self._routes[message_name] = route

    def _check_routes(self) -> None:
        missing = sorted(
            {m.name for c in self._consumptions for m in c.messages} - set(self._routes)
        )
        if missing:
            raise MessagingError(
                f"{self._name}: no handler for {missing}; every message of a consumed queue "
                "needs one (an unhandled message would go to the DLQ)"
            )


def _check_retention(
    consumptions: tuple[Consumption, ...],
    handler_timeout: float,
    retention: float,
    max_deferral: float,
) -> None:
    horizons = {
        c.queue.name: redelivery_horizon(c, handler_timeout, max_deferral) for c in consumptions
    }
    queue, horizon = max(horizons.items(), key=lambda item: item[1])
    if retention <= horizon:
        raise ConfigError(
            (
                ConfigProblem(
                    "inbox_retention",
                    f"{retention:g} s is not longer than the redelivery horizon of {queue} "
                    f"({horizon:g} s: its retry tiers' delays and {max_deferral:g} s of "
                    f"deferral, plus {handler_timeout:g} s of handler timeout per attempt); "
                    "a duplicate could arrive after its inbox row "
                    "is purged (MQ-3)",
                ),
            )
        )
