"""Units of work on PostgreSQL: the writers of one transaction (the change and its outbox rows)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from users.repository.postgres.users._errors import domain_errors

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from svcinfra.postgres import Database, Transaction
    from users.domain.repository import UnitOfWork, UserEvents, UserWriter


@dataclass(frozen=True, slots=True)
class _Work:
    users: UserWriter
    events: UserEvents


class PostgresTransactions:
    """Opens a transaction per unit of work and hands its writers to the use case.

    The composition root says which writers a transaction gets (the users table, the outbox), so
    this adapter depends on no other adapter. No network call happens inside (PG-12): events go
    to the outbox table and the relay publishes them after the commit.

    Args:
        db: the service's database.
        users: the users writer of a transaction.
        events: the events writer of a transaction.
    """

    def __init__(
        self,
        db: Database,
        *,
        users: Callable[[Transaction], UserWriter],
        events: Callable[[Transaction], UserEvents],
    ) -> None:
        self._db = db
        self._users = users
        self._events = events

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[UnitOfWork]:
        """Run the block in one transaction (see `Transactions.begin`)."""
        with domain_errors():
            async with self._db.transaction() as tx:
                yield _Work(self._users(tx), self._events(tx))
