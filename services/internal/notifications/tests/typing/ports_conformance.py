"""Static proof that each adapter implements its domain port (mypy checks these assignments),
the way Go writes `var _ Port = (*Adapter)(nil)`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from notifications.clients.mail import MailApi, MailApiMailer
    from notifications.domain.repository import DeliveryRepository, SentEvents
    from notifications.domain.service import Mailer
    from notifications.repository.postgres.deliveries import PostgresDeliveries
    from notifications.repository.postgres.outbox import OutboxSentEvents


def conforms(
    mailer: MailApiMailer, deliveries: PostgresDeliveries, events: OutboxSentEvents, api: MailApi
) -> tuple[Mailer, DeliveryRepository, SentEvents]:
    """Each adapter, typed as its port: a mismatch is a mypy error here."""
    del api
    return mailer, deliveries, events
