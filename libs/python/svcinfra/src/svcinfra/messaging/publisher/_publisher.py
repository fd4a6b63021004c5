"""`Publisher`: contract-checked, confirmed, retried publishing (MQ-2, MQ-4, MQ-5, MQ-6, MQ-11)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

import aiormq.abc
import aiormq.exceptions
import structlog
from aio_pika import DeliveryMode
from aiormq import spec
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import SecretStr

from svcinfra.messaging import headers as hdr
from svcinfra.messaging._connect import connect_amqp
from svcinfra.messaging._errors import (
    BrokerBlockedError,
    BrokerUnavailableError,
    InvalidMessageError,
    MessagingError,
    PayloadValidationError,
    PublishDeadlineError,
    PublishFailedError,
    UnknownMessageError,
)

from . import _telemetry as tm
from ._outcome import (
    TRANSIENT,
    BlockedTooLongError,
    MissingExchangeError,
    Where,
    blamed,
    final_error,
    really_cancelled,
    reason_of,
    refused,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from aio_pika.abc import AbstractChannel, AbstractConnection
    from opentelemetry.trace import Tracer, TracerProvider

    from svcinfra.config import AmqpSettings
    from svcinfra.messaging.contract import Contract, Publication

HeaderValue = str | int | float | bool | None

# Without a configured tracer provider every span is a no-op that still costs ~10 us to open
# and close; skipping it changes nothing on the wire (the caller's trace is still propagated).
_NO_SPAN = contextlib.nullcontext(trace.INVALID_SPAN)

_log = structlog.get_logger(tm.LOGGER_NAME)

_PERSISTENT = int(DeliveryMode.PERSISTENT)

# Seconds between two looks for a global tracer provider while there is none (see `_tracing`).
_TRACING_RECHECK = 1.0

# aiormq's (name-mangled) handlers of connection.blocked / unblocked (see `_watch_blocking`).
_BLOCKED_HANDLER = "_Connection__handle_connection_blocked"
_UNBLOCKED_HANDLER = "_Connection__handle_connection_unblocked"


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between publish attempts: exponential, capped, with full jitter (MQ-4).

    Retry `n` waits a uniform random time in `[0, min(maximum, initial * multiplier ** (n-1))]`,
    so publishers that lost the same broker do not come back in lockstep.
    """

    initial: float = 0.05
    maximum: float = 2.0
    multiplier: float = 2.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Return the wait before retry number `retry` (1 for the first retry)."""
        return rng.uniform(0, min(self.maximum, self.initial * self.multiplier ** (retry - 1)))


@dataclass(frozen=True, slots=True)
class PublishReceipt:
    """A message the broker confirmed: what was sent, where, and after how many attempts."""

    message_id: str
    message_name: str
    exchange: str
    routing_key: str
    correlation_id: str | None
    attempts: int


class Publisher:
    """Publishes the contract's messages with publisher confirms, retrying transient failures.

        async with Publisher(contract, url=settings.url(), name="users") as publisher:
            await publisher.publish("user.registered.v1", payload, correlation_id=request_id)

    Every message is checked against its schema before anything is sent (schemas are compiled
    once, with the contract), gets a `message_id` (a uuid4, or the caller's when it republishes,
    e.g. from an outbox), its contract name as AMQP `type`, a `message-version` header, a JSON
    body, persistent delivery, `mandatory` unless the contract's operation says otherwise (an
    unroutable message raises; an event that may have no subscriber is dropped), and the W3C trace
    context of its PRODUCER span. The call returns once the broker confirmed the message.

    A lost connection, a refused connection or a missing confirm is retried with jittered
    exponential backoff until `deadline` seconds have passed, always with the same message_id
    (a message whose confirm was lost may have arrived; consumers deduplicate by id). A nack,
    a return or a missing exchange is raised at once: sending again would not help.

    One connection and one confirm channel serve every concurrent `publish`; concurrent calls
    share the confirm window. What one message causes fails that publish alone (issue 16): a
    return or a nack answers its own delivery tag, and a channel the broker closes for one
    publish (a missing or forbidden exchange, an oversized message) is replaced by a new one on
    the same connection, where every other publish that was in flight is sent again with its
    message_id (at least once: a copy may have arrived before the close). A nack fails its own
    publish and retires the channel it came on (a quorum queue that lost its leader goes on
    nacking that channel, issue 20): new publishes take a new channel, the old one closes once
    the publishes already on it are confirmed. A confirm that does not
    come within `confirm_timeout` retries that publish only; the connection is replaced only
    when a probe finds it dead. While the broker blocks the connection (`connection.blocked`, a
    memory or disk alarm) publishes wait for it to unblock, each within its own deadline, and
    nothing reconnects: one log line and `svcinfra_amqp_publisher_blocked_total` per period,
    and `check()` (readiness) raises `BrokerBlockedError`.
    """

    def __init__(
        self,
        contract: Contract,
        *,
        url: str | SecretStr,
        name: str = "svcinfra-publisher",
        confirm_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        deadline: float = 30.0,
        backoff: Backoff | None = None,
        tracer_provider: TracerProvider | None = None,
        rng: random.Random | None = None,
    ) -> None:
        """Create a publisher; nothing connects until `start` or the first `publish`.

        Args:
            contract: the loaded contract; only its send operations can be published.
            url: the AMQP URL (a SecretStr from `AmqpSettings.url()` keeps the password out of
                reprs and logs).
            name: the connection name the broker shows (`connection_name` client property).
            confirm_timeout: seconds one attempt waits for the broker's confirm.
            connect_timeout: seconds one connection attempt may take.
            deadline: seconds a `publish` may spend in all, retries and waits included.
            backoff: the waits between attempts.
            tracer_provider: where spans go; the global provider when None.
            rng: the randomness of the jitter (seed it in tests, if ever needed).
        """
        if min(confirm_timeout, connect_timeout, deadline) <= 0:
            raise ValueError("timeouts and the deadline must be positive")
        self._contract = contract
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self._name = name
        self._confirm_timeout = confirm_timeout
        self._connect_timeout = connect_timeout
        self._deadline = deadline
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()  # noqa: S311  (jitter, not cryptography)
        self._tracer: Tracer = (
            tracer_provider.get_tracer(tm.TRACER_NAME) if tracer_provider else tm.default_tracer()
        )
        self._traced = tracer_provider is not None
        self._untraced_until = float("-inf")
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._underlay: aiormq.abc.AbstractChannel | None = None
        # Bumped for every new channel (on a new connection or the same one); an attempt's
        # failure only drops the channel or connection of the generation it ran on.
        self._generation = 0
        self._connection_generation = 0
        self._probes: dict[int, asyncio.Task[bool]] = {}
        self._exchanges_seen: set[str] = set()
        self._exchange_checks: dict[str, asyncio.Task[None]] = {}
        self._unblocked = asyncio.Event()
        self._unblocked.set()
        self._blocked_periods = 0
        self._blocked_since = 0.0
        self._blocked_metric = tm.BLOCKED.labels(name)
        self._blocked_now = tm.BLOCKED_NOW.labels(name)
        self._lock = asyncio.Lock()
        self._connect_attempts = 0
        self._connect_error: Exception | None = None
        self._closed = False
        self._closing: set[asyncio.Task[None]] = set()
        self._metrics = {
            name: tm.MessageMetrics(publication)
            for name, publication in contract.publications.items()
        }

    @classmethod
    def from_settings(
        cls,
        contract: Contract,
        settings: AmqpSettings,
        *,
        name: str,
        backoff: Backoff | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> Self:
        """Create a publisher from the service's `AmqpSettings` (URL, timeouts, deadline)."""
        return cls(
            contract,
            url=settings.url(),
            name=name,
            confirm_timeout=settings.publish_confirm_timeout,
            connect_timeout=settings.connect_timeout,
            deadline=settings.publish_deadline,
            backoff=backoff,
            tracer_provider=tracer_provider,
        )

    @property
    def contract(self) -> Contract:
        """The contract whose messages this publisher sends."""
        return self._contract

    @property
    def connected(self) -> bool:
        """Whether the connection and its confirm channel are open now (for readiness checks)."""
        return (
            self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    @property
    def blocked(self) -> bool:
        """Whether the broker blocks this publisher's connection now (a resource alarm)."""
        return not self._unblocked.is_set()

    async def check(self) -> None:
        """A readiness check: connect if needed; fail while the broker blocks publishing.

        Raises:
            BrokerUnavailableError: the broker could not be reached within `connect_timeout`.
            BrokerBlockedError: the broker blocks the connection (memory or disk alarm).
        """
        if not self.connected:
            await self.start()
        if self.blocked:
            raise BrokerBlockedError(
                f"the broker blocks publishing (resource alarm) for "
                f"{asyncio.get_running_loop().time() - self._blocked_since:.0f}s"
            )

    async def start(self) -> None:
        """Connect now, so a service fails at start-up when the broker is unreachable.

        Raises:
            BrokerUnavailableError: the broker could not be reached within `connect_timeout`.
        """
        try:
            await self._ready(self._connect_timeout)
        except (*TRANSIENT, aiormq.exceptions.ProtocolSyntaxError) as exc:
            raise BrokerUnavailableError(
                f"cannot connect to the broker within {self._connect_timeout}s: {exc!r}"
            ) from exc

    async def close(self) -> None:
        """Close the connection; a publish after this raises MessagingError."""
        self._closed = True
        async with self._lock:
            self._invalidate(self._generation)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def publish(
        self,
        message_name: str,
        payload: Mapping[str, Any],
        *,
        correlation_id: str | None = None,
        headers: Mapping[str, HeaderValue] | None = None,
        message_id: str | None = None,
        committed_at: float | None = None,
        log_failure: bool = True,
    ) -> PublishReceipt:
        """Validate, send and await the broker's confirm of one message of the contract.

        Args:
            message_name: the contract's versioned name, e.g. `user.registered.v1`.
            payload: the message body; it must satisfy the message's payload schema.
            correlation_id: the id of the chain this message belongs to (MQ-6), if any.
            headers: extra headers; names in `svcinfra.messaging` header constants and `x-*`
                (broker-owned) are refused.
            message_id: the message's id when it is published again (an outbox row, a DLQ
                replay); a new uuid4 otherwise (MQ-6).
            committed_at: when the message's outbox row was committed (epoch seconds; the
                relay's), written as the `outbox-committed-at` header for the consumer's
                delivery lag; None writes nothing.
            log_failure: log a failed publish as an error; False when the caller handles the
                failure (an outbox writer hands the row to its relay). The metrics count it
                either way.

        Returns:
            The receipt: message_id, exchange, routing key and the number of attempts.

        Raises:
            UnknownMessageError: the contract has no send operation for `message_name`.
            PayloadValidationError: the payload violates the schema; nothing was sent.
            InvalidMessageError: reserved headers, or a payload that is not JSON.
            MessageReturnedError: the broker could not route it (no queue bound).
            ExchangeNotFoundError: the exchange does not exist.
            MessageNackedError: the broker nacked it.
            PublishDeadlineError: transient failures lasted past the deadline.
            PublishFailedError: the broker refused the connection (credentials, vhost) or the
                message (access), which no retry changes.
        """
        if self._closed:
            raise MessagingError("the publisher is closed")
        metrics = self._metrics.get(message_name)
        if metrics is None:
            tm.FAILED.labels(tm.UNKNOWN_MESSAGE, "unknown_message").inc()
            sent = ", ".join(sorted(self._metrics)) or "none"
            raise UnknownMessageError(
                f"the contract {self._contract.source} has no send operation for it "
                f"(sends: {sent})",
                message_name=message_name,
            )
        publication = metrics.publication
        # One lookup per publish: each `get_running_loop()` costs a getpid() system call.
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            body = self._encode(publication, payload, headers)
        except InvalidMessageError:
            metrics.failed("invalid")
            raise
        message_id = message_id or str(uuid.uuid4())
        span_scope = (
            self._tracer.start_as_current_span(
                f"publish {publication.exchange.name}",
                kind=SpanKind.PRODUCER,
                record_exception=False,
                set_status_on_exception=False,
            )
            if self._tracing(started)
            else _NO_SPAN
        )
        with span_scope as span:
            if span.is_recording():  # building attributes for a no-op span costs for nothing
                span.set_attributes(
                    tm.span_attributes(publication, message_id, correlation_id, body)
                )
            all_headers: dict[str, Any] = {hdr.MESSAGE_VERSION: publication.message.version}
            if headers:
                all_headers.update(headers)
            if committed_at is not None:  # µs as an int: an AMQP float has 32 bits
                all_headers[hdr.OUTBOX_COMMITTED_AT] = round(committed_at * 1e6)
            # Our span, or the caller's when no tracer is configured; nothing without a trace.
            if trace.get_current_span().get_span_context().is_valid:
                propagate.inject(all_headers)
            # pamqp's properties directly: aio_pika.Message costs ~15x more to build and convert.
            properties = spec.Basic.Properties(
                headers=all_headers,
                content_type="application/json",
                delivery_mode=_PERSISTENT,
                message_id=message_id,
                correlation_id=correlation_id,
                message_type=publication.message.name,
                timestamp=datetime.now(UTC),
                app_id=self._name,
            )
            metrics.published.inc()
            try:
                attempts = await self._send(loop, publication, body, properties, metrics)
            except PublishFailedError as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                span.set_attribute("error.type", type(exc).__name__)
                metrics.duration.observe(loop.time() - started)
                (_log.error if log_failure else _log.info)(
                    "amqp publish failed",
                    message=publication.message.name,
                    message_id=message_id,
                    correlation_id=correlation_id,
                    exchange=publication.exchange.name,
                    routing_key=publication.routing_key,
                    attempts=exc.attempts,
                    error=str(exc),
                )
                raise
            if tm.debug_logged():  # inside the span, so the line carries its trace id
                _log.debug(
                    "amqp message published",
                    message=publication.message.name,
                    message_id=message_id,
                    correlation_id=correlation_id,
                    exchange=publication.exchange.name,
                    routing_key=publication.routing_key,
                    attempts=attempts,
                )
        metrics.confirmed.inc()
        metrics.duration.observe(loop.time() - started)
        return PublishReceipt(
            message_id=message_id,
            message_name=publication.message.name,
            exchange=publication.exchange.name,
            routing_key=publication.routing_key,
            correlation_id=correlation_id,
            attempts=attempts,
        )

    def _encode(
        self,
        publication: Publication,
        payload: Mapping[str, Any],
        headers: Mapping[str, HeaderValue] | None,
    ) -> bytes:
        name = publication.message.name
        problems = self._contract.validator(name).problems(payload)
        if problems:
            raise PayloadValidationError(message_name=name, problems=problems)
        if headers:
            taken = sorted(k for k in headers if k in hdr.RESERVED or k.startswith("x-"))
            if taken:
                raise InvalidMessageError(
                    f"headers {taken} are reserved (svcinfra's own or broker-owned x-*)",
                    message_name=name,
                )
        try:
            return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            raise InvalidMessageError(f"payload is not JSON: {exc}", message_name=name) from exc

    async def _send(
        self,
        loop: asyncio.AbstractEventLoop,
        publication: Publication,
        body: bytes,
        properties: spec.Basic.Properties,
        metrics: tm.MessageMetrics,
    ) -> int:
        """Send until confirmed or a final failure; return the number of attempts."""
        deadline = loop.time() + self._deadline
        exchange_name, routing_key = publication.exchange.name, publication.routing_key
        attempt = 0
        while True:
            attempt += 1
            generation = self._generation
            blocked_periods = self._blocked_periods
            try:
                generation, channel = self._open_channel(exchange_name) or await self._channel_for(
                    exchange_name, deadline
                )
                now = loop.time()
                limit = max(min(self._confirm_timeout, deadline - now), 0.001)
                await self._publish_once(
                    channel,
                    body,
                    exchange=exchange_name,
                    routing_key=routing_key,
                    properties=properties,
                    confirm_within=limit,
                    mandatory=publication.mandatory,
                )
            except (aiormq.exceptions.DeliveryError, MissingExchangeError) as exc:
                # A return or a nack of this very delivery tag, or no such exchange: the same
                # message would meet the same answer.
                self._after_refusal(exc, generation)
                context = _where(publication, properties)
                raise final_error(exc, metrics, attempts=attempt, where=context) from exc
            except aiormq.exceptions.ChannelClosed as exc:
                self._invalidate_channel(generation)
                if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
                    self._exchanges_seen.clear()  # an exchange was deleted: check them again
                if blamed(exc, exchange=exchange_name, body_size=len(body)):
                    context = _where(publication, properties)
                    raise final_error(exc, metrics, attempts=attempt, where=context) from exc
                # Another publish made the broker close the channel we were on: send again.
                await self._pause(exc, attempt, deadline, publication, properties, metrics)
            except (
                *TRANSIENT,
                aiormq.exceptions.ProtocolSyntaxError,
                asyncio.CancelledError,
            ) as exc:
                if isinstance(exc, asyncio.CancelledError) and really_cancelled():
                    raise
                if refused(exc):
                    metrics.failed("refused")
                    raise PublishFailedError(
                        f"the broker refused the connection: {exc}",
                        attempts=attempt,
                        **_where(publication, properties),
                    ) from exc
                await self._recover(exc, generation, blocked_periods)
                await self._pause(exc, attempt, deadline, publication, properties, metrics)
            else:
                return attempt

    def _open_channel(self, exchange: str) -> tuple[int, aiormq.abc.AbstractChannel] | None:
        """The confirm channel (and its generation) when an attempt can use it at once.

        The common case, answered without a coroutine; a publish's other awaits are the
        driver's.

        None when the broker blocks publishing, when there is no open channel or connection,
        or when `exchange` has not been checked yet: `_channel_for` deals with those.
        """
        underlay = self._underlay
        if (
            underlay is None
            or underlay.is_closed
            or not self._unblocked.is_set()
            or exchange not in self._exchanges_seen
            or not self.connected
        ):
            return None
        return self._generation, underlay

    async def _channel_for(
        self, exchange: str, deadline: float
    ) -> tuple[int, aiormq.abc.AbstractChannel]:
        """Return the channel (and its generation) of the next attempt.

        Waits while the broker blocks publishing, connects if needed, and checks once that
        `exchange` exists.
        """
        if not self._unblocked.is_set():
            await self._wait_unblocked(deadline)
        generation, channel = await self._ready(deadline - asyncio.get_running_loop().time())
        if exchange not in self._exchanges_seen:
            await self._check_exchange(exchange)
        return generation, channel

    async def _check_exchange(self, exchange: str) -> None:
        """Make sure `exchange` exists before the first publish to it, off the shared channel.

        A publish to a missing exchange makes the broker close its channel, and with it every
        publish in flight; and aiormq may still write a publish on a channel the broker has
        just closed, which the broker answers by closing the whole connection. A passive
        declare on a channel of its own answers the question without that cost: one round trip
        per exchange, repeated only after the broker reported some exchange missing. Publishes
        to one exchange share one check.
        """
        if not exchange:
            return  # the default exchange always exists
        check = self._exchange_checks.get(exchange)
        if check is None:
            check = asyncio.get_running_loop().create_task(self._declared(exchange))
            self._exchange_checks[exchange] = check
            check.add_done_callback(lambda _: self._exchange_checks.pop(exchange, None))
            check.add_done_callback(_retrieve)
        await asyncio.shield(check)

    async def _declared(self, exchange: str) -> None:
        connection = self._connection
        if connection is None or connection.is_closed:
            raise aiormq.exceptions.ChannelInvalidStateError("the connection closed")
        async with asyncio.timeout(self._connect_timeout):
            try:
                channel = await connection.channel(publisher_confirms=False)
            except RuntimeError as exc:  # aiormq: the connection closed meanwhile
                raise ConnectionError(f"the connection failed: {exc!r}") from exc
            try:
                await channel.declare_exchange(exchange, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity as exc:
                raise MissingExchangeError(exc) from exc
            finally:
                if not channel.is_closed:
                    await channel.close()
        self._exchanges_seen.add(exchange)

    async def _recover(self, exc: BaseException, generation: int, blocked_periods: int) -> None:
        """Drop what a transient failure of an attempt on `generation` showed to be broken."""
        if isinstance(exc, TimeoutError):
            if self._blocked_periods == blocked_periods and self._unblocked.is_set():
                # A late confirm: retry this publish; replace the connection only if it is
                # dead, not because one confirm was slow (or the broker blocked it meanwhile).
                await self._probe(generation)
        elif self._connection is not None and not self._connection.is_closed:
            # The channel failed (closed by the broker for another publish, which cancels
            # whatever waited on it), not the connection: a new channel on it is enough. If the
            # connection is dead after all, opening that channel fails and replaces it.
            self._invalidate_channel(generation)
        else:
            self._invalidate(generation)

    async def _pause(  # noqa: PLR0917  (the attempt's context, passed through unchanged)
        self,
        exc: BaseException,
        attempt: int,
        deadline: float,
        publication: Publication,
        properties: spec.Basic.Properties,
        metrics: tm.MessageMetrics,
    ) -> None:
        """Wait before the next attempt, or raise PublishDeadlineError when none fits.

        A pause that overruns the deadline (a busy loop wakes late) ends the publish too, with
        this failure as the last: the next attempt would find no time left and blame that.
        """
        loop = asyncio.get_running_loop()
        reason = reason_of(exc)
        delay = self._backoff.delay(attempt, self._rng)
        context = _where(publication, properties)
        if loop.time() + delay >= deadline:
            raise self._deadline_error(exc, reason, attempt, context, metrics) from exc
        _log.warning(
            "amqp publish retry",
            message=context["message_name"],
            message_id=properties.message_id,
            correlation_id=properties.correlation_id,
            exchange=context["exchange"],
            routing_key=context["routing_key"],
            attempt=attempt,
            reason=reason,
            delay=round(delay, 3),
        )
        await asyncio.sleep(delay)
        if loop.time() >= deadline:
            raise self._deadline_error(exc, reason, attempt, context, metrics) from exc
        metrics.retried(reason)

    def _deadline_error(
        self,
        exc: BaseException,
        reason: str,
        attempt: int,
        context: Where,
        metrics: tm.MessageMetrics,
    ) -> PublishDeadlineError:
        metrics.failed("deadline")
        return PublishDeadlineError(
            f"not confirmed within the {self._deadline}s deadline; last failure: "
            f"{reason} ({exc!r})",
            attempts=attempt,
            **context,
        )

    async def _wait_unblocked(self, deadline: float) -> None:
        """Wait while the broker blocks the connection, until `deadline` (loop time).

        Raises:
            BlockedTooLongError: still blocked at the deadline (a TimeoutError, which the
                retry bookkeeping turns into a PublishDeadlineError).
        """
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise BlockedTooLongError
        try:
            async with asyncio.timeout(remaining):
                await self._unblocked.wait()
        except TimeoutError:
            raise BlockedTooLongError from None

    async def _probe(self, generation: int) -> None:
        """After a confirm timeout: drop the connection of `generation` if it no longer answers.

        One probe per connection runs at a time, however many publishes timed out together: it
        opens and closes a channel (two round trips) within the connect timeout.
        """
        connection = self._connection
        if generation != self._generation or connection is None or connection.is_closed:
            return
        connection_generation = self._connection_generation
        probe = self._probes.get(connection_generation)
        if probe is None or probe.done():
            probe = asyncio.get_running_loop().create_task(self._answers(connection))
            probe.add_done_callback(_retrieve)
            self._probes = {connection_generation: probe}
        alive = await asyncio.shield(probe)
        if not alive and connection_generation == self._connection_generation:
            self._invalidate(self._generation)

    async def _answers(self, connection: AbstractConnection) -> bool:
        try:
            async with asyncio.timeout(self._connect_timeout):
                channel = await connection.channel(publisher_confirms=False)
                await channel.close()
        except (*TRANSIENT, aiormq.exceptions.AMQPError, RuntimeError):
            alive = False
        else:
            alive = True
        tm.CONNECTION_PROBES.labels(self._name, "alive" if alive else "dead").inc()
        if not alive:
            _log.warning("amqp publisher connection dead after a confirm timeout", name=self._name)
        return alive

    async def _publish_once(
        self,
        channel: aiormq.abc.AbstractChannel,
        body: bytes,
        *,
        exchange: str,
        routing_key: str,
        properties: spec.Basic.Properties,
        confirm_within: float,
        mandatory: bool = True,
    ) -> None:
        """Send one message and await its confirm within `confirm_within` seconds.

        `mandatory` (the contract's, per operation): a message no queue is bound for comes back
        as a return (`MessageReturnedError`); without it the broker confirms and drops it.

        The limit is aiormq's own (`timeout=`): a publish that outlives it raises TimeoutError,
        a transient failure retried while the deadline allows; a cancellation from outside stays
        a cancellation. (A shared timer for all attempts in flight saved ~4 us a publish, which
        did not earn its place at the service level: docs/fastpaths.md.)
        """
        await channel.basic_publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            properties=properties,
            mandatory=mandatory,
            timeout=confirm_within,
        )

    async def _ready(self, remaining: float) -> tuple[int, aiormq.abc.AbstractChannel]:
        """Return the open confirm channel and its generation, connecting if there is none."""
        underlay = self._underlay
        if underlay is not None and not underlay.is_closed and self.connected:
            return self._generation, underlay
        if remaining <= 0:
            raise TimeoutError("no time left to connect")
        attempts_seen = self._connect_attempts
        async with asyncio.timeout(remaining), self._lock:
            if self._closed:
                raise MessagingError("the publisher is closed")
            if self._underlay is not None and self.connected:
                return self._generation, self._underlay
            if self._connect_attempts != attempts_seen and self._connect_error is not None:
                # Someone else tried while we waited, and failed: share that answer instead of
                # queueing one more connect per waiting publish (200 waiters, one stalled broker).
                raise self._connect_error
            connection = self._connection
            if connection is not None and not connection.is_closed:
                # Only the channel was lost (the broker closed it for one publish): a new one
                # on the same connection.
                try:
                    channel, underlay = await _confirm_channel(connection)
                except (*TRANSIENT, aiormq.exceptions.AMQPError, RuntimeError) as exc:
                    # aiormq raises RuntimeError for a connection it found closed meanwhile.
                    self._invalidate(self._generation)
                    raise ConnectionError(f"the connection failed: {exc!r}") from exc
                self._channel, self._underlay = channel, underlay
                self._generation += 1
                _log.info("amqp publisher channel reopened", name=self._name)
                return self._generation, underlay
            self._invalidate(self._generation)
            self._connect_attempts += 1
            try:
                connection = await connect_amqp(
                    self._url.get_secret_value(),
                    timeout=min(self._connect_timeout, remaining),
                    client_properties={"connection_name": self._name},
                )
            except Exception as exc:
                self._connect_error = exc
                raise
            self._connect_error = None
            try:
                channel, underlay = await _confirm_channel(connection)
            except BaseException:
                await _close_quietly(connection)
                raise
            self._watch_blocking(connection)
            self._connection, self._channel, self._underlay = connection, channel, underlay
            self._generation += 1
            self._connection_generation += 1
            _log.info("amqp publisher connected", name=self._name, generation=self._generation)
            return self._generation, underlay

    def _watch_blocking(self, connection: AbstractConnection) -> None:
        """Follow `connection.blocked` / `unblocked` of a new connection (RabbitMQ's alarms).

        aiormq honours the frames (it keeps writing) but has no callback for them; its handlers
        are wrapped on this connection object only, so publishes can wait instead of timing out
        and reconnecting, and the period is logged and counted once.
        """
        if not self._unblocked.is_set():
            self._blocked_ended()  # a new connection starts unblocked
        transport = connection.transport
        if transport is None:
            return
        raw = transport.connection
        on_blocked = getattr(raw, _BLOCKED_HANDLER, None)
        on_unblocked = getattr(raw, _UNBLOCKED_HANDLER, None)
        if on_blocked is None or on_unblocked is None:  # another aiormq: no waiting, no metric
            _log.warning("amqp publisher cannot follow connection.blocked", name=self._name)
            return

        async def blocked(frame: spec.Connection.Blocked) -> None:
            await on_blocked(frame)
            if raw is self._raw_connection() and self._unblocked.is_set():
                self._unblocked.clear()
                self._blocked_periods += 1
                self._blocked_since = asyncio.get_running_loop().time()
                self._blocked_metric.inc()
                self._blocked_now.set(1)
                _log.warning(
                    "amqp publisher blocked by the broker",
                    name=self._name,
                    reason=frame.reason,
                )

        async def unblocked(frame: spec.Connection.Unblocked) -> None:
            await on_unblocked(frame)
            if raw is self._raw_connection():
                self._blocked_ended()

        setattr(raw, _BLOCKED_HANDLER, blocked)
        setattr(raw, _UNBLOCKED_HANDLER, unblocked)

    def _raw_connection(self) -> object:
        connection = self._connection
        transport = connection.transport if connection is not None else None
        return transport.connection if transport is not None else None

    def _blocked_ended(self) -> None:
        if self._unblocked.is_set():
            return
        self._unblocked.set()
        self._blocked_now.set(0)
        _log.info(
            "amqp publisher unblocked",
            name=self._name,
            blocked_for=round(asyncio.get_running_loop().time() - self._blocked_since, 3),
        )

    def _tracing(self, now: float) -> bool:
        """Whether a tracer provider is configured.

        Once one is, it stays (OpenTelemetry sets the global provider once). Until then the
        answer is asked again at most every `_TRACING_RECHECK` seconds rather than per call:
        the lookup reads the environment (~4 us), and a provider is set up at start-up anyway.
        """
        if self._traced:
            return True
        if now < self._untraced_until:
            return False
        if isinstance(
            trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
        ):
            self._untraced_until = now + _TRACING_RECHECK
            return False
        self._traced = True  # a real provider now: the global tracer delegates to it
        return True

    def _after_refusal(self, exc: Exception, generation: int) -> None:
        """Retire the channel of a nack, so that the caller's next try gets a channel of its own.

        A channel whose quorum queue lost its leader nacks every later publish too (RabbitMQ
        3.10, issue 20). The channel is not closed under the other publishes in flight on it
        (that would fail them, and their messages may well be in their queues): it takes no new
        publish, and closes once their confirms are in, or after `confirm_timeout`.
        """
        if not _nacked(exc) or generation != self._generation or self._channel is None:
            return
        channel, underlay = self._channel, self._underlay
        self._channel = self._underlay = None
        task = asyncio.get_running_loop().create_task(self._close_when_settled(channel, underlay))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close_when_settled(
        self, channel: AbstractChannel, underlay: aiormq.abc.AbstractChannel | None
    ) -> None:
        """Close a retired channel once the publishes that were on it are settled.

        They were all queued on the driver's channel lock (nothing new takes a retired channel);
        once the lock is ours they have been sent, and their confirms are what remains. Bounded
        by `confirm_timeout`: every attempt's own limit has passed by then anyway.
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._confirm_timeout):
                lock = getattr(underlay, "lock", None)  # aiormq's channel: its publish lock
                if lock is not None:
                    with contextlib.suppress(aiormq.exceptions.AMQPError):
                        async with lock:  # raises once the channel is closed: nothing to wait
                            pass
                # ... and the confirms it waits for, by delivery tag.
                pending = getattr(underlay, "confirmations", {})
                waiting = [c for c in pending.values() if isinstance(c, asyncio.Future)]
                if waiting:
                    await asyncio.wait(waiting)
        await _close_channel_quietly(channel)

    def _invalidate_channel(self, generation: int) -> None:
        """Forget a channel the broker closed; the connection stays for its successor."""
        if generation != self._generation or self._channel is None:
            return
        channel, self._channel, self._underlay = self._channel, None, None
        if not channel.is_closed:
            task = asyncio.get_running_loop().create_task(_close_channel_quietly(channel))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _invalidate(self, generation: int) -> None:
        """Drop the connection of `generation` (once, however many calls saw it fail)."""
        if generation != self._generation or self._connection is None:
            return
        connection, self._connection = self._connection, None
        self._channel = self._underlay = None
        self._blocked_ended()
        # Closing a stalled connection waits for the broker; nobody should wait for that.
        task = asyncio.get_running_loop().create_task(_close_quietly(connection))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


def _nacked(exc: Exception) -> bool:
    """Whether `exc` is the broker's basic.nack (not a return, not a missing exchange)."""
    return isinstance(exc, aiormq.exceptions.DeliveryError) and not isinstance(
        exc, aiormq.exceptions.PublishError
    )


def _where(publication: Publication, properties: spec.Basic.Properties) -> Where:
    """What a publish error names (built only when there is an error)."""
    return Where(
        message_name=publication.message.name,
        message_id=properties.message_id,
        exchange=publication.exchange.name,
        routing_key=publication.routing_key,
    )


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a shared task's outcome seen: its waiters may all have been cancelled."""
    if not task.cancelled():
        task.exception()


async def _confirm_channel(
    connection: AbstractConnection,
) -> tuple[AbstractChannel, aiormq.abc.AbstractChannel]:
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    # The driver's own channel: the same confirms and returns, without aio-pika's per-message
    # Message and Exchange wrappers on the hot path.
    return channel, await channel.get_underlay_channel()


async def _close_channel_quietly(channel: AbstractChannel) -> None:
    try:
        async with asyncio.timeout(1.0):
            await channel.close()
    except Exception:  # noqa: BLE001, S110  (the channel is being discarded after a failure)
        pass


async def _close_quietly(connection: AbstractConnection) -> None:
    try:
        async with asyncio.timeout(1.0):
            await connection.close()
    except Exception:  # noqa: BLE001, S110  (the connection is being discarded after a failure)
        pass
