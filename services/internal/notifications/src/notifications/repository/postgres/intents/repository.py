"""`PostgresIntents`: the `MailIntents` port over the `mail_intents` table (MQ-3, PG-7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from notifications.domain.repository import Intent, IntentState
from svcinfra.postgres import Coalescer

if TYPE_CHECKING:
    from collections.abc import Sequence

    from svcinfra.postgres import Database, Queries


@dataclass(frozen=True, slots=True)
class _IntentRow:
    source_message_id: str
    state: str
    age: float


_NEW = Intent(new=True, state=IntentState.INTENDED, age=0.0)
# The second call for one event within one statement: the first call's intent, just written.
_JUST_WRITTEN = Intent(new=False, state=IntentState.INTENDED, age=0.0)


class PostgresIntents:
    """Intents written through the pool, each statement its own short transaction (PG-12).

    The row is committed before the mail API is called, so it survives a crash during or after
    the call; the recording transaction turns it `sent` (deliveries__add_many). The intents of
    calls that start together are written by one statement (`Coalescer`; one at a time by
    default, so that those made while it runs go together in the next): its commit comes before
    any of those calls.
    """

    def __init__(
        self, db: Database, queries: Queries, *, max_group: int = 64, at_once: int = 1
    ) -> None:
        """Create the repository over the pool with the service's loaded queries."""
        self._db = db
        self._begin = queries.query("intents__begin")
        self._get = queries.query("intents__get")
        self._intend: Coalescer[tuple[str, str], Intent] = Coalescer(
            self._intend_many, max_size=max_group, concurrency=at_once
        )

    async def intend(self, source_message_id: str, idempotency_key: str) -> Intent:
        """Record the intent to send the event's email, or return the one recorded before."""
        return await self._intend((source_message_id, idempotency_key))

    async def _intend_many(self, calls: Sequence[tuple[str, str]]) -> list[Intent]:
        ids = [source_message_id for source_message_id, _ in calls]
        written = set(await self._db.many(self._begin, ids, [key for _, key in calls], row=str))
        earlier = [i for i in ids if i not in written]
        found = await self._db.many(self._get, earlier, row=_IntentRow) if earlier else []
        rows = {row.source_message_id: row for row in found}
        intents: list[Intent] = []
        for source_message_id in ids:
            if source_message_id in written:
                written.discard(source_message_id)  # a second call for it finds it written
                intents.append(_NEW)
            elif source_message_id in rows:
                row = rows[source_message_id]
                intents.append(Intent(new=False, state=IntentState(row.state), age=row.age))
            else:  # written by this statement for an earlier call of the group
                intents.append(_JUST_WRITTEN)
        return intents
