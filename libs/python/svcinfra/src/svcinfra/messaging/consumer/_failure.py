"""Failures of a handler: transient or permanent, and the headers that carry them (MQ-9, MQ-10)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from svcinfra.messaging import headers as hdr

from ._delivery import ErrorClass, Failure
from ._signals import Reject, Retry

if TYPE_CHECKING:
    from collections.abc import Mapping


def classify(exc: BaseException, *, permanent: tuple[type[BaseException], ...] = ()) -> Failure:
    """Return how to handle what a handler raised.

    `Reject` and the service's `permanent` exception types are permanent; so is an error whose
    `temporary` attribute is False (svcinfra's publish errors, external API errors, EX-4). The
    rest is transient: a bug or an outage, retried through the tiers and dead-lettered after the
    last one, so nothing is dropped and a fix can replay it.

    The message of an arbitrary exception may quote personal data, so only signals (whose
    reasons the service writes for this header) and errors that declare themselves safe (a
    `temporary` attribute: svcinfra's own, whose messages never carry values) keep theirs.
    """
    if isinstance(exc, Reject):
        return Failure(ErrorClass.PERMANENT, "Reject", exc.reason)
    if isinstance(exc, Retry):
        return Failure(ErrorClass.TRANSIENT, "Retry", exc.reason)
    name = type(exc).__name__
    if isinstance(exc, TimeoutError):
        return Failure(ErrorClass.TRANSIENT, name, "the handler did not finish in time")
    temporary = getattr(exc, "temporary", None)
    text = str(exc) if isinstance(temporary, bool) else f"{name} (message withheld: see the log)"
    if isinstance(exc, permanent) or temporary is False:
        return Failure(ErrorClass.PERMANENT, name, text)
    return Failure(ErrorClass.TRANSIENT, name, text)


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
) -> dict[str, Any]:
    """Return the headers of a copy sent to a retry tier or the DLQ.

    The producer's headers are kept; broker-owned `x-*` ones are dropped (a client must not
    send them, and RabbitMQ 4 ignores them). The original exchange and routing key are those of
    the first failure: a message coming back from a wait queue arrives through the default
    exchange under the work queue's name.
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
    return headers


def truncate(text: str, limit: int = hdr.ERROR_MESSAGE_LIMIT) -> str:
    """Cut `text` to `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
