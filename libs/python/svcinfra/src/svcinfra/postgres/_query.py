"""`Query`: one named SQL statement loaded from a `.sql` file, and its `-- name:` header (PG-10)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final


class QueryKind(StrEnum):
    """What a query returns, as its header's sqlc command says."""

    ONE = ":one"
    """One row, mapped; no row is `NotFound` (`Database.one`, `Database.optional`)."""
    MANY = ":many"
    """Every row, mapped; no row is an empty list (`Database.many`)."""
    EXEC = ":exec"
    """Nothing (`Database.exec`)."""
    EXECROWS = ":execrows"
    """The number of rows affected (`Database.execrows`)."""


@dataclass(frozen=True, slots=True, eq=False)
class Query:
    """A named SQL statement with `$1..$n` placeholders, ready to run.

    Compared by identity: each loaded file (and each rendered template variant) is one object, so
    the per-(query, row type) mapping check is cached on it.

    Attributes:
        name: `<model>__<operation>`, the metric label and the span name (`DB <name>`).
        model: the folder the file lives in (`repository/postgres/<model>/sql/`).
        operation: the part of the name after `__`.
        kind: what the query returns.
        sql: the statement as sent to the server (its `-- name:` comment included, so that it
            shows in `pg_stat_activity` and the server's logs).
        source: the file it came from, for error messages.
        parameters: how many `$n` placeholders the statement has.
        verb: the statement's first keyword (`SELECT`, `INSERT`, `WITH`, ...).
        session_effects: whether running it may change the session beyond its transaction (SET,
            LISTEN, session advisory locks, temp tables, any user-defined function, ...), as
            PostgreSQL's parser sees it (`_session`); the connection is reset after such a query.
        standby: whether the file declares `-- route: standby`: a read that may run on a
            streaming standby (`Database` with `POSTGRES_STANDBY_READS`; the primary otherwise,
            and always inside a transaction). Only a read-only `:one` / `:many` may.
    """

    name: str
    model: str
    operation: str
    kind: QueryKind
    sql: str
    source: str
    parameters: int
    verb: str
    session_effects: bool
    standby: bool = False

    def __repr__(self) -> str:
        return f"<Query {self.name} {self.kind} from {self.source}>"


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed `-- name: <model>__<operation> <command>` line."""

    name: str
    model: str
    operation: str
    kind: QueryKind


class HeaderError(ValueError):
    """A line is meant as a `-- name:` header but does not follow its grammar."""


_CANDIDATE: Final = re.compile(r"^\s*--\s*name\s*:", re.IGNORECASE)
_HEADER: Final = re.compile(r"^\s*-- name: +(?P<name>\S+)(?: +(?P<cmd>\S+))?(?P<rest>.*?)\s*$")
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATION: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]*")
_SQLC_ONLY: Final = frozenset(
    {":execresult", ":execlastid", ":copyfrom", ":batchexec", ":batchmany", ":batchone"}
)
GRAMMAR: Final = "-- name: <model>__<operation> :one|:many|:exec|:execrows"
_ROUTE: Final = re.compile(r"^\s*--\s*route\s*:\s*(?P<target>\S*)\s*$", re.IGNORECASE)
ROUTES: Final = ("primary", "standby")


def parse_route(line: str) -> str | None:
    """The target of a `-- route: primary|standby` line, or None when the line is not one.

    Raises:
        HeaderError: the line is a route line with an unknown target.
    """
    match = _ROUTE.match(line)
    if match is None:
        return None
    target = match.group("target")
    if target not in ROUTES:
        raise HeaderError(f"unknown route {target!r}; use `-- route: standby` (or primary)")
    return target


def parse_header(line: str) -> Header | None:
    """Parse one line: a `Header`, or None when the line is not meant as a header at all.

    Raises:
        HeaderError: the line starts like a header (`-- name:`, any case or spacing) but breaks
            the grammar; the message says which part.
    """
    if not _CANDIDATE.match(line):
        return None
    match = _HEADER.match(line)
    if match is None:
        raise HeaderError(f"malformed header; expected `{GRAMMAR}`")
    name, cmd, rest = match.group("name"), match.group("cmd"), match.group("rest")
    if cmd is None:
        raise HeaderError(f"header has no command; expected `{GRAMMAR}`")
    if rest:
        raise HeaderError(f"unexpected text after the command; expected `{GRAMMAR}`")
    if not _NAME.fullmatch(name):
        raise HeaderError(f"query name {name!r} is not an identifier")
    model, sep, operation = name.partition("__")
    if not sep or not model:
        raise HeaderError(f"query name {name!r} is not <model>__<operation>")
    if not _OPERATION.fullmatch(operation):
        raise HeaderError(f"query name {name!r} has no operation after `__`")
    if cmd in _SQLC_ONLY:
        raise HeaderError(f"command {cmd} is not supported; use :one, :many, :exec or :execrows")
    try:
        kind = QueryKind(cmd)
    except ValueError:
        raise HeaderError(f"unknown command {cmd!r}; use :one, :many, :exec or :execrows") from None
    return Header(name=name, model=model, operation=operation, kind=kind)
