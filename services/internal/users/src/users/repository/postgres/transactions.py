"""Units of work on PostgreSQL: the writers of one transaction (the change and its outbox rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from svcinfra.postgres import DatabaseError
from users.repository.postgres.users._errors import domain_errors, to_domain

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from svcinfra.postgres import Database, Transaction
    from svcinfra.postgres._transaction import TransactionContext
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

    def begin(self) -> _UnitOfWorkContext:
        """Run the block in one transaction (see `Transactions.begin`)."""
        return _UnitOfWorkContext(self)


class _UnitOfWorkContext:
    """`async with transactions.begin() as work`: the transaction, its errors as the domain's.

    A class rather than an `@asynccontextmanager` generator: one unit of work a write request,
    and a generator-based context costs it several microseconds more.
    """

    __slots__ = ("_owner", "_tx")

    def __init__(self, owner: PostgresTransactions) -> None:
        self._owner = owner
        self._tx: TransactionContext | None = None

    async def __aenter__(self) -> UnitOfWork:
        owner = self._owner
        with domain_errors():
            tx_context = owner._db.transaction()  # noqa: SLF001  (the owner's own parts)
            tx = await tx_context.__aenter__()
        self._tx = tx_context
        return _Work(owner._users(tx), owner._events(tx))  # noqa: SLF001

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tx_context = self._tx
        if tx_context is None:
            return
        self._tx = None
        with domain_errors():  # a failed commit
            await tx_context.__aexit__(exc_type, exc, tb)  # commits, or rolls back on `exc`
        # A database error the block let through (an outbox insert's) is the domain's too.
        if isinstance(exc, DatabaseError):
            error = to_domain(exc)
            if error is not exc:
                raise error from exc
