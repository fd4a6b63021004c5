"""Confirmed publishing of the contract's messages (MQ-4, MQ-5, MQ-6, MQ-11).

    async with Publisher.from_settings(contract, config.amqp, name="users") as publisher:
        receipt = await publisher.publish("user.registered.v1", payload, correlation_id=cid)

See `Publisher` for what every message carries and which failures are retried.
"""

from svcinfra.messaging._errors import (
    ExchangeNotFoundError,
    InvalidMessageError,
    MessageNackedError,
    MessageReturnedError,
    PayloadProblem,
    PayloadValidationError,
    PublishDeadlineError,
    PublishFailedError,
    UnknownMessageError,
)

from ._publisher import Backoff, HeaderValue, Publisher, PublishReceipt

__all__ = [
    "Backoff",
    "ExchangeNotFoundError",
    "HeaderValue",
    "InvalidMessageError",
    "MessageNackedError",
    "MessageReturnedError",
    "PayloadProblem",
    "PayloadValidationError",
    "PublishDeadlineError",
    "PublishFailedError",
    "PublishReceipt",
    "Publisher",
    "UnknownMessageError",
]
