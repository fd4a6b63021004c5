"""The users service's events, written to the transactional outbox of the change (MQ-3).

Nothing here talks to the broker or the database: the composition root hands in `record`,
`Outbox.add` bound to the unit of work's transaction, which validates the payload against the
contract (users/api/server/asyncapi.yaml) and inserts a row; `users relay` publishes committed
rows with publisher confirms.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Mapping
    from datetime import datetime
    from uuid import UUID

    from users.domain.entity import User

REGISTERED: Final = "user.registered.v1"
UPDATED: Final = "user.updated.v1"
DELETED: Final = "user.deleted.v1"


class Record(Protocol):
    """Writes one message to the outbox of the current transaction; returns its message_id."""

    def __call__(self, message_name: str, payload: Mapping[str, Any], /) -> Awaitable[str]:
        """Validate and store the message (`Outbox.add` bound to a transaction)."""
        ...


class OutboxUserEvents:
    """The UserEvents port on the outbox, inside one transaction.

    Args:
        record: `functools.partial(outbox.add, tx)` for the unit of work's transaction.
    """

    def __init__(self, record: Record) -> None:
        self._record = record

    async def registered(self, user: User) -> None:
        """Record user.registered.v1."""
        await self._record(REGISTERED, _profile(user) | {"registered_at": _time(user.created_at)})

    async def updated(self, user: User) -> None:
        """Record user.updated.v1."""
        await self._record(UPDATED, _profile(user) | {"updated_at": _time(user.updated_at)})

    async def deleted(self, user_id: UUID, deleted_at: datetime) -> None:
        """Record user.deleted.v1."""
        await self._record(DELETED, {"user_id": str(user_id), "deleted_at": _time(deleted_at)})


def _profile(user: User) -> dict[str, object]:
    return {
        "user_id": str(user.id),
        "email": user.email,
        "username": user.username,
        "display_name": user.display_name,
    }


def _time(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, as the contract's `date-time` format wants."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
