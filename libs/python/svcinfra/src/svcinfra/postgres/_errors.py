"""Errors of `svcinfra.postgres`, and the translation of driver errors into them (PG-7).

```
DatabaseError                   root of every error raised here
├── NotFound                    a `:one` query returned no row
├── Conflict                    23505 unique, 23503 foreign key, 23P01 exclusion (constraint named)
├── InvalidArgument             23502 not null, 23514 check, class 22 data exception
├── TemporarilyUnavailable      class 08, 57P01-03, class 53, 25006, pool exhausted, refused, killed
│   └── TransactionConflict     40001 serialization failure, 40P01 deadlock: re-run the transaction
├── Timeout                     57014 statement timeout, 25P03 idle-in-transaction timeout,
│                               or the client-side command timeout
├── QueryFailed                 any other server error: a bug in the query or the schema
└── ProgrammingError            the code uses the layer wrongly; raised before or without a query
    ├── QueryLoadError          bad `.sql` files, every problem with its file and line (PG-10)
    ├── UnknownQuery            no loaded query or template has that name
    ├── QueryKindMismatch       e.g. `many()` on a `:one` query
    ├── RowMappingError         the result's columns and the row type's fields differ (PG-8)
    └── TemplateError           a template was rendered with a value it may not interpolate (PG-6)
```

Services catch the first six and translate them into their own domain errors; the
`ProgrammingError` branch is a bug to fix, not a condition to handle. Messages name the query, the
SQLSTATE and the constraint, never the SQL text or a parameter value (PG-7).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

import asyncpg


class DatabaseError(Exception):
    """Root of every error of `svcinfra.postgres`.

    Attributes:
        query: the name of the query (`users__get_by_id`), or None outside a query.
        sqlstate: the server's SQLSTATE, or None for a client-side condition.
        constraint: the violated constraint's name, when the server reported one.
        table: the table the server reported, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        query: str | None = None,
        sqlstate: str | None = None,
        constraint: str | None = None,
        table: str | None = None,
    ) -> None:
        self.query = query
        self.sqlstate = sqlstate
        self.constraint = constraint
        self.table = table
        super().__init__(message)


class NotFound(DatabaseError):  # noqa: N818  (the domain's vocabulary, as in Go's errs.NotFound)
    """A `:one` query found no row."""


class Conflict(DatabaseError):  # noqa: N818  (the domain's vocabulary, as in Go's errs)
    """The change conflicts with existing data: a unique, foreign-key or exclusion constraint."""


class InvalidArgument(DatabaseError):  # noqa: N818  (the domain's vocabulary, as in Go's errs)
    """The data breaks a not-null or check constraint, or is not a valid value of its type."""


class TemporarilyUnavailable(DatabaseError):  # noqa: N818  (the domain's vocabulary, as in Go's errs)
    """The database cannot serve now (down, overloaded, restarting, pool exhausted); retry later."""


class TransactionConflict(TemporarilyUnavailable):
    """The transaction lost a race with another one (serialization failure, deadlock); re-run it."""


class Timeout(DatabaseError):  # noqa: N818  (the domain's vocabulary: DeadlineExceeded)
    """The statement or the transaction ran past its timeout and was cancelled."""


class QueryFailed(DatabaseError):  # noqa: N818  (the domain's vocabulary, as in Go's errs)
    """The server rejected the query for a reason that is a bug (syntax, missing table, ...)."""


class TransactionAborted(DatabaseError):  # noqa: N818  (reads as the condition it is)
    """COMMIT found the transaction aborted: the server rolled everything back.

    A statement of it failed and its error was caught; retrying the same code meets the same
    failure.
    """


class ProgrammingError(DatabaseError):
    """The layer is used wrongly; fix the code or the `.sql` files, do not handle this."""


@dataclass(frozen=True, slots=True)
class QueryProblem:
    """One thing wrong with a query file: where, and what (PG-10)."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class QueryLoadError(ProgrammingError):
    """The query files of a package are invalid; carries every problem found, not just the first."""

    def __init__(self, problems: tuple[QueryProblem, ...]) -> None:
        self.problems = problems
        lines = [f"invalid query files ({len(problems)} problem(s)):"]
        lines.extend(f"  {problem}" for problem in problems)
        super().__init__("\n".join(lines))


class UnknownQuery(ProgrammingError, LookupError):  # noqa: N818  (reads as a lookup failure)
    """No query or template of that name was loaded."""


class QueryKindMismatch(ProgrammingError):  # noqa: N818  (reads as the condition it is)
    """A query was run with a method its `:one|:many|:exec|:execrows` annotation does not allow."""


class RowMappingError(ProgrammingError):
    """The columns of a result and the fields of the row type do not match one to one (PG-8)."""


class TemplateError(ProgrammingError):
    """A template was rendered with a choice outside its allow-list or wrong names (PG-6)."""


_CONFLICT: Final = frozenset({"23505", "23503", "23P01"})
_INVALID: Final = frozenset({"23502", "23514"})
_RETRY_TX: Final = frozenset({"40001", "40P01"})
_UNAVAILABLE: Final = frozenset({"57P01", "57P02", "57P03", "25006", "55P03"})
_TIMEOUT: Final = frozenset({"57014", "25P03", "25P04"})

_WHAT = {
    "23505": "unique constraint violated",
    "23503": "foreign key constraint violated",
    "23P01": "exclusion constraint violated",
    "23502": "not-null constraint violated",
    "23514": "check constraint violated",
    "40001": "serialization failure",
    "40P01": "deadlock detected",
    "57014": "statement timeout",
    "25P03": "idle in transaction too long",
    "25P04": "transaction timeout",
}


def translate(exc: BaseException, query: str | None) -> DatabaseError:
    """Return the domain-neutral error for a driver or network error raised by `query`.

    The message is built from the SQLSTATE and the constraint's name only: the server's own
    message and detail may quote parameter values (`Key (email)=(a@b.c) already exists`).
    """
    where = query or "database"
    if isinstance(exc, DatabaseError):
        return exc
    if isinstance(exc, asyncpg.PostgresError):
        code: str = exc.sqlstate or ""
        constraint: str | None = getattr(exc, "constraint_name", None)
        table: str | None = getattr(exc, "table_name", None)
        cls = _class_of(code)
        what = _WHAT.get(code) or type(exc).__name__
        on = f" ({constraint})" if constraint else ""
        return cls(
            f"{where}: {what}{on} [SQLSTATE {code}]",
            query=query,
            sqlstate=code,
            constraint=constraint,
            table=table,
        )
    if isinstance(exc, asyncpg.DataError):
        # The driver could not encode an argument for its parameter's type (client side).
        return InvalidArgument(
            f"{where}: an argument does not fit its parameter's type", query=query
        )
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return Timeout(f"{where}: command timeout (client side)", query=query)
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.InternalClientError):
        # Refused, reset, closed mid-query: the connection is gone, the server may come back.
        return TemporarilyUnavailable(
            f"{where}: connection unavailable ({type(exc).__name__})",
            query=query,
        )
    return QueryFailed(f"{where}: unexpected {type(exc).__name__}", query=query)


def _class_of(code: str) -> type[DatabaseError]:
    if code in _CONFLICT:
        return Conflict
    if code in _INVALID or code.startswith("22"):
        return InvalidArgument
    if code in _RETRY_TX:
        return TransactionConflict
    if code in _TIMEOUT:
        return Timeout
    if code.startswith(("08", "53")) or code in _UNAVAILABLE:
        return TemporarilyUnavailable
    return QueryFailed
