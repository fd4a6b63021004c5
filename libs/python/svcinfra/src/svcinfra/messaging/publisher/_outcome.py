"""How a publish attempt ended: which failures may be retried, and what the others mean."""

from __future__ import annotations

import asyncio
import errno
import re
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


class BlockedTooLongError(TimeoutError):
    """The broker blocked publishing (a resource alarm) until the publish's deadline."""

    def __init__(self) -> None:
        super().__init__("the broker blocks publishing (connection.blocked: a resource alarm)")


class MissingExchangeError(Exception):
    """A passive declare found no such exchange: nothing was published."""

    def __init__(self, cause: aiormq.exceptions.ChannelNotFoundEntity) -> None:
        super().__init__(str(cause))
        self.cause = cause


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
    if isinstance(exc, MissingExchangeError):
        exc = exc.cause
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


# How RabbitMQ names the publish that made it close a channel (rabbit_channel.erl's texts).
_NO_EXCHANGE = re.compile(r"no exchange '(?P<name>.*)' in vhost")
_ACCESS = re.compile(r"access to exchange '(?P<name>.*)' in vhost")
_TOO_LARGE = re.compile(r"message size (?P<size>\d+) is larger than")


def blamed(exc: aiormq.exceptions.ChannelClosed, *, exchange: str, body_size: int) -> bool:
    """Whether the broker closed the channel because of this publish (or one just like it).

    A channel error ends every publish in flight on the channel, but it is caused by one of
    them: a missing or forbidden exchange, a message over the size limit. The close frame names
    the exchange (or the size), so only the publishes that would meet the same answer are final
    errors; every other one was merely caught in the closing channel, and is sent again, with
    the same message_id, on a new one (MQ-4). A close whose cause cannot be matched blames no
    publish: each is retried within its deadline.
    """
    text = " ".join(str(arg) for arg in exc.args)  # (reply text) or (reply code, reply text)
    if isinstance(exc, aiormq.exceptions.ChannelNotFoundEntity):
        found = _NO_EXCHANGE.search(text)
        return found is not None and found["name"] == exchange
    if isinstance(exc, aiormq.exceptions.ChannelAccessRefused):
        found = _ACCESS.search(text)
        return found is not None and found["name"] == exchange
    found = _TOO_LARGE.search(text)
    return found is not None and int(found["size"]) == body_size


def reason_of(exc: BaseException) -> str:
    """A short, bounded label for why an attempt failed (the retries metric's `reason`)."""
    if isinstance(exc, BlockedTooLongError):
        return "blocked"
    if isinstance(exc, TimeoutError):
        return "confirm_timeout"
    # aiormq reports a refused connect as AMQPConnectionError(errno, text).
    if isinstance(exc, ConnectionRefusedError) or (exc.args and exc.args[0] == errno.ECONNREFUSED):
        return "connection_refused"
    if isinstance(exc, asyncio.CancelledError):
        return "connection_lost"
    if isinstance(
        exc, aiormq.exceptions.ChannelInvalidStateError | aiormq.exceptions.ChannelClosed
    ):
        return "channel_closed"
    return "connection_lost"


def really_cancelled() -> bool:
    """Whether our own task is being cancelled, not a future aiormq cancelled on a lost link."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
