"""`UserRegisteredHandler`: `user.registered.v1` -> a welcome email, recorded once (PG-12, MQ-9).

It runs in the consumer's external mode (`Consumer.on_external`):

1. the inbox is checked: an event already processed is acked without effect (MQ-3);
2. `send`: the mail API is called with no transaction open (PG-12), with an idempotency key
   derived from the event's message_id; a temporary failure raises `Retry` (the next retry
   tier), a permanent one `Reject` (the DLQ, with the reason in its headers) (MQ-9, MQ-10);
3. `record_many`: one short transaction per group of calls ending together writes their inbox
   rows, their delivery rows (one statement) and their outbox rows of `notification.sent.v1`
   (one statement), or none of them; a message recorded alone is a group of one.

A crash between 2 and 3 leaves no row: the event is redelivered, step 2 repeats the same request
with the same key, the mail API replays its first answer, and step 3 records it once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import structlog

from notifications.domain.entity import AcceptedMail, Registration
from notifications.domain.errors import MailRefusedError, MailUnavailableError
from svcinfra.messaging.consumer import Reject, Retry

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from notifications.domain.repository import DeliveryUnit
    from notifications.domain.service import WelcomeService
    from svcinfra.messaging.consumer import Delivery

USER_REGISTERED = "user.registered.v1"

# The consumer's transaction, opaque here: only the unit factory (wired in app.py) opens it up.
TxT = TypeVar("TxT")

_log = structlog.get_logger("notifications.transport.mq")


def registration_of(delivery: Delivery) -> Registration:
    """Decode a checked `user.registered.v1` delivery into the domain's `Registration`.

    Raises:
        Reject: a field the schema let through cannot be read (a permanent failure).
    """
    payload = delivery.payload
    try:
        registered_at = datetime.fromisoformat(payload["registered_at"])
        return Registration(
            event_id=delivery.message_id,
            user_id=uuid.UUID(payload["user_id"]),
            email=payload["email"],
            username=payload["username"],
            display_name=payload["display_name"],
            registered_at=registered_at,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Reject(f"{delivery.name}: unreadable payload ({type(exc).__name__})") from None


class UserRegisteredHandler(Generic[TxT]):
    """The consumer's handler of `user.registered.v1`, in the external mode.

    handler = UserRegisteredHandler(service, units)
    consumer.on_external(USER_REGISTERED, handler.send, record_many=handler.record_many)
    """

    def __init__(self, service: WelcomeService, units: Callable[[TxT], DeliveryUnit]) -> None:
        """Create the handler.

        Args:
            service: the domain service.
            units: builds the delivery unit (repository and outbox) of one transaction.
        """
        self._service = service
        self._units = units

    async def send(self, delivery: Delivery) -> dict[str, Any]:
        """Send the welcome email with no transaction open; return what `record_many` needs.

        Raises:
            Retry: the mail API could not take it now.
            Reject: the mail API refuses it, or the payload cannot be read.
        """
        registration = registration_of(delivery)
        try:
            accepted = await self._service.send(registration)
        except MailUnavailableError as exc:
            raise Retry(exc.reason) from exc
        except MailRefusedError as exc:
            raise Reject(exc.reason) from exc
        _log.info(
            "welcome email accepted",
            message_id=delivery.message_id,
            provider_message_id=accepted.provider_message_id,
            replayed=accepted.replayed,
            attempt=delivery.attempt,
        )
        return {
            "provider_message_id": accepted.provider_message_id,
            "accepted_at": accepted.accepted_at.isoformat(),
            "replayed": accepted.replayed,
        }

    async def record_many(self, tx: TxT, items: Sequence[tuple[Delivery, object]]) -> None:
        """Record a group's accepted emails and their announcements in the consumer's transaction.

        `items` are the group's new messages, in order, each with what `send` returned.
        """
        recorded = await self._service.record_many(
            [(registration_of(delivery), _accepted(result)) for delivery, result in items],
            self._units(tx),
        )
        for (delivery, _), outcome in zip(items, recorded, strict=True):
            if outcome is None:
                _log.info("welcome email recorded before", message_id=delivery.message_id)


def _accepted(result: object) -> AcceptedMail:
    if not isinstance(result, dict):
        raise TypeError(f"send returned {type(result).__name__}, not a dict")
    values: Mapping[str, Any] = result
    return AcceptedMail(
        provider_message_id=str(values["provider_message_id"]),
        accepted_at=datetime.fromisoformat(str(values["accepted_at"])).astimezone(UTC),
        replayed=bool(values["replayed"]),
    )
