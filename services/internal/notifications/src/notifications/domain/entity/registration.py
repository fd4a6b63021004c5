"""`Registration`: a user who registered, as `user.registered.v1` announced them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID


@dataclass(frozen=True, slots=True)
class Registration:
    """A user's registration, the cause of a welcome email.

    Attributes:
        event_id: the message_id of the event that announced it: the key of everything the
            email causes (idempotency key, delivery row, correlation id), stable across
            redeliveries (MQ-3).
        user_id: the user's id in the users service.
        email: where the welcome email goes.
        username: the user's login name.
        display_name: how the email greets the user.
        registered_at: when the user registered.
    """

    event_id: str
    user_id: UUID
    email: str = field(repr=False)
    username: str = field(repr=False)
    display_name: str = field(repr=False)
    registered_at: datetime
