"""Ports of the deliveries' storage: the record of each email, and its announcement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from notifications.domain.entity import Delivery


class DeliveryRepository(Protocol):
    """The deliveries recorded so far, one per causing event."""

    async def add_many(self, deliveries: Sequence[Delivery]) -> set[str]:
        """Record `deliveries` together; return the source_message_ids of those recorded now.

        One whose causing event has a delivery already is skipped (left as it was).
        """
        ...

    async def get_by_source(self, source_message_id: str) -> Delivery | None:
        """Return the delivery caused by the event `source_message_id`, if there is one."""
        ...


class SentEvents(Protocol):
    """Announces recorded deliveries to other services (`notification.sent.v1`)."""

    async def announce_many(self, deliveries: Sequence[Delivery]) -> None:
        """Announce each of `deliveries`, correlated with its causing event, together."""
        ...


class DeliveryUnit(Protocol):
    """The ports that commit together: a delivery is recorded and announced, or neither."""

    @property
    def deliveries(self) -> DeliveryRepository:
        """The deliveries, inside the unit."""
        ...

    @property
    def events(self) -> SentEvents:
        """The announcements, inside the unit."""
        ...
