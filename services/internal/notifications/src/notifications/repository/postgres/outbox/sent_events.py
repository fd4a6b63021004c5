"""`OutboxSentEvents`: the domain's `SentEvents` port over svcinfra's transactional outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from svcinfra.messaging.outbox import OutboxMessage

SENT = "notification.sent.v1"

if TYPE_CHECKING:
    from collections.abc import Sequence

    from notifications.domain.entity import Delivery
    from svcinfra.messaging.outbox import Outbox
    from svcinfra.postgres import Transaction


def _payload(delivery: Delivery) -> dict[str, Any]:
    """The `notification.sent.v1` payload announcing `delivery`."""
    return {
        "notification_id": str(delivery.notification_id),
        "user_id": str(delivery.user_id),
        "email": delivery.email,
        "kind": str(delivery.kind),
        "provider_message_id": delivery.provider_message_id,
        "sent_at": delivery.sent_at.isoformat().replace("+00:00", "Z"),
    }


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

    async def announce_many(self, deliveries: Sequence[Delivery]) -> None:
        """Write `notification.sent.v1` for each of `deliveries`, in order, in one statement."""
        await self._outbox.add_many(
            self._tx,
            [
                OutboxMessage(SENT, _payload(d), correlation_id=d.source_message_id)
                for d in deliveries
            ],
        )
