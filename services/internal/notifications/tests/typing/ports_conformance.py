"""Static proof that each adapter implements its domain port (mypy checks these assignments),
the way Go writes `var _ Port = (*Adapter)(nil)`; and that the handler's recording fits the
consumer's `on_external(record_many=...)` hook."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from notifications.clients.mail import MailApi, MailApiMailer
    from notifications.domain.repository import DeliveryRepository, SentEvents
    from notifications.domain.service import Mailer
    from notifications.repository.postgres.deliveries import PostgresDeliveries
    from notifications.repository.postgres.outbox import OutboxSentEvents
    from notifications.transport.mq import UserRegisteredHandler

    from svcinfra.messaging.consumer import Delivery
    from svcinfra.postgres import Transaction

    RecordMany = Callable[[Transaction, Sequence[tuple[Delivery, object]]], Awaitable[None]]


def conforms(
    mailer: MailApiMailer, deliveries: PostgresDeliveries, events: OutboxSentEvents, api: MailApi
) -> tuple[Mailer, DeliveryRepository, SentEvents]:
    """Each adapter, typed as its port: a mismatch is a mypy error here."""
    del api
    return mailer, deliveries, events


def records_groups(handler: UserRegisteredHandler[Transaction]) -> RecordMany:
    """The handler's `record_many`, typed as the consumer's batch recording hook."""
    return handler.record_many
