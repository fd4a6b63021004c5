"""Transactions: `async with db.transaction(...) as tx` and the `Transaction` it yields (PG-5).

A transaction holds one pooled connection from `BEGIN` to `COMMIT`/`ROLLBACK`; keep it short and
never await a network call inside it (PG-12).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, Literal

import structlog

from ._errors import ProgrammingError, TransactionAborted, translate
from ._instrument import QUERY_ERRORS
from ._runner import Runner, failed

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from ._database import Database
    from ._query import Query

_log = structlog.get_logger("svcinfra.postgres")

Isolation = Literal["read_committed", "repeatable_read", "serializable"]


class Transaction(Runner):
    """The query methods of `Database`, on the one connection of an open transaction."""

    __slots__ = ("_committed", "_con", "_db", "_effects", "_mappers", "_open")

    def __init__(self, db: Database, con: Any) -> None:  # noqa: ANN401  (the driver's connection)
        self._db = db
        self._con = con
        self._mappers = db._mappers  # noqa: SLF001  (the transaction is the database's own part)
        self._open = True
        self._effects = False  # a query with a session effect ran: the pool must reset it
        self._committed: list[Callable[[], None]] | None = None

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction has committed, never when it does not.

        Callbacks run in order, right after `COMMIT` succeeded and before the `async with`
        block's exit returns; a rollback, a failed `COMMIT` or one whose answer was lost drops
        them. A callback must not block: it schedules work (a task) rather than awaiting it. One
        that raises is logged and does not undo the commit nor stop the others.
        """
        if not self._open:
            raise ProgrammingError("after_commit: the transaction is already finished")
        if self._committed is None:
            self._committed = []
        self._committed.append(callback)

    def _run_after_commit(self) -> None:
        callbacks, self._committed = self._committed, None
        for callback in callbacks or ():
            try:
                callback()
            except Exception:  # noqa: BLE001  (committed: the caller must not see a failure)
                _log.exception("an after-commit callback failed", callback=repr(callback))

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
                self._effects = True
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

    __slots__ = (
        "_con",
        "_db",
        "_deferrable",
        "_isolation",
        "_readonly",
        "_streak",
        "_tx",
        "_xact",
    )

    def __init__(
        self, db: Database, *, isolation: Isolation, readonly: bool, deferrable: bool
    ) -> None:
        self._db = db
        self._isolation = isolation
        self._readonly = readonly
        self._deferrable = deferrable
        self._con: Any = None
        self._streak = 0
        self._xact: ExplicitTransaction | None = None
        self._tx: Transaction | None = None

    async def __aenter__(self) -> Transaction:
        db = self._db
        con, streak = await db._lend(None)  # noqa: SLF001  (the context is the database's own part)
        try:
            xact = ExplicitTransaction(con, self._begin(db._set_local))  # noqa: SLF001  (same)
            await xact.start()
        except BaseException as exc:
            await db._release(con)  # noqa: SLF001  (same)
            if isinstance(exc, Exception):
                raise translate(exc, "transaction:begin") from exc
            raise
        self._con, self._streak, self._xact = con, streak, xact
        self._tx = Transaction(db, con)
        return self._tx

    def _begin(self, set_local: str | None) -> str:
        """BEGIN with this transaction's modes, then the PG-5 timeouts as SET LOCAL if pooled."""
        begin = "BEGIN ISOLATION LEVEL " + self._isolation.replace("_", " ").upper()
        if self._readonly:
            begin += " READ ONLY"
        if self._deferrable:
            begin += " DEFERRABLE"
        return begin if set_local is None else f"{begin}; {set_local}"

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        db, tx, xact = self._db, self._tx, self._xact
        if tx is not None:
            tx._open = False  # noqa: SLF001  (same)
        if xact is None:
            return
        clean = False  # ended by a COMMIT or ROLLBACK that succeeded (see `_give_back`)
        try:
            if exc is None:
                try:
                    await xact.commit()
                except Exception as error:
                    translated = translate(error, "transaction:commit")
                    QUERY_ERRORS.labels("transaction:commit", type(translated).__name__).inc()
                    raise translated from error
                clean = True
                if tx is not None and tx._committed:  # noqa: SLF001  (same)
                    tx._run_after_commit()  # noqa: SLF001  (same)
            else:
                with contextlib.suppress(Exception):
                    # The connection may be gone; the server rolls back on its own then.
                    await xact.rollback()
                    clean = True
        finally:
            clean = clean and tx is not None and not tx._effects  # noqa: SLF001  (same)
            await db._give_back(self._con, self._streak, clean=clean)  # noqa: SLF001  (same)


class ExplicitTransaction:
    """BEGIN and COMMIT as statements of our own, so that a commit that rolled back is seen.

    PostgreSQL answers `COMMIT` in a transaction aborted by an earlier failed statement with the
    tag `ROLLBACK` and no error; the driver's transaction object drops that tag, so a caller
    that caught a query's error and went on would believe everything it wrote was committed.
    Here that answer raises `TransactionAborted`.

    Behind a transaction pooler the BEGIN carries the PG-5 timeouts as one simple query
    (`BEGIN ...; SET LOCAL ...; SET LOCAL ...`): no extra round trip, and they end with the
    transaction whichever server session the pooler gave it.
    """

    __slots__ = ("_begin", "_con")

    def __init__(self, con: Any, begin: str) -> None:  # noqa: ANN401  (the driver's connection)
        self._con = con
        self._begin = begin

    async def start(self) -> None:
        """Open the transaction and set its timeouts."""
        await self._con.execute(self._begin)

    async def commit(self) -> None:
        """Commit it.

        Raises:
            TransactionAborted: the server rolled it back instead (an earlier statement failed).
        """
        if await self._con.execute("COMMIT") != "COMMIT":
            raise TransactionAborted(
                "the transaction was rolled back, not committed: one of its statements failed "
                "earlier and its error was caught; nothing it wrote was kept"
            )

    async def rollback(self) -> None:
        """Roll it back."""
        await self._con.execute("ROLLBACK")
