"""`OutboxSentEvents`: the domain's `SentEvents` port over svcinfra's transactional outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

SENT = "notification.sent.v1"

if TYPE_CHECKING:
    from notifications.domain.entity import Delivery
    from svcinfra.messaging.outbox import Outbox
    from svcinfra.postgres import Transaction


class OutboxSentEvents:
    """Writes `notification.sent.v1` to the outbox in the recording transaction (MQ-4..6).

    The row commits with the delivery it announces; the relay (`notifications relay`)
    publishes it with confirms. Its correlation_id is the causing event's message_id, so a
    consumer downstream can follow the chain (MQ-6).
    """

    def __init__(self, tx: Transaction, outbox: Outbox) -> None:
        """Create the writer for one transaction."""
        self._tx = tx
        self._outbox = outbox

    async def announce(self, delivery: Delivery) -> None:
        """Write `notification.sent.v1` for `delivery` (validated against the contract)."""
        await self._outbox.add(
            self._tx,
            SENT,
            {
                "notification_id": str(delivery.notification_id),
                "user_id": str(delivery.user_id),
                "email": delivery.email,
                "kind": str(delivery.kind),
                "provider_message_id": delivery.provider_message_id,
                "sent_at": delivery.sent_at.isoformat().replace("+00:00", "Z"),
            },
            correlation_id=delivery.source_message_id,
        )
