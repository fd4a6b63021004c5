"""`Database`: named queries over an asyncpg pool, mapped rows, domain errors, metrics, spans.

    db = await Database.connect(config.postgres)          # in app.py, closed on shutdown
    user = await db.one(get_user, user_id, row=User)      # NotFound when there is no row
    async with db.transaction(isolation="serializable") as tx:
        await tx.exec(debit, account, amount)

Rules: PG-5 (pool, timeouts, short transactions), PG-7 (domain errors), PG-8 (by-name mapping),
PG-10 (only named queries run), PG-11 (metrics and spans).
"""

from __future__ import annotations

import asyncio
import random
from time import monotonic, perf_counter
from typing import TYPE_CHECKING, Any, Self, TypeVar

import asyncpg
import structlog
from opentelemetry import trace

from ._errors import ProgrammingError, TemporarilyUnavailable, TransactionConflict
from ._gate import FairGate
from ._instrument import STANDBY_FALLBACKS, TRANSACTION_RETRIES, unwatch_pool, watch_pool
from ._mapping import MapperCache
from ._runner import Probe, Runner, Session, cannot_connect, failed
from ._transaction import Isolation, Transaction, TransactionContext

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from opentelemetry.trace import Tracer, TracerProvider
    from pydantic import SecretStr

    from svcinfra.config import PostgresSettings

    from ._query import Query

R = TypeVar("R")

_log = structlog.get_logger("svcinfra.postgres")

# How many queries in a row one connection may go straight from a query to the next waiting one
# (see `Database._run`); then it goes back through the pool once, so that the pool's own checks
# on release (max_queries, expired connections) still run.
MAX_STREAK = 100

# Behind a transaction pooler the client cancels a statement this long after statement_timeout,
# so that the server's own timeout (SET LOCAL in a transaction, the role's default outside one)
# fires first where it is set and reports 57014.
CANCEL_MARGIN = 0.25

# Seconds the standby pool rests after it could not connect (its reads run on the primary).
STANDBY_RETRY = 5.0


class Database(Runner):
    """Named queries over one asyncpg pool: the only way services reach PostgreSQL (PG-5, PG-10).

    Build it with `Database.connect(settings)` in the composition root and `close()` it on
    shutdown. Queries wait for a connection in arrival order (at most `pool_acquire_timeout`),
    run under the server's `statement_timeout` and the client's `command_timeout`, and raise only
    `DatabaseError`s. Under contention a clean connection goes from a finished query straight to
    the oldest waiting one (see `_run`), and so does a finished transaction's (`_give_back`).
    """

    __slots__ = (
        "__weakref__",
        "_acquire_timeout",
        "_background",
        "_base_attributes",
        "_gate",
        "_handoff",
        "_mappers",
        "_pool",
        "_probes",
        "_session",
        "_set_local",
        "_standby",
        "_tracer",
        "namespace",
        "retry_at",
        "stats_name",
    )

    def __init__(
        self,
        *,
        namespace: str,
        acquire_timeout: float,
        max_size: int,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        """Prepare a database handle; `connect` is the way to get a working one."""
        self.namespace = namespace
        self.stats_name = namespace
        self._acquire_timeout = acquire_timeout
        self._gate = FairGate(max_size, timeout=acquire_timeout)
        self._handoff = True
        self._background: set[asyncio.Task[None]] = set()
        self._mappers = MapperCache()
        self._session = Session()
        self._probes: dict[Query, Probe] = {}
        self._tracer: Tracer = trace.get_tracer(
            "svcinfra.postgres", tracer_provider=tracer_provider
        )
        # Few attributes on purpose: the SDK validates each one on every recorded span.
        self._base_attributes: dict[str, str | int] = {
            "db.system.name": "postgresql",
            "db.namespace": namespace,
        }
        self._pool: Any = None
        # Behind a transaction pooler: what every transaction runs right after BEGIN.
        self._set_local: str | None = None
        # The pool of the queries declared `-- route: standby` (POSTGRES_STANDBY_READS).
        self._standby: Database | None = None
        # As a standby pool: when to try it again after a connection failure (monotonic).
        self.retry_at = 0.0

    @classmethod
    async def connect(
        cls,
        settings: PostgresSettings,
        *,
        tracer_provider: TracerProvider | None = None,
        application_name: str | None = None,
    ) -> Self:
        """Open the pool described by `settings` (its first `pool_min_size` connections).

        Raises:
            TemporarilyUnavailable: the server cannot be reached or refuses the session.
        """
        db = cls(
            namespace=settings.db,
            acquire_timeout=settings.pool_acquire_timeout,
            max_size=settings.pool_max_size,
            tracer_provider=tracer_provider,
        )
        await db._open(settings, settings.dsn(), application_name)
        if settings.standby_reads:
            standby = cls(
                namespace=settings.db,
                acquire_timeout=settings.pool_acquire_timeout,
                max_size=settings.pool_max_size,
                tracer_provider=tracer_provider,
            )
            standby.stats_name = f"{settings.db}-standby"
            # No connection at start (min_size 0): a standby that is down or not built yet
            # must not keep the service from starting; its reads go to the primary meanwhile.
            await standby._open(settings, settings.dsn(standby=True), application_name, min_size=0)
            db._standby = standby
            watch_pool(standby)
        watch_pool(db)
        return db

    async def _open(
        self,
        settings: PostgresSettings,
        dsn: SecretStr,
        application_name: str | None,
        *,
        min_size: int | None = None,
    ) -> None:
        server_settings, command_timeout, self._set_local = _session_timeouts(settings)
        if application_name:
            server_settings["application_name"] = application_name
        try:
            self._pool = await asyncpg.create_pool(
                dsn.get_secret_value(),
                min_size=settings.pool_min_size if min_size is None else min_size,
                max_size=settings.pool_max_size,
                timeout=settings.connect_timeout,
                command_timeout=command_timeout,
                statement_cache_size=settings.statement_cache(),
                server_settings=server_settings,
                reset=self._session.reset,
            )
        except Exception as exc:
            tls = settings.tls_failure(exc)  # names POSTGRES_CA_FILE, POSTGRES_HOST, ... (issue 17)
            hint = f": {tls}" if tls else _hint(exc)
            raise TemporarilyUnavailable(
                f"cannot open the pool of {settings.db} ({type(exc).__name__}){hint}"
            ) from exc

    async def close(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109  (a drain deadline)
        """Wait for lent connections (at most `timeout` seconds), then close the pool."""
        if self._standby is not None:
            await self._standby.close(timeout=timeout)
        unwatch_pool(self)
        self._handoff = False  # from now on every connection goes back to the pool
        if self._pool is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await self._pool.close()
        except TimeoutError:
            self._pool.terminate()

    @property
    def resets(self) -> int:
        """How many released connections were reset because a query changed their session."""
        return self._session.resets

    def pool_stats(self) -> tuple[int, int, int, int]:
        """The pool's size, idle and in-use connections, and the queries waiting for one."""
        if self._pool is None:
            return (0, 0, 0, self._gate.waiting)
        size: int = self._pool.get_size()
        idle: int = self._pool.get_idle_size()
        return (size, idle, size - idle, self._gate.waiting)

    async def ping(self, *, timeout: float = 1.0) -> None:  # noqa: ASYNC109  (the readiness budget)
        """Check that the database answers within `timeout` seconds (the readiness check).

        Raises:
            TemporarilyUnavailable: no connection, no answer in time, or an error.
        """
        try:
            async with asyncio.timeout(timeout):
                con, _ = await self._lend(None)
                try:
                    await con.fetchval("SELECT 1")
                finally:
                    await self._release(con)
        except TimeoutError as exc:
            raise TemporarilyUnavailable(f"{self.namespace}: no answer within {timeout}s") from exc
        except TemporarilyUnavailable:
            raise
        except Exception as exc:
            raise TemporarilyUnavailable(
                f"{self.namespace}: ping failed ({type(exc).__name__})"
            ) from exc

    def transaction(
        self,
        *,
        isolation: Isolation = "read_committed",
        readonly: bool = False,
        deferrable: bool = False,
    ) -> TransactionContext:
        """Return `async with` context running a transaction on one connection (PG-5).

        Keep it short and never await a network call inside it (PG-12): the server ends a
        transaction idle longer than `idle_in_transaction_session_timeout`.
        """
        return TransactionContext(
            self, isolation=isolation, readonly=readonly, deferrable=deferrable
        )

    async def run_transaction(
        self,
        fn: Callable[[Transaction], Awaitable[R]],
        *,
        isolation: Isolation = "serializable",
        readonly: bool = False,
        attempts: int = 5,
        backoff: float = 0.01,
        max_backoff: float = 0.5,
    ) -> R:
        """Run `fn` in a transaction, re-running all of it on serialization failure or deadlock.

        `fn` must only touch the database through the `Transaction` it receives (no network call,
        no other side effect): it may run up to `attempts` times. Between attempts it sleeps a
        random time up to `backoff * 2**(attempt - 1)` seconds, capped at `max_backoff`.

        Raises:
            TransactionConflict: the last attempt failed too.
        """
        attempt = 1
        while True:
            try:
                async with self.transaction(isolation=isolation, readonly=readonly) as tx:
                    return await fn(tx)
            except TransactionConflict as exc:
                if attempt >= attempts:
                    raise
                delay = random.uniform(0, min(max_backoff, backoff * 2 ** (attempt - 1)))  # noqa: S311  (jitter, not secrecy)
                _log.info(
                    "db.transaction.retry",
                    query=exc.query,
                    sqlstate=exc.sqlstate,
                    attempt=attempt,
                    delay=round(delay, 4),
                )
                TRANSACTION_RETRIES.labels(exc.sqlstate or "").inc()
                await asyncio.sleep(delay)
                attempt += 1

    async def _lend(self, query: str | None) -> tuple[Any, int]:
        """A connection, and its streak: the hand-overs it made since the pool lent it."""
        if self._pool is None:
            raise ProgrammingError("the Database is not connected; use Database.connect")
        gate = self._gate
        if not gate.try_enter():
            handed = await self._wait_for_permit(query)
            if handed is not None:
                return handed
        try:
            return await self._pool.acquire(), 0
        except BaseException as exc:
            gate.leave()
            if isinstance(exc, Exception):
                raise cannot_connect(query or self.namespace, query, exc) from exc
            raise

    async def _wait_for_permit(self, query: str | None) -> tuple[Any, int] | None:
        """Wait in line: None for a bare permit, or (connection, streak) handed over with it."""
        waiter = self._gate.join()
        try:
            handed: tuple[Any, int] | None = await waiter
        except TimeoutError as exc:
            raise self._exhausted(query) from exc
        except BaseException:
            self._abandon(waiter)
            raise
        return handed

    def _abandon(self, waiter: asyncio.Future[Any]) -> None:
        """A wait was cut short (cancelled): whatever it was handed goes on, nothing is lost."""
        handed = self._gate.abandon(waiter)
        if handed is not None and not self._gate.hand_over((handed[0], MAX_STREAK)):
            # Nobody else waits: the connection goes back to the pool, from a task of its own
            # (this one is being cancelled).
            task = asyncio.get_running_loop().create_task(self._release(handed[0]))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _exhausted(self, query: str | None) -> TemporarilyUnavailable:
        return TemporarilyUnavailable(
            f"{query or self.namespace}: no free connection within "
            f"{self._acquire_timeout}s (pool exhausted)",
            query=query,
        )

    async def _give_back(self, con: Any, streak: int, *, clean: bool) -> None:  # noqa: ANN401  (the driver's)
        """Return a finished transaction's connection: to the oldest waiter if it is clean.

        As for a query in `_run`: a connection whose transaction ended with a `COMMIT` or
        `ROLLBACK` that succeeded (`clean`, which the caller also denies when a query of the
        transaction had a session effect), and is open and outside a transaction, goes with its
        permit to the oldest waiter, skipping the pool's release and that waiter's acquire.
        Anything else goes back through the pool, which resets it. Issue 19 measured it on the
        users API's POST at saturation: 4-6 % less CPU a request (10 % with the writer's publish).
        """
        if not (clean and self._handed_over(con, streak)):
            await self._release(con)

    def _handed_over(self, con: Any, streak: int) -> bool:  # noqa: ANN401  (the driver's connection)
        """Give a clean connection and its permit to the oldest waiter; False if none took it.

        Only while the database is not closing, and only a connection that is open, outside a
        transaction, and has made fewer than `MAX_STREAK` hand-overs in a row (so that the
        pool's checks on release still run now and then). On False the caller still holds both.
        """
        gate = self._gate
        return (
            streak < MAX_STREAK
            and self._handoff
            and gate.anyone_waiting()
            and not con.is_closed()
            and not con.is_in_transaction()
            and gate.hand_over((con, streak + 1))
        )

    async def _release(self, con: Any) -> None:  # noqa: ANN401  (the driver's connection)
        try:
            await self._pool.release(con)
        except Exception as exc:  # noqa: BLE001  (the pool already dropped the broken connection)
            _log.warning("db.release.failed", error=type(exc).__name__)
        finally:
            self._gate.leave()

    async def _run(  # noqa: C901, PLR0912, PLR0915  (acquire and release inlined: the hot path)
        self,
        query: Query,
        op: str,
        args: tuple[object, ...],
        *,
        here: bool = False,
    ) -> Any:  # noqa: ANN401  (the driver's result)
        """Run one query on a connection of its own; the path every `Database` query takes.

        A query declared `-- route: standby` goes to the standby pool when there is one (and
        `here` is False): see `_on_standby`.

        Under contention a query that ends cleanly hands its connection straight to the oldest
        waiting query, with its permit, instead of releasing it to the pool for that query to
        acquire: the pool's release (a task, a reset hook, timers) and acquire are skipped. Only
        a connection known to be clean goes that way: the query succeeded, has no session
        effect, and the connection is open and outside a transaction; anything else (an error,
        a cancellation, a session effect) releases it through the pool, which resets it.
        """
        if query.standby and not here and self._standby is not None:
            return await self._on_standby(query, op, args)
        probe = self._probes.get(query) or self._probe(query)
        span = probe.start_span(self._tracer)
        start = perf_counter()
        gate = self._gate
        try:
            # _lend and _release inlined.
            streak = 0
            con: Any = None
            if not gate.try_enter():
                waiter = gate.join()  # gate.enter() inlined: one coroutine frame less
                try:
                    handed = await waiter
                except TimeoutError as exc:
                    raise self._exhausted(query.name) from exc
                except BaseException:
                    self._abandon(waiter)
                    raise
                if handed is not None:
                    con, streak = handed
            if con is None:
                try:
                    con = await self._pool.acquire()
                except BaseException as exc:
                    gate.leave()
                    if isinstance(exc, Exception):
                        raise cannot_connect(query.name, query.name, exc) from exc
                    raise
            try:
                if query.session_effects:
                    self._session.mark(con)
                result = await getattr(con, op)(query.sql, *args)
            except BaseException:
                await self._release(con)
                raise
            if query.session_effects or not self._handed_over(con, streak):
                try:
                    await self._pool.release(con)
                except Exception as exc:  # noqa: BLE001  (the pool dropped the broken connection)
                    _log.warning("db.release.failed", error=type(exc).__name__)
                finally:
                    gate.leave()
        except Exception as exc:
            error = failed(query, exc, span)
            if error is exc:
                raise
            raise error from exc
        else:
            return result
        finally:
            probe.durations.observe(perf_counter() - start)
            if span is not None:
                span.end()

    async def _on_standby(self, query: Query, op: str, args: tuple[object, ...]) -> Any:  # noqa: ANN401  (the driver's result)
        """Run a read on the standby pool; on the primary when the standby cannot answer.

        A read is safe to run twice, so a standby that is down, exhausted, or cancels the query
        for a recovery conflict (40001) costs a second try on the primary, counted by
        `svcinfra_db_standby_fallbacks_total`, rather than an error. After a connection
        failure the standby is left alone for `STANDBY_RETRY` seconds, so that an outage costs
        one failed connect per period, not one per read.
        """
        standby = self._standby
        assert standby is not None  # noqa: S101  (the caller checked)
        if standby.retry_at <= monotonic():
            try:
                return await standby._run(query, op, args)  # noqa: SLF001  (the same class)
            except TemporarilyUnavailable as exc:
                reason = exc.sqlstate or "unavailable"
                if exc.sqlstate is None:
                    standby.retry_at = monotonic() + STANDBY_RETRY
                _log.warning(
                    "db.standby.fallback",
                    query=query.name,
                    reason=reason,
                    error=type(exc.__cause__ or exc).__name__,
                )
        else:
            reason = "resting"
        STANDBY_FALLBACKS.labels(self.namespace, reason).inc()
        return await self._run(query, op, args, here=True)

    def _probe(self, query: Query) -> Probe:
        probe = self._probes[query] = Probe(query, self._base_attributes)
        return probe


def _session_timeouts(settings: PostgresSettings) -> tuple[dict[str, str], float, str | None]:
    """How the PG-5 timeouts reach the server: startup parameters, or SET LOCAL in transactions.

    Direct to the server, every session starts with `statement_timeout` and
    `idle_in_transaction_session_timeout` as startup parameters. A transaction pooler
    (pgbouncer) refuses a startup parameter it does not track, and a server session outlives the
    client's, so behind one (`pooler = "transaction"`) no timeout is sent at start-up. Instead:
    every transaction sets both with `SET LOCAL` in the round trip of its `BEGIN` (they end with
    it, whichever server session ran it); a statement outside a transaction is cancelled at
    `statement_timeout` (plus `CANCEL_MARGIN`) by the client: asyncpg sends a cancel request,
    which pgbouncer forwards to the server session running it. The role defaults that
    provisioning writes (docs/pgbouncer.md) make the server cancel it first, with its own 57014.

    Returns:
        The startup parameters, the client's command timeout, and the `SET LOCAL` statements
        (None when the startup parameters carry the timeouts).
    """
    statement_ms = max(1, round(settings.statement_timeout * 1000))
    idle_ms = max(1, round(settings.idle_in_transaction_session_timeout * 1000))
    if settings.pooler == "none":
        return (
            {
                "statement_timeout": str(statement_ms),
                "idle_in_transaction_session_timeout": str(idle_ms),
            },
            settings.command_timeout,
            None,
        )
    set_local = (
        f"SET LOCAL statement_timeout = {statement_ms}; "
        f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}"
    )
    deadline = settings.statement_timeout + CANCEL_MARGIN
    return {}, min(settings.command_timeout, deadline), set_local


def _hint(exc: BaseException) -> str:
    """Name the setting when a pooler refused the startup parameters that carry the timeouts."""
    if "unsupported startup parameter" in str(exc):
        return (
            f": {exc}; behind pgbouncer in transaction mode set POSTGRES_POOLER=transaction "
            "(docs/pgbouncer.md)"
        )
    return ""
