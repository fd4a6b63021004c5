"""`Delivery`: one notification the mail API accepted, as the service records it (PG-1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID


class NotificationKind(StrEnum):
    """What a notification is for."""

    WELCOME = "welcome"


@dataclass(frozen=True, slots=True)
class Delivery:
    """A notification accepted by the mail API, recorded once per causing event.

    Attributes:
        notification_id: the notification's id, derived from the causing event's id.
        source_message_id: the message_id of the causing event (unique: one delivery each).
        user_id: the recipient user.
        email: the address the email went to.
        kind: what the notification is for.
        provider_message_id: the mail API's id of the message.
        sent_at: when the mail API accepted it.
    """

    notification_id: UUID
    source_message_id: str
    user_id: UUID
    email: str = field(repr=False)
    kind: NotificationKind
    provider_message_id: str
    sent_at: datetime
