"""How a publish attempt ended: which failures may be retried, and what the others mean."""

from __future__ import annotations

import asyncio
import errno
from typing import TYPE_CHECKING, TypedDict

import aiormq.exceptions

from svcinfra.messaging._errors import (
    ExchangeNotFoundError,
    MessageNackedError,
    MessageReturnedError,
    PublishFailedError,
)

if TYPE_CHECKING:
    from ._telemetry import MessageMetrics

# Failures after which the same message may be sent again: the connection or channel is gone,
# or the confirm did not come in time. The message keeps its message_id, so a duplicate that
# reached the broker the first time is dropped by the consumer's inbox (MQ-3).
TRANSIENT = (
    aiormq.exceptions.AMQPConnectionError,
    aiormq.exceptions.ChannelInvalidStateError,
    ConnectionError,
    OSError,
    TimeoutError,
)


def refused(exc: BaseException) -> bool:
    """Whether the broker refused the connection itself: credentials, vhost, protocol.

    aiormq reports a wrong password as ProbableAuthenticationError (an AMQPConnectionError,
    otherwise transient) and a missing vhost as a protocol error; retrying either only delays
    the same answer, so the caller fails at once with the broker's reason.
    """
    if isinstance(
        exc, aiormq.exceptions.AuthenticationError | aiormq.exceptions.ProtocolSyntaxError
    ):
        return True
    return isinstance(exc, aiormq.exceptions.ProbableAuthenticationError) and (
        "ACCESS_REFUSED" in str(exc) or "NOT_ALLOWED" in str(exc)
    )


class Where(TypedDict):
    """What every publish error names."""

    message_name: str
    message_id: str | None
    exchange: str
    routing_key: str


def final_error(
    exc: Exception, metrics: MessageMetrics, *, attempts: int, where: Where
) -> PublishFailedError:
    """Translate a broker answer that retrying cannot change, and count it."""
    if isinstance(exc, aiormq.exceptions.PublishError):
        metrics.returned.inc()
        metrics.failed("returned")
        reply = getattr(exc.frame, "reply_text", "NO_ROUTE")
        return MessageReturnedError(
            f"returned by the broker as unroutable: {reply}", attempts=attempts, **where
        )
    if isinstance(exc, aiormq.exceptions.DeliveryError):
        metrics.nacked.inc()
        metrics.failed("nacked")
        return MessageNackedError("nacked by the broker", attempts=attempts, **where)
    if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
        metrics.failed("no_exchange")
        return ExchangeNotFoundError(
            f"the exchange does not exist ({exc}); declare the topology first",
            attempts=attempts,
            **where,
        )
    metrics.failed("refused")
    return PublishFailedError(f"the broker refused it: {exc}", attempts=attempts, **where)


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "confirm_timeout"
    # aiormq reports a refused connect as AMQPConnectionError(errno, text).
    if isinstance(exc, ConnectionRefusedError) or (exc.args and exc.args[0] == errno.ECONNREFUSED):
        return "connection_refused"
    if isinstance(exc, asyncio.CancelledError):
        return "connection_lost"
    if isinstance(exc, aiormq.exceptions.ChannelInvalidStateError):
        return "channel_closed"
    return "connection_lost"


def really_cancelled() -> bool:
    """Whether our own task is being cancelled, not a future aiormq cancelled on a lost link."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
