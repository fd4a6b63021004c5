"""`Inbox`: which messages a consumer has processed, in the service's database (MQ-3)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from svcinfra.messaging.storage import queries

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from svcinfra.postgres import Database, Transaction


class Inbox:
    """The `svcinfra_inbox` table: one row per `(consumer, message_id)` processed (MQ-3).

    A consumer adds the row in the same transaction as the handler's effects: the primary key
    turns a redelivered duplicate into a no-op, and a duplicate processed concurrently waits on
    the key until the first transaction ends, then finds the row.
    """

    __slots__ = (
        "_add",
        "_add_batch",
        "_add_results",
        "_purge",
        "_purge_batch",
        "_remove",
        "_seen",
        "_seen_many",
    )

    def __init__(self) -> None:
        loaded = queries()
        self._add = loaded.query("inbox__add")
        self._add_batch = loaded.query("inbox__add_batch")
        self._add_results = loaded.query("inbox__add_results")
        self._remove = loaded.query("inbox__remove")
        self._seen = loaded.query("inbox__seen")
        self._seen_many = loaded.query("inbox__seen_many")
        self._purge = loaded.query("inbox__purge")
        self._purge_batch = loaded.query("inbox__purge_batch")

    async def add(
        self,
        tx: Transaction,
        *,
        consumer: str,
        message_id: str,
        message_name: str,
        result: object = None,
    ) -> bool:
        """Record the message as processed inside `tx`; False when it already was.

        Args:
            tx: the transaction that also holds the handler's effects.
            consumer: the consumer's name.
            message_id: the message's id (MQ-6).
            message_name: the contract's name of the message, for operators.
            result: a JSON-serialisable outcome to keep (external-effect mode), or None.
        """
        encoded = None if result is None else json.dumps(result, separators=(",", ":"))
        added = await tx.execrows(self._add, consumer, message_id, message_name, encoded)
        return added == 1

    async def add_batch(
        self,
        tx: Transaction,
        *,
        consumer: str,
        message_ids: Sequence[str],
        message_names: Sequence[str],
    ) -> set[str]:
        """Record a batch of messages as processed inside `tx` in one statement; return the new ids.

        An id missing from the result was processed already (or by a transaction this one
        waited for); an id given twice is new at most once. A batch's handlers run after this,
        in the same transaction, each behind a savepoint (`Consumer`'s batched mode).
        """
        added = await tx.many(
            self._add_batch, consumer, list(message_ids), list(message_names), row=str
        )
        return set(added)

    async def add_results(
        self,
        tx: Transaction,
        *,
        consumer: str,
        message_ids: Sequence[str],
        message_names: Sequence[str],
        results: Sequence[object],
    ) -> set[str]:
        """Record external-mode messages with their results inside `tx`; return the new ids.

        The group commit of `Consumer.on_external`: the records of messages whose calls ended
        together share one transaction, and this is its one inbox statement. `results` are
        JSON-serialisable (None: no result kept); an id given twice is new at most once.
        """
        encoded = [
            None if result is None else json.dumps(result, separators=(",", ":"))
            for result in results
        ]
        added = await tx.many(
            self._add_results, consumer, list(message_ids), list(message_names), encoded, row=str
        )
        return set(added)

    async def remove(self, tx: Transaction, *, consumer: str, message_id: str) -> None:
        """Take back a row `add_batch` wrote in `tx` (its message's handler failed)."""
        await tx.exec(self._remove, consumer, message_id)

    async def seen(self, db: Database | Transaction, *, consumer: str, message_id: str) -> bool:
        """Whether `consumer` has recorded `message_id` as processed (committed rows only)."""
        return await db.one(self._seen, consumer, message_id, row=bool)

    async def seen_many(
        self, db: Database | Transaction, *, consumer: str, message_ids: Sequence[str]
    ) -> set[str]:
        """Which of `message_ids` `consumer` has recorded as processed, in one statement."""
        return set(await db.many(self._seen_many, consumer, list(message_ids), row=str))

    async def purge(self, db: Database, *, older_than: float) -> int:
        """Delete rows older than `older_than` seconds; return how many.

        Keep rows longer than the longest time a duplicate can arrive: the retry tiers in all,
        the DLQ's retention (a replay keeps the message_id) and an outbox relay's lease.
        """
        return await db.execrows(self._purge, older_than)

    async def purge_batch(
        self, db: Database, *, consumer: str, before: datetime, limit: int
    ) -> int:
        """Delete at most `limit` rows of `consumer` processed before `before`; return how many.

        Each call is one short statement that commits on its own; replicas calling it at once
        delete disjoint rows (`FOR UPDATE SKIP LOCKED`) and never wait for each other. A result
        below `limit` means nothing older is left (or another replica holds the rest).
        """
        return await db.execrows(self._purge_batch, consumer, before, limit)
