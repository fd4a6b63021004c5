"""`PostgresDeliveries`: the `DeliveryRepository` port over the `deliveries` table (PG-7..10)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from notifications.domain.entity import Delivery, NotificationKind

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime
    from uuid import UUID

    from svcinfra.postgres import Database, Queries, Transaction


@dataclass(frozen=True, slots=True)
class _Row:
    """A `deliveries` row, mapped by column name (PG-8)."""

    notification_id: UUID
    source_message_id: str
    user_id: UUID
    email: str
    kind: str
    provider_message_id: str
    sent_at: datetime

    def entity(self) -> Delivery:
        return Delivery(
            notification_id=self.notification_id,
            source_message_id=self.source_message_id,
            user_id=self.user_id,
            email=self.email,
            kind=NotificationKind(self.kind),
            provider_message_id=self.provider_message_id,
            sent_at=self.sent_at,
        )


class PostgresDeliveries:
    """Deliveries in PostgreSQL, through a transaction or the pool.

    Inside the consumer's recording transaction it is built on that transaction, so the row
    commits with the inbox and outbox rows or not at all. The driver's errors come out as
    svcinfra's domain-neutral ones (`TemporarilyUnavailable`, `Timeout`, ...), which the
    consumer treats as temporary: the event is retried, nothing half-written (PG-7).
    """

    def __init__(self, runner: Database | Transaction, queries: Queries) -> None:
        """Create the repository over `runner` with the service's loaded queries."""
        self._runner = runner
        self._add_many = queries.query("deliveries__add_many")
        self._get_by_source = queries.query("deliveries__get_by_source")

    async def add_many(self, deliveries: Sequence[Delivery]) -> set[str]:
        """Record `deliveries` in one statement; return the source_message_ids recorded now.

        One whose causing event has a delivery already is skipped (not in the result). No
        statement for an empty sequence.
        """
        if not deliveries:
            return set()
        added = await self._runner.many(
            self._add_many,
            [d.notification_id for d in deliveries],
            [d.source_message_id for d in deliveries],
            [d.user_id for d in deliveries],
            [d.email for d in deliveries],
            [str(d.kind) for d in deliveries],
            [d.provider_message_id for d in deliveries],
            [d.sent_at for d in deliveries],
            row=str,
        )
        return set(added)

    async def get_by_source(self, source_message_id: str) -> Delivery | None:
        """Return the delivery caused by the event `source_message_id`, if there is one."""
        row = await self._runner.optional(self._get_by_source, source_message_id, row=_Row)
        return row.entity() if row is not None else None
