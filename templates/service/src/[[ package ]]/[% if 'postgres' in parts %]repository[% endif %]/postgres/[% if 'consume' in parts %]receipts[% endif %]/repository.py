"""The Receipts port on PostgreSQL: the receipts table, one row per note (PG-9, PG-10)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uuid import UUID

    from svcinfra.postgres import Queries, Transaction


class PostgresReceipts:
    """Receipts in the consumer's transaction, so they commit with the inbox row (MQ-3)."""

    def __init__(self, queries: Queries) -> None:
        self._add = queries.query("receipts__add")

    async def add(self, tx: Transaction, note_id: UUID, message_id: str) -> None:
        """Insert the receipt unless the note has one."""
        await tx.exec(self._add, note_id, message_id)
