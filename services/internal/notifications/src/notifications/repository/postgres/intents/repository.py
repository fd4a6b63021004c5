"""`PostgresIntents`: the `MailIntents` port over the `mail_intents` table (MQ-3, PG-7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from notifications.domain.repository import Intent, IntentState

if TYPE_CHECKING:
    from svcinfra.postgres import Database, Queries


@dataclass(frozen=True, slots=True)
class _IntentRow:
    state: str
    age: float


class PostgresIntents:
    """Intents written through the pool, each statement its own short transaction (PG-12).

    The row is committed before the mail API is called, so it survives a crash during or after
    the call; the recording transaction turns it `sent` (deliveries__add).
    """

    def __init__(self, db: Database, queries: Queries) -> None:
        """Create the repository over the pool with the service's loaded queries."""
        self._db = db
        self._begin = queries.query("intents__begin")
        self._get = queries.query("intents__get")

    async def intend(self, source_message_id: str, idempotency_key: str) -> Intent:
        """Record the intent to send the event's email, or return the one recorded before."""
        if await self._db.execrows(self._begin, source_message_id, idempotency_key) == 1:
            return Intent(new=True, state=IntentState.INTENDED, age=0.0)
        row = await self._db.one(self._get, source_message_id, row=_IntentRow)
        return Intent(new=False, state=IntentState(row.state), age=row.age)
