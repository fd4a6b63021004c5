"""Failures of a handler: transient or permanent, and the headers that carry them (MQ-9, MQ-10).

A transient failure may also be *no attempt at all*: a dependency refused the handler's call
before sending anything (svcinfra.httpclient's `CircuitOpenError` while the breaker is open).
Charging it an attempt would let one outage of the dependency spend a retry wave's budget
failing fast (issue 17: welcome emails dead-lettered `attempts-exhausted` without a call to the
mail API). Such a failure is deferred instead: sent to the retry tier that waits at least its
`retry_after`, with `retry-count` unchanged, for at most the consumer's `max_deferral` seconds
from the first deferral, then dead-lettered `deferred-too-long`.

The protocol, open to any library's "refused before sending" error: an exception with
`not_attempted = True` (an attribute or a property) and `retry_after` (seconds, a number or
None). The handler may raise it, or raise anything `from` it (`raise Retry(...) from exc`):
`classify` follows the explicit causes (`__cause__`), and decides alone.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from svcinfra.messaging import headers as hdr

from ._delivery import ErrorClass, Failure
from ._signals import Reject, Retry

if TYPE_CHECKING:
    from collections.abc import Mapping


class NotAttempted(Protocol):
    """What an error declares to be deferred rather than counted (duck-typed, never imported).

    Attributes:
        not_attempted: True when nothing was sent: the call was refused on our side.
        retry_after: seconds until the refusal may end (None: unknown).
    """

    @property
    def not_attempted(self) -> bool: ...

    @property
    def retry_after(self) -> float | None: ...


def classify(exc: BaseException, *, permanent: tuple[type[BaseException], ...] = ()) -> Failure:
    """Return how to handle what a handler raised.

    `Reject` and the service's `permanent` exception types are permanent; so is an error whose
    `temporary` attribute is False (svcinfra's publish errors, external API errors, EX-4). The
    rest is transient: a bug or an outage, retried through the tiers and dead-lettered after the
    last one, so nothing is dropped and a fix can replay it.

    A transient failure raised by, or `from`, an error with `not_attempted` True (see the
    module) carries that error's name and `retry_after`: the consumer defers the message
    instead of counting an attempt. A permanent failure stays permanent whatever its cause.

    The message of an arbitrary exception may quote personal data, so only signals (whose
    reasons the service writes for this header) and errors that declare themselves safe (a
    `temporary` attribute: svcinfra's own, whose messages never carry values) keep theirs.
    """
    if isinstance(exc, Reject):
        return Failure(ErrorClass.PERMANENT, "Reject", exc.reason)
    if isinstance(exc, Retry):
        return Failure(ErrorClass.TRANSIENT, "Retry", exc.reason, *_refusal(exc))
    name = type(exc).__name__
    if isinstance(exc, TimeoutError):
        return Failure(ErrorClass.TRANSIENT, name, "the handler did not finish in time")
    temporary = getattr(exc, "temporary", None)
    text = str(exc) if isinstance(temporary, bool) else f"{name} (message withheld: see the log)"
    if isinstance(exc, permanent) or temporary is False:
        return Failure(ErrorClass.PERMANENT, name, text)
    return Failure(ErrorClass.TRANSIENT, name, text, *_refusal(exc))


_CAUSES = 8  # explicit causes followed at most (a chain is short; a cycle is not followed)


def not_attempted(exc: BaseException) -> BaseException | None:
    """Return the "refused before sending" error `exc` is or was raised from, if any.

    That is `exc` or one of its explicit causes (`raise ... from`) whose `not_attempted` is True.
    """
    current: BaseException | None = exc
    for _ in range(_CAUSES):
        if current is None:
            return None
        if getattr(current, "not_attempted", False) is True:
            return current
        current = current.__cause__
    return None


def _refusal(exc: BaseException) -> tuple[str | None, float]:
    """The `refused_by` and `retry_after` of a `Failure` (None, 0 for an attempt).

    `retry_after` is 0 when the refusal has none, or one that is negative or not finite.
    """
    refusal = not_attempted(exc)
    if refusal is None:
        return None, 0.0
    after = getattr(refusal, "retry_after", None)
    wait = float(after) if isinstance(after, int | float) and not isinstance(after, bool) else 0.0
    return type(refusal).__name__, wait if math.isfinite(wait) and wait > 0 else 0.0


def defer_delay_ms(delays_ms: tuple[int, ...], retry_after: float) -> int:
    """Return the retry tier for a deferral: the shortest wait of at least `retry_after` seconds.

    The longest tier when none waits that long (the next refusal defers it again).
    """
    if not delays_ms:
        raise ValueError("no retry tier to defer to")
    wanted = retry_after * 1000
    return min((d for d in delays_ms if d >= wanted), default=max(delays_ms))


def deferred_since(headers: Mapping[str, Any]) -> datetime | None:
    """Return when the message was first deferred (`deferred-since`), None if never or bad."""
    value = headers.get(hdr.DEFERRED_SINCE)
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    try:
        since = datetime.fromisoformat(value)
    except ValueError:
        return None
    return since if since.tzinfo is not None else None


def deferrals(headers: Mapping[str, Any]) -> int:
    """Return how often the message was deferred already (`deferrals`, 0 when absent or bad)."""
    value = headers.get(hdr.DEFERRALS)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def deferred_too_long(failure: Failure, *, waited: float, limit: float, times: int) -> Failure:
    """The failure of a message still refused before sending after `limit` seconds of deferrals."""
    return Failure(
        ErrorClass.TRANSIENT,
        "deferred-too-long",
        f"not attempted for {waited:.0f}s ({times} deferrals, limit {limit:g}s); "
        f"last: {failure.error_type}: {failure.message}",
    )


def exhausted(failure: Failure, attempts: int) -> Failure:
    """The failure of a message whose last allowed attempt failed transiently."""
    return Failure(
        ErrorClass.TRANSIENT,
        "attempts-exhausted",
        f"{attempts} attempts; last: {failure.error_type}: {failure.message}",
    )


def retry_count(headers: Mapping[str, Any]) -> int:
    """Return the retries already made, from our `retry-count` header (0 when absent or bad)."""
    value = headers.get(hdr.RETRY_COUNT)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def broker_retries(headers: Mapping[str, Any], work_queue: str) -> int:
    """Return how often the broker saw the message expire from `work_queue`'s wait queues.

    A cross-check only (`x-death`): RabbitMQ 3.13+ owns `x-*` headers and 4.0 drops a client's
    `x-death`, so a republished copy may carry a count that restarted.
    """
    deaths = headers.get("x-death")
    if not isinstance(deaths, list | tuple):
        return 0
    prefix = f"{work_queue}.retry."
    total = 0
    for death in deaths:
        if not isinstance(death, dict):
            continue
        queue, count = death.get("queue"), death.get("count")
        if isinstance(queue, str) and queue.startswith(prefix) and isinstance(count, int):
            total += count
    return total


def failure_headers(
    received: Mapping[str, Any],
    failure: Failure,
    *,
    retries: int,
    attempts: int | None,
    exchange: str,
    routing_key: str,
    consumer: str,
    now: datetime | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the headers of a copy sent to a retry tier or the DLQ.

    The producer's headers are kept; broker-owned `x-*` ones are dropped (a client must not
    send them, and RabbitMQ 4 ignores them). The original exchange and routing key are those of
    the first failure: a message coming back from a wait queue arrives through the default
    exchange under the work queue's name. `extra`: the deferral's headers.
    """
    headers = {k: v for k, v in received.items() if not k.lower().startswith("x-")}
    headers.setdefault(hdr.ORIGINAL_EXCHANGE, exchange)
    headers.setdefault(hdr.ORIGINAL_ROUTING_KEY, routing_key)
    headers[hdr.RETRY_COUNT] = retries
    headers[hdr.ERROR_CLASS] = str(failure.error_class)
    headers[hdr.ERROR_TYPE] = failure.error_type[:100]
    headers[hdr.ERROR_MESSAGE] = truncate(failure.message)
    headers[hdr.FAILED_AT] = (now or datetime.now(UTC)).isoformat(timespec="milliseconds")
    headers[hdr.CONSUMER] = consumer
    if attempts is not None:
        headers[hdr.ATTEMPTS] = attempts
    if extra:
        headers.update(extra)
    return headers


def truncate(text: str, limit: int = hdr.ERROR_MESSAGE_LIMIT) -> str:
    """Cut `text` to `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
