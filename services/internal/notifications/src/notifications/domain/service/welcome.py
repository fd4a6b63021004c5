"""`WelcomeService`: sends a registered user's welcome email and records it, once (MQ-3, PG-12).

The two steps are apart on purpose. `send` makes the network call and runs with no database
transaction open (PG-12); `record_many` (or `record`, for one) runs inside one short transaction
that the caller opens after the calls: two statements for a whole group of emails. A crash
between the two leaves nothing recorded: the event comes again, `send` repeats the same request
with the same key, and the mail API answers with its first answer instead of sending a second
email.

That answer is only kept for the key's lifetime at the provider (24 h at Stripe-like APIs, none
at some). So `send` first commits an intent to send (`MailIntents`); a redelivery that finds an
intent older than `key_ttl` without a recorded delivery raises `ReconciliationNeededError` (the
DLQ, with the reason) instead of calling the API again (MQ-3, MQ-10).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from notifications.domain.entity import Delivery, NotificationKind, WelcomeMail
from notifications.domain.errors import ReconciliationNeededError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from notifications.domain.entity import AcceptedMail, Registration
    from notifications.domain.repository import DeliveryUnit, MailIntents

    from .ports import Mailer

# The namespace of notification ids: uuid5(namespace, "welcome:<message_id>").
_NOTIFICATIONS = uuid.UUID("5b0f3f8e-0c4e-4d41-9a57-1f6f0f2a7c11")


def idempotency_key(event_id: str) -> str:
    """The mail API's idempotency key of the welcome email caused by event `event_id`."""
    return f"welcome-{event_id}"


def notification_id(event_id: str) -> uuid.UUID:
    """The id of the welcome notification caused by event `event_id` (the same every time)."""
    return uuid.uuid5(_NOTIFICATIONS, f"{NotificationKind.WELCOME}:{event_id}")


class WelcomeService:
    """Welcomes registered users by email: compose, send (no transaction), record (one)."""

    def __init__(self, mailer: Mailer, intents: MailIntents, *, key_ttl: float) -> None:
        """Create the service.

        Args:
            mailer: the mail port.
            intents: the intents to send, committed before each call.
            key_ttl: seconds the mail API keeps an idempotency key's answer (or less).
        """
        if key_ttl <= 0:
            raise ValueError("key_ttl must be positive")
        self._mailer = mailer
        self._intents = intents
        self._key_ttl = key_ttl

    @staticmethod
    def compose(registration: Registration) -> WelcomeMail:
        """Return the welcome email of `registration`: the same one for the same event."""
        name = registration.display_name.strip() or registration.username
        return WelcomeMail(
            idempotency_key=idempotency_key(registration.event_id),
            to=registration.email,
            subject=f"Welcome, {name}!",
            text=(
                f"Hello {name},\n\nyour account {registration.username} is ready. Welcome aboard!\n"
            ),
            tags={"kind": str(NotificationKind.WELCOME)},
        )

    async def send(self, registration: Registration) -> AcceptedMail:
        """Send the welcome email of `registration`; call it with no transaction open (PG-12).

        Raises:
            MailUnavailableError: the mail API could not take it now (retry later).
            ReconciliationNeededError: an earlier attempt's intent is older than the key's
                lifetime: the email may have been sent, and repeating the key would not tell.
            MailRefusedError: the mail API refuses it (do not retry).
        """
        mail = self.compose(registration)
        intent = await self._intents.intend(registration.event_id, mail.idempotency_key)
        if not intent.new and intent.age >= self._key_ttl:
            raise ReconciliationNeededError(
                f"reconciliation needed: an earlier attempt ({intent.state}) began "
                f"{intent.age:.0f}s ago, past the mail API's idempotency key lifetime "
                f"({self._key_ttl:g}s); not sent again, the email may have gone out"
            )
        return await self._mailer.send(mail)

    @staticmethod
    async def record(
        registration: Registration, accepted: AcceptedMail, unit: DeliveryUnit
    ) -> Delivery | None:
        """Record the accepted email and announce it, in the caller's unit (one transaction).

        Returns:
            The delivery recorded, or None when the event's delivery was recorded before (a
            duplicate: nothing is written or announced again).
        """
        (recorded,) = await WelcomeService.record_many([(registration, accepted)], unit)
        return recorded

    @staticmethod
    async def record_many(
        pairs: Sequence[tuple[Registration, AcceptedMail]], unit: DeliveryUnit
    ) -> list[Delivery | None]:
        """Record the accepted emails and announce them, in the caller's unit (one transaction).

        One statement records them all and one announces the new ones, whatever their number.

        Returns:
            For each pair, in order: the delivery recorded, or None when the event's delivery
            was recorded before (a duplicate: nothing is written or announced again; an event
            repeated in `pairs` is recorded at its first pair only).
        """
        deliveries = [
            Delivery(
                notification_id=notification_id(registration.event_id),
                source_message_id=registration.event_id,
                user_id=registration.user_id,
                email=registration.email,
                kind=NotificationKind.WELCOME,
                provider_message_id=accepted.provider_message_id,
                sent_at=accepted.accepted_at,
            )
            for registration, accepted in pairs
        ]
        firsts: dict[str, Delivery] = {}
        for delivery in deliveries:
            firsts.setdefault(delivery.source_message_id, delivery)
        new = await unit.deliveries.add_many(list(firsts.values()))
        recorded = [
            d if d.source_message_id in new and firsts[d.source_message_id] is d else None
            for d in deliveries
        ]
        announced = [d for d in recorded if d is not None]
        if announced:
            await unit.events.announce_many(announced)
        return recorded
