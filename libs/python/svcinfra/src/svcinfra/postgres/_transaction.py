"""Transactions: `async with db.transaction(...) as tx` and the `Transaction` it yields (PG-5).

A transaction holds one pooled connection from `BEGIN` to `COMMIT`/`ROLLBACK`; keep it short and
never await a network call inside it (PG-12).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, Literal

from ._errors import ProgrammingError, translate
from ._instrument import QUERY_ERRORS
from ._runner import Runner, failed

if TYPE_CHECKING:
    from types import TracebackType

    from ._database import Database
    from ._query import Query

Isolation = Literal["read_committed", "repeatable_read", "serializable"]


class Transaction(Runner):
    """The query methods of `Database`, on the one connection of an open transaction."""

    __slots__ = ("_con", "_db", "_mappers", "_open")

    def __init__(self, db: Database, con: Any) -> None:  # noqa: ANN401  (the driver's connection)
        self._db = db
        self._con = con
        self._mappers = db._mappers  # noqa: SLF001  (the transaction is the database's own part)
        self._open = True

    async def _run(
        self,
        query: Query,
        op: str,
        args: tuple[object, ...],
    ) -> Any:  # noqa: ANN401  (the driver's result)
        if not self._open:
            raise ProgrammingError(f"{query.name}: the transaction is already finished")
        db = self._db
        probe = db._probes.get(query) or db._probe(query)  # noqa: SLF001  (same)
        span = probe.start_span(db._tracer)  # noqa: SLF001  (same)
        start = time.perf_counter()
        try:
            if query.session_effects:
                db._session.mark(self._con)  # noqa: SLF001  (same)
            return await getattr(self._con, op)(query.sql, *args)
        except Exception as exc:
            raise failed(query, exc, span) from exc
        finally:
            probe.durations.observe(time.perf_counter() - start)
            if span is not None:
                span.end()


class TransactionContext:
    """`async with db.transaction(...) as tx`: commit on success, roll back on any exception."""

    __slots__ = ("_con", "_db", "_deferrable", "_isolation", "_readonly", "_tx", "_xact")

    def __init__(
        self, db: Database, *, isolation: Isolation, readonly: bool, deferrable: bool
    ) -> None:
        self._db = db
        self._isolation = isolation
        self._readonly = readonly
        self._deferrable = deferrable
        self._con: Any = None
        self._xact: Any = None
        self._tx: Transaction | None = None

    async def __aenter__(self) -> Transaction:
        db = self._db
        con = await db._acquire(None)  # noqa: SLF001  (the context is the database's own part)
        try:
            set_local = db._set_local  # noqa: SLF001  (same)
            if set_local is None:
                xact: Any = con.transaction(
                    isolation=self._isolation, readonly=self._readonly, deferrable=self._deferrable
                )
            else:
                xact = PooledTransaction(con, self._begin(set_local))
            await xact.start()
        except BaseException as exc:
            await db._release(con)  # noqa: SLF001  (same)
            if isinstance(exc, Exception):
                raise translate(exc, "transaction:begin") from exc
            raise
        self._con, self._xact = con, xact
        self._tx = Transaction(db, con)
        return self._tx

    def _begin(self, set_local: str) -> str:
        """BEGIN with this transaction's modes, then the PG-5 timeouts as SET LOCAL."""
        begin = "BEGIN ISOLATION LEVEL " + self._isolation.replace("_", " ").upper()
        if self._readonly:
            begin += " READ ONLY"
        if self._deferrable:
            begin += " DEFERRABLE"
        return f"{begin}; {set_local}"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        db, tx = self._db, self._tx
        if tx is not None:
            tx._open = False  # noqa: SLF001  (same)
        try:
            if exc is None:
                try:
                    await self._xact.commit()
                except Exception as error:
                    translated = translate(error, "transaction:commit")
                    QUERY_ERRORS.labels("transaction:commit", type(translated).__name__).inc()
                    raise translated from error
            else:
                with contextlib.suppress(Exception):
                    # The connection may be gone; the server rolls back on its own then.
                    await self._xact.rollback()
        finally:
            await db._release(self._con)  # noqa: SLF001  (same)


class PooledTransaction:
    """A transaction behind a transaction pooler: its timeouts are set in its BEGIN's round trip.

    The statements go as one simple query (`BEGIN ...; SET LOCAL ...; SET LOCAL ...`), so the
    PG-5 timeouts cost no extra round trip, and they end with the transaction whichever server
    session the pooler gave it.
    """

    __slots__ = ("_begin", "_con")

    def __init__(self, con: Any, begin: str) -> None:  # noqa: ANN401  (the driver's connection)
        self._con = con
        self._begin = begin

    async def start(self) -> None:
        """Open the transaction and set its timeouts."""
        await self._con.execute(self._begin)

    async def commit(self) -> None:
        """Commit it."""
        await self._con.execute("COMMIT")

    async def rollback(self) -> None:
        """Roll it back."""
        await self._con.execute("ROLLBACK")
