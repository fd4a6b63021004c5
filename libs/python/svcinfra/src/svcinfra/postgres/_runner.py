"""What `Database` and `Transaction` share: the query methods, per-query instruments, resets.

Every query goes through `Runner._run` of one of them: it checks the query's kind, times it,
opens its span, and translates any driver error into a `DatabaseError` (PG-7, PG-11).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry.context import get_current
from opentelemetry.trace import SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation import _SPAN_KEY

from ._errors import DatabaseError, NotFound, QueryKindMismatch, TemporarilyUnavailable, translate
from ._instrument import QUERY_ERRORS, durations_of
from ._query import Query, QueryKind

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from ._mapping import MapperCache

T = TypeVar("T")

_ONE, _MANY, _EXEC, _EXECROWS = QueryKind.ONE, QueryKind.MANY, QueryKind.EXEC, QueryKind.EXECROWS

# The driver methods each kind of query runs, by name (a lookup on the connection is cheaper
# than one more coroutine frame per query).
_FETCHROW, _FETCH, _EXECUTE = "fetchrow", "fetch", "execute"

_SAMPLED = TraceFlags.SAMPLED
_CLIENT = SpanKind.CLIENT


class Probe:
    """Per-query instruments, built on first use: span name, span attributes, durations."""

    __slots__ = ("attributes", "durations", "span_name")

    def __init__(self, query: Query, base: dict[str, str | int]) -> None:
        self.span_name = f"DB {query.name}"
        self.attributes = {
            **base,
            "db.operation.name": query.verb,
            "db.query.summary": query.name,
        }
        self.durations = durations_of(query.name)

    def start_span(self, tracer: Tracer) -> Span | None:
        """Start the query's span, or return None when its parent was not sampled.

        A child of an unsampled span is dropped by the SDK's default `ParentBased` sampler; not
        asking it saves the sampler's decision (11 us a query on the reference machine, as much
        as the rest of this layer) in every request that is not sampled. The parent is read
        straight from the context (what `get_current_span` does, with two calls and two property
        reads less: 0.4 us of the 0.8 us this check took).
        """
        parent: Span | None = get_current().get(_SPAN_KEY)  # type: ignore[assignment]
        if parent is not None:
            parent_context = parent.get_span_context()
            if not parent_context.trace_flags & _SAMPLED and parent_context.is_valid:
                return None
        return tracer.start_span(self.span_name, kind=_CLIENT, attributes=self.attributes)


SESSION_RESET = """\
SELECT pg_advisory_unlock_all();
CLOSE ALL;
UNLISTEN *;
SET SESSION AUTHORIZATION DEFAULT;
RESET ALL;
DISCARD TEMP;
DISCARD SEQUENCES;
DO $reset$ DECLARE name text; BEGIN
  FOR name IN SELECT p.name FROM pg_prepared_statements p WHERE p.from_sql LOOP
    EXECUTE format('DEALLOCATE %I', name);
  END LOOP;
END $reset$;"""
"""What a dirty connection runs before it is lent again: it undoes all a query can leave behind.

asyncpg's own reset (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`) plus what it
leaves: `SET ROLE`/`SET SESSION AUTHORIZATION` (`RESET ALL` skips them), temporary tables and
functions, sequences' `currval`, and statements prepared with SQL `PREPARE` (`from_sql`; the
driver's own protocol-level statements stay cached, so the next queries on that connection are
not prepared again). One round trip, like asyncpg's (measured 1.45x its server time).
"""


class Session:
    """Connection state that outlives a query: which connections must be reset on release (PG-5).

    asyncpg resets every connection it takes back, a round trip that costs a third of a
    primary-key lookup. A connection that only ran named queries PostgreSQL's parser proved clean
    (`_session.session_effects`) has nothing to reset; one that ran anything else is marked and
    gets `SESSION_RESET` before anyone else uses it. A transaction is marked when any query in it
    is: the mark is per connection.
    """

    __slots__ = ("dirty", "resets")

    def __init__(self) -> None:
        self.dirty: set[int] = set()
        self.resets = 0

    def mark(self, con: Any) -> None:  # noqa: ANN401  (the driver's connection)
        # By backend pid: the pool hands its hook the raw connection, the query had a proxy.
        # A pid left behind by a connection that died is at worst one needless reset later.
        self.dirty.add(con.get_server_pid())

    async def reset(self, con: Any) -> None:  # noqa: ANN401  (the driver's connection)
        """The pool's release hook (after asyncpg rolled back any open transaction)."""
        dirty = self.dirty
        if not dirty:  # the usual case: no connection to reset, no pid to ask for
            return
        pid = con.get_server_pid()
        if pid in dirty:
            dirty.discard(pid)
            self.resets += 1
            await con.execute(SESSION_RESET)


class Runner:
    """The query methods shared by `Database` and `Transaction`."""

    __slots__ = ()

    _mappers: MapperCache

    async def _run(
        self,
        query: Query,
        op: str,
        args: tuple[object, ...],
    ) -> Any:  # noqa: ANN401  (the driver's result)
        raise NotImplementedError

    async def one(self, query: Query, *args: object, row: type[T]) -> T:
        """Run a `:one` query and return its first row as a `row`.

        Raises:
            NotFound: the query returned no row.
            DatabaseError: see `svcinfra.postgres` for the tree.
        """
        if query.kind is not _ONE:
            raise _mismatch(query, "one")
        record = await self._run(query, _FETCHROW, args)
        if record is None:
            raise NotFound(f"{query.name}: no row", query=query.name)
        return self._mappers.map(query, row, record)

    async def optional(self, query: Query, *args: object, row: type[T]) -> T | None:
        """Run a `:one` query and return its first row as a `row`, or None when there is none."""
        if query.kind is not _ONE:
            raise _mismatch(query, "optional")
        record = await self._run(query, _FETCHROW, args)
        return None if record is None else self._mappers.map(query, row, record)

    async def many(self, query: Query, *args: object, row: type[T]) -> list[T]:
        """Run a `:many` query and return every row as a `row` (an empty list for none)."""
        if query.kind is not _MANY:
            raise _mismatch(query, "many")
        records = await self._run(query, _FETCH, args)
        return self._mappers.map_all(query, row, records)

    async def exec(self, query: Query, *args: object) -> None:
        """Run an `:exec` query."""
        if query.kind is not _EXEC:
            raise _mismatch(query, "exec")
        await self._run(query, _EXECUTE, args)

    async def execrows(self, query: Query, *args: object) -> int:
        """Run an `:execrows` query and return how many rows it affected."""
        if query.kind is not _EXECROWS:
            raise _mismatch(query, "execrows")
        status: str = await self._run(query, _EXECUTE, args)
        count = status.rpartition(" ")[2]
        return int(count) if count.isdigit() else 0


def cannot_connect(where: str, query: str | None, exc: Exception) -> TemporarilyUnavailable:
    return TemporarilyUnavailable(f"{where}: cannot connect ({type(exc).__name__})", query=query)


def failed(query: Query, exc: Exception, span: Span | None) -> DatabaseError:
    error = translate(exc, query.name)
    name = type(error).__name__
    QUERY_ERRORS.labels(query.name, name).inc()
    if span is not None and span.is_recording():
        span.set_attribute("error.type", name)
        if error.sqlstate:
            span.set_attribute("db.response.status_code", error.sqlstate)
        span.set_status(Status(StatusCode.ERROR, name))
    return error


_RUNS = {"one": ":one", "optional": ":one", "many": ":many", "exec": ":exec"}


def _mismatch(query: Query, method: str) -> QueryKindMismatch:
    runs = _RUNS.get(method, ":execrows")
    return QueryKindMismatch(
        f"{query.name} is a {query.kind} query; {method}() runs {runs} queries (PG-10)",
        query=query.name,
    )
